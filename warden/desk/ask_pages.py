"""Ask page: conversations with the learning agent, kept per thread as in ``warden chat``.

A thread lives in the learning graph's checkpointer (``<data_dir>/chat/checkpoints.sqlite``, the one
``warden chat --thread ID`` uses, so a thread started on either continues on the other); its page is
``/ask/t/<thread>``. A follow-up ("and for SELL?") is read against the thread's context. Every turn shows
the answer, the query it ran and each cited trade id linked to its trade page. ``/ask/new`` opens a fresh
thread; posting to ``/ask`` asks in a fresh thread.
Asking is a POST (opening the memory may create its store under the data dir), so ``--read-only``
refuses it; the learning context and the graph are opened once per app and reused, questions are
answered one at a time in a worker thread (the page never blocks the server's other requests).
Failure contract: an empty question, an empty or missing memory, or a model that cannot answer is a 400
page with the CLI's one-line message (e.g. run ``warden ingest`` first) and the thread as it was; a thread
id longer than 200 characters is a 400 page.
"""
from __future__ import annotations

import secrets
import sqlite3
import threading
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from warden.desk.base import Desk
from warden.desk.security import checked_form
from warden.errors import UserError

MAX_TURNS = 50


def new_thread_id() -> str:
    return "desk-" + secrets.token_hex(5)


def _check(thread: str) -> str:
    if not thread or len(thread) > 200:
        raise HTTPException(400, "a thread id is 1 to 200 characters")
    return thread


def router(desk: Desk) -> APIRouter:
    from graphs.learning import CHECKPOINT_RELPATH

    r = APIRouter()
    lock = threading.Lock()          # opening the graph and the learning context
    asking = threading.Lock()        # one question at a time (one context, one store)
    held: dict[str, Any] = {}
    store = desk.data_dir / CHECKPOINT_RELPATH

    def graph() -> Any:
        """The learning graph on the chat checkpointer (opened once; None while no thread exists, so a
        read-only desk creates nothing)."""
        from graphs.learning import build_graph, sqlite_checkpointer

        with lock:
            if "graph" not in held:
                if not store.is_file() and desk.read_only:
                    return None
                held["graph"] = build_graph(sqlite_checkpointer(desk.data_dir))
            return held["graph"]

    def context() -> Any:
        from warden.commands.ask import learning_context

        if "ctx" not in held:
            held["ctx"] = learning_context(desk.data_dir, None)
        return held["ctx"]

    def threads() -> list[str]:
        """Thread ids in the chat checkpointer, most recently used first."""
        if not store.is_file():
            return []
        try:
            conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
            try:
                rows = conn.execute("SELECT thread_id, MAX(checkpoint_id) AS last FROM checkpoints "
                                    "GROUP BY thread_id ORDER BY last DESC LIMIT 200").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return []
        return [str(t) for t, _ in rows]

    def turns(thread: str) -> list[dict[str, Any]]:
        """The thread's turns, oldest first: question, answer text, kind, query, citations, reasoner."""
        g = graph()
        if g is None:
            return []
        by_n: dict[int, dict[str, Any]] = {}
        for snap in g.get_state_history({"configurable": {"thread_id": thread}}, limit=MAX_TURNS * 8):
            v = snap.values or {}
            n = len(v.get("history") or [])
            if snap.next or not v.get("answer") or n in by_n:
                continue
            ans = v["answer"]
            by_n[n] = {"n": n, "question": str(v.get("question", "")), "text": str(ans.get("text", "")),
                       "kind": str(ans.get("kind", "")), "query": str(ans.get("query") or ""),
                       "cannot_answer": bool(ans.get("cannot_answer")), "reasoner": str(ans.get("reasoner", "")),
                       "citations": [str(c) for c in ans.get("citations") or []]}
        return [by_n[k] for k in sorted(by_n)]

    def page(request: Request, thread: str | None, status: int = 200, question: str = "",
             error: str = "") -> HTMLResponse:
        return desk.render(request, "ask.html", status_code=status, thread=thread,
                           turns=turns(thread) if thread else [], threads=threads(), question=question, error=error)

    async def ask_in(request: Request, thread: str) -> Any:
        form = await checked_form(request)
        question = str(form.get("question") or "").strip()

        def work() -> None:
            from graphs.learning import ask as run

            if not question:
                raise UserError("the question is empty")
            with lock:
                ctx = context()
            with asking:
                run(question, ctx, graph(), thread_id=thread)

        try:
            await run_in_threadpool(work)
        except UserError as exc:
            return page(request, thread, 400, question=question, error=str(exc))
        return RedirectResponse(f"/ask/t/{quote(thread)}#last", status_code=303)

    @r.get("/ask", response_class=HTMLResponse)
    def ask_page(request: Request) -> HTMLResponse:
        return page(request, None)

    @r.post("/ask", response_class=HTMLResponse)
    async def ask(request: Request) -> Any:
        return await ask_in(request, new_thread_id())

    @r.get("/ask/new")
    def new_thread() -> RedirectResponse:
        return RedirectResponse(f"/ask/t/{new_thread_id()}", status_code=303)

    @r.get("/ask/t/{thread:path}", response_class=HTMLResponse)
    def thread_page(request: Request, thread: str) -> HTMLResponse:
        return page(request, _check(thread))

    @r.post("/ask/t/{thread:path}", response_class=HTMLResponse)
    async def ask_thread(request: Request, thread: str) -> Any:
        return await ask_in(request, _check(thread))

    return r
