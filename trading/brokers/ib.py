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
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

try:
    import ib_async as ibapi
except ImportError:  # pragma: no cover - only where ib_async is absent
    try:
        import ib_insync as ibapi  # type: ignore[no-redef]
    except ImportError as exc:
        raise ImportError("the IB adapter needs ib_async: pip install 'warden[ib]'") from exc

from trading.brokers.base import (
    AccountSnapshot,
    BracketOrders,
    BracketRequest,
    BrokerUnavailable,
    ReduceOnlyViolation,
)
from trading.domain.contracts import parse_ib_symbol, spec_for
from trading.domain.models import Fill, Order, OrderStatus, OrderType, Position, Side
from trading.domain.pnl import RoundTrip, round_trips
from trading.settings import BrokerConfig

log = logging.getLogger(__name__)

UNSET_DOUBLE: float = ibapi.util.UNSET_DOUBLE
# Protective children share one OCA group. Type 2 = "reduce remaining with block": a partial fill of
# the target shrinks the stop, and IB's overfill protection stops both children filling at once.
OCA_REDUCE_WITH_BLOCK = 2
# Errors ib_async raises for a request that got no answer or lost its socket.
_IB_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError, ConnectionError, OSError, asyncio.CancelledError,
    getattr(ibapi, "RequestError", ConnectionError),
)
# IB codes that mean "cancelled" rather than "rejected" when they end an order.
_CANCEL_CODES = {202, 10148, 10147}
# Informational farm/connectivity notices that are not errors.
_INFO_CODES = {2104, 2106, 2107, 2108, 2158, 2119}
EPS = 1e-9


def _multiplier(contract: Any) -> float:
    """Point multiplier from the contract IB returned, else from our contract specs."""
    try:
        m = float(contract.multiplier or 0)
    except (TypeError, ValueError):
        m = 0.0
    if m > 0:
        return m
    return spec_for(_symbol(contract)).multiplier


def _symbol(contract: Any) -> str:
    return str(contract.localSymbol or contract.symbol)


def _unset(v: float | None) -> bool:
    return v is None or v == UNSET_DOUBLE or (isinstance(v, float) and math.isnan(v))


def _order_type(ib_type: str) -> OrderType:
    t = (ib_type or "").upper()
    if "STP" in t or "TRAIL" in t:
        return OrderType.STP
    if "LMT" in t:
        return OrderType.LMT
    return OrderType.MKT


def _consume(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


def _round_to_tick(price: float, tick: float, up: bool) -> float:
    n = price / tick
    n = math.ceil(n - 1e-9) if up else math.floor(n + 1e-9)
    return round(n * tick, 10)


class IBBroker:
    """``Broker`` on an IB Gateway/TWS. Pass ``ib`` to inject an ``IB`` instance (tests, shared loop)."""

    name = "ib"
    supports_protective_orders = True

    def __init__(self, config: BrokerConfig | None = None, ib: Any | None = None, *, account_id: str = "",
                 connect_timeout_s: float = 10.0, commission_grace_s: float = 5.0,
                 reconnect_interval_s: float = 5.0, today: date | None = None) -> None:
        self.config = config or BrokerConfig(kind="ib")
        self.account_id = account_id
        self.connect_timeout_s = connect_timeout_s
        self.commission_grace_s = commission_grace_s
        self.reconnect_interval_s = reconnect_interval_s
        self._today = today
        self._ib = ib if ib is not None else ibapi.IB()
        self._contracts: dict[str, Any] = {}
        self._cycles: dict[int, str] = {}                  # IB orderId -> trade_cycle_id
        self._pending: dict[str, tuple[float, Fill]] = {}  # execId -> (seen at, fill awaiting commission)
        self._emitted: dict[str, bool] = {}                # execId -> emitted with its commission?
        self._late_commission: dict[str, float] = {}
        self._fill_cbs: list[Callable[[Fill], None]] = []
        self._status_cbs: list[Callable[[Order], None]] = []
        self._disconnect_cbs: list[Callable[[], None]] = []
        self._reconnect_cbs: list[Callable[[], None]] = []
        self.errors: Counter[str] = Counter()
        self._wired = False
        self._sessions = 0            # successful connects so far
        self._closed = False          # disconnect() was asked for: no automatic reconnect
        self._next_reconnect = 0.0

    # ------------------------------------------------------------------ connection
    @property
    def ib(self) -> Any:
        return self._ib

    def is_connected(self) -> bool:
        return bool(self._ib.isConnected())

    def connect(self) -> None:
        if self.is_connected():
            return
        self._wire()
        c = self.config
        self._ib.RequestTimeout = 0   # connect() bounds itself with its own timeout
        try:
            self._ib.connect(host=c.ib_host, port=c.ib_port, clientId=c.ib_client_id,
                             timeout=self.connect_timeout_s, account=self.account_id, raiseSyncErrors=True)
        except _IB_ERRORS as exc:
            self.errors["connect"] += 1
            raise BrokerUnavailable(
                f"IB Gateway at {c.ib_host}:{c.ib_port} (client id {c.ib_client_id}) unavailable: {exc!r}"
            ) from exc
        # every later blocking request (positions, executions, contract details) is bounded
        self._ib.RequestTimeout = c.position_timeout_s
        if not self.account_id:
            accounts = self._ib.managedAccounts()
            self.account_id = accounts[0] if len(accounts) == 1 else ""
        log.info("connected to IB %s:%s client id %s account %s", c.ib_host, c.ib_port, c.ib_client_id,
                 self.account_id or "(all)")
        self._sessions += 1
        self._closed = False
        if self._sessions > 1:     # the link came back: consumers reconcile what they missed
            self._call(self._reconnect_cbs, "reconnect", "ib")

    def disconnect(self) -> None:
        self._closed = True
        self._ib.disconnect()

    def process_events(self, timeout: float = 0.0) -> None:
        """Let ib_async's loop deliver pending IB messages (fills, statuses) for ``timeout`` seconds.

        After a lost connection it also tries to reconnect, at most every ``reconnect_interval_s``.
        """
        if not self.is_connected():
            if self._sessions and not self._closed and time.monotonic() >= self._next_reconnect:
                self._next_reconnect = time.monotonic() + self.reconnect_interval_s
                try:
                    self.connect()
                except BrokerUnavailable as exc:
                    log.warning("IB reconnect failed (next try in %.0fs): %s", self.reconnect_interval_s, exc)
            if not self.is_connected():
                time.sleep(timeout)
                return
        try:
            self._ib.sleep(timeout)
        except _IB_ERRORS as exc:   # the socket died while waiting: reported by the disconnect event
            log.warning("IB connection lost while processing events: %r", exc)
        self._sweep_pending()

    def _wire(self) -> None:
        if self._wired:
            return
        ib = self._ib
        ib.execDetailsEvent += self._on_exec
        ib.commissionReportEvent += self._on_commission
        ib.orderStatusEvent += self._on_status
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error
        # On a socket drop ib_async fails every pending request future, but the request that awaited it
        # has already been cancelled: mark those exceptions retrieved, or asyncio logs "Future exception
        # was never retrieved" when they are garbage-collected (and CPython 3.11.7 can then trip over
        # the finalizer inside compile()).
        start_req = ib.wrapper.startReq

        def start_req_consumed(*args: Any, **kwargs: Any) -> Any:
            fut = start_req(*args, **kwargs)
            fut.add_done_callback(_consume)
            return fut

        ib.wrapper.startReq = start_req_consumed
        self._wired = True

    def _require_connected(self, what: str) -> None:
        if not self.is_connected():
            self.errors["not_connected"] += 1
            raise BrokerUnavailable(f"IB not connected: cannot do {what}")

    def _blocking(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking ib_async request; a timeout or socket error becomes BrokerUnavailable."""
        self._require_connected(what)
        try:
            return fn(*args)
        except _IB_ERRORS as exc:
            self.errors[what] += 1
            log.error("IB %s failed: %r", what, exc)
            raise BrokerUnavailable(f"IB {what} failed: {exc!r}") from exc
        finally:
            self._sweep_pending()

    # ------------------------------------------------------------------ reads
    def positions(self) -> list[Position]:
        raw = self._blocking("position read", self._ib.reqPositions)
        agg: dict[str, list[float]] = {}   # symbol -> [signed qty, gross qty, gross x per-point cost]
        for p in raw:
            if (self.account_id and p.account != self.account_id) or abs(p.position) < EPS:
                continue
            slot = agg.setdefault(_symbol(p.contract), [0.0, 0.0, 0.0])
            slot[0] += p.position
            slot[1] += abs(p.position)
            slot[2] += abs(p.position) * p.avgCost / _multiplier(p.contract)
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
        """ESZ5 -> Future('ES', '202512', 'CME') qualified by the Gateway (conId, multiplier, localSymbol)."""
        key = symbol.strip().upper()
        if key in self._contracts:
            return self._contracts[key]
        fut = parse_ib_symbol(key, today=self._today)
        spec = spec_for(fut.root)
        contract = ibapi.Future(symbol=fut.root, lastTradeDateOrContractMonth=fut.expiry_month,
                                exchange=spec.exchange, currency=spec.currency)
        result = self._blocking("contract qualification", self._ib.qualifyContracts, contract)
        qualified = [c for c in result if c is not None and not isinstance(c, list) and c.conId]
        if not qualified:
            raise ValueError(
                f"IB does not know contract {symbol} ({fut.root} {fut.expiry_month} {spec.exchange})")
        self._contracts[key] = qualified[0]
        return qualified[0]

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
        tick = spec_for(req.symbol).tick
        # round toward the entry: the worst case never exceeds what the guard measured
        stop = _round_to_tick(req.stop_price, tick, up=long)
        target = _round_to_tick(req.target_price, tick, up=not long)
        if entry_ref is not None:   # never a worse entry than asked
            entry_ref = _round_to_tick(entry_ref, tick, up=not long)
        action = req.side.value
        try:
            if req.entry_type == "LMT":
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
        except _IB_ERRORS as exc:
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
        if order_type == "MKT":
            order = ibapi.MarketOrder(side.value, qty)
        elif order_type == "LMT":
            if limit_price is None:
                raise ValueError("a LMT exit needs limit_price")
            tick = spec_for(symbol).tick   # never a worse price than asked
            order = ibapi.LimitOrder(side.value, qty, _round_to_tick(limit_price, tick, up=side is Side.SELL))
        else:
            raise ValueError(f"order_type must be MKT or LMT, got {order_type!r}")
        order.orderRef = trade_cycle_id
        try:
            trade = self._ib.placeOrder(contract, order)
        except _IB_ERRORS as exc:
            self.errors["order placement"] += 1
            raise BrokerUnavailable(f"IB exit for cycle {trade_cycle_id} not sent: {exc!r}") from exc
        self._cycles[trade.order.orderId] = trade_cycle_id
        out = self._to_order(trade, reduce_only=True)
        assert out is not None
        log.info("reduce-only exit sent cycle=%s %s %s %s order=%s (live %+g)", trade_cycle_id, side, qty,
                 symbol, out.order_id, live)
        return out

    def cancel(self, order_id: str) -> None:
        self._require_connected("cancel")
        oid = int(order_id)
        trade = next((t for t in self._ib.trades() if t.order.orderId == oid), None)
        if trade is None:
            raise ValueError(f"unknown IB order id {order_id}")
        try:
            self._ib.cancelOrder(trade.order)
        except _IB_ERRORS as exc:
            self.errors["cancel"] += 1
            raise BrokerUnavailable(f"IB cancel of order {order_id} not sent: {exc!r}") from exc

    # ------------------------------------------------------------------ callbacks
    def on_fill(self, callback: Callable[[Fill], None]) -> None:
        self._wire()
        self._fill_cbs.append(callback)

    def on_order_status(self, callback: Callable[[Order], None]) -> None:
        self._wire()
        self._status_cbs.append(callback)

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        self._wire()
        self._disconnect_cbs.append(callback)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnect_cbs.append(callback)

    def _call(self, cbs: list[Callable[..., None]], what: str, ident: str, *args: Any) -> None:
        for cb in cbs:
            try:
                cb(*args)
            except Exception:   # a consumer bug must not break ib_async's event dispatch
                self.errors[f"{what} callback"] += 1
                log.exception("%s callback failed for %s", what, ident)

    def _on_exec(self, trade: Any, fill: Any) -> None:
        exec_id = fill.execution.execId
        if exec_id in self._emitted or exec_id in self._pending:
            return
        if fill.commissionReport.execId:   # report already in (e.g. replayed executions)
            self._emit_fill(self._to_fill(fill, with_commission=True))
        else:
            self._pending[exec_id] = (time.monotonic(), self._to_fill(fill, with_commission=False))
        self._sweep_pending()

    def _on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        exec_id = report.execId
        if self._emitted.get(exec_id):
            return     # IB replays commission reports on every execution request
        if exec_id in self._emitted:
            self._late_commission[exec_id] = report.commission
            self.errors["late commission report"] += 1
            log.warning("commission report for exec %s (order %s) arrived after its fill was emitted: "
                        "commission %.2f kept for executions()", exec_id, fill.execution.orderId,
                        report.commission)
            return
        self._pending.pop(exec_id, None)
        self._emit_fill(self._to_fill(fill, with_commission=True))

    def _sweep_pending(self) -> None:
        now = time.monotonic()
        for exec_id, (seen, f) in list(self._pending.items()):
            if now - seen >= self.commission_grace_s:
                del self._pending[exec_id]
                self.errors["missing commission report"] += 1
                log.warning("no commission report for exec %s (order %s) after %.1fs: "
                            "emitting fill without it", exec_id, f.order_id, self.commission_grace_s)
                self._emit_fill(f, with_commission=False)

    def _emit_fill(self, f: Fill, with_commission: bool = True) -> None:
        self._emitted[f.exec_id] = with_commission
        log.info("fill exec=%s order=%s cycle=%s %s %s %s @ %s commission=%.2f", f.exec_id, f.order_id,
                 f.trade_cycle_id, f.side, f.qty, f.symbol, f.price, f.commission)
        self._call(self._fill_cbs, "fill", f.exec_id, f)

    def _on_status(self, trade: Any) -> None:
        o = self._to_order(trade)
        if o is not None:
            if o.status is OrderStatus.REJECTED:
                self.errors["order rejected"] += 1
                log.error("IB rejected order %s (cycle %s): %s", o.order_id, o.trade_cycle_id, o.reason)
            self._call(self._status_cbs, "order status", o.order_id, o)
        self._sweep_pending()

    def _on_disconnected(self) -> None:
        if self._closed:
            log.info("disconnected from IB")
        else:
            self.errors["disconnect"] += 1
            log.warning("IB Gateway connection lost: positions are unknown until reconnect")
        self._call(self._disconnect_cbs, "disconnect", "ib")

    def _on_error(self, req_id: int, code: int, msg: str, contract: Any = None) -> None:
        if code in _INFO_CODES:
            log.info("IB %s: %s", code, msg)
            return
        if req_id in self._cycles:
            log.warning("IB error %s on order %s (cycle %s): %s", code, req_id, self._cycles[req_id], msg)
        else:
            log.warning("IB error %s (req %s): %s", code, req_id, msg)
        self.errors[f"ib error {code}"] += 1

    # ------------------------------------------------------------------ mapping
    def _to_order(self, trade: Any, reduce_only: bool = False) -> Order | None:
        o, st = trade.order, trade.orderStatus
        qty = float(o.totalQuantity or 0)
        if qty <= 0:
            log.warning("IB order %s has no quantity; skipped", o.orderId)
            return None
        otype = _order_type(o.orderType)
        filled = float(st.filled or 0) or float(trade.filled())
        last = trade.log[-1] if trade.log else None
        status = self._status(st.status, filled, qty, last.errorCode if last else 0)
        cycle = self._cycles.get(o.orderId) or o.orderRef or ""
        has_limit = "LMT" in o.orderType.upper() and not _unset(o.lmtPrice)
        return Order(
            order_id=str(o.orderId), trade_cycle_id=cycle, symbol=_symbol(trade.contract),
            side=Side(o.action), qty=qty, order_type=otype,
            limit_price=float(o.lmtPrice) if has_limit else None,
            stop_price=float(o.auxPrice) if otype is OrderType.STP and not _unset(o.auxPrice) else None,
            parent_id=str(o.parentId) if o.parentId else None, oca_group=o.ocaGroup or None,
            reduce_only=reduce_only, status=status, filled_qty=filled,
            avg_fill_price=float(st.avgFillPrice) if filled > 0 and st.avgFillPrice else None,
            created_at=trade.log[0].time if trade.log and trade.log[0].time.tzinfo else datetime.now(UTC),
            reason=(last.message if last else "") or "",
        )

    @staticmethod
    def _status(ib_status: str, filled: float, qty: float, error_code: int) -> OrderStatus:
        if ib_status == "Filled" or filled >= qty - EPS:
            return OrderStatus.FILLED
        if ib_status in ("Cancelled", "ApiCancelled", "Inactive"):
            if filled > 0:
                return OrderStatus.CANCELLED
            if ib_status == "Inactive" or (error_code and error_code not in _CANCEL_CODES):
                return OrderStatus.REJECTED
            return OrderStatus.CANCELLED
        if filled > 0:
            return OrderStatus.PARTIAL
        if ib_status in ("PendingSubmit", "ApiPending", ""):
            return OrderStatus.PENDING
        return OrderStatus.SUBMITTED

    def _to_fill(self, fill: Any, with_commission: bool) -> Fill:
        e, rep = fill.execution, fill.commissionReport
        commission = 0.0
        realized: float | None = None
        if with_commission:
            commission = self._late_commission.get(e.execId, rep.commission if rep.execId else 0.0)
            # IB sends realizedPNL UNSET (ib_async turns it into 0.0) on opening fills
            if rep.execId and not _unset(rep.realizedPNL) and rep.realizedPNL != 0.0:
                realized = float(rep.realizedPNL)
        ts = fill.time if isinstance(fill.time, datetime) and fill.time.tzinfo else e.time
        if not isinstance(ts, datetime) or ts.tzinfo is None:
            ts = datetime.now(UTC)
        return Fill(
            exec_id=e.execId, order_id=str(e.orderId), symbol=_symbol(fill.contract),
            side=Side.BUY if e.side.upper() in ("BOT", "BUY") else Side.SELL,
            qty=float(e.shares), price=float(e.price), ts=ts.astimezone(UTC), commission=float(commission),
            trade_cycle_id=self._cycles.get(e.orderId) or e.orderRef or None, broker_realized_pnl=realized,
        )
