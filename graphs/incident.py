"""The incident-review graph (seed 001): forensics first, then six teams in parallel, then synthesis.

    START -> forensics --Send--> econophysics | ml_strategy | risk | software | strategy | sre
          -> synthesis -> report -> (changes awaiting approval?) -> approvals -> report -> END

``forensics`` reads the bundle once (tools.review.forensics), writes outcomes.csv and timeline.csv at once
(recovering the outcomes is the priority) plus the outcomes the bot never recorded as outcome JSON for the
memory (graphs/review_outcomes.py), saves its reconstruction under the run's work folder and puts
that file's path in the state (graphs/review_state.py), then writes its own team report. Each team node
loads the reconstruction from that path; teams of one invocation share it, and their tool results,
through the LangGraph run-time context (``ReviewRuntime``), never through module globals. ``report``
always writes the full output set, so a run that stops for approval has already produced its report,
with each such change ``pending_approval``. ``approvals`` stops at a LangGraph ``interrupt()`` with the
pending changes (each with its type, evidence, preconditions and what approving does); the caller resumes
it with ``Command(resume={id | "*": {"status": "approved" | "rejected" | "tracked_task" | "pending_approval",
"by", "at", "why"}})`` (graphs/review_approvals.py); ``report`` then records who, when and why. Everything a node needs is in the checkpointed state or in files it
names, so any process can resume a run (graphs/review_runner.py).

Failure contract: a node raises on a bundle it cannot read or a reconstruction file that is missing or
corrupt (``OSError`` / ``ValueError``); LangGraph records the error on the task. ``graph`` (no
checkpointer) is what langgraph.json serves.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt

from agents.llm import get_reasoner
from agents.review import PARALLEL_TEAMS, TEAM_MODULES, synthesis
from agents.review.base import ReviewContext
from graphs import review_approvals as approvals
from graphs import review_outcomes, review_store
from graphs.review_state import ReviewState, TeamInput, work_dir
from tools.logs.bundle import load_bundle
from tools.review.forensics import Forensics, run_forensics
from tools.review.report import (
    OUTCOME_COLUMNS,
    TEAMS,
    TIMELINE_COLUMNS,
    FinalReport,
    TeamReport,
    fmt_ts,
    write_csv,
    write_review,
)
from trading.settings import Settings, load_settings


def settings_for(data_dir: str) -> Settings:
    return load_settings(data_dir=Path(data_dir))


def review_context(state: Mapping[str, Any], fx: Forensics) -> ReviewContext:
    settings = settings_for(state["data_dir"])
    return ReviewContext(fx=fx, settings=settings, out=Path(state["out"]),
                         reasoner=get_reasoner(state.get("llm", "offline"), settings),
                         run_id=str(state.get("run_id", "")))


@dataclass
class ReviewRuntime:
    """Run-time context of one graph invocation (never checkpointed): the parallel teams' shared
    ``ReviewContext`` (one load of the reconstruction, one cache of tool results) per reconstruction file.
    Without it (e.g. under a LangGraph server) every team node loads the file itself."""
    contexts: dict[str, ReviewContext] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def context(self, state: Mapping[str, Any]) -> ReviewContext:
        path = state["forensics_path"]
        with self.lock:
            ctx = self.contexts.get(path)
            if ctx is None:
                ctx = self.contexts[path] = review_context(state, review_store.load(path))
            return ctx


def _team_context(state: Mapping[str, Any], runtime: Runtime[ReviewRuntime] | None) -> ReviewContext:
    rt = getattr(runtime, "context", None)
    if isinstance(rt, ReviewRuntime):
        return rt.context(state)
    return review_context(state, review_store.load(state["forensics_path"]))


# ------------------------------------------------------------------------------------------------
# nodes


def _api_resolver(host: str | None) -> Callable[[str], str | None] | None:
    if not host:
        return None
    from trading.brokers.polymarket_data import PolymarketData, PolymarketResolutionSource

    src = PolymarketResolutionSource(PolymarketData(gamma_host=host, clob_host=None))
    return src.resolve


def forensics_node(state: ReviewState) -> dict[str, Any]:
    t0 = time.perf_counter()
    bundle = load_bundle(state["bundle"])
    fx = run_forensics(bundle, api_resolver=_api_resolver(state.get("api")))
    fx_path = review_store.save(fx, work_dir(state["data_dir"], state["run_id"]) / "forensics.json")
    out = Path(state["out"])
    zone = fx.zone
    write_csv(out / "outcomes.csv", ({**r, "entry_time": fmt_ts(r["entry_time"], zone, ms=True),
                                      "pnl": None if r["pnl"] is None else round(r["pnl"], 4)}
                                     for r in (t.as_outcome_row() for t in fx.trades)), OUTCOME_COLUMNS)
    write_csv(out / "timeline.csv", ({**r, "time": fmt_ts(r["time"], zone, ms=True)} for r in fx.timeline),
              TIMELINE_COLUMNS)
    exported = review_outcomes.write_reconstructed(fx.trades, fx.kind, out)
    t1 = time.perf_counter()
    rep = TEAM_MODULES["forensics"].run(review_context(state, fx))
    return {"team_reports": [rep.model_dump(mode="json")], "kind": fx.kind, "zone": zone,
            "forensics_path": str(fx_path),
            "reconstructed": {"folder": str(exported.folder), "written": exported.written, "skipped": exported.skipped},
            "timings": {"read_and_reconstruct": round(t1 - t0, 3), "forensics": round(time.perf_counter() - t0, 3)}}


def fan_out(state: ReviewState) -> list[Send]:
    base = {k: state.get(k) for k in ("run_id", "bundle", "out", "data_dir", "llm", "forensics_path")}
    return [Send(team, {**base, "team": team}) for team in PARALLEL_TEAMS]


class TeamNode(Protocol):
    """A team node: its Send input and the invocation's run-time context (keyword, as LangGraph passes it)."""

    def __call__(self, state: TeamInput, *, runtime: Runtime[ReviewRuntime]) -> dict[str, Any]: ...


def _team_node(team: str) -> TeamNode:
    def node(state: TeamInput, *, runtime: Runtime[ReviewRuntime]) -> dict[str, Any]:
        t0 = time.perf_counter()
        rep = TEAM_MODULES[team].run(_team_context(state, runtime))
        return {"team_reports": [rep.model_dump(mode="json")], "timings": {team: round(time.perf_counter() - t0, 3)}}
    node.__name__ = f"{team}_node"
    return node


def team_reports(state: Mapping[str, Any]) -> list[TeamReport]:
    reps = {d["team"]: TeamReport.model_validate(d) for d in state.get("team_reports", [])}
    return [reps[t] for t in TEAMS if t in reps]


def synthesis_node(state: ReviewState) -> dict[str, Any]:
    t0 = time.perf_counter()
    settings = settings_for(state["data_dir"])
    fr = synthesis.run(team_reports(state), get_reasoner(state.get("llm", "offline"), settings), state.get("zone", "UTC"),
                       state.get("kind", "unknown"), run_id=str(state.get("run_id", "")))
    return {"final": fr.model_dump(mode="json"), "timings": {"synthesis": round(time.perf_counter() - t0, 3)}}


def report_node(state: ReviewState) -> dict[str, Any]:
    t0 = time.perf_counter()
    fr = synthesis.apply_decisions(FinalReport.model_validate(state["final"]), state.get("decisions", {}))
    teams = team_reports(state)
    out = Path(state["out"])
    written = [str(p) for p in write_review(out, fr, teams, state["run_id"], state["bundle"], state.get("zone", "UTC"))]
    approvals.record_outputs(out, state["run_id"], state.get("decisions", {}), state.get("tasks", {}))
    # every team has run: the reconstruction lives on in outcomes.csv / timeline.csv and the reports
    if state.get("forensics_path"):
        Path(state["forensics_path"]).unlink(missing_ok=True)
    return {"written": written, "timings": {"report": round(time.perf_counter() - t0, 3)}}


def _evidence_for(fr: Mapping[str, Any], codes: list[str], limit: int = 4) -> list[str]:
    ev: list[str] = []
    for rc in fr.get("root_causes", []):
        if rc.get("code") in codes:
            ev += [f"{rc['code']}: {rc.get('summary', '')}"] + [str(e) for e in rc.get("evidence", [])[:limit]]
    return ev


def pending_changes(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Changes still waiting for a person: what each is, its type, its evidence, what approving it does."""
    fr = state.get("final")
    if not fr:
        return []
    dec = state.get("decisions", {})
    return [{"id": r["id"], "title": r["title"], "change_type": r["change_type"], "approval": r["approval"],
             "detail": r["detail"], "priority": r.get("priority", ""), "expected_impact": r.get("expected_impact", ""),
             "addresses": list(r.get("addresses", [])), "evidence": _evidence_for(fr, list(r.get("addresses", []))),
             "preconditions": approvals.preconditions(r), "what_approving_does": approvals.WHAT_APPROVING_DOES}
            for r in fr["changes"] if r["approval"] != "none" and r["id"] not in dec]


def after_report(state: ReviewState) -> str:
    return "approvals" if pending_changes(state) else END


def approvals_node(state: ReviewState) -> dict[str, Any]:
    pending = pending_changes(state)
    if not pending:
        return {}
    answer = interrupt({"run_id": state["run_id"], "changes": pending})
    decisions, tasks = approvals.split_answer(answer, pending)
    return {"decisions": decisions, "tasks": tasks}


def build_graph(checkpointer: Any = None) -> Any:
    g = StateGraph(ReviewState, context_schema=ReviewRuntime)
    g.add_node("forensics", forensics_node)
    for team in PARALLEL_TEAMS:
        g.add_node(team, _team_node(team), input_schema=TeamInput)
        g.add_edge(team, "synthesis")
    g.add_node("synthesis", synthesis_node)
    g.add_node("report", report_node)
    g.add_node("approvals", approvals_node)
    g.add_edge(START, "forensics")
    g.add_conditional_edges("forensics", fan_out, list(PARALLEL_TEAMS))
    g.add_edge("synthesis", "report")
    g.add_conditional_edges("report", after_report, ["approvals", END])
    g.add_edge("approvals", "report")
    return g.compile(checkpointer=checkpointer)


graph = build_graph()   # for langgraph.json / a LangGraph server, which brings its own checkpointer
