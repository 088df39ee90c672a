"""The live advisory graph: ingest -> decision -> risk -> execute -> record, one trade_cycle_id per cycle.

- ingest: candles + the LIVE broker snapshot -> features; the bot's belief is kept beside the live book.
- decision: BUY / SELL / WAIT from the reasoner (offline policy or Bedrock), with similar past cycles.
- risk: the deterministic guards judge the intent; the reasoner only explains the verdict.
- execute: the guarded executor re-takes a live snapshot, judges again, logs, and only then sends.
- record: trades that closed since are handed to the learning hook and ingested into memory.

Fail closed: a model error, timeout or budget stop is a WAIT with LLM_UNAVAILABLE, which blocks entries;
genuine exits are reduce-only and never wait on advice. A node that raises ends the cycle without
sending anything new (``advise`` then returns a blocked decision with GUARD_ERROR).

Checkpointing: SQLite by default (``<data_dir>/checkpoints/advisory.sqlite``, one thread per run, with
the trade_cycle_id in the checkpoint metadata so a cycle can be found and inspected by its id);
``postgresql://...`` uses langgraph-checkpoint-postgres (imported only then) for several processes
sharing one store; ``memory`` / ``none`` for tests and benches.
The module-level ``graph`` has no checkpointer: a LangGraph server supplies its own (langgraph.json).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents.data_ingestion import compute_features
from agents.decision import decide
from agents.risk import assess, explain
from graphs.advisory_state import AdvisoryContext, AdvisoryState, GuardedDecision
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Signal, new_cycle_id
from trading.domain.reason_codes import ReasonCode
from trading.guards import BrokerSnapshot, GuardVerdict, RiskState
from trading.records.telemetry import EventType

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


def _emit(ctx: AdvisoryContext, event: EventType, cycle: str, codes: list[ReasonCode] | None = None,
          **payload: Any) -> None:
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
        _emit(ctx, EventType.SIGNAL, cycle, label=sig.label, side=sig.side.value if sig.side else None,
              confidence=sig.confidence, price=sig.price, stop=sig.stop, target=sig.target, intent_kind=kind,
              believed_position=believed, live_position=snap.position(symbol))
    return {"trade_cycle_id": cycle, "now": now.isoformat(), "intent_kind": kind,
            "believed_position": believed, "features": feats.model_dump(mode="json"),
            "snapshot": snap.model_dump(mode="json")}


def decision(state: AdvisoryState, runtime: Runtime[AdvisoryContext]) -> dict[str, Any]:
    from agents.data_ingestion import MarketFeatures

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
        except Exception as exc:   # memory is context, not a gate: decide without it, loudly
            log.error("cycle %s: similar-cycle lookup failed: %s: %s", cycle, type(exc).__name__, exc)
            errors.append(f"memory: {type(exc).__name__}: {exc}")
            _emit(ctx, EventType.ERROR, cycle, stage="memory", error=errors[-1])
    adv, _ = decide(ctx.reasoner, sig, feats, kind, similar, cycle, now)
    _emit(ctx, EventType.ADVISORY, cycle, adv.reason_codes, action=adv.action.value,
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
    if ctx.executor is not None:
        rs = ctx.executor.ledger.state(now)
        cfg = ctx.executor.guards
    else:
        cfg = ctx.guards
        if ctx.risk_state is not None:
            rs = ctx.risk_state(now)
        else:
            eq = state.get("equity", snap.equity)
            rs = RiskState(equity=eq, peak_equity=eq)
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


# -- checkpointers ---------------------------------------------------------------------------------

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


# -- running one cycle -----------------------------------------------------------------------------

def _decision_from(state: dict[str, Any]) -> GuardedDecision:
    ex = state.get("execution") or {}
    vraw = ex.get("verdict") or state.get("verdict")
    v = GuardVerdict.model_validate(vraw) if vraw else None
    return GuardedDecision(
        trade_cycle_id=ex.get("trade_cycle_id") or state["trade_cycle_id"],
        advisory=Advisory.model_validate(state["advisory"]) if state.get("advisory") else None,
        allowed=bool(v and v.allowed), reason_codes=list(v.reason_codes) if v else [],
        judged_as=v.judged_as if v else None, intent=v.intent if v else None,
        explanation=state.get("explanation", ""), executed=bool(ex.get("sent")),
        order_ids=list(ex.get("order_ids") or []),
        error=ex.get("error") or ("; ".join(state.get("errors") or []) or None),
        features=state.get("features") or {}, similar_cycles=len(state.get("similar") or []))


class AdvisoryGraph:
    """A compiled advisory graph with its checkpointer; ``run`` is one cycle. Close it when done."""

    def __init__(self, checkpointer: str | None = "sqlite", data_dir: Path | str = "rag_data",
                 durability: str = "exit") -> None:
        self._stack = ExitStack()
        self.saver = make_checkpointer(checkpointer, data_dir, self._stack)
        self.graph = build_graph(self.saver)
        # "exit": one checkpoint per cycle, written when the cycle ends (the executor has already
        # journalled and logged everything that matters before sending); "sync" writes one per node.
        self.durability = durability if self.saver is not None else None
        self.failures = 0
        self._lock = threading.Lock()

    def run(self, signal: Signal | dict[str, Any] | None, context: AdvisoryContext | None = None, *,
            trade_cycle_id: str | None = None, intent_kind: str | None = None, qty: float | None = None,
            believed_position: float | None = None, now: datetime | None = None) -> GuardedDecision:
        ctx = context or AdvisoryContext()
        cycle = trade_cycle_id or new_cycle_id()
        sig = signal.model_dump(mode="json") if isinstance(signal, Signal) else signal
        inp: dict[str, Any] = {"trade_cycle_id": cycle, "now": (now or ctx.clock()).isoformat(),
                               "signal": sig, "errors": []}
        for k, v in (("intent_kind", intent_kind), ("qty", qty), ("believed_position", believed_position)):
            if v is not None:
                inp[k] = v
        # one checkpoint thread per run (an exit reuses its trade's cycle id: a fresh thread keeps the entry's
        # state from leaking into it); the cycle id is in the metadata: saver.list(None, filter={...})
        config = {"configurable": {"thread_id": f"{cycle}/{uuid.uuid4().hex[:12]}"},
                  "metadata": {"trade_cycle_id": cycle}}
        try:
            kw = {"durability": self.durability} if self.durability else {}
            state = self.graph.invoke(inp, config, context=ctx, **kw)
        except Exception as exc:   # fail closed: nothing new is sent after a node failed; loud, counted
            with self._lock:
                self.failures += 1
            log.exception("advisory cycle %s failed", cycle)
            _emit(ctx, EventType.ERROR, cycle, [ReasonCode.GUARD_ERROR], stage="advisory_graph",
                  error=f"{type(exc).__name__}: {exc}")
            return GuardedDecision(trade_cycle_id=cycle, allowed=False, reason_codes=[ReasonCode.GUARD_ERROR],
                                   error=f"{type(exc).__name__}: {exc}")
        return _decision_from(state)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> AdvisoryGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: dict[tuple[str | None, str], AdvisoryGraph] = {}
_default_lock = threading.Lock()


def advise(signal: Signal | dict[str, Any], context: AdvisoryContext | None = None, *,
           checkpointer: str | None = "sqlite", data_dir: Path | str | None = None,
           **kw: Any) -> GuardedDecision:
    """Run one advisory cycle in-process and return the guarded decision.

    ``context`` carries the live dependencies (executor or snapshot/risk-state readers, reasoner, RAG
    lookup); without an executor nothing is sent and ``allowed`` tells the bot whether the guards would
    let the (adjusted) ``intent`` through. Keyword arguments: ``intent_kind``, ``qty``,
    ``believed_position``, ``trade_cycle_id``, ``now``.
    """
    if data_dir is None:
        from trading.settings import load_settings

        data_dir = load_settings().data_dir
    key = (checkpointer, str(data_dir))
    with _default_lock:
        g = _default.get(key)
        if g is None:
            g = _default[key] = AdvisoryGraph(checkpointer, data_dir)
    return g.run(signal, context, **kw)


# -- `warden run`: every cycle through the graph ---------------------------------------------------

class GraphCycleRunner:
    """Runs the advisory graph for each cycle of ``trading.execution.session.TradingSession``.

    - ``runner(signal, actx)`` is a full cycle (the execute node sends through the session's executor)
      and returns the executor's ``ExecutionResult`` (or None when nothing was submitted): the call
      signature of the session's per-cycle step.
    - ``runner.advisor(signal, actx)`` is the same graph for the session's existing ``advisor`` plug-in
      point: the execute node defers to the session, which submits through the same executor (and, for
      a venue that maps signals to its own instruments, judges the mapped order: no risk preview then).
    ``actx`` is ``trading.execution.session.AdvisorContext`` (symbol, now, bars, position, intent_kind, trade_cycle_id).
    """

    def __init__(self, executor: Any, reasoner: Any, *, qty: float = 1.0, similar: Any = None,
                 recorder: Any = None, checkpointer: str | None = "sqlite", data_dir: Path | str = "rag_data",
                 display: LiveDisplay | None = None) -> None:
        self.executor = executor
        self.reasoner = reasoner
        self.qty = qty
        self.similar = similar
        self.recorder = recorder
        self.display = display
        self.graph = AdvisoryGraph(checkpointer, data_dir)
        self.decisions = 0
        self.last: GuardedDecision | None = None

    @classmethod
    def for_session(cls, session: Any, settings: Any, llm: str = "offline", *,
                    checkpointer: str | None = None, rag: bool = True,
                    display: LiveDisplay | None = None) -> GraphCycleRunner:
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
                   checkpointer=checkpointer, data_dir=data_dir, display=display)

    def _context(self, actx: Any, execute: bool, box: list[Any]) -> AdvisoryContext:
        ex = self.executor
        bars = list(actx.bars)
        return AdvisoryContext(
            reasoner=self.reasoner, guards=ex.guards, executor=ex if execute else None,
            snapshot=lambda s: ex.snapshot((s,)), risk_state=ex.ledger.state, bars=lambda s: bars,
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
        if self.display is not None:
            self.display.update(d, self.executor)
        return d, (box[-1] if box else None)

    def __call__(self, signal: Signal, actx: Any) -> Any:
        return self._run(signal, actx, execute=True)[1]

    def advisor(self, signal: Signal, actx: Any) -> Advisory:
        d, _ = self._run(signal, actx, execute=False)
        if d.advisory is None:   # the graph failed before advising: fail closed
            return Advisory(action=AdvisoryAction.WAIT, confidence=0.0, advisory_only=False, source="graph",
                            rationale=f"advisory graph failed: {d.error}", ts=actx.now,
                            reason_codes=[ReasonCode.LLM_UNAVAILABLE])
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
        from agents.decision import RagSimilarCycles
        from tools.memory.store import OutcomeIngestBuffer, RagStore

        store = RagStore.open(data_dir, settings)
    except Exception as exc:   # no store: decide without memory, and say so once
        log.warning("RAG store unavailable under %s (%s: %s): decisions run without similar cycles",
                    data_dir, type(exc).__name__, exc)
        return None, None
    # the table behind numeric questions is upserted in batches; close() flushes the rest
    return RagSimilarCycles(store, venue), OutcomeIngestBuffer(store)


class LiveDisplay:
    """A Rich live table of the last cycles: time, cycle, advice, verdict, position, PnL."""

    def __init__(self, console: Any = None, rows: int = 12, start_equity: float | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.rows: list[tuple[str, ...]] = []
        self.max_rows = rows
        self.start_equity = start_equity
        self._live: Any = None

    def __enter__(self) -> LiveDisplay:
        from rich.live import Live

        self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def _table(self) -> Any:
        from rich.table import Table

        t = Table(title="warden advisory cycles", expand=False)
        for col in ("time", "cycle", "advice", "verdict", "position", "PnL"):
            t.add_column(col)
        for r in self.rows:
            t.add_row(*r)
        return t

    def update(self, d: GuardedDecision, executor: Any = None) -> None:
        acct = getattr(executor, "last_account", None)
        equity = getattr(acct, "equity", None)
        if self.start_equity is None and equity is not None:
            self.start_equity = equity
        known = equity is not None and self.start_equity is not None
        pnl = f"{equity - self.start_equity:+,.2f}" if known else "?"
        pos = d.features.get("live_position")
        adv = f"{d.action} {d.advisory.confidence:.2f}" if d.advisory else "-"
        if d.intent is None:
            verdict = "advice only" if d.advisory and d.advisory.action is not AdvisoryAction.WAIT else "-"
        else:
            verdict = ("SENT " if d.executed else "ALLOW " if d.allowed else "BLOCK ") + \
                (",".join(c.value for c in d.reason_codes) or "-")
        when = d.advisory.ts.strftime("%Y-%m-%d %H:%M") if d.advisory else ""
        self.rows = (self.rows + [(when, d.trade_cycle_id[:8], adv, verdict, str(pos), pnl)])[-self.max_rows:]
        if self._live is not None:
            self._live.update(self._table())
