"""Deterministic synthetic candles to try ``warden run`` on (no real data involved).

ES-like 1-minute bars on the 0.25 tick grid, in regimes of 100 bars that trend up, trend down or go
sideways, so the built-in breakout rule has something to trade and something to lose on.

Same seed, same rows; raises only on I/O errors.
"""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

DRIFTS = (-0.5, -0.25, 0.0, 0.25, 0.5)


def candle_rows(n: int, seed: int = 5, start_price: float = 5000.0,
                start: datetime = datetime(2025, 12, 1, 14, 30, tzinfo=UTC), tick: float = 0.25) -> list[tuple]:
    r = random.Random(seed)
    px, rows, drift = start_price, [], 0.0
    for i in range(n):
        if i % 100 == 0:
            drift = r.choice(DRIFTS)
        o = px
        c = o + drift + r.gauss(0, 1.0)
        h = max(o, c) + abs(r.gauss(0, 0.5))
        lo = min(o, c) - abs(r.gauss(0, 0.5))
        rows.append((start + timedelta(minutes=i), *(round(x / tick) * tick for x in (o, h, lo, c)),
                     r.randint(100, 1000)))
        px = c
    return rows


def write_candles_csv(path: Path, n: int = 2000, seed: int = 5, start_price: float = 5000.0) -> Path:
    """Write ``timestamp,open,high,low,close,volume`` rows (ISO 8601 UTC) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("timestamp,open,high,low,close,volume\n")
        for ts, *vals in candle_rows(n, seed, start_price):
            fh.write(",".join([ts.isoformat(), *(f"{v:g}" for v in vals)]) + "\n")
    return path
