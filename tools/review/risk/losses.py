"""Losses the bot did not see: balance readings above any equity the resolved trades allow (positions
carried at cost) and loss streaks its state understated.

Pure functions over a ``Forensics``; with no starting balance or no readings they return empty results,
never raise.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tools.logs.bundle import parse_time
from tools.review.forensics import Forensics
from tools.review.risk.equity import resolve_time


def hidden_losses(fx: Forensics, start: float | None, grace_s: float) -> dict[str, Any]:
    """Bot balance readings above any equity the resolved trades allow (positions carried at cost).

    At a reading's time the account can hold at most: the start, plus the PnL of every trade resolved
    more than ``grace_s`` earlier, plus the gains (never the losses) of trades resolved within the
    grace period (their outcome may not be booked yet). A reading above that hides losses.
    """
    n = len(fx.bal_ts)
    if start is None or not n:
        return {"checked": 0, "hidden": [], "max_excess": 0.0}
    res = sorted(((when, t.pnl) for t in fx.positions if t.pnl is not None and (when := resolve_time(t))),
                 key=lambda x: x[0])
    rt = np.array([when.timestamp() for when, _ in res])
    pnl = np.array([float(p) for _, p in res])
    gains = np.maximum(pnl, 0.0)
    cum_pnl = np.concatenate([[0.0], np.cumsum(pnl)])
    cum_gain = np.concatenate([[0.0], np.cumsum(gains)])
    cum_loss_n = np.concatenate([[0], np.cumsum(pnl < 0)])
    ts = fx.bal_ts
    k_cut = np.searchsorted(rt, ts - grace_s, side="right")
    k_now = np.searchsorted(rt, ts, side="right")
    upper = start + cum_pnl[k_cut] + (cum_gain[k_now] - cum_gain[k_cut])
    excess = fx.bal_val - upper
    lost = cum_loss_n[k_cut]
    bad = np.nonzero((excess > max(1.0, 0.02 * start)) & (lost > 0))[0]
    hidden = [{"ts": datetime.fromtimestamp(float(ts[i]), UTC),
               "ref": fx.balance_ref(int(i)), "logged": round(float(fx.bal_val[i]), 2),
               "true_max": round(float(upper[i]), 2), "excess": round(float(excess[i]), 2),
               "losing_trades_resolved": int(lost[i])} for i in bad[:200]]
    return {"checked": int(n), "hidden": hidden, "hidden_count": int(len(bad)),
            "max_excess": round(float(excess[bad].max()), 2) if len(bad) else 0.0}


def streaks(fx: Forensics, grace_s: float) -> dict[str, Any]:
    """Loss streaks by resolution time, and every state reading of consecutive_losses below the true streak."""
    res = sorted(((when, t) for t in fx.positions if t.won is not None and (when := resolve_time(t))),
                 key=lambda x: x[0])
    cur = best = 0
    best_end = None
    seq: list[tuple[datetime, int, str]] = []
    for when, t in res:
        cur = cur + 1 if not t.won else 0
        seq.append((when, cur, t.trade_id))
        if cur > best:
            best, best_end = cur, when
    out: dict[str, Any] = {"max_streak": best, "max_streak_ended": best_end, "final_streak": cur,
                           "contradictions": []}

    def streak_at(ts: datetime) -> int:
        v = 0
        for when, s, _ in seq:
            if when <= ts - timedelta(seconds=grace_s):
                v = s
        return v

    for p in fx.process:
        if p.kind == "state_loaded" and p.fields.get("consecutive_losses") is not None:
            true = streak_at(p.ts)
            if int(p.fields["consecutive_losses"]) < true:
                out["contradictions"].append({"ts": p.ts, "ref": p.ref, "state": int(p.fields["consecutive_losses"]),
                                              "true": true})
    if fx.state and isinstance(fx.state.get("consecutive_losses"), int):
        last = fx.state.get("last_updated")
        lu = parse_time(last)
        true = streak_at(lu) if lu else cur
        out["state_file"] = {"state": int(fx.state["consecutive_losses"]), "true": true}
        if int(fx.state["consecutive_losses"]) < true:
            out["contradictions"].append({"ts": lu, "ref": "state/trading_state.json:consecutive_losses",
                                          "state": int(fx.state["consecutive_losses"]), "true": true})
    return out

