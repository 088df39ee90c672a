"""Broker callbacks into the executor: each fill recorded exactly once, order statuses followed.

A fill is journaled (idempotent on exec_id) and applied to the order tracker; a fill for an order this
executor never placed halts new entries (RECONCILE_MISMATCH) but is kept, since the position is real;
an order of one of our trades that was sent but never journaled (a crash right after the send) is
adopted from its fill. A partial exit fill cancels the resting remainder and queues a fresh exit sized
from the live position (``service`` sends it). An entry cancelled or rejected unfilled voids the trade.
Failure contract: callbacks raise nothing of their own; a journal that refuses a write halts entries
(see ``executor_base``) and the fill is still tracked in memory.
"""
from __future__ import annotations

import logging

from trading.domain.models import Fill, Order, OrderStatus, OrderType
from trading.domain.reason_codes import ReasonCode
from trading.execution.executor_base import EPS, ExecutorBase
from trading.records.journal import JournalUnwritable
from trading.records.journal_records import OrderRecord, TradeRecord
from trading.records.telemetry import EventType

log = logging.getLogger(__name__)


class FillIntake(ExecutorBase):
    """The executor's broker callbacks: fills, order statuses, disconnects."""

    def _subscribe(self) -> None:
        super()._subscribe()
        self.broker.on_fill(self._on_fill)
        self.broker.on_order_status(self._on_status)
        on_disc = getattr(self.broker, "on_disconnect", None)
        if callable(on_disc):
            on_disc(self._on_disconnect)

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
            self._halt(ReasonCode.RECONCILE_MISMATCH, detail, cycle)
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
