"""``warden ask "QUESTION"``: one answer from the learning agent (numbers from pandas, citations always).

Failure contract: an empty question or a bad --as-of is a ``UserError`` (exit 2).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice

AsOf = Annotated[str | None, typer.Option(
    "--as-of", help="Answer as of this ISO date/time (UTC if no zone): later trades and documents are "
                    "invisible and 'last week' counts back from it. Default: now.")]


def parse_as_of(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        d = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--as-of {raw!r}: expected an ISO date or date-time, e.g. 2026-01-15 or "
                        "2026-01-15T09:30:00-06:00") from None
    return (d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)).isoformat()


def learning_context(data_dir: Path, llm: LLMChoice | None) -> Any:
    from agents.learning import LearningContext
    from warden.commands.ingest import open_memory

    settings, store, reasoner = open_memory(data_dir, llm)
    return LearningContext(data_dir=data_dir, settings=settings, llm=reasoner.name, reasoner=reasoner, store=store)


def answer_json(state: dict[str, Any]) -> dict[str, Any]:
    ev = state.get("evidence") or {}
    return {"question": state["question"], "as_of": state.get("as_of"), "answer": state["answer"],
            "intent": state.get("intent"), "result": ev.get("result"),
            "documents": [{k: d[k] for k in ("id", "title", "kind", "date", "source", "distance")}
                          for d in ev.get("documents", [])]}


def ask(
    question: Annotated[str, typer.Argument(help="A question about past trades, in plain words.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    llm: LLM = LLMChoice.offline,
    json_out: Json = False,
    as_of: AsOf = None,
) -> None:
    """Ask the learning agent one question (e.g. "win rate on trades placed against a WAIT advisory?")."""
    from graphs.learning import ask as run

    if not question.strip():
        raise UserError("the question is empty")
    ctx = learning_context(data_dir, llm)
    state = run(question, ctx, as_of=parse_as_of(as_of))
    if json_out:
        print(json.dumps(answer_json(state), indent=2, default=str))
    else:
        print(state["answer"]["text"])


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
