"""Polymarket adapter on ``py-clob-client-v2`` (orders, books, prices, trades, cancels) plus the
public data API (positions) through ``polymarket_data``.

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

A read that times out, fails at the socket or gets a non-2xx answer raises ``BrokerUnavailable``.
An order POST that times out also raises it: the order's fate is then unknown and must be
reconciled from ``open_orders()`` / ``executions()``. A 4xx answer to an order is a rejection.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

try:
    import py_clob_client_v2.http_helpers.helpers as clob_http
    from py_clob_client_v2 import (
        ApiCreds,
        AssetType,
        BalanceAllowanceParams,
        ClobClient,
        MarketOrderArgs,
        OrderArgs,
        OrderPayload,
        TradeParams,
    )
    from py_clob_client_v2 import (
        OrderType as ClobOrderType,
    )
    from py_clob_client_v2.exceptions import PolyApiException, PolyException
except ImportError as exc:  # pragma: no cover - only where the extra is not installed
    raise ImportError(
        "the Polymarket adapter needs py-clob-client-v2: pip install 'warden[polymarket]'") from exc

from trading.brokers.base import (
    AccountSnapshot,
    BracketOrders,
    BracketRequest,
    BrokerUnavailable,
    ReduceOnlyViolation,
)
from trading.brokers.polymarket_data import (
    GAMMA_HOST,
    GammaMarket,
    PolymarketData,
    PolymarketResolutionSource,
    token_id_str,
)
from trading.domain.models import Fill, Order, OrderStatus, OrderType, Position, Side, Signal
from trading.settings import BrokerConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
EPS = 1e-9
USDC_DECIMALS = 1_000_000
_TERMINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED}

ENV_PRIVATE_KEY = "POLYMARKET_PRIVATE_KEY"
ENV_API_KEY = "POLYMARKET_API_KEY"
ENV_API_SECRET = ("POLYMARKET_API_SECRET", "POLYMARKET_SECRET")
ENV_API_PASSPHRASE = ("POLYMARKET_API_PASSPHRASE", "POLYMARKET_PASSPHRASE")
ENV_FUNDER = "POLYMARKET_FUNDER"
ENV_SIGNATURE_TYPE = "POLYMARKET_SIGNATURE_TYPE"

UPDOWN_WINDOW_S = 900                     # the 15-minute up/down windows: slug <asset>-updown-15m-<start>
_QUOTES = ("USDT", "USDC", "USD")         # BTCUSDT, BTC-USD -> btc


class PolymarketCredentials(BaseModel):
    """Signing key and L2 API credentials. ``repr``/``str`` never show a secret."""
    model_config = ConfigDict(frozen=True)

    private_key: SecretStr | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_passphrase: SecretStr | None = None
    funder: str | None = None             # the (proxy) wallet holding funds and shares: public
    signature_type: int | None = None     # 0 EOA, 1 POLY_PROXY, 2 GNOSIS_SAFE (library default: EOA)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PolymarketCredentials:
        env = os.environ if env is None else env

        def first(*names: str) -> str | None:
            return next((env[n].strip() for n in names if env.get(n, "").strip()), None)

        key = first(ENV_API_KEY)
        secret = first(*ENV_API_SECRET)
        passphrase = first(*ENV_API_PASSPHRASE)
        given = [key is not None, secret is not None, passphrase is not None]
        if any(given) and not all(given):
            missing = [n for n, ok in zip((ENV_API_KEY, ENV_API_SECRET[0], ENV_API_PASSPHRASE[0]), given,
                                          strict=True) if not ok]
            raise ValueError(f"incomplete Polymarket API credentials: set {', '.join(missing)} "
                             "(or none of the three to derive them from the private key)")
        sig = first(ENV_SIGNATURE_TYPE)
        return cls(private_key=_secret(first(ENV_PRIVATE_KEY)), api_key=_secret(key),
                   api_secret=_secret(secret), api_passphrase=_secret(passphrase), funder=first(ENV_FUNDER),
                   signature_type=int(sig) if sig is not None else None)

    @property
    def has_api_creds(self) -> bool:
        return self.api_key is not None and self.api_secret is not None and self.api_passphrase is not None


def _secret(v: str | None) -> SecretStr | None:
    return SecretStr(v) if v else None


class BookLevel(BaseModel):
    price: float
    size: float


class OrderBook(BaseModel):
    """A CLOB book with levels sorted best first (the API sends bids ascending, asks descending)."""
    token_id: str
    market: str = ""
    bids: list[BookLevel]
    asks: list[BookLevel]
    tick_size: float | None = None
    min_order_size: float | None = None
    neg_risk: bool = False
    timestamp: str = ""

    @property
    def best_bid(self) -> float | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2


def _ts(v: object) -> datetime:
    """A CLOB timestamp (unix seconds or ms, as int or string, or ISO 8601) as aware UTC."""
    if isinstance(v, int | float) or (isinstance(v, str) and v.strip().isdigit()):
        x = float(v)
        return datetime.fromtimestamp(x / 1000 if x > 1e11 else x, UTC)
    if isinstance(v, str) and v:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _status(api_status: str, filled: float, size: float) -> OrderStatus:
    s = (api_status or "").lower()
    if s in ("matched", "filled") or (size > 0 and filled >= size - EPS):
        return OrderStatus.FILLED if filled >= size - EPS or s == "filled" else OrderStatus.PARTIAL
    if s in ("canceled", "cancelled", "unmatched", "expired", "canceled_market_resolved"):
        return OrderStatus.CANCELLED
    if s in ("invalid", "rejected"):
        return OrderStatus.REJECTED
    if s in ("delayed", "pending"):
        return OrderStatus.PENDING
    return OrderStatus.PARTIAL if filled > EPS else OrderStatus.SUBMITTED


def _fee(bps: object, price: float, size: float) -> float:
    """Polymarket's fee: rate x min(price, 1 - price) x shares (0 on fee-free markets)."""
    try:
        rate = float(bps or 0) / 10_000
    except (TypeError, ValueError):
        rate = 0.0
    return round(rate * min(price, 1 - price) * size, 6)


class PolymarketBroker:
    """``Broker`` on the Polymarket CLOB. ``symbol`` everywhere is the outcome token id (a string)."""

    name = "polymarket"
    supports_protective_orders = False

    def __init__(self, config: BrokerConfig | None = None, creds: PolymarketCredentials | None = None,
                 data: PolymarketData | None = None, *, wallet: str | None = None,
                 gamma_host: str = GAMMA_HOST, request_timeout_s: float | None = None) -> None:
        self.config = config or BrokerConfig(kind="polymarket")
        self.creds = creds if creds is not None else PolymarketCredentials.from_env()
        self.timeout_s = request_timeout_s or self.config.position_timeout_s
        self.data = data or PolymarketData(self.config.polymarket_data_host, gamma_host,
                                           clob_host=self.config.polymarket_host, timeout_s=self.timeout_s)
        self._wallet = wallet
        self._client: ClobClient | None = None
        self._api_key: str | None = None          # to recognise our maker fills in trades
        self._orders: dict[str, Order] = {}       # every order this adapter placed, last known state
        self._cycles: dict[str, str] = {}         # order id -> trade_cycle_id
        self._seen_fills: set[str] = set()
        self._last_poll: datetime | None = None
        self._fill_cbs: list[Callable[[Fill], None]] = []
        self._status_cbs: list[Callable[[Order], None]] = []
        self._disconnect_cbs: list[Callable[[], None]] = []
        self._reconnect_cbs: list[Callable[[], None]] = []
        self._link_up = True
        self.errors: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"PolymarketBroker(host={self.config.polymarket_host!r}, wallet={self._wallet!r})"

    # ------------------------------------------------------------------ connection
    @property
    def client(self) -> ClobClient:
        if self._client is None:
            raise BrokerUnavailable("Polymarket adapter not connected: call connect() first")
        return self._client

    @property
    def account_id(self) -> str:
        """The wallet whose positions this adapter trades (scopes the executor's journal)."""
        return self._wallet or ""

    @property
    def wallet(self) -> str:
        if self._wallet:
            return self._wallet
        raise PermissionError(f"no wallet address: set {ENV_FUNDER} or {ENV_PRIVATE_KEY}")

    def connect(self) -> None:
        # py-clob-client-v2 sends everything through one module-level httpx.Client: bound its timeout
        clob_http._http_client.timeout = httpx.Timeout(self.timeout_s)
        c, cfg = self.creds, self.config
        api = None
        if c.has_api_creds:
            assert c.api_key and c.api_secret and c.api_passphrase
            api = ApiCreds(api_key=c.api_key.get_secret_value(), api_secret=c.api_secret.get_secret_value(),
                           api_passphrase=c.api_passphrase.get_secret_value())
        key = c.private_key.get_secret_value() if c.private_key else None
        try:
            client = ClobClient(cfg.polymarket_host, chain_id=cfg.polymarket_chain_id, key=key, creds=api,
                                signature_type=c.signature_type, funder=c.funder)
        except Exception as exc:  # a malformed key: say so without echoing it
            raise ValueError(
                f"{ENV_PRIVATE_KEY} is not a valid private key ({exc.__class__.__name__})") from None
        self._call("health check", client.get_ok)
        if key and api is None:
            # level 1: derive the L2 API credentials from the key (kept in memory only)
            derived = self._call("API key derivation", client.create_or_derive_api_key)
            client.set_api_creds(derived)
        if client.creds is not None:
            self._api_key = client.creds.api_key
        self._wallet = self._wallet or c.funder or (client.get_address() if key else None)
        self._client = client
        log.info("connected to Polymarket CLOB %s (level %s, wallet %s)", cfg.polymarket_host, client.mode,
                 self._wallet or "-")

    def disconnect(self) -> None:
        self._client = None

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A read through the CLOB client: any failure to get an answer is BrokerUnavailable."""
        try:
            result = fn(*args)
        except PolyApiException as exc:
            self.errors[what] += 1
            detail = _detail(exc)
            log.error("Polymarket %s failed: %s", what, detail)
            raise BrokerUnavailable(f"Polymarket {what} failed: {detail}: {exc.error_msg}") from None
        except httpx.HTTPError as exc:
            self.errors[what] += 1
            raise BrokerUnavailable(f"Polymarket {what} failed: {exc.__class__.__name__}") from None
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            # the client indexes into the answer (e.g. "next_cursor"); a 200 that is not the documented
            # shape (an HTML error page comes back as str) fails there
            self.errors[what] += 1
            log.error("Polymarket %s: answer not understood (%s)", what, exc.__class__.__name__)
            raise BrokerUnavailable(f"Polymarket {what} failed: answer not understood "
                                    f"({exc.__class__.__name__})") from None
        return result

    def _need_l2(self) -> ClobClient:
        client = self.client
        if client.creds is None or client.signer is None:
            raise PermissionError(f"Polymarket trading needs {ENV_PRIVATE_KEY} (and API credentials or their "
                                  "derivation); this adapter is read-only")
        return client

    # ------------------------------------------------------------------ market data (level 0)
    def market(self, condition_id: str) -> dict[str, Any]:
        m = self._call("market read", self.client.get_market, condition_id)
        if not isinstance(m, dict):
            raise BrokerUnavailable(f"Polymarket market {condition_id}: non-JSON answer")
        for t in m.get("tokens") or []:
            t["token_id"] = token_id_str(t["token_id"])
        return m

    def resolution_source(self) -> PolymarketResolutionSource:
        """Who won a window, for the outcome resolver (failures raise: the resolver counts them)."""
        return PolymarketResolutionSource(self.data, raise_errors=True)

    def market_by_slug(self, slug: str) -> GammaMarket | None:
        """The gamma market (outcomes, token ids, closed flag) for a slug like btc-updown-15m-1767200400."""
        return self.data.market_by_slug(slug)

    # ------------------------------------------------------------------ signal -> share (the session loop)
    min_window_left_s: float = 60.0       # an entry needs at least this long before the window closes
    max_entry_ask: float = 0.99           # at or above this a share can gain at most a cent: not worth buying

    def market_for(self, signal: Signal, now: datetime, *,
                   min_window_left_s: float | None = None) -> dict[str, Any] | None:
        """The share an ENTRY signal on an underlying (BTC, ETH, SOL, XRP; BTCUSDT / BTC-USD accepted)
        buys: Up for BUY, Down for SELL (there is no short), in the 15-minute window containing ``now``.

        ``None`` (logged at INFO with the reason) when the market is missing, closed or not accepting
        orders, there is no ask, the ask is >= ``max_entry_ask``, or fewer than ``min_window_left_s``
        seconds remain. A failure to ask the venue raises ``BrokerUnavailable``.
        """
        if signal.side is None:
            return None
        if now.tzinfo is None:            # a local-time "now" would pick another window: refuse
            raise ValueError(f"market_for needs an aware datetime, got naive {now.isoformat()}")
        asset = _updown_asset(signal.symbol)
        if asset is None:
            log.info("no Polymarket up/down market for signal symbol %r", signal.symbol)
            return None
        stamp = int(now.timestamp())
        start = stamp - stamp % UPDOWN_WINDOW_S
        slug = f"{asset}-updown-15m-{start}"
        end = datetime.fromtimestamp(start + UPDOWN_WINDOW_S, UTC)
        left = (end - now).total_seconds()
        need = self.min_window_left_s if min_window_left_s is None else min_window_left_s
        if left < need:                   # checked first: no request for a window we would not trade
            log.info("%s: %.0f s left in the window (< %.0f s): no entry", slug, left, need)
            return None
        outcome = "Up" if signal.side is Side.BUY else "Down"

        m = self.market_by_slug(slug)
        if m is None:
            log.info("%s: no such market on gamma", slug)
            return None
        if m.closed or not m.active:
            log.info("%s: market not open (closed=%s, active=%s)", slug, m.closed, m.active)
            return None
        if m.end_date and not _same_time(m.end_date, end):
            # the slug is not the window we computed: trading it would bet on another period
            log.warning("%s: gamma says the market ends %s, not %s: no entry", slug, m.end_date, end.isoformat())
            return None
        try:
            token = m.token_for(outcome)
        except KeyError as exc:
            log.info("%s: %s", slug, exc.args[0])
            return None
        if not m.condition_id:
            log.info("%s: gamma gives no condition id: no entry", slug)
            return None
        clob = self.market(m.condition_id)          # the CLOB is the authority on accepting orders
        if clob.get("closed") or not clob.get("accepting_orders"):
            log.info("%s: CLOB not accepting orders (closed=%s, accepting_orders=%s)", slug,
                     clob.get("closed"), clob.get("accepting_orders"))
            return None
        clob_tokens = {t.get("token_id") for t in clob.get("tokens") or [] if str(t.get("outcome")) == outcome}
        if clob_tokens and token not in clob_tokens:
            log.warning("%s: gamma's %s token %s is not the CLOB's %s: no entry", slug, outcome, token,
                        sorted(clob_tokens))
            return None
        ask = self._ask_or_none(token)
        if ask is None or ask <= 0:
            log.info("%s: no ask for %s (token %s): no entry", slug, outcome, token)
            return None
        if ask >= self.max_entry_ask:
            log.info("%s: %s ask %.4g >= %.2f: no entry", slug, outcome, ask, self.max_entry_ask)
            return None
        return {"symbol": token, "price": ask, "stop": 0.0, "target": 1.0, "market_slug": slug,
                "outcome_label": outcome, "resolve_by": end, "condition_id": m.condition_id,
                # the share is always BOUGHT, whatever the signal's direction
                "side": Side.BUY}

    def _ask_or_none(self, token_id: str) -> float | None:
        """Best ask, or None when the CLOB says nobody offers (404 "No orderbook exists")."""
        tid = token_id_str(token_id)

        def read() -> Any:
            try:
                return self.client.get_price(tid, "SELL")
            except PolyApiException as exc:
                if exc.status_code == 404:
                    return None
                raise

        raw = self._call("price read", read)
        if raw is None:
            return None
        try:
            return float(raw["price"])
        except (TypeError, KeyError, ValueError):
            raise BrokerUnavailable(f"Polymarket price for {tid}: unexpected answer {raw!r}") from None

    def order_book(self, token_id: str) -> OrderBook:
        tid = token_id_str(token_id)
        raw = self._call("order book read", self.client.get_order_book, tid)
        if not isinstance(raw, dict):
            raise BrokerUnavailable(f"Polymarket book for {tid}: non-JSON answer")

        def levels(key: str, best_first_desc: bool) -> list[BookLevel]:
            out = [BookLevel(price=float(lv["price"]), size=float(lv["size"])) for lv in raw.get(key) or []]
            return sorted(out, key=lambda lv: lv.price, reverse=best_first_desc)

        return OrderBook(token_id=token_id_str(raw.get("asset_id") or tid), market=raw.get("market") or "",
                         bids=levels("bids", True), asks=levels("asks", False),
                         tick_size=float(raw["tick_size"]) if raw.get("tick_size") else None,
                         min_order_size=float(raw["min_order_size"]) if raw.get("min_order_size") else None,
                         neg_risk=bool(raw.get("neg_risk", False)), timestamp=str(raw.get("timestamp") or ""))

    def best_bid(self, token_id: str) -> float:
        """Best bid. The CLOB's /price answers side=BUY with the best bid (what a seller gets)."""
        return self._price(token_id, "BUY")

    def best_ask(self, token_id: str) -> float:
        """Best ask (what a buyer pays): /price with side=SELL."""
        return self._price(token_id, "SELL")

    def _price(self, token_id: str, api_side: str) -> float:
        raw = self._call("price read", self.client.get_price, token_id_str(token_id), api_side)
        try:
            return float(raw["price"])
        except (TypeError, KeyError, ValueError):
            raise BrokerUnavailable(f"Polymarket price for {token_id}: unexpected answer {raw!r}") from None

    def midpoint(self, token_id: str) -> float:
        raw = self._call("midpoint read", self.client.get_midpoint, token_id_str(token_id))
        try:
            return float(raw["mid"])
        except (TypeError, KeyError, ValueError):
            raise BrokerUnavailable(
                f"Polymarket midpoint for {token_id}: unexpected answer {raw!r}") from None

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
            reason = _error_text(exc.error_msg)
            log.error("Polymarket rejected %s %s of token %s (cycle %s): HTTP %s %s", local.side, local.qty,
                      local.symbol, local.trade_cycle_id, exc.status_code, reason)
            return local.model_copy(update={"order_id": f"rejected:{local.trade_cycle_id}",
                                            "status": OrderStatus.REJECTED, "reason": reason})
        if not isinstance(resp, dict) or not resp.get("success", True) or not resp.get("orderID"):
            reason = _error_text(resp.get("errorMsg") if isinstance(resp, dict) else resp) or "no order id"
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
        status = _status(str(resp.get("status", "")), filled, local.qty)
        order = local.model_copy(update={"order_id": oid, "status": status, "filled_qty": filled,
                                         "avg_fill_price": round(paid / moved, 6) if moved > EPS else None,
                                         "reason": str(resp.get("status", ""))})
        self._cycles[oid] = local.trade_cycle_id
        self._orders[oid] = order
        log.info("Polymarket order %s cycle=%s %s %s token %s @ %s -> %s", oid, local.trade_cycle_id,
                 local.side, local.qty, local.symbol, local.limit_price, status)
        self._call_cbs(self._status_cbs, "order status", oid, order)
        return order

    def _unavailable(self, what: str, exc: PolyApiException) -> BrokerUnavailable:
        self.errors[what.split(" (")[0]] += 1
        detail = _detail(exc)
        log.error("Polymarket %s failed: %s", what, detail)
        return BrokerUnavailable(f"Polymarket {what} failed: {detail}")

    def cancel(self, order_id: str) -> None:
        resp = self._call("cancel", self._need_l2().cancel_order, OrderPayload(orderID=order_id))
        not_canceled = (resp.get("not_canceled") or {}) if isinstance(resp, dict) else {}
        if order_id in not_canceled:
            raise ValueError(f"Polymarket did not cancel order {order_id}: {not_canceled[order_id]}")

    # ------------------------------------------------------------------ callbacks (polled)
    def on_fill(self, callback: Callable[[Fill], None]) -> None:
        self._fill_cbs.append(callback)

    def on_order_status(self, callback: Callable[[Order], None]) -> None:
        self._status_cbs.append(callback)

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Called when a poll first fails to reach the venue."""
        self._disconnect_cbs.append(callback)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Called when a poll succeeds again after a failure (consumers reconcile then)."""
        self._reconnect_cbs.append(callback)

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
            if known.status in _TERMINAL:
                continue
            now = self.order(oid)
            if now.status != known.status or now.filled_qty != known.filled_qty:
                now = now.model_copy(update={"reduce_only": known.reduce_only})
                self._orders[oid] = now
                changed.append(now)
                self._call_cbs(self._status_cbs, "order status", oid, now)
        self._last_poll = started
        return new_fills, changed

    def _call_cbs(self, cbs: list[Callable[..., None]], what: str, ident: str, *args: Any) -> None:
        for cb in cbs:
            try:
                cb(*args)
            except Exception:
                self.errors[f"{what} callback"] += 1
                log.exception("%s callback failed for %s", what, ident)

    # ------------------------------------------------------------------ mapping
    def _parsed(self, what: str, row: Any, fn: Callable[[Any], T]) -> T:
        """Map one API row; a row not in the documented shape makes the whole read unavailable
        (skipping it could hide a fill), logged with the row's id and counted."""
        try:
            return fn(row)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            rid = row.get("id") if isinstance(row, dict) else None
            self.errors[f"{what} not understood"] += 1
            log.error("Polymarket %s %s not understood: %s: %s", what, rid, exc.__class__.__name__, exc)
            raise BrokerUnavailable(f"Polymarket {what} {rid} not understood: {exc.__class__.__name__}") from None

    def _order_from_api(self, r: dict[str, Any]) -> Order:
        oid = str(r["id"])
        size = float(r.get("original_size") or r.get("size") or 0)
        filled = float(r.get("size_matched") or 0)
        known = self._orders.get(oid)
        return Order(order_id=oid, trade_cycle_id=self._cycles.get(oid, ""),
                     symbol=token_id_str(r["asset_id"]), side=Side(str(r["side"]).upper()),
                     qty=size if size > 0 else max(filled, EPS),
                     order_type=OrderType.LMT, limit_price=float(r["price"]) if r.get("price") else None,
                     reduce_only=known.reduce_only if known else str(r["side"]).upper() == "SELL",
                     status=_status(str(r.get("status", "")), filled, size), filled_qty=filled,
                     created_at=_ts(r.get("created_at")), reason=str(r.get("status", "")))

    def _fills_from_trade(self, t: dict[str, Any]) -> list[Fill]:
        if str(t.get("status", "")).upper() == "FAILED":
            return []     # the settlement transaction failed: nothing changed hands
        ts = _ts(t.get("match_time") or t.get("last_update"))
        tid = t.get("id", "")
        if str(t.get("trader_side", "TAKER")).upper() == "TAKER":
            oid = str(t.get("taker_order_id", ""))
            price, size = float(t["price"]), float(t["size"])
            return [Fill(exec_id=str(tid), order_id=oid, symbol=token_id_str(t["asset_id"]),
                         side=Side(str(t["side"]).upper()), qty=size, price=price, ts=ts,
                         commission=_fee(t.get("fee_rate_bps"), price, size),
                         trade_cycle_id=self._cycles.get(oid))]
        wallets = {w.lower() for w in (self._wallet, self.creds.funder) if w}
        out = []
        for mo in t.get("maker_orders") or []:
            mine = ((self._api_key is not None and mo.get("owner") == self._api_key)
                    or str(mo.get("maker_address", "")).lower() in wallets)
            if not mine:
                continue
            oid = str(mo.get("order_id", ""))
            price, size = float(mo["price"]), float(mo["matched_amount"])
            out.append(Fill(exec_id=f"{tid}:{oid}", order_id=oid,
                            symbol=token_id_str(mo.get("asset_id") or t["asset_id"]),
                            side=Side(str(mo["side"]).upper()), qty=size, price=price, ts=ts,
                            commission=_fee(mo.get("fee_rate_bps"), price, size),
                            trade_cycle_id=self._cycles.get(oid)))
        return out


def _same_time(iso: str, want: datetime, tolerance_s: float = 60.0) -> bool:
    try:
        return abs((_ts(iso) - want).total_seconds()) <= tolerance_s
    except ValueError:
        return False


def _updown_asset(symbol: str) -> str | None:
    """The slug prefix of an underlying: BTC, btc, BTCUSDT, BTC-USD, BINANCE:BTCUSDT -> "btc"."""
    s = symbol.strip().upper().rsplit(":", 1)[-1]
    for sep in ("-", "/", "_"):
        s = s.split(sep, 1)[0]
    for quote in _QUOTES:
        if s.endswith(quote) and len(s) > len(quote):
            s = s[: -len(quote)]
            break
    return s.lower() if s.isalnum() and s.isascii() else None


def _detail(exc: PolyApiException) -> str:
    return "no answer (timeout or socket error)" if exc.status_code is None else f"HTTP {exc.status_code}"


def _error_text(msg: object) -> str:
    if isinstance(msg, dict):
        return str(msg.get("error") or msg.get("errorMsg") or msg)
    return str(msg or "")
