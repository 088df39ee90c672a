"""Running the incident-review graph: checkpoints under ``data_dir/review``, progress callbacks, approvals.

``run_review`` reviews a bundle; ``resume_review`` continues a run stopped at its approval step, from the
SQLite checkpoint alone (the state names every file it needs), in this process or any later one.
Failure contract: ``ReviewSetupError`` when the chosen reasoner cannot be created (before any work);
``RunNotFound`` for an unknown run id; errors raised inside a node propagate from LangGraph unchanged.
"""
from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.types import Command

from agents.llm import get_reasoner
from agents.review import synthesis
from graphs.incident import ReviewRuntime, build_graph, settings_for, team_reports
from tools.review.report import FinalReport, TeamReport

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
    # a fresh run-time context per invocation: the teams' shared reconstruction never outlives it
    for mode, chunk in app.stream(inp, cfg, stream_mode=["tasks", "updates"], context=ReviewRuntime()):
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
                        final=final, teams=team_reports(st), pending=pending, timings=dict(st.get("timings", {})),
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
    inp: dict[str, Any] = {"run_id": run_id, "bundle": str(Path(bundle).resolve()), "out": str(Path(out).resolve()),
           "data_dir": str(Path(data_dir).resolve()), "llm": str(getattr(llm, "value", llm)), "api": api}
    try:   # an explicit --llm choice that cannot work stops here, not halfway through the teams
        get_reasoner(inp["llm"], settings_for(inp["data_dir"]))
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
