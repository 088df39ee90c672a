"""The IB Gateway connection and its event intake: connect/reconnect, bounded blocking requests, and
the ib_async events (executions, commission reports, order statuses, errors, disconnects) turned into
``on_fill`` / ``on_order_status`` / ``on_disconnect`` / ``on_reconnect`` callbacks.

IB events are handled whenever ib_async's event loop runs, i.e. during any blocking call or
``process_events()``. A commission report arrives after its execution; a fill is emitted once, with its
commission, or without it after ``commission_grace_s`` (logged and counted).
Failure contract: ``connect`` and every blocking request raise ``BrokerUnavailable`` on a timeout or a
lost socket (counted in ``errors``); a failing subscriber is logged and counted, never propagated into
ib_async's event dispatch.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from trading.brokers.base import BrokerUnavailable
from trading.brokers.callbacks import BrokerCallbacks
from trading.brokers.ib_api import IB_ERRORS, ibapi
from trading.brokers.ib_rows import to_fill, to_order
from trading.domain.models import Fill, Order, OrderStatus
from trading.settings import BrokerConfig

log = logging.getLogger(__name__)

# Informational farm/connectivity notices that are not errors.
_INFO_CODES = {2104, 2106, 2107, 2108, 2158, 2119}


def _consume(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


class IBConnection(BrokerCallbacks):
    """The link to one Gateway/TWS and its events. ``IBBroker`` adds the reads and the orders."""

    def __init__(self, config: BrokerConfig | None = None, ib: Any | None = None, *, account_id: str = "",
                 connect_timeout_s: float = 10.0, commission_grace_s: float = 5.0,
                 reconnect_interval_s: float = 5.0, today: date | None = None) -> None:
        super().__init__()
        self.config = config or BrokerConfig(kind="ib")
        self.account_id = account_id
        self.connect_timeout_s = connect_timeout_s
        self.commission_grace_s = commission_grace_s
        self.reconnect_interval_s = reconnect_interval_s
        self._today = today
        self._ib = ib if ib is not None else ibapi.IB()
        self._contracts: dict[str, Any] = {}             # symbol as asked -> qualified contract
        self._names: dict[int, str] = {}                   # conId -> the symbol it was asked as
        self._ticks: dict[str, float] = {}                 # symbol -> IB's minTick
        self._cycles: dict[int, str] = {}                  # IB orderId -> trade_cycle_id
        self._pending: dict[str, tuple[float, Fill]] = {}  # execId -> (seen at, fill awaiting commission)
        self._emitted: dict[str, bool] = {}                # execId -> emitted with its commission?
        self._late_commission: dict[str, float] = {}
        self._disconnect_cbs: list[Callable[[], None]] = []
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
        except IB_ERRORS as exc:
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
        except IB_ERRORS as exc:   # the socket died while waiting: reported by the disconnect event
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

        ib.wrapper.startReq = start_req_consumed  # type: ignore[method-assign]  # ib_async's hook, patched on purpose
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
        except IB_ERRORS as exc:
            self.errors[what] += 1
            log.error("IB %s failed: %r", what, exc)
            raise BrokerUnavailable(f"IB {what} failed: {exc!r}") from exc
        finally:
            self._sweep_pending()

    # ------------------------------------------------------------------ reads

    # ------------------------------------------------------------------ callbacks
    def on_fill(self, callback: Callable[[Fill], None]) -> None:
        self._wire()
        super().on_fill(callback)

    def on_order_status(self, callback: Callable[[Order], None]) -> None:
        self._wire()
        super().on_order_status(callback)

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        self._wire()
        self._disconnect_cbs.append(callback)

    def _call(self, cbs: Sequence[Callable[..., object]], what: str, ident: str, *args: Any) -> None:
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


    def _to_order(self, trade: Any, reduce_only: bool = False) -> Order | None:
        return to_order(trade, self._cycles, reduce_only, self._names)

    def _to_fill(self, fill: Any, with_commission: bool) -> Fill:
        return to_fill(fill, with_commission, self._cycles, self._late_commission, self._names)
