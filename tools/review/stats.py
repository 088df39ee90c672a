"""Evidence strength for the review's claims: intervals, tests and one plain label per claim.

Every number a team states comes with its sample size and a label a trader reads without statistics:
``confirmed`` (significant at 1%, or a direct tally of records), ``likely`` (significant at 5%) or
``inconclusive`` (below the minimum sample, or not significant). The statistics come from the field's
libraries: ``arch`` (Lo-MacKinlay variance ratio with the heteroskedasticity-robust statistic),
``statsmodels`` (Wilson interval, Ljung-Box, ADF, KPSS), ``scipy.stats`` (binomial test), scikit-learn
(Brier score). Hand-written here only what no maintained library offers in this environment: DFA
(checked against PhysioNet's Lorenz output) and the Brier decomposition's bootstrap interval.

Failure contract: a sample below a statistic's minimum gives None or an ``inconclusive`` claim (never
raises); non-finite values are dropped before testing; probabilities outside [0, 1] raise ValueError
(scikit-learn's own check).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

# imported here, not inside the functions: the review teams run in parallel threads, and a first import
# racing in two threads can deadlock on the module lock (seen with scikit-learn's narwhals)
from arch.unitroot import VarianceRatio
from scipy.stats import binomtest, bootstrap
from sklearn.metrics import brier_score_loss
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.stats.proportion import proportion_confint
from statsmodels.tsa.stattools import adfuller, kpss

Label = Literal["confirmed", "likely", "inconclusive"]
MIN_SAMPLE = 20            # fewer observations: a rate or an average is reported, never concluded from
ALPHA_CONFIRMED, ALPHA_LIKELY = 0.01, 0.05
SEED = 13                  # bootstrap draws are reproducible: the same bundle gives the same report


def label(p: float | None, n: int, min_n: int = MIN_SAMPLE) -> Label:
    """The plain label of a test with p-value ``p`` on ``n`` observations."""
    if p is None or not math.isfinite(p) or n < min_n:
        return "inconclusive"
    return "confirmed" if p < ALPHA_CONFIRMED else ("likely" if p < ALPHA_LIKELY else "inconclusive")


def claim(n: int, strength: Label, test: str = "", **values: Any) -> dict[str, Any]:
    """One claim's evidence as plain data: n, label, the test that supports it, its numbers."""
    return {"n": int(n), "strength": strength, "test": test, **values}


def tally(n: int, what: str = "records") -> dict[str, Any]:
    """A count read straight from the records (no inference): confirmed by the records themselves."""
    return claim(n, "confirmed", f"tally of {n} {what}")


def _finite(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[np.isfinite(a)]


# ------------------------------------------------------------------------------------------------
# proportions and win rates

def wilson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float] | None:
    """Wilson score interval of a proportion k/n (statsmodels)."""
    if n <= 0:
        return None
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def proportion_claim(k: int, n: int, p0: float | None = None, min_n: int = MIN_SAMPLE) -> dict[str, Any]:
    """A rate k/n with its Wilson interval; against ``p0`` (e.g. the price paid) by an exact binomial test."""
    ci = wilson(k, n)
    pval = None
    if p0 is not None and n > 0:
        pval = float(binomtest(k, n, min(max(p0, 1e-9), 1 - 1e-9)).pvalue)
    strength = label(pval, n, min_n) if p0 is not None else ("confirmed" if n >= min_n else "inconclusive")
    return claim(n, strength, "Wilson 95% CI" + (f", binomial test vs {p0:.4g}" if p0 is not None else ""),
                 rate=None if n == 0 else round(k / n, 4), ci_low=None if ci is None else round(ci[0], 4),
                 ci_high=None if ci is None else round(ci[1], 4), pvalue=pval)


def bootstrap_ci(x: Sequence[float] | np.ndarray, stat: Any = np.mean, draws: int = 2000,
                 alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``stat`` over ``x`` (scipy.stats.bootstrap)."""
    a = _finite(x)
    if len(a) < 2 or np.all(a == a[0]):
        return None
    res = bootstrap((a,), stat, n_resamples=draws, confidence_level=1 - alpha, method="percentile",
                    random_state=np.random.default_rng(SEED), vectorized=False)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def win_rate_difference(won_a: Sequence[bool], won_b: Sequence[bool], min_n: int = MIN_SAMPLE) -> dict[str, Any]:
    """Two groups' win rates and the bootstrap interval of their difference (a minus b)."""
    a = np.asarray([1.0 if w else 0.0 for w in won_a])
    b = np.asarray([1.0 if w else 0.0 for w in won_b])
    n = len(a) + len(b)
    out = claim(n, "inconclusive", "bootstrap 95% CI of the win-rate difference",
                n_a=len(a), n_b=len(b), rate_a=round(float(a.mean()), 4) if len(a) else None,
                rate_b=round(float(b.mean()), 4) if len(b) else None, ci_low=None, ci_high=None)
    if len(a) < 2 or len(b) < 2:
        return out
    rng = np.random.default_rng(SEED)
    diffs = (a[rng.integers(0, len(a), (2000, len(a)))].mean(axis=1)
             - b[rng.integers(0, len(b), (2000, len(b)))].mean(axis=1))
    lo, hi = (float(v) for v in np.quantile(diffs, [0.025, 0.975]))
    out.update(ci_low=round(lo, 4), ci_high=round(hi, 4))
    excludes_zero = lo > 0 or hi < 0
    out["strength"] = "likely" if excludes_zero and min(len(a), len(b)) >= min_n // 2 and n >= min_n else "inconclusive"
    return out


# ------------------------------------------------------------------------------------------------
# calibration

def brier_decomposition(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray,
                        n_bins: int = 5) -> dict[str, float]:
    """Murphy (1973): Brier = reliability - resolution + uncertainty (binned; exact when p is constant per bin)."""
    yy, pp = np.asarray(y, float), np.asarray(p, float)
    bs = float(brier_score_loss(yy, pp)) if len(yy) else float("nan")
    base = float(yy.mean()) if len(yy) else float("nan")
    ids = np.minimum((pp * n_bins).astype(int), n_bins - 1)
    rel = res = 0.0
    for b in np.unique(ids):
        m = ids == b
        w = m.sum() / len(yy)
        rel += w * (pp[m].mean() - yy[m].mean()) ** 2
        res += w * (yy[m].mean() - base) ** 2
    return {"brier": bs, "reliability": float(rel), "resolution": float(res), "uncertainty": base * (1 - base)}


def brier_claim(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, draws: int = 2000,
                min_n: int = MIN_SAMPLE) -> dict[str, Any]:
    """Brier score, its decomposition and bootstrap intervals of the score and of its excess over the base rate.

    The model is worse than predicting the base rate with ``strength`` given by the share of bootstrap
    draws where it is not (a one-sided bootstrap p-value).
    """
    yy, pp = np.asarray(y, float), np.asarray(p, float)
    n = len(yy)
    d = brier_decomposition(yy, pp) if n else {}
    out = claim(n, "inconclusive", "Brier score, Murphy decomposition, bootstrap 95% CI",
                **{k: round(v, 4) for k, v in d.items()}, ci_low=None, ci_high=None,
                excess_over_base_ci_low=None, excess_over_base_ci_high=None, pvalue=None)
    if n < 2:
        return out
    rng = np.random.default_rng(SEED)
    idx = rng.integers(0, n, size=(draws, n))
    yb, pb = yy[idx], pp[idx]
    bs = np.mean((yb - pb) ** 2, axis=1)
    base = yb.mean(axis=1, keepdims=True)
    excess = bs - np.mean((yb - base) ** 2, axis=1)
    lo, hi = np.quantile(bs, [0.025, 0.975])
    elo, ehi = np.quantile(excess, [0.025, 0.975])
    pval = float((np.sum(excess <= 0) + 1) / (draws + 1))
    out.update(ci_low=round(float(lo), 4), ci_high=round(float(hi), 4),
               excess_over_base_ci_low=round(float(elo), 4), excess_over_base_ci_high=round(float(ehi), 4),
               pvalue=pval, strength=label(pval, n, min_n))
    return out


# ------------------------------------------------------------------------------------------------
# time series: memory, autocorrelation, stationarity

def variance_ratio_robust(returns: Sequence[float] | np.ndarray, q: int = 4) -> dict[str, Any] | None:
    """Lo-MacKinlay VR(q) from ``arch`` with the heteroskedasticity-robust z* (and the homoskedastic z)."""
    r = _finite(returns)
    if len(r) < 8 * q or q < 2 or float(np.std(r)) == 0.0:
        return None
    level = np.concatenate([[0.0], np.cumsum(r)])
    rob = VarianceRatio(level, lags=q, robust=True, overlap=True)
    hom = VarianceRatio(level, lags=q, robust=False, overlap=True)
    return {"q": q, "n": len(r), "vr": float(rob.vr), "z_robust": float(rob.stat), "p_robust": float(rob.pvalue),
            "z_homoskedastic": float(hom.stat), "p_homoskedastic": float(hom.pvalue)}


def ljung_box(returns: Sequence[float] | np.ndarray, lags: int = 10) -> dict[str, float] | None:
    r = _finite(returns)
    if len(r) < 3 * lags or float(np.std(r)) == 0.0:
        return None
    t = acorr_ljungbox(r, lags=[lags])
    return {"lags": lags, "stat": float(t["lb_stat"].iloc[0]), "pvalue": float(t["lb_pvalue"].iloc[0])}


def stationarity(x: Sequence[float] | np.ndarray) -> dict[str, Any] | None:
    """ADF (H0: unit root) and KPSS (H0: stationary) on ``x``; ``stationary`` only when both agree."""
    a = _finite(x)
    if len(a) < 50 or float(np.std(a)) == 0.0:
        return None
    with warnings.catch_warnings():     # KPSS warns at its table's edge; adfuller about a future return type
        warnings.simplefilter("ignore")
        adf = adfuller(a, autolag="AIC")
        kp = kpss(a, regression="c", nlags="auto")
    adf_p, kpss_p = float(adf[1]), float(kp[1])
    return {"adf_stat": float(adf[0]), "adf_p": adf_p, "kpss_stat": float(kp[0]), "kpss_p": kpss_p,
            "stationary": adf_p < 0.05 and kpss_p > 0.05}


def dfa(x: Sequence[float] | np.ndarray, nvals: Sequence[int] | None = None,
        order: int = 1) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Detrended fluctuation analysis, non-overlapping windows (as ``nolds.dfa(overlap=False)``).

    Returns (alpha, log10 n, log10 F(n)); alpha is the slope of the log-log fit. No maintained package
    ships in this environment, so it is hand-written and checked against PhysioNet's Lorenz output.
    """
    a = _finite(x)
    if len(a) < 16:
        return None
    y = np.cumsum(a - a.mean())
    if nvals is None:
        nvals = sorted({int(v) for v in np.logspace(math.log10(4), math.log10(len(a) // 4), 12)})
    ns, fs = [], []
    for n in nvals:
        m = len(y) // n
        if n < order + 2 or m < 1:
            continue
        seg = y[: m * n].reshape(m, n)
        t = np.arange(n)
        coef = np.polynomial.polynomial.polyfit(t, seg.T, order)
        trend = np.polynomial.polynomial.polyval(t, coef)
        f = math.sqrt(float(np.mean(np.mean((seg - trend) ** 2, axis=1))))
        if f > 0:
            ns.append(n)
            fs.append(f)
    if len(ns) < 3:
        return None
    ln, lf = np.log10(ns), np.log10(fs)
    return float(np.polyfit(ln, lf, 1)[0]), ln, lf


def fmt_claim(c: dict[str, Any] | None) -> str:
    """``n=28, inconclusive (Wilson 95% CI 0.08-0.37)``: the evidence suffix of a statement."""
    if not c:
        return "n=0, inconclusive"
    bits = [f"n={c['n']}", c["strength"]]
    extra = []
    if c.get("ci_low") is not None and c.get("ci_high") is not None:
        extra.append(f"95% CI {c['ci_low']:g} to {c['ci_high']:g}")
    if c.get("pvalue") is not None:
        extra.append(f"p={c['pvalue']:.2g}")
    return ", ".join(bits) + (f" ({'; '.join(extra)})" if extra else "")
