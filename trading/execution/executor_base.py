"""The guarded executor's state and the plumbing every part of it shares.

``ExecutorBase`` holds the broker, ledger, event log, journal and order tracker; bounds broker reads
(``TimedReader``); takes the live snapshot the guards judge against; wraps journal writes so a failure
halts new entries (JOURNAL_UNWRITABLE) instead of being lost; cancels orders, voids entries that never
filled and closes trades whose fills net to zero. The parts on top: ``fill_intake`` (broker callbacks),
``reconciler`` (broker vs journal) and ``executor`` (submit).
Failure contract: a position read that fails makes ``snapshot().positions`` None (never flat); an
account read that fails returns None; both are logged and counted in ``stats``. A write that fails
(journal, event log, risk ledger) raises nothing here: it halts new entries (JOURNAL_UNWRITABLE), the
first one is logged as one ERROR line, the rest are counted; ``_j`` returns None.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from trading.brokers.base import AccountSnapshot, Broker, BrokerUnavailable
from trading.domain.models import OrderIntent, OrderStatus, utcnow
from trading.domain.reason_codes import ReasonCode
from trading.execution.order_tracker import OrderTracker, TrackedOrder
from trading.execution.outcome_resolver import OutcomeResolver
from trading.execution.reconcile import ReconcileReport
from trading.execution.timed_reads import TimedReader
from trading.guards import BrokerSnapshot, GuardConfig
from trading.guards.inputs import RiskState
from trading.records.journal import Journal, JournalUnwritable
from trading.records.journal_records import TradeRecord
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventLog, EventType

log = logging.getLogger(__name__)
T = TypeVar("T")
EPS = 1e-9
# what a broker adapter raises when it cannot answer or refuses: BrokerUnavailable (timeouts, disconnects,
# HTTP errors), ValueError (a refused request, ReduceOnlyViolation), LookupError (an unknown order or
# market), OSError (sockets, a paper account that cannot be saved)
BROKER_ERRORS: tuple[type[Exception], ...] = (BrokerUnavailable, ValueError, LookupError, OSError)


class ExecutorBase:
    """State and shared plumbing of ``GuardedExecutor`` (see its docstring for the parameters)."""

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
        self.venue = str(venue or getattr(broker, "name", "unknown"))
        # positions and open trades are scoped to the broker account (a fresh paper broker is a fresh account)
        self.account = str(getattr(broker, "account_id", "") or self.venue)
        self.clock = clock
        self.resolve_by = resolve_by
        self.reconcile_interval = timedelta(seconds=reconcile_interval_s)
        self.equity_mark_pct = equity_mark_pct
        self.tracker = OrderTracker()
        self.stats: Counter[str] = Counter()
        self.blocked: Counter[str] = Counter()          # first blocking reason code -> blocked verdicts
        self.blocked_also: Counter[str] = Counter()     # further blocking codes of those verdicts
        self.last_reconcile: ReconcileReport | None = None
        threaded = getattr(broker, "thread_safe_reads", False)
        self._reader = TimedReader(read_timeout_s) if read_timeout_s is not None and threaded else None
        self.last_account: AccountSnapshot | None = None
        self._lock = threading.RLock()
        self._pending_exits: dict[str, str] = {}        # symbol -> trade id: re-size after a partial exit fill
        self._last_reconcile_at: datetime | None = None
        self._exec_since: datetime | None = None
        self._need_reconcile = False
        self._last_mark: float | None = None
        self._equity_dirty = True
        self._recorded: set[str] = set()                # exec ids known to be in the journal
        self.storage_error: str | None = None            # the first write that failed (what: error)
        self._halting = False
        self._held_halts: dict[ReasonCode, str] = {}     # halts the ledger could not persist (held in memory)
        events.on_failure = self._on_event_log_failure
        if resolver is not None:
            resolver.storage_down = self.storage_failed
        self._load_from_journal()
        self._subscribe()

    def _subscribe(self) -> None:
        """Subscribe to the broker's events (the parts that handle them extend this)."""

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
        except BROKER_ERRORS as exc:
            positions, err = None, f"{type(exc).__name__}: {exc}"
            self.stats["position_read_errors"] += 1
            log.error("position read failed: %s", err)
        open_orders = 0
        try:
            open_orders = len(self._read(self.broker.open_orders, "open orders"))
        except BROKER_ERRORS as exc:
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
        except BROKER_ERRORS as exc:
            self.stats["account_read_errors"] += 1
            log.error("account read failed: %s: %s", type(exc).__name__, exc)
            return None

    # -- write failures halt entries ---------------------------------------------------------------
    def storage_failed(self, what: str, trade_id: str | None, exc: BaseException) -> None:
        """Any write that failed (journal, event log, ledger, outcome files, account state): halt new
        entries with JOURNAL_UNWRITABLE; exits keep being managed. One clear ERROR line for the first
        failure; the rest are counted (``stats``) and logged at DEBUG so a full disk cannot flood stderr."""
        self.stats["storage_failures"] += 1
        self.stats[f"{what.replace(' ', '_')}_write_failures"] += 1
        if self.storage_error is None:
            self.storage_error = f"{what}: {exc}"
            log.error("%s UNWRITABLE: cannot write the %s (trade %s): %s; new entries are halted, "
                      "exits are still managed", what.upper(), what, trade_id, exc)
        else:
            log.debug("write failed again (%s, trade %s): %s", what, trade_id, exc)
        if self._halting or ReasonCode.JOURNAL_UNWRITABLE in self.ledger.state().active_halts:
            return
        self._held_halts.setdefault(ReasonCode.JOURNAL_UNWRITABLE, f"{what}: {exc}")
        self._halting = True
        try:
            try:
                self.ledger.halt(ReasonCode.JOURNAL_UNWRITABLE, f"{what}: {exc}")
            except OSError:
                pass      # the halt holds in memory (the ledger applies before it writes)
            self.events.emit(EventType.HALT, trade_id, [ReasonCode.JOURNAL_UNWRITABLE], detail=f"{what}: {exc}")
        finally:
            self._halting = False

    def risk_state(self, now: datetime | None = None) -> RiskState:
        """The ledger's state plus the halts this process holds in memory because the ledger itself could
        not be written (a full disk): the guards see them all the same."""
        state = self.ledger.state(now)
        extra = [c for c in self._held_halts if c not in state.active_halts]
        return state.model_copy(update={"active_halts": [*state.active_halts, *extra]}) if extra else state

    def _halt(self, code: ReasonCode, detail: str, trade_id: str | None = None) -> None:
        """Halt new entries: in the ledger, and held in memory should the ledger be unwritable."""
        self._held_halts.setdefault(code, detail)
        self._ledger_write(trade_id, self.ledger.halt, code, detail)

    def _journal_down(self, trade_id: str | None, exc: Exception) -> None:
        self.stats["journal_failures"] += 1
        self.storage_failed("journal", trade_id, exc)

    def _on_event_log_failure(self, path: object, exc: OSError) -> None:
        self.storage_failed("event log", None, exc)

    def _ledger_write(self, trade_id: str | None, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """A risk-ledger append; a failure is a storage failure (the entry still holds in memory)."""
        try:
            fn(*args, **kw)
        except OSError as exc:
            self.storage_failed("risk ledger", trade_id, exc)

    def _j(self, trade_id: str | None, fn: Callable[..., Any] | None, *args: Any, **kw: Any) -> Any:
        """Run a journal write (``fn`` is None when there is no journal); a failure halts entries (loudly)
        and returns None."""
        if self.journal is None or fn is None:
            return None
        try:
            return fn(*args, **kw)
        except JournalUnwritable as exc:
            self._journal_down(trade_id, exc)
            return None

    def _entry_void(self, cycle: str, reason: str) -> None:
        for t in self.tracker.working(cycle):
            self._cancel(t, "entry never filled")
        if self.journal is not None:
            tr = self.journal.trade(cycle)
            if tr is None or tr.status in ("closed", "cancelled"):
                return
            self._j(cycle, self.journal.set_trade_status, cycle, "cancelled")
        self._ledger_write(cycle, self.ledger.void_entry, cycle, reason)

    def _cancel(self, t: TrackedOrder, reason: str) -> None:
        self.tracker.expect_cancel(t.order.order_id, reason)
        try:
            self.broker.cancel(t.order.order_id)
        except BROKER_ERRORS as exc:
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
            self._ledger_write(None, self.ledger.mark_equity, equity, ts=now)
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
