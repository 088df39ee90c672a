"""Benchmark: `warden review` end to end on a bundle with a 100+ MB log, offline reasoner.

    python bench/bench_review.py [--kind es|polymarket|both] [--mb 110] [--keep DIR]

For each kind it builds the bundle (not timed), then in a fresh child process (so peak RSS is the
review's alone) runs, in order: a baseline that only streams the log through tools.logs.reader, the
demo-size bundle's review, and the big bundle's review. It prints per-stage timings (the graph's own:
read_and_reconstruct, each team, synthesis, report), wall time, peak RSS (VmHWM), and the
ratios against the baselines measured in the same child. Goal: < 15 s and < 1 GB.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """Peak resident memory of this process image: VmHWM (Linux; reset by exec, unlike ru_maxrss, which a
    child started by fork+exec inherits from its parent), else getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, big: Path, small: Path, work: Path) -> dict:
    from graphs.review_runner import run_review
    from tools.logs.reader import read_log

    out: dict = {}
    t = time.perf_counter()
    n = 0
    for _ in read_log(big / "bot.log"):
        n += 1
    out["baseline_stream_s"] = round(time.perf_counter() - t, 3)
    out["baseline_records"] = n
    t = time.perf_counter()
    run_review(small, work / "small_out", data_dir=work / "data", approve="none")
    out["baseline_demo_review_s"] = round(time.perf_counter() - t, 3)
    rss_before = peak_rss_mb()
    t = time.perf_counter()
    res = run_review(big, work / "big_out", data_dir=work / "data", approve="none")
    out["review_s"] = round(time.perf_counter() - t, 3)
    out["stages"] = res.timings
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["peak_rss_before_big_mb"] = round(rss_before, 1)
    out["root_causes"] = [rc.code.value for rc in res.final.root_causes] if res.final else []
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=("es", "polymarket", "both"), default="both")
    ap.add_argument("--mb", type=float, default=110.0, help="approximate size of the big log")
    ap.add_argument("--keep", type=Path, help="build under this folder and keep it")
    ap.add_argument("--child", nargs=4, metavar=("KIND", "BIG", "SMALL", "WORK"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        kind, big, small, work = a.child
        print(json.dumps(_child(kind, Path(big), Path(small), Path(work))))
        return

    from tools.samples.demo_bundles import ESScenario, PolyScenario, write_es_bundle, write_polymarket_bundle

    base = a.keep or Path(tempfile.mkdtemp(prefix="warden-bench-"))
    kinds = ("es", "polymarket") if a.kind == "both" else (a.kind,)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}")
    for kind in kinds:
        t = time.perf_counter()
        if kind == "es":
            big = write_es_bundle(base / kind / "big", replace(ESScenario(), noise_mb=a.mb))
            small = write_es_bundle(base / kind / "small")
        else:
            big = write_polymarket_bundle(base / kind / "big", replace(PolyScenario(), noise_mb=a.mb))
            small = write_polymarket_bundle(base / kind / "small")
        size = (big / "bot.log").stat().st_size
        print(f"\n== {kind}: bot.log {size / 1e6:.1f} MB built in {time.perf_counter() - t:.1f} s ({big})")
        p = subprocess.run([sys.executable, __file__, "--child", kind, str(big), str(small), str(base / kind / "work")],
                           capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0:
            print(p.stderr[-3000:])
            raise SystemExit(f"{kind}: child failed ({p.returncode})")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        mbps = size / 1e6 / r["review_s"]
        print(f"review end to end: {r['review_s']:.2f} s ({mbps:.1f} MB/s), peak RSS {r['peak_rss_mb']:.0f} MB "
              f"(before the big review: {r['peak_rss_before_big_mb']:.0f} MB)")
        print("stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()))
        print(f"baseline, log reader alone: {r['baseline_stream_s']:.2f} s for {r['baseline_records']} records -> "
              f"review/stream ratio {r['review_s'] / r['baseline_stream_s']:.2f}")
        print(f"baseline, demo-size bundle review: {r['baseline_demo_review_s']:.2f} s -> big/small ratio "
              f"{r['review_s'] / r['baseline_demo_review_s']:.2f}")
        goal = "met" if r["review_s"] < 15 and r["peak_rss_mb"] < 1024 else "NOT met"
        print(f"goal (< 15 s, < 1 GB): {goal}; root causes: {', '.join(r['root_causes'])}")


if __name__ == "__main__":
    main()
