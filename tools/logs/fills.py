"""Fills into round trips and positions: FIFO per market (and outcome), PnL from the fills' cash flows.

Fills come from a log (``fills_from_records``: the ``filled`` and ``commission`` events of any format)
or from a fills file (tools/logs/fills_import.py). Every fill keeps its side. Repeated executions are
dropped on their execution id (or, without one, on order id + time + qty + price), so a duplicated line
never doubles a trade. Grouping is FIFO per key (a symbol; for a prediction market ``market:outcome``):
a maker that buys and sells the same share many times is ONE position with many fills, and closed
quantity becomes round trips. PnL is never rounded here (presentation rounds).

Failure contract: a record whose fields cannot make a fill (a non-finite price, a zero quantity, an
unknown side) is counted in ``FillSet.bad`` with its line, never raised; nothing here does I/O.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tools.logs.events import normalize
from tools.logs.records import LogRecord
from trading.domain.models import Fill, Side
from trading.domain.pnl import RoundTrip
from trading.domain.pnl import round_trips as pnl_round_trips

EPS = 1e-9


def default_multiplier(symbol: str) -> float:
    """The instrument registry's multiplier (ES 50, BTCUSDT 1, SPY 1, [instruments.NAME] tables); 1 for a
    symbol it cannot resolve (spot, perps in coin units, shares)."""
    from trading.domain.instruments import resolve

    try:
        return resolve(symbol).multiplier
    except ValueError:
        return 1.0


@dataclass
class FillSet:
    fills: list[Fill] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)        # "L<n>: why" / "row <n>: why"
    duplicates: int = 0
    source: str = ""


def dedupe(fills: Iterable[Fill]) -> tuple[list[Fill], int]:
    """Unique executions in time order, and how many repeats were dropped."""
    seen: dict[str, Fill] = {}
    dups = 0
    for f in fills:
        if f.exec_id in seen:
            dups += 1
        else:
            seen[f.exec_id] = f
    return sorted(seen.values(), key=lambda f: (f.ts, f.exec_id)), dups


def fills_from_records(records: Iterable[LogRecord]) -> FillSet:
    """Fills of a log's ``filled`` events with fees from its ``commission`` events (matched by execution
    id, else by order id), in any format that maps them."""
    out = FillSet()
    fee_by_exec: dict[str, float] = defaultdict(float)
    fee_by_order: dict[str, float] = defaultdict(float)
    pnl_by_exec: dict[str, float] = {}
    for rec in records:
        if rec.event == "commission":
            try:
                f = normalize(rec)
            except (ValueError, KeyError, TypeError) as exc:
                out.bad.append(f"L{rec.line_no}: commission: {exc}")
                continue
            if f.get("exec_id"):
                fee_by_exec[str(f["exec_id"])] += f["commission"]
                if f.get("realized_pnl"):
                    pnl_by_exec[str(f["exec_id"])] = float(f["realized_pnl"])
            elif f.get("order_id"):
                fee_by_order[str(f["order_id"])] += f["commission"]
            continue
        if rec.event != "filled":
            continue
        try:
            f = normalize(rec)
            ts = rec.ts_utc
            if f.get("epoch") is not None:           # an exchange timestamp beats the log line's
                ts = datetime.fromtimestamp(float(f["epoch"]), UTC)
            oid = str(f.get("order_id") or f"L{rec.line_no}")
            eid = str(f.get("exec_id") or f"{oid}@{ts.isoformat()}/{f['qty']}/{f['price']}")
            fee = float(f["fee_pct"]) * f["qty"] * f["price"] if f.get("fee_pct") else 0.0
            out.fills.append(Fill(exec_id=eid, order_id=oid, symbol=str(f.get("symbol") or "?"),
                                  side=Side(f["side"]), qty=f["qty"], price=f["price"], ts=ts, commission=fee,
                                  trade_cycle_id=f.get("trade_cycle_id"),
                                  broker_realized_pnl=f.get("reported_pnl")))
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            out.bad.append(f"L{rec.line_no}: filled: {exc}")
    out.fills, out.duplicates = dedupe(out.fills)
    _attach_fees(out.fills, fee_by_exec, fee_by_order, pnl_by_exec)
    return out


def _attach_fees(fills: list[Fill], by_exec: dict[str, float], by_order: dict[str, float],
                 pnl_by_exec: dict[str, float]) -> None:
    qty_by_order: dict[str, float] = defaultdict(float)
    for f in fills:
        qty_by_order[f.order_id] += f.qty
    for i, f in enumerate(fills):
        fee = by_exec.get(f.exec_id, 0.0)
        if f.order_id in by_order and qty_by_order[f.order_id] > 0:     # an order's fee, split by quantity
            fee += by_order[f.order_id] * f.qty / qty_by_order[f.order_id]
        upd: dict[str, Any] = {}
        if fee:
            upd["commission"] = f.commission + fee
        if f.exec_id in pnl_by_exec:
            upd["broker_realized_pnl"] = pnl_by_exec[f.exec_id]
        if upd:
            fills[i] = f.model_copy(update=upd)


def round_trips(fills: Iterable[Fill], multiplier: Callable[[str], float] = default_multiplier) -> list[RoundTrip]:
    """FIFO per symbol over already de-duplicated fills; unrounded; unknown symbols count 1 per unit."""
    return pnl_round_trips(fills, multiplier, ndigits=None, dedupe=False)


@dataclass
class PositionSummary:
    """One market (and outcome): every fill of it, netted."""
    key: str
    fills: int = 0
    buys: int = 0
    sells: int = 0
    bought_qty: float = 0.0
    sold_qty: float = 0.0
    cash_flow: float = 0.0           # -bought notional + sold notional - fees
    fees: float = 0.0
    net_qty: float = 0.0             # > 0 still held
    round_trips: int = 0
    realized_pnl: float = 0.0        # FIFO, closed quantity only
    settlement_price: float | None = None
    first: str | None = None
    last: str | None = None

    @property
    def settlement_value(self) -> float | None:
        return None if self.settlement_price is None else self.net_qty * self.settlement_price

    @property
    def net_pnl(self) -> float | None:
        """Cash flows plus what the open quantity settles at; None while an open position is unsettled."""
        if abs(self.net_qty) <= EPS:
            return self.cash_flow
        sv = self.settlement_value
        return None if sv is None else self.cash_flow + sv


def positions(fills: list[Fill], settlement: dict[str, float] | None = None,
              multiplier: Callable[[str], float] = default_multiplier) -> list[PositionSummary]:
    """One summary per key (symbol or market:outcome), in first-fill order."""
    out: dict[str, PositionSummary] = {}
    for f in fills:
        p = out.get(f.symbol)
        if p is None:
            p = out[f.symbol] = PositionSummary(key=f.symbol, first=f.ts.isoformat())
        mult = multiplier(f.symbol)
        p.fills += 1
        p.last = f.ts.isoformat()
        if f.side is Side.BUY:
            p.buys += 1
            p.bought_qty += f.qty
        else:
            p.sells += 1
            p.sold_qty += f.qty
        p.cash_flow += -f.side.sign * f.qty * f.price * mult - f.commission
        p.fees += f.commission
        p.net_qty += f.side.sign * f.qty
    for t in round_trips(fills, multiplier):
        p = out[t.symbol]
        p.round_trips += 1
        p.realized_pnl += t.net_pnl
    for key, px in (settlement or {}).items():
        if key in out:
            out[key].settlement_price = px * multiplier(key)
    return list(out.values())
