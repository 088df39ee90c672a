"""Signal -> share: which Polymarket up/down share an ENTRY signal on an underlying buys, and at what ask.

A BUY view on BTC is a BUY of the "Up" share of the 15-minute window containing now; a SELL view is a
BUY of its "Down" share (there is no short). Slugs come from ``trading.domain.slugs``, the one place
that spells them. This is venue mapping, not transport: the reads go through the adapter (``UpDownVenue``).

Failure contract: ``updown_share`` returns None (logged at INFO, or WARNING when the venue contradicts
itself) when there is no tradable share; it raises ValueError for a naive ``now`` and lets the venue's
``BrokerUnavailable`` propagate when a read fails.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from trading.brokers.polymarket_data import GammaMarket
from trading.brokers.polymarket_rows import same_time
from trading.domain.models import Side, Signal
from trading.domain.slugs import underlying_asset, updown_slug

log = logging.getLogger(__name__)

UPDOWN_WINDOW_S = 900                     # the 15-minute up/down windows: slug <asset>-updown-15m-<start>


class UpDownVenue(Protocol):
    """The reads the mapping needs (``PolymarketBroker`` provides them)."""

    def market_by_slug(self, slug: str) -> GammaMarket | None: ...

    def market(self, condition_id: str) -> dict[str, Any]: ...

    def ask_or_none(self, token_id: str) -> float | None: ...


def updown_share(venue: UpDownVenue, signal: Signal, now: datetime, *, min_window_left_s: float,
                 max_entry_ask: float) -> dict[str, Any] | None:
    """The share an ENTRY signal on an underlying (BTC, ETH, SOL, XRP; BTCUSDT / BTC-USD accepted) buys:
    Up for BUY, Down for SELL, in the 15-minute window containing ``now``.

    None when the market is missing, closed or not accepting orders, there is no ask, the ask is
    >= ``max_entry_ask``, or fewer than ``min_window_left_s`` seconds remain (checked before any read).
    """
    if signal.side is None:
        return None
    if now.tzinfo is None:            # a local-time "now" would pick another window: refuse
        raise ValueError(f"market_for needs an aware datetime, got naive {now.isoformat()}")
    asset = underlying_asset(signal.symbol)
    if asset is None:
        log.info("no Polymarket up/down market for signal symbol %r", signal.symbol)
        return None
    stamp = int(now.timestamp())
    start = stamp - stamp % UPDOWN_WINDOW_S
    slug = updown_slug(asset, start, UPDOWN_WINDOW_S // 60)
    end = datetime.fromtimestamp(start + UPDOWN_WINDOW_S, UTC)
    left = (end - now).total_seconds()
    if left < min_window_left_s:      # checked first: no request for a window we would not trade
        log.info("%s: %.0f s left in the window (< %.0f s): no entry", slug, left, min_window_left_s)
        return None
    outcome = "Up" if signal.side is Side.BUY else "Down"

    m = venue.market_by_slug(slug)
    if m is None:
        log.info("%s: no such market on gamma", slug)
        return None
    if m.closed or not m.active:
        log.info("%s: market not open (closed=%s, active=%s)", slug, m.closed, m.active)
        return None
    if m.end_date and not same_time(m.end_date, end):
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
    clob = venue.market(m.condition_id)          # the CLOB is the authority on accepting orders
    if clob.get("closed") or not clob.get("accepting_orders"):
        log.info("%s: CLOB not accepting orders (closed=%s, accepting_orders=%s)", slug,
                 clob.get("closed"), clob.get("accepting_orders"))
        return None
    clob_tokens = {t.get("token_id") for t in clob.get("tokens") or [] if str(t.get("outcome")) == outcome}
    if clob_tokens and token not in clob_tokens:
        log.warning("%s: gamma's %s token %s is not the CLOB's %s: no entry", slug, outcome, token,
                    sorted(clob_tokens))
        return None
    ask = venue.ask_or_none(token)
    if ask is None or ask <= 0:
        log.info("%s: no ask for %s (token %s): no entry", slug, outcome, token)
        return None
    if ask >= max_entry_ask:
        log.info("%s: %s ask %.4g >= %.2f: no entry", slug, outcome, ask, max_entry_ask)
        return None
    return {"symbol": token, "price": ask, "stop": 0.0, "target": 1.0, "market_slug": slug,
            "outcome_label": outcome, "resolve_by": end, "condition_id": m.condition_id,
            # the share is always BOUGHT, whatever the signal's direction
            "side": Side.BUY}
