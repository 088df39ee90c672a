"""Properties the guards must keep for every input, not just the table's cases."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.domain.contracts import multiplier_for
from trading.domain.models import Advisory, IntentKind, OrderIntent, Side
from trading.guards import BrokerSnapshot, GuardConfig, RiskState, evaluate
from trading.records.risk_ledger import RiskLedger

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
symbols = st.sampled_from(["ESZ5", "MESH6", "NQZ5", "MNQM6"])
qtys = st.integers(min_value=1, max_value=20).map(float)
positions = st.integers(min_value=-20, max_value=20).map(float)
prices = st.floats(min_value=100, max_value=20_000, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(symbol=symbols, side=st.sampled_from(list(Side)), qty=qtys, live=positions, cap=st.booleans(),
       wait=st.booleans(), halted=st.booleans())
def test_reduce_only_exit_never_grows_or_flips(symbol, side, qty, live, cap, wait, halted) -> None:
    intent = OrderIntent(kind=IntentKind.EXIT, side=side, qty=qty, symbol=symbol, price=5000.0)
    advisory = Advisory(action="WAIT" if wait else side.value, confidence=0.9, ts=NOW)
    cfg = GuardConfig(cap_reduce_only_qty=cap)
    risk = RiskState(equity=1e5, peak_equity=1e5, halted=halted)
    v = evaluate(intent, BrokerSnapshot(positions={symbol: live}), risk, cfg, advisory, NOW)
    if v.allowed:
        after = live + v.intent.side.sign * v.intent.qty
        assert abs(after) <= abs(live)
        assert after == 0 or (after > 0) == (live > 0)
    # a genuine reduce-only exit is never blocked by an advisory or a halt
    genuine = live != 0 and side.sign == (-1 if live > 0 else 1) and (qty <= abs(live) or cap)
    assert v.allowed == genuine


@settings(max_examples=300, deadline=None)
@given(symbol=symbols, side=st.sampled_from(list(Side)), qty=qtys, price=prices,
       stop_off=st.floats(min_value=-500, max_value=500, allow_nan=False),
       tgt_off=st.floats(min_value=-500, max_value=500, allow_nan=False),
       cap=st.floats(min_value=10, max_value=50_000, allow_nan=False))
def test_allowed_entry_never_risks_more_than_cap(symbol, side, qty, price, stop_off, tgt_off, cap) -> None:
    intent = OrderIntent(kind=IntentKind.ENTRY, side=side, qty=qty, symbol=symbol, price=price,
                         stop=price + stop_off, target=price + tgt_off, signal_confidence=0.5)
    advisory = Advisory(action=side.value, confidence=0.7, ts=NOW)
    cfg = GuardConfig(max_loss_per_trade=cap, max_position_qty=100)
    v = evaluate(intent, BrokerSnapshot(positions={}), RiskState(equity=1e6, peak_equity=1e6), cfg, advisory, NOW)
    if v.allowed:
        assert intent.stop is not None
        risk = abs(price - intent.stop) * qty * multiplier_for(symbol)
        assert risk <= cap + 1e-6
        assert (intent.stop < price < intent.target) if side is Side.BUY else (intent.target < price < intent.stop)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(marks=st.lists(st.floats(min_value=1, max_value=1e6, allow_nan=False), min_size=1, max_size=20),
       restarts=st.sets(st.integers(min_value=0, max_value=19)))
def test_peak_never_decreases_across_restarts(tmp_path: Path, marks, restarts) -> None:
    path = tmp_path / f"ledger-{uuid.uuid4().hex}.jsonl"     # hypothesis may replay an example: fresh file
    ledger = RiskLedger(path)
    last_peak = 0.0
    for i, m in enumerate(marks):
        if i in restarts:
            ledger = RiskLedger(path)     # a restart re-reads the ledger; nothing resets the peak
        ledger.mark_equity(m, ts=NOW + timedelta(minutes=i))
        peak = ledger.state().peak_equity
        assert peak is not None and peak >= last_peak and peak == max(marks[: i + 1])
        last_peak = peak
    assert RiskLedger(path).state().peak_equity == max(marks)
