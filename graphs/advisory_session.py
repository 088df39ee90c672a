"""``warden run`` wiring: every cycle of a ``TradingSession`` through the advisory graph, plus RAG memory.

``GraphCycleRunner`` adapts the graph to the session's per-cycle step and advisor plug-in point; it
reports each decision to an optional ``on_decision(decision, executor)`` callback (the CLI's live table
subscribes there: presentation stays in warden/). ``open_memory`` opens the RAG store.
Failure contract: a failing cycle is a blocked decision (see graphs/advisory_runner.py) and ``advisor``
then returns a WAIT with INTERNAL_ERROR (a code error is never relabelled LLM_UNAVAILABLE); a RAG store
that cannot open (storage / Chroma errors, chromadb missing) means no memory, logged once, never a failed
run; ``close`` always closes the checkpointer, even when recording the last trades fails.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphs.advisory_runner import AdvisoryGraph
from graphs.advisory_state import AdvisoryContext, GuardedDecision
from trading.domain.models import Advisory, AdvisoryAction, Signal
from trading.domain.reason_codes import ReasonCode

log = logging.getLogger(__name__)

OnDecision = Callable[[GuardedDecision, Any], None]   # (decision, executor) after every cycle


class GraphCycleRunner:
    """Runs the advisory graph for each cycle of ``trading.execution.session.TradingSession``.

    - ``runner(signal, actx)`` is a full cycle (the execute node sends through the session's executor)
      and returns the executor's ``ExecutionResult`` (or None when nothing was submitted): the call
      signature of the session's per-cycle step.
    - ``runner.advisor(signal, actx)`` is the same graph for the session's existing ``advisor`` plug-in
      point: the execute node defers to the session, which submits through the same executor (and, for
      a venue that maps signals to its own instruments, judges the mapped order: no risk preview then).
    ``actx`` is ``trading.execution.advisor.AdvisorContext`` (symbol, now, bars, position, intent_kind, trade_cycle_id).
    """

    def __init__(self, executor: Any, reasoner: Any, *, qty: float = 1.0, similar: Any = None,
                 recorder: Any = None, checkpointer: str | None = "sqlite", data_dir: Path | str = "rag_data",
                 on_decision: OnDecision | None = None) -> None:
        self.executor = executor
        self.reasoner = reasoner
        self.qty = qty
        self.similar = similar
        self.recorder = recorder
        self.on_decision = on_decision
        self.graph = AdvisoryGraph(checkpointer, data_dir)
        self.decisions = 0
        self.last: GuardedDecision | None = None

    @classmethod
    def for_session(cls, session: Any, settings: Any, llm: str = "offline", *,
                    checkpointer: str | None = None, rag: bool = True,
                    on_decision: OnDecision | None = None) -> GraphCycleRunner:
        """Wire a runner to an opened session: reasoner from --llm, the RAG store under data_dir (when
        one can be opened), the outcome recorder on the session's journal and learning hooks."""
        from agents.llm import get_reasoner
        from agents.outcome_recorder import OutcomeRecorder

        ex = session.executor
        data_dir = session.files.data_dir if getattr(session, "files", None) else settings.data_dir
        similar = ingest = None
        if rag:
            similar, ingest = open_memory(data_dir, settings, ex.venue)
        recorder = None
        if ex.journal is not None and getattr(session, "hooks", None) is not None:
            recorder = OutcomeRecorder(ex.journal, session.hooks, ingest, ex.events,
                                       closed_count=lambda: ex.stats["trades_closed"])
        return cls(ex, get_reasoner(llm, settings), qty=session.qty, similar=similar, recorder=recorder,
                   checkpointer=checkpointer, data_dir=data_dir, on_decision=on_decision)

    def _context(self, actx: Any, execute: bool, box: list[Any]) -> AdvisoryContext:
        ex = self.executor
        bars = list(actx.bars)
        return AdvisoryContext(
            reasoner=self.reasoner, guards=ex.guards, executor=ex if execute else None,
            snapshot=lambda s: ex.snapshot((s,)), risk_state=ex.risk_state, bars=lambda s: bars,
            on_storage_failure=ex.storage_failed,
            similar=self.similar, recorder=self.recorder, events=ex.events, clock=lambda: actx.now,
            emit_events=execute, on_execution=box.append,
            # a venue that maps the signal to another instrument (a Polymarket share for a BTC view)
            # is judged only on the mapped order, which the session builds after the advice
            preview=execute or not callable(getattr(ex.broker, "market_for", None)))

    def _run(self, signal: Signal, actx: Any, execute: bool) -> tuple[GuardedDecision, Any]:
        box: list[Any] = []
        trade = self.executor.open_trade(actx.symbol) if actx.intent_kind == "exit" else None
        qty = trade.qty if trade is not None else self.qty
        d = self.graph.run(signal, self._context(actx, execute, box), trade_cycle_id=actx.trade_cycle_id,
                           intent_kind=actx.intent_kind, qty=qty, believed_position=actx.position,
                           now=actx.now)
        self.decisions += 1
        self.last = d
        if self.on_decision is not None:
            self.on_decision(d, self.executor)
        return d, (box[-1] if box else None)

    def __call__(self, signal: Signal, actx: Any) -> Any:
        return self._run(signal, actx, execute=True)[1]

    def advisor(self, signal: Signal, actx: Any) -> Advisory:
        d, _ = self._run(signal, actx, execute=False)
        if d.advisory is None:   # the graph failed before advising (a code error): fail closed, named so
            return Advisory(action=AdvisoryAction.WAIT, confidence=0.0, advisory_only=False, source="graph",
                            rationale=f"advisory graph failed: {d.error}", ts=actx.now,
                            reason_codes=list(d.reason_codes) or [ReasonCode.INTERNAL_ERROR])
        return d.advisory

    def finish(self) -> list[str]:
        """Record trades that closed after the last cycle (e.g. flattened at the end of a replay)."""
        return self.recorder.record_closed() if self.recorder is not None else []

    def close(self) -> None:
        try:
            self.finish()
        finally:
            flush = getattr(getattr(self.recorder, "ingest", None), "flush", None)
            if callable(flush):
                flush()
            self.graph.close()


def open_memory(data_dir: Path | str, settings: Any, venue: str) -> tuple[Any, Any]:
    """(similar-cycles lookup, outcome ingest) over the RAG store, or (None, None) if it cannot open."""
    try:
        from chromadb.errors import ChromaError

        from agents.decision import RagSimilarCycles
        from tools.memory.ingest import OutcomeIngestBuffer
        from tools.memory.store import RagStore, StoreError
    except ImportError as exc:   # the memory extra is not installed: decide without memory, say so once
        log.warning("RAG store unavailable (%s): decisions run without similar cycles", exc)
        return None, None
    try:
        store = RagStore.open(data_dir, settings)
    except (StoreError, ChromaError, OSError, sqlite3.Error) as exc:   # no store: decide without memory, once
        log.warning("RAG store unavailable under %s (%s: %s): decisions run without similar cycles",
                    data_dir, type(exc).__name__, exc)
        return None, None
    # the table behind numeric questions is upserted in batches; close() flushes the rest
    return (RagSimilarCycles(store, venue, rule=getattr(settings, "memory_rule", None)),
            OutcomeIngestBuffer(store))
