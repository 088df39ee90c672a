"""Trades of a fills file (review input): one ``TradeRow`` per position, PnL from the fills' cash flows.

A fills file (Hummingbot trades CSV, generic CSV, freqtrade trades database, Polymarket data-API JSON or
wallet-fills CSV: tools/logs/fills_import.py) is grouped FIFO per market and outcome
(tools/logs/fills.py). Each position becomes one row: a market maker's hundreds of fills in one share
are ONE position (the trade count the strategy team's overtrading rule must use), its PnL = the fills'
cash flows + what the open quantity settles at (a resolved Polymarket share: 1 or 0), never fills
counted as separate trades and never a SELL booked as a buy. An open position without a known
settlement keeps ``pnl = None`` (unresolved).

Failure contract: an unreadable or unknown fills file is recorded in ``Forensics.could_not_run`` (never
raised); bad rows are counted in ``Forensics.counts["fills"]["bad_rows"]``.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tools.logs.fills import FillSet, positions
from tools.logs.fills_import import FillsFormatError, read_fills
from tools.review.forensics.models import Forensics, TradeRow
from tools.review.report import NotRun
from trading.domain.models import Side
from trading.domain.slugs import parse_updown_slug


def build_fills_trades(fx: Forensics) -> None:
    path = fx.bundle.fills
    if path is None:
        return
    try:
        fs, settle = read_fills(path)
    except (FillsFormatError, OSError) as exc:
        fx.could_not_run.append(NotRun(analysis="trades from fills", lacking=f"a readable fills file ({exc})"))
        return
    add_position_rows(fx, fs, settle, path.name)


def build_log_fills_trades(fx: Forensics, logs: dict[str, tuple[Path, str]]) -> None:
    """Trades of bot logs in formats other than the two seed bots: their ``filled`` events, as positions."""
    from tools.logs.events import counted
    from tools.logs.fills import fills_from_records
    from tools.logs.reader import read_log

    for name, (path, fmt) in logs.items():
        reader = read_log(path, fmt)
        fs = fills_from_records(counted(reader))
        if not fs.fills:
            fx.could_not_run.append(NotRun(analysis=f"trades from {name}", lacking=f"fills ('filled' events) in "
                                           f"the {fmt} log"))
            continue
        add_position_rows(fx, fs, {}, name)


def add_position_rows(fx: Forensics, fs: FillSet, settle: dict[str, float], source: str) -> None:
    pos = positions(fs.fills, settle)
    by_key: dict[str, list] = {}
    for f in fs.fills:
        by_key.setdefault(f.symbol, []).append(f)
    for p in pos:
        fills = by_key[p.key]
        market, _, outcome = p.key.partition(":") if ":" in p.key and "/" not in p.key else (p.key, "", "")
        w = parse_updown_slug(market)
        bought = sum(f.qty * f.price for f in fills if f.side is Side.BUY)
        if abs(p.net_qty) <= 1e-9:
            won = None if p.net_pnl is None else p.net_pnl > 0          # closed: won iff it made money
        else:
            won = None if p.settlement_price is None else p.settlement_price > 0
        fx.trades.append(TradeRow(
            trade_id=p.key, market=market, asset=(w[0] if w else market).upper(), outcome=outcome or "position",
            entry_time=datetime.fromisoformat(p.first) if p.first else None,
            exit_time=datetime.fromisoformat(p.last) if p.last else None,
            price=round(bought / p.bought_qty, 6) if p.bought_qty else None, size=p.bought_qty,
            cost=round(bought, 6), window_start=w[1] if w else None, window_end=w[2] if w else None,
            won=won, winner=None, pnl=p.net_pnl, fees=p.fees, source="fills" if p.net_pnl is not None else "unresolved",
            evidence=[f"{source}: {p.fills} fills ({p.buys} buys, {p.sells} sells), net {p.net_qty:g} held, "
                      f"cash flow {p.cash_flow:.6f}"
                      + (f", settles at {p.settlement_price:g}" if p.settlement_price is not None else "")]))
    fx.trades.sort(key=lambda r: (r.entry_time is None, r.entry_time or datetime.min))
    fx.counts["fills"] = {"file": source, "fills": len(fs.fills), "positions": len(pos),
                          "buys": sum(p.buys for p in pos), "sells": sum(p.sells for p in pos),
                          "duplicates_dropped": fs.duplicates, "bad_rows": len(fs.bad),
                          "net_pnl": round(sum(p.net_pnl for p in pos if p.net_pnl is not None), 6),
                          "unsettled_positions": sum(1 for p in pos if p.net_pnl is None)}
