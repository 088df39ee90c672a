"""`warden replay --all` on a generated 120 MB `mytrader` log against `grep -c` on the same file, both
timed as whole commands (process start-up included), best of N, side by side.

Run: ``python bench/bench_replay_cli.py [--mb 120] [--runs 3]``. The log is generated once into
``$TMPDIR/warden-bench/`` (deterministic). Prints wall and CPU seconds per command and the ratio.
Failure contract: exits non-zero if a command fails; nothing else.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _run(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=120)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    from tools.samples.logs import write_mytrader_log

    d = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "warden-bench"
    d.mkdir(parents=True, exist_ok=True)
    log = d / f"mytrader-{a.mb}mb.log"
    if not log.exists():
        write_mytrader_log(log, target_bytes=a.mb << 20, seed=1)
    log.read_bytes()                                   # warm the page cache
    grep = shutil.which("grep") or "grep"
    cmds = {"grep -c 'Order filled'": [grep, "-c", "Order filled", str(log)],
            "warden replay --all --json": [sys.executable, "-m", "warden.cli", "replay", "--log", str(log), "--all",
                                           "--json", "--format", "mytrader"]}
    best: dict[str, tuple[float, float]] = {}
    for _ in range(a.runs):
        for name, cmd in cmds.items():
            w, c = _run(cmd)
            pw, pc = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(pw, w), min(pc, c))
    size = log.stat().st_size / 1e6
    for name, (w, c) in best.items():
        print(f"{name:32s} wall {w:7.3f} s  cpu {c:7.3f} s  ({size / w:6.1f} MB/s wall)")
    (gw, gc), (rw, rc) = best["grep -c 'Order filled'"], best["warden replay --all --json"]
    print(f"ratio replay/grep: wall {rw / gw:.1f}x, cpu {rc / gc:.1f}x on {size:.1f} MB, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
