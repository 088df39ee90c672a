"""Incident-review report model and its renderings (team markdown, final report, CSVs, findings.json).

The models are what every team returns and what the synthesis combines; the agents use them as their
output schemas. Every recommended change carries seed 001's decision framework: its change type fixes
the approval it needs (a validator enforces the mapping, so no reasoner can lower an approval).

Failure contract: pydantic ValidationError on a model that breaks its schema (e.g. an approval below
what its change type needs); writers raise OSError on an unwritable folder and write atomically.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from tools.render_safety import csv_cell, safe_model
from tools.review.markdown import _md_cell, fmt_num, fmt_ts, md_table  # noqa: F401  (re-exported)
from trading.records.atomic import atomic_write_bytes, atomic_write_json

TEAMS = ("forensics", "econophysics", "ml_strategy", "risk", "software", "strategy", "sre")
TEAM_TITLES = {
    "forensics": "Data Forensics", "econophysics": "Econophysics", "ml_strategy": "ML Strategy",
    "risk": "Risk Management", "software": "Software Engineering", "strategy": "Trading Strategy",
    "sre": "System Reliability",
}


class RootCauseCode(StrEnum):
    OUTCOME_RECORDING_FAILED = "OUTCOME_RECORDING_FAILED"
    DRAWDOWN_PEAK_RESET = "DRAWDOWN_PEAK_RESET"
    DRAWDOWN_HALT_MISSED = "DRAWDOWN_HALT_MISSED"
    LOSS_STREAK_UNTRACKED = "LOSS_STREAK_UNTRACKED"
    SWALLOWED_EXCEPTIONS = "SWALLOWED_EXCEPTIONS"
    UNREALIZED_LOSSES_HIDDEN = "UNREALIZED_LOSSES_HIDDEN"
    EXIT_OPENED_POSITION = "EXIT_OPENED_POSITION"
    ADVISORY_WAIT_IGNORED = "ADVISORY_WAIT_IGNORED"
    MISSING_PROTECTION = "MISSING_PROTECTION"
    STALE_BROKER_PNL = "STALE_BROKER_PNL"
    TELEMETRY_GAP = "TELEMETRY_GAP"
    OVERTRADING = "OVERTRADING"
    SERVICE_RESTARTS = "SERVICE_RESTARTS"
    MODEL_MISCALIBRATED = "MODEL_MISCALIBRATED"


# Root causes come first in the final report in this order: the failure that blinded everything else
# (outcomes) before the controls it disabled, before the behaviour they failed to stop.
CODE_ORDER = {c: i for i, c in enumerate(RootCauseCode)}


class ChangeType(StrEnum):
    code_bug_fix = "code_bug_fix"
    risk_parameter = "risk_parameter"
    strategy = "strategy"
    model = "model"
    architecture = "architecture"


class Approval(StrEnum):
    none = "none"
    user_approval = "user_approval"
    user_approval_and_backtest = "user_approval_and_backtest"
    user_approval_and_ab_test = "user_approval_and_ab_test"
    full_design_review = "full_design_review"


# Seed 001, "Decision Framework": the change type decides the approval.
APPROVAL_FOR: dict[ChangeType, Approval] = {
    ChangeType.code_bug_fix: Approval.none,
    ChangeType.risk_parameter: Approval.user_approval,
    ChangeType.strategy: Approval.user_approval_and_backtest,
    ChangeType.model: Approval.user_approval_and_ab_test,
    ChangeType.architecture: Approval.full_design_review,
}


class Status(StrEnum):
    approved = "approved"
    rejected = "rejected"
    pending_approval = "pending_approval"


class _M(BaseModel):
    model_config = {"extra": "forbid"}


Strength = Literal["confirmed", "likely", "inconclusive"]


def strength_tag(n: int | None, strength: str | None, test: str = "") -> str:
    """`` · confirmed · n=28 (tally of 28 trades)``: what a statement's label and sample size read as."""
    if strength is None:
        return ""
    return f" · {strength}" + (f" · n={n}" if n is not None else "") + (f" ({test})" if test else "")


class Finding(_M):
    id: str
    title: str
    statement: str
    kind: Literal["fact", "hypothesis"]
    evidence: list[str] = Field(default_factory=list)     # "bot.log:L123", "trade_journal.db:trades.id=7"
    contributing: bool = False       # a contributing factor for the final report (not a root cause)
    n: int | None = None             # the sample the statement rests on (records, trades, bars)
    strength: Strength | None = None  # confirmed / likely / inconclusive (tools.review.stats.label)
    test: str = ""                   # the statistic behind the label ("Wilson 95% CI", "tally of 28 trades")


class RootCause(_M):
    code: RootCauseCode
    summary: str
    evidence: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)


class Recommendation(_M):
    id: str
    title: str
    detail: str
    change_type: ChangeType
    approval: Approval = Approval.none
    status: Status = Status.pending_approval
    approved_by: str = ""
    addresses: list[RootCauseCode] = Field(default_factory=list)
    team: str = ""
    expected_impact: str = ""
    priority: Literal["P0", "P1", "P2", "P3"] = "P1"

    @model_validator(mode="after")
    def _framework(self) -> Recommendation:
        # the approval follows the change type, always; a change needing none is approved by policy
        object.__setattr__(self, "approval", APPROVAL_FOR[self.change_type])
        if self.approval is Approval.none and self.status is Status.pending_approval:
            object.__setattr__(self, "status", Status.approved)
            object.__setattr__(self, "approved_by", self.approved_by or "policy: no approval needed")
        return self


class Answer(_M):
    question: str
    answer: str
    kind: Literal["fact", "hypothesis", "unknown"]
    n: int | None = None
    strength: Strength | None = None
    test: str = ""


class NotRun(_M):
    analysis: str
    lacking: str


class TeamReport(_M):
    team: str
    title: str
    summary: str
    findings: list[Finding] = Field(default_factory=list)
    root_causes: list[RootCause] = Field(default_factory=list)
    conclusions: list[str] = Field(default_factory=list)
    recommendations: list[Recommendation] = Field(default_factory=list)
    answers: list[Answer] = Field(default_factory=list)
    could_not_run: list[NotRun] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    artifacts: list[str] = Field(default_factory=list)
    grounding_flags: list[str] = Field(default_factory=list)
    ungrounded_numbers: list[str] = Field(default_factory=list)     # filled by the LLM seam
    errors: list[str] = Field(default_factory=list)
    reasoner: str = "offline"


class PlanStep(_M):
    phase: str
    when: str
    items: list[str]


class SuccessMetric(_M):
    metric: str
    current: str
    target: str


class FinalReport(_M):
    title: str
    executive_summary: str
    root_causes: list[RootCause] = Field(default_factory=list)
    contributing_factors: list[Finding] = Field(default_factory=list)
    changes: list[Recommendation] = Field(default_factory=list)
    implementation_plan: list[PlanStep] = Field(default_factory=list)
    prevention_measures: list[str] = Field(default_factory=list)
    success_metrics: list[SuccessMetric] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    could_not_run: list[NotRun] = Field(default_factory=list)
    grounding_flags: list[str] = Field(default_factory=list)
    ungrounded_numbers: list[str] = Field(default_factory=list)     # filled by the LLM seam
    reasoner: str = "offline"


def _evidence(ev: Iterable[str]) -> str:
    ev = list(ev)
    return ("  \n  evidence: " + "; ".join(f"`{e}`" for e in ev[:8]) + (" ..." if len(ev) > 8 else "")) if ev else ""


def _test(test: str) -> str:
    return f" _({test})_" if test else ""


def render_team_markdown(rep: TeamReport) -> str:
    lines = [f"# {rep.title}", "", f"_team: {rep.team} · reasoner: {rep.reasoner}_", "", "## Summary", "",
             rep.summary, ""]
    if rep.could_not_run:
        lines += ["## Analyses that could not run", ""]
        lines += [f"- **{n.analysis}**: for lack of {n.lacking}" for n in rep.could_not_run] + [""]
    lines += ["## Findings", ""]
    if not rep.findings:
        lines.append("_no findings_")
    for f in rep.findings:
        lines.append(f"- **[{f.kind.upper()}{strength_tag(f.n, f.strength)}] {f.title}** ({f.id}): {f.statement}"
                     f"{_test(f.test)}{_evidence(f.evidence)}")
    lines.append("")
    if rep.root_causes:
        lines += ["## Root causes detected", ""]
        lines += [f"- `{rc.code}`: {rc.summary}{_evidence(rc.evidence)}" for rc in rep.root_causes] + [""]
    if rep.answers:
        lines += ["## Questions answered", ""]
        for a in rep.answers:
            lines.append(f"- **{a.question}**  \n  [{a.kind.upper()}{strength_tag(a.n, a.strength)}] {a.answer}"
                         f"{_test(a.test)}")
        lines.append("")
    lines += ["## Conclusions", ""] + [f"- {c}" for c in rep.conclusions or ["none"]] + [""]
    lines += ["## Recommendations", ""]
    if not rep.recommendations:
        lines.append("_none_")
    for r in rep.recommendations:
        lines.append(f"- **{r.title}** ({r.id}; {r.change_type}; approval: {r.approval}; status: {r.status})"
                     f"  \n  {r.detail}" + (f"  \n  expected impact: {r.expected_impact}" if r.expected_impact else ""))
    lines.append("")
    if rep.metrics:
        lines += ["## Metrics (computed by tools)", ""]
        lines += md_table([{"metric": k, "value": v} for k, v in rep.metrics.items()
                           if not isinstance(v, (list, dict))], limit=200).splitlines() + [""]
    for name, rows in rep.tables.items():
        lines += [f"## {name}", "", md_table(rows).rstrip(), ""]
    if rep.artifacts:
        lines += ["## Artifacts", ""] + [f"- `{a}`" for a in rep.artifacts] + [""]
    if rep.grounding_flags:
        lines += ["## Grounding flags", "", "Numbers in this report that no tool produced:", ""]
        lines += [f"- {g}" for g in rep.grounding_flags] + [""]
    if rep.errors:
        lines += ["## Errors", ""] + [f"- {e}" for e in rep.errors] + [""]
    return "\n".join(lines)


SECTIONS = ("Executive Summary", "Root Cause Analysis", "Contributing Factors", "Programmatic Changes Required",
            "Implementation Plan", "Prevention Measures", "Success Metrics")


def render_final_markdown(fr: FinalReport, teams: Sequence[TeamReport], tz: str = "UTC") -> str:
    m = fr.metrics
    lines = [f"# {fr.title}", "", f"_reasoner: {fr.reasoner}_", ""]
    lines += ["## 1. Executive Summary", "", fr.executive_summary, ""]
    key = ["trades", "outcomes_recorded", "outcomes_reconstructed", "wins", "losses", "net_pnl",
           "true_peak_balance", "final_balance", "max_drawdown_pct", "halt_should_have_fired_at"]
    lines += md_table([{"metric": k, "value": fmt_ts(m[k], tz) if k.endswith("_at") and m.get(k) else m.get(k)}
                       for k in key], limit=50).splitlines() + [""]
    lines += ["## 2. Root Cause Analysis", ""]
    if not fr.root_causes:
        lines.append("No root cause from the list could be established from the data in this bundle.")
    for i, rc in enumerate(fr.root_causes, 1):
        lines.append(f"{i}. **`{rc.code}`** ({', '.join(rc.teams)}): {rc.summary}{_evidence(rc.evidence)}")
    lines.append("")
    lines += ["## 3. Contributing Factors", ""]
    if not fr.contributing_factors:
        lines.append("_none identified_")
    for f in fr.contributing_factors:
        lines.append(f"- **[{f.kind.upper()}{strength_tag(f.n, f.strength)}] {f.title}**: {f.statement}"
                     f"{_test(f.test)}{_evidence(f.evidence)}")
    lines.append("")
    lines += ["## 4. Programmatic Changes Required", "",
              "Decision framework: code bug fix -> no approval; risk parameter -> user approval; "
              "strategy -> user approval + backtest; model -> user approval + A/B test; architecture -> full "
              "design review.", ""]
    lines += md_table([{"id": r.id, "priority": r.priority, "change": r.title, "type": r.change_type,
                        "approval": r.approval, "status": r.status, "addresses": ", ".join(r.addresses)}
                       for r in fr.changes], limit=100).splitlines() + [""]
    for r in fr.changes:
        lines.append(f"- **{r.id} {r.title}**: {r.detail}" +
                     (f" Expected impact: {r.expected_impact}" if r.expected_impact else ""))
    lines.append("")
    lines += ["## 5. Implementation Plan", ""]
    for step in fr.implementation_plan:
        lines.append(f"### {step.phase} ({step.when})")
        lines += [f"- {it}" for it in step.items] + [""]
    lines += ["## 6. Prevention Measures", ""] + [f"- {p}" for p in fr.prevention_measures] + [""]
    lines += ["## 7. Success Metrics", ""]
    lines += md_table([s.model_dump() for s in fr.success_metrics], limit=100).splitlines() + [""]
    if fr.could_not_run:
        lines += ["## Analyses that could not run", ""]
        lines += [f"- **{n.analysis}**: for lack of {n.lacking}" for n in fr.could_not_run] + [""]
    lines += ["## Team reports", ""]
    lines += [f"- [{t.title}](teams/{t.team}.md): {t.summary.splitlines()[0] if t.summary else ''}" for t in teams]
    if fr.grounding_flags:
        lines += ["", "## Grounding flags", ""] + [f"- {g}" for g in fr.grounding_flags]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> int:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    n = 0
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else csv_cell(r.get(c))) for c in columns})  # no formulas
        n += 1
    atomic_write_bytes(path, buf.getvalue().encode())
    return n


OUTCOME_COLUMNS = ("trade_id", "market", "asset", "outcome", "entry_time", "price", "size", "cost", "winner",
                   "won", "pnl", "source")
TIMELINE_COLUMNS = ("time", "source", "event", "trade_id", "detail")


def findings_doc(fr: FinalReport, teams: Sequence[TeamReport], run_id: str, bundle: str) -> dict[str, Any]:
    return {
        "run_id": run_id, "bundle": bundle,
        "root_causes": [{"code": rc.code.value, "summary": rc.summary, "evidence": rc.evidence, "teams": rc.teams}
                        for rc in fr.root_causes],
        "metrics": fr.metrics,
        "recommendations": [{"id": r.id, "title": r.title, "change_type": r.change_type.value,
                             "approval": r.approval.value, "status": r.status.value, "approved_by": r.approved_by,
                             "priority": r.priority, "addresses": [a.value for a in r.addresses],
                             "team": r.team} for r in fr.changes],
        "could_not_run": [n.model_dump() for n in fr.could_not_run],
        "teams": {t.team: {"root_causes": [rc.code.value for rc in t.root_causes], "findings": len(t.findings),
                           "errors": t.errors, "grounding_flags": t.grounding_flags} for t in teams},
        "grounding_flags": fr.grounding_flags,
        "reasoner": fr.reasoner,
    }


def write_review(out: Path, fr: FinalReport, teams: Sequence[TeamReport], run_id: str, bundle: str,
                 tz: str = "UTC") -> list[Path]:
    """Write teams/*.md, INCIDENT_ANALYSIS_FINAL.md and findings.json (atomically); every string is
    markdown-escaped first (tools/render_safety.py): log and model text never renders as HTML or a link."""
    out = Path(out)
    fr, teams = safe_model(fr), [safe_model(t) for t in teams]
    written = []
    for t in teams:
        p = out / "teams" / f"{t.team}.md"
        atomic_write_bytes(p, render_team_markdown(t).encode())
        written.append(p)
    p = out / "INCIDENT_ANALYSIS_FINAL.md"
    atomic_write_bytes(p, render_final_markdown(fr, teams, tz).encode())
    written.append(p)
    p = out / "findings.json"
    atomic_write_json(p, findings_doc(fr, teams, run_id, bundle))
    written.append(p)
    return written
