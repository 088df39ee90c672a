"""Log reader throughput on a generated 100 MB `mytrader` log, against `grep -c` on the same file.

    python bench/bench_log_reader.py [--mb 100] [--runs 3] [--dir DIR] [--full]

The log (mostly quotes and heartbeats, like a real one) is generated once into DIR (default: the
system temp dir) and reused. The reader is timed as the review reads (noise split by rule) and as
`warden replay` reads (``noise_by_rule=False``: noise as one total, one pass less per noise rule). The file is read once before timing so every contender reads from
the page cache. Wall and CPU times are both printed: on a shared machine CPU time is the steadier.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.logs.reader import load_rules, read_log  # noqa: E402
from tools.samples.logs import write_mytrader_log  # noqa: E402


def _timed(fn) -> tuple[float, float]:  # noqa: ANN001
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _grep(args: list[str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    wall = time.perf_counter() - w
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "warden-bench")
    ap.add_argument("--full", action="store_true", help="also time a full parse (noise + unknown yielded)")
    a = ap.parse_args()

    target = int(a.mb * 1_000_000)
    log = a.dir / f"mytrader-{target}.log"
    if not log.is_file():
        t = time.perf_counter()
        write_mytrader_log(log, target_bytes=target, seed=0)
        print(f"generated {log} in {time.perf_counter() - t:.1f} s")
    size = log.stat().st_size
    with open(log, "rb") as fh:                      # warm the page cache for everyone
        while fh.read(16 << 20):
            pass
    print(f"file: {log} ({size / 1e6:.1f} MB), python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")

    reader_runs: list[tuple[float, float]] = []
    stats = None
    for _ in range(a.runs):
        r = read_log(log, "mytrader")
        n = 0

        def go(r=r) -> None:  # bind this iteration's reader
            nonlocal n
            n = sum(1 for _ in r)
        reader_runs.append(_timed(go))
        stats = r.stats
    assert stats is not None
    total_runs = []                                  # noise as one total (what `warden replay` reads with)
    for _ in range(a.runs):
        r = read_log(log, "mytrader", noise_by_rule=False)
        total_runs.append(_timed(lambda r=r: sum(1 for _ in r)))
    py_count = [_timed(lambda: log.read_bytes().count(b"\n")) for _ in range(a.runs)]

    grep = shutil.which("grep")
    anchors = [e.anchor for e in load_rules("mytrader").events if not e.noise and e.anchor]
    greps: dict[str, list[tuple[float, float, str]]] = {}
    if grep:
        one = [grep, "-c", "Order filled", str(log)]
        many = [grep, "-c", "-F", *sum((["-e", x] for x in anchors), []), str(log)]
        greps["grep -c 'Order filled'"] = [_grep(one) for _ in range(a.runs)]
        greps[f"grep -c -F ({len(anchors)} event anchors)"] = [_grep(many) for _ in range(a.runs)]

    def best(runs: list, i: int) -> float:  # noqa: ANN001
        return min(x[i] for x in runs)

    rw, rc = best(reader_runs, 0), best(reader_runs, 1)
    print(f"\nreader: {n} records, {stats.lines} lines, noise {stats.matched['market_data'] + stats.matched['heartbeat']}, "
          f"unknown {sum(stats.unknown.values())}, continuation {stats.continuation_lines}")
    print(f"{'contender':42s} {'wall s':>8s} {'cpu s':>8s} {'MB/s wall':>10s} {'MB/s cpu':>9s}")
    print(f"{f'read_log (best of {a.runs})':42s} {rw:8.3f} {rc:8.3f} {size / 1e6 / rw:10.1f} {size / 1e6 / rc:9.1f}"
          f"   median wall {statistics.median(x[0] for x in reader_runs):.3f}")
    tw, tc = best(total_runs, 0), best(total_runs, 1)
    print(f"{'read_log(noise_by_rule=False)':42s} {tw:8.3f} {tc:8.3f} {size / 1e6 / tw:10.1f} {size / 1e6 / tc:9.1f}")
    pw, pc = best(py_count, 0), best(py_count, 1)
    print(f"{'python read_bytes().count(newline)':42s} {pw:8.3f} {pc:8.3f} {size / 1e6 / pw:10.1f} {size / 1e6 / pc:9.1f}")
    for name, runs in greps.items():
        gw, gc = best(runs, 0), best(runs, 1)
        print(f"{name:42s} {gw:8.3f} {gc:8.3f} {size / 1e6 / gw:10.1f} {size / 1e6 / max(gc, 1e-9):9.1f}"
              f"   count={runs[0][2]}")
    print()
    for name, runs in greps.items():
        gw, gc = best(runs, 0), best(runs, 1)
        print(f"ratio read_log / {name}: wall {rw / gw:.1f}x, cpu {rc / max(gc, 1e-9):.1f}x; "
              f"noise_by_rule=False: wall {tw / gw:.1f}x, cpu {tc / max(gc, 1e-9):.1f}x")
    print(f"ratio read_log / python newline count: wall {rw / pw:.1f}x")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          f"(includes the read_bytes() baseline, which holds the whole file)")

    if a.full:
        r = read_log(log, "mytrader", include_noise=True, include_unknown=True)
        fw, fc = _timed(lambda: sum(1 for _ in r))
        print(f"full parse (noise + unknown yielded): wall {fw:.2f} s, cpu {fc:.2f} s, {size / 1e6 / fw:.1f} MB/s")


if __name__ == "__main__":
    main()
