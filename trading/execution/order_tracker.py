"""The order tracker: broker order id -> trade_cycle_id and role, following fills, cancels and rejects.

Seed 000: the exit's fill could not be tied to any trade ("No current trade ID for exit logging").
Here every order is registered with its trade_cycle_id before anything else happens to it, and a fill
for an unknown order is reported as such (the executor logs and counts it; reconciliation catches the
position). Fills are de-duplicated on exec_id; the filled quantity is the sum of distinct fills, never
a status message's claim, so out-of-order or repeated broker events cannot double-count.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from trading.domain.models import Fill, Order, OrderStatus

EPS = 1e-9
FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})
ROLES = ("entry", "stop", "target", "exit")


@dataclass(slots=True)
class TrackedOrder:
    order: Order
    role: str                                 # entry | stop | target | exit
    exec_ids: set[str] = field(default_factory=set)
    filled_qty: float = 0.0
    notional: float = 0.0                     # sum of qty x price over distinct fills

    @property
    def trade_cycle_id(self) -> str:
        return self.order.trade_cycle_id

    @property
    def working(self) -> bool:
        return self.order.status not in FINAL

    @property
    def remaining(self) -> float:
        return max(0.0, self.order.qty - self.filled_qty)

    @property
    def avg_price(self) -> float | None:
        return self.notional / self.filled_qty if self.filled_qty > EPS else None


@dataclass(slots=True)
class FillUpdate:
    fill: Fill
    tracked: TrackedOrder | None              # None: the order is not known to us
    duplicate: bool = False
    cancel_remainder: bool = False            # a partial exit fill: cancel the rest, re-size from the live book


class OrderTracker:
    def __init__(self) -> None:
        self._orders: dict[str, TrackedOrder] = {}
        self._seen: set[str] = set()
        self._cancel_reasons: dict[str, str] = {}   # why we asked the broker to cancel
        self._lock = threading.RLock()
        self.unknown_fills = 0
        self.duplicate_fills = 0

    def register(self, order: Order, role: str) -> TrackedOrder:
        if role not in ROLES:
            raise ValueError(f"unknown order role {role!r}; expected one of {ROLES}")
        with self._lock:
            t = self._orders.get(order.order_id)
            if t is None:
                t = TrackedOrder(order=order.model_copy(), role=role)
                self._orders[order.order_id] = t
            return t

    def get(self, order_id: str) -> TrackedOrder | None:
        return self._orders.get(order_id)

    def cycle_for(self, order_id: str) -> str | None:
        t = self._orders.get(order_id)
        return t.trade_cycle_id if t else None

    def seen(self, exec_id: str) -> bool:
        return exec_id in self._seen

    def on_fill(self, fill: Fill, already_recorded: bool = False) -> FillUpdate:
        """Apply a fill once. ``already_recorded``: the journal already held this exec_id (a replay)."""
        with self._lock:
            t = self._orders.get(fill.order_id)
            if fill.exec_id in self._seen or already_recorded:
                self._seen.add(fill.exec_id)
                self.duplicate_fills += 1
                return FillUpdate(fill, t, duplicate=True)
            self._seen.add(fill.exec_id)
            if t is None:
                self.unknown_fills += 1
                return FillUpdate(fill, None)
            self._apply(t, fill)
            partial_exit = t.role == "exit" and t.order.status is OrderStatus.PARTIAL
            return FillUpdate(fill, t, cancel_remainder=partial_exit)

    def _apply(self, t: TrackedOrder, fill: Fill) -> None:
        t.exec_ids.add(fill.exec_id)
        t.filled_qty += fill.qty
        t.notional += fill.qty * fill.price
        o = t.order
        o.filled_qty = round(t.filled_qty, 10)
        o.avg_fill_price = t.avg_price
        if o.status not in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            o.status = OrderStatus.FILLED if t.filled_qty >= o.qty - EPS else OrderStatus.PARTIAL

    def load_fill(self, fill: Fill) -> None:
        """Rebuild state from a fill already in the journal (start-up), without counting a duplicate."""
        with self._lock:
            if fill.exec_id in self._seen:
                return
            self._seen.add(fill.exec_id)
            t = self._orders.get(fill.order_id)
            if t is not None:
                self._apply(t, fill)

    def on_status(self, order: Order) -> TrackedOrder | None:
        """A broker status message: cancels, rejects and re-sized quantities. Fill counts come from fills."""
        with self._lock:
            t = self._orders.get(order.order_id)
            if t is None:
                return None
            o = t.order
            if order.qty != o.qty and order.qty > 0:
                o.qty = order.qty                 # OCA reduction or a child re-sized to a partial parent fill
            if order.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
                o.status = order.status
                o.reason = self._cancel_reasons.pop(order.order_id, "") or order.reason
            elif o.status not in FINAL and t.filled_qty >= o.qty - EPS and t.filled_qty > EPS:
                o.status = OrderStatus.FILLED
            return t

    def expect_cancel(self, order_id: str, reason: str) -> None:
        """Remember why we cancel, so the broker's generic confirmation keeps our reason."""
        with self._lock:
            self._cancel_reasons[order_id] = reason

    def mark(self, order_id: str, status: OrderStatus, reason: str = "") -> None:
        with self._lock:
            t = self._orders.get(order_id)
            if t is not None and t.order.status not in FINAL:
                t.order.status = status
                t.order.reason = reason

    def working(self, trade_cycle_id: str | None = None) -> list[TrackedOrder]:
        with self._lock:
            return [t for t in self._orders.values() if t.working
                    and (trade_cycle_id is None or t.trade_cycle_id == trade_cycle_id)]

    def for_cycle(self, trade_cycle_id: str) -> list[TrackedOrder]:
        with self._lock:
            return [t for t in self._orders.values() if t.trade_cycle_id == trade_cycle_id]
