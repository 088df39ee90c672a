"""Econophysics: volatility, long memory, regimes and anomalies of the markets a bot traded.

- realized volatility: close-to-close, Parkinson (high/low) and Garman-Klass (OHLC) estimators;
- Hurst exponent by rescaled range (R/S, as nolds ``hurst_rs`` with a polynomial fit) and the
  Lo-MacKinlay variance ratio with its homoskedastic z statistic;
- regimes per window: trend (H > 0.55 and VR > 1) vs mean reversion (H < 0.45 and VR < 1) vs random
  walk; high vs low volatility against the series' median window volatility; regime changes;
- anomalies: flash crashes (a fast fall beyond ``crash_sigma`` robust sigmas, mostly recovered),
  gaps (missing bars, price jumps between bars) and prints far from their peers (Hampel filter);
- entry prices against the market at entry and at resolution.
Pure functions over numpy arrays; no I/O.

Failure contract: a series too short for an estimator gives None for it (never raises); NaN bars
propagate as NaN.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tools.review.series import Series

TREND_H, REVERT_H = 0.55, 0.45
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


def variance_ratio(r: Sequence[float] | np.ndarray, q: int = 4) -> tuple[float, float] | None:
    """Lo-MacKinlay (1988) VR(q) with overlapping q-period returns and the homoskedastic z.

    VR > 1: positively autocorrelated returns (momentum); VR < 1: mean reversion.
    """
    x = np.asarray(r, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 4 * q or q < 2:
        return None
    mu = x.mean()
    var1 = np.sum((x - mu) ** 2) / (n - 1)
    if var1 <= 0:
        return None
    cs = np.concatenate([[0.0], np.cumsum(x)])
    rq = cs[q:] - cs[:-q]
    m = q * (n - q + 1) * (1 - q / n)
    varq = np.sum((rq - q * mu) ** 2) / m
    vr = float(varq / var1)
    se = math.sqrt(2 * (2 * q - 1) * (q - 1) / (3 * q * n))
    return vr, float((vr - 1) / se)


def trend_label(h: float | None, vr: float | None, z: float | None = None) -> str:
    """trend | mean_reversion | random_walk | unknown.

    A variance ratio significantly away from 1 (|z| > 1.96) decides; otherwise the Hurst exponent
    does, with the variance ratio on the same side. (R/S is biased upwards on short samples, so H
    alone is a weak witness.)
    """
    if vr is not None and z is not None and abs(z) > 1.96:
        return "trend" if vr > 1 else "mean_reversion"
    if h is None:
        return "unknown"
    if h > TREND_H and (vr is None or vr > 1):
        return "trend"
    if h < REVERT_H and (vr is None or vr < 1):
        return "mean_reversion"
    return "random_walk"


# ------------------------------------------------------------------------------------------------
# per series analysis

def _robust_sigma(r: np.ndarray) -> float:
    if len(r) == 0:
        return 0.0
    mad = float(np.median(np.abs(r - np.median(r))))
    return 1.4826 * mad if mad > 0 else float(np.std(r)) or 1e-12


def _iso(ep: float) -> str:
    return datetime.fromtimestamp(float(ep), UTC).isoformat()


def volatility(s: Series, mask: np.ndarray | None = None, periods_per_year: float | None = None) -> dict[str, Any]:
    o, h, lo, c = (a if mask is None else a[mask] for a in (s.o, s.h, s.low, s.c))
    ppy = periods_per_year or 365 * 86400 / s.interval_s
    cc, pk, gk = vol_close_to_close(c), vol_parkinson(h, lo), vol_garman_klass(o, h, lo, c)
    ann = math.sqrt(ppy)
    return {"bars": int(len(c)), "cc_per_bar": cc, "parkinson_per_bar": pk, "garman_klass_per_bar": gk,
            "cc_annualized_pct": None if cc is None else round(cc * ann * 100, 2),
            "parkinson_annualized_pct": None if pk is None else round(pk * ann * 100, 2),
            "garman_klass_annualized_pct": None if gk is None else round(gk * ann * 100, 2)}


def regimes(s: Series, window_bars: int = 60) -> list[dict[str, Any]]:
    """Label consecutive windows of ``window_bars`` bars by trend and volatility."""
    r = log_returns(s.c)
    if len(r) < window_bars:
        return []
    out = []
    vols = []
    for i in range(0, len(r) - window_bars + 1, window_bars):
        w = r[i:i + window_bars]
        vols.append(float(np.std(w, ddof=1)))
    med = float(np.median(vols)) if vols else 0.0
    for k, i in enumerate(range(0, len(r) - window_bars + 1, window_bars)):
        w = r[i:i + window_bars]
        hh = hurst_rs(w, nvals=[4, 8, 15, 30]) if window_bars >= 60 else None
        vr = variance_ratio(w, 4)
        vol = vols[k]
        out.append({"start": _iso(s.t[i]), "end": _iso(s.t[min(i + window_bars, len(s.t) - 1)]),
                    "vol_per_bar": vol, "hurst": hh, "variance_ratio": vr[0] if vr else None,
                    "trend": trend_label(hh, *(vr or (None, None))),
                    "volatility": "high" if med > 0 and vol > HIGH_VOL_RATIO * med else "low"})
    return out


def regime_changes(labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a, b in zip(labels, labels[1:]):
        if a["volatility"] != b["volatility"]:
            out.append({"at": b["start"], "kind": "volatility", "from": a["volatility"], "to": b["volatility"]})
    return out


def anomalies(s: Series, crash_sigma: float = 8.0, crash_min_pct: float = 2.0, hampel_k: int = 5,
              hampel_sigma: float = 8.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    r = log_returns(s.c)
    if len(r) < 20:
        return out
    sig = _robust_sigma(r)
    # gaps: missing bars
    dt = np.diff(s.t)
    for i in np.nonzero(dt > 1.5 * s.interval_s)[0].tolist():
        out.append({"kind": "gap", "at": _iso(s.t[i] + s.interval_s), "missing_bars": int(dt[i] // s.interval_s - 1),
                    "detail": f"{int(dt[i] // s.interval_s - 1)} bar(s) missing after {_iso(s.t[i])}"})
    # price jumps between a bar's close and the next open
    jump = np.abs(np.log(s.o[1:] / s.c[:-1]))
    for i in np.nonzero(jump > max(crash_sigma * sig, crash_min_pct / 100))[0].tolist():
        out.append({"kind": "price_gap", "at": _iso(s.t[i + 1]), "pct": round(float(jump[i]) * 100, 3),
                    "detail": f"open {s.o[i + 1]:g} vs previous close {s.c[i]:g}"})
    # prints far from their peers: Hampel filter on closes (k neighbours each side, the print excluded)
    n = len(s.c)
    k = hampel_k
    outlier_idx: set[int] = set()
    if n > 2 * k:
        from numpy.lib.stride_tricks import sliding_window_view

        win = sliding_window_view(s.c, 2 * k + 1)
        peers = np.delete(win, k, axis=1)
        med = np.median(peers, axis=1)
        mad = 1.4826 * np.median(np.abs(peers - med[:, None]), axis=1)
        centre = win[:, k]
        dev = np.abs(centre - med)
        hit = np.nonzero(dev > np.maximum(hampel_sigma * mad, crash_min_pct / 100 * med))[0]
        # an isolated bar is a bad print; a run of neighbouring hits is a real move (left to crash detection)
        hs = set(hit.tolist())
        isolated = [j for j in hit.tolist() if (j - 1) not in hs and (j + 1) not in hs]
        for j in isolated:
            i = int(j + k)
            outlier_idx.add(i)
            out.append({"kind": "outlier_print", "at": _iso(s.t[i]), "pct": round(float(dev[j] / med[j]) * 100, 3),
                        "index": i, "peer_median": float(med[j]),
                        "detail": f"close {s.c[i]:g} vs peer median {float(med[j]):g}"})
    # flash crashes: a fall over <= 5 bars beyond crash_sigma local sigmas (trailing 120 bars),
    # >= 50% recovered within 15 bars
    import pandas as pd

    local = pd.Series(r).rolling(120, min_periods=30).std().shift(1).to_numpy()
    local = np.where(np.isfinite(local) & (local > 0), local, sig)
    logc = np.log(s.c)
    i = 0
    while i < n - 1:
        found = False
        for span in range(1, 6):
            j = i + span
            if j >= n:
                break
            fall = logc[j] - logc[i]
            sd = float(local[min(i, len(local) - 1)])
            if fall < -max(crash_sigma * sd * math.sqrt(span), crash_min_pct / 100) and i not in outlier_idx \
                    and j not in outlier_idx:
                low_j = j + int(np.argmin(logc[j:min(j + 3, n)]))
                fall = logc[low_j] - logc[i]
                rec_end = min(low_j + 16, n)
                recovered = float(np.max(logc[low_j:rec_end]) - logc[low_j]) / -fall if fall < 0 else 0.0
                out.append({"kind": "flash_crash" if recovered >= 0.5 else "crash", "at": _iso(s.t[i + 1]),
                            "pct": round((math.exp(fall) - 1) * 100, 3), "bars": int(low_j - i),
                            "recovered_pct": round(float(recovered) * 100, 1),
                            "detail": f"{(math.exp(fall) - 1) * 100:.2f}% in {low_j - i} bar(s), "
                                      f"{recovered * 100:.0f}% recovered within 15 bars"})
                i = rec_end
                found = True
                break
        if not found:
            i += 1
    out.sort(key=lambda a: a["at"])
    return out


def clean(s: Series, found: list[dict[str, Any]]) -> Series:
    """A copy with outlier prints replaced by their peers' median (estimators are not robust to them)."""
    idx = [a for a in found if a["kind"] == "outlier_print"]
    if not idx:
        return s
    o, h, lo, c = s.o.copy(), s.h.copy(), s.low.copy(), s.c.copy()
    for a in idx:
        i, med = a["index"], a["peer_median"]
        c[i] = med
        h[i] = max(o[i], med)
        lo[i] = min(o[i], med)
        if i + 1 < len(o) and o[i + 1] == s.c[i]:
            # the next bar opened at the bad print: its range is rebuilt from the clean open and close
            o[i + 1] = med
            h[i + 1] = max(med, c[i + 1])
            lo[i + 1] = min(lo[i + 1], med, c[i + 1])
    return Series(s.asset, s.t, o, h, lo, c, s.interval_s)


def analyze_series(s: Series, split_at: float | None, periods_per_year: float | None = None,
                   window_bars: int = 60) -> dict[str, Any]:
    """Everything for one asset; ``split_at`` (epoch) separates the earlier period from the incident.

    Volatility, Hurst and variance ratio are computed on the series with outlier prints replaced by
    their peers' median (``outliers_replaced`` says how many).
    """
    found = anomalies(s)
    raw = s
    s = clean(s, found)
    r = log_returns(s.c)
    hh = hurst_rs(r)
    vr = variance_ratio(r, 4)
    res: dict[str, Any] = {
        "asset": s.asset, "bars": int(len(s.c)), "start": _iso(s.t[0]) if len(s.t) else None,
        "end": _iso(s.t[-1]) if len(s.t) else None,
        "volatility": volatility(s, None, periods_per_year), "hurst": hh,
        "variance_ratio": vr[0] if vr else None, "variance_ratio_z": vr[1] if vr else None,
        "trend": trend_label(hh, *(vr or (None, None))),
        "return_pct": round((float(s.c[-1]) / float(s.o[0]) - 1) * 100, 3) if len(s.c) else None,
    }
    if split_at is not None:
        before = s.t < split_at
        after = ~before
        periods: dict[str, dict[str, Any] | None] = {}
        for name, m in (("earlier", before), ("incident", after)):
            if m.sum() < 40:
                periods[name] = None
                continue
            rr = log_returns(s.c[m])
            h2 = hurst_rs(rr)
            v2 = variance_ratio(rr, 4)
            periods[name] = {"volatility": volatility(s, m, periods_per_year), "hurst": h2,
                             "variance_ratio": v2[0] if v2 else None, "variance_ratio_z": v2[1] if v2 else None,
                             "trend": trend_label(h2, *(v2 or (None, None))),
                             "return_pct": round((float(s.c[m][-1]) / float(s.o[m][0]) - 1) * 100, 3)}
        res["periods"] = periods
        e, i = periods.get("earlier"), periods.get("incident")
        res["regime_change"] = False
        res["vol_ratio_incident_vs_earlier"] = None
        if e and i and e["volatility"]["cc_per_bar"] and i["volatility"]["cc_per_bar"]:
            res["vol_ratio_incident_vs_earlier"] = round(i["volatility"]["cc_per_bar"] / e["volatility"]["cc_per_bar"], 3)
            res["regime_change"] = (e["trend"] != i["trend"]) or res["vol_ratio_incident_vs_earlier"] >= HIGH_VOL_RATIO \
                or res["vol_ratio_incident_vs_earlier"] <= 1 / HIGH_VOL_RATIO
    labels = regimes(s, window_bars)
    res["windows"] = labels
    res["regime_changes"] = regime_changes(labels)
    res["anomalies"] = [{k: v for k, v in a.items() if k not in ("index", "peer_median")} for a in found]
    res["outliers_replaced"] = sum(1 for a in found if a["kind"] == "outlier_print")
    res["raw_cc_per_bar"] = vol_close_to_close(raw.c)
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
    return {"trades": n, "with_move": len(wm), "against_move": len(ag), "win_rate_with_move": wr(wm),
            "win_rate_against_move": wr(ag), "mean_entry_price": round(float(np.mean(prices)), 4) if prices else None,
            "rows": rows}
