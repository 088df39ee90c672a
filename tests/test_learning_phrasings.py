"""Seventy trader phrasings: each must produce its query, and its answer must equal an independent pandas
computation over the generated outcomes (read from the TradeOutcome objects, not from Warden's table).
No phrasing may return another metric's number; unmappable words are refused by name."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from agents.learning_answers import answer_policy
from agents.learning_router import Known, route_question
from tools.memory.outcomes_table import frame_from_rows, outcome_row
from tools.memory.questions import run_query
from tools.samples.outcomes import generate

AS_OF = datetime(2025, 12, 12, 12, 0, tzinfo=UTC)         # a Friday; the sample runs Dec 1 -> ~Dec 11
LAST_WEEK = (datetime(2025, 12, 1, tzinfo=UTC), datetime(2025, 12, 8, tzinfo=UTC))
THIS_WEEK = datetime(2025, 12, 8, tzinfo=UTC)
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _session(h: int) -> str:
    return "asia" if h >= 22 or h < 7 else "europe" if h < 13 else "us"


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    outs = [o for o, _ in generate(1500, seed=21, snapshots=False)]
    table = frame_from_rows([outcome_row(o) for o in outs])      # the system under test
    rows = []
    for o in outs:                                                # the independent side: plain attributes
        risk_stop = o.risk.stop if o.risk and o.risk.stop is not None else (o.signal.stop if o.signal else None)
        adv = o.advisory.action.value if o.advisory else "NONE"
        wcl = o.risk.worst_case_loss if o.risk else None
        rows.append({"id": o.trade_cycle_id, "pnl": o.pnl_usd, "won": o.won, "side": o.side.upper(),
                     "symbol": o.symbol, "venue": o.venue, "adv": adv, "opened": o.opened_at, "closed": o.closed_at,
                     "hold": (o.closed_at - o.opened_at).total_seconds() / 60, "exit": o.exit_reason,
                     "regime": o.regime, "codes": [str(c) for c in o.reason_codes],
                     "r": o.pnl_usd / abs(wcl) if wcl else None,
                     "stop": None if o.venue == "polymarket" else bool(risk_stop and risk_stop > 0)})
    ind = pd.DataFrame(rows).sort_values(["closed", "id"], kind="stable").reset_index(drop=True)
    ind["hour"] = ind["opened"].map(lambda d: d.hour)
    ind["wd"] = ind["opened"].map(lambda d: d.weekday())
    ind["session"] = ind["hour"].map(_session)
    ind["followed"] = [None if a == "NONE" else a == s for a, s in zip(ind["adv"], ind["side"], strict=True)]
    return table, ind


# --- independent metric definitions ----------------------------------------------------------------
def wr(d: pd.DataFrame) -> float:
    return round(d["won"].mean() * 100, 1)


def avg_loss(d: pd.DataFrame) -> float:
    return round(d.loc[d["pnl"] < 0, "pnl"].mean(), 2)


def avg_win(d: pd.DataFrame) -> float:
    return round(d.loc[d["pnl"] > 0, "pnl"].mean(), 2)


def pf(d: pd.DataFrame) -> float:
    return round(d.loc[d["pnl"] > 0, "pnl"].sum() / -d.loc[d["pnl"] < 0, "pnl"].sum(), 2)


def payoff(d: pd.DataFrame) -> float:
    return round(avg_win(d) / -avg_loss(d), 2)


def mdd(d: pd.DataFrame) -> float:
    peak, low, cum = 0.0, 0.0, 0.0
    for p in d["pnl"]:
        cum += p
        peak = max(peak, cum)
        low = min(low, cum - peak)
    return round(low, 2)


def streak(d: pd.DataFrame, target: bool) -> float:
    best = cur = 0
    for w in d["won"]:
        cur = cur + 1 if w == target else 0
        best = max(best, cur)
    return float(best)


def total(d: pd.DataFrame) -> float:
    return round(d["pnl"].sum(), 2)


def mean(d: pd.DataFrame) -> float:
    return round(d["pnl"].mean(), 2)


def hold(d: pd.DataFrame) -> float:
    return round(d["hold"].mean(), 1)


def ids(d: pd.DataFrame, n: int, worst: bool, col: str = "pnl") -> list[str]:
    return (d.nsmallest(n, col) if worst else d.nlargest(n, col))["id"].tolist()


def groups(d: pd.DataFrame, key: Callable[[pd.DataFrame], pd.Series], fn: Callable[[pd.DataFrame], float]) -> dict:
    return {str(k): fn(part) for k, part in d.groupby(key(d))}


def es(d: pd.DataFrame) -> pd.Series:
    return d["symbol"].str.startswith("ES")


def wk(d: pd.DataFrame, lo: datetime, hi: datetime | None = None) -> pd.Series:
    return (d["closed"] >= lo) & ((d["closed"] < hi) if hi else True)


Expect = Callable[[pd.DataFrame], Any]
# (question, expected query fields (metric + any filter/group/top checks), independent expectation)
CASES: list[tuple[str, dict[str, Any], Expect]] = [
    ("what is our win rate?", {"metric": "win_rate"}, wr),
    ("win rate", {"metric": "win_rate"}, wr),
    ("hit rate", {"metric": "win_rate"}, wr),
    ("what's my success rate on ES?", {"metric": "win_rate", "asset": "ES"}, lambda d: wr(d[es(d)])),
    ("how often do we win on shorts?", {"metric": "win_rate", "side": "SELL"}, lambda d: wr(d[d.side == "SELL"])),
    ("win rate by hour", {"metric": "win_rate", "group_by": "hour"},
     lambda d: groups(d, lambda x: x["hour"].map(lambda h: f"{h:02d}h UTC"), wr)),
    ("win rate per weekday", {"metric": "win_rate", "group_by": "weekday"},
     lambda d: groups(d, lambda x: x["wd"].map(lambda w: f"{w} {DAYS[w]}"), wr)),
    ("win rate by session", {"metric": "win_rate", "group_by": "session"},
     lambda d: groups(d, lambda x: x["session"], wr)),
    ("average holding time", {"metric": "avg_holding"}, hold),
    ("how long do we hold trades?", {"metric": "avg_holding"}, hold),
    ("what's my average loss?", {"metric": "avg_loss"}, avg_loss),
    ("average loss per trade", {"metric": "avg_loss"}, avg_loss),
    ("average losing trade", {"metric": "avg_loss"}, avg_loss),
    ("average win", {"metric": "avg_win"}, avg_win),
    ("average winner on longs", {"metric": "avg_win", "side": "BUY"}, lambda d: avg_win(d[d.side == "BUY"])),
    ("average pnl per trade", {"metric": "avg_pnl"}, mean),
    ("pnl per trade on polymarket", {"metric": "avg_pnl", "venue": "polymarket"},
     lambda d: mean(d[d.venue == "polymarket"])),
    ("total pnl", {"metric": "pnl"}, total),
    ("how much did we make on bitcoin?", {"metric": "pnl", "asset": "BTC"},
     lambda d: total(d[d.symbol.str.startswith("btc-")])),
    ("how much did we lose on shorts", {"metric": "pnl", "side": "SELL"}, lambda d: total(d[d.side == "SELL"])),
    ("net profit last week", {"metric": "pnl", "since": LAST_WEEK[0], "until": LAST_WEEK[1]},
     lambda d: total(d[wk(d, *LAST_WEEK)])),
    ("expectancy", {"metric": "expectancy"}, mean),
    ("expectancy by regime", {"metric": "expectancy", "group_by": "regime"},
     lambda d: groups(d, lambda x: x["regime"], mean)),
    ("profit factor", {"metric": "profit_factor"}, pf),
    ("profit factor by symbol", {"metric": "profit_factor", "group_by": "symbol"},
     lambda d: {k: v for k, v in groups(d, lambda x: x["symbol"], lambda p: pf(p) if (p.pnl < 0).any() else None)
                .items()}),
    ("payoff ratio", {"metric": "payoff_ratio"}, payoff),
    ("reward to risk", {"metric": "payoff_ratio"}, payoff),
    ("average R multiple", {"metric": "avg_r"}, lambda d: round(d["r"].dropna().mean(), 2)),
    ("max drawdown", {"metric": "max_drawdown"}, mdd),
    ("drawdown", {"metric": "max_drawdown"}, mdd),
    ("longest losing streak", {"metric": "longest_loss_streak"}, lambda d: streak(d, False)),
    ("most consecutive losses", {"metric": "longest_loss_streak"}, lambda d: streak(d, False)),
    ("longest winning streak", {"metric": "longest_win_streak"}, lambda d: streak(d, True)),
    ("biggest losers", {"metric": "worst", "top": 5}, lambda d: ids(d, 5, True)),
    ("worst trades", {"metric": "worst", "top": 5}, lambda d: ids(d, 5, True)),
    ("what was my worst trade?", {"metric": "worst", "top": 1}, lambda d: ids(d, 1, True)),
    ("top 3 worst trades", {"metric": "worst", "top": 3}, lambda d: ids(d, 3, True)),
    ("best trades", {"metric": "best", "top": 5}, lambda d: ids(d, 5, False)),
    ("10 biggest winners", {"metric": "best", "top": 10}, lambda d: ids(d, 10, False)),
    ("longest trades", {"metric": "avg_holding", "top": 5, "rank_by": "holding_min"},
     lambda d: ids(d, 5, False, "hold")),
    ("how many trades?", {"metric": "count"}, lambda d: float(len(d))),
    ("number of trades with no protective stop", {"metric": "count", "has_stop": False},
     lambda d: float((d["stop"] == False).sum())),  # noqa: E712 - None (binary shares) is not False
    ("how many trades were stopped out", {"metric": "count", "exit_reason": "stop"},
     lambda d: float((d.exit == "stop").sum())),
    ("win rate on trades placed against a WAIT advisory", {"metric": "win_rate", "advisory": "WAIT"},
     lambda d: wr(d[d.adv == "WAIT"])),
    ("win rate when the advisory said BUY", {"metric": "win_rate", "advisory": "BUY"},
     lambda d: wr(d[d.adv == "BUY"])),
    ("win rate with no advisory", {"metric": "win_rate", "advisory": "NONE"}, lambda d: wr(d[d.adv == "NONE"])),
    ("win rate against the advice", {"metric": "win_rate", "advice_followed": False},
     lambda d: wr(d[d.followed == False])),  # noqa: E712
    ("win rate following the advice", {"metric": "win_rate", "advice_followed": True},
     lambda d: wr(d[d.followed == True])),  # noqa: E712
    ("pnl by advisory", {"metric": "pnl", "group_by": "advisory_action"},
     lambda d: groups(d, lambda x: x["adv"], total)),
    ("pnl by reason code", {"metric": "pnl", "group_by": "reason_code"},
     lambda d: groups(d.assign(c=d["codes"].map(lambda c: c or ["(none)"])).explode("c"), lambda x: x["c"], total)),
    ("win rate by exit reason", {"metric": "win_rate", "group_by": "exit_reason"},
     lambda d: groups(d, lambda x: x["exit"], wr)),
    ("count by venue", {"metric": "count", "group_by": "venue"},
     lambda d: groups(d, lambda x: x["venue"], lambda p: float(len(p)))),
    ("pnl by month", {"metric": "pnl", "group_by": "month"},
     lambda d: groups(d, lambda x: x["closed"].map(lambda c: c.strftime("%Y-%m")), total)),
    ("pnl by day", {"metric": "pnl", "group_by": "day"},
     lambda d: groups(d, lambda x: x["closed"].map(lambda c: c.date().isoformat()), total)),
    ("win rate in a high vol uptrend", {"metric": "win_rate", "regime_trend": "trend_up", "regime_vol": "high_vol"},
     lambda d: wr(d[d.regime == "trend_up_high_vol"])),
    ("win rate in the us session", {"metric": "win_rate", "session": "us"}, lambda d: wr(d[d.session == "us"])),
    ("pnl on mondays", {"metric": "pnl", "weekday": 0}, lambda d: total(d[d.wd == 0])),
    ("average loss on ES in the asia session", {"metric": "avg_loss", "asset": "ES", "session": "asia"},
     lambda d: avg_loss(d[es(d) & (d.session == "asia")])),
    ("win rate on MISSING_PROTECTION trades", {"metric": "win_rate", "reason_codes": ["MISSING_PROTECTION"]},
     lambda d: wr(d[d.codes.map(lambda c: "MISSING_PROTECTION" in c)])),
    ("how many losing trades", {"metric": "count", "won": False}, lambda d: float((~d.won).sum())),
    ("average holding time of winning trades", {"metric": "avg_holding", "won": True}, lambda d: hold(d[d.won])),
    ("how did I do?", {"metric": "pnl"}, total),
    ("how did I do last week?", {"metric": "pnl", "since": LAST_WEEK[0], "until": LAST_WEEK[1]},
     lambda d: total(d[wk(d, *LAST_WEEK)])),
    ("pnl this week", {"metric": "pnl", "since": THIS_WEEK}, lambda d: total(d[wk(d, THIS_WEEK)])),
    ("what's my average loss on shorts last week?",
     {"metric": "avg_loss", "side": "SELL", "since": LAST_WEEK[0], "until": LAST_WEEK[1]},
     lambda d: avg_loss(d[(d.side == "SELL") & wk(d, *LAST_WEEK)])),
    ("profit factor on polymarket", {"metric": "profit_factor", "venue": "polymarket"},
     lambda d: pf(d[d.venue == "polymarket"])),
    ("worst trades on ES", {"metric": "worst", "asset": "ES"}, lambda d: ids(d[es(d)], 5, True)),
    ("win rate by asset class", {"metric": "win_rate", "group_by": "asset_class"},
     lambda d: groups(d, lambda x: x["venue"].map(lambda v: "prediction" if v == "polymarket" else "future"), wr)),
]
FILTER_KEYS = {"asset", "side", "venue", "since", "until", "has_stop", "exit_reason", "advisory", "advice_followed",
               "regime_trend", "regime_vol", "session", "weekday", "reason_codes", "won"}


def _route(q: str, context: dict | None = None):  # noqa: ANN202
    return route_question(q, context, AS_OF, Known(symbols=set(), assets={"ES", "MES", "NQ", "BTC", "ETH"}),
                          as_of=AS_OF)


def test_the_table_has_at_least_sixty_phrasings() -> None:
    assert len(CASES) >= 60 and len({q for q, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("question, want, expect", CASES, ids=[c[0] for c in CASES])
def test_phrasing(question: str, want: dict[str, Any], expect: Expect, data) -> None:  # noqa: ANN001
    table, ind = data
    it = _route(question)
    assert it.kind == "numeric", (question, it.reason)
    q = it.query
    for k, v in want.items():
        got = getattr(q.filter, k) if k in FILTER_KEYS else getattr(q, k)
        assert got == v, (question, k, got)
    for k in FILTER_KEYS - set(want):              # nothing the question did not say
        assert getattr(q.filter, k) in (None, []), (question, k)
    res = run_query(table, q)
    exp = expect(ind)
    if isinstance(exp, dict):
        assert {g["key"]: g["value"] for g in res.groups} == pytest.approx(exp), question
    elif isinstance(exp, list):
        assert [r["trade_cycle_id"] for r in res.rows] == exp, question
    else:
        assert res.value == pytest.approx(exp, abs=0.051), question
    text = answer_policy({"question": question, "kind": "numeric", "result": res.model_dump(mode="json"),
                          "more": []}).text
    assert res.value_text in text and q.model_dump_json(exclude_defaults=True) in text
    assert (res.n < 10) == ("Small sample" in text)


def test_no_phrasing_returns_another_metrics_number(data) -> None:  # noqa: ANN001
    table, ind = data
    loss, avg, win = avg_loss(ind), mean(ind), avg_win(ind)
    assert len({loss, avg, win}) == 3                # the data tells the metrics apart
    for q in ("what's my average loss?", "average loss per trade", "avg loss", "mean loss per trade"):
        assert run_query(table, _route(q).query).value == pytest.approx(loss), q
    assert run_query(table, _route("average pnl").query).value == pytest.approx(avg)


def test_two_questions_in_one() -> None:
    it = _route("what is our win rate, and which trades were the biggest losers?")
    assert it.query.metric == "win_rate" and [a.metric for a in it.also] == ["worst"]
    assert it.also[0].top == 5
    it = _route("how did I do last week?")
    assert [it.query.metric] + [a.metric for a in it.also] == ["pnl", "win_rate"]


@pytest.mark.parametrize("question, word", [
    ("sharpe ratio", "sharpe"), ("win rate on tuesdays after lunch", "lunch"), ("average slippage", "slippage"),
    ("win rate by moon phase", "moon"),
])
def test_words_it_cannot_map_are_refused_by_name(question: str, word: str) -> None:
    it = _route(question)
    assert it.kind == "unanswerable" and word in " ".join(it.unknown_terms) + it.reason, it


def _ctx(q: str) -> dict:
    it = _route(q)
    return {"question": q, "query": it.query.model_dump(mode="json")}


def test_a_new_question_starts_fresh_a_follow_up_inherits() -> None:
    it = _route("how did I do last week?", _ctx("what was my worst trade?"))
    assert not it.followup and it.query.metric == "pnl" and it.query.top is None
    it = _route("what's my win rate?", _ctx("average loss on ES"))
    assert not it.followup and it.query.metric == "win_rate" and it.query.filter.asset is None
    it = _route("and on NQ?", _ctx("win rate on ES"))
    assert it.followup and it.query.metric == "win_rate" and it.query.filter.asset == "NQ"
    it = _route("what about shorts?", _ctx("win rate on ES"))
    assert it.followup and (it.query.filter.asset, it.query.filter.side) == ("ES", "SELL")
    it = _route("last week", _ctx("profit factor on ES"))          # a bare filter is a follow-up
    assert it.followup and it.query.metric == "profit_factor" and it.query.filter.since == LAST_WEEK[0]


def test_small_samples_are_said(data) -> None:  # noqa: ANN001
    table, _ = data
    res = run_query(table, _route("win rate on ES in the asia session on mondays last week").query)
    assert 0 < res.n < 10 and res.small_sample
    text = answer_policy({"question": "q", "kind": "numeric", "result": res.model_dump(mode="json")}).text
    assert "Small sample" in text


def test_comparisons(data) -> None:  # noqa: ANN001
    table, ind = data
    res = run_query(table, _route("win rate with vs against the advice").query)
    got = {c["side"]: c["value"] for c in res.comparison}
    assert got == {"followed the advice": wr(ind[ind.followed == True]),  # noqa: E712
                   "against the advice": wr(ind[ind.followed == False])}  # noqa: E712
    res = run_query(table, _route("pnl this week vs the previous week").query)
    got = {c["side"]: c["value"] for c in res.comparison}
    assert got == pytest.approx({"this period": total(ind[wk(ind, THIS_WEEK)]),
                                 "previous period": total(ind[wk(ind, datetime(2025, 12, 3, 12, tzinfo=UTC),
                                                                 THIS_WEEK)])})
