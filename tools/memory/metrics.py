"""Trading-journal metrics over a frame of outcomes (pandas), each with the code line an answer shows.

``derive`` adds the columns questions group and filter by (holding minutes, R-multiple, opening hour,
weekday, session, month, asset class, advice followed); ``compute`` returns one metric's value, its
text and the pandas expression that produced it. Definitions (docs/memory.md):
- average win / loss: mean PnL of winning / losing trades only (average loss is negative);
- expectancy: win rate x average win + loss rate x average loss (= mean PnL per trade);
- profit factor: gross wins / |gross losses|; payoff ratio: average win / |average loss|;
- R-multiple: PnL / the trade's planned worst-case loss (trades with a positive worst case only);
- max drawdown: the deepest fall of cumulative PnL (closed order) from its running peak (start 0);
- streaks: consecutive wins / losses in closing order; holding time: closed_at - opened_at (minutes);
- sessions by the UTC opening hour: asia 22-07, europe 07-13, us 13-22.
MAE / MFE need columns ``mae_usd`` / ``mfe_usd`` (a post-entry path); without them the value is None
and the note says why.

Failure contract: pure; never raises on a conformed outcomes frame (an empty frame gives None values).
"""
from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd

CRYPTO_ASSETS = {"BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "ADA", "AVAX", "LTC"}
FUTURE_ASSETS = {"ES", "MES", "NQ", "MNQ", "YM", "MYM", "RTY", "M2K", "CL", "MCL", "GC", "MGC", "SI", "NG"}
SESSION_BY_HOUR = {h: ("asia" if h >= 22 or h < 7 else "europe" if h < 13 else "us") for h in range(24)}


def money(x: float) -> str:
    return f"-${abs(x):,.2f}" if x < 0 else f"${x:,.2f}"


def pct(x: float) -> str:
    return f"{x:.1f}%"


def asset_class(asset: pd.Series, venue: pd.Series) -> pd.Series:
    a = asset.astype("string").fillna("").str.upper()
    out = np.where(venue.astype("string").fillna("") == "polymarket", "prediction",
                   np.where(a.isin(CRYPTO_ASSETS), "crypto", np.where(a.isin(FUTURE_ASSETS), "future", "other")))
    return pd.Series(out, index=asset.index, dtype="string")


_DERIVED: dict[int, tuple[weakref.ref[pd.DataFrame], pd.DataFrame]] = {}
SESSIONS = np.array([SESSION_BY_HOUR[h] for h in range(24)], dtype=object)


def derive(df: pd.DataFrame) -> pd.DataFrame:
    """The outcomes frame with the derived columns questions use (a copy, cached per frame object: the
    outcomes table hands out the same frame until its file changes)."""
    hit = _DERIVED.get(id(df))
    if hit is not None and hit[0]() is df:
        return hit[1]
    out = df.copy() if df["closed_at"].is_monotonic_increasing else \
        df.sort_values(["closed_at", "trade_cycle_id"], kind="stable")   # closing order, once
    opened = out["opened_at"]
    out["holding_min"] = (out["closed_at"] - opened).dt.total_seconds() / 60.0
    risk = out["worst_case_loss"].astype("float64")
    out["r_multiple"] = (out["pnl_usd"] / risk.abs()).where(risk.abs() > 0)
    hour = opened.dt.hour.to_numpy(dtype=np.int64) if len(out) else np.zeros(0, np.int64)
    out["hour"] = hour
    out["weekday"] = opened.dt.day_of_week.astype("int64")
    out["session"] = pd.array(SESSIONS[hour], dtype="string")
    if "asset_class" not in out.columns or out["asset_class"].isna().all():
        out["asset_class"] = asset_class(out["asset"], out["venue"])
    if "advisory_source" not in out.columns:
        out["advisory_source"] = pd.Series(pd.NA, index=out.index, dtype="string")
    adv = out["advisory_action"].astype("string").fillna("").to_numpy(dtype=object)
    side = out["side"].astype("string").fillna("").to_numpy(dtype=object)
    advised = np.isin(adv, ["WAIT", "BUY", "SELL"])
    out["advice_followed"] = pd.arrays.BooleanArray(adv == side, ~advised)
    if len(_DERIVED) > 8:
        _DERIVED.clear()
    try:
        _DERIVED[id(df)] = (weakref.ref(df), out)
    except TypeError:                      # a frame that cannot be weakly referenced: no cache
        pass
    return out


def period_key(t: pd.DataFrame, by: str) -> pd.Series:
    """Month (YYYY-MM) or ISO week (YYYY-Www) of closing, formatted once per distinct value."""
    c = t["closed_at"]
    if by == "month":
        num = c.dt.year * 100 + c.dt.month
        return num.map({v: f"{v // 100}-{v % 100:02d}" for v in num.unique()})
    iso = c.dt.isocalendar()
    num = iso["year"].astype("int64") * 100 + iso["week"].astype("int64")
    return num.map({v: f"{v // 100}-W{v % 100:02d}" for v in num.unique()})


def _streak(won: pd.Series, target: bool) -> int:
    hit = (won.to_numpy(dtype=bool) == target).astype(np.int64)
    if not hit.any():
        return 0
    # run lengths: cumulative count reset at each miss
    idx = np.arange(len(hit))
    last_miss = np.maximum.accumulate(np.where(hit == 0, idx, -1))
    return int((idx - last_miss)[hit == 1].max())


def _mean(s: pd.Series) -> float | None:
    s = s.dropna()
    return float(s.mean()) if len(s) else None


CODE: dict[str, str] = {
    "count": "len(t)", "win_rate": 't["won"].mean() * 100', "pnl": 't["pnl_usd"].sum()',
    "avg_pnl": 't["pnl_usd"].mean()', "avg_win": 't.loc[t["pnl_usd"] > 0, "pnl_usd"].mean()',
    "avg_loss": 't.loc[t["pnl_usd"] < 0, "pnl_usd"].mean()',
    "expectancy": 'p = t["won"].mean(); p * avg_win + (1 - p) * avg_loss',
    "profit_factor": 't.loc[t.pnl_usd > 0, "pnl_usd"].sum() / -t.loc[t.pnl_usd < 0, "pnl_usd"].sum()',
    "payoff_ratio": 'avg_win / -avg_loss', "avg_r": '(t["pnl_usd"] / t["worst_case_loss"].abs()).mean()',
    "max_drawdown": 'c = t["pnl_usd"].cumsum(); (c - c.cummax().clip(lower=0)).min()',
    "longest_win_streak": 'longest run of t["won"] == True (closing order)',
    "longest_loss_streak": 'longest run of t["won"] == False (closing order)',
    "avg_holding": '((t["closed_at"] - t["opened_at"]).dt.total_seconds() / 60).mean()',
    "mae": 't["mae_usd"].mean()', "mfe": 't["mfe_usd"].mean()'}


def compute(t: pd.DataFrame, metric: str) -> tuple[float | None, str, str]:
    """(value, value_text, note) of ``metric`` over the derived frame ``t`` (closing order)."""
    n = len(t)
    if n == 0:
        return None, "", "no trade matches"
    pnl = t["pnl_usd"]
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    note = ""
    v: float | None
    if metric == "count":
        return float(n), str(n), ""
    if metric == "win_rate":
        v = round(float(t["won"].mean()) * 100, 1)
        return v, pct(v), ""
    if metric in ("pnl", "avg_pnl", "avg_win", "avg_loss", "expectancy", "max_drawdown"):
        if metric == "pnl":
            v = float(pnl.sum())
        elif metric in ("avg_pnl", "expectancy"):
            v = float(pnl.mean())
        elif metric == "avg_win":
            v = _mean(wins)
            note = "" if v is not None else "no winning trade"
        elif metric == "avg_loss":
            v = _mean(losses)
            note = "" if v is not None else "no losing trade"
        else:
            c = pnl.cumsum()
            v = float(min(0.0, (c - c.cummax().clip(lower=0)).min()))
        return (None, "", note) if v is None else (round(v, 2), money(round(v, 2)), note)
    if metric == "profit_factor":
        gl = -float(losses.sum())
        if gl == 0:
            return None, "", "no losing trade: the profit factor is undefined"
        v = round(float(wins.sum()) / gl, 2)
        return v, f"{v:.2f}", ""
    if metric == "payoff_ratio":
        aw, al = _mean(wins), _mean(losses)
        if aw is None or al is None:
            return None, "", "needs both winning and losing trades"
        v = round(aw / -al, 2)
        return v, f"{v:.2f}", ""
    if metric == "avg_r":
        v = _mean(t["r_multiple"])
        if v is None:
            return None, "", "no trade records a planned worst-case loss"
        return round(v, 2), f"{v:.2f}R", ""
    if metric in ("longest_win_streak", "longest_loss_streak"):
        k = _streak(t["won"], metric == "longest_win_streak")
        return float(k), f"{k} trades", ""
    if metric == "avg_holding":
        v = _mean(t["holding_min"])
        return (None, "", "no holding times") if v is None else (round(v, 1), f"{v:.1f} minutes", "")
    col = f"{metric}_usd"
    if col not in t.columns or t[col].isna().all():
        return None, "", (f"{metric.upper()} needs the price path after entry; the stored snapshots only hold "
                          "the bars before entry, so it cannot be computed")
    v = round(float(t[col].mean()), 2)
    return v, money(v), ""


def group_table(t: pd.DataFrame, by: str, metric: str) -> tuple[list[dict[str, Any]], str, str]:
    """Per-group n, wins, PnL and the metric; (groups, code shown, caveat)."""
    caveat = ""
    if by == "reason_code":
        keep = ["closed_at", "trade_cycle_id", "pnl_usd", "won", "r_multiple", "holding_min"] + \
            [c for c in ("mae_usd", "mfe_usd") if c in t.columns]
        parts = [t.loc[t[c].to_numpy(dtype=bool), keep].assign(key=c[3:]) for c in t.columns
                 if c.startswith("rc_") and t[c].any()]
        parts.append(t.loc[t["reason_codes"].fillna("") == "", keep].assign(key="(none)"))
        g = pd.concat(parts, ignore_index=True)      # each part keeps the closing order of t
        caveat = "a trade flagged with several reason codes counts under each of them"
        shown = 't.assign(key=t["reason_codes"].str.split("|")).explode("key")'
    else:
        col = {"day": "closed_date", "advisory_action": "advisory_action"}.get(by, by)
        key = period_key(t, by) if by in ("month", "week") else t[col]
        if by in ("weekday", "hour"):
            names = {v: (f"{int(v)} {['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][int(v)]}" if by == "weekday"
                         else f"{int(v):02d}h UTC") for v in key.unique()}
            key = key.map(names)
        g = t.assign(key=key.astype("string").fillna("(none)"))
        shown = f't.assign(key=t["{col}"])'
    out = []
    vals = _group_values(g, metric)
    gb = g.groupby("key", sort=True, dropna=False)
    base = pd.DataFrame({"n": gb.size(), "wins": gb["won"].sum(), "pnl": gb["pnl_usd"].sum()})
    if vals is None:
        vals = pd.Series({k: compute(part, metric)[0] for k, part in gb}, dtype="float64")
    for k, n, wins, pnl in zip(base.index, base["n"], base["wins"], base["pnl"], strict=True):
        v = vals.get(k)
        v = None if v is None or v != v else float(v)
        out.append({"key": str(k), "n": int(n), "wins": int(wins), "pnl_usd": round(float(pnl), 2),
                    "value": None if v is None else _round(metric, v),
                    "value_text": "" if v is None else _text(metric, _round(metric, v)),
                    "small_sample": int(n) < 10})
    if by not in ("hour", "weekday", "day", "week", "month"):
        out.sort(key=_rank)
    return out, f'{shown}.groupby("key").apply(lambda t: {CODE.get(metric, metric)})', caveat


_DECIMALS = {"win_rate": 1, "avg_holding": 1, "count": 0, "longest_win_streak": 0, "longest_loss_streak": 0}


def _round(metric: str, v: float) -> float:
    return round(v, _DECIMALS.get(metric, 2))


def _text(metric: str, v: float) -> str:
    if metric == "win_rate":
        return pct(v)
    if metric in ("count",):
        return str(int(v))
    if metric in ("longest_win_streak", "longest_loss_streak"):
        return f"{int(v)} trades"
    if metric == "avg_holding":
        return f"{v:.1f} minutes"
    if metric in ("profit_factor", "payoff_ratio"):
        return f"{v:.2f}"
    if metric == "avg_r":
        return f"{v:.2f}R"
    return money(v)


def _rank(r: dict[str, Any]) -> tuple[bool, float, int]:
    v, n = r["value"], r["n"]
    return v is None, -(float(v) if isinstance(v, (int, float)) else 0.0), -(n if isinstance(n, int) else 0)


def _group_values(g: pd.DataFrame, metric: str) -> pd.Series | None:
    """The metric per group, vectorised; None for the path metrics (drawdown, streaks, MAE/MFE), which
    are computed group by group."""
    gb = g.groupby("key", sort=True, dropna=False)
    pnl = g["pnl_usd"]
    if metric == "count":
        return gb.size().astype("float64")
    if metric == "win_rate":
        return gb["won"].mean() * 100
    if metric == "pnl":
        return gb["pnl_usd"].sum()
    if metric in ("avg_pnl", "expectancy"):
        return gb["pnl_usd"].mean()
    win = g.assign(_w=pnl.where(pnl > 0), _l=pnl.where(pnl < 0)).groupby("key", sort=True, dropna=False)
    if metric == "avg_win":
        return win["_w"].mean()
    if metric == "avg_loss":
        return win["_l"].mean()
    if metric == "profit_factor":
        gl = -win["_l"].sum()
        return (win["_w"].sum() / gl).where(gl > 0)
    if metric == "payoff_ratio":
        return win["_w"].mean() / -win["_l"].mean()
    if metric == "avg_r":
        return gb["r_multiple"].mean()
    if metric == "avg_holding":
        return gb["holding_min"].mean()
    return None
