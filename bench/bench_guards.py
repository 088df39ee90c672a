"""Guard verdicts per second: ``trading.guards.evaluate`` on a mix of intents.

    python bench/bench_guards.py [--n 10000] [--runs 3]

The mix: protected entries (allowed), entries without protection, the seed-000 "exit" on a flat
book, genuine reduce-only exits, oversized exits, bracket children, entries under a WAIT advisory
and a stale one, entries with the live position unknown. Baseline, in the same process: building
the same OrderIntent (pydantic validation), the floor of any guarded order path.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side  # noqa: E402
from trading.guards import BrokerSnapshot, GuardConfig, RiskState, evaluate  # noqa: E402


def _cases(now: datetime) -> list[tuple[str, dict, BrokerSnapshot, Advisory | None]]:
    def snap(pos: float | None) -> BrokerSnapshot:
        return BrokerSnapshot(positions=None if pos is None else {"ESZ5": pos},
                              position_error=None if pos is not None else "timeout", marks={"ESZ5": 6890.25},
                              taken_at=now)
    buy = Advisory(action=AdvisoryAction.BUY, confidence=0.7, ts=now - timedelta(seconds=5))
    wait = Advisory(action=AdvisoryAction.WAIT, confidence=0.5, ts=now - timedelta(seconds=1))
    stale = Advisory(action=AdvisoryAction.BUY, confidence=0.7, ts=now - timedelta(minutes=10))
    entry = dict(kind=IntentKind.ENTRY, side=Side.BUY, qty=1, symbol="ESZ5", price=6861.25, stop=6855.25,
                 target=6873.25, signal_confidence=0.7, created_at=now)
    return [
        ("protected entry", entry, snap(0), buy),
        ("entry, no SL/TP", {**entry, "stop": None, "target": None}, snap(0), buy),
        ("seed-000 exit on flat book", dict(kind=IntentKind.EXIT, side=Side.BUY, qty=1, symbol="ESZ5",
                                            signal_confidence=0.36, created_at=now), snap(0), wait),
        ("reduce-only exit", dict(kind=IntentKind.EXIT, side=Side.SELL, qty=1, symbol="ESZ5", created_at=now),
         snap(1), wait),
        ("oversized exit", dict(kind=IntentKind.EXIT, side=Side.SELL, qty=3, symbol="ESZ5", created_at=now),
         snap(1), buy),
        ("bracket child", dict(kind=IntentKind.PROTECTIVE, side=Side.SELL, qty=1, symbol="ESZ5", price=6873.25,
                               created_at=now), snap(1), None),
        ("entry under WAIT", entry, snap(0), wait),
        ("entry, stale advisory", entry, snap(0), stale),
        ("entry, position unknown", entry, snap(None), buy),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="verdicts per timed run")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    now = datetime(2025, 12, 12, 14, 53, 13, tzinfo=UTC)
    cfg = GuardConfig()
    risk = RiskState(equity=100_000.0, peak_equity=100_000.0)
    cases = _cases(now)
    intents = [(name, OrderIntent(**kw), s, adv) for name, kw, s, adv in cases]
    print(f"python {sys.version.split()[0]}; mix of {len(cases)} cases:")
    for name, it, s, adv in intents:
        v = evaluate(it, s, risk, cfg, adv, now=now)
        print(f"  {name:28s} {'ALLOW' if v.allowed else 'BLOCK'} {','.join(v.reason_codes) or '-'}")

    def run_guards() -> float:
        k = len(intents)
        t = time.perf_counter()
        for i in range(a.n):
            _, it, s, adv = intents[i % k]
            evaluate(it, s, risk, cfg, adv, now=now)
        return time.perf_counter() - t

    def run_baseline() -> float:
        k = len(cases)
        t = time.perf_counter()
        for i in range(a.n):
            OrderIntent(**cases[i % k][1])
        return time.perf_counter() - t

    run_guards()                                  # warm-up
    g = [run_guards() for _ in range(a.runs)]
    b = [run_baseline() for _ in range(a.runs)]
    gb, bb = min(g), min(b)
    print(f"\nevaluate():               {a.n / gb:10,.0f} verdicts/s  ({gb / a.n * 1e6:6.1f} us each; "
          f"median run {statistics.median(g):.3f} s for {a.n})")
    print(f"baseline OrderIntent(...): {a.n / bb:10,.0f} intents/s   ({bb / a.n * 1e6:6.1f} us each)")
    print(f"ratio: one verdict costs {gb / bb:.1f}x one intent construction")


if __name__ == "__main__":
    main()
