"""ML-strategy tools: Brier, log loss, reliability curve, ECE, PSI/KS drift, the miscalibration verdict."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.review import ml_calibration as cal

REF = Path(__file__).resolve().parents[2] / "shared" / "data" / "D_reference_values" / "reference_values.json"


def test_brier_matches_sklearn_docstring_and_test_suite_values() -> None:
    assert cal.brier([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]) == pytest.approx(0.0375)
    assert cal.brier([0, 1, 1, 0, 1, 1], [0.1, 0.8, 0.9, 0.3, 1.0, 0.95]) == pytest.approx(0.0254166667)
    assert cal.brier([0], [0.5]) == pytest.approx(0.25)
    assert cal.brier([1], [0.4]) == pytest.approx(0.36)
    assert cal.brier([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.4]) == pytest.approx(0.055)


def test_calibration_curve_uniform_and_quantile_bins() -> None:
    pt, pp, n = cal.calibration_curve([0, 0, 0, 0, 1, 1, 1, 1, 1], [.1, .2, .3, .4, .65, .7, .8, .9, 1.0], n_bins=3)
    assert pt.tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert pp.tolist() == pytest.approx([0.2, 0.525, 0.85])
    assert n.tolist() == [3, 2, 4]
    pt, pp, _ = cal.calibration_curve([0, 0, 0, 0, 1, 1], [0.0, 0.1, 0.2, 0.5, 0.9, 1.0], n_bins=2, strategy="quantile")
    assert pt.tolist() == pytest.approx([0.0, 2 / 3])
    assert pp.tolist() == pytest.approx([0.1, 0.8])
    with pytest.raises(ValueError):
        cal.calibration_curve([0, 1], [0.2, 1.2])


@pytest.mark.skipif(not REF.is_file(), reason="shared reference values not present")
def test_against_the_shared_reference_file() -> None:
    ref = json.loads(REF.read_text())
    for case in ref["sklearn_calibration_curve"]["cases"]:
        if "prob_true" not in case:
            continue
        pt, pp, _ = cal.calibration_curve(case["y_true"], case["y_prob"], n_bins=case["n_bins"],
                                          strategy=case["strategy"])
        assert pt.tolist() == pytest.approx(case["prob_true"], abs=1e-9)
        assert pp.tolist() == pytest.approx(case["prob_pred"], abs=1e-9)
    for case in ref["sklearn_brier_score_loss"]["cases"]:
        if isinstance(case.get("expected"), float) and isinstance(case["y_prob"], list) \
                and all(v in (0, 1) for v in case["y_true"]) and "pos_label" not in case:
            assert cal.brier(case["y_true"], case["y_prob"]) == pytest.approx(case["expected"])


def test_log_loss_and_ece() -> None:
    assert cal.log_loss([1, 0], [0.5, 0.5]) == pytest.approx(math.log(2))
    # perfectly calibrated bins: ECE 0; everything at 0.9 but never winning: ECE 0.9
    assert cal.ece([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.0)
    assert cal.ece([0, 0, 0], [0.9, 0.9, 0.9]) == pytest.approx(0.9)


def test_miscalibration_verdict_needs_data_and_a_real_gap() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.58, 0.74, 40)
    lucky = (rng.uniform(size=40) < p).astype(float)          # outcomes drawn from the stated probabilities
    bad = (rng.uniform(size=40) < 0.18).astype(float)          # the seed's ~18% win rate
    assert not cal.calibration_report(lucky, p)["miscalibrated"]
    r = cal.calibration_report(bad, p, pnl=np.where(bad > 0, 1.5, -1.0), prices=np.full(40, 0.35))
    assert r["miscalibrated"] and r["brier"] > r["brier_base_rate"] and r["ece"] > 0.1
    assert r["edge_realized"] < 0 < r["edge_stated"]
    few = cal.calibration_report(bad[:5], p[:5])
    assert few["enough_data"] is False and few["miscalibrated"] is False


def test_drift_psi_and_ks() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(0.52, 0.02, 3000)
    same = rng.normal(0.52, 0.02, 3000)
    shifted = rng.normal(0.56, 0.03, 800)
    assert cal.psi(a, same) < 0.05
    assert cal.psi(a, shifted) > 0.25
    stat, p = cal.ks(a, shifted)
    assert stat > 0.3 and p < 1e-6
    rows = cal.drift_report({"prob": a}, {"prob": shifted})
    assert rows[0]["drifted"] and rows[0]["psi_label"] == "significant shift"
    assert not cal.drift_report({"prob": a}, {"prob": same})[0]["drifted"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=60),
       st.integers(2, 10))
def test_properties(pairs: list[tuple[int, float]], bins: int) -> None:
    y = [a for a, _ in pairs]
    p = [b for _, b in pairs]
    assert 0.0 <= cal.brier(y, p) <= 1.0
    pt, pp, n = cal.calibration_curve(y, p, n_bins=bins)
    assert int(n.sum()) == len(pairs)
    assert all(0 <= v <= 1 for v in pt) and all(0 <= v <= 1 for v in pp)
    assert 0.0 <= cal.ece(y, p, bins) <= 1.0
