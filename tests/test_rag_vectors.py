"""Situation and snapshot vectors: deterministic, unit-length, blind to the outcome, alive to the situation."""
from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.memory.situations import (
    REASON_SLOTS,
    SITUATION_DIM,
    SNAPSHOT_DIM,
    Situation,
    asset_of,
    outcome_vector,
    regime_labels,
    situation_vector,
    snapshot_vector,
)
from tools.samples.outcomes import generate
from trading.domain.reason_codes import ReasonCode


def _sample(n: int = 20):
    return list(generate(n, seed=3))


def test_asset_of_reads_futures_and_polymarket_symbols() -> None:
    assert asset_of("ESZ5") == "ES"
    assert asset_of("MESH6") == "MES"
    assert asset_of("NQ") == "NQ"
    assert asset_of("btc-updown-15m-1768437900") == "BTC"
    assert asset_of("eth-updown-15m-1768437900") == "ETH"
    assert asset_of("AAPL") == "AAPL"


def test_regime_labels_accept_both_vocabularies() -> None:
    assert regime_labels("trend_up_high_vol") == ("trend_up", "high_vol")
    assert regime_labels("mean_revert_low_vol") == ("range", "low_vol")
    assert regime_labels({"label": "range_normal_vol"}) == ("range", "normal_vol")
    assert regime_labels("") == (None, None)


def test_vectors_are_deterministic_unit_and_fixed_size() -> None:
    for o, s in _sample():
        v1, v2 = outcome_vector(o), outcome_vector(o.model_copy(deep=True))
        assert v1 == v2
        assert len(v1) == SITUATION_DIM
        assert math.isclose(float(np.linalg.norm(v1)), 1.0, rel_tol=1e-9)
        sv = snapshot_vector(s)
        assert len(sv) == SNAPSHOT_DIM
        assert math.isclose(float(np.linalg.norm(sv)), 1.0, rel_tol=1e-9)


def test_outcome_does_not_enter_the_vector() -> None:
    o, _ = _sample(1)[0]
    flipped = o.model_copy(update={"won": not o.won, "pnl_usd": -o.pnl_usd, "exit_price": o.exit_price + 5,
                                   "closed_at": o.closed_at.replace(year=2030)})
    assert outcome_vector(o) == outcome_vector(flipped)


def test_situation_changes_move_the_vector() -> None:
    base = Situation(symbol="ESZ5", venue="ib", side="BUY", opened_at=datetime(2025, 12, 12, 14, 53, tzinfo=UTC),
                     features={"ret_1": 0.001, "volatility": 0.002}, regime="trend_up_low_vol", signal_side="BUY",
                     signal_confidence=0.36, advisory_action="BUY", advisory_confidence=0.5, entry_price=6890.5,
                     stop=6880.0, target=6910.0)
    v = np.array(situation_vector(base))
    variants = {
        "advisory WAIT": {"advisory_action": "WAIT"},
        "short": {"side": "SELL", "signal_side": "SELL"},
        "no stop": {"stop": None},
        "other asset": {"symbol": "btc-updown-15m-1", "venue": "polymarket"},
        "night": {"opened_at": datetime(2025, 12, 12, 3, 0, tzinfo=UTC)},
        "reason code": {"reason_codes": [ReasonCode.AWS_WAIT.value]},
        "falling": {"features": {"ret_1": -0.003, "volatility": 0.002}},
    }
    for name, change in variants.items():
        kw = {f: getattr(base, f) for f in base.__slots__} | change
        w = np.array(situation_vector(Situation(**kw)))
        assert float(v @ w) < 0.999, name


def test_learning_hook_feature_names_are_read() -> None:
    """trading.records.learning_hooks writes ret_pct/vol_pct/efficiency: they must count like ret_60/volatility."""
    t = datetime(2026, 1, 5, 15, tzinfo=UTC)
    a = Situation(symbol="ES", venue="ib", side="BUY", opened_at=t, features={"ret_60": 0.01, "volatility": 0.003})
    b = Situation(symbol="ES", venue="ib", side="BUY", opened_at=t, features={"ret_pct": 1.0, "vol_pct": 0.3})
    assert np.allclose(situation_vector(a), situation_vector(b))


def test_unknown_reason_codes_share_the_other_slot_and_never_change_the_size() -> None:
    t = datetime(2026, 1, 5, 15, tzinfo=UTC)
    v = situation_vector(Situation(symbol="ES", venue="ib", side="BUY", opened_at=t, reason_codes=["SOMETHING_NEW"]))
    assert len(v) == SITUATION_DIM
    assert v[-1] > 0                         # the "other" slot
    known = situation_vector(Situation(symbol="ES", venue="ib", side="BUY", opened_at=t,
                                       reason_codes=[REASON_SLOTS[0]]))
    assert known[-1] == 0 and len(known) == SITUATION_DIM


@settings(max_examples=60, deadline=None)
@given(features=st.dictionaries(st.sampled_from(["ret_1", "ret_5", "ret_15", "ret_pct", "volatility", "vol_pct",
                                                 "trend_z", "efficiency", "recent_vol_ratio", "rsi"]),
                                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
       conf=st.none() | st.floats(0, 1), hour=st.integers(0, 23), side=st.sampled_from(["BUY", "SELL", "sell"]))
def test_any_finite_input_gives_a_finite_unit_vector(features, conf, hour, side) -> None:
    s = Situation(symbol="MNQH6", venue="paper", side=side, opened_at=datetime(2026, 1, 1, hour, tzinfo=UTC),
                  features=features, signal_confidence=conf, advisory_confidence=conf)
    v = np.array(situation_vector(s))
    assert v.shape == (SITUATION_DIM,)
    assert np.all(np.isfinite(v))
    assert math.isclose(float(np.linalg.norm(v)), 1.0, rel_tol=1e-9)
