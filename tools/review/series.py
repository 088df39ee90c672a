"""OHLC bar arrays of one market: the one series type the review's forensics and econophysics share.

A plain dataclass over numpy arrays of equal length (``t`` int64 epoch seconds of each bar's open);
it validates nothing and never raises: the reader that builds it drops and counts bad rows (``dropped``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Series:
    asset: str
    t: np.ndarray                      # int64 epoch seconds (bar open)
    o: np.ndarray
    h: np.ndarray
    low: np.ndarray
    c: np.ndarray
    interval_s: int
    source: str = ""                   # the file the bars were read from ("" when derived, e.g. from quotes)
    dropped: dict[str, int] = field(default_factory=dict)   # rows the reader dropped, by reason
    v: np.ndarray | None = None        # volume per bar, when the source has it (outlier checks use it)

    def __len__(self) -> int:
        return len(self.t)
