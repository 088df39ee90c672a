"""A simulated IB Gateway behind the REAL ib_async ``IB`` object.

Only the socket is faked. ``FakeClient`` subclasses ib_async's ``Client``; instead of encoding a
request onto a socket it hands it to ``FakeGateway``, which answers the way TWS does: by
scheduling the decoded callbacks (``position``, ``openOrder``, ``orderStatus``, ``execDetails``,
``commissionReport``, ``error`` ...) of ib_async's own ``Wrapper`` on the event loop, so they are
processed when the loop runs, as socket data would be. Trades, Fills, Positions and the eventkit
events (execDetailsEvent, commissionReportEvent, orderStatusEvent, disconnectedEvent) are therefore
produced by ib_async itself; the gateway only decides what TWS would say.

Behaviour switches model what goes wrong: a refused connection, requests that are never answered
(timeouts), a dropped socket, rejections, broker-side cancels, partial fills, late commission
reports and a stale average cost behind IB's realizedPNL.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime

from ib_async import (
    IB,
    CommissionReport,
    Contract,
    ContractDetails,
    Crypto,
    Execution,
    Forex,
    Future,
    Order,
    OrderState,
    Stock,
)
from ib_async.client import Client
from ib_async.util import UNSET_DOUBLE, getLoop

ACCOUNT = "DU7654321"


@dataclass
class Working:
    contract: Contract
    order: Order          # the order as TWS holds it (a copy carrying orderId / clientId / permId)
    perm_id: int
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_price: float = 0.0
    transmitted: bool = False

    @property
    def remaining(self) -> float:
        return float(self.order.totalQuantity) - self.filled

    @property
    def done(self) -> bool:
        return self.status in ("Filled", "Cancelled", "Inactive")


class FakeGateway:
    """State and behaviour of one simulated Gateway session."""

    def __init__(self, account: str = ACCOUNT, *, server_version: int = 176, next_order_id: int = 1,
                 commission_per_contract: float = 2.25) -> None:
        self.account = account
        self.server_version = server_version
        self.next_order_id = next_order_id
        self.commission_per_contract = commission_per_contract
        self.contract_db: list[ContractDetails] = []
        self.positions: dict[int, list] = {}           # conId -> [contract, qty, IB avgCost (x multiplier)]
        self.account_values: dict[tuple[str, str], str] = {
            ("NetLiquidation", "USD"): "100000.00", ("TotalCashValue", "USD"): "95000.00",
            ("NetLiquidation", "BASE"): "1.00",
        }
        self.orders: dict[int, Working] = {}
        self.executions: list[tuple[Contract, Execution, CommissionReport]] = []
        self.market_price: dict[str, float] = {}      # localSymbol -> price a MKT order fills at
        self.auto_fill_market = True
        self.stale_avg_cost: dict[int, float] = {}    # conId -> avgCost IB's realizedPNL wrongly uses
        self.refuse_connect = False
        self.silent: set[str] = set()                 # request kinds never answered: positions, executions ...
        self.hold_commissions = False
        self.held_commissions: list[CommissionReport] = []
        self.reject_next: tuple[int, str] | None = None
        self.received: list[tuple[int, Contract, Order]] = []   # every placeOrder as TWS received it
        self.cancel_requests: list[int] = []
        self.ignore_cancels = False                   # cancel requests never acknowledged
        self.fill_on_cancel: dict[int, float | None] = {}   # order id -> qty (None: all) that fills as its cancel arrives
        self.client: FakeClient | None = None
        self._perm = 1_800_000_000
        self._exec_seq = 0
        self.add_future("ES", "ESZ5", "20251219", 495512563, 50)
        self.add_future("ES", "ESH6", "20260320", 551601561, 50)
        self.add_future("MES", "MESZ5", "20251219", 730283085, 5)
        # one contract per other secType, with IB's own conIds, local symbols and min ticks
        self.add_stock("SPY", "ARCA", 756733)
        self.add_stock("BRK B", "NYSE", 72063691)
        self.add_forex("EUR", "USD", 12087792, min_tick=0.00005)
        self.add_crypto("BTC", "USD", 479624278, min_tick=0.25)

    # ---------------------------------------------------------------- set-up helpers
    def add_future(self, root: str, local: str, expiry: str, con_id: int, multiplier: int) -> None:
        c = Future(conId=con_id, symbol=root, lastTradeDateOrContractMonth=expiry, multiplier=str(multiplier),
                   exchange="CME", currency="USD", localSymbol=local, tradingClass=root)
        self.contract_db.append(ContractDetails(contract=c, marketName=root, minTick=0.25, longName=root))

    def add_stock(self, symbol: str, primary: str, con_id: int, currency: str = "USD",
                  min_tick: float = 0.01) -> None:
        """As TWS describes a SMART-routed stock: exchange SMART, the listing in primaryExchange, no multiplier."""
        c = Stock(conId=con_id, symbol=symbol, exchange="SMART", primaryExchange=primary, currency=currency,
                  localSymbol=symbol, tradingClass=symbol.split()[0])
        self.contract_db.append(ContractDetails(contract=c, marketName=symbol, minTick=min_tick, longName=symbol))

    def add_forex(self, base: str, quote: str, con_id: int, min_tick: float = 0.00005) -> None:
        """IDEALPRO cash pair: secType CASH, localSymbol EUR.USD."""
        c = Forex(pair=f"{base}{quote}", conId=con_id, localSymbol=f"{base}.{quote}", tradingClass=f"{base}.{quote}")
        self.contract_db.append(ContractDetails(contract=c, marketName=f"{base}.{quote}", minTick=min_tick,
                                                longName="European Monetary Union Euro" if base == "EUR" else base))

    def add_crypto(self, symbol: str, currency: str, con_id: int, min_tick: float = 0.25) -> None:
        """A PAXOS coin: secType CRYPTO, localSymbol BTC.USD."""
        c = Crypto(symbol=symbol, exchange="PAXOS", currency=currency, conId=con_id,
                   localSymbol=f"{symbol}.{currency}", tradingClass=symbol)
        self.contract_db.append(ContractDetails(contract=c, marketName=symbol, minTick=min_tick, longName=symbol))

    def contract(self, local: str) -> Contract:
        return next(copy.copy(d.contract) for d in self.contract_db if d.contract.localSymbol == local)

    def set_position(self, local: str, qty: float, price_per_point: float) -> None:
        c = self.contract(local)
        self.positions[c.conId] = [c, qty, price_per_point * float(c.multiplier or 1)]

    # ---------------------------------------------------------------- message delivery
    def _send(self, name: str, *args: object) -> None:
        """Queue one decoded message for the wrapper, delivered when the event loop runs."""
        client = self.client
        getLoop().call_soon(self._dispatch, client, name, args)

    def _dispatch(self, client: FakeClient | None, name: str, args: tuple) -> None:
        if client is None or client is not self.client or not client.isConnected():
            return   # the socket is gone: nothing arrives
        w = client.wrapper
        w.tcpDataArrived()
        getattr(w, name)(*args)
        w.tcpDataProcessed()

    def drop_connection(self, msg: str = "Peer closed connection.") -> None:
        """The socket dies (Gateway restart, network): handled by ib_async's own disconnect path."""
        client = self.client
        if client is not None:
            getLoop().call_soon(client._onSocketDisconnected, msg)

    # ---------------------------------------------------------------- requests from the client
    def on_positions(self) -> None:
        if "positions" in self.silent:
            return
        for c, qty, cost in self.positions.values():
            self._send("position", self.account, c, qty, cost)
        self._send("positionEnd")

    def on_open_orders(self) -> None:
        if "openOrders" in self.silent:
            return
        for oid, w in self.orders.items():
            if w.transmitted and not w.done:
                self._send("openOrder", oid, w.contract, w.order, OrderState(status=w.status))
                self._status(oid)
        self._send("openOrderEnd")

    def on_account_updates(self, account: str) -> None:
        for (tag, cur), val in self.account_values.items():
            self._send("updateAccountValue", tag, val, cur, self.account)
        self._send("accountDownloadEnd", self.account)

    def on_executions(self, req_id: int) -> None:
        if "executions" in self.silent:
            return
        for c, e, _ in self.executions:
            self._send("execDetails", req_id, c, e)
        self._send("execDetailsEnd", req_id)
        for _, _, r in self.executions:
            if r not in self.held_commissions:
                self._send("commissionReport", r)

    def on_contract_details(self, req_id: int, contract: Contract) -> None:
        if "contractDetails" in self.silent:
            return
        hits = [d for d in self.contract_db if _matches(d.contract, contract)]
        if not hits:
            self._send("error", req_id, 200, "No security definition has been found for the request", "")
            return
        for d in hits:
            self._send("contractDetails", req_id, copy.deepcopy(d))
        self._send("contractDetailsEnd", req_id)

    def on_place(self, order_id: int, contract: Contract, order: Order, client_id: int) -> None:
        self.received.append((order_id, copy.copy(contract), copy.copy(order)))
        known = self.orders.get(order_id)
        if known is not None and not known.done:      # a modification
            known.order = self._tws_copy(order, order_id, client_id, known.perm_id)
            self._send("openOrder", order_id, known.contract, known.order, OrderState(status=known.status))
            self._status(order_id)
            return
        c = next((copy.copy(d.contract) for d in self.contract_db if d.contract.conId == contract.conId), None)
        if c is None:
            self._send("error", order_id, 200, "No security definition has been found for the request", "")
            return
        self._perm += 1
        self.orders[order_id] = Working(c, self._tws_copy(order, order_id, client_id, self._perm), self._perm)
        if not order.transmit:
            return     # held in TWS until an order of the group transmits
        parent_id = order.parentId or order_id
        group = sorted(oid for oid, w in self.orders.items()
                       if not w.transmitted and not w.done and (oid == parent_id or w.order.parentId == parent_id))
        if self.reject_next is not None:
            code, msg = self.reject_next
            self.reject_next = None
            for oid in group:
                self.orders[oid].status = "Cancelled"
                self._send("error", oid, code, msg, "")
            return
        for oid in group:
            w = self.orders[oid]
            w.transmitted = True
            w.status = "PreSubmitted" if w.order.parentId else "Submitted"
            self._send("openOrder", oid, w.contract, w.order, OrderState(status=w.status))
            self._status(oid)
        for oid in group:
            w = self.orders[oid]
            if self.auto_fill_market and not w.order.parentId and w.order.orderType == "MKT":
                self.fill(oid)

    def on_cancel(self, order_id: int) -> None:
        self.cancel_requests.append(order_id)
        if self.ignore_cancels:
            return
        w = self.orders.get(order_id)
        if order_id in self.fill_on_cancel and w is not None and not w.done:
            # the race: the child fills before the cancel reaches the exchange (a partial: the rest cancels)
            self.fill(order_id, self.fill_on_cancel.pop(order_id))
            if w.done:
                self._send("error", order_id, 10148,
                           f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: Filled.", "")
                return
        if w is None or w.done:
            self._send("error", order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.", "")
            return
        self._cancel(order_id)

    # ---------------------------------------------------------------- what the market / broker does
    def fill(self, order_id: int, qty: float | None = None, price: float | None = None) -> Execution:
        """Execute (part of) a working order: execDetails, orderStatus, commissionReport, position."""
        w = self.orders[order_id]
        assert w.transmitted and not w.done, f"order {order_id} is not working"
        qty = w.remaining if qty is None else qty
        if price is None:
            o = w.order
            price = (self.market_price.get(w.contract.localSymbol)
                     or (o.lmtPrice if o.orderType == "LMT" else o.auxPrice))
        mult = float(w.contract.multiplier or 1)    # stocks, FX and crypto state no multiplier
        sign = 1 if w.order.action == "BUY" else -1
        commission = round(self.commission_per_contract * qty, 2)
        realized = self._book_position(w.contract, sign * qty, price, mult, commission)
        w.avg_price = (w.avg_price * w.filled + price * qty) / (w.filled + qty)
        w.filled += qty
        self._exec_seq += 1
        e = Execution(execId=f"0000e215.{w.perm_id:08x}.{self._exec_seq:02d}.01", time=datetime.now(UTC),
                      acctNumber=self.account, exchange=w.contract.exchange, side="BOT" if sign > 0 else "SLD",
                      shares=qty, price=price, permId=w.perm_id, clientId=w.order.clientId, orderId=order_id,
                      cumQty=w.filled, avgPrice=w.avg_price, orderRef=w.order.orderRef)
        report = CommissionReport(execId=e.execId, commission=commission, currency="USD", realizedPNL=realized)
        self.executions.append((w.contract, e, report))
        self._send("execDetails", -1, w.contract, e)
        w.status = "Filled" if w.remaining <= 1e-9 else "Submitted"
        self._status(order_id, last_fill=price)
        if self.hold_commissions:
            self.held_commissions.append(report)
        else:
            self._send("commissionReport", report)
        c, q, cost = self.positions[w.contract.conId]
        self._send("position", self.account, c, q, cost)
        if w.status == "Filled":
            self._after_filled(order_id)
        return e

    def release_commissions(self) -> None:
        for r in self.held_commissions:
            self._send("commissionReport", r)
        self.held_commissions.clear()

    def reject(self, order_id: int, code: int = 201, msg: str = "Order rejected - reason:MARGIN") -> None:
        self.orders[order_id].status = "Cancelled"
        self._send("error", order_id, code, msg, "")

    def broker_cancel(self, order_id: int) -> None:
        self._cancel(order_id)

    # ---------------------------------------------------------------- internals
    def _tws_copy(self, order: Order, order_id: int, client_id: int, perm_id: int) -> Order:
        o = copy.copy(order)
        o.orderId, o.clientId, o.permId = order_id, client_id, perm_id
        return o

    def _status(self, order_id: int, last_fill: float = 0.0) -> None:
        w = self.orders[order_id]
        self._send("orderStatus", order_id, w.status, w.filled, w.remaining, w.avg_price, w.perm_id,
                   w.order.parentId, last_fill, w.order.clientId, "", 0.0)

    def _cancel(self, order_id: int) -> None:
        w = self.orders[order_id]
        w.status = "Cancelled"
        # TWS reports a cancel as error 202 first; ib_async cancels the trade on it
        self._send("error", order_id, 202, "Order Canceled - reason:", "")
        self._status(order_id)

    def _after_filled(self, order_id: int) -> None:
        w = self.orders[order_id]
        for oid, other in self.orders.items():
            if other.done or oid == order_id:
                continue
            if other.order.parentId == order_id and other.status == "PreSubmitted":
                other.status = "Submitted"           # the parent filled: children go live
                self._status(oid)
            elif w.order.ocaGroup and other.order.ocaGroup == w.order.ocaGroup:
                self._cancel(oid)                    # one cancels all

    def _book_position(self, contract: Contract, signed_qty: float, price: float, mult: float,
                       commission: float) -> float:
        """Update the IB-style position; return IB's realizedPNL (UNSET when nothing closed)."""
        c, qty, cost = self.positions.get(contract.conId, [contract, 0.0, 0.0])
        realized = UNSET_DOUBLE
        if qty and (qty > 0) != (signed_qty > 0):
            closed = min(abs(qty), abs(signed_qty))
            basis = self.stale_avg_cost.get(contract.conId, cost)
            realized = (price * mult - basis) * closed * (1 if qty > 0 else -1) - commission
            new_qty = qty + signed_qty
            cost = cost if abs(new_qty) > 1e-9 and (new_qty > 0) == (qty > 0) else price * mult
            qty = new_qty
        else:
            new_qty = qty + signed_qty
            cost = (cost * abs(qty) + price * mult * abs(signed_qty)) / abs(new_qty)
            qty = new_qty
        self.positions[contract.conId] = [c, qty, cost if qty else 0.0]
        return realized


def _matches(have: Contract, want: Contract) -> bool:
    if want.conId:
        return have.conId == want.conId
    return (have.secType == want.secType and have.symbol == want.symbol
            and have.lastTradeDateOrContractMonth.startswith(want.lastTradeDateOrContractMonth)
            and (not want.exchange or want.exchange == have.exchange)
            and (not want.currency or want.currency == have.currency)
            and (not want.primaryExchange or want.primaryExchange == have.primaryExchange)
            and (not want.localSymbol or want.localSymbol == have.localSymbol))


class FakeClient(Client):
    """ib_async's Client with the socket replaced by a FakeGateway; connection state stays ib_async's."""

    def __init__(self, wrapper: object, gateway: FakeGateway) -> None:
        super().__init__(wrapper)
        self.gateway = gateway

    async def connectAsync(self, host: str, port: int, clientId: int, timeout: float | None = 2.0) -> None:
        self.host, self.port, self.clientId = host, int(port), int(clientId)
        gw = self.gateway
        if gw.refuse_connect:
            self.disconnect()
            msg = f"API connection failed: ConnectionRefusedError(111, \"Connect call failed ('{host}', {port})\")"
            self.apiError.emit(msg)
            raise ConnectionRefusedError(111, f"Connect call failed ('{host}', {port})")
        # the handshake's outcome: server version, next valid id, managed accounts
        self.connState = Client.CONNECTED
        self._serverVersion = gw.server_version
        self.decoder.serverVersion = gw.server_version
        self.updateReqId(gw.next_order_id)
        self._hasReqId = True
        self._accounts = [gw.account]
        self.wrapper.managedAccounts(gw.account)
        self._apiReady = True
        gw.client = self
        self.apiStart.emit()

    def disconnect(self) -> None:
        if self.gateway.client is self:
            self.gateway.client = None
        super().disconnect()

    def send(self, *fields: object, makeEmpty: bool = True) -> None:
        # any request the fake does not model must fail loudly, not vanish
        if not self.isConnected():
            raise ConnectionError("Not connected")
        raise NotImplementedError(f"FakeGateway does not model IB message {fields[:1]}")

    def _check(self) -> None:
        if not self.isConnected():
            raise ConnectionError("Not connected")

    def reqPositions(self) -> None:
        self._check()
        self.gateway.on_positions()

    def reqOpenOrders(self) -> None:
        self._check()
        self.gateway.on_open_orders()

    reqAllOpenOrders = reqOpenOrders

    def reqAutoOpenOrders(self, bAutoBind: bool) -> None:
        self._check()

    def reqCompletedOrders(self, apiOnly: bool) -> None:
        self._check()
        self.gateway._send("completedOrdersEnd")

    def reqAccountUpdates(self, subscribe: bool, acctCode: str) -> None:
        self._check()
        self.gateway.on_account_updates(acctCode)

    def reqAccountUpdatesMulti(self, reqId: int, account: str, modelCode: str, ledgerAndNLV: bool) -> None:
        self._check()
        self.gateway._send("accountUpdateMultiEnd", reqId)

    def reqExecutions(self, reqId: int, execFilter: object) -> None:
        self._check()
        self.gateway.on_executions(reqId)

    def reqContractDetails(self, reqId: int, contract: Contract) -> None:
        self._check()
        self.gateway.on_contract_details(reqId, contract)

    def placeOrder(self, orderId: int, contract: Contract, order: Order) -> None:
        self._check()
        self.gateway.on_place(orderId, contract, order, self.clientId)

    def cancelOrder(self, orderId: int, manualCancelOrderTime: str = "") -> None:
        self._check()
        self.gateway.on_cancel(orderId)


class FakeIB(IB):
    """The real ib_async IB, wired to a FakeGateway instead of a socket."""

    def __init__(self, gateway: FakeGateway) -> None:
        super().__init__()
        self.client = FakeClient(self.wrapper, gateway)
        self.client.apiEnd += self.disconnectedEvent
