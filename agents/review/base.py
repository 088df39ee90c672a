"""What every review team shares: its run context, evidence shaping, the change catalogue (seed 001's
decision framework) and the runner (tools -> reasoner -> tool-owned fields -> grounding check).

Whatever the reasoner writes, a team report's root causes, metrics, tables and "could not run" list are
the tools' own; the reasoner writes the prose (summary, findings, answers, recommendations) and every
number in that prose is checked against the evidence it was given.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from agents.grounding import NumberPool, ungrounded_numbers
from agents.llm import LLMUnavailable, Reasoner
from tools.review.forensics import Forensics
from tools.review.report import (
    TEAM_TITLES,
    Answer,
    ChangeType,
    Finding,
    NotRun,
    Recommendation,
    RootCause,
    TeamReport,
    fmt_ts,
)
from trading.settings import GuardConfig, Settings

log = logging.getLogger(__name__)

MAX_ROWS = 40


@dataclass
class ReviewContext:
    """One review run's shared state: the forensic reconstruction, settings, output folder, reasoner."""
    fx: Forensics
    settings: Settings
    out: Path
    reasoner: Reasoner
    cache: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def zone(self) -> str:
        return self.fx.zone

    @property
    def guards(self) -> GuardConfig:
        return self.settings.guards

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        """Compute once per run (teams run in parallel threads and share tool results)."""
        with self.lock:
            if key not in self.cache:
                self.cache[key] = _Pending()
            slot = self.cache[key]
        if isinstance(slot, _Pending):
            with slot.lock:
                if not slot.done:
                    slot.value = fn()
                    slot.done = True
            return slot.value
        return slot


class _Pending:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None


def jsonable(obj: Any, tz: str = "UTC") -> Any:
    """Plain JSON types: datetimes as ISO text in the display zone, numpy scalars as Python numbers."""
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, datetime):
        return fmt_ts(obj, tz)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return None if not math.isfinite(f) else round(f, 6)
    if isinstance(obj, int):
        return obj
    if isinstance(obj, BaseModel):
        return jsonable(obj.model_dump(mode="python"), tz)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, tz) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return [jsonable(v, tz) for v in sorted(obj, key=str)]
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, tz) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v, tz) for v in obj.tolist()]
    if dataclasses.is_dataclass(obj):
        return jsonable(dataclasses.asdict(obj), tz)  # type: ignore[arg-type]
    return str(obj)


def trim(rows: list[dict[str, Any]] | None, n: int = MAX_ROWS) -> list[dict[str, Any]]:
    return list(rows or [])[:n]


def not_run(fx: Forensics, analyses: tuple[str, ...]) -> list[NotRun]:
    """The bundle-level gaps that concern these analyses (by analysis name prefix)."""
    return [n for n in fx.could_not_run if any(n.analysis.startswith(a) for a in analyses)]


def base_evidence(ctx: ReviewContext, team: str) -> dict[str, Any]:
    fx = ctx.fx
    first, last = fx.span
    return {"team": team, "bundle_kind": fx.kind, "zone": fx.zone, "log_first": first, "log_last": last,
            "guard_config": ctx.guards.model_dump(), "overview": fx.metrics()}


# ------------------------------------------------------------------------------------------------
# the change catalogue: what each detected root cause calls for, by seed 001's decision framework


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "n/a"


CATALOGUE: dict[str, list[dict[str, str]]] = {
    "OUTCOME_RECORDING_FAILED": [
        {"title": "Fail loudly when an outcome cannot be written", "type": "code_bug_fix", "priority": "P0",
         "detail": "The resolver must not carry on after a failed journal write: probe the journal's writability at "
                   "start, retry with backoff, alert, and halt new entries (JOURNAL_UNWRITABLE) while any write fails. "
                   "Fix the cause first: {cause}.",
         "impact": "every trade past its window gets an outcome, or trading stops within one resolver pass"},
        {"title": "Backfill the missing outcomes from the reconstruction", "type": "code_bug_fix", "priority": "P0",
         "detail": "Write the {reconstructed} reconstructed outcomes of outcomes.csv into the journal, each tagged "
                   "with its source (resolution_log, candles, api), so the learning and risk state see them.",
         "impact": "the journal's win/loss record matches what happened"},
    ],
    "SWALLOWED_EXCEPTIONS": [
        {"title": "Stop swallowing resolver exceptions", "type": "code_bug_fix", "priority": "P0",
         "detail": "Replace the catch-all that logs '(ignored)' with counted errors keyed by trade id, an alert on "
                   "the first occurrence and a halt of new entries after repeated failures; add a unit test that "
                   "a read-only journal fails the resolver loudly.",
         "impact": "a failure like this one is visible within minutes instead of after a drawdown"},
    ],
    "DRAWDOWN_PEAK_RESET": [
        {"title": "Never reset the drawdown peak on restart", "type": "code_bug_fix", "priority": "P0",
         "detail": "Keep the peak in an append-only risk ledger (the maximum of every equity mark); a missing or "
                   "invalid state file must fail closed (halt), not reset the peak; only an explicit, logged "
                   "operator command may lower it (warden risk reset-peak).",
         "impact": "the drawdown is always measured from the true peak ({true_peak})"},
    ],
    "DRAWDOWN_HALT_MISSED": [
        {"title": "Drawdown halt on true equity with the {limit}% limit and an unresolved-outcome fail-safe",
         "type": "risk_parameter", "priority": "P1",
         "detail": "Measure drawdown on wallet balance plus open positions valued at 0 once their window has ended; "
                   "halt at max_drawdown_pct={limit} and latch; halt entries when more than "
                   "max_unresolved_outcomes={max_unresolved} trades are past resolution without an outcome (replayed "
                   "here, the fail-safe would have blocked {failsafe_blocked} trades).",
         "impact": "the halt would have fired at {halt_at} instead of never"},
        {"title": "Put the deterministic guards in front of the bot's order path", "type": "architecture",
         "priority": "P3",
         "detail": "Route every order through an external guard process (Warden) that holds its own risk ledger, so "
                   "a halt cannot be bypassed by the bot's own state or a restart.",
         "impact": "risk controls survive bot bugs and restarts"},
    ],
    "LOSS_STREAK_UNTRACKED": [
        {"title": "Count unresolved outcomes as losses in the streak", "type": "code_bug_fix", "priority": "P0",
         "detail": "consecutive_losses must be derived from recorded outcomes plus every trade past its resolution "
                   "time without one (worst case), never reset by a restart.",
         "impact": "the streak would have read {true_streak} instead of {state_streak}"},
        {"title": "Loss-streak halt at max_consecutive_losses={max_losses}", "type": "risk_parameter",
         "priority": "P1",
         "detail": "Halt new entries after {max_losses} consecutive losses (the longest streak here was "
                   "{max_streak}).",
         "impact": "caps a losing cascade at {max_losses} trades"},
    ],
    "UNREALIZED_LOSSES_HIDDEN": [
        {"title": "Mark expired positions at their resolved value", "type": "code_bug_fix", "priority": "P0",
         "detail": "A position whose window has ended is worth its payout (0 when lost), not its cost; the balance "
                   "used for drawdown must include that mark.",
         "impact": "the balance never hides resolved losses (up to {hidden_max} hidden here)"},
    ],
    "OVERTRADING": [
        {"title": "Cap entry frequency and add a cooldown after losses", "type": "strategy", "priority": "P2",
         "detail": "At most {max_per_hour} entries per hour (one per 15-minute window) and no new entry within one "
                   "window after a loss; backtest against this bundle's period ({per_hour} per hour observed).",
         "impact": "fewer correlated bets in a losing regime"},
    ],
    "MODEL_MISCALIBRATED": [
        {"title": "Recalibrate or replace the model before trading on its probabilities", "type": "model",
         "priority": "P2",
         "detail": "The stated probabilities (mean {mean_prob}) far exceed the realized win rate ({win_rate}); Brier "
                   "{brier} vs {brier_base} for the base rate. Recalibrate (isotonic/Platt) on recent resolved "
                   "outcomes or retrain, and A/B test against the current model before switching.",
         "impact": "stated edge matches realized edge"},
    ],
    "SERVICE_RESTARTS": [
        {"title": "Make restarts safe and visible", "type": "architecture", "priority": "P3",
         "detail": "Supervise the bot with alerts on every unclean exit and on memory above 90%; restarts must "
                   "restore risk state from the ledger, never from a fresh default ({restarts} restarts here, "
                   "{unclean} unclean).",
         "impact": "a crash loop cannot silently reset risk state"},
    ],
    "EXIT_OPENED_POSITION": [
        {"title": "Reduce-only exits judged against the live position", "type": "code_bug_fix", "priority": "P0",
         "detail": "An exit re-reads the live position, derives its side from it, and is refused when flat "
                   "(NO_EXPOSURE) or when it would flip the position (REDUCE_ONLY_VIOLATION).",
         "impact": "an exit can never open exposure (order {order_id} would have been blocked)"},
    ],
    "ADVISORY_WAIT_IGNORED": [
        {"title": "A WAIT advisory blocks entries (block_on_wait=true)", "type": "risk_parameter", "priority": "P1",
         "detail": "Treat WAIT as a block for anything that opens exposure; allow an override only for an "
                   "advisory-only WAIT above an explicit confidence (wait_override_confidence), never by default.",
         "impact": "orders against a WAIT are blocked with AWS_WAIT"},
    ],
    "MISSING_PROTECTION": [
        {"title": "Reject entries without a valid stop and target", "type": "code_bug_fix", "priority": "P0",
         "detail": "The entry guard (and any exit that would open exposure) requires positive stop and target on the "
                   "correct side and a worst-case loss under max_loss_per_trade={max_loss}.",
         "impact": "no naked position (one was open {minutes} minutes here)"},
    ],
    "STALE_BROKER_PNL": [
        {"title": "Compute PnL from fills, flag broker mismatches", "type": "code_bug_fix", "priority": "P0",
         "detail": "Realized PnL = price delta x quantity x multiplier - fees from the fills; IB's realizedPNL is kept "
                   "only as a cross-check and a mismatch is flagged (PNL_MISMATCH).",
         "impact": "reported PnL matches the account ({broker} reported vs {true} true here)"},
    ],
    "TELEMETRY_GAP": [
        {"title": "One trade_cycle_id from signal to PnL; never drop a trade record", "type": "code_bug_fix",
         "priority": "P0",
         "detail": "Generate the id at the signal, carry it on every order, fill and event, and write the trade "
                   "record on close even when the id is missing (with a flag) rather than skipping it.",
         "impact": "every loss is visible to dashboards and learning"},
    ],
}


def recommend(code: str, team: str, **vals: Any) -> list[Recommendation]:
    out = []
    safe = _Safe({k: ("n/a" if v is None else v) for k, v in vals.items()})
    for i, t in enumerate(CATALOGUE.get(code, [])):
        out.append(Recommendation(
            id=f"{code}-{i + 1}", title=t["title"].format_map(safe), detail=t["detail"].format_map(safe),
            change_type=ChangeType(t["type"]), priority=t["priority"],  # type: ignore[arg-type]
            expected_impact=t["impact"].format_map(safe), team=team, addresses=[code]))  # type: ignore[list-item]
    return out


# ------------------------------------------------------------------------------------------------
# report helpers for policies


class ReportBuilder:
    def __init__(self, ev: Mapping[str, Any], team: str) -> None:
        self.ev = ev
        self.team = team
        self.findings: list[Finding] = []
        self.answers: list[Answer] = []
        self.conclusions: list[str] = []
        self.recs: list[Recommendation] = []

    def fact(self, title: str, statement: str, evidence: list[str] | None = None, contributing: bool = False) -> None:
        self.findings.append(Finding(id=f"{self.team}-F{len(self.findings) + 1}", title=title, statement=statement,
                                     kind="fact", evidence=[e for e in (evidence or []) if e],
                                     contributing=contributing))

    def hypothesis(self, title: str, statement: str, evidence: list[str] | None = None,
                   contributing: bool = True) -> None:
        self.findings.append(Finding(id=f"{self.team}-F{len(self.findings) + 1}", title=title, statement=statement,
                                     kind="hypothesis", evidence=[e for e in (evidence or []) if e],
                                     contributing=contributing))

    def answer(self, question: str, answer: str, kind: str = "fact") -> None:
        self.answers.append(Answer(question=question, answer=answer, kind=kind))  # type: ignore[arg-type]

    def build(self, summary: str) -> TeamReport:
        seen = set()
        recs = []
        for r in self.recs:
            if r.title not in seen:
                seen.add(r.title)
                recs.append(r)
        return TeamReport(team=self.team, title=f"{TEAM_TITLES[self.team]} Team Report", summary=summary,
                          findings=self.findings, conclusions=self.conclusions, recommendations=recs,
                          answers=self.answers)


def detections(ev: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["code"]: d for d in ev.get("detections", [])}


# ------------------------------------------------------------------------------------------------
# the runner


def _texts(rep: TeamReport) -> list[tuple[str, str]]:
    out = [("summary", rep.summary)]
    out += [(f"finding {f.id}", f"{f.title} {f.statement}") for f in rep.findings]
    out += [("conclusion", c) for c in rep.conclusions]
    out += [("answer", a.answer) for a in rep.answers]
    out += [(f"recommendation {r.id}", f"{r.title} {r.detail} {r.expected_impact}") for r in rep.recommendations]
    return out


def grounding_flags(rep: BaseModel, texts: list[tuple[str, str]], evidence: Mapping[str, Any]) -> list[str]:
    pool = NumberPool(evidence)
    flags = []
    for where, text in texts:
        bad = ungrounded_numbers(text, evidence, pool=pool)
        if bad:
            flags.append(f"{where}: {', '.join(dict.fromkeys(bad))}")
    return flags


Gather = Callable[[ReviewContext], tuple[dict[str, Any], dict[str, Any]]]
Policy = Callable[[Mapping[str, Any]], TeamReport]
Plots = Callable[[ReviewContext, dict[str, Any]], list[str]]


def run_team(ctx: ReviewContext, team: str, prompt: str, gather: Gather, policy: Policy,
             plots: Plots | None = None) -> TeamReport:
    t0 = time.perf_counter()
    errors: list[str] = []
    try:
        ev_raw, full = gather(ctx)
    except Exception as exc:  # a tool that fails leaves a report that says so, never a silent gap
        log.exception("review team %s: tools failed", team)
        rep = TeamReport(team=team, title=f"{TEAM_TITLES[team]} Team Report",
                         summary=f"The {TEAM_TITLES[team]} analysis failed: {type(exc).__name__}: {exc}",
                         errors=[f"tools failed: {type(exc).__name__}: {exc}"],
                         could_not_run=[NotRun(analysis=f"{team} analysis", lacking=f"a working tool run ({exc})")])
        return rep
    artifacts: list[str] = []
    if plots is not None:
        try:
            artifacts = plots(ctx, full)
        except Exception as exc:
            log.exception("review team %s: plots failed", team)
            errors.append(f"plots failed: {type(exc).__name__}: {exc}")
    ev = jsonable(ev_raw, ctx.zone)
    used = getattr(ctx.reasoner, "name", "offline")
    try:
        rep = ctx.reasoner.reason(team, prompt, ev, TeamReport, policy)
    except (LLMUnavailable, Exception) as exc:  # the reasoner failed: the documented policy answers instead
        log.error("review team %s: reasoner %s failed (%s); using the offline policy", team,
                  getattr(ctx.reasoner, "name", "?"), exc)
        errors.append(f"reasoner {getattr(ctx.reasoner, 'name', '?')} failed: {exc}; offline policy used")
        rep = policy(ev)
        used = f"offline (fallback: {used} failed)"
    # tool-owned fields: never the reasoner's. A reasoner cannot approve its own change either: every
    # recommendation starts pending (the validator approves those that need no approval).
    recs = [Recommendation.model_validate({**r.model_dump(), "status": "pending_approval", "approved_by": ""})
            for r in rep.recommendations]
    rep = rep.model_copy(update={
        "recommendations": recs,
        "team": team, "title": f"{TEAM_TITLES[team]} Team Report",
        "root_causes": [RootCause.model_validate(d) for d in ev.get("detections", [])],
        "metrics": ev.get("metrics", {}), "tables": ev.get("tables", {}),
        "could_not_run": [NotRun.model_validate(n) for n in ev.get("not_run", [])],
        "artifacts": artifacts, "errors": list(rep.errors) + errors,
        "reasoner": used})
    flags = grounding_flags(rep, _texts(rep), ev)
    flags += [f"seam: {x}" for x in rep.ungrounded_numbers if not any(x in f for f in flags)]
    rep = rep.model_copy(update={"grounding_flags": flags})
    log.info("review team %s done in %.3f s", team, time.perf_counter() - t0)
    return rep
