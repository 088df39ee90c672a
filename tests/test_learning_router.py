"""The learning agent's deterministic question router (the documented offline routing policy)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents.learning_router import Known, route_question

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)          # a Thursday
KNOWN = Known(symbols={"ESZ5", "btc-updown-15m-1768437900"}, assets={"ES", "BTC"})


def route(q: str, context=None):  # noqa: ANN001, ANN202
    return route_question(q, context, NOW, KNOWN, as_of=NOW)


def ctx_of(q: str) -> dict:
    it = route(q)
    assert it.kind == "numeric", it
    return {"question": q, "query": it.query.model_dump(mode="json")}


def test_the_acceptance_question() -> None:
    it = route("what is our win rate on trades placed against a WAIT advisory?")
    assert it.kind == "numeric" and not it.followup
    assert it.query.metric == "win_rate" and it.query.filter.advisory == "WAIT"
    assert it.query.as_of == NOW


@pytest.mark.parametrize("q, metric, checks", [
    ("win rate when the advisory said WAIT", "win_rate", {"advisory": "WAIT"}),
    ("hit rate on trades where AWS said SELL", "win_rate", {"advisory": "SELL"}),
    ("how many trades had no protective stop", "count", {"has_stop": False}),
    ("how many unprotected trades lost", "count", {"has_stop": False}),
    ("number of trades with no advisory", "count", {"advisory": "NONE"}),
    ("total pnl on polymarket", "pnl", {"venue": "polymarket"}),
    ("how much did we lose on ESZ5 shorts", "pnl", {"symbol": "ESZ5", "side": "SELL"}),
    ("average pnl per trade on bitcoin longs", "avg_pnl", {"asset": "BTC", "side": "BUY"}),
    ("win rate on AWS_WAIT trades", "win_rate", {"reason_codes": ["AWS_WAIT"]}),
    ("win rate of losing trades in a high vol uptrend", "win_rate",
     {"won": False, "regime_trend": "trend_up", "regime_vol": "high_vol"}),
    ("how many trades were stopped out", "count", {"exit_reason": "stop"}),
    ("worst trades on ES", "worst", {"asset": "ES"}),
])
def test_metrics_and_filters(q: str, metric: str, checks: dict) -> None:
    it = route(q)
    assert it.kind == "numeric", (q, it)
    assert it.query.metric == metric
    for k, v in checks.items():
        assert getattr(it.query.filter, k) == v, (q, k)


def test_grouping_and_dates() -> None:
    it = route("PnL by reason code last week")
    assert (it.query.metric, it.query.group_by) == ("pnl", "reason_code")
    assert it.query.filter.since == datetime(2026, 1, 5, tzinfo=UTC)
    assert it.query.filter.until == datetime(2026, 1, 12, tzinfo=UTC)
    it = route("win rate between 2026-01-01 and 2026-01-10 per symbol")
    assert it.query.group_by == "symbol"
    assert (it.query.filter.since, it.query.filter.until) == (datetime(2026, 1, 1, tzinfo=UTC),
                                                              datetime(2026, 1, 11, tzinfo=UTC))
    it = route("average pnl in the last 7 days")
    assert it.query.filter.since == NOW - timedelta(days=7) and it.query.filter.until is None
    it = route("total pnl in december 2025 broken down by advisory")
    assert it.query.group_by == "advisory_action"
    assert it.query.filter.since == datetime(2025, 12, 1, tzinfo=UTC)
    assert it.query.filter.until == datetime(2026, 1, 1, tzinfo=UTC)
    it = route("how many trades yesterday")
    assert (it.query.filter.since, it.query.filter.until) == (datetime(2026, 1, 14, tzinfo=UTC),
                                                              datetime(2026, 1, 15, tzinfo=UTC))


def test_worst_trades_grouped_read_as_pnl() -> None:
    it = route("worst trades by symbol")
    assert (it.query.metric, it.query.group_by) == ("pnl", "symbol")


def test_follow_ups_resolve_against_the_previous_question() -> None:
    ctx = ctx_of("what is our win rate on trades placed against a WAIT advisory?")
    it = route("and when it said BUY?", ctx)
    assert it.followup and it.query.metric == "win_rate" and it.query.filter.advisory == "BUY"
    it = route("what about SELL?", ctx)
    assert it.query.filter.advisory == "SELL"                # bare SELL after an advisory question
    it = route("and only shorts", ctx)
    assert (it.query.filter.advisory, it.query.filter.side) == ("WAIT", "SELL")
    it = route("and the total pnl?", ctx)
    assert (it.query.metric, it.query.filter.advisory) == ("pnl", "WAIT")
    it = route("and by symbol?", ctx)
    assert (it.query.group_by, it.query.filter.advisory) == ("symbol", "WAIT")
    it = route("and last week?", ctx)
    assert it.query.filter.advisory == "WAIT" and it.query.filter.since == datetime(2026, 1, 5, tzinfo=UTC)
    it = route("and overall?", ctx)
    assert it.query.metric == "win_rate" and it.query.filter.advisory is None
    assert route("and?", ctx).kind == "unanswerable"


def test_without_context_a_follow_up_is_not_invented() -> None:
    it = route("and when it said BUY?")
    assert it.kind == "numeric" and not it.followup and it.query.metric == "count"


@pytest.mark.parametrize("q, term", [
    ("what is our sharpe ratio?", "sharpe"),
    ("win rate by moon phase", "moon"),
    ("win rate when confidence was above 0.7", "confidence"),
    ("total pnl on tuesdays after lunch", "lunch"),
])
def test_what_the_table_cannot_answer_is_said(q: str, term: str) -> None:
    it = route(q)
    assert it.kind == "unanswerable", it
    assert term in it.unknown_terms


def test_narrative_questions() -> None:
    assert route("why did we lose on 2025-12-12?").kind == "narrative"
    assert route("what happened with the drawdown halt?").kind == "narrative"
    assert route("what are the lessons from the incident reports?").kind == "narrative"
    cid = "0f8b4a8e-1d2c-4b5a-9e6f-7a8b9c0d1e2f"
    it = route(f"tell me about cycle {cid}")
    assert it.kind == "narrative" and it.cycle_ids == [cid]
