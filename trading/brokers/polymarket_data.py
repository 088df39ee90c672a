"""Polymarket's public read APIs over plain HTTP (httpx): data API positions/value, gamma markets.

No credentials: positions are public by wallet address. Shapes handled:
- gamma's ``outcomes`` / ``outcomePrices`` / ``clobTokenIds`` are JSON-encoded strings inside JSON;
- token ids are 70+ digit decimal numbers and stay ``str`` end to end (a float would lose digits);
- prices come as strings in some endpoints and as floats with binary noise in others.

A request that times out, fails at the socket, answers non-2xx or non-JSON raises
``BrokerUnavailable``; the resolution source turns that into ``None`` (unavailable), counted.
Failure contract: an answer row not in the documented shape raises pydantic's ValidationError from the
models here (a float token id included); ``token_id_str`` raises ValueError on anything but digits.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from trading.brokers.base import BrokerUnavailable

log = logging.getLogger(__name__)

DATA_HOST = "https://data-api.polymarket.com"
GAMMA_HOST = "https://gamma-api.polymarket.com"
CLOB_HOST = "https://clob.polymarket.com"
# a closed market's final prices must be this decisive before a winner is read from them
DECISIVE = 0.99


def token_id_str(v: object) -> str:
    """A token id as its exact decimal string. Floats are refused: they have already lost digits."""
    if isinstance(v, bool):
        raise ValueError(f"not a token id: {v!r}")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str) and v.strip().isdigit():
        return v.strip()
    raise ValueError(f"token id must be a decimal string, got {type(v).__name__} {v!r}")


def _json_list(v: object) -> list[Any]:
    """Gamma encodes lists as JSON strings inside JSON ("[\\"Up\\", \\"Down\\"]"); accept both."""
    if v is None or v == "":
        return []
    if isinstance(v, str):
        v = json.loads(v)
    if not isinstance(v, list):
        raise ValueError(f"expected a list, got {type(v).__name__}")
    return v


def _decoded(convert: Callable[[Any], object]) -> BeforeValidator:
    """A field validator: decode gamma's JSON-string list, then convert each item (str, float, token id)."""
    return BeforeValidator(lambda v: [convert(x) for x in _json_list(v)])


class DataPosition(BaseModel):
    """One row of the data API's /positions."""
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    asset: str                                    # the outcome token id
    condition_id: str = Field("", alias="conditionId")
    size: float
    avg_price: float | None = Field(None, alias="avgPrice")
    cur_price: float | None = Field(None, alias="curPrice")
    current_value: float | None = Field(None, alias="currentValue")
    cash_pnl: float | None = Field(None, alias="cashPnl")
    realized_pnl: float | None = Field(None, alias="realizedPnl")
    redeemable: bool = False
    outcome: str = ""
    outcome_index: int | None = Field(None, alias="outcomeIndex")
    slug: str = ""
    title: str = ""
    end_date: str | None = Field(None, alias="endDate")

    @field_validator("asset", mode="before")
    @classmethod
    def _asset(cls, v: object) -> str:
        return token_id_str(v)


class GammaMarket(BaseModel):
    """A gamma /markets object with its JSON-string lists decoded."""
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = ""
    slug: str
    question: str = ""
    condition_id: str = Field("", alias="conditionId")
    outcomes: Annotated[list[str], _decoded(str)] = Field(default_factory=list)
    outcome_prices: Annotated[list[float], _decoded(float)] = Field(default_factory=list, alias="outcomePrices")
    clob_token_ids: Annotated[list[str], _decoded(token_id_str)] = Field(default_factory=list, alias="clobTokenIds")
    active: bool = False
    closed: bool = False
    end_date: str | None = Field(None, alias="endDate")
    event_start_time: str | None = Field(None, alias="eventStartTime")
    uma_resolution_status: str | None = Field(None, alias="umaResolutionStatus")
    order_min_size: float | None = Field(None, alias="orderMinSize")
    tick_size: float | None = Field(None, alias="orderPriceMinTickSize")

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: object) -> str:
        return str(v)

    def token_for(self, outcome: str) -> str:
        """The CLOB token id of an outcome ("Up" -> 8851...)."""
        for name, tid in zip(self.outcomes, self.clob_token_ids, strict=False):
            if name.lower() == outcome.lower():
                return tid
        raise KeyError(f"market {self.slug} has no outcome {outcome!r} (outcomes: {self.outcomes})")

    def decisive_winner(self) -> str | None:
        """The outcome a closed market settled on, when its final prices say so unambiguously.

        Real closed markets also show ["0","0"], 0.99999898... or near 50/50 prices: none of those
        names a winner here.
        """
        if not self.closed or len(self.outcome_prices) != len(self.outcomes) or not self.outcomes:
            return None
        if self.uma_resolution_status and self.uma_resolution_status.lower() not in ("resolved", "settled"):
            return None
        winners = [o for o, p in zip(self.outcomes, self.outcome_prices, strict=True) if p >= DECISIVE]
        losers = [p for p in self.outcome_prices if p <= 1 - DECISIVE]
        if len(winners) == 1 and len(losers) == len(self.outcomes) - 1:
            return winners[0]
        return None


class PolymarketData:
    """Client for the data API (positions, value), gamma (markets by slug) and the CLOB's public
    market object (per-token ``winner`` flags). Base URLs are configurable (tests use 127.0.0.1)."""

    def __init__(self, data_host: str = DATA_HOST, gamma_host: str = GAMMA_HOST,
                 clob_host: str | None = CLOB_HOST, timeout_s: float = 5.0,
                 client: httpx.Client | None = None) -> None:
        self.data_host = data_host.rstrip("/")
        self.gamma_host = gamma_host.rstrip("/")
        self.clob_host = clob_host.rstrip("/") if clob_host else None
        self._http = client or httpx.Client(timeout=timeout_s, headers={"User-Agent": "warden"})

    def close(self) -> None:
        self._http.close()

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        try:
            resp = self._http.get(url, params=params)
        except httpx.HTTPError as exc:   # timeouts, refused connections, protocol errors
            raise BrokerUnavailable(f"GET {url} failed: {exc.__class__.__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise BrokerUnavailable(f"GET {url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError as exc:
            raise BrokerUnavailable(f"GET {url} answered non-JSON: {resp.text[:120]!r}") from exc

    # ------------------------------------------------------------------ data API
    def positions(self, user: str, page_size: int = 500) -> list[DataPosition]:
        """Every position of a wallet, however small (sizeThreshold=0: a hidden 0.5 share is still held)."""
        out: list[DataPosition] = []
        offset = 0
        while True:
            rows = self._get(f"{self.data_host}/positions",
                             {"user": user, "sizeThreshold": 0, "limit": page_size, "offset": offset})
            if not isinstance(rows, list):
                raise BrokerUnavailable(
                    f"data API /positions answered {type(rows).__name__}, expected a list")
            try:
                out.extend(DataPosition.model_validate(r) for r in rows)
            except ValueError as exc:
                raise BrokerUnavailable(f"data API /positions row not understood: {exc}") from exc
            if len(rows) < page_size:
                return out
            offset += page_size

    def value(self, user: str) -> float:
        """Marked value of a wallet's positions (data API /value)."""
        rows = self._get(f"{self.data_host}/value", {"user": user})
        if isinstance(rows, list) and rows:
            return float(rows[0].get("value", 0.0))
        if isinstance(rows, list):
            return 0.0
        raise BrokerUnavailable(f"data API /value answered {rows!r}")

    # ------------------------------------------------------------------ gamma / CLOB market objects
    def market_by_slug(self, slug: str) -> GammaMarket | None:
        rows = self._get(f"{self.gamma_host}/markets", {"slug": slug})
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list):
            raise BrokerUnavailable(f"gamma /markets answered {type(rows).__name__}")
        for r in rows:
            if r.get("slug") == slug:
                try:
                    return GammaMarket.model_validate(r)
                except ValueError as exc:
                    raise BrokerUnavailable(f"gamma market {slug} not understood: {exc}") from exc
        return None

    def clob_winner(self, condition_id: str) -> str | None:
        """The outcome the CLOB flags ``winner: true`` for a market, if any."""
        if not self.clob_host or not condition_id:
            return None
        m = self._get(f"{self.clob_host}/markets/{condition_id}")
        tokens = m.get("tokens") if isinstance(m, dict) else None
        winners = [t.get("outcome") for t in tokens or [] if t.get("winner") is True]
        return str(winners[0]) if len(winners) == 1 else None


class PolymarketResolutionSource:
    """``resolve(slug) -> "Up" | "Down" | None`` for the outcome resolver.

    Order of evidence: the market must be closed; then the CLOB's per-token ``winner`` flag; then
    gamma's final prices when decisive (one outcome >= 0.99, the rest <= 0.01). Anything else is
    ``None`` (not resolved yet). A failure to ask (HTTP error, timeout, unknown slug) is logged with
    the slug and counted; it is ``None`` too, or raised with ``raise_errors=True`` (the outcome
    resolver's convention: a raising source is a counted failure and the next source is tried).
    """

    name = "polymarket"

    def __init__(self, data: PolymarketData, raise_errors: bool = False) -> None:
        self.data = data
        self.raise_errors = raise_errors
        self.errors: Counter[str] = Counter()

    def resolve(self, market_slug: str) -> str | None:
        try:
            market = self.data.market_by_slug(market_slug)
        except BrokerUnavailable as exc:
            self.errors["unavailable"] += 1
            log.warning("resolution of %s unavailable: %s", market_slug, exc)
            if self.raise_errors:
                raise
            return None
        if market is None:
            self.errors["unknown market"] += 1
            log.warning("resolution: market %s not found on gamma", market_slug)
            if self.raise_errors:
                raise LookupError(f"gamma has no market {market_slug}")
            return None
        if not market.closed:
            return None
        try:
            winner = self.data.clob_winner(market.condition_id)
        except BrokerUnavailable as exc:   # the final prices may still be decisive
            self.errors["clob unavailable"] += 1
            log.warning("resolution of %s: CLOB market %s unavailable (%s); using final prices only",
                        market_slug, market.condition_id, exc)
            winner = None
        by_price = market.decisive_winner()
        if winner and by_price and winner != by_price:
            self.errors["conflicting evidence"] += 1
            log.warning("resolution of %s: CLOB winner %s but final prices say %s; trusting the CLOB flag",
                        market_slug, winner, by_price)
        result = winner or by_price
        if result is None:
            self.errors["closed without a decisive winner"] += 1
            log.warning("market %s is closed but no winner can be read (prices %s)", market_slug,
                        market.outcome_prices)
        return result
