"""Bar arithmetic shared by signals, guards, learning hooks, data ingestion and the review: true range.

True range of bar i (Wilder): max(high_i - low_i, |high_i - close_{i-1}|, |low_i - close_{i-1}|), so a
stack of n bars has n - 1 true ranges. Pure numpy, no I/O; never raises on short input (fewer than two
bars give no true range: an empty result), and NaN in a bar propagates to its true range.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class HLC(Protocol):
    """Anything with a bar's high, low and close (``trading.market.candles.Bar`` and friends)."""

    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...


def true_range_array(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True ranges of bars 1..n-1 from equal-length high/low/close arrays (length n - 1, empty if n < 2)."""
    h, lo, c = (np.asarray(x, dtype=float) for x in (high, low, close))
    if len(h) < 2:
        return np.zeros(0)
    prev = c[:-1]
    return np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev)))


def true_ranges(bars: Sequence[HLC]) -> list[float]:
    """True ranges of ``bars[1:]`` against each previous close, as Python floats (empty if under two bars).

    Each value equals ``max(b.high - b.low, abs(b.high - a.close), abs(b.low - a.close))`` for the pair
    (a, b) exactly (float64 either way), so callers' sums and means are unchanged.
    """
    if len(bars) < 2:
        return []
    arr = np.array([(b.high, b.low, b.close) for b in bars], dtype=float)
    return [float(x) for x in true_range_array(arr[:, 0], arr[:, 1], arr[:, 2])]
