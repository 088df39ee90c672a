"""PnL from fills: price delta x qty x multiplier - fees. Never from a broker's average cost.

Fills are de-duplicated on ``exec_id`` and matched FIFO per symbol into round trips. A broker's
realized PnL that disagrees with the fills (IB's can rest on a stale average cost) is flagged.
"""
from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable

from pydantic import BaseModel

from trading.domain.contracts import multiplier_for
from trading.domain.models import Fill, Side

EPS = 1e-9


class RoundTrip(BaseModel):
    symbol: str
    side: Side                        # side of the opening fill: BUY = long trip
    qty: float
    entry_order_id: str
    exit_order_id: str
    entry_price: float
    exit_price: float
    multiplier: float
    gross_pnl: float
    fees: float
    net_pnl: float
    broker_realized_pnl: float | None = None
    pnl_mismatch: bool = False
    trade_cycle_id: str | None = None
    entry_ts: str | None = None
    exit_ts: str | None = None


def dedupe_fills(fills: Iterable[Fill]) -> list[Fill]:
    """Drop repeated executions (same exec_id) and order the rest by time, then id."""
    seen: dict[str, Fill] = {}
    for f in fills:
        seen.setdefault(f.exec_id, f)
    return sorted(seen.values(), key=lambda f: (f.ts, f.exec_id))


def pnl_mismatch(broker: float | None, gross: float, net: float, fees: float, tol: float = 0.01) -> bool:
    """True when the broker's figure matches neither our gross nor our net PnL (within fees)."""
    if broker is None:
        return False
    return min(abs(broker - gross), abs(broker - net)) > tol + fees


def round_trips(fills: Iterable[Fill], multiplier: Callable[[str], float] = multiplier_for, *,
                ndigits: int | None = 2, dedupe: bool = True) -> list[RoundTrip]:
    """FIFO-match fills per symbol. A fill that crosses zero closes the old lot and opens a new one.

    ``multiplier`` maps a symbol to its contract multiplier (it raises on an unknown symbol by default);
    ``ndigits=None`` keeps PnL unrounded; ``dedupe=False`` trusts the caller's de-duplication and order.
    """
    def rnd(x: float) -> float:
        return x if ndigits is None else round(x, ndigits)

    lots: dict[str, deque[list]] = defaultdict(deque)   # [fill, remaining qty, remaining commission]
    trips: list[RoundTrip] = []
    for f in (dedupe_fills(fills) if dedupe else fills):
        mult = multiplier(f.symbol)
        remaining = f.qty
        fee_left = f.commission
        book = lots[f.symbol]
        while remaining > EPS and book and book[0][0].side is not f.side:
            lot = book[0]
            opener: Fill = lot[0]
            q = min(remaining, lot[1])
            entry_fee = lot[2] * (q / lot[1])
            exit_fee = f.commission * (q / f.qty)
            gross = (f.price - opener.price) * q * mult * opener.side.sign
            fees = entry_fee + exit_fee
            broker = f.broker_realized_pnl
            net = gross - fees
            trips.append(RoundTrip(
                symbol=f.symbol, side=opener.side, qty=q, entry_order_id=opener.order_id, exit_order_id=f.order_id,
                entry_price=opener.price, exit_price=f.price, multiplier=mult, gross_pnl=rnd(gross),
                fees=rnd(fees), net_pnl=rnd(net), broker_realized_pnl=broker,
                pnl_mismatch=pnl_mismatch(broker, gross, net, fees),
                trade_cycle_id=opener.trade_cycle_id or f.trade_cycle_id,
                entry_ts=opener.ts.isoformat(), exit_ts=f.ts.isoformat()))
            lot[1] -= q
            lot[2] -= entry_fee
            remaining -= q
            fee_left -= exit_fee
            if lot[1] <= EPS:
                book.popleft()
        if remaining > EPS:
            book.append([f, remaining, max(fee_left, 0.0)])
    return trips


def realized_pnl(fills: Iterable[Fill]) -> float:
    """Net realized PnL of all closed quantity."""
    return round(sum(t.net_pnl for t in round_trips(fills)), 2)


def open_position(fills: Iterable[Fill]) -> dict[str, float]:
    """Signed open quantity per symbol after the fills."""
    pos: dict[str, float] = defaultdict(float)
    for f in dedupe_fills(fills):
        pos[f.symbol] += f.signed_qty
    return {s: q for s, q in pos.items() if abs(q) > EPS}
