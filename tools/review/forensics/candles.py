"""Candles for the review: the bundle's candle files as OHLC arrays, and the candle verdict on an up/down window.

``load_candles`` never raises on a bad file: the error is recorded in ``Forensics.candle_errors`` and
logged. ``candle_winner`` returns None when a bar it needs is missing.
"""
from __future__ import annotations

import logging
from datetime import datetime

import numpy as np

from tools.logs.bundle import Bundle
from tools.review.forensics.models import Forensics
from tools.review.series import Series

log = logging.getLogger(__name__)


def load_candles(bundle: Bundle, fx: Forensics) -> None:
    """Read every candle file of the bundle into ``fx.candles``; an unreadable one goes to ``fx.candle_errors``."""
    from trading.market.candles import CandleFormatError, read_candles

    for asset, path in bundle.candles.items():
        try:
            cs = read_candles(path)
        except (CandleFormatError, ValueError, OSError) as exc:
            fx.candle_errors[asset] = str(exc)
            log.error("candles %s unreadable: %s", path, exc)
            continue
        t = np.array([int(b.ts.timestamp()) for b in cs.bars], dtype=np.int64)
        arr = np.array([(b.open, b.high, b.low, b.close, b.volume) for b in cs.bars], dtype=float).reshape(-1, 5)
        interval = int(cs.interval.total_seconds()) if cs.interval else 60
        fx.candles[asset] = Series(asset, t, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], interval, str(path),
                                    dict(cs.dropped), arr[:, 4])


def candle_winner(c: Series, start: datetime, end: datetime) -> tuple[str, float, float] | None:
    """Up iff the close at the window's end >= the open at its start; None if a bar is missing."""
    s, e = int(start.timestamp()), int(end.timestamp())
    i = int(np.searchsorted(c.t, s))
    j = int(np.searchsorted(c.t, e - c.interval_s))
    if i >= len(c.t) or c.t[i] != s or j >= len(c.t) or c.t[j] != e - c.interval_s:
        return None
    o, cl = float(c.o[i]), float(c.c[j])
    return ("Up" if cl >= o else "Down"), o, cl

