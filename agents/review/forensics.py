"""Data Forensics team (seed 001: Data Archaeologist, Database Analyst, Log Parser).

Runs first: its reconstruction (tools.review.forensics) unblocks every other team. Offline policy: report the
reconstructed record by source, the recording failure with its error signature and likely cause
(labelled a hypothesis), what stays unresolved, and the catalogue fixes for each detected root cause.

Failure contract: tool failures are handled by ``base.run_team``; missing inputs are listed as
"could not run".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.review.base import ReportBuilder, ReviewContext, run_team, trim
from agents.review.strength import finish
from tools.review import forensics as ftool
from tools.review.markdown import currency, money, plural
from tools.review.report import TeamReport
from tools.review.sre import unknown_lines

TEAM = "forensics"
PROMPT = """You are the Data Archaeologist leading the Data Forensics team of an incident review.
Using ONLY the evidence (numbers computed by deterministic tools), write the team report: findings with
evidence references, each labelled fact or hypothesis; answers to: 1. Why did outcome resolution stop
working? 2. Can we recover the missing outcome data? 3. What was the actual win/loss record? 4. When
exactly did the losses occur? Conclusions, and recommendations typed by the decision framework
(code_bug_fix, risk_parameter, strategy, model, architecture). Never invent a number."""

ANALYSES = ("journal/log correlation", "recorded outcomes", "telemetry gap check", "resolution-log outcomes",
            "resolver error analysis", "candle-based outcome reconstruction", "structured-event correlation",
            "unmatched ERROR lines", "heartbeat gaps", "candles for")


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    fx = ctx.fx
    a = ctx.cached("forensics", lambda: ftool.analyze(fx, ctx.guards.outcome_grace_s))
    ev = ctx.evidence(TEAM)
    losses = [t for t in fx.positions if t.won is False]
    wins = [t for t in fx.positions if t.won]
    res_time = [x for t in losses if (x := t.resolved_at or t.window_end or t.exit_time) is not None]
    errs = [{k: v for k, v in e.items() if k not in ("trade_ids",)} for e in a["errors"]]
    ev.update(
        metrics=a["metrics"], detections=[d.model_dump() for d in a["detections"]],
        not_run=ctx.not_run(ANALYSES),
        errors=trim(errs, 10), conflicts=trim([{"trade_id": t, "conflict": c} for t, c in a["conflicts"]], 10),
        first_loss_at=min(res_time) if res_time else None, last_loss_at=max(res_time) if res_time else None,
        largest_loss=min((t.pnl for t in losses if t.pnl is not None), default=None),
        largest_win=max((t.pnl for t in wins if t.pnl is not None), default=None),
        resolver={"passes": len(fx.resolution_passes),
                  "first_pass": fx.resolution_passes[0][0] if fx.resolution_passes else None,
                  "last_pass": fx.resolution_passes[-1][0] if fx.resolution_passes else None,
                  "max_pending": max((p[1] for p in fx.resolution_passes), default=0)},
        log_stats={n: {"records": d.records, "bytes": d.stats.get("bytes_read"), "lines": d.stats.get("lines"),
                       "unknown_lines": unknown_lines(d.stats), "first": d.first, "last": d.last}
                   for n, d in fx.logs.items()},
        tables={
            "Reconstructed outcomes": trim([{**t.as_outcome_row(), "evidence": "; ".join(t.evidence[:2])}
                                            for t in fx.trades], 60),
            "Error signatures": trim([{"source": e["source"], "signature": e["signature"], "count": e["count"],
                                       "swallowed": e["swallowed"], "first": e["first"], "last": e["last"],
                                       "trades_hit": e["trades_hit"]} for e in a["errors"]], 10),
        })
    return ev, a


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    det = b.detections
    src = ", ".join(f"{k}: {v}" for k, v in (m.get("by_source") or {}).items()) or "none"
    ccy = currency(ev["bundle_kind"])
    summary = (f"{plural(m['trades'], 'trade')} found; {plural(m['outcomes_recorded'], 'outcome')} recorded by the bot, "
               f"{m['outcomes_reconstructed']} reconstructed (by source {src}), {m['unresolved']} unresolved. "
               f"Record: {plural(m['wins'], 'win')}, {plural(m['losses'], 'loss', 'losses')}, net PnL "
               f"{money(m['net_pnl'], ccy)}.")
    b.fact("Reconstructed trade record", summary, ["outcomes.csv"])
    err = (ev.get("errors") or [None])[0]
    rf = det.get("OUTCOME_RECORDING_FAILED")
    if rf:
        b.fact("Outcomes were never recorded", rf["summary"], rf["evidence"])
    if err:
        b.fact("Dominant error signature",
               f"'{err['signature']}' in {err['source']}: {plural(err['count'], 'occurrence')} ({err['swallowed']} logged as "
               f"ignored), first {err['first']}, last {err['last']}, {err['trades_hit']} trades hit.", err["refs"][:3])
        if err.get("likely_cause"):
            b.hypothesis("Likely cause of the recording failure", f"{err['likely_cause']}; fix: {err['fix']}.",
                         err["refs"][:1], contributing=False)
    r = ev.get("resolver") or {}
    if r.get("passes"):
        b.fact("Resolver activity", f"{r['passes']} resolution passes from {r['first_pass']} to {r['last_pass']}, "
               f"up to {r['max_pending']} pending trades in one pass.")
    if ev.get("conflicts"):
        c = ev["conflicts"][0]
        b.fact("Sources disagree", f"{m.get('source_conflicts')} conflict(s) between outcome sources, e.g. trade "
               f"{c['trade_id']}: {c['conflict']}.")
    tg = det.get("TELEMETRY_GAP")
    if tg:
        b.fact("Trade record incomplete", tg["summary"], tg["evidence"])
    if m.get("unresolved"):
        b.fact("Unresolved trades", f"{plural(m['unresolved'], 'trade')} could not be resolved from any source in the bundle; "
               "risk treats them as losses at their window's end (worst case).")
    # the seed's questions
    if rf:
        why = rf["summary"] + (f" Likely cause (hypothesis): {err['likely_cause']}." if err and err.get("likely_cause")
                               else "")
        b.answer("Why did outcome resolution stop working?", why, "fact")
    elif ev["bundle_kind"] == "polymarket":
        b.answer("Why did outcome resolution stop working?",
                 "No recording failure is visible: every trade past its resolution time has an outcome, or the "
                 "journal needed to check is missing (see 'could not run').", "unknown")
    b.answer("Can we recover the missing outcome data?",
             f"Yes for {plural(m['outcomes_reconstructed'], 'trade')} (by source {src}); {m['unresolved']} "
             f"{'remains' if m['unresolved'] == 1 else 'remain'} unresolved.",
             "fact")
    b.answer("What was the actual win/loss record?",
             f"{plural(m['wins'], 'win')} and {plural(m['losses'], 'loss', 'losses')} out of "
             f"{plural(m['trades'], 'trade')}, net PnL {money(m['net_pnl'], ccy)}.", "fact")
    if ev.get("first_loss_at"):
        b.answer("When exactly did the losses occur?",
                 f"Losses resolved from {ev['first_loss_at']} to {ev['last_loss_at']}; the largest single loss was "
                 f"{money(ev['largest_loss'], ccy)}. The per-trade times are in timeline.csv and outcomes.csv.", "fact")
    b.conclusions.append(summary)
    if rf:
        cause = err["likely_cause"] if err and err.get("likely_cause") else "see the error signatures"
        b.recommend("OUTCOME_RECORDING_FAILED", cause=cause, reconstructed=m["outcomes_reconstructed"])
        b.conclusions.append("Outcome recording failed silently; the record above is reconstructed, not recorded.")
    if tg:
        b.recommend("TELEMETRY_GAP")
    return finish(b.build(summary), m["trades"], "trades")


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy)
