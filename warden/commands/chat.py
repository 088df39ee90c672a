"""``warden chat``: a conversation with the learning agent; history kept per --thread in a checkpointer.

Failure contract: a bad --as-of is a ``UserError`` (exit 2); end of input ends the conversation; the
checkpointer's connection is closed however the loop ends.
"""
from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from warden.commands.ask import AsOf, answer_json, learning_context, parse_as_of
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice, can_prompt

Thread = Annotated[str, typer.Option("--thread", help="Conversation id; the same id continues it later.")]
EXIT_WORDS = {"exit", "quit", ":q", "bye"}


def chat(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    llm: LLM = LLMChoice.offline,
    thread: Thread = "default",
    json_out: Json = False,
    as_of: AsOf = None,
    show_history: Annotated[bool, typer.Option("--show-history", help="Print the thread's turns and exit.")] = False,
) -> None:
    """Talk to the learning agent. On a terminal it prompts; otherwise it reads one question per stdin line
    (never prompting) and answers each in turn. Follow-ups ("and when it said BUY?") use the context."""
    from graphs.learning import build_graph, sqlite_checkpointer

    stamp = parse_as_of(as_of)
    saver = sqlite_checkpointer(data_dir)
    try:
        graph = build_graph(saver)
        config = {"configurable": {"thread_id": thread}}
        if show_history:
            for turn in graph.get_state(config).values.get("history", []):
                print(json.dumps(turn) if json_out else f"you> {turn['question']}\nwarden> {turn['answer']}\n")
            return
        ctx = learning_context(data_dir, llm)
        interactive = can_prompt()

        def lines():  # noqa: ANN202
            if interactive:
                while True:
                    try:
                        yield input("you> ")
                    except EOFError:
                        return
            else:
                yield from sys.stdin

        for raw in lines():
            q = raw.strip()
            if not q:
                continue
            if q.lower() in EXIT_WORDS:
                break
            state = graph.invoke({"question": q, "as_of": stamp}, config=config, context=ctx)
            if json_out:
                print(json.dumps(answer_json(state), default=str), flush=True)
            else:
                print(("" if interactive else f"you> {q}\n") + f"warden> {state['answer']['text']}\n", flush=True)
    finally:
        saver.conn.close()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
