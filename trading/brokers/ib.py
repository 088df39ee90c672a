"""Interactive Brokers adapter on ``ib_async`` (``ib_insync`` only when ib_async is not importable).

The adapter is synchronous, like ib_async's blocking API: IB events (fills, commission reports,
order status, disconnects) are handled whenever ib_async's event loop runs, i.e. during any
blocking call or ``process_events()``. Reads that matter for safety go to the Gateway and raise
``BrokerUnavailable`` on a timeout or socket loss: a position is never assumed flat.

IB quirks handled here:
- ``avgCost`` of a futures position includes the multiplier (ES 6890.50 reads 344525.0); positions
  report a per-point ``avg_price``.
- A commission report arrives after its execution; a fill is emitted once, with its commission,
  or without it after ``commission_grace_s`` (logged), since fills are de-duplicated on exec id.
- ``realizedPNL`` in a commission report can rest on a stale average cost; it is kept as
  ``broker_realized_pnl`` and PnL is computed from fills (trading.domain.pnl).
- Bracket children are plain GTC orders at IB: an exit sent while they work could fill and then a child
  too, flipping the book. ``prepare_exit`` cancels the trade's working children, waits until IB
  acknowledges every cancel (or reports the child filled) and returns the live position the exit is
  sized from; unacknowledged cancels raise ``BrokerUnavailable`` and the exit is not sent.

The connection and event intake are in ``ib_connection``, the contracts per asset class in ``ib_contracts``,
the mapping of ib_async objects in ``ib_rows`` and the library import in ``ib_api``.
Failure contract: reads raise ``BrokerUnavailable`` on a timeout or socket loss; an exit that would open,
grow or flip the live position raises ``ReduceOnlyViolation``; a symbol with no IB contract or one IB does
not know raises ``IBContractError`` (a ValueError naming it); a bad order type or price raises ValueError;
an order that cannot be sent raises ``BrokerUnavailable``.
"""
from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from typing import Any

from trading.brokers.base import (
    AccountSnapshot,
    BracketOrders,
    BracketRequest,
    BrokerUnavailable,
    ExitPreparation,
    ReduceOnlyViolation,
)
from trading.brokers.ib_api import IB_ERRORS, ibapi
from trading.brokers.ib_connection import IBConnection
from trading.brokers.ib_contracts import IBContractError, contract_request, describe, front_month
from trading.brokers.ib_rows import EPS, multiplier, multiplier_of, round_to_tick, symbol_of
from trading.domain.contracts import spec_for
from trading.domain.instruments import UnknownInstrument
from trading.domain.models import Fill, Order, Position, Side
from trading.domain.pnl import RoundTrip, round_trips

log = logging.getLogger(__name__)

# Protective children share one OCA group. Type 2 = "reduce remaining with block": a partial fill of
# the target shrinks the stop, and IB's overfill protection stops both children filling at once.
OCA_REDUCE_WITH_BLOCK = 2


class IBBroker(IBConnection):
    """``Broker`` on an IB Gateway/TWS. Pass ``ib`` to inject an ``IB`` instance (tests, shared loop)."""

    name = "ib"
    supports_protective_orders = True

    def positions(self) -> list[Position]:
        raw = self._blocking("position read", self._ib.reqPositions)
        agg: dict[str, list[float]] = {}   # symbol -> [signed qty, gross qty, gross x per-point cost]
        for p in raw:
            if (self.account_id and p.account != self.account_id) or abs(p.position) < EPS:
                continue
            slot = agg.setdefault(symbol_of(p.contract, self._names), [0.0, 0.0, 0.0])
            slot[0] += p.position
            slot[1] += abs(p.position)
            slot[2] += abs(p.position) * p.avgCost / multiplier(p.contract)
        return [Position(symbol=sym, qty=qty, avg_price=round(cost / gross, 10))
                for sym, (qty, gross, cost) in sorted(agg.items()) if abs(qty) >= EPS]

    def position(self, symbol: str) -> float:
        """Signed live quantity of one symbol (0.0 when flat); raises BrokerUnavailable."""
        s = symbol.upper()
        return sum(p.qty for p in self.positions() if p.symbol.upper() == s)

    def open_orders(self) -> list[Order]:
        # openTrades() is kept live by the Gateway's pushes; the connection check makes it fail closed
        self._require_connected("open order read")
        return [o for o in (self._to_order(t) for t in self._ib.openTrades()) if o is not None]

    def account(self) -> AccountSnapshot:
        self._require_connected("account read")
        values = self._ib.accountValues(self.account_id) if self.account_id else self._ib.accountValues()
        found: dict[str, float] = {}
        for v in values:
            if v.tag in ("NetLiquidation", "TotalCashValue") and v.currency in ("USD", "BASE"):
                try:
                    # USD wins over BASE when both are present
                    if v.currency == "USD" or v.tag not in found:
                        found[v.tag] = float(v.value)
                except ValueError:
                    continue
        if "NetLiquidation" not in found or "TotalCashValue" not in found:
            self.errors["account read"] += 1
            raise BrokerUnavailable("IB account values (NetLiquidation, TotalCashValue) not received")
        return AccountSnapshot(cash=found["TotalCashValue"], equity=found["NetLiquidation"],
                               taken_at=datetime.now(UTC))

    def executions(self, since: datetime | None = None) -> list[Fill]:
        # a fresh request proves the link is alive and pulls today's executions of earlier sessions
        self._blocking("execution read", self._ib.reqExecutions)
        fills = [self._to_fill(f, with_commission=True) for f in self._ib.fills()
                 if not self.account_id or f.execution.acctNumber in ("", self.account_id)]
        if since is not None:
            fills = [f for f in fills if f.ts >= since]
        return sorted(fills, key=lambda f: (f.ts, f.exec_id))

    def round_trips(self, since: datetime | None = None) -> list[RoundTrip]:
        """Futures PnL from fills: price delta x qty x multiplier, never IB's average cost."""
        return round_trips(self.executions(since))

    # ------------------------------------------------------------------ orders
    def qualify(self, symbol: str) -> Any:
        """The Gateway's contract for ``symbol`` (any registry asset class, ``ib_contracts``), cached per symbol.

        IB's minTick and multiplier win over the registry's while connected (a difference is logged);
        positions and fills of the contract carry ``symbol`` as asked. Raises ``IBContractError`` (a
        ValueError) for a symbol with no IB contract or one IB does not know, naming it."""
        key = symbol.strip().upper()
        if key in self._contracts:
            return self._contracts[key]
        try:
            spec = spec_for(key)
        except UnknownInstrument as exc:
            raise IBContractError(f"{key} is not a known futures symbol, stock, FX or crypto pair: {exc}") from None
        request = contract_request(key, spec, today=self._today)
        if request.secType == "FUT" and not request.lastTradeDateOrContractMonth:
            # a bare root: IB lists the months (contract details), the front month is picked
            listed = self._blocking("contract qualification", self._ib.reqContractDetails, request)
            picked = front_month([d.contract for d in listed], self._today or date.today())
            details = [d for d in listed if picked is not None and d.contract.conId == picked.conId]
        else:
            found = self._blocking("contract qualification", self._ib.qualifyContracts, request)
            hits = [c for c in found if c is not None and not isinstance(c, list) and c.conId]
            picked = hits[0] if hits else None
            details = [] if picked is None else self._blocking(
                "contract details", self._ib.reqContractDetails, ibapi.Contract(conId=picked.conId))
        if picked is None or not picked.conId:
            raise IBContractError(f"IB does not know contract {symbol} ({describe(request)}); check the symbol, or "
                                  f"declare [instruments.{key}] (asset_class, exchange, currency, primary_exchange)")
        self._adopt(key, spec, picked, details[0] if details else None)
        return picked

    def _adopt(self, key: str, spec: Any, contract: Any, details: Any) -> None:
        """Remember the contract, its name and IB's tick; log where IB's word differs from the registry."""
        self._contracts[key] = contract
        self._names[contract.conId] = key
        tick = float(details.minTick) if details is not None and details.minTick and details.minTick > 0 else 0.0
        if tick:
            self._ticks[key] = tick
            if abs(tick - spec.tick) > 1e-12:
                log.warning("IB's minTick for %s (%s) is %g, the registry's tick %g: IB's is used for rounding",
                            key, contract.localSymbol, tick, spec.tick)
        ib_mult = multiplier_of(contract)
        if ib_mult and abs(ib_mult - spec.multiplier) > 1e-9:
            log.warning("IB's multiplier for %s (%s) is %g, the registry's %g: IB's is used for positions; declare "
                        "[instruments.%s] multiplier = %g to match it in PnL", key, contract.localSymbol, ib_mult,
                        spec.multiplier, key, ib_mult)
        log.info("qualified %s as %s conId %s (tick %g)", key, describe(contract), contract.conId,
                 self.tick_for(key))

    def tick_for(self, symbol: str) -> float:
        """The price increment orders round to: IB's minTick once qualified, else the registry's tick."""
        return self._ticks.get(symbol.strip().upper()) or spec_for(symbol).tick

    def place_bracket(self, req: BracketRequest) -> BracketOrders:
        """Entry + take-profit + stop-loss as one OCA group; only the last child transmits the lot."""
        self._require_connected("bracket order")
        entry_ref = req.limit_price
        if req.entry_type not in ("MKT", "LMT"):
            raise ValueError(f"entry_type must be MKT or LMT, got {req.entry_type!r}")
        if req.entry_type == "LMT" and entry_ref is None:
            raise ValueError("a LMT entry needs limit_price")
        long = req.side is Side.BUY
        if req.stop_price * req.side.sign >= req.target_price * req.side.sign:
            raise ValueError(
                f"stop {req.stop_price} / target {req.target_price} on the wrong side for {req.side}")
        contract = self.qualify(req.symbol)
        tick = self.tick_for(req.symbol)
        # round toward the entry: the worst case never exceeds what the guard measured
        stop = round_to_tick(req.stop_price, tick, up=long)
        target = round_to_tick(req.target_price, tick, up=not long)
        if entry_ref is not None:   # never a worse entry than asked
            entry_ref = round_to_tick(entry_ref, tick, up=not long)
        action = req.side.value
        try:
            if req.entry_type == "LMT" and entry_ref is not None:     # (a LMT without a price was refused above)
                parent, take, stop_o = self._ib.bracketOrder(action, req.qty, entry_ref, target, stop)
            else:
                # the wiring of IB.bracketOrder (ids, parentId, transmit flags) with a market parent
                reverse = req.side.opposite.value
                get_id = self._ib.client.getReqId
                parent = ibapi.MarketOrder(action, req.qty, orderId=get_id(), transmit=False)
                take = ibapi.LimitOrder(reverse, req.qty, target, orderId=get_id(), transmit=False,
                                        parentId=parent.orderId)
                stop_o = ibapi.StopOrder(reverse, req.qty, stop, orderId=get_id(), transmit=True,
                                         parentId=parent.orderId)
            self._ib.oneCancelsAll([take, stop_o], f"warden-{req.trade_cycle_id}", OCA_REDUCE_WITH_BLOCK)
            for o in (parent, take, stop_o):
                o.orderRef = req.trade_cycle_id      # echoed by IB on executions: fills keep their cycle
                self._cycles[o.orderId] = req.trade_cycle_id
            # protection must outlive the session and work outside regular trading hours
            for o in (take, stop_o):
                o.tif = "GTC"
                o.outsideRth = True
            trades = [self._ib.placeOrder(contract, o) for o in (parent, take, stop_o)]
        except IB_ERRORS as exc:
            self.errors["order placement"] += 1
            raise BrokerUnavailable(f"IB bracket for cycle {req.trade_cycle_id} not sent: {exc!r}") from exc
        p, t, s = (self._to_order(tr) for tr in trades)
        assert p is not None and t is not None and s is not None
        log.info("bracket sent cycle=%s %s %s %s parent=%s target=%s@%s stop=%s@%s", req.trade_cycle_id,
                 action, req.qty, req.symbol, p.order_id, t.order_id, target, s.order_id, stop)
        return BracketOrders(parent=p, stop=s, target=t)

    def place_reduce_only(self, trade_cycle_id: str, symbol: str, side: Side, qty: float,
                          order_type: str = "MKT", limit_price: float | None = None) -> Order:
        """Send an exit only if it reduces the LIVE position (read fresh): never opens, grows or flips."""
        live = self.position(symbol)
        if abs(live) < EPS:
            raise ReduceOnlyViolation(f"{symbol}: live position is flat; exit {side} {qty} refused")
        if side.sign * live > 0:
            raise ReduceOnlyViolation(f"{symbol}: {side} {qty} would grow the live position {live:+g}")
        if qty > abs(live) + EPS:
            raise ReduceOnlyViolation(f"{symbol}: {side} {qty} would flip the live position {live:+g}")
        contract = self.qualify(symbol)
        order: ibapi.Order
        if order_type == "MKT":
            order = ibapi.MarketOrder(side.value, qty)
        elif order_type == "LMT":
            if limit_price is None:
                raise ValueError("a LMT exit needs limit_price")
            tick = self.tick_for(symbol)   # never a worse price than asked
            order = ibapi.LimitOrder(side.value, qty, round_to_tick(limit_price, tick, up=side is Side.SELL))
        else:
            raise ValueError(f"order_type must be MKT or LMT, got {order_type!r}")
        order.orderRef = trade_cycle_id
        try:
            trade = self._ib.placeOrder(contract, order)
        except IB_ERRORS as exc:
            self.errors["order placement"] += 1
            raise BrokerUnavailable(f"IB exit for cycle {trade_cycle_id} not sent: {exc!r}") from exc
        self._cycles[trade.order.orderId] = trade_cycle_id
        out = self._to_order(trade, reduce_only=True)
        assert out is not None
        log.info("reduce-only exit sent cycle=%s %s %s %s order=%s (live %+g)", trade_cycle_id, side, qty,
                 symbol, out.order_id, live)
        return out

    def prepare_exit(self, trade_cycle_id: str, symbol: str, timeout_s: float = 5.0) -> ExitPreparation:
        """Cancel the trade's working bracket children and wait for IB's acknowledgement; a child that fills
        meanwhile reaches ``on_fill`` as usual and is in the returned (fresh) live position."""
        self._require_connected("exit preparation")
        oca = f"warden-{trade_cycle_id}"
        children = [t for t in self._ib.openTrades()
                    if (t.order.parentId or t.order.ocaGroup == oca)
                    and (self._cycles.get(t.order.orderId) == trade_cycle_id or t.order.orderRef == trade_cycle_id
                         or t.order.ocaGroup == oca)
                    and t.orderStatus.status not in ibapi.OrderStatus.DoneStates]
        for t in children:
            try:
                self._ib.cancelOrder(t.order)
            except IB_ERRORS as exc:
                self.errors["exit preparation"] += 1
                raise BrokerUnavailable(f"IB cancel of bracket child {t.order.orderId} (cycle {trade_cycle_id}) "
                                        f"not sent: {exc!r}") from exc
        deadline = time.monotonic() + timeout_s
        while any(t.orderStatus.status not in ibapi.OrderStatus.DoneStates for t in children):
            if time.monotonic() >= deadline or not self.is_connected():
                self.errors["exit preparation"] += 1
                left = [t.order.orderId for t in children if t.orderStatus.status not in ibapi.OrderStatus.DoneStates]
                raise BrokerUnavailable(f"IB did not acknowledge the cancel of bracket children {left} of cycle "
                                        f"{trade_cycle_id} within {timeout_s:g}s: exit not sent")
            try:
                self._ib.sleep(0.02)
            except IB_ERRORS as exc:
                self.errors["exit preparation"] += 1
                raise BrokerUnavailable(f"IB connection lost while cancelling children of {trade_cycle_id}: "
                                        f"{exc!r}") from exc
        self._sweep_pending()
        filled = [t.order.orderId for t in children if t.orderStatus.status == "Filled"]
        if filled:
            log.warning("cycle %s: bracket child %s filled while its cancel was on the way; exit resized from the "
                        "live position", trade_cycle_id, filled)
        cancelled = [str(t.order.orderId) for t in children if t.orderStatus.status != "Filled"]
        return ExitPreparation(cancelled=cancelled, position=self.position(symbol))

    def cancel(self, order_id: str) -> None:
        self._require_connected("cancel")
        oid = int(order_id)
        trade = next((t for t in self._ib.trades() if t.order.orderId == oid), None)
        if trade is None:
            raise ValueError(f"unknown IB order id {order_id}")
        try:
            self._ib.cancelOrder(trade.order)
        except IB_ERRORS as exc:
            self.errors["cancel"] += 1
            raise BrokerUnavailable(f"IB cancel of order {order_id} not sent: {exc!r}") from exc

