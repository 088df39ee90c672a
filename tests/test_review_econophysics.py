"""Econophysics tools: volatility estimators, Hurst (R/S), variance ratio, regimes and anomalies."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tools.review import econophysics as econ

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


def test_hurst_and_variance_ratio_tell_memory_apart() -> None:
    noise = np.random.default_rng(3).standard_normal(10_000)
    assert econ.hurst_rs(noise) == pytest.approx(0.5, abs=0.1)
    vr, z = econ.variance_ratio(noise, 4)
    assert abs(z) < 3 and vr == pytest.approx(1.0, abs=0.1)
    vr_t, z_t = econ.variance_ratio(_ar1(0.3, 5000, 1), 4)
    vr_m, z_m = econ.variance_ratio(_ar1(-0.3, 5000, 2), 4)
    assert vr_t > 1.2 and z_t > 5 and vr_m < 0.8 and z_m < -5
    assert econ.trend_label(0.5, vr_t, z_t) == "trend"
    assert econ.trend_label(0.5, vr_m, z_m) == "mean_reversion"
    assert econ.trend_label(0.5, 1.0, 0.1) == "random_walk"
    assert econ.hurst_rs([1.0] * 10) is None


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
    assert v["cc_annualized_pct"] == pytest.approx(cc * math.sqrt(365 * 1440) * 100, rel=1e-4)


def test_anomalies_found_where_injected_and_nowhere_else() -> None:
    clean = _gbm(600, 0.0008, 11)
    assert econ.anomalies(clean) == []
    s = _gbm(600, 0.0008, 11)
    c, o, h, lo = s.c.copy(), s.o.copy(), s.h.copy(), s.low.copy()
    c[300:303] *= np.array([0.97, 0.955, 0.99])               # flash crash, mostly recovered
    lo[300:303] = np.minimum(lo[300:303], c[300:303])
    c[450] *= 1.08                                            # a print far from its peers
    h[450] = max(h[450], c[450])
    keep = np.r_[0:200, 205:600]                              # five missing bars
    s2 = econ.Series("X", s.t[keep], o[keep], h[keep], lo[keep], c[keep], 60)
    kinds = {a["kind"] for a in econ.anomalies(s2)}
    assert {"flash_crash", "outlier_print", "gap"} <= kinds
    res = econ.analyze_series(s2, split_at=None)
    assert res["outliers_replaced"] == 1
    assert res["volatility"]["cc_per_bar"] < res["raw_cc_per_bar"]


def test_regime_change_between_periods() -> None:
    a = _gbm(600, 0.0005, 21)
    b = _gbm(600, 0.002, 22)
    c = np.r_[a.c, a.c[-1] * b.c / b.o[0]]
    o = np.r_[a.o, a.c[-1] * b.o / b.o[0]]
    h = np.r_[a.h, a.c[-1] * b.h / b.o[0]]
    lo = np.r_[a.low, a.c[-1] * b.low / b.o[0]]
    t = np.arange(1200, dtype=np.int64) * 60
    s = econ.Series("X", t, o, h, lo, c, 60)
    res = econ.analyze_series(s, split_at=float(t[600]))
    assert res["vol_ratio_incident_vs_earlier"] > 3 and res["regime_change"]
    assert any(ch["kind"] == "volatility" and ch["to"] == "high" for ch in res["regime_changes"])
    g = _gbm(1200, 0.001, 23)
    calm = econ.analyze_series(g, split_at=float(g.t[600]))
    assert not calm["regime_change"]
