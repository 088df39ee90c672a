"""The bar clock: when a bar ends, from the data's interval and, where the data has sessions, its calendar.

A bar's end is its open plus the series' interval: declared, or inferred as the low median of the spacing
between bar opens. It is never the open plus the gap since the previous bar, so a weekend, a holiday or
an overnight break never stretches a bar. Where the data has sessions (daily bars with no weekend rows:
equities, futures, indices) the calendar is ``weekdays``: a daily bar ends at the next midnight of its own
zone at the latest, so Friday's bar ends Saturday 00:00 and the next event is Monday's open. Crypto data
(rows on every day) is ``24/7``.

Failure contract: pure computations; ``BarClock`` raises ValueError for a non-positive declared interval.
With fewer than two bars and no declared interval the interval is unknown and a bar ends at its open
(an order placed then is eligible from the next bar, never the same one).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from trading.market.candles import Bar, infer_interval

__all__ = ["CALENDARS", "BarClock", "infer_calendar", "infer_interval"]

DAY = timedelta(days=1)
CALENDARS = ("24/7", "weekdays")


def infer_calendar(times: Sequence[datetime], interval: timedelta | None) -> str:
    """``weekdays`` for daily-or-longer bars with no Saturday / Sunday row (session data), else ``24/7``."""
    if interval is None or interval < DAY - timedelta(hours=4) or len(times) < 5:
        return "24/7"
    return "weekdays" if all(t.weekday() < 5 for t in times) else "24/7"


@dataclass
class BarClock:
    """Bar ends for one series. ``interval``/``calendar`` declared, or learnt from the bars it observes."""

    interval: timedelta | None = None
    calendar: str | None = None
    declared: bool = False
    _opens: deque[datetime] = field(default_factory=lambda: deque(maxlen=64))

    def __post_init__(self) -> None:
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError(f"bar interval must be positive, got {self.interval}")
        if self.calendar is not None and self.calendar not in CALENDARS:
            raise ValueError(f"calendar must be one of {', '.join(CALENDARS)}, got {self.calendar!r}")
        self.declared = self.declared or self.interval is not None

    @classmethod
    def for_bars(cls, bars: Sequence[Bar], interval: timedelta | None = None,
                 calendar: str | None = None) -> BarClock:
        """A clock declared from a whole series (what ``warden run`` knows before the first bar)."""
        times = [b.ts for b in bars]
        iv = interval or infer_interval(times)
        return cls(interval=iv, calendar=calendar or infer_calendar(times, iv))

    def observe(self, bar: Bar) -> None:
        """Learn from one more bar open (only when the interval was not declared)."""
        if self.declared:
            return
        if self._opens and bar.ts <= self._opens[-1]:
            return
        self._opens.append(bar.ts)
        self.interval = infer_interval(list(self._opens))
        if self.calendar is None or len(self._opens) < 8:
            self.calendar = infer_calendar(list(self._opens), self.interval)

    def end(self, bar: Bar) -> datetime:
        """When ``bar`` closes: its open plus the interval, capped at the next midnight of its zone for
        daily session bars (a Friday bar ends on Saturday 00:00, not at Monday's open)."""
        if self.interval is None:
            return bar.ts
        end = bar.ts + self.interval
        if self.calendar == "weekdays" and self.interval >= DAY - timedelta(hours=4):
            midnight = (bar.ts + DAY).replace(hour=0, minute=0, second=0, microsecond=0)
            end = min(end, midnight) if midnight > bar.ts else end
        return end

    def step(self, bar: Bar) -> datetime:
        """``observe`` then ``end``: the end of a bar seen live, one at a time."""
        self.observe(bar)
        return self.end(bar)
