"""Calibration of a model's stated probabilities against reconstructed outcomes, and feature drift.

Brier score and log loss are scikit-learn's; the reliability curve bins as scikit-learn's
``calibration_curve`` (uniform or quantile bins, empty bins dropped) and adds the trades per bin and a
Wilson 95% interval of each bin's win rate. The Brier score comes with its Murphy decomposition and a
bootstrap interval of its excess over the base rate (``tools.review.stats``). Expected calibration error is the bin-weighted |accuracy - confidence|. The base-rate baseline
predicts the observed win rate for every trade (its Brier score is p(1-p)); a coin flip scores 0.25.
Drift: population stability index (reference deciles, epsilon-floored) and the two-sample KS test.

Failure contract: too few points for a statistic give None (psi, ks) or an ``n``-only report; arrays of
unequal length or probabilities outside [0, 1] raise ValueError.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sk_log_loss

from tools.review import stats

Floats = Sequence[float] | np.ndarray   # a list or a numpy array of numbers (None in ``prices`` reads as NaN)

EPS = 1e-15
MIN_TRADES = 10             # fewer resolved trades: metrics are reported but no verdict is drawn


def _arr(y_true: Floats, y_prob: Floats) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"y_true and y_prob differ in length ({len(y)} vs {len(p)})")
    if len(p) and (p.min() < 0 or p.max() > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    return y, p


def brier(y_true: Floats, y_prob: Floats) -> float:
    """scikit-learn's ``brier_score_loss`` (NaN on no data)."""
    y, p = _arr(y_true, y_prob)
    if not len(y):
        return float("nan")
    return float(brier_score_loss(y, p, pos_label=1)) if set(np.unique(y)) <= {0.0, 1.0} else float(np.mean((y - p) ** 2))


def log_loss(y_true: Floats, y_prob: Floats) -> float:
    """scikit-learn's ``log_loss`` of binary outcomes (probabilities clipped away from 0 and 1)."""
    y, p = _arr(y_true, y_prob)
    if not len(y):
        return float("nan")
    p = np.clip(p, EPS, 1 - EPS)
    return float(sk_log_loss(y, p, labels=[0.0, 1.0]))


def calibration_curve(y_true: Floats, y_prob: Floats, n_bins: int = 5,
                      strategy: str = "uniform") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prob_true, prob_pred, counts) per non-empty bin, as scikit-learn bins them."""
    y, p = _arr(y_true, y_prob)
    if strategy == "quantile":
        bins = np.percentile(p, np.linspace(0, 100, n_bins + 1))
    elif strategy == "uniform":
        bins = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError("strategy must be 'uniform' or 'quantile'")
    ids = np.searchsorted(bins[1:-1], p)
    sums = np.bincount(ids, weights=p, minlength=len(bins))
    trues = np.bincount(ids, weights=y, minlength=len(bins))
    totals = np.bincount(ids, minlength=len(bins))
    nz = totals != 0
    return trues[nz] / totals[nz], sums[nz] / totals[nz], totals[nz]


def ece(y_true: Floats, y_prob: Floats, n_bins: int = 10) -> float:
    y, p = _arr(y_true, y_prob)
    if not len(y):
        return float("nan")
    pt, pp, n = calibration_curve(y, p, n_bins)
    return float(np.sum(n / n.sum() * np.abs(pt - pp)))


def psi(reference: Floats, current: Floats, bins: int = 10, eps: float = 1e-4) -> float | None:
    """Population stability index of ``current`` against ``reference`` (bins: reference quantiles)."""
    r = np.asarray(reference, float)
    c = np.asarray(current, float)
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    if len(r) < bins or len(c) < 2:
        return None
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        edges = np.linspace(min(r.min(), c.min()), max(r.max(), c.max()) + 1e-12, bins + 1)
    edges[0], edges[-1] = -np.inf, np.inf
    rp = np.histogram(r, edges)[0] / len(r)
    cp = np.histogram(c, edges)[0] / len(c)
    rp, cp = np.maximum(rp, eps), np.maximum(cp, eps)
    return float(np.sum((cp - rp) * np.log(cp / rp)))


def psi_label(v: float | None) -> str:
    if v is None:
        return "unknown"
    return "stable" if v < 0.1 else ("moderate shift" if v < 0.25 else "significant shift")


def ks(reference: Floats, current: Floats) -> tuple[float, float] | None:
    r = np.asarray(reference, float)
    c = np.asarray(current, float)
    r, c = r[np.isfinite(r)], c[np.isfinite(c)]
    if len(r) < 2 or len(c) < 2:
        return None
    res = sps.ks_2samp(r, c)
    return float(res.statistic), float(res.pvalue)


def calibration_report(y_true: Floats, y_prob: Floats, pnl: Floats | None = None,
                       prices: Sequence[float | None] | np.ndarray | None = None, n_bins: int = 5,
                       thresholds: Sequence[float] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)) -> dict[str, Any]:
    """Everything the ML team reports about stated probabilities vs outcomes."""
    y, p = _arr(y_true, y_prob)
    n = len(y)
    out: dict[str, Any] = {"n": n}
    if n == 0:
        return out
    base = float(y.mean())
    out.update(
        win_rate=round(base, 4), mean_prob=round(float(p.mean()), 4),
        overconfidence=round(float(p.mean()) - base, 4),
        brier=round(brier(y, p), 4), brier_base_rate=round(base * (1 - base), 4), brier_coin=0.25,
        log_loss=round(log_loss(y, p), 4),
        log_loss_base_rate=round(log_loss(y, np.full(n, min(max(base, EPS), 1 - EPS))), 4),
        ece=round(ece(y, p, n_bins), 4))
    out["brier_skill_vs_base_rate"] = round(1 - out["brier"] / out["brier_base_rate"], 4) \
        if out["brier_base_rate"] > 0 else None
    pt, pp, cnt = calibration_curve(y, p, n_bins)
    rel = []
    for a, b, c in zip(pp, pt, cnt):
        ci = stats.wilson(int(round(b * c)), int(c))
        rel.append({"mean_prob": round(float(a), 4), "win_rate": round(float(b), 4), "trades": int(c),
                    "ci_low": round(ci[0], 4) if ci else None, "ci_high": round(ci[1], 4) if ci else None})
    out["reliability"] = rel
    bc = stats.brier_claim(y, p, min_n=MIN_TRADES)
    out.update(brier_ci_low=bc["ci_low"], brier_ci_high=bc["ci_high"], brier_reliability=bc.get("reliability"),
               brier_resolution=bc.get("resolution"), brier_uncertainty=bc.get("uncertainty"),
               brier_excess_ci_low=bc["excess_over_base_ci_low"], brier_excess_ci_high=bc["excess_over_base_ci_high"],
               brier_excess_pvalue=bc["pvalue"], brier_strength=bc["strength"])
    wr = stats.proportion_claim(int(y.sum()), n, float(p.mean()), min_n=MIN_TRADES)
    out.update(win_rate_ci_low=wr["ci_low"], win_rate_ci_high=wr["ci_high"], win_rate_strength=wr["strength"])
    # a binomial test of the win rate against the mean stated probability
    if n >= 1:
        bt = sps.binomtest(int(y.sum()), n, float(np.clip(p.mean(), 1e-9, 1 - 1e-9)))
        out["win_rate_vs_stated_pvalue"] = float(bt.pvalue)
    if prices is not None:
        pr = np.asarray(prices, float)
        out["mean_price"] = round(float(np.nanmean(pr)), 4)
        out["edge_stated"] = round(float(np.nanmean(p - pr)), 4)        # stated prob minus price paid
        out["edge_realized"] = round(base - float(np.nanmean(pr)), 4)   # win rate minus price paid
    rows = []
    pn = np.asarray(pnl, float) if pnl is not None else None
    for th in thresholds:
        m = p >= th
        k = int(m.sum())
        rows.append({"threshold": th, "trades": k,
                     "win_rate": round(float(y[m].mean()), 4) if k else None,
                     "pnl": round(float(pn[m].sum()), 2) if (pn is not None and k) else None})
    out["thresholds"] = rows
    out["enough_data"] = n >= MIN_TRADES
    out["miscalibrated"] = bool(n >= MIN_TRADES and out["brier"] > out["brier_base_rate"]
                                and out["ece"] > 0.1 and out.get("win_rate_vs_stated_pvalue", 1.0) < 0.05)
    out["miscalibration_strength"] = (stats.label(out.get("win_rate_vs_stated_pvalue"), n, MIN_TRADES)
                                      if out["miscalibrated"] else "inconclusive")
    return out


def drift_report(reference: Mapping[str, Floats], current: Mapping[str, Floats]) -> list[dict[str, Any]]:
    rows = []
    for name in reference:
        r, c = reference[name], current.get(name, [])
        v = psi(r, c)
        k = ks(r, c)
        rr = np.asarray(r, float)
        cc = np.asarray(c, float)
        rows.append({"feature": name, "n_reference": int(np.isfinite(rr).sum()), "n_current": int(np.isfinite(cc).sum()),
                     "mean_reference": round(float(np.nanmean(rr)), 4) if np.isfinite(rr).any() else None,
                     "mean_current": round(float(np.nanmean(cc)), 4) if np.isfinite(cc).any() else None,
                     "psi": None if v is None else round(v, 4), "psi_label": psi_label(v),
                     "ks_stat": None if k is None else round(k[0], 4),
                     "ks_pvalue": None if k is None else (k[1] if k[1] < 1e-4 else round(k[1], 4)),
                     "drifted": bool((v is not None and v >= 0.25) or (k is not None and k[1] < 0.01 and k[0] > 0.1))})
    return rows


def finite(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x
