"""The paper book's mechanics: creating orders, executing a fill against the account, OCA and cancels.

A mixin of ``PaperBroker`` (``trading.brokers.paper``), which owns the lock, the persistence and the
callbacks; here the account arithmetic: position, average price, realized PnL, fees (per asset class,
``trading.domain.commissions``), exec ids, the
parent's children armed by its fill, OCA siblings cancelled or shrunk. Called with the broker's lock held.
Realized PnL and fees of an instrument quoted in another currency (ETHBTC: BTC) reach the account's cash at
the configured ``[fx]`` rate (``trading.domain.fx``); the fills keep the instrument's own currency.
Failure contract: no I/O and no raising for a well-formed book; ``spec_for`` raises ValueError for an
unknown instrument (refused when the order was placed, so not here in practice); money with no rate is
kept in ``acct.unvalued`` and logged with its order id, and ``_open_pnl`` raises ``Unvalued`` for a
position it cannot value (the account then has no equity: entries are blocked, exits still go out).
"""
from __future__ import annotations

import logging
import math
from datetime import datetime

from trading.brokers.base import BrokerUnavailable
from trading.brokers.paper_account import PaperAccount, Working
from trading.domain.commissions import commission_model, fill_commission
from trading.domain.contracts import spec_for
from trading.domain.fx import FxRates, canonical
from trading.domain.fx import current as current_fx
from trading.domain.models import Fill, Order, OrderStatus, OrderType, Side

log = logging.getLogger(__name__)
EPS = 1e-9
FINAL = (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


class Unvalued(BrokerUnavailable):
    """The account holds money in a currency with no ``[fx]`` rate: its equity cannot be stated."""


class PaperBook:
    """Order-book arithmetic over ``self.acct`` (the account) and ``self._live`` (working orders)."""

    acct: PaperAccount
    _live: dict[str, Working]
    commission: float
    _fx: FxRates | None = None

    @property
    def now(self) -> datetime:
        return self.acct.now

    @property
    def fx(self) -> FxRates:
        """The rates cash is converted with: the broker's own, else the configured ones."""
        return self._fx or current_fx()

    def _open_pnl(self) -> float:
        """Open PnL marked to the last close, in the account currency; raises ``Unvalued`` when a position
        (or realized money kept aside) is in a currency with no rate."""
        rates = self.fx
        if self.acct.unvalued:
            ccy = sorted(self.acct.unvalued)[0]
            raise Unvalued(f"paper account {self.acct.account_id} holds {self.acct.unvalued[ccy]:.8g} {ccy} of "
                           f"realized PnL it cannot value: {rates.missing(ccy)}")
        total = 0.0
        for sym, (q, avg) in self.acct.positions.items():
            if abs(q) > EPS and sym in self.acct.marks:
                spec = spec_for(sym)
                rate = rates.rate(spec.currency)
                if rate is None:
                    raise Unvalued(f"paper account {self.acct.account_id} cannot value its {sym} position: "
                                   f"{rates.missing(spec.currency)}")
                total += (self.acct.marks[sym] - avg) * q * spec.multiplier * rate
        return total

    def _value_aside(self) -> bool:
        """Money kept in ``unvalued`` whose currency now has a rate reaches cash at it; True if any did."""
        moved = False
        for ccy, amount in list(self.acct.unvalued.items()):
            rate = self.fx.rate(ccy)
            if rate is not None:
                self.acct.realized += amount * rate
                del self.acct.unvalued[ccy]
                moved = True
                log.warning("paper account %s: %.8g %s kept aside reached cash at %g (%.2f %s)", self.acct.account_id,
                            amount, ccy, rate, amount * rate, self.fx.account)
        return moved

    def _book(self, pnl: float, fee: float, currency: str, order_id: str) -> None:
        """Realized ``pnl`` and ``fee`` (the instrument's ``currency``) into the account at the configured
        rate; with no rate the net is kept per currency in ``unvalued`` (logged), never counted at 1."""
        rate = self.fx.rate(currency)
        if rate is None:
            ccy = canonical(currency)
            self.acct.unvalued[ccy] = self.acct.unvalued.get(ccy, 0.0) + pnl - fee
            log.error("paper account %s: order %s booked %.8g %s it cannot value: %s", self.acct.account_id,
                      order_id, pnl - fee, ccy, self.fx.missing(currency))
            return
        self.acct.realized += pnl * rate
        self.acct.fees += fee * rate

    def _new_order(self, cycle: str, symbol: str, side: Side, qty: float, otype: OrderType, role: str,
                   limit: float | None = None, stop: float | None = None, parent: str | None = None,
                   oca: str | None = None, reduce_only: bool = False, active: bool = True) -> Order:
        oid, seq = self.acct.order_id()
        o = Order(order_id=oid, trade_cycle_id=cycle, symbol=symbol, side=side, qty=qty, order_type=otype,
                  limit_price=limit, stop_price=stop, parent_id=parent, oca_group=oca, reduce_only=reduce_only,
                  status=OrderStatus.SUBMITTED, created_at=self.now)
        self.acct.orders[oid] = self._live[oid] = Working(o, role, seq, self.acct.bars[symbol] + 1, active)
        return o

    def _cancel(self, w: Working, reason: str, events: list) -> None:
        if w.order.status in FINAL:
            return
        w.order.status = OrderStatus.CANCELLED
        w.order.reason = reason
        self._live.pop(w.order.order_id, None)
        events.append(("status", w.order.model_copy()))

    def _fill(self, w: Working, price: float, ts: datetime, budget: list[float], fractional: bool,
              events: list) -> Fill | None:
        o = w.order
        pos = self.acct.positions[o.symbol]
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
        spec = spec_for(o.symbol)
        mult = spec.multiplier
        q0, avg = pos
        signed = o.side.sign * qty
        pnl = 0.0
        if q0 == 0 or q0 * signed > 0:
            pos[1] = (avg * abs(q0) + price * qty) / (abs(q0) + qty)
            pos[0] = q0 + signed
        else:
            closing = min(abs(q0), qty)
            pnl = (price - avg) * closing * mult * (1 if q0 > 0 else -1)
            pos[0] = q0 + signed
            if abs(pos[0]) <= EPS:
                pos[0], pos[1] = 0.0, 0.0
            elif pos[0] * q0 < 0:       # crossed zero (only a plain order can): the rest opens at this price
                pos[1] = price
        # per asset class (futures per contract, stocks per share with a minimum, crypto/FX bps of notional),
        # charged per order: a partial fill never pays an order's minimum twice
        fee = fill_commission(commission_model(spec, self.commission), mult, o.filled_qty, o.avg_fill_price or 0.0,
                              qty, price)
        self._book(pnl, fee, spec.currency, o.order_id)      # in the account currency, at the [fx] rate
        f = Fill(exec_id=self.acct.exec_id(), order_id=o.order_id, symbol=o.symbol, side=o.side, qty=qty,
                 price=price, ts=ts, commission=round(fee, 10), trade_cycle_id=o.trade_cycle_id)
        self.acct.fills.append(f)
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
                        child.active, child.armed_at, child.armed_price = True, ts, price
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

    def _siblings(self, w: Working) -> list[Working]:
        return [s for s in self._live.values() if s is not w and s.order.oca_group == w.order.oca_group
                and w.order.oca_group]

    def _cancel_siblings(self, w: Working, reason: str, events: list) -> None:
        for s in self._siblings(w):
            self._cancel(s, reason, events)
