"""The synthetic crypto market of the Polymarket demo bundle: per-asset 1-minute candles and their CSV files.

Deterministic for a given ``numpy`` generator: a calm, mean-reverting regime that turns into a volatile,
trending one, a SOL flash crash and one XRP outlier print (what the review's econophysics team should
find). Pure NumPy; ``write_candles`` writes atomically and raises only on I/O errors.
"""
from __future__ import annotations

import math
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from trading.records.atomic import atomic_write_bytes

ASSETS = ("BTC", "ETH", "SOL", "XRP")
BASE_PRICE = {"BTC": 96_480.0, "ETH": 3_352.0, "SOL": 146.2, "XRP": 2.07}
ASSET_WEIGHTS = (0.4, 0.25, 0.2, 0.15)
WINDOW = 900                       # seconds in one Up/Down market window


def iso(ts: float) -> str:
    """``2026-01-15T07:50:00Z`` for an epoch time."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def momentum_ts(ts: float) -> str:
    """momentum-format timestamp (UTC, comma milliseconds)."""
    d = datetime.fromtimestamp(ts, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S,") + f"{d.microsecond // 1000:03d}"


def price_paths(rng: np.random.Generator, t0: int, minutes: int, regime_at: int, *, flash_crash_at: int | None,
                 outlier_at: int | None) -> dict[str, np.ndarray]:
    """Per asset, (minutes, 4) OHLC from a 4-step-per-minute log path.

    Before ``regime_at`` (minute index): low volatility with mean reversion; after: ~2.5x the volatility
    with momentum (positively autocorrelated returns): the regime change the econophysics team should see.
    """
    out = {}
    sub = 4
    common = rng.standard_normal(minutes)
    for k, asset in enumerate(ASSETS):
        eps = 0.6 * common + 0.8 * rng.standard_normal(minutes)      # correlated assets
        before = np.arange(minutes) < regime_at
        sig = np.where(before, 0.0006, 0.0015) * (1.0 + 0.25 * k)
        phi = np.where(before, -0.3, 0.3)
        rm = np.empty(minutes)
        prev = 0.0
        for i in range(minutes):
            prev = phi[i] * prev + sig[i] * eps[i]
            rm[i] = prev
        # four sub-steps per minute that add up to the minute's return (for highs and lows)
        wiggle = rng.standard_normal((minutes, sub)) * (sig[:, None] * 0.35)
        wiggle -= wiggle.mean(axis=1, keepdims=True)
        r = (rm[:, None] / sub + wiggle).reshape(-1)
        if asset == "SOL" and flash_crash_at is not None:
            i0 = flash_crash_at * sub
            r[i0:i0 + 8] -= 0.0055          # about -4.5% in two minutes ...
            r[i0 + 8:i0 + 20] += 0.0034     # ... mostly recovered over the next three
        logp = math.log(BASE_PRICE[asset]) + np.cumsum(r)
        px = np.exp(logp).reshape(minutes, sub)
        opens = np.concatenate([[BASE_PRICE[asset]], px[:-1, -1]])
        ohlc = np.column_stack([opens, np.maximum(px.max(axis=1), opens), np.minimum(px.min(axis=1), opens), px[:, -1]])
        if asset == "XRP" and outlier_at is not None:
            ohlc[outlier_at, 1] = ohlc[outlier_at, 3] * 1.07      # one print far above its peers
            ohlc[outlier_at, 3] = ohlc[outlier_at, 3] * 1.065
            ohlc[outlier_at + 1, 0] = ohlc[outlier_at, 3]
            ohlc[outlier_at + 1, 2] = min(ohlc[outlier_at + 1, 2], ohlc[outlier_at + 1, 3])
        out[asset] = ohlc
    return out


def write_candles(path: Path, t0: int, ohlc: np.ndarray, skip: Collection[int] = frozenset()) -> None:
    lines = ["timestamp,open,high,low,close,volume"]
    dec = 2 if ohlc[0, 0] > 50 else 5
    for i, (o, h, lo, c) in enumerate(ohlc):
        if i in skip:
            continue
        vol = 10 + (i * 7919) % 90
        lines.append(f"{iso(t0 + 60 * i)},{o:.{dec}f},{h:.{dec}f},{lo:.{dec}f},{c:.{dec}f},{vol}")
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
