"""Signal sources: the built-in trend/breakout rule and the plug-in point for a user's own bot.

A signal source is any callable ``(bars, context) -> Signal | dict | None``: ``bars`` are the recent
candles, oldest first, ending with the bar that just closed; ``context`` says which symbol, when, and
what position the loop believes it holds. It returns a direction with a confidence and, for entries,
protective levels. The loop decides what a signal means: with no open trade it is an entry; against
the open trade's side it is an exit; in the same direction it is ignored (no pyramiding). Whatever it
means, the guards judge it against the live broker position.

Plug in your own with ``--signals module:callable`` or an entry point in the group ``warden.signals``
(a class is instantiated with no arguments first).

Failure contract: a source that returns something else than a Signal, a dict or None raises TypeError,
an invalid dict raises ValueError; a ``--signals`` spec that cannot be loaded raises ``SignalLoadError``;
the session catches, logs and counts whatever a source raises, and carries on.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from trading.domain.contracts import spec_for
from trading.domain.instruments import round_stop, round_target
from trading.domain.models import Side, Signal
from trading.market.bars import true_ranges
from trading.market.candles import Bar

ENTRY_POINT_GROUP = "warden.signals"


@dataclass(frozen=True, slots=True)
class SignalContext:
    symbol: str
    now: datetime                       # the close of the last bar
    position: float | None              # what the loop believes it holds (signed); None if unknown
    interval: timedelta | None = None


SignalSource = Callable[[Sequence[Bar], SignalContext], "Signal | dict[str, Any] | None"]


class SignalLoadError(ValueError):
    """The ``--signals`` spec does not name a usable callable."""


class BreakoutSignals:
    """Donchian breakout with a trend filter; stop and target from volatility (ATR).

    - ATR: mean true range over ``atr_period`` bars.
    - Entry BUY when flat and the close breaks above the highest high of the previous ``lookback``
      bars while above its ``trend_period`` simple moving average, on the breakout bar only (the
      previous close was still inside its channel); SELL is the mirror image.
      Stop = close -/+ ``stop_atr`` x ATR, target = close +/- ``target_atr`` x ATR, rounded to the tick in
      the safe direction (a long's stop and target down, a short's up: the stop never crosses the price).
      Confidence = 0.5 + 0.5 x min(1, breakout distance / ATR).
    - Exit: a long exits (SELL) when the close falls below the lowest low of the previous
      ``exit_lookback`` bars; a short exits (BUY) above the highest high. Exits carry no levels.
    """

    name = "breakout"

    def __init__(self, lookback: int = 20, exit_lookback: int = 10, atr_period: int = 14, trend_period: int = 50,
                 stop_atr: float = 1.5, target_atr: float = 3.0) -> None:
        if min(lookback, exit_lookback, atr_period, trend_period) < 2 or stop_atr <= 0 or target_atr <= 0:
            raise ValueError("breakout parameters must be positive (periods >= 2)")
        self.lookback, self.exit_lookback = lookback, exit_lookback
        self.atr_period, self.trend_period = atr_period, trend_period
        self.stop_atr, self.target_atr = stop_atr, target_atr

    @property
    def warmup(self) -> int:
        return max(self.lookback + 1, self.exit_lookback, self.atr_period, self.trend_period) + 1

    def __call__(self, bars: Sequence[Bar], ctx: SignalContext) -> Signal | None:
        if len(bars) < self.warmup:
            return None
        last = bars[-1]
        close = last.close
        win = bars[-self.atr_period - 1:]
        atr = sum(true_ranges(win)) / self.atr_period
        if atr <= 0:
            return None
        feats = {"atr": round(atr, 6), "atr_pct": round(atr / close * 100, 6) if close else 0.0}
        pos = ctx.position or 0.0
        if pos:
            prev = bars[-self.exit_lookback - 1:-1]
            if pos > 0 and close < min(b.low for b in prev):
                return Signal(symbol=ctx.symbol, side=Side.SELL, label="EXIT_LONG", confidence=0.5, price=close,
                              ts=ctx.now, source=self.name, features=feats)
            if pos < 0 and close > max(b.high for b in prev):
                return Signal(symbol=ctx.symbol, side=Side.BUY, label="EXIT_SHORT", confidence=0.5, price=close,
                              ts=ctx.now, source=self.name, features=feats)
            return None
        prev = bars[-self.lookback - 1:-1]
        hh, ll = max(b.high for b in prev), min(b.low for b in prev)
        sma = sum(b.close for b in bars[-self.trend_period:]) / self.trend_period
        feats.update(channel_high=hh, channel_low=ll, sma=round(sma, 6))
        try:
            tick = spec_for(ctx.symbol).tick
        except ValueError:   # a view on an underlying with no spec: cents, unless its price needs more digits
            tick = 0.01 if close >= 10 else 1e-8
        # only the bar that breaks out signals (the previous close was still inside its own channel)
        before = bars[-self.lookback - 2:-2]
        pclose = bars[-2].close
        fresh_up = pclose <= max(b.high for b in before)
        fresh_down = pclose >= min(b.low for b in before)
        if close > hh and close > sma and fresh_up:
            side, dist = Side.BUY, close - hh
            stop, target = close - self.stop_atr * atr, close + self.target_atr * atr
        elif close < ll and close < sma and fresh_down:
            side, dist = Side.SELL, ll - close
            stop, target = close + self.stop_atr * atr, close - self.target_atr * atr
        else:
            return None
        conf = round(0.5 + 0.5 * min(1.0, dist / atr), 4)
        return Signal(symbol=ctx.symbol, side=side, label=f"BREAKOUT_{side.value}", confidence=conf, price=close,
                      stop=round_stop(stop, tick, long=side is Side.BUY),
                      target=round_target(target, tick, long=side is Side.BUY), ts=ctx.now, source=self.name,
                      features=feats)


class _Normalised:
    """Wraps a user callable so the loop always gets a Signal or None (a bad return is a clear error)."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn = fn
        self.name = name

    def __call__(self, bars: Sequence[Bar], ctx: SignalContext) -> Signal | None:
        out = self.fn(bars, ctx)
        if out is None or isinstance(out, Signal):
            return out
        if isinstance(out, dict):
            data = {"symbol": ctx.symbol, "ts": ctx.now, "source": self.name, **out}
            try:
                return Signal.model_validate(data)
            except ValidationError as exc:
                raise ValueError(f"signal source {self.name} returned an invalid signal: {exc}") from None
        raise TypeError(f"signal source {self.name} returned {type(out).__name__}; expected Signal, dict or None")


def load_signal_source(spec: str | None) -> Callable[[Sequence[Bar], SignalContext], Signal | None]:
    """``None`` / ``breakout`` -> the built-in rule; ``module:attr`` -> that callable; otherwise the
    entry point of that name in the ``warden.signals`` group."""
    if spec is None or spec.strip() in ("", "breakout", "builtin"):
        return BreakoutSignals()
    spec = spec.strip()
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            obj: Any = importlib.import_module(mod_name)
        except ImportError as exc:
            raise SignalLoadError(f"--signals {spec}: cannot import module {mod_name!r} ({exc})") from None
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise SignalLoadError(f"--signals {spec}: module {mod_name!r} has no attribute {attr!r}") from None
    else:
        eps = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
        if not eps:
            known = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
            raise SignalLoadError(f"--signals {spec}: no such entry point in group {ENTRY_POINT_GROUP!r} "
                                  f"(installed: {', '.join(known) or 'none'}; or use module:callable)")
        try:
            obj = eps[0].load()
        except Exception as exc:  # noqa: BLE001 - a user's plug-in may raise anything on import; reported as one line
            raise SignalLoadError(f"--signals {spec}: entry point failed to load ({exc})") from None
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as exc:
            raise SignalLoadError(f"--signals {spec}: class must be constructible with no arguments ({exc})") from None
    if not callable(obj):
        raise SignalLoadError(f"--signals {spec}: {type(obj).__name__} is not callable")
    return _Normalised(obj, spec)
