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



def flat_bot_view(fx: Forensics, curve: list[dict[str, Any]], start: float | None, grace_s: float,
                  limit_pct: float | None) -> dict[str, Any]:
    """The bot's own drawdown or equity figure staying flat while the true one falls.

    Two ways the logs show it: the drawdown the bot reported (its drawdown checks, or the drawdown on
    its balance lines) sits ``gap`` points below the true never-reset drawdown of ``grace_s`` earlier;
    or, with no starting balance, the bot's equity readings barely move while the true PnL since its
    first reading fell. Only readings after at least one losing trade had resolved count.
    """
    from tools.review.risk.equity import equity_at

    out: dict[str, Any] = {"checked": 0, "flat": [], "kind": None}
    if not curve:
        return out
    losses = sorted(w for t in fx.positions if (t.pnl or 0.0) < 0 and (w := resolve_time(t)) is not None)
    grace = timedelta(seconds=grace_s)
    gap = max(5.0, 0.25 * (limit_pct or 0.0))

    def true_dd(ts: datetime) -> float | None:
        pts = [p for p in curve if p["ts"] is not None and p["ts"] <= ts - grace]
        return pts[-1]["drawdown_pct"] if pts else None

    reads = [(c[0], c[1], c[4]) for c in fx.dd_checks if c[1] is not None]
    reads += [(b[0], b[3], b[4]) for b in fx.balances if b[3] is not None]
    if start is not None and reads:
        for ts, bot, ref in sorted(reads, key=lambda r: r[0]):
            td = true_dd(ts)
            if td is None or not losses or losses[0] > ts - grace:
                continue
            out["checked"] += 1
            if td - float(bot) >= gap:
                out["flat"].append({"ts": ts, "ref": ref, "bot": round(float(bot), 2), "true": round(float(td), 2),
                                    "gap": round(td - float(bot), 2), "unit": "% drawdown"})
        out["kind"] = "drawdown"
        return out
    bal = sorted((b[0], float(b[1]), b[4]) for b in fx.balances if b[1] is not None)
    if len(bal) < 2:
        return out
    t0, v0, _ = bal[0]
    e0 = equity_at(curve, t0) or 0.0
    scale = max(abs(v0), 1.0)
    for ts, v, ref in bal[1:]:
        if not losses or losses[0] > ts - grace:
            continue
        e = equity_at(curve, ts - grace)
        if e is None:
            continue
        out["checked"] += 1
        true_change, bot_change = e - e0, v - v0
        if true_change < -max(0.05 * scale, 1.0) and bot_change > true_change / 2:
            out["flat"].append({"ts": ts, "ref": ref, "bot": round(bot_change, 2), "true": round(true_change, 2),
                                "gap": round(bot_change - true_change, 2), "unit": "USD change since the first reading"})
    out["kind"] = "equity"
    return out
