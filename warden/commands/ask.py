"""``warden ask "QUESTION"``: one answer from the learning agent (numbers from pandas, citations always).

Failure contract: an empty question, a bad --as-of, or a missing or empty memory (the message says what
to run first) is a ``UserError`` (exit 2).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice
from warden.preflight import check_model

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


EMPTY_HINT = ("run `warden ingest <dir with trade_outcomes/, telemetry/events.jsonl or journal.db>` first "
              "(a `warden run` data dir works as is), or `warden demo` for sample data")


def require_memory(data_dir: Path) -> None:
    """A missing data dir is a UserError naming what to run, before anything is created under it."""
    if not Path(data_dir).is_dir():
        raise UserError(f"no memory at {data_dir}: {EMPTY_HINT}")


def learning_context(data_dir: Path, llm: LLMChoice | None) -> Any:
    from agents.learning import LearningContext
    from tools.memory.counterfactual import SignalsTable
    from warden.commands.ingest import open_memory

    require_memory(data_dir)
    settings, store, reasoner = open_memory(data_dir, llm)
    check_model(settings, llm or settings.llm.provider)   # ask and chat: a model that cannot answer stops here
    if store.table.load().empty and SignalsTable.in_data_dir(data_dir).load().empty \
            and not store.documents().count():
        raise UserError(f"the memory at {data_dir} is empty (no trades, signals or documents): {EMPTY_HINT}")
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
    stamp = parse_as_of(as_of)
    ctx = learning_context(data_dir, llm)
    state = run(question, ctx, as_of=stamp)
    if json_out:
        print(json.dumps(answer_json(state), indent=2, default=str))
    else:
        print(state["answer"]["text"])


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
