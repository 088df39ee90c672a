"""The account's true equity over the incident: the starting balance, the curve after each resolution,
the equity at a time, and the drawdown limit the bot itself used.

Pure functions over a ``Forensics``; with no readable starting balance they return None (and the curve
is cumulative PnL from 0), never raise.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tools.review.forensics import Forensics, TradeRow


def resolve_time(t: TradeRow) -> datetime | None:
    """When a trade's outcome was (or should have been) known: exit, window end, or recorded resolution."""
    return t.exit_time or t.window_end or t.resolved_at


def starting_equity(fx: Forensics) -> tuple[float | None, str]:
    """The account's equity before the first trade, and where it was read."""
    pos = fx.positions
    first = min((t.entry_time for t in pos if t.entry_time), default=None)
    if first is not None:
        before = [p for p in fx.process if p.kind == "state_loaded" and p.ts <= first and p.fields.get("balance")]
        if before:
            p = before[-1]
            return float(p.fields["balance"]), p.ref
        bal = [(v, r) for ts, v, _, _, r in fx.balances if ts <= first and v is not None]
        if bal:
            return float(bal[-1][0]), bal[-1][1]
    if fx.state and isinstance(fx.state.get("balance"), (int, float)) and pos and all(t.pnl is not None for t in pos):
        net = sum(t.pnl or 0.0 for t in pos)       # every pnl is set (checked above)
        return round(float(fx.state["balance"]) - net, 2), "state/trading_state.json:balance minus reconstructed PnL"
    return None, ""


def equity_curve(fx: Forensics, start: float | None) -> list[dict[str, Any]]:
    """Equity after each resolution (positions carried at cost until they resolve).

    An unresolved position is assumed lost at its window's end (seed 001: 'assume the worst').
    With no starting balance the curve is cumulative PnL from 0.
    """
    base = start if start is not None else 0.0
    pos = [t for t in fx.positions if resolve_time(t) is not None or t.entry_time is not None]
    events: list[tuple[datetime, str, float, bool]] = []
    for t in pos:
        when = resolve_time(t) or t.entry_time
        if when is None:          # excluded by the filter above
            continue
        pnl = t.pnl
        assumed = False
        if pnl is None:
            pnl = -(t.cost or 0.0)
            assumed = True
        events.append((when, t.trade_id, float(pnl), assumed))
    events.sort(key=lambda e: e[0])
    first = min((t.entry_time for t in pos if t.entry_time), default=None)
    eq = base
    out: list[dict[str, Any]] = [{"ts": first, "equity": round(eq, 2), "trade_id": "", "pnl": 0.0, "assumed": False}] if first else []
    for when, tid, pnl, assumed in events:
        eq += pnl
        out.append({"ts": when, "equity": round(eq, 2), "trade_id": tid, "pnl": round(pnl, 2), "assumed": assumed})
    peak: float | None = None
    for p in out:
        peak = p["equity"] if peak is None else max(peak, p["equity"])
        p["peak"] = peak
        p["drawdown_pct"] = round((peak - p["equity"]) / peak * 100, 2) if start is not None and peak > 0 else None
        p["drawdown_usd"] = round(peak - p["equity"], 2)
    return out


def equity_at(curve: Sequence[dict[str, Any]], ts: datetime) -> float | None:
    """The curve's equity at ``ts`` (None before its first point)."""
    val = None
    for p in curve:
        if p["ts"] is not None and p["ts"] <= ts:
            val = p["equity"]
        else:
            break
    return val


def bot_drawdown_limit(fx: Forensics) -> float | None:
    """The drawdown limit (%) the bot checked against: its last logged check, else its state file, else None."""
    lims = [c[2] for c in fx.dd_checks if c[2] is not None]
    if lims:
        return float(lims[-1])
    if fx.state and isinstance(fx.state.get("max_drawdown_pct"), (int, float)):
        return float(fx.state["max_drawdown_pct"])
    return None

