"""Econophysics tools: volatility estimators, Hurst (R/S), variance ratio, regimes and anomalies."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tools.review import econophysics as econ
from tools.review import stats

BROWN72 = Path(__file__).resolve().parents[2] / "shared" / "data" / "D_reference_values" / "brown72.csv"


@pytest.mark.skipif(not BROWN72.is_file(), reason="shared reference data not present")
def test_hurst_rs_reproduces_nolds_and_pracma_on_brown72() -> None:
    x = np.loadtxt(BROWN72, skiprows=1)
    assert len(x) == 1024
    # nolds.hurst_rs(brown72, fit='poly', corrected=False, unbiased=False, nvals=2**arange(3,11)) = 0.72 +- 0.01
    assert econ.hurst_rs(x, nvals=[2 ** k for k in range(3, 11)]) == pytest.approx(0.72, abs=0.01)
    # pracma's simple R/S: log(R/S)/log(N) with the sample sd = 0.6590931
    y = np.cumsum(x - x.mean())
    assert math.log((y.max() - y.min()) / x.std(ddof=1)) / math.log(len(x)) == pytest.approx(0.6590931, abs=1e-6)


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    r = np.empty(n)
    prev = 0.0
    for i in range(n):
        prev = phi * prev + e[i]
        r[i] = prev
    return r


def test_hurst_and_robust_variance_ratio_tell_memory_apart() -> None:
    noise = np.random.default_rng(3).standard_normal(10_000)
    assert econ.hurst_rs(noise) == pytest.approx(0.5, abs=0.1)
    v = stats.variance_ratio_robust(noise, 4)
    assert v is not None and v["p_robust"] > 0.05 and v["vr"] == pytest.approx(1.0, abs=0.1)
    assert econ.trend_label(v) == ("random_walk", "likely")
    vt = stats.variance_ratio_robust(_ar1(0.3, 5000, 1), 4)
    vm = stats.variance_ratio_robust(_ar1(-0.3, 5000, 2), 4)
    assert vt is not None and vm is not None
    assert vt["vr"] > 1.2 and vt["z_robust"] > 5 and vm["vr"] < 0.8 and vm["z_robust"] < -5
    assert econ.trend_label(vt) == ("trend", "confirmed")
    assert econ.trend_label(vm) == ("mean_reversion", "confirmed")
    assert econ.trend_label(None) == ("unknown", "inconclusive")
    assert econ.hurst_rs([1.0] * 10) is None


def test_homoskedastic_rejection_on_clustered_volatility_is_not_a_label() -> None:
    """Clustered volatility with a tiny MA(1) wobble: the homoskedastic z 'rejects', the robust z* does not."""
    rng = np.random.default_rng(8)
    n = 35_000
    sig = np.exp(np.repeat(rng.normal(0, 1.2, n // 50), 50))
    e = rng.standard_normal(n) * sig
    r = e.copy()
    r[1:] += -0.03 * e[:-1]
    v = stats.variance_ratio_robust(r, 4)
    assert v is not None and v["z_homoskedastic"] < -5 and v["p_homoskedastic"] < 0.01
    assert v["p_robust"] > 0.05
    assert econ.trend_label(v) == ("random_walk", "likely")


def _gbm(n: int, sigma: float, seed: int) -> econ.Series:
    rng = np.random.default_rng(seed)
    sub = 60
    r = rng.normal(0, sigma / math.sqrt(sub), n * sub)
    px = 100 * np.exp(np.cumsum(r)).reshape(n, sub)
    o = np.r_[100.0, px[:-1, -1]]
    h = np.maximum(px.max(axis=1), o)
    lo = np.minimum(px.min(axis=1), o)
    return econ.Series("X", np.arange(n, dtype=np.int64) * 60 + 1_700_000_000, o, h, lo, px[:, -1], 60)


def test_range_estimators_agree_with_close_to_close_on_gbm() -> None:
    s = _gbm(5000, 0.002, 5)
    cc = econ.vol_close_to_close(s.c)
    pk = econ.vol_parkinson(s.h, s.low)
    gk = econ.vol_garman_klass(s.o, s.h, s.low, s.c)
    assert cc == pytest.approx(0.002, rel=0.05)
    # discrete sampling of the path biases range estimators slightly low
    assert pk == pytest.approx(0.002, rel=0.15) and gk == pytest.approx(0.002, rel=0.15)
    v = econ.volatility(s)
    assert v["cc_annualized_pct"] == pytest.approx((cc or 0.0) * math.sqrt(365 * 1440) * 100, rel=1e-4)


def test_anomalies_found_where_injected_and_nowhere_else() -> None:
    from tools.review import anomalies

    clean = _gbm(600, 0.0008, 11)
    assert [a for a in anomalies.detect(clean)[0] if a["kind"] != "volatility_shift"] == []
    s = _gbm(600, 0.0008, 11)
    c, o, h, lo = s.c.copy(), s.o.copy(), s.h.copy(), s.low.copy()
    c[300:303] *= np.array([0.97, 0.955, 0.99])               # flash crash, mostly recovered
    lo[300:303] = np.minimum(lo[300:303], c[300:303])
    c[450] *= 1.08                                            # a print the next bar contradicts
    h[450] = max(h[450], c[450])
    keep = np.r_[0:200, 205:600]                              # five missing bars
    s2 = econ.Series("X", s.t[keep], o[keep], h[keep], lo[keep], c[keep], 60)
    kinds = {a["kind"] for a in anomalies.detect(s2)[0]}
    assert {"flash_crash", "outlier_print", "gap"} <= kinds
    res = econ.analyze_series(s2)
    assert res["outliers_replaced"] == 1 and res["replaced"][0]["field"] == "close"
    assert res["volatility"]["cc_per_bar"] < res["raw_cc_per_bar"]


def _joined(a: econ.Series, b: econ.Series) -> econ.Series:
    k = a.c[-1] / b.o[0]
    t = np.arange(len(a) + len(b), dtype=np.int64) * 60
    return econ.Series("X", t, np.r_[a.o, b.o * k], np.r_[a.h, b.h * k], np.r_[a.low, b.low * k], np.r_[a.c, b.c * k], 60)


def test_incident_window_against_a_baseline_of_the_same_length() -> None:
    s = _joined(_gbm(600, 0.0005, 21), _gbm(600, 0.002, 22))
    w = econ.incident_window([float(s.t[700]), float(s.t[800])], margin_s=1800)
    assert w == (float(s.t[670]), float(s.t[830]))
    res = econ.analyze_series(s, w)
    assert res["incident"]["bars"] == 160 and res["baseline"]["bars"] == 160
    assert res["baseline_window"][1] == res["incident_window"][0]
    # the baseline (510..670) straddles the change; the incident is all high volatility
    assert res["vol_ratio"] > 1.5 and res["regime_change"] and res["vol_test"]["strength"] == "confirmed"
    g = _gbm(1200, 0.001, 23)
    calm = econ.analyze_series(g, econ.incident_window([float(g.t[700]), float(g.t[800])]))
    assert not calm["regime_change"]
    # a window too short for a test is never a regime change
    tiny = econ.analyze_series(s, (float(s.t[700]), float(s.t[703])))
    assert not tiny["regime_change"] and tiny["vol_test"]["strength"] == "inconclusive"
