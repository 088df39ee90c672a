"""Checkpointers for the advisory graph, chosen by a spec string.

SQLite by default (``<data_dir>/checkpoints/advisory.sqlite``, WAL, closed with the caller's ExitStack);
``postgresql://...`` uses langgraph-checkpoint-postgres (imported only then) for several processes
sharing one store; ``memory`` / ``none`` for tests and benches; any other spec is a SQLite file path.
Failure contract: ``RuntimeError`` when Postgres is asked for without its extra installed; sqlite3 and
OS errors (unwritable directory) propagate unchanged.
"""
from __future__ import annotations

import sqlite3
from contextlib import ExitStack
from pathlib import Path
from typing import Any


def make_checkpointer(spec: str | None, data_dir: Path | str, stack: ExitStack) -> Any:
    """``None``/``sqlite`` -> <data_dir>/checkpoints/advisory.sqlite; ``memory``; ``none``; a ``*.sqlite``
    path; or a ``postgresql://`` URL (langgraph-checkpoint-postgres, installed with ``warden[postgres]``)."""
    spec = (spec or "sqlite").strip()
    if spec == "none":
        return None
    if spec == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        return InMemorySaver()
    if spec.startswith(("postgres://", "postgresql://")):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError as exc:
            raise RuntimeError("a Postgres checkpointer needs `pip install warden[postgres]` "
                               "(langgraph-checkpoint-postgres)") from exc
        saver = stack.enter_context(PostgresSaver.from_conn_string(spec))
        saver.setup()
        return saver
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(data_dir) / "checkpoints" / "advisory.sqlite" if spec == "sqlite" else Path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False)
    stack.callback(conn.close)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return SqliteSaver(conn)
