"""The guarded executor: the one entry point through which every order passes.

``submit(intent, advisory)``:
1. takes a LIVE snapshot from the broker (positions, open orders, equity). A read that raises or
   times out makes the position unknown (``positions=None``), which the guards turn into
   POSITION_UNKNOWN: never flat;
2. evaluates the guards (``trading.guards.evaluate``) against it and the persisted risk ledger;
3. writes the verdict to the event log (and the journal) BEFORE anything is sent;
4. only then sends: an entry as a bracket (entry + stop + target, OCA) so a fill is never left
   unprotected; an exit reduce-only, with the side and size the guards derived from the live position.

Fills and status changes come back through broker callbacks into the order tracker and the journal
(idempotent on exec_id); a trade whose fills net to zero gets its outcome recorded, its leftover
orders cancelled and its learning artefacts written. ``reconcile()`` compares the broker with the
journal on start, after reconnects and on a timer (``service()``).

Seed 000 is the reason for every step: an "exit" judged against the bot's belief instead of the live
position opened a naked long with no stop, against a WAIT advisory, and left no trade record.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from trading.brokers.base import (
    AccountSnapshot,
    BracketRequest,
    Broker,
    BrokerUnavailable,
    SupportsReconnectEvents,
)
from trading.domain.contracts import spec_for
from trading.domain.models import Advisory, Fill, IntentKind, Order, OrderIntent, OrderStatus, OrderType, Signal, utcnow
from trading.domain.reason_codes import ReasonCode
from trading.execution.order_tracker import OrderTracker, TrackedOrder
from trading.execution.outcome_resolver import OutcomeResolver
from trading.execution.reconcile import ReconcileReport, diff_positions
from trading.guards import BrokerSnapshot, GuardConfig, GuardVerdict, evaluate
from trading.records.journal import Journal, JournalUnwritable, OrderRecord, TradeRecord
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventLog, EventType

log = logging.getLogger(__name__)
T = TypeVar("T")
EPS = 1e-9


class ExecutionResult(BaseModel):
    """What ``submit`` did. ``sent`` is True only when the broker accepted the order(s)."""

    trade_cycle_id: str
    verdict: GuardVerdict
    sent: bool = False
    orders: list[Order] = Field(default_factory=list)
    error: str | None = None
    snapshot: BrokerSnapshot

    @property
    def allowed(self) -> bool:
        return self.verdict.allowed

    @property
    def reason_codes(self) -> list[ReasonCode]:
        return self.verdict.reason_codes


class _TimedReader:
    """Runs broker reads on a worker thread with a deadline. A hung read is abandoned (the worker is
    replaced) and reported as BrokerUnavailable, so one stuck socket cannot freeze the executor."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.timeouts = 0
        self._q: queue.SimpleQueue | None = None

    def _worker(self, q: queue.SimpleQueue) -> None:
        while True:
            fut, fn = q.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # handed to the caller, who decides
                fut.set_exception(exc)

    def call(self, fn: Callable[[], T], what: str) -> T:
        if self._q is None:
            self._q = queue.SimpleQueue()
            threading.Thread(target=self._worker, args=(self._q,), daemon=True, name="broker-read").start()
        fut: Future = Future()
        self._q.put((fut, fn))
        try:
            return fut.result(timeout=self.timeout_s)
        except TimeoutError:
            fut.cancel()
            self._q = None            # the stuck worker keeps its queue; the next read gets a fresh one
            self.timeouts += 1
            raise BrokerUnavailable(f"{what} timed out after {self.timeout_s:g}s") from None


class GuardedExecutor:
    """Guards, then telemetry, then the broker. Construct one per broker connection.

    ``venue`` defaults to the broker's name. ``resolve_by`` maps an entry intent to the time its
    market resolves (Polymarket windows) for the unresolved-outcomes guard. ``read_timeout_s`` bounds
    each broker read on a worker thread when the broker declares ``thread_safe_reads = True``; other
    adapters (ib_async's loop is single-threaded) bound their own reads and raise BrokerUnavailable.
    ``read_timeout_s=None`` reads inline (an in-memory paper broker in a replay cannot hang).
    """

    def __init__(self, broker: Broker, ledger: RiskLedger, events: EventLog, journal: Journal | None,
                 guards: GuardConfig, *, resolver: OutcomeResolver | None = None, venue: str | None = None,
                 read_timeout_s: float | None = 5.0, clock: Callable[[], datetime] = utcnow,
                 resolve_by: Callable[[OrderIntent], datetime | None] | None = None,
                 reconcile_interval_s: float = 60.0, equity_mark_pct: float = 0.25) -> None:
        self.broker = broker
        self.ledger = ledger
        self.events = events
        self.journal = journal
        self.guards = guards
        self.resolver = resolver
        self.venue = venue or getattr(broker, "name", "unknown")
        # positions and open trades are scoped to the broker account (a fresh paper broker is a fresh account)
        self.account = str(getattr(broker, "account_id", "") or self.venue)
        self.clock = clock
        self.resolve_by = resolve_by
        self.reconcile_interval = timedelta(seconds=reconcile_interval_s)
        self.equity_mark_pct = equity_mark_pct
        self.tracker = OrderTracker()
        self.stats: Counter[str] = Counter()
        self.blocked: Counter[str] = Counter()          # blocking reason code -> verdicts
        self.last_reconcile: ReconcileReport | None = None
        threaded = read_timeout_s is not None and getattr(broker, "thread_safe_reads", False)
        self._reader = _TimedReader(read_timeout_s) if threaded else None
        self.last_account: AccountSnapshot | None = None
        self._lock = threading.RLock()
        self._pending_exits: dict[str, str] = {}        # symbol -> trade id: re-size after a partial exit fill
        self._last_reconcile_at: datetime | None = None
        self._exec_since: datetime | None = None
        self._need_reconcile = False
        self._last_mark: float | None = None
        self._equity_dirty = True
        self._recorded: set[str] = set()                # exec ids known to be in the journal
        self._load_from_journal()
        broker.on_fill(self._on_fill)
        broker.on_order_status(self._on_status)
        if isinstance(broker, SupportsReconnectEvents):
            broker.on_reconnect(lambda: self.reconcile("reconnect"))
        on_disc = getattr(broker, "on_disconnect", None)
        if callable(on_disc):
            on_disc(self._on_disconnect)

    # -- broker reads ------------------------------------------------------------------------------
    def _read(self, fn: Callable[[], T], what: str) -> T:
        if self._reader is None:
            return fn()
        return self._reader.call(fn, what)

    def snapshot(self, symbols: tuple[str, ...] = ()) -> BrokerSnapshot:
        """The broker's view now. Any failure to read positions -> positions=None (never flat)."""
        now = self.clock()
        positions: dict[str, float] | None
        err = None
        try:
            positions = {p.symbol: p.qty for p in self._read(self.broker.positions, "positions")}
        except Exception as exc:
            positions, err = None, f"{type(exc).__name__}: {exc}"
            self.stats["position_read_errors"] += 1
            log.error("position read failed: %s", err)
        open_orders = 0
        try:
            open_orders = len(self._read(self.broker.open_orders, "open orders"))
        except Exception as exc:
            self.stats["order_read_errors"] += 1
            log.error("open-order read failed: %s: %s", type(exc).__name__, exc)
        acct = self._account()
        marks: dict[str, float] = {}
        mark_fn = getattr(self.broker, "mark", None)
        if callable(mark_fn):
            for s in symbols:
                m = mark_fn(s)
                if m is not None:
                    marks[s] = float(m)
        return BrokerSnapshot(positions=positions, position_error=err, open_orders=open_orders,
                              equity=acct.equity if acct else None, cash=acct.cash if acct else None,
                              marks=marks, taken_at=now)

    def account_snapshot(self) -> AccountSnapshot | None:
        """Cash and equity now, or None (logged and counted) when the broker cannot say."""
        return self._account()

    def _account(self) -> AccountSnapshot | None:
        try:
            self.last_account = self._read(self.broker.account, "account")
            return self.last_account
        except Exception as exc:
            self.stats["account_read_errors"] += 1
            log.error("account read failed: %s: %s", type(exc).__name__, exc)
            return None

    # -- journal failures halt entries -------------------------------------------------------------
    def _journal_down(self, trade_id: str | None, exc: Exception) -> None:
        self.stats["journal_failures"] += 1
        log.error("JOURNAL UNWRITABLE (trade %s): %s; new entries are halted", trade_id, exc)
        if ReasonCode.JOURNAL_UNWRITABLE not in self.ledger.state().active_halts:
            self.ledger.halt(ReasonCode.JOURNAL_UNWRITABLE, f"{exc}")
            self.events.emit(EventType.HALT, trade_id, [ReasonCode.JOURNAL_UNWRITABLE], detail=str(exc))

    def _j(self, trade_id: str | None, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run a journal write; a failure halts entries (loudly) and returns None."""
        if self.journal is None:
            return None
        try:
            return fn(*args, **kw)
        except JournalUnwritable as exc:
            self._journal_down(trade_id, exc)
            return None

    # -- submit ------------------------------------------------------------------------------------
    def submit(self, intent: OrderIntent, advisory: Advisory | None = None, signal: Signal | None = None, *,
               market_slug: str | None = None, outcome_label: str | None = None,
               resolve_by: datetime | None = None) -> ExecutionResult:
        """Judge ``intent`` against the live book and send it if (and only if) the guards allow it."""
        if intent.kind is IntentKind.PROTECTIVE:
            raise ValueError("protective orders are sent as bracket children of an entry, not on their own")
        with self._lock:
            now = self.clock()
            if intent.kind is IntentKind.EXIT or intent.reduce_only:
                intent = self._attach_exit(intent)
            cycle = intent.trade_cycle_id
            snap = self.snapshot((intent.symbol,))
            if snap.equity is not None:
                self._mark_equity(snap.equity, now)
            verdict = evaluate(intent, snap, self.ledger.state(now), self.guards, advisory, now)
            opening = verdict.allowed and verdict.judged_as is IntentKind.ENTRY and intent.kind is IntentKind.ENTRY
            if resolve_by is None and opening and self.resolve_by is not None:
                resolve_by = self.resolve_by(verdict.intent)
            trade = self._trade_record(verdict, snap, now, advisory, signal, market_slug, outcome_label,
                                       resolve_by) if opening else None
            if not self._log_verdict(verdict, now, trade) and verdict.allowed:
                # the journal refused the verdict and the ledger is now halted: judge again so the block
                # (JOURNAL_UNWRITABLE for an entry; an exit still goes out) is explicit in the log
                verdict = evaluate(intent, snap, self.ledger.state(now), self.guards, advisory, now)
                self._log_verdict(verdict, now)
            self.stats["submitted"] += 1
            if not verdict.allowed:
                self.stats["blocked"] += 1
                for c in verdict.blocking_codes:
                    self.blocked[c.value] += 1
                return ExecutionResult(trade_cycle_id=cycle, verdict=verdict, snapshot=snap)
            if opening:
                return self._send_entry(verdict, snap, now, resolve_by)
            return self._send_exit(verdict, snap, now)

    def _log_verdict(self, v: GuardVerdict, now: datetime, trade: TradeRecord | None = None) -> bool:
        """Event log first (always), then the journal (with the trade row an allowed entry opens, in the
        same transaction); False when the journal refused the write."""
        i = v.intent
        self.events.emit(EventType.GUARD_VERDICT, i.trade_cycle_id, v.reason_codes, allowed=v.allowed,
                         summary=v.summary(), judged_as=v.judged_as.value, intent=i.model_dump(mode="json"),
                         original_side=v.original_intent.side.value, original_qty=v.original_intent.qty,
                         evidence=v.evidence)
        if self.journal is None:
            return True
        try:
            with self.journal.batch():
                self.journal.record_verdict(i.trade_cycle_id, now, i.kind.value, i.side.value, i.qty, v.allowed,
                                            [c.value for c in v.reason_codes], v.judged_as.value, v.evidence)
                if trade is not None:
                    self.journal.open_trade(trade)
        except JournalUnwritable as exc:
            self._journal_down(i.trade_cycle_id, exc)
            return False
        return True

    def _attach_exit(self, intent: OrderIntent) -> OrderIntent:
        """An exit belongs to the trade it closes: use that trade's id so one id spans the whole cycle."""
        if self.journal is None:
            return intent
        known = self.journal.trade(intent.trade_cycle_id)
        if known is not None:
            return intent
        open_trades = self.journal.trades(status=("open", "pending"), symbol=intent.symbol, account=self.account)
        if len(open_trades) == 1:
            self.events.emit(EventType.SIGNAL, open_trades[0].trade_cycle_id, [], note="exit attached to open trade",
                             requested_cycle=intent.trade_cycle_id)
            return intent.model_copy(update={"trade_cycle_id": open_trades[0].trade_cycle_id})
        return intent

    def _trade_record(self, v: GuardVerdict, snap: BrokerSnapshot, now: datetime, advisory: Advisory | None,
                      signal: Signal | None, market_slug: str | None, outcome_label: str | None,
                      resolve_by: datetime | None) -> TradeRecord:
        i = v.intent
        return TradeRecord(
            trade_cycle_id=i.trade_cycle_id, venue=self.venue, account=self.account, symbol=i.symbol, side=i.side,
            qty=i.qty, status="pending", opened_at=now, stop=i.stop, target=i.target,
            ref_price=i.price if i.price is not None else snap.marks.get(i.symbol), resolve_by=resolve_by,
            market_slug=market_slug, outcome_label=outcome_label,
            signal=signal.model_dump(mode="json") if signal else None,
            advisory=advisory.model_dump(mode="json") if advisory else None,
            risk={"worst_case_loss": v.evidence.get("worst_case_loss"),
                  "max_loss_per_trade": self.guards.max_loss_per_trade})

    def _send_entry(self, v: GuardVerdict, snap: BrokerSnapshot, now: datetime,
                    resolve_by: datetime | None) -> ExecutionResult:
        """The trade row was written with the verdict: nothing is sent that the journal cannot follow."""
        i = v.intent
        cycle = i.trade_cycle_id
        spec = spec_for(i.symbol)
        # a binary share's payoff is its own protection: its bracket levels default to 0 and 1
        stop = i.stop if i.stop is not None else (0.0 if spec.bounded_payoff else None)
        target = i.target if i.target is not None else (1.0 if spec.bounded_payoff else None)
        try:
            if i.order_type is OrderType.STP:
                raise ValueError("a bracket entry is MKT or LMT; stop entries are not supported")
            req = BracketRequest(trade_cycle_id=cycle, symbol=i.symbol, side=i.side, qty=i.qty,
                                 entry_type=i.order_type.value,
                                 limit_price=i.price if i.order_type is OrderType.LMT else None,
                                 stop_price=stop, target_price=target)
            bracket = self.broker.place_bracket(req)
        except Exception as exc:
            return self._send_failed(v, snap, exc, now)
        sent = [(bracket.parent, "entry"), (bracket.stop, "stop"), (bracket.target, "target")]
        for o, role in sent:
            self.tracker.register(o, role)
        if self.journal is not None:
            try:
                with self.journal.batch():
                    self.journal.record_orders(sent)
                    self.journal.set_trade_status(cycle, "open")
            except JournalUnwritable as exc:   # the orders are live: keep tracking them; reconcile adopts them
                self._journal_down(cycle, exc)
        for o, role in sent:
            self.events.emit(EventType.ORDER_SENT, cycle, [], order_id=o.order_id, role=role, side=o.side.value,
                             qty=o.qty, order_type=o.order_type.value, limit_price=o.limit_price,
                             stop_price=o.stop_price, parent_id=o.parent_id, oca_group=o.oca_group)
        self.ledger.record_entry(cycle, resolve_by=resolve_by, ts=now)
        self.stats["entries_sent"] += 1
        return ExecutionResult(trade_cycle_id=cycle, verdict=v, sent=True, orders=[o for o, _ in sent], snapshot=snap)

    def _send_exit(self, v: GuardVerdict, snap: BrokerSnapshot, now: datetime) -> ExecutionResult:
        i = v.intent                         # side and size derived from the live position by the guards
        cycle = i.trade_cycle_id
        try:
            o = self.broker.place_reduce_only(cycle, i.symbol, i.side, i.qty,
                                              order_type="LMT" if i.order_type is OrderType.LMT else "MKT",
                                              limit_price=i.price if i.order_type is OrderType.LMT else None)
        except Exception as exc:
            return self._send_failed(v, snap, exc, now)
        self.tracker.register(o, "exit")
        self._j(cycle, self.journal.record_order if self.journal else None, o, "exit")
        self.events.emit(EventType.ORDER_SENT, cycle, [], order_id=o.order_id, role="exit", side=o.side.value,
                         qty=o.qty, order_type=o.order_type.value, reduce_only=True)
        self.stats["exits_sent"] += 1
        return ExecutionResult(trade_cycle_id=cycle, verdict=v, sent=True, orders=[o], snapshot=snap)

    def _send_failed(self, v: GuardVerdict, snap: BrokerSnapshot, exc: Exception, now: datetime) -> ExecutionResult:
        cycle = v.intent.trade_cycle_id
        err = f"{type(exc).__name__}: {exc}"
        self.stats["send_errors"] += 1
        log.error("trade %s: broker refused the order: %s", cycle, err)
        self.events.emit(EventType.ERROR, cycle, [], stage="send", error=err)
        if v.judged_as is IntentKind.ENTRY and self.journal is not None:
            self._j(cycle, self.journal.set_trade_status, cycle, "rejected")
        return ExecutionResult(trade_cycle_id=cycle, verdict=v, snapshot=snap, error=err)

    # -- broker callbacks --------------------------------------------------------------------------
    def _on_fill(self, fill: Fill) -> None:
        with self._lock:
            self._handle_fill(fill, "broker")

    def _cycle_of(self, fill: Fill) -> str | None:
        cycle = self.tracker.cycle_for(fill.order_id) or fill.trade_cycle_id
        if cycle is None and self.journal is not None:
            rec = self.journal.order(fill.order_id)
            cycle = rec.order.trade_cycle_id if rec else None
        return cycle or None

    def _handle_fill(self, fill: Fill, source: str) -> bool:
        """Record one fill exactly once. Returns True if it was new."""
        cycle = self._cycle_of(fill)
        fill = fill.model_copy(update={"trade_cycle_id": cycle})
        if self.tracker.get(fill.order_id) is None and self.journal is not None:
            rec = self.journal.order(fill.order_id)
            if rec is not None:
                self._track_from_journal(rec)
            elif cycle and (trade := self.journal.trade(cycle)) is not None:
                self._adopt_from_fill(fill, trade)
        new = True
        if self.journal is not None:
            try:
                new = self.journal.record_fill(fill, self.account)
            except JournalUnwritable as exc:
                self._journal_down(cycle, exc)
                new = not self.tracker.seen(fill.exec_id)
        if new:
            self._recorded.add(fill.exec_id)
        upd = self.tracker.on_fill(fill, already_recorded=not new)
        if upd.duplicate:
            self.stats["duplicate_fills"] += 1
            return False
        self.stats["fills"] += 1
        role = upd.tracked.role if upd.tracked else "unknown"
        self.events.emit(EventType.FILL, cycle, [], exec_id=fill.exec_id, order_id=fill.order_id, role=role,
                         side=fill.side.value, qty=fill.qty, price=fill.price, commission=fill.commission,
                         fill_ts=fill.ts.isoformat(), source=source)
        self._equity_dirty = True
        if upd.tracked is None:
            # kept (the position is real) but someone else is trading this account: halt new entries
            self.stats["unknown_fills"] += 1
            detail = (f"fill {fill.exec_id} ({fill.side.value} {fill.qty:g} {fill.symbol} @ {fill.price:g}) for order "
                      f"{fill.order_id}, which was not placed through Warden")
            log.error("RECONCILE MISMATCH: %s", detail)
            self.events.emit(EventType.ERROR, cycle, [ReasonCode.RECONCILE_MISMATCH], stage="fill",
                             error="fill for an unknown order", exec_id=fill.exec_id, order_id=fill.order_id)
            self.ledger.halt(ReasonCode.RECONCILE_MISMATCH, detail)
            self.events.emit(EventType.HALT, cycle, [ReasonCode.RECONCILE_MISMATCH], detail=detail)
            return True
        t = upd.tracked
        self._j(cycle, self.journal.update_order if self.journal else None, t.order.order_id, t.order.status,
                filled_qty=t.filled_qty, avg_fill_price=t.avg_price)
        if upd.cancel_remainder:
            # a resting remainder was sized from an older book; cancel it and size a fresh exit from the live one
            self._cancel(t, "partial exit fill: remainder cancelled, re-sized from the live position")
            self._pending_exits[t.order.symbol] = t.trade_cycle_id
        if cycle:
            self._maybe_close(cycle)
        return True

    def _track_from_journal(self, rec: OrderRecord) -> None:
        """Follow a journaled order again: its filled quantity is rebuilt from its recorded fills."""
        self.tracker.register(rec.order.model_copy(update={"filled_qty": 0.0, "avg_fill_price": None}), rec.role)
        for f in self.journal.fills(rec.order.trade_cycle_id) if self.journal is not None else []:
            if f.order_id == rec.order.order_id:
                self.tracker.load_fill(f)

    def _adopt_from_fill(self, fill: Fill, trade: TradeRecord) -> None:
        """A fill for an order of one of our trades that was never journaled (the process died right after
        the send): the order is ours, so it is recorded from what the fill says, not treated as foreign."""
        role = "entry" if fill.side is trade.side else "exit"
        order = Order(order_id=fill.order_id, trade_cycle_id=trade.trade_cycle_id, symbol=fill.symbol,
                      side=fill.side, qty=trade.qty if role == "entry" else fill.qty, order_type=OrderType.MKT,
                      reduce_only=role == "exit", status=OrderStatus.SUBMITTED, created_at=fill.ts,
                      reason="adopted from its fill after a restart")
        self.tracker.register(order, role)
        self._j(trade.trade_cycle_id, self.journal.record_order if self.journal else None, order, role)
        self.stats["orders_adopted"] += 1
        log.warning("trade %s: order %s adopted from fill %s (sent before a restart, never journaled)",
                    trade.trade_cycle_id, fill.order_id, fill.exec_id)

    def _on_status(self, order: Order) -> None:
        with self._lock:
            t = self.tracker.on_status(order)
            if t is None:
                self.stats["unknown_status"] += 1
                log.warning("status %s for order %s not placed through this executor", order.status, order.order_id)
                return
            cycle = t.trade_cycle_id
            self._j(cycle, self.journal.update_order if self.journal else None, t.order.order_id, t.order.status,
                    filled_qty=t.filled_qty, reason=t.order.reason or None)
            if order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
                self.events.emit(EventType.ORDER_STATUS, cycle, [], order_id=order.order_id, role=t.role,
                                 status=order.status.value, reason=order.reason, filled_qty=t.filled_qty)
                if t.role == "entry" and t.filled_qty <= EPS:
                    self._entry_void(cycle, f"entry {order.status.value}: {order.reason}")
            self._maybe_close(cycle)

    def _on_disconnect(self) -> None:
        self._need_reconcile = True

    def _entry_void(self, cycle: str, reason: str) -> None:
        for t in self.tracker.working(cycle):
            self._cancel(t, "entry never filled")
        if self.journal is not None:
            tr = self.journal.trade(cycle)
            if tr is None or tr.status in ("closed", "cancelled"):
                return
            self._j(cycle, self.journal.set_trade_status, cycle, "cancelled")
        self.ledger.void_entry(cycle, reason)

    def _cancel(self, t: TrackedOrder, reason: str) -> None:
        self.tracker.expect_cancel(t.order.order_id, reason)
        try:
            self.broker.cancel(t.order.order_id)
        except Exception as exc:
            self.stats["cancel_errors"] += 1
            log.error("trade %s: cancel of order %s failed: %s", t.trade_cycle_id, t.order.order_id, exc)
            self.events.emit(EventType.ERROR, t.trade_cycle_id, [], stage="cancel", order_id=t.order.order_id,
                             error=f"{type(exc).__name__}: {exc}")
            return
        self.tracker.mark(t.order.order_id, OrderStatus.CANCELLED, reason)
        self._j(t.trade_cycle_id, self.journal.update_order if self.journal else None, t.order.order_id,
                OrderStatus.CANCELLED, reason=reason)

    def entry_done(self, cycle: str) -> bool:
        """No entry quantity of this trade can still fill."""
        entries = [t for t in self.tracker.for_cycle(cycle) if t.role == "entry"]
        if entries:
            return not any(t.working for t in entries)
        if self.journal is not None:
            recs = [r for r in self.journal.orders(cycle) if r.role == "entry"]
            return not any(r.order.status.value in ("pending", "submitted", "partial") for r in recs)
        return True

    def _maybe_close(self, cycle: str) -> None:
        if self.resolver is None or self.journal is None:
            return
        trade = self.journal.trade(cycle)
        if trade is None or trade.status in ("closed", "cancelled", "rejected"):
            return
        out = self.resolver.close_from_fills(cycle, self.entry_done(cycle))
        if out is None:
            return
        self.stats["trades_closed"] += 1
        for t in self.tracker.working(cycle):      # leftover bracket children must never outlive the trade
            self._cancel(t, "trade closed")
        self._pending_exits = {s: c for s, c in self._pending_exits.items() if c != cycle}

    # -- reconciliation ----------------------------------------------------------------------------
    def reconcile(self, trigger: str = "manual") -> ReconcileReport:
        """Broker vs journal. Missed fills are ingested first; what still differs halts new entries."""
        with self._lock:
            now = self.clock()
            self._last_reconcile_at = now
            try:
                positions = {p.symbol: p.qty for p in self._read(self.broker.positions, "positions")}
                open_orders = self._read(self.broker.open_orders, "open orders")
                # a routine timer pass asks only for recent executions; start / reconnect / manual ask for all
                since = self._exec_since if trigger == "timer" else None
                executions = self._read(lambda: self.broker.executions(since), "executions")
            except Exception as exc:
                rep = ReconcileReport(ts=now, trigger=trigger, error=f"{type(exc).__name__}: {exc}")
                self.stats["reconcile_errors"] += 1
                log.error(rep.describe())
                self.events.emit(EventType.RECONCILE, None, [], ok=False, detail=rep.describe())
                self.last_reconcile = rep
                return rep
            self._need_reconcile = False
            self._exec_since = now - timedelta(minutes=10)   # next timer pass: since then (skew margin)
            rep = ReconcileReport(ts=now, trigger=trigger, broker_positions=positions)
            # open orders first: adopt those sent for a journal trade but never journaled (killed after send)
            broker_open = {o.order_id: o for o in open_orders}
            for o in open_orders:
                if self.tracker.get(o.order_id) is not None:
                    continue
                rec = self.journal.order(o.order_id) if self.journal is not None else None
                if rec is not None:
                    self._track_from_journal(rec)
                    continue
                if o.trade_cycle_id and self.journal is not None and self.journal.trade(o.trade_cycle_id):
                    role = ("exit" if o.reduce_only and not o.parent_id else
                            "stop" if o.parent_id and o.order_type is OrderType.STP else
                            "target" if o.parent_id else "entry")
                    self.tracker.register(o, role)
                    self._j(o.trade_cycle_id, self.journal.record_order, o, role)
                    rep.adopted_orders.append(o.order_id)
                else:
                    rep.unknown_broker_orders.append(o.order_id)
            # then the executions the journal missed (orders are known first, so fills attach to them)
            for f in sorted(executions, key=lambda f: (f.ts, f.exec_id)):
                if f.exec_id in self._recorded or self.tracker.seen(f.exec_id):
                    continue
                if self.journal is not None and self.journal.has_fill(f.exec_id):
                    self._recorded.add(f.exec_id)
                    continue
                if self._handle_fill(f, "reconcile"):
                    rep.recovered_fills.append(f.exec_id)
            for t in self.tracker.working():
                if t.order.order_id not in broker_open:
                    # filled orders were settled by the fills above; anything else ended at the broker
                    self.tracker.mark(t.order.order_id, OrderStatus.CANCELLED, "not open at the broker (reconcile)")
                    self._j(t.trade_cycle_id, self.journal.update_order if self.journal else None, t.order.order_id,
                            OrderStatus.CANCELLED, reason="not open at the broker (reconcile)")
                    rep.closed_orders.append(t.order.order_id)
                    if t.role == "entry" and t.filled_qty <= EPS:
                        self._entry_void(t.trade_cycle_id, "entry not open at the broker and never filled")
            self._resolve_pass(now)
            ours = self.journal.positions(self.account) if self.journal is not None else {}
            rep.journal_positions = ours
            settled = self.journal.settled_symbols(self.account) if self.journal is not None else set()
            rep.position_diffs = [d for d in diff_positions(positions, ours) if d.symbol not in settled]
            self.last_reconcile = rep
            quiet = trigger == "timer" and rep.ok and not (rep.recovered_fills or rep.adopted_orders
                                                           or rep.closed_orders)
            if not quiet:   # a routine clean timer pass is counted, not logged line by line
                self.events.emit(EventType.RECONCILE, None, [ReasonCode.RECONCILE_MISMATCH] if rep.mismatch else [],
                                 ok=rep.ok, detail=rep.describe(), trigger=trigger,
                                 recovered_fills=rep.recovered_fills, adopted_orders=rep.adopted_orders,
                                 closed_orders=rep.closed_orders)
            self.stats["reconciles"] += 1
            if rep.mismatch:
                self.stats["reconcile_mismatches"] += 1
                log.error(rep.describe())
                if ReasonCode.RECONCILE_MISMATCH not in self.ledger.state().active_halts:
                    self.ledger.halt(ReasonCode.RECONCILE_MISMATCH, rep.describe())
                    self.events.emit(EventType.HALT, None, [ReasonCode.RECONCILE_MISMATCH], detail=rep.describe())
            elif rep.recovered_fills:
                log.warning(rep.describe())
            return rep

    # -- housekeeping ------------------------------------------------------------------------------
    def service(self, now: datetime | None = None) -> None:
        """Run follow-ups the callbacks queued, the reconcile timer, outcome resolution and equity marks.

        Call it regularly (the loop does, once per bar): callbacks only record; anything that needs a
        broker read or a new order happens here, outside the broker's event delivery.
        """
        with self._lock:
            now = now or self.clock()
            for symbol, cycle in list(self._pending_exits.items()):
                self._pending_exits.pop(symbol, None)
                trade = self.journal.trade(cycle) if self.journal is not None else None
                if trade is not None and trade.status == "closed":
                    continue
                if trade is None:
                    continue
                live = self.snapshot((symbol,)).position(symbol)
                if live is not None and abs(live) <= EPS:
                    continue
                # sized from the live book; if it cannot be read the guards block it (POSITION_UNKNOWN)
                self.submit(OrderIntent(kind=IntentKind.EXIT, side=trade.side.opposite,
                                        qty=abs(live) if live else trade.qty, symbol=symbol,
                                        trade_cycle_id=cycle, reduce_only=True))
            last = self._last_reconcile_at
            # a replay clock may start behind the wall-clock time of the start-up reconcile: re-base then
            due = last is None or now < last or now - last >= self.reconcile_interval
            if due or self._need_reconcile:
                self.reconcile("timer" if not self._need_reconcile else "reconnect")
            else:
                self._resolve_pass(now)
            acct = self._account()
            if acct is not None:
                self._mark_equity(acct.equity, now)

    def _resolve_pass(self, now: datetime) -> None:
        if self.resolver is None:
            return
        rep = self.resolver.resolve_pending(now, entry_done=self.entry_done)
        for tid in rep.resolved:
            self.stats["trades_closed"] += 1
            for t in self.tracker.working(tid):
                self._cancel(t, "trade closed")

    def _mark_equity(self, equity: float, now: datetime) -> None:
        last = self._last_mark
        moved = last is None or abs(equity - last) / max(abs(last), 1e-9) * 100 >= self.equity_mark_pct
        if moved or self._equity_dirty:
            self.ledger.mark_equity(equity, ts=now)
            self._last_mark = equity
            self._equity_dirty = False

    def open_trade(self, symbol: str) -> TradeRecord | None:
        """The trade this executor believes is open on ``symbol`` (the journal's view, not the broker's)."""
        if self.journal is None:
            return None
        trades = self.journal.trades(status=("open", "pending"), symbol=symbol, account=self.account)
        return trades[-1] if trades else None

    def _load_from_journal(self) -> None:
        if self.journal is None:
            return
        self._recorded = self.journal.exec_ids(self.account)
        mine = self.journal.trades(account=self.account)
        cycles = {t.trade_cycle_id for t in mine if t.status in ("open", "pending")}
        ids = {t.trade_cycle_id for t in mine}
        for rec in self.journal.orders(working=True):   # e.g. bracket children left working by a crash
            if rec.order.trade_cycle_id in ids:
                cycles.add(rec.order.trade_cycle_id)
        for c in cycles:
            for rec in self.journal.orders(c):
                self.tracker.register(rec.order.model_copy(update={"filled_qty": 0.0, "avg_fill_price": None}),
                                      rec.role)
            for f in self.journal.fills(c):
                self.tracker.load_fill(f)     # rebuilds each order's filled quantity from its fills
