"""Review approvals on the desk: a review run stopped at its approvals, each pending change with Approve /
Reject forms, decided through the same policy and records as ``warden review --resume RUN --approve ...``.

A decision is the CLI's policy applied to one change (graphs.review_approvals.answers_for with
``{its change type: yes | no}``): Approve approves a change that needs a user's approval alone; Reject
rejects it; "Record as tracked task" records a change that needs a backtest, an A/B test or a design
review as a tracked task (it stays pending), as ``--approve TYPE=yes`` does. Such a change is approved on
the desk only as a person approves it at the terminal: the operator ticks each of its preconditions
(``confirm`` fields, one per precondition, all required) and the record is the terminal's
(approved, by, at, why = the note plus the preconditions confirmed). The answer resumes the stored run (graphs.review_runner.resume_review), so
findings.json, the approvals table of the final report and the checkpoint are exactly what the CLI writes.
Decisions on one desk are serialised (one lock), and run in a worker thread.
Failure contract: an unknown run id is a 404 page; a change that is not pending is a 409 page; an empty
operator or note or a bad decision is a 400 page naming the field; a review that fails while resuming is
a 500 page with the CLI's one line (cause, path, how to resume). Nothing is recorded on a refusal.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from warden.desk.base import Desk
from warden.desk.security import checked_form

DECISIONS = {"approve": "yes", "reject": "no", "track": "yes"}


def run_view(desk: Desk, run_id: str) -> dict[str, Any] | None:
    """The stored run's status, output dir and pending changes (each marked flag-approvable or not); None if
    the data dir holds no such run."""
    from graphs.review_approvals import flag_can_approve
    from graphs.review_runner import RunNotFound, stored_run

    try:
        res = stored_run(run_id, desk.data_dir)
    except RunNotFound:
        return None
    out = Path(res.out)
    try:
        rid: str | None = str(out.resolve().relative_to(desk.data_dir.resolve())) or "."
    except ValueError:
        rid = None
    pending = [{**c, "approvable": flag_can_approve(c)} for c in res.pending]
    return {"run_id": res.run_id, "status": res.status, "out": str(out), "rid": rid, "pending": pending}


def run_of_review(review_dir: Path) -> str | None:
    """The run id a review's findings.json names (None when it names none)."""
    from warden.desk.data import read_json

    doc = read_json(review_dir / "findings.json") or {}
    rid = doc.get("run_id")
    return str(rid) if isinstance(rid, str) and rid else None


def _decide(desk: Desk, run_id: str, change_id: str, decision: str, operator: str, note: str,
            confirmed: int = 0) -> str:
    """Resume ``run_id`` with the answer the CLI's policy (or, for a change a flag cannot approve, a person's
    approval with every precondition confirmed) gives this one change; returns the status recorded."""
    from graphs.review_approvals import answers_for, flag_can_approve, now_iso, preconditions
    from graphs.review_runner import ReviewIncomplete, RunNotFound, resume_review, stored_run
    from warden.commands.review import failure

    try:
        res = stored_run(run_id, desk.data_dir)
    except RunNotFound:
        raise HTTPException(404, f"no stored review run {run_id!r} in this data dir") from None
    change = next((c for c in res.pending if c["id"] == change_id), None)
    if change is None:
        raise HTTPException(409, f"change {change_id!r} is not pending approval in review {run_id} (decided "
                                 "already, or it needs no approval)")
    pre = preconditions(change)
    answer: dict[str, Any] | None
    if decision == "approve" and not flag_can_approve(change):
        if confirmed != len(pre):
            raise HTTPException(400, f"change {change_id} needs {change.get('approval')}: tick each of its "
                                     f"{len(pre)} preconditions to approve it (or record it as a tracked task)")
        answer = {change_id: {"status": "approved", "by": operator, "at": now_iso(),
                              "why": f"{note} (preconditions confirmed on the desk: {'; '.join(pre)})"}}
    elif decision == "track" and flag_can_approve(change):
        raise HTTPException(400, f"change {change_id} needs only a user's approval: approve or reject it")
    else:
        answer = answers_for([change], {str(change["change_type"]): DECISIONS[decision]}, None,
                             operator=operator, why=note)
    assert answer is not None                       # a yes/no policy always answers the change it names
    try:
        resume_review(run_id, data_dir=desk.data_dir, decide=lambda _pending: answer, operator=operator, why=note)
    except RunNotFound:
        raise HTTPException(404, f"no stored review run {run_id!r} in this data dir") from None
    except (OSError, ValueError, RuntimeError, ReviewIncomplete) as exc:
        raise HTTPException(500, str(failure(exc, run_id, desk.data_dir))) from exc
    return str(answer[change_id]["status"])


def router(desk: Desk) -> APIRouter:
    r = APIRouter()
    lock = threading.Lock()

    @r.get("/approvals/{run_id}", response_class=HTMLResponse)
    def approvals(request: Request, run_id: str, done: str = "") -> HTMLResponse:
        run = run_view(desk, run_id)
        if run is None:
            raise HTTPException(404, f"no stored review run {run_id!r} in this data dir")
        return desk.render(request, "approvals.html", run=run, done=done)

    @r.post("/approvals/{run_id}")
    async def decide(request: Request, run_id: str) -> RedirectResponse:
        form = await checked_form(request)
        change_id = str(form.get("change") or "").strip()
        decision = str(form.get("decision") or "")
        operator = str(form.get("operator") or "").strip()
        note = str(form.get("note") or "").strip()
        if decision not in DECISIONS:
            raise HTTPException(400, f"decision must be approve, reject or track, got {decision!r}")
        for field, value in (("change", change_id), ("operator", operator), ("note", note)):
            if not value:
                raise HTTPException(400, f"{field} is empty: it is recorded with the decision")

        def work() -> str:
            with lock:
                return _decide(desk, run_id, change_id, decision, operator, note,
                               confirmed=len([v for v in form.getlist("confirm") if v]))

        status = await run_in_threadpool(work)
        return RedirectResponse(f"/approvals/{quote(run_id)}?done={quote(f'{change_id}: {status} by {operator}')}",
                                status_code=303)

    return r
