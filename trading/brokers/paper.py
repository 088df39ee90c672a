"""The paper broker: deterministic fills from candles, so the whole loop runs with no network.

Fill rules (documented in docs/execution.md):
- An order is eligible from the first bar that starts after it was placed (no look-ahead).
- At the bar's open: stops whose trigger the open already crossed fill at the open (a gap is the
  worse price), then market orders (reduce-only exits before entries) at the open +/- slippage, then
  limits the open already crossed, at the open (the better price).
- Within the bar: a stop triggers when the high (buy) / low (sell) reaches it and fills at the stop
  +/- slippage; a limit fills at its price when the low (buy) / high (sell) reaches it.
- If a bracket's stop and target are both reachable in one bar, the stop fills first (conservative).
- Bracket children become active when the parent fills, sized to the parent's filled quantity, and
  share an OCA group: a full fill cancels the sibling, a partial fill reduces it.
- Reduce-only orders (and bracket children) are capped to the live position at fill time and
  cancelled when there is nothing left to reduce: they never open or flip a position.
- Commission per contract/share; optional participation cap (a fraction of bar volume) produces
  partial fills.
- Cash = starting cash + realized PnL - commissions; equity = cash + open PnL marked to the last close.
"""
from __future__ import annotations

import logging
import math
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trading.brokers.base import AccountSnapshot, BracketOrders, BracketRequest, BrokerUnavailable
from trading.brokers.callbacks import BrokerCallbacks
from trading.domain.contracts import spec_for
from trading.domain.models import Fill, Order, OrderStatus, OrderType, Position, Side
from trading.market.candles import Bar

log = logging.getLogger(__name__)
EPS = 1e-9
_FINAL = (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


@dataclass(slots=True)
class _Working:
    order: Order
    role: str             # entry | stop | target | exit
    eligible_from: int    # per-symbol bar number from which it may fill
    active: bool          # bracket children wait for their parent's fill
    activated_at: datetime | None = None   # when the parent's first fill armed this child


class PaperBroker(BrokerCallbacks):
    """In-memory broker driven by ``on_bar``. Thread-safe; callbacks run outside its lock."""

    name = "paper"
    thread_safe_reads = True      # the executor may bound its reads with a worker-thread timeout

    def __init__(self, starting_cash: float = 100_000.0, commission_per_contract: float = 2.25,
                 slippage_ticks: float = 0.0, max_participation: float | None = None,
                 account_id: str | None = None) -> None:
        if max_participation is not None and not 0 < max_participation <= 1:
            raise ValueError("max_participation must be in (0, 1]")
        super().__init__()
        self.starting_cash = float(starting_cash)
        self.commission = float(commission_per_contract)
        self.slippage_ticks = float(slippage_ticks)
        self.max_participation = max_participation
        # a fresh paper broker is a fresh account: the journal scopes positions and open trades to it
        self.account_id = account_id or f"paper-{uuid.uuid4().hex[:12]}"
        self.connected = True
        self.callback_errors = 0
        self.now: datetime = datetime(1970, 1, 1, tzinfo=UTC)
        self._lock = threading.RLock()
        self._orders: dict[str, _Working] = {}
        self._live: dict[str, _Working] = {}        # not yet filled / cancelled: what a bar can touch
        self._pos: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])   # symbol -> [qty, avg price]
        self._marks: dict[str, float] = {}
        self._realized = 0.0
        self._fees = 0.0
        self._fills: list[Fill] = []
        self._bars: dict[str, int] = defaultdict(int)
        self._last_bar_ts: dict[str, datetime] = {}
        self._next_id = 1
        self._next_exec = 1

    # -- connection --------------------------------------------------------------------------------
    def connect(self) -> None:
        was = self.connected
        self.connected = True
        if not was:
            for cb in list(self._reconnect_cbs):
                self._safe(cb)

    def disconnect(self) -> None:
        self.connected = False

    def _need_connection(self) -> None:
        if not self.connected:
            raise BrokerUnavailable("paper broker disconnected")

    # -- reads -------------------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        self._need_connection()
        with self._lock:
            return [Position(symbol=s, qty=q, avg_price=a) for s, (q, a) in self._pos.items() if abs(q) > EPS]

    def open_orders(self) -> list[Order]:
        self._need_connection()
        with self._lock:
            return [w.order.model_copy() for w in self._live.values()]

    def account(self) -> AccountSnapshot:
        self._need_connection()
        with self._lock:
            cash = self.starting_cash + self._realized - self._fees
            return AccountSnapshot(cash=round(cash, 6), equity=round(cash + self._open_pnl(), 6), taken_at=self.now)

    def executions(self, since: datetime | None = None) -> list[Fill]:
        self._need_connection()
        with self._lock:
            return [f.model_copy() for f in self._fills if since is None or f.ts >= since]

    def mark(self, symbol: str) -> float | None:
        return self._marks.get(symbol)

    def _open_pnl(self) -> float:
        total = 0.0
        for sym, (q, avg) in self._pos.items():
            if abs(q) > EPS and sym in self._marks:
                total += (self._marks[sym] - avg) * q * spec_for(sym).multiplier
        return total

    # -- orders ------------------------------------------------------------------------------------
    def _new_order(self, cycle: str, symbol: str, side: Side, qty: float, otype: OrderType, role: str,
                   limit: float | None = None, stop: float | None = None, parent: str | None = None,
                   oca: str | None = None, reduce_only: bool = False, active: bool = True) -> Order:
        oid = str(self._next_id)
        self._next_id += 1
        o = Order(order_id=oid, trade_cycle_id=cycle, symbol=symbol, side=side, qty=qty, order_type=otype,
                  limit_price=limit, stop_price=stop, parent_id=parent, oca_group=oca, reduce_only=reduce_only,
                  status=OrderStatus.SUBMITTED, created_at=self.now)
        self._orders[oid] = self._live[oid] = _Working(o, role, self._bars[symbol] + 1, active)
        return o

    def place_bracket(self, req: BracketRequest) -> BracketOrders:
        self._need_connection()
        spec_for(req.symbol)   # unknown instruments are refused here, not at the first fill
        if req.entry_type not in ("MKT", "LMT"):
            raise ValueError(f"entry_type must be MKT or LMT, got {req.entry_type!r}")
        if req.entry_type == "LMT" and req.limit_price is None:
            raise ValueError("a LMT entry needs limit_price")
        with self._lock:
            parent = self._new_order(req.trade_cycle_id, req.symbol, req.side, req.qty, OrderType(req.entry_type),
                                     "entry", limit=req.limit_price)
            oca = f"oca-{parent.order_id}"
            # children only ever close what the parent opened: reduce-only in paper, active on the parent's fill
            stop = self._new_order(req.trade_cycle_id, req.symbol, req.side.opposite, req.qty, OrderType.STP, "stop",
                                   stop=req.stop_price, parent=parent.order_id, oca=oca, reduce_only=True, active=False)
            target = self._new_order(req.trade_cycle_id, req.symbol, req.side.opposite, req.qty, OrderType.LMT,
                                     "target", limit=req.target_price, parent=parent.order_id, oca=oca,
                                     reduce_only=True, active=False)
            return BracketOrders(parent=parent.model_copy(), stop=stop.model_copy(), target=target.model_copy())

    def place_reduce_only(self, trade_cycle_id: str, symbol: str, side: Side, qty: float,
                          order_type: str = "MKT", limit_price: float | None = None) -> Order:
        self._need_connection()
        spec_for(symbol)
        if order_type not in ("MKT", "LMT"):
            raise ValueError(f"order_type must be MKT or LMT, got {order_type!r}")
        with self._lock:
            o = self._new_order(trade_cycle_id, symbol, side, qty, OrderType(order_type), "exit",
                                limit=limit_price, reduce_only=True)
            return o.model_copy()

    def cancel(self, order_id: str) -> None:
        """Cancel a working order (and a parent's children). Idempotent on final orders."""
        self._need_connection()
        events: list = []
        with self._lock:
            w = self._orders.get(order_id)
            if w is None:
                raise KeyError(f"paper broker: unknown order id {order_id}")
            self._cancel(w, "cancelled by client", events)
            for child in list(self._live.values()):
                if child.order.parent_id == order_id and child.order.filled_qty <= EPS and w.order.filled_qty <= EPS:
                    self._cancel(child, "parent cancelled", events)
        self._dispatch(events)

    def _cancel(self, w: _Working, reason: str, events: list) -> None:
        if w.order.status in _FINAL:
            return
        w.order.status = OrderStatus.CANCELLED
        w.order.reason = reason
        self._live.pop(w.order.order_id, None)
        events.append(("status", w.order.model_copy()))

    # -- callbacks ---------------------------------------------------------------------------------
    def clear_callbacks(self) -> None:
        """Forget every subscriber (the subscribing process went away; the broker's book stays)."""
        self._fill_cbs.clear()
        self._status_cbs.clear()
        self._reconnect_cbs.clear()

    def _safe(self, cb: Callable[..., object], *args: object) -> None:
        try:
            cb(*args)
        except Exception:
            self.callback_errors += 1
            log.exception("paper broker: callback %r failed for %r", cb, args)

    def _dispatch(self, events: list) -> None:
        for kind, obj in events:
            cbs: Sequence[Callable[..., object]] = self._fill_cbs if kind == "fill" else self._status_cbs
            for cb in list(cbs):
                self._safe(cb, obj)

    # -- the replay clock --------------------------------------------------------------------------
    def on_bar(self, symbol: str, bar: Bar, bar_end: datetime | None = None) -> list[Fill]:
        """Advance ``symbol`` by one bar: fill what the bar reaches, mark to its close, then notify."""
        events: list = []
        fills: list[Fill] = []
        with self._lock:
            prev = self._last_bar_ts.get(symbol)
            step = (bar.ts - prev) if prev is not None and bar.ts > prev else timedelta(0)
            end = bar_end or (bar.ts + step)
            mid = bar.ts + (end - bar.ts) / 2
            self._last_bar_ts[symbol] = bar.ts
            self._bars[symbol] += 1
            n = self._bars[symbol]
            self.now = max(self.now, bar.ts)
            budget = [math.inf if self.max_participation is None else bar.volume * self.max_participation]
            if not any(w.order.symbol == symbol for w in self._live.values()):
                # nothing to fill (e.g. the underlying a Polymarket signal reads): just mark and move on
                self._marks[symbol] = bar.close
                self.now = max(self.now, end)
                return []
            spec = spec_for(symbol)
            slip = self.slippage_ticks * spec.tick

            def eligible() -> list[_Working]:
                return [w for w in self._live.values() if w.order.symbol == symbol and w.active
                        and w.eligible_from <= n and w.order.status not in _FINAL]

            def fill(w: _Working, price: float, ts: datetime) -> None:
                f = self._fill(w, price, ts, budget, spec.bounded_payoff, events)
                if f is not None:
                    fills.append(f)

            # 1) the open: gapped stops, then market orders (exits first), then crossed limits
            for w in eligible():
                o = w.order
                if o.order_type is OrderType.STP and self._stop_hit(o, bar.open, bar.open) is not None:
                    fill(w, bar.open + (slip if o.side is Side.BUY else -slip), bar.ts)
            for w in sorted(eligible(), key=lambda w: (not w.order.reduce_only, int(w.order.order_id))):
                o = w.order
                if o.order_type is OrderType.MKT:
                    fill(w, bar.open + (slip if o.side is Side.BUY else -slip), bar.ts)
            for w in eligible():
                o = w.order
                if o.order_type is OrderType.LMT and self._limit_hit(o, bar.open, bar.open) is not None:
                    fill(w, bar.open, bar.ts)
            # 2) inside the bar: stops before limits, so a bracket that spans the range loses (conservative)
            for w in eligible():
                o = w.order
                if o.order_type is OrderType.STP and (stop := self._stop_hit(o, bar.high, bar.low)) is not None:
                    fill(w, stop + (slip if o.side is Side.BUY else -slip), mid)
            for w in eligible():
                o = w.order
                if o.order_type is OrderType.LMT and (limit := self._limit_hit(o, bar.high, bar.low)) is not None:
                    if w.role == "target" and w.activated_at == mid:
                        continue   # entry filled inside this bar: assume only the adverse move followed
                    fill(w, limit, mid)
            # children a limit entry activated inside the bar: only their stop may still fill (conservative)
            for w in eligible():
                o = w.order
                if o.order_type is OrderType.STP and (stop := self._stop_hit(o, bar.high, bar.low)) is not None:
                    fill(w, stop + (slip if o.side is Side.BUY else -slip), mid)
            self._marks[symbol] = bar.close
            self.now = max(self.now, end)
        self._dispatch(events)
        return fills

    def fill_market_at_mark(self, symbol: str) -> list[Fill]:
        """Fill working market orders on ``symbol`` now, at the last close +/- slippage (end of a replay:
        there is no next bar to open)."""
        events: list = []
        fills: list[Fill] = []
        with self._lock:
            mark = self._marks.get(symbol)
            if mark is None:
                return []
            spec = spec_for(symbol)
            slip = self.slippage_ticks * spec.tick
            budget = [math.inf]
            for w in sorted(self._live.values(), key=lambda w: (not w.order.reduce_only, int(w.order.order_id))):
                o = w.order
                if o.symbol == symbol and w.active and o.order_type is OrderType.MKT and o.status not in _FINAL:
                    f = self._fill(w, mark + (slip if o.side is Side.BUY else -slip), self.now, budget,
                                   spec.bounded_payoff, events)
                    if f is not None:
                        fills.append(f)
        self._dispatch(events)
        return fills

    @staticmethod
    def _stop_hit(o: Order, high: float, low: float) -> float | None:
        """The stop's trigger price when a bar from ``low`` to ``high`` reaches it, else None."""
        assert o.stop_price is not None
        hit = high >= o.stop_price if o.side is Side.BUY else low <= o.stop_price
        return o.stop_price if hit else None

    @staticmethod
    def _limit_hit(o: Order, high: float, low: float) -> float | None:
        """The limit price when a bar from ``low`` to ``high`` reaches it, else None."""
        assert o.limit_price is not None
        hit = low <= o.limit_price if o.side is Side.BUY else high >= o.limit_price
        return o.limit_price if hit else None

    def _fill(self, w: _Working, price: float, ts: datetime, budget: list[float], fractional: bool,
              events: list) -> Fill | None:
        o = w.order
        pos = self._pos[o.symbol]
        qty = o.qty - o.filled_qty
        if o.reduce_only:
            reducible = abs(pos[0]) if pos[0] * o.side.sign < 0 else 0.0
            if reducible <= EPS:
                self._cancel(w, "reduce-only: no position to reduce", events)
                self._cancel_siblings(w, "OCA: position already closed", events)
                return None
            qty = min(qty, reducible)
        if budget[0] < math.inf:
            avail = budget[0] if fractional else math.floor(budget[0] + EPS)
            qty = min(qty, avail)
        if qty <= EPS:
            return None
        budget[0] -= qty
        mult = spec_for(o.symbol).multiplier
        # position and realized PnL
        q0, avg = pos
        signed = o.side.sign * qty
        if q0 == 0 or q0 * signed > 0:
            pos[1] = (avg * abs(q0) + price * qty) / (abs(q0) + qty)
            pos[0] = q0 + signed
        else:
            closing = min(abs(q0), qty)
            self._realized += (price - avg) * closing * mult * (1 if q0 > 0 else -1)
            pos[0] = q0 + signed
            if abs(pos[0]) <= EPS:
                pos[0], pos[1] = 0.0, 0.0
            elif pos[0] * q0 < 0:       # crossed zero (only a plain order can): the rest opens at this price
                pos[1] = price
        fee = self.commission * qty
        self._fees += fee
        f = Fill(exec_id=f"paper-{self._next_exec:08d}", order_id=o.order_id, symbol=o.symbol, side=o.side, qty=qty,
                 price=price, ts=ts, commission=round(fee, 6), trade_cycle_id=o.trade_cycle_id)
        self._next_exec += 1
        self._fills.append(f)
        prev_filled = o.filled_qty
        o.avg_fill_price = ((o.avg_fill_price or 0.0) * prev_filled + price * qty) / (prev_filled + qty)
        o.filled_qty = prev_filled + qty
        o.status = OrderStatus.FILLED if o.filled_qty >= o.qty - EPS else OrderStatus.PARTIAL
        if o.status is OrderStatus.FILLED:
            self._live.pop(o.order_id, None)
        events.append(("fill", f.model_copy()))
        events.append(("status", o.model_copy()))
        if w.role == "entry":
            for child in self._live.values():
                if child.order.parent_id == o.order_id:
                    if not child.active:
                        child.active, child.activated_at = True, ts
                    child.order.qty = o.filled_qty
        if o.oca_group:
            if o.status is OrderStatus.FILLED:
                self._cancel_siblings(w, "OCA group filled", events)
            else:
                for s in self._siblings(w):
                    left = s.order.qty - qty
                    if left <= EPS:
                        self._cancel(s, "OCA group filled", events)
                    else:
                        s.order.qty = left
        return f

    def _siblings(self, w: _Working) -> list[_Working]:
        return [s for s in self._live.values() if s is not w and s.order.oca_group == w.order.oca_group
                and w.order.oca_group]

    def _cancel_siblings(self, w: _Working, reason: str, events: list) -> None:
        for s in self._siblings(w):
            self._cancel(s, reason, events)
