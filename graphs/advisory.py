"""The live advisory graph: ingest -> decision -> risk -> execute -> record, one trade_cycle_id per cycle.

- ingest: candles + the LIVE broker snapshot -> features; the bot's belief is kept beside the live book.
- decision: BUY / SELL / WAIT from the reasoner (offline policy or Bedrock), with similar past cycles.
- risk: the deterministic guards judge the intent; the reasoner only explains the verdict.
- execute: the guarded executor re-takes a live snapshot, judges again, logs, and only then sends.
- record: trades that closed since are handed to the learning hook and ingested into memory.

Fail closed: a model error, timeout or budget stop is a WAIT with LLM_UNAVAILABLE, which blocks entries;
genuine exits are reduce-only and never wait on advice. A node, tool or offline rule that raises (a code
error) ends the cycle without sending anything new (``graphs.advisory_runner`` then returns a blocked
decision with INTERNAL_ERROR, traceback logged): a bug never hides as LLM_UNAVAILABLE. A memory store that
is down (storage / Chroma errors) only means deciding without similar cycles, logged.

Guard inputs: the executor's ledger and config when there is one; else the context's; else (a LangGraph
server passes no context) the same settings (warden.toml / WARDEN_*) and persisted risk ledger as
``warden run``, re-read every cycle (``guard_inputs``). No path builds a risk state from equity alone.

This module holds the nodes and the graph only. Running it (checkpointers, one cycle, the session
runner) lives in graphs/advisory_checkpoint.py, graphs/advisory_runner.py and graphs/advisory_session.py.
The module-level ``graph`` has no checkpointer: a LangGraph server supplies its own (langgraph.json).
"""
from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.data_ingestion import MarketFeatures, compute_features
from agents.decision import decide
from agents.risk import assess, explain
from graphs.advisory_state import AdvisoryContext, AdvisoryState
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Signal, new_cycle_id
from trading.domain.reason_codes import ReasonCode
from trading.execution.session import SessionFiles
from trading.guards import BrokerSnapshot, GuardConfig, RiskState
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventType
from trading.settings import load_settings

log = logging.getLogger(__name__)

NODES = ("ingest", "decision", "risk", "execute", "record")


# -- helpers ---------------------------------------------------------------------------------------

def _ctx(runtime: Runtime[AdvisoryContext] | None) -> AdvisoryContext:
    ctx = getattr(runtime, "context", None)
    return ctx if isinstance(ctx, AdvisoryContext) else AdvisoryContext()


def _now(state: AdvisoryState, ctx: AdvisoryContext) -> datetime:
    raw = state.get("now")
    return datetime.fromisoformat(raw) if raw else ctx.clock()


def _signal(state: AdvisoryState) -> Signal | None:
    raw = state.get("signal")
    return Signal.model_validate(raw) if raw else None


def emit(ctx: AdvisoryContext, event: EventType, cycle: str, codes: list[ReasonCode] | None = None,
         **payload: Any) -> None:
    """Emit a telemetry event on the context's log (errors always; the rest unless the caller logs them)."""
    events = ctx.events or getattr(ctx.executor, "events", None)
    if events is not None and (ctx.emit_events or event is EventType.ERROR):
        events.emit(event, cycle, codes or [], **payload)


def derive_intent_kind(signal: Signal | None, believed: float | None) -> str:
    """What the loop means by a signal: entry when flat, exit against the held side, nothing otherwise
    (no pyramiding). The belief decides the *meaning*; the guards judge it against the live book."""
    if signal is None or signal.side is None:
        return "none"
    b = believed or 0.0
    if b == 0:
        return "entry"
    return "exit" if b * signal.side.sign < 0 else "none"


def memory_errors() -> tuple[type[BaseException], ...]:
    """What a similar-cycles lookup may raise when the store is down or unreadable (storage, Chroma); a bug
    in the lookup (KeyError, TypeError...) is not in here: it fails the cycle as INTERNAL_ERROR."""
    errs: list[type[BaseException]] = [OSError, sqlite3.Error]
    for mod, name in (("tools.memory.store", "StoreError"), ("chromadb.errors", "ChromaError")):
        cls = getattr(sys.modules.get(mod), name, None)     # loaded whenever a store is open
        if isinstance(cls, type) and issubclass(cls, BaseException):
            errs.append(cls)
    return tuple(errs)


def guard_inputs(ctx: AdvisoryContext, equity: float | None, now: datetime) -> tuple[GuardConfig, RiskState]:
    """The guard config and risk state a cycle is judged with: the executor's; else the context's; else
    what `warden run` reads: the settings and the persisted risk ledger of their data dir (re-read every
    cycle; the caller's equity is folded in as an unwritten mark, the peak comes from the ledger). No path
    builds a risk state from the current equity alone."""
    if ctx.executor is not None:
        return ctx.executor.guards, ctx.executor.ledger.state(now)
    settings = None
    cfg = ctx.guards
    if cfg is None:
        settings = load_settings()
        cfg = settings.guards
    if ctx.risk_state is not None:
        return cfg, ctx.risk_state(now)
    settings = settings or load_settings()
    ledger = RiskLedger(SessionFiles(settings.data_dir).ledger, cfg)
    return cfg, ledger.state_with_mark(equity, now)


# -- nodes -----------------------------------------------------------------------------------------

def ingest(state: AdvisoryState, runtime: Runtime[AdvisoryContext]) -> dict[str, Any]:
    ctx = _ctx(runtime)
    cycle = state.get("trade_cycle_id") or new_cycle_id()
    now = _now(state, ctx)
    sig = _signal(state)
    symbol = sig.symbol if sig else str((state.get("signal") or {}).get("symbol", ""))
    ex = ctx.executor
    if ex is not None:
        snap = ex.snapshot((symbol,))
    elif ctx.snapshot is not None:
        snap = ctx.snapshot(symbol)
    else:   # server mode: the caller states the live position; absent means unknown (never flat)
        live = state.get("live_position")
        snap = BrokerSnapshot(positions=None if live is None else {symbol: float(live)},
                              equity=state.get("equity"),
                              position_error=None if live is not None else "no live position given",
                              marks={symbol: sig.price} if sig and sig.price else {})
    if sig is not None and sig.price is not None and symbol not in snap.marks:
        snap = snap.model_copy(update={"marks": {**snap.marks, symbol: sig.price}})
    believed = state.get("believed_position")
    stop = avg = None
    trade = ex.open_trade(symbol) if ex is not None else None
    if trade is not None:
        stop = trade.stop
        avg = trade.ref_price
        if believed is None:
            believed = trade.side.sign * trade.qty
    bars: Sequence[Any] = ctx.bars(symbol) if ctx.bars is not None else state.get("bars") or []
    feats = compute_features(symbol, bars, snap.position(symbol), believed, avg_price=avg,
                             protective_stop=stop, extra=sig.features if sig else None)
    kind = state.get("intent_kind") or derive_intent_kind(sig, believed)
    if sig is not None:
        emit(ctx, EventType.SIGNAL, cycle, label=sig.label, side=sig.side.value if sig.side else None,
              confidence=sig.confidence, price=sig.price, stop=sig.stop, target=sig.target, intent_kind=kind,
              believed_position=believed, live_position=snap.position(symbol))
    return {"trade_cycle_id": cycle, "now": now.isoformat(), "intent_kind": kind,
            "believed_position": believed, "features": feats.model_dump(mode="json"),
            "snapshot": snap.model_dump(mode="json")}


def decision(state: AdvisoryState, runtime: Runtime[AdvisoryContext]) -> dict[str, Any]:
    ctx = _ctx(runtime)
    cycle, now, sig = state["trade_cycle_id"], _now(state, ctx), _signal(state)
    kind = state.get("intent_kind") or "none"
    if sig is None or kind == "none":
        adv = Advisory(action=AdvisoryAction.WAIT, confidence=1.0, rationale="no order this cycle",
                       source="graph", ts=now)
        return {"advisory": adv.model_dump(mode="json"), "similar": []}
    feats = MarketFeatures.model_validate(state["features"])
    similar: list[dict[str, Any]] = []
    errors: list[str] = []
    # memory informs entries; an exit is never held back by advice, so it skips the lookup
    if ctx.similar is not None and kind != "exit":
        try:
            similar = [dict(c) for c in ctx.similar(feats, sig)]
        except memory_errors() as exc:   # memory is context, not a gate: decide without it, loudly
            log.error("cycle %s: similar-cycle lookup failed: %s: %s", cycle, type(exc).__name__, exc)
            errors.append(f"memory: {type(exc).__name__}: {exc}")
            emit(ctx, EventType.ERROR, cycle, stage="memory", error=errors[-1])
    adv, _ = decide(ctx.reasoner, sig, feats, kind, similar, cycle, now)
    emit(ctx, EventType.ADVISORY, cycle, adv.reason_codes, action=adv.action.value,
          confidence=adv.confidence, rationale=adv.rationale, source=adv.source, similar_cycles=len(similar))
    return {"advisory": adv.model_dump(mode="json"), "similar": similar, "errors": errors}


def _intent(state: AdvisoryState, sig: Signal, now: datetime) -> OrderIntent:
    kind = IntentKind.EXIT if state["intent_kind"] == "exit" else IntentKind.ENTRY
    believed = state.get("believed_position") or 0.0
    qty = state.get("qty") or (abs(believed) if kind is IntentKind.EXIT and believed else 1.0)
    assert sig.side is not None
    entry = kind is IntentKind.ENTRY
    # an exit carries no levels: it is sent reduce-only with no bracket, so levels would protect nothing
    return OrderIntent(kind=kind, side=sig.side, qty=qty, symbol=sig.symbol, price=sig.price,
                       stop=sig.stop if entry else None, target=sig.target if entry else None,
                       reduce_only=not entry, trade_cycle_id=state["trade_cycle_id"],
                       signal_confidence=sig.confidence, created_at=now)


def risk(state: AdvisoryState, runtime: Runtime[AdvisoryContext]) -> dict[str, Any]:
    ctx = _ctx(runtime)
    sig, now = _signal(state), _now(state, ctx)
    if sig is None or sig.side is None or state.get("intent_kind") in (None, "none"):
        return {"intent": None, "verdict": None, "explanation": "no order this cycle"}
    if not ctx.preview:
        return {"intent": None, "verdict": None,
                "explanation": "judged by the guards when the session sends the order it maps for the venue"}
    intent = _intent(state, sig, now)
    snap = BrokerSnapshot.model_validate(state["snapshot"])
    cfg, rs = guard_inputs(ctx, state.get("equity", snap.equity), now)
    adv = Advisory.model_validate(state["advisory"])
    verdict, expl = assess(ctx.reasoner, intent, snap, rs, cfg, adv, now, state["trade_cycle_id"])
    return {"intent": intent.model_dump(mode="json"), "verdict": verdict.model_dump(mode="json"),
            "explanation": expl.explanation}


def execute(state: AdvisoryState, runtime: Runtime[AdvisoryContext]) -> dict[str, Any]:
    ctx = _ctx(runtime)
    ex = ctx.executor
    if ex is None or not state.get("intent"):
        return {"execution": None}
    intent = OrderIntent.model_validate(state["intent"])
    adv = Advisory.model_validate(state["advisory"])
    res = ex.submit(intent, adv, _signal(state))
    if ctx.on_execution is not None:
        ctx.on_execution(res)
    out: dict[str, Any] = {"execution": {
        "sent": res.sent, "order_ids": [o.order_id for o in res.orders], "error": res.error,
        "trade_cycle_id": res.trade_cycle_id, "verdict": res.verdict.model_dump(mode="json")}}
    if res.sent and ctx.recorder is not None:
        ctx.recorder.watch([res.trade_cycle_id])
    preview = state.get("verdict") or {}
    if (preview.get("allowed"), preview.get("reason_codes")) != (res.verdict.allowed,
                                                                 [c.value for c in res.verdict.reason_codes]):
        # the book moved between the risk node and the send: explain the verdict that counted
        out["explanation"] = explain(ctx.reasoner, res.verdict, state["trade_cycle_id"]).explanation
    return out


def record(state: AdvisoryState, runtime: Runtime[AdvisoryContext]) -> dict[str, Any]:
    ctx = _ctx(runtime)
    if ctx.recorder is None:
        return {"recorded": []}
    return {"recorded": ctx.recorder.record_closed(state.get("trade_cycle_id"))}


def build_graph(checkpointer: Any = None) -> Any:
    g = StateGraph(AdvisoryState, context_schema=AdvisoryContext)
    for name, fn in zip(NODES, (ingest, decision, risk, execute, record)):
        g.add_node(name, fn)
    g.add_edge(START, NODES[0])
    for a, b in zip(NODES, NODES[1:]):
        g.add_edge(a, b)
    g.add_edge(NODES[-1], END)
    return g.compile(checkpointer=checkpointer)


graph = build_graph()   # for langgraph.json / a LangGraph server, which brings its own checkpointer
