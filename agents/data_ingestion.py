"""Data ingestion role: market data and bot state in, numeric features out (no model involved).

Everything here is arithmetic on candles and the LIVE broker snapshot; these numbers are the evidence
every later role (and any model) may cite. The bot's own belief about its position is kept next to
the live one, never instead of it (seed 000: the bot believed it was short while it was flat).

The regime label and its features come from ``trading.records.learning_hooks.regime_of`` over the last
``REGIME_WINDOW`` bars: the very rule that labels every stored trade outcome, so "similar past cycles"
compares like with like. ``trend_z = log return / (vol * sqrt(n))`` over ``WINDOW`` bars is kept as a
signed trend strength for the situation vector.
Failure contract: too few (or non-positive) candles leave the dependent features ``None``, never
invented, and so does a symbol without a contract spec for its USD figures (multiplier None: the BTC view
behind a Polymarket share); a candle without open/high/low/close raises ``KeyError`` / ``AttributeError`` / ``TypeError``
(``as_bars``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from trading.domain.contracts import spec_for
from trading.market.bars import true_ranges
from trading.market.candles import Bar
from trading.records.learning_hooks import regime_of

WINDOW = 30
SHORT = 5
REGIME_WINDOW = 60          # LearningHooks' default window: the stored outcomes' regime uses the same


class MarketFeatures(BaseModel):
    """Features for one symbol at one cycle. Plain floats/strings: safe to checkpoint and to quote."""
    model_config = ConfigDict(extra="forbid")

    symbol: str
    n_candles: int = 0
    last_price: float | None = None
    ret_1: float | None = None            # last bar's simple return
    ret_window: float | None = None       # simple return over the window
    volatility: float | None = None       # stdev of 1-bar log returns over the window
    volatility_recent: float | None = None
    atr: float | None = None              # mean true range over the window, in points
    trend_z: float | None = None
    regime: str = "unknown"               # e.g. trend_up_low_vol, range_high_vol (regime_of's label)
    regime_features: dict[str, float] = Field(default_factory=dict)   # regime_of's numbers
    live_position: float | None = None    # signed, from the broker; None = could not be read
    believed_position: float | None = None  # what the bot thinks it holds (may be stale)
    position_mismatch: bool = False       # belief and live disagree
    avg_price: float | None = None
    unrealized_pnl_usd: float | None = None
    protective_stop: float | None = None  # live stop protecting the open position, if any
    open_risk_usd: float | None = None    # loss if the protective stop fills; None when unbounded/unknown
    unprotected: bool = False             # an open position with no live stop (seed 000's naked long)
    multiplier: float | None = 1.0       # USD per point; None: no contract spec (a view on an underlying, e.g. BTC)
    extra: dict[str, float] = Field(default_factory=dict)   # bot-supplied features, passed through


def _multiplier(symbol: str) -> float | None:
    """The contract multiplier, or None for a symbol with no contract spec: a view on an underlying (BTC for
    a Polymarket up/down share) is priced, not traded; its USD figures stay None, never invented."""
    try:
        return spec_for(symbol).multiplier
    except ValueError:
        return None


def _get(c: Any, name: str) -> float:
    return float(c[name] if isinstance(c, Mapping) else getattr(c, name))


def as_bars(candles: Sequence[Any]) -> list[Bar]:
    """Bars from ``Bar``s, other candle objects or mappings (a missing ``ts`` becomes the epoch)."""
    from datetime import UTC, datetime

    out = []
    for c in candles:
        if isinstance(c, Bar):
            out.append(c)
            continue
        ts = c.get("ts") if isinstance(c, Mapping) else getattr(c, "ts", None)
        if isinstance(ts, str):
            ts = datetime.fromisoformat(ts)
        out.append(Bar(ts or datetime(1970, 1, 1, tzinfo=UTC), _get(c, "open"), _get(c, "high"),
                       _get(c, "low"), _get(c, "close"), float((c.get("volume") if isinstance(c, Mapping) else
                                                getattr(c, "volume", 0.0)) or 0.0)))
    return out


def _stdev(xs: Sequence[float]) -> float | None:
    if len(xs) < 2:
        return None
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _r(x: float | None, nd: int = 6) -> float | None:
    # rounded so the numbers an agent quotes are the numbers the evidence shows
    return None if x is None else round(x, nd)


def compute_features(symbol: str, candles: Sequence[Any], live_position: float | None,
                     believed_position: float | None = None, avg_price: float | None = None,
                     protective_stop: float | None = None, extra: Mapping[str, float] | None = None,
                     window: int = WINDOW, short: int = SHORT) -> MarketFeatures:
    """Features from the last candles (``Bar``s, candle objects or mappings with open/high/low/close)."""
    recent = as_bars(candles[-max(window + 1, REGIME_WINDOW):])
    bars = recent[-(window + 1):]
    closes = [b.close for b in bars]
    mult = _multiplier(symbol)
    f: dict[str, Any] = {"symbol": symbol, "n_candles": len(bars), "multiplier": mult,
                         "live_position": live_position, "believed_position": believed_position,
                         "avg_price": avg_price, "protective_stop": protective_stop,
                         "extra": {k: float(v) for k, v in (extra or {}).items()}}
    if believed_position is not None and live_position is not None:
        f["position_mismatch"] = abs(believed_position - live_position) > 1e-9
    elif believed_position is not None and live_position is None:
        f["position_mismatch"] = True
    if closes:
        last = closes[-1]
        f["last_price"] = last
        if len(closes) >= 2 and closes[-2] > 0:
            f["ret_1"] = _r(last / closes[-2] - 1)
        if closes[0] > 0:
            f["ret_window"] = _r(last / closes[0] - 1)
        logs = [math.log(b / a) for a, b in zip(closes, closes[1:]) if a > 0 and b > 0]
        vol, vol_recent = _stdev(logs), _stdev(logs[-short:])
        f["volatility"], f["volatility_recent"] = _r(vol, 8), _r(vol_recent, 8)
        trs = true_ranges(bars)
        if trs:
            f["atr"] = _r(sum(trs) / len(trs), 4)
        if vol and len(logs) >= 2 and closes[0] > 0:
            f["trend_z"] = _r(math.log(last / closes[0]) / (vol * math.sqrt(len(logs))), 4)
        feats, meta = regime_of(recent[-REGIME_WINDOW:])
        f["regime"] = str(meta.get("label", "unknown"))
        f["regime_features"] = feats
        if live_position:
            if avg_price is not None and mult is not None:
                f["unrealized_pnl_usd"] = round((last - avg_price) * live_position * mult, 2)
            if protective_stop is not None and protective_stop > 0 and mult is not None:
                f["open_risk_usd"] = round(max(0.0, (last - protective_stop) * live_position * mult), 2)
            else:
                f["unprotected"] = True
    elif live_position:
        f["unprotected"] = protective_stop is None
    return MarketFeatures(**f)
