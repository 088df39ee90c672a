"""Position sizing against the true equity, and concentration by asset, direction and market window.

Shared by the risk and strategy teams. Pure functions; missing costs or equity leave a row's
percentages None, never raise.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from tools.review.forensics import Forensics, TradeRow
from tools.review.risk.equity import equity_at


def sizing(fx: Forensics, curve: Sequence[dict[str, Any]], start: float | None) -> dict[str, Any]:
    """Each position's cost as a share of the true equity and of the balance the bot believed."""
    rows: list[dict[str, Any]] = []
    for t in fx.positions:
        if t.cost is None or t.entry_time is None or start is None:
            continue
        eq = equity_at(curve, t.entry_time)
        believed = None
        for b in fx.balances:
            if b[0] <= t.entry_time:
                believed = b[1]
        rows.append({"trade_id": t.trade_id, "cost": t.cost, "true_equity": eq,
                     "pct_of_true_equity": round(t.cost / eq * 100, 2) if eq else None,
                     "pct_of_bot_balance": round(t.cost / believed * 100, 2) if believed else None})
    pct = [r["pct_of_true_equity"] for r in rows if r["pct_of_true_equity"] is not None]
    return {"rows": rows, "max_pct": max(pct, default=None), "mean_pct": round(sum(pct) / len(pct), 2) if pct else None,
            "over_10pct": sum(1 for x in pct if x > 10)}


def concentration(trades: Sequence[TradeRow]) -> dict[str, Any]:
    """Cost, count and PnL by asset (with the HHI), by direction, and windows stacked in one direction."""
    cost_by_asset: dict[str, float] = defaultdict(float)
    by_dir: Counter[str] = Counter()
    pnl_asset: dict[str, float] = defaultdict(float)
    n_asset: Counter[str] = Counter()
    for t in trades:
        cost_by_asset[t.asset] += t.cost or 0.0
        n_asset[t.asset] += 1
        by_dir[t.outcome] += 1
        pnl_asset[t.asset] += t.pnl or 0.0
    total = sum(cost_by_asset.values())
    hhi = sum((v / total) ** 2 for v in cost_by_asset.values()) if total else None
    windows: dict[Any, set[tuple[str, str]]] = defaultdict(set)
    for t in trades:
        if t.window_start is not None:
            windows[t.window_start].add((t.asset, t.outcome))
    stacked = 0
    for s in windows.values():
        dirs = Counter(d for _, d in s)
        if dirs and max(dirs.values()) >= 2:
            stacked += 1
    return {"by_asset": [{"asset": a, "trades": n_asset[a], "cost": round(cost_by_asset[a], 2),
                          "cost_share": round(cost_by_asset[a] / total, 4) if total else None,
                          "pnl": round(pnl_asset[a], 2)} for a in sorted(n_asset)],
            "by_direction": dict(by_dir), "hhi": None if hhi is None else round(hhi, 4),
            "windows": len(windows), "windows_with_same_direction_across_assets": stacked,
            "top_direction_share": round(max(by_dir.values()) / sum(by_dir.values()), 4) if by_dir else None}

