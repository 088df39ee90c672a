"""What every review team shares: its run context, evidence shaping, the report builder (with the change
catalogue of agents/review/catalogue.py) and the runner (tools -> reasoner -> tool-owned fields -> grounding check).

Whatever the reasoner writes, a team report's root causes, metrics, tables and "could not run" list are
the tools' own; the reasoner writes the prose (summary, findings, answers, recommendations) and every
number in that prose is checked against the evidence it was given.

Failure contract: ``run_team`` never lets a team's tool failure (``TOOL_ERRORS``) escape: it returns a
report saying so, logged with the run id; a reasoner's ``LLMUnavailable`` falls back to the offline
policy. Anything else (a bug in a policy) propagates.
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
from agents.review.boxing import box_team
from agents.review.catalogue import recommend
from tools.review.forensics import Forensics
from tools.review.report import (
    TEAM_TITLES,
    Answer,
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
    run_id: str = ""                   # the review run, for log lines ("" when run outside the graph)

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

    def evidence(self, team: str) -> dict[str, Any]:
        """The evidence every team starts from: bundle kind, zone, log span, guard config, overview metrics."""
        fx = self.fx
        first, last = fx.span
        return {"team": team, "bundle_kind": fx.kind, "zone": fx.zone, "log_first": first, "log_last": last,
                "guard_config": self.guards.model_dump(), "overview": fx.metrics()}

    def not_run(self, analyses: tuple[str, ...]) -> list[dict[str, Any]]:
        """The bundle-level gaps that concern these analyses (by analysis name prefix), as evidence rows."""
        return [n.model_dump() for n in self.fx.could_not_run if any(n.analysis.startswith(a) for a in analyses)]


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
        self.detections: dict[str, dict[str, Any]] = {d["code"]: d for d in ev.get("detections", [])}

    def fact(self, title: str, statement: str, evidence: list[str] | None = None, contributing: bool = False) -> None:
        self.findings.append(Finding(id=f"{self.team}-F{len(self.findings) + 1}", title=title, statement=statement,
                                     kind="fact", evidence=[e for e in (evidence or []) if e],
                                     contributing=contributing))

    def hypothesis(self, title: str, statement: str, evidence: list[str] | None = None,
                   contributing: bool = True) -> None:
        self.findings.append(Finding(id=f"{self.team}-F{len(self.findings) + 1}", title=title, statement=statement,
                                     kind="hypothesis", evidence=[e for e in (evidence or []) if e],
                                     contributing=contributing))

    def recommend(self, code: str, **vals: Any) -> None:
        """Add the catalogue's changes for a root cause, filled with ``vals``."""
        self.recs += recommend(code, self.team, **vals)

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


# ------------------------------------------------------------------------------------------------
# the runner


def _texts(rep: TeamReport) -> list[tuple[str, str]]:
    out = [("summary", rep.summary)]
    out += [(f"finding {f.id}", f"{f.title} {f.statement}") for f in rep.findings]
    out += [("conclusion", c) for c in rep.conclusions]
    out += [("answer", a.answer) for a in rep.answers]
    out += [(f"recommendation {r.id}", f"{r.title} {r.detail} {r.expected_impact}") for r in rep.recommendations]
    return out


def grounding_flags(rep: BaseModel, texts: list[tuple[str, str]], evidence: Mapping[str, Any],
                    trusted: frozenset[str] = frozenset()) -> list[str]:
    """``where: numbers`` for each text with a number no tool produced. ``trusted``: texts the offline
    policy wrote itself from the tool results (its numbers are the tools' by construction); a model's
    text is checked whatever it is."""
    pool = NumberPool(evidence)
    flags = []
    for where, text in texts:
        if text in trusted:
            continue
        bad = ungrounded_numbers(text, evidence, pool=pool)
        if bad:
            flags.append(f"{where}: {', '.join(dict.fromkeys(bad))}")
    return flags


Gather = Callable[[ReviewContext], tuple[dict[str, Any], dict[str, Any]]]
Policy = Callable[[Mapping[str, Any]], TeamReport]
Plots = Callable[[ReviewContext, dict[str, Any]], list[str]]

# What a team's deterministic tools (numpy/pandas arithmetic, dict lookups on parsed logs, file reads,
# matplotlib) raise when their input is not what they expect. One team's tool failure must not kill the
# other teams' reports: it is logged with the run id and reported as that team's error and "could not run".
TOOL_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, LookupError, ValueError, TypeError, AttributeError,
                                            RuntimeError, OSError)


def run_team(ctx: ReviewContext, team: str, prompt: str, gather: Gather, policy: Policy,
             plots: Plots | None = None) -> TeamReport:
    t0 = time.perf_counter()
    errors: list[str] = []
    try:
        ev_raw, full = gather(ctx)
    except TOOL_ERRORS as exc:  # a tool that fails leaves a report that says so, never a silent gap
        log.exception("run %s review team %s: tools failed", ctx.run_id, team)
        rep = TeamReport(team=team, title=f"{TEAM_TITLES[team]} Team Report",
                         summary=f"The {TEAM_TITLES[team]} analysis failed: {type(exc).__name__}: {exc}",
                         errors=[f"tools failed: {type(exc).__name__}: {exc}"],
                         could_not_run=[NotRun(analysis=f"{team} analysis", lacking=f"a working tool run ({exc})")])
        return rep
    artifacts: list[str] = []
    if plots is not None:
        try:
            artifacts = plots(ctx, full)
        except TOOL_ERRORS as exc:
            log.exception("run %s review team %s: plots failed", ctx.run_id, team)
            errors.append(f"plots failed: {type(exc).__name__}: {exc}")
    ev = jsonable(ev_raw, ctx.zone)
    used = getattr(ctx.reasoner, "name", "offline")
    offline = policy(ev)             # the tool-built lists a model may only rank and phrase (agents/review/boxing.py)
    boxed: list[str] = []
    if used == "offline":
        rep = ctx.reasoner.reason(team, prompt, ev, TeamReport, policy, f"review:{ctx.run_id}")
    else:
        try:
            model = ctx.reasoner.reason(team, prompt, ev, TeamReport, policy, f"review:{ctx.run_id}")
        except LLMUnavailable as exc:  # the seam's one failure: the documented policy answers instead
            log.error("run %s review team %s: reasoner %s failed (%s); using the offline policy", ctx.run_id,
                      team, used, exc)
            errors.append(f"reasoner {used} failed: {exc}; offline policy used")
            rep = offline
            used = f"offline (fallback: {used} failed)"
        else:
            rep, boxed = box_team(offline, model, ev)
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
    flags = grounding_flags(rep, _texts(rep), ev, frozenset(t for _, t in _texts(offline)))
    flags += [f"seam: {x}" for x in rep.ungrounded_numbers if not any(x in f for f in flags)]
    rep = rep.model_copy(update={"grounding_flags": flags + boxed})
    log.info("review team %s done in %.3f s", team, time.perf_counter() - t0)
    return rep
