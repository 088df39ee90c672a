"""The paper fill model: at what price (and when) a bar executes a working order. Pure functions.

Rules (docs/brokers.md, "The fill model"):
- At the bar's open: a market order fills at the open; a stop the open is already through fills at the
  open (a stop-market order: the gap is the worse price); a limit the open is already through fills at
  the open (the better price).
- Inside the bar: a stop fills at its stop when the high (buy) / low (sell) reaches it; a limit fills at
  its limit only when the bar trades through it (low < limit for a buy, high > limit for a sell): a touch
  is not a fill, the queue ahead of a resting order is unknown.
- A stop that becomes active (its bracket's parent filled) when the market is already through it fills
  at once at the price that armed it (stop-market).
- Slippage (ticks) applies against the trader to market and stop fills, never to limits, and every fill
  price is capped to the bar's [low, high]: nothing fills at a price that did not trade.
- Fill times: at the open, the bar's open time; inside the bar, the bar's midpoint; both within
  [open, end].

Failure contract: pure; an order without the price its type needs raises ValueError.
"""
from __future__ import annotations

from datetime import datetime

from trading.domain.models import Order, OrderType, Side
from trading.market.candles import Bar


def _need(value: float | None, what: str, o: Order) -> float:
    if value is None:
        raise ValueError(f"paper: {o.order_type.value} order {o.order_id} has no {what}")
    return value


def in_bar(price: float, bar: Bar) -> float:
    """``price`` capped to what the bar traded."""
    return min(max(price, bar.low), bar.high)


def slipped(price: float, side: Side, slip: float, bar: Bar) -> float:
    """``price`` moved ``slip`` against a ``side`` order, never outside the bar."""
    return in_bar(price + (slip if side is Side.BUY else -slip), bar)


def through(o: Order, price: float) -> bool:
    """True when the market at ``price`` is already at or through the order's trigger (stop) / limit."""
    if o.order_type is OrderType.STP:
        stop = _need(o.stop_price, "stop price", o)
        return price >= stop if o.side is Side.BUY else price <= stop
    if o.order_type is OrderType.LMT:
        limit = _need(o.limit_price, "limit price", o)
        return price <= limit if o.side is Side.BUY else price >= limit
    return True


def at_open(o: Order, bar: Bar, slip: float) -> float | None:
    """The fill price at the bar's open, or None when the open does not execute the order."""
    if o.order_type is OrderType.MKT or (o.order_type is OrderType.STP and through(o, bar.open)):
        return slipped(bar.open, o.side, slip, bar)
    if o.order_type is OrderType.LMT and through(o, bar.open):
        return bar.open
    return None


def inside(o: Order, bar: Bar, slip: float) -> float | None:
    """The fill price inside the bar (after its open), or None when the bar's range does not reach it."""
    if o.order_type is OrderType.STP:
        stop = _need(o.stop_price, "stop price", o)
        hit = bar.high >= stop if o.side is Side.BUY else bar.low <= stop
        return slipped(stop, o.side, slip, bar) if hit else None
    if o.order_type is OrderType.LMT:
        limit = _need(o.limit_price, "limit price", o)
        hit = bar.low < limit if o.side is Side.BUY else bar.high > limit
        return limit if hit else None
    return None


def armed_through(o: Order, armed_at: float, bar: Bar, slip: float) -> float | None:
    """A stop armed at price ``armed_at`` (its parent's fill) that is already through: it fills there."""
    if o.order_type is OrderType.STP and through(o, armed_at):
        return slipped(armed_at, o.side, slip, bar)
    return None


def midpoint(bar: Bar, end: datetime) -> datetime:
    """The time stamped on a fill inside the bar."""
    return bar.ts + (end - bar.ts) / 2 if end > bar.ts else bar.ts
