"""The incident-review graph (seed 001): forensics first, then six teams in parallel, then synthesis.

    START -> forensics --Send--> econophysics | ml_strategy | risk | software | strategy | sre
          -> synthesis -> report -> (changes awaiting approval?) -> approvals -> report -> END

``forensics`` reads the bundle once (tools.review.forensics), writes outcomes.csv and timeline.csv at once
(recovering the outcomes is the priority), keeps its reconstruction under the run's work folder for the
other teams, and writes its own team report. ``report`` always writes the full output set, so a run
that stops for approval has already produced its report, with each such change ``pending_approval``.
``approvals`` stops at a LangGraph ``interrupt()`` with the pending changes; the caller resumes it with
``Command(resume={id: "approved" | "rejected" | "pending_approval", "*": ...})``.

State holds JSON types only (team reports as dicts), so any checkpointer can store it.
``graph`` (no checkpointer) is what langgraph.json serves; ``run_review`` / ``resume_review`` compile it
with a SqliteSaver under ``data_dir/review``.
"""
from __future__ import annotations

import logging
import operator
import pickle
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from agents.llm import get_reasoner
from agents.review import PARALLEL_TEAMS, TEAM_MODULES, synthesis
from agents.review.base import ReviewContext, jsonable
from tools.logs.bundle import load_bundle
from tools.review.forensics import Forensics, run_forensics
from tools.review.report import (
    OUTCOME_COLUMNS,
    TEAMS,
    TIMELINE_COLUMNS,
    FinalReport,
    Status,
    TeamReport,
    fmt_ts,
    write_csv,
    write_review,
)
from trading.settings import Settings, load_settings

log = logging.getLogger(__name__)


def _merge(a: dict | None, b: dict | None) -> dict:
    return {**(a or {}), **(b or {})}


class ReviewState(TypedDict, total=False):
    run_id: str
    bundle: str
    out: str
    data_dir: str
    llm: str
    api: str | None
    kind: str
    zone: str
    team_reports: Annotated[list[dict], operator.add]
    final: dict
    decisions: Annotated[dict, _merge]
    timings: Annotated[dict, _merge]
    written: list[str]


class TeamInput(TypedDict):
    run_id: str
    bundle: str
    out: str
    data_dir: str
    llm: str
    team: str


# ------------------------------------------------------------------------------------------------
# per-run context, shared by the parallel team nodes of one process

_CTX: dict[str, ReviewContext] = {}
_CTX_LOCK = threading.Lock()


def work_dir(data_dir: str | Path, run_id: str) -> Path:
    return Path(data_dir) / "review" / run_id


def _settings(data_dir: str) -> Settings:
    return load_settings(data_dir=Path(data_dir))


def _context(state: Mapping[str, Any], fx: Forensics | None = None) -> ReviewContext:
    rid = state["run_id"]
    with _CTX_LOCK:
        ctx = _CTX.get(rid)
        if ctx is None:
            if fx is None:
                with (work_dir(state["data_dir"], rid) / "forensics.pkl").open("rb") as fh:
                    fx = pickle.load(fh)
            settings = _settings(state["data_dir"])
            ctx = ReviewContext(fx=fx, settings=settings, out=Path(state["out"]),
                                reasoner=get_reasoner(state.get("llm", "offline"), settings))
            _CTX[rid] = ctx
        return ctx


def drop_context(run_id: str) -> None:
    with _CTX_LOCK:
        _CTX.pop(run_id, None)


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
    wd = work_dir(state["data_dir"], state["run_id"])
    wd.mkdir(parents=True, exist_ok=True)
    tmp = wd / "forensics.pkl.tmp"
    with tmp.open("wb") as fh:
        pickle.dump(fx, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(wd / "forensics.pkl")
    out = Path(state["out"])
    zone = fx.zone
    write_csv(out / "outcomes.csv", ({**r, "entry_time": fmt_ts(r["entry_time"], zone, ms=True),
                                      "pnl": None if r["pnl"] is None else round(r["pnl"], 4)}
                                     for r in (t.as_outcome_row() for t in fx.trades)), OUTCOME_COLUMNS)
    write_csv(out / "timeline.csv", ({**r, "time": fmt_ts(r["time"], zone, ms=True)} for r in fx.timeline),
              TIMELINE_COLUMNS)
    t1 = time.perf_counter()
    ctx = _context(state, fx)
    rep = TEAM_MODULES["forensics"].run(ctx)
    return {"team_reports": [rep.model_dump(mode="json")], "kind": fx.kind, "zone": zone,
            "timings": {"read_and_reconstruct": round(t1 - t0, 3), "forensics": round(time.perf_counter() - t0, 3)}}


def fan_out(state: ReviewState) -> list[Send]:
    base = {k: state[k] for k in ("run_id", "bundle", "out", "data_dir", "llm")}  # type: ignore[literal-required]
    return [Send(team, {**base, "team": team}) for team in PARALLEL_TEAMS]


def _team_node(team: str) -> Callable[[TeamInput], dict[str, Any]]:
    def node(state: TeamInput) -> dict[str, Any]:
        t0 = time.perf_counter()
        rep = TEAM_MODULES[team].run(_context(state))
        return {"team_reports": [rep.model_dump(mode="json")], "timings": {team: round(time.perf_counter() - t0, 3)}}
    node.__name__ = f"{team}_node"
    return node


def _teams(state: Mapping[str, Any]) -> list[TeamReport]:
    reps = {d["team"]: TeamReport.model_validate(d) for d in state.get("team_reports", [])}
    return [reps[t] for t in TEAMS if t in reps]


def synthesis_node(state: ReviewState) -> dict[str, Any]:
    t0 = time.perf_counter()
    settings = _settings(state["data_dir"])
    fr = synthesis.run(_teams(state), get_reasoner(state.get("llm", "offline"), settings), state.get("zone", "UTC"),
                       state.get("kind", "unknown"))
    return {"final": fr.model_dump(mode="json"), "timings": {"synthesis": round(time.perf_counter() - t0, 3)}}


def report_node(state: ReviewState) -> dict[str, Any]:
    t0 = time.perf_counter()
    fr = synthesis.apply_decisions(FinalReport.model_validate(state["final"]), state.get("decisions", {}))
    teams = _teams(state)
    out = Path(state["out"])
    written = [str(p) for p in write_review(out, fr, teams, state["run_id"], state["bundle"], state.get("zone", "UTC"))]
    drop_context(state["run_id"])
    # every team has run: the reconstruction lives on in outcomes.csv / timeline.csv and the reports
    (work_dir(state["data_dir"], state["run_id"]) / "forensics.pkl").unlink(missing_ok=True)
    return {"written": written, "timings": {"report": round(time.perf_counter() - t0, 3)}}


def pending_changes(state: Mapping[str, Any]) -> list[dict[str, Any]]:
    fr = state.get("final")
    if not fr:
        return []
    dec = state.get("decisions", {})
    return [{"id": r["id"], "title": r["title"], "change_type": r["change_type"], "approval": r["approval"],
             "detail": r["detail"]}
            for r in fr["changes"] if r["approval"] != "none" and r["id"] not in dec]


def after_report(state: ReviewState) -> str:
    return "approvals" if pending_changes(state) else END


def approvals_node(state: ReviewState) -> dict[str, Any]:
    pending = pending_changes(state)
    if not pending:
        return {}
    answer = interrupt({"run_id": state["run_id"], "changes": pending})
    return {"decisions": normalize_decisions(answer, pending)}


def normalize_decisions(answer: Any, pending: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """{id|"*": status or {"status", "by"}} -> {id: {"status", "by"}}; pending_approval leaves a change open."""
    if not isinstance(answer, Mapping):
        answer = {"*": answer}
    out = {}
    for ch in pending:
        v = answer.get(ch["id"], answer.get("*"))
        if isinstance(v, Mapping):
            status, by = str(v.get("status", "")), str(v.get("by", ""))
        else:
            status, by = str(v or ""), ""
        if status in (Status.approved.value, Status.rejected.value):
            out[ch["id"]] = {"status": status, "by": by or "user"}
    return out


def build_graph(checkpointer: Any = None) -> Any:
    g = StateGraph(ReviewState)
    g.add_node("forensics", forensics_node)
    for team in PARALLEL_TEAMS:
        g.add_node(team, _team_node(team))
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


graph = build_graph()


# ------------------------------------------------------------------------------------------------
# running it: checkpoints under data_dir/review, progress callbacks, approvals


Progress = Callable[[str, str, Mapping[str, Any]], None]     # (event: start|done|error, node, info)


@dataclass
class ReviewResult:
    run_id: str
    out: Path
    status: str                                   # complete | awaiting_approval
    final: FinalReport | None = None
    teams: list[TeamReport] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)


class RunNotFound(LookupError):
    """No checkpoint for this run id."""


class ReviewSetupError(ValueError):
    """The review cannot start (e.g. the chosen reasoner cannot be created); the message says why."""


def checkpoint_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "review" / "checkpoints.sqlite"


@contextmanager
def _compiled(data_dir: str | Path) -> Iterator[Any]:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    p = checkpoint_path(data_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(p), check_same_thread=False)
    try:
        yield build_graph(SqliteSaver(conn, serde=JsonPlusSerializer()))
    finally:
        conn.close()


def _drive(app: Any, inp: Any, cfg: dict[str, Any], progress: Progress | None) -> None:
    starts: dict[str, float] = {}
    for mode, chunk in app.stream(inp, cfg, stream_mode=["tasks", "updates"]):
        if mode != "tasks" or progress is None:
            continue
        name = chunk.get("name", "?")
        if "triggers" in chunk:
            starts[chunk["id"]] = time.perf_counter()
            progress("start", name, {})
        else:
            secs = time.perf_counter() - starts.get(chunk["id"], time.perf_counter())
            err = chunk.get("error")
            interrupted = bool(chunk.get("interrupts"))
            progress("error" if err else ("interrupt" if interrupted else "done"), name,
                     {"seconds": round(secs, 3), "error": str(err) if err else None})


def _result(app: Any, cfg: dict[str, Any]) -> ReviewResult:
    snap = app.get_state(cfg)
    st = snap.values
    if not st:
        raise RunNotFound(cfg["configurable"]["thread_id"])
    pending: list[dict[str, Any]] = []
    for task in snap.tasks:
        for it in task.interrupts:
            pending = list(it.value.get("changes", []))
    final = FinalReport.model_validate(st["final"]) if st.get("final") else None
    if final is not None:
        final = synthesis.apply_decisions(final, st.get("decisions", {}))
    return ReviewResult(run_id=st["run_id"], out=Path(st["out"]), status="awaiting_approval" if snap.next else "complete",
                        final=final, teams=_teams(st), pending=pending, timings=dict(st.get("timings", {})),
                        written=list(st.get("written", [])))


Decide = Callable[[list[dict[str, Any]]], Mapping[str, Any]]


def _answer_for(approve: str | None, pending: list[dict[str, Any]], decide: Decide | None,
                by: str) -> Mapping[str, Any] | None:
    if approve == "all":
        return {"*": {"status": "approved", "by": by}}
    if approve == "reject":
        return {"*": {"status": "rejected", "by": by}}
    if approve is None and decide is not None:
        return decide(pending)
    return None


def run_review(bundle: str | Path, out: str | Path, *, data_dir: str | Path, llm: str = "offline",
               approve: str | None = None, decide: Decide | None = None, progress: Progress | None = None,
               run_id: str | None = None, api: str | None = None) -> ReviewResult:
    """Review ``bundle`` into ``out``.

    ``approve``: "all" approves every change needing approval; "none" (or no terminal: ``decide=None``)
    leaves them ``pending_approval`` and the run resumable. ``decide(pending) -> answer`` asks a human.
    """
    run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    cfg = {"configurable": {"thread_id": run_id}}
    inp = {"run_id": run_id, "bundle": str(Path(bundle).resolve()), "out": str(Path(out).resolve()),
           "data_dir": str(Path(data_dir).resolve()), "llm": str(getattr(llm, "value", llm)), "api": api}
    try:   # an explicit --llm choice that cannot work stops here, not halfway through the teams
        get_reasoner(inp["llm"], _settings(inp["data_dir"]))
    except Exception as exc:
        raise ReviewSetupError(f"--llm {inp['llm']}: cannot create the reasoner: {exc}") from exc
    Path(out).mkdir(parents=True, exist_ok=True)
    with _compiled(data_dir) as app:
        _drive(app, inp, cfg, progress)
        res = _result(app, cfg)
        if res.pending:
            ans = _answer_for(approve, res.pending, decide, "--approve all")
            if ans is not None:
                _drive(app, Command(resume=ans), cfg, progress)
                res = _result(app, cfg)
    return res


def resume_review(run_id: str, *, data_dir: str | Path, approve: str | None = None, decide: Decide | None = None,
                  progress: Progress | None = None) -> ReviewResult:
    """Continue a run stopped at its approval step. ``approve``: "all" | "none" (= reject) | None (ask)."""
    cfg = {"configurable": {"thread_id": run_id}}
    if not checkpoint_path(data_dir).is_file():
        raise RunNotFound(run_id)
    with _compiled(data_dir) as app:
        res = _result(app, cfg)
        if not res.pending:
            return res
        ans = _answer_for("reject" if approve == "none" else approve, res.pending, decide,
                          f"--resume --approve {approve}" if approve else "user")
        if ans is None:
            return res
        _drive(app, Command(resume=ans), cfg, progress)
        return _result(app, cfg)


def list_runs(data_dir: str | Path) -> list[str]:
    p = checkpoint_path(data_dir)
    if not p.is_file():
        return []
    conn = sqlite3.connect(str(p))
    try:
        return [r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id")]
    except sqlite3.Error:
        return []
    finally:
        conn.close()


__all__ = ["graph", "build_graph", "run_review", "resume_review", "ReviewResult", "RunNotFound", "ReviewSetupError",
           "list_runs", "jsonable"]
