"""The learning agent's graph nodes: route, numeric, retrieve, answer (wired in graphs/learning.py).

Flow: ``route`` (agents/learning_router.py) -> ``numeric`` (pandas tools over the outcomes table) |
``retrieve`` (documents and named trade cycles from the RAG store) -> ``answer`` (agents/learning_answers.py).
``LearningContext`` carries the run-scoped resources (data dir, reasoner, store), never checkpointed.
Failure contract: the nodes never guess; a missing table answers from zero rows ("the data cannot
answer"); a named cycle absent from the store is reported as unknown; store errors propagate.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from agents.learning_answers import compose, rerank
from agents.learning_router import Intent, Known, route_question
from agents.llm import Reasoner, get_reasoner
from tools.memory.outcomes_table import OutcomesTable
from tools.memory.questions import run_query

log = logging.getLogger(__name__)


@dataclass
class LearningContext:
    """Run-scoped resources: never checkpointed. The store opens lazily (narrative questions only)."""
    data_dir: Path = Path("rag_data")
    settings: Any = None
    llm: str = "offline"
    reasoner: Reasoner | None = None
    store: Any = None
    k_documents: int = 4
    k_similar: int = 3

    def get_reasoner(self) -> Reasoner:
        if self.reasoner is None:
            self.reasoner = get_reasoner(self.llm, self.settings)
        return self.reasoner

    def get_store(self) -> Any:
        if self.store is None:
            from tools.memory.store import RagStore

            self.store = RagStore.open(self.data_dir, self.settings)
        return self.store

    def table(self) -> OutcomesTable:
        return self.store.table if self.store is not None else OutcomesTable.in_data_dir(self.data_dir)


def _now(state: Mapping[str, Any]) -> tuple[datetime, datetime | None]:
    raw = state.get("as_of")
    if raw:
        d = datetime.fromisoformat(raw)
        d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
        return d, d
    return datetime.now(UTC), None


def route_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    now, as_of = _now(state)
    df = ctx.table().load()
    intent = route_question(state["question"], state.get("context"), now, Known.from_frame(df), as_of=as_of)
    log.info("learning: %r routed %s%s", state["question"], intent.kind, " (follow-up)" if intent.followup else "")
    return {"intent": intent.model_dump(mode="json"), "evidence": {}, "answer": {}}


def numeric_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    intent = Intent.model_validate(state["intent"])
    assert intent.query is not None
    res = run_query(ctx.table().load(), intent.query)
    ev = {"question": state["question"], "kind": "numeric", "result": res.model_dump(mode="json"),
          "as_of": state.get("as_of"), "read_as": intent.reason}
    return {"evidence": ev, "context": {"question": state["question"], "query": intent.query.model_dump(mode="json")}}


def _cycle_row(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"trade_cycle_id": str(r["trade_cycle_id"]), "symbol": str(r["symbol"]), "venue": str(r["venue"]),
            "side": str(r["side"]), "qty": float(r["qty"]), "closed_at": pd.Timestamp(r["closed_at"]).isoformat(),
            "won": bool(r["won"]), "pnl_usd": float(r["pnl_usd"]), "advisory_action": str(r["advisory_action"]),
            "reason_codes": str(r["reason_codes"] or "")}


def retrieve_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    from tools.memory.cycle_filter import CycleFilter

    _, as_of = _now(state)
    intent = Intent.model_validate(state["intent"])
    store = ctx.get_store()
    docs = []
    for h in store.query_documents(intent.search_text or state["question"], ctx.k_documents * 4, as_of=as_of):
        m = h.metadata
        date = datetime.fromtimestamp(m["doc_ts"], UTC).date().isoformat() if m.get("doc_ts") is not None else "undated"
        docs.append({"id": h.id, "title": m.get("title", ""), "kind": m.get("kind", ""), "date": date,
                     "source": m.get("source", ""), "text": h.document or "", "distance": round(h.distance, 4)})
    docs = rerank(state["question"], docs, ctx.k_documents)
    df = store.table.load()
    cycles, unknown = [], []
    for cid in intent.cycle_ids:
        rows = df[df["trade_cycle_id"] == cid]
        if as_of is not None:
            rows = rows[rows["closed_at"] <= as_of]
        if rows.empty:
            unknown.append(cid)
            continue
        row = _cycle_row(rows.iloc[0])
        # similar situations: the stored situation vector of this cycle, searched with the same as-of
        sim: list[dict[str, Any]] = []
        got = store.cycles().get(ids=[cid], include=["embeddings"])
        if got["ids"] and got["embeddings"] is not None and len(got["embeddings"]):
            flt = CycleFilter(as_of=as_of) if as_of else None
            for h in store.query_cycles(got["embeddings"][0], ctx.k_similar + 1, flt):
                if h.id != cid:
                    sim.append({"trade_cycle_id": h.id, "won": bool(h.metadata.get("won")),
                                "similarity": round(1.0 - h.distance, 3)})
        else:
            log.warning("cycle %s is in the outcomes table but not in the store: no similar cycles", cid)
        row["similar"] = sim[:ctx.k_similar]
        cycles.append(row)
    ev = {"question": state["question"], "kind": "narrative", "documents": docs, "cycles": cycles,
          "unknown_cycles": unknown, "documents_searched": store.documents().count(), "as_of": state.get("as_of")}
    return {"evidence": ev}


def answer_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    intent = Intent.model_validate(state["intent"])
    ev = dict(state.get("evidence") or {})
    if intent.kind == "unanswerable":
        ev = {"question": state["question"], "kind": "unanswerable", "reason": intent.reason,
              "unknown_terms": intent.unknown_terms}
    ans = compose(ctx.get_reasoner(), ev)
    turn = {"question": state["question"], "kind": ans.kind, "answer": ans.text}
    return {"answer": ans.model_dump(mode="json"), "evidence": ev, "history": [turn]}
