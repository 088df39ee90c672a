"""Trading Strategy team (seed 001: Trading Strategist, Technical Analyst, Behavioral Finance Expert).

Offline policy: overtrading is a fact when the tool's threshold is crossed; whether entry prices were
"too high" is judged against the break-even win rate they imply (price paid) versus the realized win
rate; strategy changes are proposals needing user approval and a backtest.

Failure contract: tool failures are handled by ``base.run_team``; with no trades the report says so.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.review.base import ReportBuilder, ReviewContext, run_team, trim
from agents.review.econophysics import analyze as econ_analyze
from agents.review.strength import finish, last
from tools.review import strategy as strategy_review
from tools.review.markdown import currency, money, plural
from tools.review.report import ChangeType, Recommendation, TeamReport

TEAM = "strategy"
MAX_PER_HOUR = 4        # one entry per 15-minute window, the market's own rhythm
PROMPT = """You are the Trading Strategist of an incident review. From the evidence only (trade frequency,
entry-price distribution and win rates by price, holding times, concentration, entries with/against the
market's move, earlier periods in the bundle), answer: 1. Is the bot trading too frequently? 2. Are entry
prices too high (reducing edge)? 3. Should we adjust entry thresholds? 4. Is the strategy fundamentally
sound or flawed? Label facts and hypotheses; never invent a number."""


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    fx = ctx.fx
    econ = ctx.cached("econ", lambda: econ_analyze(ctx))
    a = ctx.cached("strategy", lambda: strategy_review.analyze(fx, econ.get("entries")))
    ev = ctx.evidence(TEAM)
    m = dict(a["metrics"])
    m["proposed_max_per_hour"] = MAX_PER_HOUR
    ev.update(metrics=m, detections=[d.model_dump() for d in a["detections"]],
              not_run=ctx.not_run(("entry prices against",)),
              price_buckets=a.get("price_buckets", []), halves=a.get("halves", []),
              concentration=a.get("concentration", {}),
              tables={"Win rate by entry price": a.get("price_buckets", []), "First vs second half": a.get("halves", []),
                      "By asset": trim((a.get("concentration") or {}).get("by_asset"))})
    return ev, a


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    det = b.detections
    if not m.get("trades"):
        return finish(b.build("No trades in the bundle: nothing to review."), 0, "trades")
    ot = det.get("OVERTRADING")
    ccy = currency(ev["bundle_kind"])
    b.fact("Trade frequency", f"{plural(m['trades'], 'position')} over {m['span_hours']} hours ({m['per_hour']} per "
           f"hour), at most {m['max_in_60min']} within one hour; median gap {m['median_gap_min']} minutes. Before the "
           f"busiest hour the bot opened {plural(m['earlier_period_trades'], 'position')} in "
           f"{m['earlier_period_hours']} hours.")
    if ot:
        b.fact("Overtrading", ot["summary"], ot["evidence"], contributing=False)
    if m.get("price_mean") is not None and ev["bundle_kind"] == "polymarket":
        b.fact("Entry prices", f"from {m['price_min']} to {m['price_max']} (median {m['price_median']}, mean "
               f"{m['price_mean']}); realized win rate {m.get('win_rate')} against a break-even win rate of "
               f"{m.get('breakeven_win_rate')} (95% CI of the win rate {m.get('win_rate_ci_low')} to "
               f"{m.get('win_rate_ci_high')}).", contributing=True)
        last(b, {"n": m.get("win_rate_n", 0), "strength": m.get("win_rate_strength", "inconclusive"),
                 "test": "binomial test of the win rate vs the break-even price, Wilson CI"})
        for pb in ev.get("price_buckets") or []:
            b.fact(f"Prices {pb['price_range']}", f"{plural(pb['trades'], 'trade')}, win rate {pb['win_rate']} (95% CI "
                   f"{pb['ci_low']} to {pb['ci_high']}), PnL {money(pb['pnl'], ccy)}.")
            last(b, {"n": pb["trades"], "strength": pb["strength"], "test": "Wilson 95% CI"})
    if m.get("hold_mean_minutes") is not None:
        b.fact("Holding time", f"{m['hold_min_minutes']} to {m['hold_max_minutes']} minutes (mean "
               f"{m['hold_mean_minutes']}).")
    if m.get("entries_with_move") is not None:
        b.fact("Momentum or contrarian", f"{m['entries_with_move']} entries went with the move at entry (win rate "
               f"{m['win_rate_with_move']}), {m['entries_against_move']} against it (win rate "
               f"{m['win_rate_against_move']}); 95% CI of the difference {m.get('entries_diff_ci_low')} to "
               f"{m.get('entries_diff_ci_high')}.")
        last(b, {"n": m.get("entries_diff_n", 0), "strength": m.get("entries_diff_strength", "inconclusive"),
                 "test": "bootstrap 95% CI of the win-rate difference"})
    halves = ev.get("halves") or []
    if len(halves) == 2:
        h1, h2 = halves
        b.fact("Earlier vs later trades", f"first half: {plural(h1['trades'], 'trade')}, {plural(h1['wins'], 'win')}, "
               f"PnL {money(h1['pnl'], ccy)}; second half: {plural(h2['trades'], 'trade')}, "
               f"{plural(h2['wins'], 'win')}, PnL {money(h2['pnl'], ccy)}.")
    b.answer("Is the bot trading too frequently?", ot["summary"] if ot else
             f"No: at most {plural(m['max_in_60min'], 'position')} in an hour.", "fact")
    if m.get("win_rate") is not None and ev["bundle_kind"] == "polymarket":
        low = m["win_rate"] < m["breakeven_win_rate"]
        b.answer("Are entry prices too high (reducing edge)?",
                 f"Relative to the realized win rate, yes: the mean price {m['price_mean']} needs a win rate of "
                 f"{m['breakeven_win_rate']} to break even; {m['win_rate']} was realized." if low else
                 f"No: the realized win rate {m['win_rate']} exceeds the break-even {m['breakeven_win_rate']}.", "fact")
        b.answer("Should we adjust entry thresholds?",
                 "Only with a recalibrated model: the ML team found no stated-probability threshold that restores the "
                 "edge; a threshold on (stated probability - price) must be backtested." if low else
                 "Not on this evidence.", "hypothesis")
        b.answer("Is the strategy fundamentally sound or flawed?",
                 "Unproven either way: the loss came from risk and tracking failures compounding a model that lost its "
                 "edge in this regime; the strategy must be re-validated by backtest before resuming.", "hypothesis")
    summary = (f"{plural(m['trades'], 'position')}, {m['per_hour']} per hour" + ("; overtrading detected" if ot else "")
               + (f"; win rate {m.get('win_rate')} vs break-even {m.get('breakeven_win_rate')}"
                  if m.get("win_rate") is not None and ev["bundle_kind"] == "polymarket" else "") + ".")
    b.conclusions.append(summary)
    if ot:
        b.recommend("OVERTRADING", max_per_hour=m["proposed_max_per_hour"], per_hour=m["per_hour"])
    if m.get("win_rate") is not None and ev["bundle_kind"] == "polymarket" and m["win_rate"] < m["breakeven_win_rate"]:
        b.recs.append(Recommendation(
            id="EDGE-1", title="Enter only with a positive edge over the price", team=TEAM,
            change_type=ChangeType.strategy, priority="P2",
            detail=(f"Require (calibrated probability - price) above a margin before buying; this period's mean price "
                    f"{m['price_mean']} against a realized win rate of {m['win_rate']} had no edge. Backtest first."),
            expected_impact="no entries without an edge"))
    return finish(b.build(summary), m["trades"], "positions")


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy)
