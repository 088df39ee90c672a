"""Desk page load time over a data dir with many trade outcomes (target: under 300 ms a page).

    python bench/bench_desk.py [--outcomes 10000] [--runs 20] [--dir DIR]

Writes ``--outcomes`` outcome files with tools/samples/outcomes.py (kept in ``--dir`` and reused), then
requests each page through the app in process (FastAPI TestClient: routing, reading, rendering; no
socket). Printed per page: the first (cold) load, which parses every outcome file once, then p50 / p95 /
max of the warm loads, which re-read only files that changed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.samples.outcomes import write_samples  # noqa: E402
from warden.desk.app import create_app  # noqa: E402

PAGES = ("/trades", "/trades?outcome=lost&advisory=WAIT", "/trades?symbol=ES&page=2", "/live", "/api/live",
         "/risk")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outcomes", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--dir", type=Path, default=None, help="data dir to build (or reuse)")
    a = ap.parse_args()
    data = a.dir or Path(tempfile.gettempdir()) / f"warden-bench-desk-{a.outcomes}"
    root = data / "training" / "trade_outcomes"
    have = sum(1 for _ in root.rglob("*.json")) if root.is_dir() else 0
    if have < a.outcomes:
        t = time.perf_counter()
        write_samples(data, a.outcomes, seed=7)
        print(f"wrote {a.outcomes} outcomes under {data} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    client = TestClient(create_app(data))
    worst = 0.0
    print(f"{'page':40} {'cold ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for page in PAGES:
        times = []
        for _ in range(a.runs + 1):
            t = time.perf_counter()
            r = client.get(page)
            times.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                print(f"{page}: HTTP {r.status_code}", file=sys.stderr)
                return 1
        cold, warm = times[0], sorted(times[1:])
        p95 = warm[max(0, int(len(warm) * 0.95) - 1)]
        worst = max(worst, p95)
        print(f"{page:40} {cold:8.1f} {statistics.median(warm):8.1f} {p95:8.1f} {warm[-1]:8.1f}")
    print(f"worst warm p95: {worst:.1f} ms ({'within' if worst < 300 else 'OVER'} the 300 ms target)")
    return 0 if worst < 300 else 1


if __name__ == "__main__":
    raise SystemExit(main())
