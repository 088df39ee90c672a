"""Polymarket adapter on ``py-clob-client-v2`` (orders, books, prices, trades, cancels) plus the
public data API (positions) through ``polymarket_data``. Credentials live in ``polymarket_credentials``,
the mapping of answers in ``polymarket_rows`` and the signal -> share mapping in ``polymarket_markets``.

Venue facts the adapter enforces:
- A position is a number of outcome-token shares; there is no short. An entry is a BUY of the
  outcome's token; "SELL" only sells shares already held, so a SELL is reduce-only by construction
  and a BUY never reduces anything.
- No resting stop orders exist; a share's worst case is the premium paid (``bounded_payoff``), so a
  bracket places the entry only and returns its stop and target as not placed
  (``supports_protective_orders = False``).
- Token ids are 70+ digit decimal strings and stay ``str`` everywhere.
- There is no push channel here: ``poll()`` fetches new trades and order states and fires the
  ``on_fill`` / ``on_order_status`` callbacks (call it from the executor loop).

Credentials come only from the environment (``PolymarketCredentials.from_env``) and are held as
``SecretStr``: they are never logged, printed or put into exception messages.

Failure contract: a read that times out, fails at the socket, gets a non-2xx answer or an answer not in
the documented shape raises ``BrokerUnavailable``.
An order POST that times out also raises it: the order's fate is then unknown and must be
reconciled from ``open_orders()`` / ``executions()``. A 4xx answer to an order is a rejection (a
REJECTED order is returned); an order the venue cannot build raises ValueError; trading without a key
raises PermissionError; an exit that would not reduce shares held raises ``ReduceOnlyViolation``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from trading.brokers.base import (
    AccountSnapshot,
    BracketOrders,
    BracketRequest,
    BrokerUnavailable,
    ExitPreparation,
    ReduceOnlyViolation,
)
from trading.brokers.callbacks import BrokerCallbacks
from trading.brokers.polymarket_api import (
    AssetType,
    BalanceAllowanceParams,
    ClobClient,
    ClobOrderType,
    MarketOrderArgs,
    OrderArgs,
    OrderPayload,
    PolyApiException,
    PolyException,
    TradeParams,
)
from trading.brokers.polymarket_client import PolymarketClient
from trading.brokers.polymarket_credentials import PolymarketCredentials
from trading.brokers.polymarket_data import (
    GAMMA_HOST,
    PolymarketData,
    token_id_str,
)
from trading.brokers.polymarket_markets import updown_share
from trading.brokers.polymarket_rows import (
    EPS,
    TERMINAL,
    error_text,
    fills_from_trade,
    order_from_row,
    order_status,
)
from trading.domain.models import Fill, Order, OrderStatus, OrderType, Position, Side, Signal
from trading.settings import BrokerConfig

__all__ = ["PolymarketBroker", "PolymarketCredentials"]   # the credentials are re-exported for callers

log = logging.getLogger(__name__)

USDC_DECIMALS = 1_000_000


class PolymarketBroker(PolymarketClient, BrokerCallbacks):
    """``Broker`` on the Polymarket CLOB. ``symbol`` everywhere is the outcome token id (a string)."""

    name = "polymarket"
    supports_protective_orders = False
    min_window_left_s: float = 60.0       # an entry needs at least this long before the window closes
    max_entry_ask: float = 0.99           # at or above this a share can gain at most a cent: not worth buying

    def __init__(self, config: BrokerConfig | None = None, creds: PolymarketCredentials | None = None,
                 data: PolymarketData | None = None, *, wallet: str | None = None,
                 gamma_host: str = GAMMA_HOST, request_timeout_s: float | None = None) -> None:
        PolymarketClient.__init__(self, config, creds, data, wallet=wallet, gamma_host=gamma_host,
                                  request_timeout_s=request_timeout_s)
        BrokerCallbacks.__init__(self)
        self._orders: dict[str, Order] = {}       # every order this adapter placed, last known state
        self._cycles: dict[str, str] = {}         # order id -> trade_cycle_id
        self._seen_fills: set[str] = set()
        self._last_poll: datetime | None = None
        self._disconnect_cbs: list[Callable[[], None]] = []
        self._link_up = True

    # ------------------------------------------------------------------ signal -> share (the session loop)
    def market_for(self, signal: Signal, now: datetime, *,
                   min_window_left_s: float | None = None) -> dict[str, Any] | None:
        """The up/down share an ENTRY signal buys now (``polymarket_markets.updown_share``): None when
        there is none to trade; a failure to ask the venue raises ``BrokerUnavailable``."""
        need = self.min_window_left_s if min_window_left_s is None else min_window_left_s
        return updown_share(self, signal, now, min_window_left_s=need, max_entry_ask=self.max_entry_ask)

    # ------------------------------------------------------------------ reads
    def positions(self) -> list[Position]:
        rows = self.data.positions(self.wallet)
        return [Position(symbol=r.asset, qty=r.size, avg_price=r.avg_price) for r in rows if r.size > EPS]

    def position(self, token_id: str) -> float:
        tid = token_id_str(token_id)
        return sum(p.qty for p in self.positions() if p.symbol == tid)

    def open_orders(self) -> list[Order]:
        rows = self._call("open order read", self._need_l2().get_open_orders)
        return [self._parsed("open order", r, self._order_from_api) for r in rows]

    def order(self, order_id: str) -> Order:
        raw = self._call("order read", self._need_l2().get_order, order_id)
        if not isinstance(raw, dict) or not raw.get("id"):
            raise BrokerUnavailable(f"Polymarket order {order_id}: unexpected answer")
        return self._parsed("order", raw, self._order_from_api)

    def account(self) -> AccountSnapshot:
        raw = self._call("balance read", self._need_l2().get_balance_allowance,
                         BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
        try:
            cash = int(str(raw["balance"])) / USDC_DECIMALS
        except (TypeError, KeyError, ValueError):
            raise BrokerUnavailable(f"Polymarket balance: unexpected answer {raw!r}") from None
        return AccountSnapshot(cash=cash, equity=round(cash + self.data.value(self.wallet), 6),
                               taken_at=datetime.now(UTC))

    def executions(self, since: datetime | None = None) -> list[Fill]:
        params = TradeParams(after=int(since.timestamp())) if since else None
        trades = self._call("trade read", self._need_l2().get_trades, params)
        fills: dict[str, Fill] = {}
        for t in trades:
            for f in self._parsed("trade", t, self._fills_from_trade):
                if since is None or f.ts >= since:
                    fills.setdefault(f.exec_id, f)
        return sorted(fills.values(), key=lambda f: (f.ts, f.exec_id))

    # ------------------------------------------------------------------ orders
    def place_bracket(self, req: BracketRequest) -> BracketOrders:
        """BUY the outcome token; Polymarket has no resting stop, so stop and target are not placed."""
        if req.side is not Side.BUY:
            raise ValueError("Polymarket has no short: enter by BUYing the other outcome's token")
        tid = token_id_str(req.symbol)
        if req.entry_type == "LMT":
            if req.limit_price is None:
                raise ValueError("a LMT entry needs limit_price")
            parent = self._limit(req.trade_cycle_id, tid, Side.BUY, req.qty, req.limit_price,
                                 ClobOrderType.GTC)
        elif req.entry_type == "MKT":
            parent = self._market(req.trade_cycle_id, tid, Side.BUY, req.qty, req.limit_price)
        else:
            raise ValueError(f"entry_type must be MKT or LMT, got {req.entry_type!r}")
        why = "not placed: Polymarket has no resting stop; a share's worst case is the premium paid"
        stop = Order(order_id=f"{parent.order_id}:stop", trade_cycle_id=req.trade_cycle_id, symbol=tid,
                     side=Side.SELL, qty=req.qty, order_type=OrderType.STP, stop_price=req.stop_price,
                     parent_id=parent.order_id, reduce_only=True, status=OrderStatus.CANCELLED, reason=why)
        target = stop.model_copy(update={"order_id": f"{parent.order_id}:target", "order_type": OrderType.LMT,
                                         "stop_price": None, "limit_price": req.target_price})
        return BracketOrders(parent=parent, stop=stop, target=target)

    def place_reduce_only(self, trade_cycle_id: str, symbol: str, side: Side, qty: float,
                          order_type: str = "MKT", limit_price: float | None = None) -> Order:
        """SELL shares held (read fresh from the data API); a BUY never reduces a Polymarket position."""
        tid = token_id_str(symbol)
        if side is not Side.SELL:
            raise ReduceOnlyViolation(
                f"token {tid}: a BUY never reduces a Polymarket position (there is no short)")
        held = self.position(tid)
        if held < EPS:
            raise ReduceOnlyViolation(f"token {tid}: no shares held; exit SELL {qty} refused")
        if qty > held + EPS:
            raise ReduceOnlyViolation(f"token {tid}: SELL {qty} exceeds the {held:g} shares held")
        if order_type == "LMT":
            if limit_price is None:
                raise ValueError("a LMT exit needs limit_price")
            return self._limit(trade_cycle_id, tid, Side.SELL, qty, limit_price, ClobOrderType.GTC,
                               reduce_only=True)
        if order_type == "MKT":
            return self._market(trade_cycle_id, tid, Side.SELL, qty, limit_price, reduce_only=True)
        raise ValueError(f"order_type must be MKT or LMT, got {order_type!r}")

    def _limit(self, cycle: str, tid: str, side: Side, qty: float, price: float, order_type: str,
               reduce_only: bool = False) -> Order:
        client = self._need_l2()
        try:
            signed = client.create_order(OrderArgs(token_id=tid, price=price, size=qty, side=side.value))
        except PolyApiException as exc:
            raise self._unavailable("order build", exc) from None
        except PolyException as exc:      # invalid price or tick for this market
            raise ValueError(f"Polymarket order not built for token {tid}: {exc.msg}") from None
        local = Order(order_id="", trade_cycle_id=cycle, symbol=tid, side=side, qty=qty,
                      order_type=OrderType.LMT, limit_price=price, reduce_only=reduce_only)
        return self._post(client, signed, order_type, local)

    def _market(self, cycle: str, tid: str, side: Side, qty: float, bound: float | None,
                reduce_only: bool = False) -> Order:
        """Fill-and-kill at a bounded price: the best opposite quote, or ``bound`` when given."""
        client = self._need_l2()
        book = self.order_book(tid)
        best = book.best_ask if side is Side.BUY else book.best_bid
        price = bound if bound is not None else best
        if price is None:
            raise ValueError(f"token {tid}: no {'asks' if side is Side.BUY else 'bids'} to trade against")
        # BUY amounts are USDC, SELL amounts are shares
        amount = round(qty * price, 2) if side is Side.BUY else qty
        try:
            signed = client.create_market_order(MarketOrderArgs(token_id=tid, amount=amount, side=side.value,
                                                                price=price, order_type=ClobOrderType.FAK))
        except PolyApiException as exc:
            raise self._unavailable("order build", exc) from None
        except PolyException as exc:
            raise ValueError(f"Polymarket order not built for token {tid}: {exc.msg}") from None
        local = Order(order_id="", trade_cycle_id=cycle, symbol=tid, side=side, qty=qty,
                      order_type=OrderType.MKT, limit_price=price, reduce_only=reduce_only)
        return self._post(client, signed, ClobOrderType.FAK, local)

    def _post(self, client: ClobClient, signed: Any, order_type: str, local: Order) -> Order:
        try:
            resp = client.post_order(signed, order_type)
        except PolyApiException as exc:
            if exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429:
                raise self._unavailable(f"order post (cycle {local.trade_cycle_id}; fate unknown, reconcile)",
                                        exc) from None
            self.errors["order rejected"] += 1
            reason = error_text(exc.error_msg)
            log.error("Polymarket rejected %s %s of token %s (cycle %s): HTTP %s %s", local.side, local.qty,
                      local.symbol, local.trade_cycle_id, exc.status_code, reason)
            return local.model_copy(update={"order_id": f"rejected:{local.trade_cycle_id}",
                                            "status": OrderStatus.REJECTED, "reason": reason})
        if not isinstance(resp, dict) or not resp.get("success", True) or not resp.get("orderID"):
            reason = error_text(resp.get("errorMsg") if isinstance(resp, dict) else resp) or "no order id"
            self.errors["order rejected"] += 1
            log.error("Polymarket did not accept order for cycle %s: %s", local.trade_cycle_id, reason)
            return local.model_copy(update={"order_id": f"rejected:{local.trade_cycle_id}",
                                            "status": OrderStatus.REJECTED, "reason": reason})
        oid = str(resp["orderID"])
        # shares moved: what a BUY takes, what a SELL gives
        shares = resp.get("takingAmount") if local.side is Side.BUY else resp.get("makingAmount")
        usdc = resp.get("makingAmount") if local.side is Side.BUY else resp.get("takingAmount")
        try:
            moved, paid = float(shares or 0), float(usdc or 0)
        except ValueError:
            moved, paid = 0.0, 0.0
        filled = min(moved, local.qty)
        status = order_status(str(resp.get("status", "")), filled, local.qty)
        order = local.model_copy(update={"order_id": oid, "status": status, "filled_qty": filled,
                                         "avg_fill_price": round(paid / moved, 6) if moved > EPS else None,
                                         "reason": str(resp.get("status", ""))})
        self._cycles[oid] = local.trade_cycle_id
        self._orders[oid] = order
        log.info("Polymarket order %s cycle=%s %s %s token %s @ %s -> %s", oid, local.trade_cycle_id,
                 local.side, local.qty, local.symbol, local.limit_price, status)
        self._call_cbs(self._status_cbs, "order status", oid, order)
        return order

    def prepare_exit(self, trade_cycle_id: str, symbol: str, timeout_s: float = 5.0) -> ExitPreparation:
        """No resting bracket children exist on Polymarket (see above): nothing to cancel; the live
        position sizes the exit (raises BrokerUnavailable when it cannot be read)."""
        return ExitPreparation(position=self.position(symbol))

    def cancel(self, order_id: str) -> None:
        resp = self._call("cancel", self._need_l2().cancel_order, OrderPayload(orderID=order_id))
        not_canceled = (resp.get("not_canceled") or {}) if isinstance(resp, dict) else {}
        if order_id in not_canceled:
            raise ValueError(f"Polymarket did not cancel order {order_id}: {not_canceled[order_id]}")

    # ------------------------------------------------------------------ callbacks (polled)
    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Called when a poll first fails to reach the venue."""
        self._disconnect_cbs.append(callback)

    def process_events(self, timeout: float = 0.0) -> None:
        """Poll once, then wait out the rest of ``timeout`` (the session loop's pump)."""
        t0 = time.monotonic()
        try:
            self.poll()
        except BrokerUnavailable as exc:      # logged and counted by the read; reported by on_disconnect
            log.warning("Polymarket poll failed: %s", exc)
        rest = timeout - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)

    def poll(self, overlap_s: float = 120.0) -> tuple[list[Fill], list[Order]]:
        """Fetch new fills and order-state changes; fire the callbacks; return what was new.

        Trades are re-read with an overlap (they can appear late) and de-duplicated on exec id.
        """
        client = self.client
        if client.creds is None or client.signer is None:
            return [], []                     # read-only: no orders or trades of ours to follow
        try:
            result = self._poll(overlap_s)
        except BrokerUnavailable:
            if self._link_up:
                self._link_up = False
                self._call_cbs(self._disconnect_cbs, "disconnect", "polymarket")
            raise
        if not self._link_up:
            self._link_up = True
            log.info("Polymarket reachable again")
            self._call_cbs(self._reconnect_cbs, "reconnect", "polymarket")
        return result

    def _poll(self, overlap_s: float) -> tuple[list[Fill], list[Order]]:
        since = None
        if self._last_poll is not None:
            since = datetime.fromtimestamp(self._last_poll.timestamp() - overlap_s, UTC)
        started = datetime.now(UTC)
        new_fills = [f for f in self.executions(since) if f.exec_id not in self._seen_fills]
        for f in new_fills:
            self._seen_fills.add(f.exec_id)
            self._call_cbs(self._fill_cbs, "fill", f.exec_id, f)
        changed: list[Order] = []
        for oid, known in list(self._orders.items()):
            if known.status in TERMINAL:
                continue
            now = self.order(oid)
            if now.status != known.status or now.filled_qty != known.filled_qty:
                now = now.model_copy(update={"reduce_only": known.reduce_only})
                self._orders[oid] = now
                changed.append(now)
                self._call_cbs(self._status_cbs, "order status", oid, now)
        self._last_poll = started
        return new_fills, changed

    def _call_cbs(self, cbs: Sequence[Callable[..., object]], what: str, ident: str, *args: Any) -> None:
        for cb in cbs:
            try:
                cb(*args)
            except Exception:
                self.errors[f"{what} callback"] += 1
                log.exception("%s callback failed for %s", what, ident)

    # ------------------------------------------------------------------ mapping
    def _order_from_api(self, r: dict[str, Any]) -> Order:
        oid = str(r["id"])
        return order_from_row(r, self._cycles.get(oid, ""), self._orders.get(oid))

    def _fills_from_trade(self, t: dict[str, Any]) -> list[Fill]:
        return fills_from_trade(t, self._cycles, self._is_mine)

    def _is_mine(self, maker_order: dict[str, Any]) -> bool:
        """A maker order of a trade is ours when its owner is our API key or its maker our wallet."""
        wallets = {w.lower() for w in (self._wallet, self.creds.funder) if w}
        return ((self._api_key is not None and maker_order.get("owner") == self._api_key)
                or str(maker_order.get("maker_address", "")).lower() in wallets)
