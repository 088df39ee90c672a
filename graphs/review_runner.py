"""Running the incident-review graph: checkpoints under ``data_dir/review``, progress callbacks, approvals.

``run_review`` reviews a bundle; ``resume_review`` continues a run stopped at its approval step, from the
SQLite checkpoint alone (the state names every file it needs), in this process or any later one.
Failure contract: ``ReviewSetupError`` when the chosen reasoner cannot be created (before any work);
``RunNotFound`` for an unknown run id; ``ValueError`` for a bad approval policy; ``ReviewIncomplete`` when a
run returns without every output it names (never "success" without the report); errors raised inside a
node propagate from LangGraph unchanged.
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
from graphs import review_approvals as approvals
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
    reconstructed: dict[str, Any] = field(default_factory=dict)   # outcome JSON folder for `warden ingest`


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
                        written=list(st.get("written", [])), reconstructed=dict(st.get("reconstructed") or {}))


Decide = Callable[[list[dict[str, Any]]], Mapping[str, Any]]
Policy = Mapping[str, str] | str | None


class ReviewIncomplete(RuntimeError):
    """A run that should be complete lacks one of its outputs, or stopped on an error it cannot get past."""


def _policy(approve: Policy) -> dict[str, str] | None:
    return dict(approve) if isinstance(approve, Mapping) else approvals.parse_policy(approve)


def _answer(res: ReviewResult, approve: Policy, decide: Decide | None, operator: str, why: str,
            reject_later: bool = False) -> dict[str, Any] | None:
    return approvals.answers_for(res.pending, _policy(approve), decide, operator=operator, why=why,
                                 reject_later=reject_later)


def check_outputs(res: ReviewResult) -> ReviewResult:
    """A finished (or paused) run has written every output it names; otherwise ``ReviewIncomplete``."""
    missing = [p for p in res.written if not Path(p).is_file()]
    if not res.written or missing:
        raise ReviewIncomplete(f"review {res.run_id}: outputs missing under {res.out}: "
                               f"{', '.join(Path(p).name for p in missing) or 'the final report'}")
    return res


def run_review(bundle: str | Path, out: str | Path, *, data_dir: str | Path, llm: str = "offline",
               approve: Policy = None, decide: Decide | None = None, progress: Progress | None = None,
               run_id: str | None = None, api: str | None = None, operator: str = "user",
               why: str = "") -> ReviewResult:
    """Review ``bundle`` into ``out``.

    ``approve``: a policy per change type (graphs/review_approvals.py: ``"all"``, ``"none"``,
    ``"risk_parameter=yes,..."`` or a mapping); without one, ``decide(pending) -> answer`` asks a person and
    without that the changes stay ``pending_approval`` and the run resumable. ``operator``/``why`` are recorded
    with every answer a policy gives.
    """
    run_id = run_id or new_run_id()
    cfg = {"configurable": {"thread_id": run_id}}
    inp: dict[str, Any] = {"run_id": run_id, "bundle": str(Path(bundle).resolve()), "out": str(Path(out).resolve()),
           "data_dir": str(Path(data_dir).resolve()), "llm": str(getattr(llm, "value", llm)), "api": api}
    try:   # an explicit --llm choice that cannot work stops here, not halfway through the teams
        get_reasoner(inp["llm"], settings_for(inp["data_dir"]))
    except Exception as exc:  # noqa: BLE001 - any failure to build the reasoner is reported as a setup error
        raise ReviewSetupError(f"--llm {inp['llm']}: cannot create the reasoner: {exc}") from exc
    Path(out).mkdir(parents=True, exist_ok=True)
    with _compiled(data_dir) as app:
        _drive(app, inp, cfg, progress)
        res = _result(app, cfg)
        if res.pending:
            ans = _answer(res, approve, decide, operator, why)
            if ans is not None:
                _drive(app, Command(resume=ans), cfg, progress)
                res = _result(app, cfg)
    return check_outputs(res)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def resume_review(run_id: str, *, data_dir: str | Path, approve: Policy = None, decide: Decide | None = None,
                  progress: Progress | None = None, operator: str = "user", why: str = "") -> ReviewResult:
    """Continue a stored run: one stopped by an error goes on from its last checkpoint; one stopped at its
    approval step gets its answers (``approve``: a policy, ``"none"`` = reject; None = ask ``decide``). A run
    already complete whose outputs are gone writes them again. Returns only when every output exists."""
    cfg = {"configurable": {"thread_id": run_id}}
    if not checkpoint_path(data_dir).is_file():
        raise RunNotFound(run_id)
    with _compiled(data_dir) as app:
        res = _result(app, cfg)
        snap = app.get_state(cfg)
        if snap.next and not res.pending:            # stopped by an error (or killed): carry on from the checkpoint
            _drive(app, None, cfg, progress)
            res = _result(app, cfg)
            if app.get_state(cfg).next and not res.pending:
                raise ReviewIncomplete(f"review {run_id} stopped again before its report (see the error above)")
        elif not snap.next and any(not Path(p).is_file() for p in res.written):
            app.update_state(cfg, None, as_node="synthesis")      # outputs gone: run the report step again
            _drive(app, None, cfg, progress)
            res = _result(app, cfg)
        if res.pending:
            ans = _answer(res, approve, decide, operator, why, reject_later=approve == "none")
            if ans is not None:
                _drive(app, Command(resume=ans), cfg, progress)
                res = _result(app, cfg)
        return check_outputs(res)


def stored_run(run_id: str, data_dir: str | Path) -> ReviewResult:
    """A stored run as it stands (status, pending changes, final report), running nothing; ``RunNotFound``."""
    if not checkpoint_path(data_dir).is_file():
        raise RunNotFound(run_id)
    with _compiled(data_dir) as app:
        return _result(app, {"configurable": {"thread_id": run_id}})


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
