"""Polymarket up/down market slugs: the one place that builds and parses ``<asset>-updown-<N>m-<start>``.

``parse_updown_slug`` returns None for anything that is not such a slug (never raises on bad text);
``updown_slug`` raises ValueError on an asset that cannot form a slug; ``underlying_asset`` returns None
when a symbol has no alphanumeric ASCII base.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

UPDOWN_SLUG = re.compile(r"^(?P<asset>[a-z0-9]+)-updown-(?P<mins>\d+)m-(?P<start>\d{9,11})$")
QUOTE_CURRENCIES = ("USDT", "USDC", "USD")         # BTCUSDT, BTC-USD -> btc


def parse_updown_slug(slug: str | None) -> tuple[str, datetime, datetime] | None:
    """(ASSET, window start, window end) named by a slug like btc-updown-15m-1768437900, else None."""
    if not slug:
        return None
    m = UPDOWN_SLUG.match(slug.strip().lower())
    if not m:
        return None
    start = datetime.fromtimestamp(int(m.group("start")), UTC)
    return m.group("asset").upper(), start, start + timedelta(minutes=int(m.group("mins")))


def underlying_asset(symbol: str) -> str | None:
    """The slug prefix of an underlying: BTC, btc, BTCUSDT, BTC-USD, BINANCE:BTCUSDT -> "btc"."""
    s = symbol.strip().upper().rsplit(":", 1)[-1]
    for sep in ("-", "/", "_"):
        s = s.split(sep, 1)[0]
    for quote in QUOTE_CURRENCIES:
        if s.endswith(quote) and len(s) > len(quote):
            s = s[: -len(quote)]
            break
    return s.lower() if s.isalnum() and s.isascii() else None


def updown_slug(asset: str, start_epoch_s: int, minutes: int = 15) -> str:
    """The slug of the window of ``minutes`` starting at ``start_epoch_s`` for ``asset`` (btc, BTCUSDT...)."""
    base = underlying_asset(asset)
    if base is None:
        raise ValueError(f"{asset!r} cannot name an up/down market")
    return f"{base}-updown-{minutes}m-{int(start_epoch_s)}"
