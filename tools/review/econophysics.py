"""Econophysics: volatility, long memory and regimes of the markets a bot traded, incident vs baseline.

- realized volatility per bar: close-to-close, Parkinson (high/low) and Garman-Klass (OHLC); these are
  closed-form one-liners (no maintained package ships them for OHLC bars);
- memory: the Lo-MacKinlay variance ratio from ``arch`` with the heteroskedasticity-robust z* (the only
  statistic that labels a series trending or mean reverting), Ljung-Box from statsmodels, and the Hurst
  exponent by rescaled range (hand-written as ``nolds.hurst_rs``; checked on brown72);
- the incident window (first to last trade plus a declared margin) against a baseline of the same
  length right before it: volatility ratio with a Brown-Forsythe test, trend labels with their strength;
- anomalies and bad prints come from ``tools.review.anomalies``; only bars the next bars contradict are
  replaced, and each one is listed;
- entries against the market, with a bootstrap interval on the win-rate difference.
Pure functions over numpy arrays; no I/O.

Failure contract: a series too short for an estimator gives None for it and an ``inconclusive`` label
(never raises); NaN bars are dropped by the statistics.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy.stats import levene

from tools.review import anomalies, stats
from tools.review.series import Series

INCIDENT_MARGIN_S = 1800.0    # declared margin around the first and last trade of the incident
HIGH_VOL_RATIO = 1.5


# ------------------------------------------------------------------------------------------------
# estimators

def log_returns(close: np.ndarray) -> np.ndarray:
    c = np.asarray(close, dtype=float)
    return np.diff(np.log(c)) if len(c) > 1 else np.zeros(0)


def vol_close_to_close(close: np.ndarray) -> float | None:
    r = log_returns(close)
    return float(np.std(r, ddof=1)) if len(r) > 1 else None


def vol_parkinson(high: np.ndarray, low: np.ndarray) -> float | None:
    """Parkinson (1980): sqrt(mean(ln(H/L)^2) / (4 ln 2)), per bar."""
    h, lo = np.asarray(high, float), np.asarray(low, float)
    if len(h) == 0:
        return None
    x = np.log(h / lo) ** 2
    return float(math.sqrt(np.mean(x) / (4 * math.log(2))))


def vol_garman_klass(o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray) -> float | None:
    """Garman-Klass (1980): sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2)), per bar."""
    if len(o) == 0:
        return None
    hl = np.log(np.asarray(h, float) / np.asarray(low, float)) ** 2
    co = np.log(np.asarray(c, float) / np.asarray(o, float)) ** 2
    v = float(np.mean(0.5 * hl - (2 * math.log(2) - 1) * co))
    return math.sqrt(v) if v > 0 else 0.0


def _rs(x: np.ndarray, n: int, unbiased: bool) -> float:
    m = len(x) // n
    if m == 0:
        return float("nan")
    seqs = x[: m * n].reshape(m, n)
    y = np.cumsum(seqs - seqs.mean(axis=1, keepdims=True), axis=1)
    r = y.max(axis=1) - y.min(axis=1)
    s = seqs.std(axis=1, ddof=1 if unbiased else 0)
    ok = (r != 0) & (s != 0)
    return float(np.mean(r[ok] / s[ok])) if ok.any() else float("nan")


def hurst_rs(x: Sequence[float] | np.ndarray, nvals: Sequence[int] | None = None,
             unbiased: bool = False) -> float | None:
    """Hurst exponent by rescaled range: slope of log(R/S) against log(n).

    Same algorithm as ``nolds.hurst_rs(data, fit='poly', corrected=False, unbiased=False)``: for
    each n, the mean R/S over the non-overlapping subsequences of length n. Apply it to returns
    (increments), not to price levels. Default n: powers of two from 8 up to len(x)/2.
    """
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) < 32:
        return None
    if nvals is None:
        top = int(math.log2(len(a) // 2))
        nvals = [2 ** k for k in range(3, top + 1)]
    pts = [(math.log(n), math.log(v)) for n in nvals if n <= len(a) and (v := _rs(a, n, unbiased)) > 0
           and math.isfinite(v)]
    if len(pts) < 3:
        return None
    xs, ys = zip(*pts)
    return float(np.polyfit(xs, ys, 1)[0])


def _iso(ep: float) -> str:
    return datetime.fromtimestamp(float(ep), UTC).isoformat()


def trend_label(vr: dict[str, Any] | None, min_n: int = stats.MIN_SAMPLE * 10) -> tuple[str, str]:
    """(trend | mean_reversion | random_walk | unknown, strength) from the robust variance ratio.

    Only the heteroskedasticity-robust z* decides: the homoskedastic z over-rejects on crypto returns
    (volatility clusters), which is how a random walk gets called "mean reverting". A random walk is a
    failure to reject, so it is at most ``likely``.
    """
    if vr is None:
        return "unknown", "inconclusive"
    n, p = vr["n"], vr["p_robust"]
    if p < stats.ALPHA_LIKELY:
        return ("trend" if vr["vr"] > 1 else "mean_reversion"), stats.label(p, n, min_n)
    return "random_walk", ("likely" if n >= min_n else "inconclusive")


def volatility(s: Series, mask: np.ndarray | None = None, periods_per_year: float | None = None) -> dict[str, Any]:
    o, h, lo, c = (a if mask is None else a[mask] for a in (s.o, s.h, s.low, s.c))
    ppy = periods_per_year or 365 * 86400 / s.interval_s
    cc, pk, gk = vol_close_to_close(c), vol_parkinson(h, lo), vol_garman_klass(o, h, lo, c)
    ann = math.sqrt(ppy)
    return {"bars": int(len(c)), "cc_per_bar": cc, "parkinson_per_bar": pk, "garman_klass_per_bar": gk,
            "cc_annualized_pct": None if cc is None else round(cc * ann * 100, 2),
            "parkinson_annualized_pct": None if pk is None else round(pk * ann * 100, 2),
            "garman_klass_annualized_pct": None if gk is None else round(gk * ann * 100, 2)}


def incident_window(times: Sequence[float], margin_s: float = INCIDENT_MARGIN_S) -> tuple[float, float] | None:
    """First to last trade time, widened by ``margin_s`` on each side (epoch seconds)."""
    ts = [float(t) for t in times if t is not None]
    return (min(ts) - margin_s, max(ts) + margin_s) if ts else None


def _period(s: Series, m: np.ndarray, ppy: float | None) -> dict[str, Any] | None:
    if m.sum() < 3:
        return None
    rr = log_returns(s.c[m])
    vr = stats.variance_ratio_robust(rr, 4)
    tr, st = trend_label(vr)
    return {"start": _iso(s.t[m][0]), "end": _iso(s.t[m][-1] + s.interval_s), "bars": int(m.sum()),
            "volatility": volatility(s, m, ppy), "hurst": hurst_rs(rr), "variance_ratio": vr, "trend": tr,
            "trend_strength": st, "return_pct": round((float(s.c[m][-1]) / float(s.o[m][0]) - 1) * 100, 3),
            "ljung_box": stats.ljung_box(rr), "stationarity": stats.stationarity(rr)}


def compare_windows(s: Series, window: tuple[float, float], ppy: float | None = None) -> dict[str, Any]:
    """The incident window against a baseline of the same length right before it, with a variance test."""
    a, b = window
    inc = (s.t >= a) & (s.t < b)
    base = (s.t >= a - (b - a)) & (s.t < a)
    out: dict[str, Any] = {"incident": _period(s, inc, ppy), "baseline": _period(s, base, ppy),
                           "incident_window": [_iso(a), _iso(b)], "baseline_window": [_iso(a - (b - a)), _iso(a)],
                           "vol_ratio": None, "vol_test": None, "regime_change": False}
    ri, rb = log_returns(s.c[inc]), log_returns(s.c[base])
    ci, cb = vol_close_to_close(s.c[inc]), vol_close_to_close(s.c[base])
    if ci and cb:
        out["vol_ratio"] = round(ci / cb, 3)
        p = float(levene(ri, rb, center="median").pvalue) if min(len(ri), len(rb)) >= 3 else None
        n = len(ri) + len(rb)
        out["vol_test"] = stats.claim(n, stats.label(p, n), "Brown-Forsythe test of equal variance", pvalue=p,
                                      n_incident=len(ri), n_baseline=len(rb))
        big = out["vol_ratio"] >= HIGH_VOL_RATIO or out["vol_ratio"] <= 1 / HIGH_VOL_RATIO
        out["regime_change"] = bool(big and out["vol_test"]["strength"] != "inconclusive")
    return out


def analyze_series(s: Series, window: tuple[float, float] | None = None,
                   periods_per_year: float | None = None, peers: list[Series] | None = None) -> dict[str, Any]:
    """Everything for one asset: anomalies, then estimators on the series with only the bad prints replaced.

    ``window`` (epoch seconds) is the incident window; it is compared with the baseline before it.
    Every replaced bar is listed in ``replaced`` (time, field, value, replacement). ``peers``: the same
    base on other venues or quotes, whose bars can contradict a wick.
    """
    found, fixed = anomalies.detect(s, peers)
    r = log_returns(fixed.c)
    vr = stats.variance_ratio_robust(r, 4)
    tr, st = trend_label(vr)
    res: dict[str, Any] = {
        "asset": s.asset, "bars": int(len(s.c)), "start": _iso(s.t[0]) if len(s.t) else None,
        "end": _iso(s.t[-1]) if len(s.t) else None, "volatility": volatility(fixed, None, periods_per_year),
        "hurst": hurst_rs(r), "variance_ratio": vr, "trend": tr, "trend_strength": st,
        "ljung_box": stats.ljung_box(r), "raw_cc_per_bar": vol_close_to_close(s.c),
        "anomalies": [{k: v for k, v in a.items() if k != "index"} for a in found if a["kind"] != "outlier_print"],
        "replaced": [{k: a[k] for k in ("at", "field", "value", "replacement", "pct", "detail")}
                     for a in found if a["kind"] == "outlier_print"]}
    res["outliers_replaced"] = len(res["replaced"])
    if window is not None:
        res.update(compare_windows(fixed, window, periods_per_year))
    return res


def price_at(s: Series, ep: float) -> float | None:
    """The last close at or before ``ep`` (the bar that closed by then), else the first open."""
    i = int(np.searchsorted(s.t, ep - s.interval_s, side="right")) - 1
    if i < 0:
        return None
    return float(s.c[i])


def entries_vs_market(trades: Sequence[Any], series: dict[str, Series]) -> dict[str, Any]:
    """Each binary trade's entry against the underlying's move since the window opened and at its end.

    ``with_move``: the share bought points the way the underlying had already moved at entry
    (momentum); otherwise it bets on a reversal (contrarian).
    """
    rows = []
    for t in trades:
        s = series.get(t.asset)
        if s is None or t.window_start is None or t.entry_time is None:
            continue
        i0 = int(np.searchsorted(s.t, int(t.window_start.timestamp())))
        if i0 >= len(s.t) or s.t[i0] != int(t.window_start.timestamp()):
            continue
        start_px = float(s.o[i0])
        at_entry = price_at(s, t.entry_time.timestamp())
        at_end = price_at(s, t.window_end.timestamp()) if t.window_end else None
        if at_entry is None:
            continue
        move_entry = (at_entry / start_px - 1) * 100
        up = (t.outcome or "").lower() == "up"
        rows.append({"trade_id": t.trade_id, "asset": t.asset, "bought": t.outcome, "price": t.price,
                     "move_at_entry_pct": round(move_entry, 4),
                     "move_at_end_pct": None if at_end is None else round((at_end / start_px - 1) * 100, 4),
                     "with_move": (move_entry > 0) == up if move_entry != 0 else None, "won": t.won})
    n = len(rows)
    wm = [r for r in rows if r["with_move"] is True]
    ag = [r for r in rows if r["with_move"] is False]

    def wr(rs: list[dict[str, Any]]) -> float | None:
        k = [r for r in rs if r["won"] is not None]
        return round(sum(1 for r in k if r["won"]) / len(k), 4) if k else None

    prices = [r["price"] for r in rows if r["price"] is not None]
    diff = stats.win_rate_difference([bool(r["won"]) for r in wm if r["won"] is not None],
                                     [bool(r["won"]) for r in ag if r["won"] is not None])
    return {"trades": n, "with_move": len(wm), "against_move": len(ag), "win_rate_with_move": wr(wm),
            "win_rate_against_move": wr(ag), "mean_entry_price": round(float(np.mean(prices)), 4) if prices else None,
            "win_rate_difference": diff, "rows": rows}
