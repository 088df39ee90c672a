"""The learning agent's graph nodes: route, numeric, retrieve, answer (wired in graphs/learning.py).

Flow: ``route`` (agents/learning_router.py's rules; with a model configured the model writes the query
into ``QueryPlan`` through the seam, validated, one repair, else the rules' reading) -> ``numeric`` (pandas tools over the outcomes table) |
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
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from agents.learning_answers import compose, rerank
from agents.learning_router import Intent, Known, route_question
from agents.llm import LLMUnavailable, Reasoner, get_reasoner
from tools.memory.counterfactual import SignalsTable
from tools.memory.outcomes_table import OutcomesTable
from tools.memory.query import NumericQuery
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


QUERY_ROLE = "learning_query"
QUERY_PROMPT = """Translate the operator's question about past trades into Warden's query language (the
tool schema). Use only the fields and values the schema allows; dates are relative to evidence.as_of
(ISO, UTC); a follow-up ("and ...", "what about ...", a bare filter) starts from evidence.previous_query,
any other question starts fresh. For several metrics in one question, give one query per metric. If a
word cannot be mapped to the schema, answer kind "unanswerable" and list it in unknown_terms; never
answer a different question than asked, and never compute a number yourself. Questions about what
happened after WAIT advisories or what the guards blocked use dataset "signals"."""


class QueryPlan(BaseModel):
    """The queries that answer the operator's question, in Warden's query language (validated before it runs)."""
    model_config = ConfigDict(extra="forbid")

    kind: Literal["numeric", "narrative", "unanswerable"]
    queries: list[NumericQuery] = Field(default_factory=list, max_length=3)
    unknown_terms: list[str] = Field(default_factory=list, max_length=10)
    reason: str = Field(default="", max_length=300)


def _plan_of(intent: Intent) -> QueryPlan:
    qs = [intent.query, *intent.also] if intent.query is not None else []
    return QueryPlan(kind=intent.kind, queries=qs, unknown_terms=intent.unknown_terms[:10], reason=intent.reason[:300])


def model_intent(reasoner: Reasoner, question: str, context: Mapping[str, Any] | None, known: Known,
                 rules: Intent, as_of: datetime | None, now: datetime) -> Intent:
    """The model writes the query (structured output into ``QueryPlan``); the seam validates it and gives
    one repair attempt; a model that still fails (``LLMUnavailable``) leaves the offline reading in place.
    A validated plan runs with the question's as-of, whatever the model wrote there."""
    ev = {"question": question, "as_of": now.isoformat(), "previous_query": (context or {}).get("query"),
          "known_values": {"symbols": sorted(known.symbols)[:200], "assets": sorted(known.assets)[:50]}}
    try:
        plan = reasoner.reason(QUERY_ROLE, QUERY_PROMPT, ev, QueryPlan, lambda _ev: _plan_of(rules))
    except LLMUnavailable as exc:
        log.warning("learning: %s wrote no valid query for %r (%s); using the offline reading", reasoner.name,
                    question, exc)
        return rules
    if plan.kind == "numeric" and not plan.queries:
        return rules                      # a numeric plan with no query: nothing validated to run
    if plan.kind != "numeric":
        return Intent(kind=plan.kind, search_text=question, unknown_terms=plan.unknown_terms,
                      reason=plan.reason or f"{reasoner.name} found no query for this", source=reasoner.name)
    qs = [q.model_copy(update={"as_of": as_of}) for q in plan.queries]
    return Intent(kind="numeric", query=qs[0], also=qs[1:], reason=f"query written by {reasoner.name}",
                  source=reasoner.name, followup=rules.followup)


def route_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    now, as_of = _now(state)
    df = ctx.table().load()
    known = Known.from_frame(df)
    intent = route_question(state["question"], state.get("context"), now, known, as_of=as_of)
    reasoner = ctx.get_reasoner()
    if reasoner.name != "offline" and not intent.cycle_ids:
        intent = model_intent(reasoner, state["question"], state.get("context"), known, intent, as_of, now)
    log.info("learning: %r routed %s%s", state["question"], intent.kind, " (follow-up)" if intent.followup else "")
    return {"intent": intent.model_dump(mode="json"), "evidence": {}, "answer": {}}


def _frame(ctx: LearningContext, dataset: str) -> pd.DataFrame:
    if dataset == "signals":
        return SignalsTable.in_data_dir(ctx.data_dir).load()
    return ctx.table().load()


def numeric_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    intent = Intent.model_validate(state["intent"])
    assert intent.query is not None
    res = run_query(_frame(ctx, intent.query.dataset), intent.query)
    more = [run_query(_frame(ctx, q.dataset), q).model_dump(mode="json") for q in intent.also]
    ev = {"question": state["question"], "kind": "numeric", "result": res.model_dump(mode="json"),
          "more": more, "as_of": state.get("as_of"), "read_as": intent.reason,
          "query_source": intent.source}
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
