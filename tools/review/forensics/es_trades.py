"""ES trade reconstruction: round trips from the fills in the bot's log (``trading.domain.pnl``), never from
IB's realizedPNL (a mismatch is kept as a conflict on the trade).

Fills on a symbol with no contract spec are skipped (``spec_for`` raises ValueError for them); nothing
else raises on log data.
"""
from __future__ import annotations

from datetime import UTC, datetime

from tools.review.forensics.models import ESData, Forensics, TradeRow
from trading.domain.contracts import spec_for
from trading.domain.models import Fill, Side
from trading.domain.pnl import round_trips


def build_es_trades(fx: Forensics) -> None:
    es = fx.es or ESData()
    fx.es = es
    fills: list[Fill] = []
    for o in es.orders.values():
        if o.filled_ts is None or o.fill_price is None:
            continue
        sym = o.symbol if o.symbol != "?" else next((x.symbol for x in es.orders.values() if x.symbol != "?"), "ES")
        try:
            spec_for(sym)
        except ValueError:
            continue
        fills.append(Fill(exec_id=f"{o.order_id}@{o.fill_ref}", order_id=o.order_id, symbol=sym,
                          side=Side(o.action), qty=o.qty, price=o.fill_price, ts=o.filled_ts,
                          commission=o.commission, trade_cycle_id=o.trade_cycle_id, broker_realized_pnl=o.broker_pnl))
    closed = {str(e.get("exit_order_id")): e for e in [*es.structured, *fx.events]
              if e.get("event") in ("trade_closed", "pnl") and e.get("exit_order_id") is not None}
    closed_cycles = {e.get("trade_cycle_id") for e in [*es.structured, *fx.events] if e.get("event") == "trade_closed"}
    for rt in round_trips(fills):
        entry = es.orders.get(rt.entry_order_id)
        exit_ = es.orders.get(rt.exit_order_id)
        tid = rt.trade_cycle_id or f"{rt.entry_order_id}-{rt.exit_order_id}"
        recorded = rt.exit_order_id in closed or (rt.trade_cycle_id is not None and rt.trade_cycle_id in closed_cycles)
        row = TradeRow(trade_id=tid, market=rt.symbol, asset=spec_for(rt.symbol).root,
                       outcome="LONG" if rt.side is Side.BUY else "SHORT",
                       entry_time=datetime.fromisoformat(rt.entry_ts) if rt.entry_ts else None,
                       price=rt.entry_price, size=rt.qty, cost=None, order_id=rt.entry_order_id, in_log=True,
                       won=rt.net_pnl > 0, pnl=rt.net_pnl, source="fills", recorded=recorded,
                       resolved_at=datetime.fromisoformat(rt.exit_ts) if rt.exit_ts else None,
                       exit_time=datetime.fromisoformat(rt.exit_ts) if rt.exit_ts else None,
                       exit_price=rt.exit_price, broker_pnl=rt.broker_realized_pnl, fees=rt.fees,
                       log_ref=entry.fill_ref if entry else "",
                       evidence=[x for x in (entry.fill_ref if entry else "", exit_.fill_ref if exit_ else "") if x])
        if rt.pnl_mismatch:
            row.conflicts.append(f"broker realizedPNL {rt.broker_realized_pnl:.2f} vs fills {rt.net_pnl:.2f}")
        fx.trades.append(row)
    fx.trades.sort(key=lambda r: r.entry_time or datetime.min.replace(tzinfo=UTC))
    for row in fx.trades:
        fx.add_timeline(row.exit_time, "reconstruction", "round_trip", row.trade_id,
                        f"{row.outcome} {row.size:g} {row.market} {row.price} -> {row.exit_price} "
                        f"pnl={row.pnl:.2f} (broker {row.broker_pnl})")
