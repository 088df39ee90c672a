"""The Polymarket CLOB connection and its level-0 reads: markets, books, prices, the gamma market by slug.

``PolymarketClient`` owns the ``py-clob-client-v2`` client (bounded by the adapter's timeout), derives
L2 API credentials from the key when none are given, and runs every read through ``_call``.
Failure contract: a read that times out, fails at the socket, gets a non-2xx answer or an answer not in
the documented shape raises ``BrokerUnavailable`` (counted in ``errors``); a malformed private key raises
ValueError without echoing it; trading calls without a key raise PermissionError (``_need_l2``).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from trading.brokers.base import BrokerUnavailable
from trading.brokers.polymarket_api import ApiCreds, ClobClient, PolyApiException, clob_http
from trading.brokers.polymarket_credentials import ENV_FUNDER, ENV_PRIVATE_KEY, PolymarketCredentials
from trading.brokers.polymarket_data import (
    GAMMA_HOST,
    GammaMarket,
    PolymarketData,
    PolymarketResolutionSource,
    token_id_str,
)
from trading.brokers.polymarket_rows import OrderBook, book_from_answer, error_detail
from trading.settings import BrokerConfig

log = logging.getLogger(__name__)

T = TypeVar("T")


class PolymarketClient:
    """The connection and the public reads. ``PolymarketBroker`` adds the account, orders and polling."""

    def __init__(self, config: BrokerConfig | None = None, creds: PolymarketCredentials | None = None,
                 data: PolymarketData | None = None, *, wallet: str | None = None,
                 gamma_host: str = GAMMA_HOST, request_timeout_s: float | None = None) -> None:
        self.config = config or BrokerConfig(kind="polymarket")
        self.creds = creds if creds is not None else PolymarketCredentials.from_env()
        self.timeout_s = request_timeout_s or self.config.position_timeout_s
        # an explicit gamma_host wins; else the settings' (WARDEN_BROKER__POLYMARKET_GAMMA_HOST)
        gamma = gamma_host if gamma_host != GAMMA_HOST else self.config.polymarket_gamma_host
        self.data = data or PolymarketData(self.config.polymarket_data_host, gamma,
                                           clob_host=self.config.polymarket_host, timeout_s=self.timeout_s)
        self._wallet = wallet
        self._client: ClobClient | None = None
        self._api_key: str | None = None          # to recognise our maker fills in trades
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
        except (ValueError, TypeError) as exc:  # a malformed key (binascii.Error is a ValueError): never echo it
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
            detail = error_detail(exc.status_code)
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


    def ask_or_none(self, token_id: str) -> float | None:
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

        return book_from_answer(raw, tid)

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

    def _unavailable(self, what: str, exc: PolyApiException) -> BrokerUnavailable:
        self.errors[what.split(" (")[0]] += 1
        detail = error_detail(exc.status_code)
        log.error("Polymarket %s failed: %s", what, detail)
        return BrokerUnavailable(f"Polymarket {what} failed: {detail}")

