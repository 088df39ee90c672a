"""Ask page: a question box answered by the learning agent (graphs.learning.ask, as ``warden ask``), with
the query it ran shown and every cited trade id linked to its trade page.

Asking is a POST (opening the memory may create its store under the data dir), so ``--read-only``
refuses it. The learning context is opened once per app and reused.
Failure contract: an empty question, an empty or missing memory, or a model that cannot answer is a 400
page with the CLI's one-line message (e.g. run ``warden ingest`` first); nothing else is written.
"""
from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from warden.desk.base import Desk
from warden.desk.security import checked_form
from warden.errors import UserError


def router(desk: Desk) -> APIRouter:
    r = APIRouter()
    lock = threading.Lock()
    held: dict[str, Any] = {}

    def context() -> Any:
        from warden.commands.ask import learning_context

        with lock:
            if "ctx" not in held:
                held["ctx"] = learning_context(desk.data_dir, None)
            return held["ctx"]

    @r.get("/ask", response_class=HTMLResponse)
    def ask_page(request: Request) -> HTMLResponse:
        return desk.render(request, "ask.html", question="", answer=None, error="")

    @r.post("/ask", response_class=HTMLResponse)
    async def ask(request: Request) -> HTMLResponse:
        from graphs.learning import ask as run

        form = await checked_form(request)
        question = str(form.get("question") or "").strip()
        try:
            if not question:
                raise UserError("the question is empty")
            state = run(question, context())
        except UserError as exc:
            return desk.render(request, "ask.html", status_code=400, question=question, answer=None,
                               error=str(exc))
        answer = state.get("answer") or {}
        cites = [str(c) for c in answer.get("citations") or []]
        return desk.render(request, "ask.html", question=question, answer=answer, citations=cites, error="")

    return r
