"""Server-sent events for the Live page: ``/api/live/events`` pushes the live snapshot when the records change.

The server looks at the files the live page reads (telemetry/events.jsonl, the risk ledgers, the paper
accounts, the journal) every ``POLL_S`` seconds, by size and mtime only; when any changed it sends one
``live`` event carrying the whole snapshot (the JSON of ``/api/live``), and a comment line every
``KEEPALIVE_S`` seconds otherwise. The first event is sent at once. A stream ends after ``timeout``
seconds (default ``STREAM_S``; the browser's EventSource reconnects after ``retry``), after
``max_events`` events when given, or when the client goes away; the file work runs in a worker thread.
Failure contract: a file that vanishes or cannot be stat'ed counts as changed (its absence is the new
state); a snapshot that cannot be built is a code bug and ends the stream (the page falls back to polling).
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from warden.desk.base import Desk

POLL_S = 0.5
KEEPALIVE_S = 15.0
STREAM_S = 600.0
RETRY_MS = 2000
WATCHED = ("telemetry", "risk", "paper/accounts", "journal")


def signature(data_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime_ns) of every watched file: a change in any of them changes the signature."""
    out: list[tuple[str, int, int]] = []
    for sub in WATCHED:
        root = data_dir / sub
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if name.endswith("-shm"):        # SQLite's shared memory changes on every read
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                out.append((path, st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def encode(doc: dict[str, Any]) -> str:
    """One SSE ``live`` event: JSON on one data line, with <, > and & escaped."""
    text = json.dumps(doc, default=str, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"event: live\ndata: {text}\n\n"


async def stream(request: Request, data_dir: Path, snapshot: Callable[[], dict[str, Any]], *, timeout: float,
                 max_events: int | None, poll: float = POLL_S) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    sent, last, quiet = 0, None, time.monotonic()
    end = time.monotonic() + timeout
    while time.monotonic() < end and (max_events is None or sent < max_events):
        sig = await run_in_threadpool(signature, data_dir)
        if sig != last:
            last = sig
            doc = await run_in_threadpool(snapshot)
            yield encode(doc)
            sent += 1
            quiet = time.monotonic()
            continue
        if time.monotonic() - quiet >= KEEPALIVE_S:
            yield ": keepalive\n\n"
            quiet = time.monotonic()
        if await request.is_disconnected():
            return
        await asyncio.sleep(poll)


def router(desk: Desk, snapshot: Callable[[Desk], dict[str, Any]]) -> APIRouter:
    r = APIRouter()

    @r.get("/api/live/events")
    async def live_events(request: Request, timeout: float = STREAM_S, max_events: int | None = None,
                          poll: float = POLL_S) -> StreamingResponse:
        if not 0 < timeout <= 3600:
            raise HTTPException(400, f"timeout must be in (0, 3600] seconds, got {timeout}")
        if max_events is not None and max_events < 1:
            raise HTTPException(400, f"max_events must be 1 or more, got {max_events}")
        if not 0.05 <= poll <= 10:
            raise HTTPException(400, f"poll must be between 0.05 and 10 seconds, got {poll}")
        body = stream(request, desk.data_dir, lambda: snapshot(desk), timeout=timeout, max_events=max_events,
                      poll=poll)
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return r
