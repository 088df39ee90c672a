"""Learning-agent query benchmark: the query language over 100,000 outcomes, and question-to-answer offline.

    python bench/bench_queries.py [--n 100000] [--repeat 30] [--json out.json]

1. ``run_query`` (tools/memory/questions.py) on an outcomes table of ``--n`` generated trades
   (tools/samples/outcomes.py), one line per query: the new metrics (average loss, profit factor,
   max drawdown, streaks, holding time, R), rankings, the new groupings (hour, weekday, session, month,
   asset class, reason code) and the comparisons; median and p99 over ``--repeat`` runs.
2. Question to answer, offline: route (the rules) + run + compose (agents/learning_answers.py) for a
   set of trader phrasings, p50/p99 over all of them.
Figures are measured in this process on this machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.learning_answers import answer_policy  # noqa: E402
from agents.learning_router import Known, route_question  # noqa: E402
from tools.memory.outcomes_table import frame_from_rows, outcome_row  # noqa: E402
from tools.memory.questions import Query, QueryFilter, run_query  # noqa: E402
from tools.samples.outcomes import generate  # noqa: E402

QUERIES: dict[str, Query] = {
    "win rate (all)": Query(metric="win_rate"),
    "average loss": Query(metric="avg_loss"),
    "profit factor, ES shorts": Query(metric="profit_factor", filter=QueryFilter(asset="ES", side="SELL")),
    "max drawdown": Query(metric="max_drawdown"),
    "longest losing streak": Query(metric="longest_loss_streak"),
    "average holding time": Query(metric="avg_holding"),
    "average R": Query(metric="avg_r"),
    "10 worst trades": Query(metric="worst", top=10),
    "win rate by hour": Query(metric="win_rate", group_by="hour"),
    "expectancy by weekday": Query(metric="expectancy", group_by="weekday"),
    "pnl by session": Query(metric="pnl", group_by="session"),
    "pnl by month": Query(metric="pnl", group_by="month"),
    "win rate by asset class": Query(metric="win_rate", group_by="asset_class"),
    "pnl by reason code": Query(metric="pnl", group_by="reason_code"),
    "profit factor by symbol": Query(metric="profit_factor", group_by="symbol"),
    "win rate against a WAIT": Query(metric="win_rate", filter=QueryFilter(advisory="WAIT")),
    "win rate with vs against advice": Query(metric="win_rate", compare="advice"),
}
PHRASINGS = [
    "what is our win rate, and which trades were the biggest losers?", "win rate by hour", "average holding time",
    "what's my average loss?", "average loss per trade", "how did I do last week?", "profit factor by symbol",
    "win rate on trades placed against a WAIT advisory", "max drawdown", "longest losing streak",
    "pnl this week vs the previous week", "win rate with vs against the advice", "expectancy by regime",
    "top 3 worst trades", "average loss on ES in the asia session", "pnl by reason code",
]


def _time(fn: Any, repeat: int) -> tuple[float, float]:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, int(round(0.99 * (len(ts) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    t0 = time.perf_counter()
    df = frame_from_rows(outcome_row(o) for o, _ in generate(a.n, seed=1, snapshots=False))
    print(f"outcomes table: {len(df):,} rows built in {time.perf_counter() - t0:.1f} s")
    out: dict[str, Any] = {"n": len(df), "queries": {}, "questions": {}}
    for name, q in QUERIES.items():
        p50, p99 = _time(lambda q=q: run_query(df, q), a.repeat)
        out["queries"][name] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1)}
        print(f"  {name:34s} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    now = datetime(2026, 1, 15, tzinfo=UTC)
    known = Known.from_frame(df)
    lat = []
    for _ in range(max(1, a.repeat // 5)):
        for text in PHRASINGS:
            t1 = time.perf_counter()
            it = route_question(text, None, now, known, as_of=now)
            assert it.query is not None, text
            res = run_query(df, it.query)
            more = [run_query(df, x).model_dump(mode="json") for x in it.also]
            answer_policy({"question": text, "kind": "numeric", "result": res.model_dump(mode="json"), "more": more})
            lat.append((time.perf_counter() - t1) * 1000)
    lat.sort()
    q50, q99 = statistics.median(lat), lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
    out["questions"] = {"p50_ms": round(q50, 1), "p99_ms": round(q99, 1), "n": len(lat)}
    worst = max(v["p99_ms"] for v in out["queries"].values())
    print(f"query p99 (worst of {len(QUERIES)}): {worst:.1f} ms on {len(df):,} outcomes")
    print(f"question -> answer offline ({len(lat)} asks): p50 {q50:.1f} ms, p99 {q99:.1f} ms")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
