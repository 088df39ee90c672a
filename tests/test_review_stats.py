"""Evidence strength: intervals, tests and labels, and the hand-written estimators (Hurst R/S, DFA)
against the published reference values (skipped when ../shared/data is absent)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tools.review import econophysics as econ
from tools.review import stats

REF = Path(__file__).resolve().parents[2] / "shared" / "data" / "D_reference_values"
needs_ref = pytest.mark.skipif(not (REF / "reference_values.json").is_file(), reason="shared reference data absent")


def test_labels_follow_p_value_and_sample_size() -> None:
    assert stats.label(0.001, 100) == "confirmed"
    assert stats.label(0.03, 100) == "likely"
    assert stats.label(0.2, 100) == "inconclusive"
    assert stats.label(0.001, 5) == "inconclusive"            # below the minimum sample: never a fact
    assert stats.label(None, 100) == "inconclusive"
    assert stats.label(float("nan"), 100) == "inconclusive"


def test_wilson_interval_matches_the_closed_form() -> None:
    lo, hi = stats.wilson(5, 28)  # type: ignore[misc]
    z = 1.959963984540054
    p, n = 5 / 28, 28
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (lo, hi) == pytest.approx((c - h, c + h), abs=1e-9)
    assert stats.wilson(0, 0) is None


def test_a_handful_of_trades_is_inconclusive_and_a_large_gap_is_not() -> None:
    small = stats.win_rate_difference([True, False, False], [False, False, False, False])
    assert small["strength"] == "inconclusive" and small["n"] == 7
    big = stats.win_rate_difference([True] * 70 + [False] * 30, [True] * 30 + [False] * 70)
    assert big["strength"] == "likely" and big["ci_low"] > 0.2


def test_brier_matches_scikit_learn_and_its_decomposition_adds_up() -> None:
    c = stats.brier_claim([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3])
    assert c["brier"] == pytest.approx(0.0375, abs=1e-4)
    assert c["ci_low"] <= c["brier"] <= c["ci_high"]
    rng = np.random.default_rng(1)
    p = rng.integers(0, 10, 400) / 10 + 0.05               # one value per bin: the identity is exact
    y = (rng.random(400) < p).astype(float)
    d = stats.brier_decomposition(y, p, n_bins=10)
    assert d["brier"] == pytest.approx(d["reliability"] - d["resolution"] + d["uncertainty"], abs=1e-9)


def test_ljung_box_and_stationarity_see_structure() -> None:
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(2000)
    ar = np.zeros(2000)
    for i in range(1, 2000):
        ar[i] = 0.5 * ar[i - 1] + noise[i]
    assert stats.ljung_box(noise)["pvalue"] > 0.01  # type: ignore[index]
    assert stats.ljung_box(ar)["pvalue"] < 1e-6  # type: ignore[index]
    assert stats.stationarity(noise)["stationary"]  # type: ignore[index]
    assert not stats.stationarity(np.cumsum(noise))["stationary"]  # type: ignore[index]
    assert stats.stationarity([1.0] * 10) is None


@needs_ref
def test_hurst_rs_on_brown72_within_the_nolds_tolerance() -> None:
    ref = json.loads((REF / "reference_values.json").read_text())["hurst_brown72"]["nolds_test"]
    x = np.loadtxt(REF / "brown72.csv", skiprows=1)
    h = econ.hurst_rs(x, nvals=[2 ** k for k in range(3, 11)])
    assert h == pytest.approx(ref["expected"], abs=ref["tolerance"])


@needs_ref
def test_dfa_reproduces_physionet_on_the_lorenz_series() -> None:
    x = np.loadtxt(REF / "lorenz_x_input.txt")
    out = np.loadtxt(REF / "lorenz_physionet_dfa_output.txt")
    nvals = [round(10 ** a) for a in out[:, 0]]
    res = stats.dfa(x, nvals=nvals)
    assert res is not None
    alpha, logn, logf = res
    assert np.allclose(logn, out[:, 0], atol=1e-4)
    assert float(np.sum((logf - out[:, 1]) ** 2)) < 1e-9          # the reference's own tolerance
    assert alpha == pytest.approx(1.38766044, abs=1e-4)


def test_dfa_of_white_noise_is_one_half_and_of_a_walk_one_and_a_half() -> None:
    rng = np.random.default_rng(4)
    noise = rng.standard_normal(8000)
    assert stats.dfa(noise)[0] == pytest.approx(0.5, abs=0.08)  # type: ignore[index]
    assert stats.dfa(np.cumsum(noise))[0] == pytest.approx(1.5, abs=0.1)  # type: ignore[index]
    assert stats.dfa([1.0, 2.0]) is None
