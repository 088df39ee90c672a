"""Synthesis team (seed 001, "All Teams -> Final Report"): the consolidated INCIDENT_ANALYSIS_FINAL.

Offline policy: root causes are the union of the teams' tool-detected codes (merged by code, ordered
outcome tracking -> controls it disabled -> behaviour they failed to stop); contributing factors are
the findings the teams marked as such; changes are the teams' recommendations de-duplicated by title,
numbered by priority; the implementation plan follows seed 001's phases and decision framework; success
metrics pair each root cause with a measurable target from the tools' numbers.

Failure contract: a reasoner's ``LLMUnavailable`` falls back to the offline policy (noted in the
grounding flags); team reports that failed are carried as "could not run", never dropped.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from agents.llm import LLMUnavailable, Reasoner
from agents.review.base import grounding_flags, jsonable
from agents.review.boxing import box_final
from tools.review.markdown import currency, money
from tools.review.report import (
    CODE_ORDER,
    FinalReport,
    Finding,
    NotRun,
    PlanStep,
    Recommendation,
    RootCause,
    RootCauseCode,
    Status,
    SuccessMetric,
    TeamReport,
)

log = logging.getLogger(__name__)

TEAM = "synthesis"
PROMPT = """You are the synthesis lead of a multi-team incident review. From the team reports in the evidence
only, write the final report: executive summary, root cause analysis (the detected codes), contributing
factors (facts and hypotheses labelled), programmatic changes with their change type and approval
(decision framework), implementation plan by phase, prevention measures and success metrics.
Never invent a number; never drop a detected root cause."""

KEY_METRICS = ("trades", "outcomes_recorded", "outcomes_reconstructed", "wins", "losses", "net_pnl",
               "true_peak_balance", "final_balance", "max_drawdown_pct", "halt_should_have_fired_at")

PREVENTION = {
    "OUTCOME_RECORDING_FAILED": "Journal writability probed at start and on every write; an unwritable journal halts "
                                "new entries (JOURNAL_UNWRITABLE).",
    "SWALLOWED_EXCEPTIONS": "No catch-all that logs and continues: errors are counted per trade id and alert.",
    "DRAWDOWN_PEAK_RESET": "Risk state (peak, streak, halts) lives in an append-only ledger; restarts replay it.",
    "DRAWDOWN_HALT_MISSED": "Drawdown measured on true equity against a never-reset peak; the halt latches until an "
                            "operator clears it.",
    "LOSS_STREAK_UNTRACKED": "Unresolved outcomes count as losses; a streak halt stops a cascade even when tracking "
                             "fails.",
    "UNREALIZED_LOSSES_HIDDEN": "Positions past their window are marked at their payout, never at cost.",
    "OVERTRADING": "Entry pacing (per-hour cap, cooldown after a loss) enforced by the guards.",
    "MODEL_MISCALIBRATED": "Live calibration monitoring (Brier vs base rate on a rolling window) gates the model.",
    "SERVICE_RESTARTS": "Supervision alerts on unclean exits and memory pressure; a crash loop pages a human.",
    "EXIT_OPENED_POSITION": "Reduce-only exits judged against the live broker position.",
    "ADVISORY_WAIT_IGNORED": "WAIT blocks entries by default; overrides are explicit and logged.",
    "MISSING_PROTECTION": "No entry without valid stop and target and a worst-case loss under the cap.",
    "STALE_BROKER_PNL": "PnL from fills; broker figures only cross-checked.",
    "TELEMETRY_GAP": "One trade_cycle_id per cycle and a trade record on every close.",
}

PHASES = [
    ("Phase 1 - fix now", "immediately; no approval needed (code bug fixes)", ("code_bug_fix",)),
    ("Phase 2 - parameters", "after the user approves the values (risk parameters)", ("risk_parameter",)),
    ("Phase 3 - strategy and model", "after user approval plus a backtest (strategy) or an A/B test (model)",
     ("strategy", "model")),
    ("Phase 4 - architecture", "after a full design review", ("architecture",)),
]
_TYPE_ORDER = {"code_bug_fix": 0, "risk_parameter": 1, "strategy": 2, "model": 3, "architecture": 4}


def final_metrics(teams: Sequence[TeamReport]) -> dict[str, Any]:
    by = {t.team: t.metrics for t in teams}
    f, r = by.get("forensics", {}), by.get("risk", {})
    out: dict[str, Any] = {k: f.get(k) for k in ("trades", "outcomes_recorded", "outcomes_reconstructed", "wins",
                                                  "losses", "net_pnl", "unresolved")}
    out.update({k: r.get(k) for k in ("true_peak_balance", "final_balance", "max_drawdown_pct",
                                      "halt_should_have_fired_at", "starting_balance", "max_drawdown_usd",
                                      "drawdown_limit_pct", "trades_after_halt", "pnl_after_halt",
                                      "failsafe_first_block_at", "max_loss_streak")})
    out["outcomes_by_source"] = f.get("by_source")
    for team, keys in (("software", ("swallowed_occurrences",)), ("sre", ("restarts", "unclean_restarts")),
                       ("strategy", ("per_hour", "max_in_60min", "proposed_max_per_hour")),
                       ("ml_strategy", ("brier", "brier_base_rate", "ece", "win_rate", "mean_prob"))):
        for k in keys:
            if by.get(team, {}).get(k) is not None:
                out[k] = by[team][k]
    return out


def _merge_root_causes(teams: Sequence[TeamReport]) -> list[RootCause]:
    merged: dict[str, RootCause] = {}
    for t in teams:
        for rc in t.root_causes:
            if rc.code.value in merged:
                cur = merged[rc.code.value]
                merged[rc.code.value] = cur.model_copy(update={
                    "evidence": list(dict.fromkeys(cur.evidence + rc.evidence)),
                    "teams": list(dict.fromkeys(cur.teams + rc.teams)),
                    "summary": cur.summary if rc.summary in cur.summary else f"{cur.summary} {rc.summary}"})
            else:
                merged[rc.code.value] = rc
    return sorted(merged.values(), key=lambda r: CODE_ORDER[r.code])


def _changes(teams: Sequence[TeamReport]) -> list[Recommendation]:
    recs: list[Recommendation] = []
    titles = set()
    for t in teams:
        for r in t.recommendations:
            if r.title not in titles:
                titles.add(r.title)
                recs.append(r)
    recs.sort(key=lambda r: (r.priority, _TYPE_ORDER[r.change_type.value],
                             CODE_ORDER.get(r.addresses[0], 99) if r.addresses else 99))
    return [r.model_copy(update={"id": f"R{i + 1}"}) for i, r in enumerate(recs)]


def gather(teams: Sequence[TeamReport], zone: str, kind: str) -> dict[str, Any]:
    """The synthesis evidence: the teams' tool-detected root causes merged, their contributing findings,
    their changes de-duplicated and numbered, what could not run, and the counts of each."""
    rcs = _merge_root_causes(teams)
    contributing, seen = [], set()
    for t in teams:
        for f in t.findings:
            if f.contributing and f.title not in seen:
                seen.add(f.title)
                contributing.append(f)
    changes = _changes(teams)
    nr: list[NotRun] = []
    for t in teams:
        for n in t.could_not_run:
            if n not in nr:
                nr.append(n)
    need = sum(1 for r in changes if r.approval.value != "none")
    return jsonable({
        "bundle_kind": kind, "zone": zone, "metrics": final_metrics(teams),
        "root_causes": [r.model_dump() for r in rcs], "contributing": [f.model_dump() for f in contributing[:14]],
        "changes": [r.model_dump() for r in changes], "could_not_run": [n.model_dump() for n in nr],
        "counts": {"root_causes": len(rcs), "changes": len(changes), "changes_needing_approval": need,
                   "changes_without_approval": len(changes) - need, "could_not_run": len(nr)},
        "teams": [{"team": t.team, "summary": t.summary, "errors": t.errors} for t in teams],
    }, zone)


def _success(code: str, m: Mapping[str, Any]) -> SuccessMetric | None:
    def v(k: str) -> str:
        x = m.get(k)
        return "n/a" if x is None else str(x)

    table = {
        "OUTCOME_RECORDING_FAILED": ("trades with a recorded outcome",
                                     f"{v('outcomes_recorded')} of {v('trades')}", "all, within one resolver pass"),
        "SWALLOWED_EXCEPTIONS": ("exceptions logged as ignored", v("swallowed_occurrences"), "0"),
        "DRAWDOWN_PEAK_RESET": ("restarts that lower the drawdown peak", "every restart", "0 (operator command only)"),
        "DRAWDOWN_HALT_MISSED": ("drawdown reached before entries halt", f"{v('max_drawdown_pct')}%",
                                 f"at most {v('drawdown_limit_pct')}%"),
        "LOSS_STREAK_UNTRACKED": ("tracked vs true losing streak", f"0 vs {v('max_loss_streak')}", "equal"),
        "UNREALIZED_LOSSES_HIDDEN": ("balance readings above true equity", "some", "0"),
        "OVERTRADING": ("entries per hour", v("per_hour"), f"at most {v('proposed_max_per_hour')}"),
        "MODEL_MISCALIBRATED": ("Brier score vs base rate", f"{v('brier')} vs {v('brier_base_rate')}",
                                "below the base rate on a rolling window"),
        "SERVICE_RESTARTS": ("unclean restarts without an alert", v("unclean_restarts"), "0"),
        "EXIT_OPENED_POSITION": ("exits that open or flip a position", "1 or more", "0 (blocked by reduce-only)"),
        "ADVISORY_WAIT_IGNORED": ("entries placed against a WAIT", "1 or more", "0"),
        "MISSING_PROTECTION": ("positions without stop and target", "1 or more", "0"),
        "STALE_BROKER_PNL": ("round trips where reported PnL differs from fills", "1 or more", "0 unflagged"),
        "TELEMETRY_GAP": ("closed trades without a trade record", "1 or more", "0"),
    }
    t = table.get(code)
    return SuccessMetric(metric=t[0], current=t[1], target=t[2]) if t else None


def policy(ev: Mapping[str, Any]) -> FinalReport:
    m = ev["metrics"]
    c = ev["counts"]
    rcs = [RootCause.model_validate(d) for d in ev["root_causes"]]
    codes = [r.code.value for r in rcs]
    recs = [Recommendation.model_validate(d) for d in ev["changes"]]
    plan = []
    for phase, when, types in PHASES:
        items = [f"{r.id} {r.title}" for r in recs if r.change_type.value in types]
        if items:
            plan.append(PlanStep(phase=phase, when=when, items=items))
    prevention = [PREVENTION[x] for x in codes if x in PREVENTION]
    prevention.append("Every incident bundle goes through warden review; its findings feed the learning memory.")
    success = [s for x in codes if (s := _success(x, m))]
    nr = [NotRun.model_validate(d) for d in ev["could_not_run"]]
    contributing = [Finding.model_validate(d) for d in ev["contributing"]]
    # executive summary from the tools' numbers only
    parts = []
    ccy = currency(ev["bundle_kind"])
    if m.get("trades") is not None:
        parts.append(f"The bundle holds {m['trades']} trades; {m['outcomes_recorded']} outcomes were recorded by the "
                     f"bot and {m['outcomes_reconstructed']} {'was' if m['outcomes_reconstructed'] == 1 else 'were'} reconstructed by this review ({m['wins']} wins, "
                     f"{m['losses']} losses, net PnL {money(m['net_pnl'], ccy)}).")
    if m.get("true_peak_balance") is not None:
        parts.append(f"True equity fell from a peak of {money(m['true_peak_balance'], ccy)} to "
                     f"{money(m['final_balance'], ccy)}, a "
                     f"{m['max_drawdown_pct']}% drawdown against a {m['drawdown_limit_pct']}% limit.")
    elif m.get("max_drawdown_usd") is not None:
        parts.append(f"Realized PnL drew down {money(m['max_drawdown_usd'], ccy)} from its high (no account balance in the bundle).")
    if m.get("halt_should_have_fired_at"):
        parts.append(f"A never-reset drawdown halt would have fired at {m['halt_should_have_fired_at']}"
                     + (f"; {m['trades_after_halt']} trades followed it (PnL {money(m['pnl_after_halt'], ccy)})."
                        if m.get("trades_after_halt") else "."))
    if codes:
        parts.append(f"{c['root_causes']} root causes were detected from the data: {', '.join(codes)}.")
    else:
        parts.append("No listed root cause could be established from the data in this bundle.")
    parts.append(f"{c['changes']} changes are proposed; {c['changes_without_approval']} need no approval (code bug "
                 f"fixes) and {c['changes_needing_approval']} need approval under the decision framework.")
    if nr:
        parts.append(f"{c['could_not_run']} analyses could not run for lack of an input (listed below).")
    title = ("Incident Analysis - Polymarket bot loss" if ev["bundle_kind"] == "polymarket" else
             "Incident Analysis - ES futures loss" if ev["bundle_kind"] == "es" else "Incident Analysis")
    return FinalReport(title=title, executive_summary=" ".join(parts), root_causes=rcs,
                       contributing_factors=contributing, changes=recs, implementation_plan=plan,
                       prevention_measures=prevention, success_metrics=success,
                       metrics={k: m.get(k) for k in m}, could_not_run=nr)


def _texts(fr: FinalReport) -> list[tuple[str, str]]:
    out = [("executive summary", fr.executive_summary)]
    out += [(f"factor {f.id}", f.statement) for f in fr.contributing_factors]
    out += [(f"change {r.id}", f"{r.title} {r.detail}") for r in fr.changes]
    out += [("prevention", p) for p in fr.prevention_measures]
    out += [("success metric", f"{s.metric}: {s.current} -> {s.target}") for s in fr.success_metrics]
    out += [(f"plan {p.phase}", " ".join(p.items)) for p in fr.implementation_plan]
    return out


def run(teams: Sequence[TeamReport], reasoner: Reasoner, zone: str, kind: str, run_id: str = "") -> FinalReport:
    ev = gather(teams, zone, kind)
    errors: list[str] = []
    name = getattr(reasoner, "name", "offline")
    offline = policy(ev)        # the tool-built report; a model only ranks and phrases (agents/review/boxing.py)
    used = name
    if name == "offline":
        fr = reasoner.reason(TEAM, PROMPT, ev, FinalReport, policy, f"review:{run_id}")
    else:
        try:
            model = reasoner.reason(TEAM, PROMPT, ev, FinalReport, policy, f"review:{run_id}")
        except LLMUnavailable as exc:  # the seam's one failure (agents.llm): the documented policy answers instead
            log.error("synthesis: reasoner %s failed (%s); using the offline policy", name, exc)
            errors.append(f"reasoner failed: {exc}")
            fr, used = offline, f"offline (fallback: {name} failed)"
        else:
            fr, boxed = box_final(offline, model, ev)
            errors += boxed
    # tool-owned: root causes, metrics, the change list's types and approvals come from the teams' tools
    fr = fr.model_copy(update={"root_causes": [RootCause.model_validate(d) for d in ev["root_causes"]],
                               "metrics": dict(ev["metrics"]),
                               "changes": [Recommendation.model_validate(d) for d in ev["changes"]],
                               "implementation_plan": offline.implementation_plan,
                               "title": offline.title,
                               "could_not_run": [NotRun.model_validate(d) for d in ev["could_not_run"]],
                               "reasoner": used})
    flags = grounding_flags(fr, _texts(fr), ev, frozenset(t for _, t in _texts(offline))) + errors
    return fr.model_copy(update={"grounding_flags": flags})


def apply_decisions(fr: FinalReport, decisions: Mapping[str, Mapping[str, str]]) -> FinalReport:
    """Statuses of changes needing approval, from the approval step: {id: {status, by}}."""
    changes = []
    for r in fr.changes:
        d = decisions.get(r.id)
        if d and r.approval.value != "none":
            r = r.model_copy(update={"status": Status(d["status"]), "approved_by": d.get("by", "")})
        changes.append(r)
    return fr.model_copy(update={"changes": changes})


__all__ = ["run", "policy", "gather", "apply_decisions", "final_metrics", "KEY_METRICS", "RootCauseCode"]
