"""The learning StateGraph: routing edges, and conversation memory only through the checkpointer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import graphs.learning as gl
from agents.learning import LearningContext
from agents.llm import OfflineReasoner
from tools.memory.ingest import ingest_outcomes
from tools.memory.store import RagStore
from tools.samples.outcomes import generate


@pytest.fixture()
def ctx(tmp_path: Path) -> LearningContext:
    store = RagStore.open(tmp_path)
    ingest_outcomes(store, [o for o, _ in generate(60, seed=31)])
    return LearningContext(data_dir=tmp_path, store=store, reasoner=OfflineReasoner())


def test_module_graph_is_compiled_for_langgraph_json() -> None:
    doc = json.loads((Path(__file__).resolve().parents[1] / "langgraph.json").read_text())
    assert doc["graphs"]["learning"] == "./graphs/learning.py:graph"
    assert set(gl.graph.get_graph().nodes) >= {"route", "numeric", "retrieve", "answer"}


def test_routes_take_the_right_path(ctx: LearningContext) -> None:
    g = gl.build_graph()
    steps = [list(s) for s in g.stream({"question": "win rate by side", "as_of": None}, context=ctx,
                                       stream_mode="updates")]
    assert [k for s in steps for k in s] == ["route", "numeric", "answer"]
    steps = [list(s) for s in g.stream({"question": "what is our sharpe ratio?"}, context=ctx, stream_mode="updates")]
    assert [k for s in steps for k in s] == ["route", "answer"]
    steps = [list(s) for s in g.stream({"question": "why did we lose?"}, context=ctx, stream_mode="updates")]
    assert [k for s in steps for k in s] == ["route", "retrieve", "answer"]


def test_follow_up_needs_the_checkpointer(ctx: LearningContext, tmp_path: Path) -> None:
    # without a checkpointer each question stands alone
    plain = gl.build_graph()
    gl.ask("win rate against a WAIT advisory", ctx, plain)
    alone = gl.ask("and when it said BUY?", ctx, plain)
    assert not alone["intent"]["followup"]
    # with one, the thread remembers -- even across graph objects (a new `warden chat` process)
    saver = gl.sqlite_checkpointer(tmp_path)
    try:
        gl.ask("win rate against a WAIT advisory", ctx, gl.build_graph(saver), thread_id="t")
    finally:
        saver.conn.close()
    saver = gl.sqlite_checkpointer(tmp_path)
    try:
        g = gl.build_graph(saver)
        st = gl.ask("and when it said BUY?", ctx, g, thread_id="t")
        assert st["intent"]["followup"] and st["intent"]["query"]["filter"]["advisory"] == "BUY"
        assert [h["question"] for h in st["history"]] == ["win rate against a WAIT advisory", "and when it said BUY?"]
        # an unanswerable turn leaves the numeric context alone
        gl.ask("win rate by moon phase", ctx, g, thread_id="t")
        st = gl.ask("and SELL?", ctx, g, thread_id="t")
        assert st["intent"]["query"]["filter"]["advisory"] == "SELL"
        assert gl.ask("and SELL?", ctx, g, thread_id="other")["intent"]["followup"] is False
    finally:
        saver.conn.close()
    assert (tmp_path / "chat" / "checkpoints.sqlite").is_file()
