"""Trading-strategy review: trade frequency and overtrading (positions, not fills), entry prices, holding time,
concentration, and the trading period against the earlier part of the same bundle.

Failure contract: a pure function over a ``Forensics``; with no trades it returns empty metrics, never
raises.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np

from tools.review import stats
from tools.review.forensics import Forensics, TradeRow
from tools.review.report import RootCause
from tools.review.report import RootCauseCode as C
from tools.review.risk.exposure import concentration

OVERTRADING_PER_HOUR = 8          # 15-minute markets on four assets offer 16 per hour; half is already a lot
OVERTRADING_VS_EARLIER = 3.0


def frequency(times: list[datetime]) -> dict[str, Any]:
    if not times:
        return {"trades": 0}
    times = sorted(times)
    ep = np.array([t.timestamp() for t in times])
    span_h = max((ep[-1] - ep[0]) / 3600, 1e-9)
    j = 0
    best, best_at = 0, times[0]
    for i in range(len(ep)):
        while ep[i] - ep[j] > 3600:
            j += 1
        if i - j + 1 > best:
            best, best_at = i - j + 1, times[j]
    gaps = np.diff(ep) / 60 if len(ep) > 1 else np.zeros(0)
    return {"trades": len(times), "first": times[0], "last": times[-1], "span_hours": round(span_h, 2),
            "per_hour": round(len(times) / span_h, 2) if len(times) > 1 else None,
            "max_in_60min": best, "max_window_start": best_at,
            "median_gap_min": round(float(np.median(gaps)), 2) if len(gaps) else None,
            "min_gap_min": round(float(gaps.min()), 2) if len(gaps) else None}


def position_entries(rows: list[TradeRow]) -> list[tuple[datetime, TradeRow]]:
    """One entry per position, not per fill: partial fills of one order are one entry, and a market
    maker's many fills on the same market, outcome and window (rows read from fills) are one position."""
    groups: dict[tuple[Any, ...], tuple[datetime, TradeRow]] = {}
    for t in rows:
        if t.entry_time is None:
            continue
        if t.source == "fills":
            key: tuple[Any, ...] = ("fills", t.market or t.asset, t.outcome, t.window_start)
        elif t.order_id:
            key = ("order", t.order_id)
        else:
            key = ("row", t.trade_id, id(t))
        if key not in groups or t.entry_time < groups[key][0]:
            groups[key] = (t.entry_time, t)
    return sorted(groups.values(), key=lambda x: x[0])


def analyze(fx: Forensics, econ_entries: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"detections": [], "metrics": {}}
    m = out["metrics"]
    timed = position_entries(fx.positions)
    if not timed:
        return out
    pos = [t for _, t in timed]
    m["fills_or_rows"] = sum(1 for t in fx.positions if t.entry_time is not None)
    freq = frequency([ts for ts, _ in timed])
    out["frequency"] = freq
    m.update({k: v for k, v in freq.items() if not isinstance(v, datetime)})
    m["busiest_hour_start"] = freq.get("max_window_start")
    # the earlier part of the bundle: the bot ran (its logs cover it) but how often did it trade?
    first_log, _ = fx.span
    first_trade = timed[0][0]
    earlier_h = (first_trade - first_log).total_seconds() / 3600 if first_log and first_trade else 0.0
    # trades before the busiest hour's run-up count as the earlier period
    cut = freq["max_window_start"] - timedelta(minutes=30)
    earlier = [t for ts, t in timed if ts < cut]
    earlier_span_h = ((cut - first_log).total_seconds() / 3600) if first_log and first_log < cut else 0.0
    m["earlier_period_hours"] = round(max(earlier_span_h, 0.0), 2)
    m["earlier_period_trades"] = len(earlier)
    m["earlier_per_hour"] = round(len(earlier) / earlier_span_h, 3) if earlier_span_h >= 1 else None
    m["hours_without_trades_before_first"] = round(earlier_h, 2)
    sigs_before = int((fx.sig_ts < first_trade.timestamp()).sum()) if len(fx.sig_ts) else 0
    m["signals_before_first_trade"] = sigs_before
    base = m["earlier_per_hour"] or 0.0
    rate_limit = max(OVERTRADING_PER_HOUR, OVERTRADING_VS_EARLIER * base)
    m["overtrading_threshold_per_hour"] = rate_limit
    m["market_window_minutes"] = 15
    windows: dict[Any, int] = {}
    for t in pos:
        if t.window_start is not None:
            windows[(t.asset, t.window_start)] = windows.get((t.asset, t.window_start), 0) + 1
    m["markets_traded"] = len(windows)
    m["markets_with_repeat_entries"] = sum(1 for v in windows.values() if v > 1)
    if freq["max_in_60min"] >= rate_limit:
        out["detections"].append(RootCause(
            code=C.OVERTRADING, teams=["strategy"],
            summary=(f"{freq['trades']} positions in {freq['span_hours']} hours ({freq['per_hour']} per hour), up to "
                     f"{freq['max_in_60min']} within one hour from {fx.fmt(freq['max_window_start'])}, against "
                     f"{len(earlier)} trades in the {m['earlier_period_hours']} hours before; median gap "
                     f"{freq['median_gap_min']} minutes."),
            evidence=[pos[0].log_ref or pos[0].trade_id, pos[-1].log_ref or pos[-1].trade_id]))
    prices = np.array([t.price for t in pos if t.price is not None], float)
    if len(prices):
        q = np.percentile(prices, [0, 25, 50, 75, 100])
        m.update(price_min=round(float(q[0]), 4), price_q1=round(float(q[1]), 4), price_median=round(float(q[2]), 4),
                 price_q3=round(float(q[3]), 4), price_max=round(float(q[4]), 4),
                 price_mean=round(float(prices.mean()), 4))
        res = [t for t in pos if t.won is not None and t.price is not None]
        if res:
            wr = sum(1 for t in res if t.won) / len(res)
            m["win_rate"] = round(wr, 4)
            m["breakeven_win_rate"] = round(float(np.mean([t.price for t in res])), 4)
            wc = stats.proportion_claim(sum(1 for t in res if t.won), len(res), m["breakeven_win_rate"])
            m.update(win_rate_n=wc["n"], win_rate_ci_low=wc["ci_low"], win_rate_ci_high=wc["ci_high"],
                     win_rate_vs_breakeven_p=wc["pvalue"], win_rate_strength=wc["strength"])
            buckets = []
            for lo, hi in ((0.0, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 1.01)):
                b = [t for t in res if t.price is not None and lo <= t.price < hi]
                if b:
                    bc = stats.proportion_claim(sum(1 for t in b if t.won), len(b))
                    buckets.append({"price_range": f"{lo:.2f}-{min(hi, 1.0):.2f}", "trades": len(b),
                                    "win_rate": round(sum(1 for t in b if t.won) / len(b), 4),
                                    "ci_low": bc["ci_low"], "ci_high": bc["ci_high"], "strength": bc["strength"],
                                    "pnl": round(sum(t.pnl or 0.0 for t in b), 2)})
            out["price_buckets"] = buckets
    holds = []
    for t in pos:
        end = t.exit_time or t.window_end
        if end and t.entry_time:
            holds.append((end - t.entry_time).total_seconds() / 60)
    if holds:
        m["hold_min_minutes"] = round(min(holds), 2)
        m["hold_mean_minutes"] = round(float(np.mean(holds)), 2)
        m["hold_max_minutes"] = round(max(holds), 2)
    out["concentration"] = concentration(pos)
    if econ_entries and econ_entries.get("trades"):
        m["entries_with_move"] = econ_entries["with_move"]
        m["entries_against_move"] = econ_entries["against_move"]
        m["win_rate_with_move"] = econ_entries["win_rate_with_move"]
        m["win_rate_against_move"] = econ_entries["win_rate_against_move"]
        d = econ_entries.get("win_rate_difference") or {}
        m.update(entries_diff_n=d.get("n", 0), entries_diff_ci_low=d.get("ci_low"), entries_diff_ci_high=d.get("ci_high"),
                 entries_diff_strength=d.get("strength", "inconclusive"))
    # first half vs second half of the trading period
    half = len(pos) // 2
    if half >= 3:
        a, b = pos[:half], pos[half:]
        out["halves"] = [{"period": name, "trades": len(x), "from": x[0].entry_time, "to": x[-1].entry_time,
                          "wins": sum(1 for t in x if t.won), "pnl": round(sum(t.pnl or 0.0 for t in x), 2),
                          "mean_price": round(float(np.mean([t.price for t in x if t.price is not None])), 4)
                          if any(t.price is not None for t in x) else None}
                         for name, x in (("first half", a), ("second half", b))]
    return out
