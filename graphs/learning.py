"""The learning graph: route -> numeric | retrieve -> answer, one question per invoke.

State is plain JSON (question, as_of, the routed intent, the tool evidence, the answer, the running
``history`` and the previous numeric question as ``context``) so a checkpointer can keep a conversation:
``warden chat`` compiles it with a SqliteSaver under ``<data_dir>/chat/`` and one thread per ``--thread``;
a follow-up ("and when it said BUY?") is read against ``context``. Run-scoped resources (data dir,
reasoner, store) come in as the LangGraph runtime context (``agents.learning.LearningContext``), never in
the state. The module-level ``graph`` has no checkpointer: a LangGraph server supplies its own.

Failure contract: the graph adds no error handling of its own; what the nodes (agents/learning.py)
raise propagates to the caller, and an unanswerable question is an answer, not an error.
"""
from __future__ import annotations

import operator
import sqlite3
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.learning import LearningContext, answer_node, numeric_node, retrieve_node, route_node

CHECKPOINT_RELPATH = Path("chat") / "checkpoints.sqlite"


class LearningState(TypedDict, total=False):
    question: str
    as_of: str | None                      # ISO time; relative dates and as-of filtering use it
    intent: dict[str, Any]
    evidence: dict[str, Any]
    answer: dict[str, Any]
    context: dict[str, Any] | None         # the previous numeric question, for follow-ups
    history: Annotated[list[dict[str, Any]], operator.add]


def _ctx(runtime: Runtime[LearningContext] | None) -> LearningContext:
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, LearningContext):
        return ctx
    from trading.settings import load_settings  # a LangGraph server: configuration from settings

    settings = load_settings()
    return LearningContext(data_dir=settings.data_dir, settings=settings, llm=settings.llm.provider)


def _route(state: LearningState, runtime: Runtime[LearningContext]) -> dict[str, Any]:
    return route_node(state, _ctx(runtime))


def _numeric(state: LearningState, runtime: Runtime[LearningContext]) -> dict[str, Any]:
    return numeric_node(state, _ctx(runtime))


def _retrieve(state: LearningState, runtime: Runtime[LearningContext]) -> dict[str, Any]:
    return retrieve_node(state, _ctx(runtime))


def _answer(state: LearningState, runtime: Runtime[LearningContext]) -> dict[str, Any]:
    return answer_node(state, _ctx(runtime))


def _after_route(state: LearningState) -> str:
    kind = state["intent"]["kind"]
    return {"numeric": "numeric", "narrative": "retrieve"}.get(kind, "answer")


def build_graph(checkpointer: Any = None) -> Any:
    g = StateGraph(LearningState, context_schema=LearningContext)
    g.add_node("route", _route)
    g.add_node("numeric", _numeric)
    g.add_node("retrieve", _retrieve)
    g.add_node("answer", _answer)
    g.add_edge(START, "route")
    g.add_conditional_edges("route", _after_route, {"numeric": "numeric", "retrieve": "retrieve", "answer": "answer"})
    g.add_edge("numeric", "answer")
    g.add_edge("retrieve", "answer")
    g.add_edge("answer", END)
    return g.compile(checkpointer=checkpointer)


def sqlite_checkpointer(data_dir: Path) -> Any:
    """A SqliteSaver on ``<data_dir>/chat/checkpoints.sqlite`` (the caller closes ``saver.conn``)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(data_dir) / CHECKPOINT_RELPATH
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteSaver(sqlite3.connect(str(path), check_same_thread=False))


def ask(question: str, ctx: LearningContext, graph: Any = None, thread_id: str | None = None,
        as_of: str | None = None) -> dict[str, Any]:
    """One question through the graph; returns the final state (answer, intent, evidence)."""
    graph = graph or build_graph()
    config = {"configurable": {"thread_id": thread_id}} if thread_id else None
    return graph.invoke({"question": question, "as_of": as_of}, config=config, context=ctx)


graph = build_graph()
