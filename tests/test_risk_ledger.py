from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trading.domain.reason_codes import ReasonCode
from trading.records.risk_ledger import RiskLedger
from trading.settings import GuardConfig

T0 = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)


def test_halt_latches_until_operator_clears(tmp_path: Path) -> None:
    p = tmp_path / "l.jsonl"
    led = RiskLedger(p, GuardConfig(max_drawdown_pct=30))
    led.mark_equity(251.0, ts=T0)
    led.mark_equity(170.0, ts=T0 + timedelta(minutes=1))   # 32% down: halt
    led.mark_equity(250.0, ts=T0 + timedelta(minutes=2))   # recovery does not unlatch
    st = RiskLedger(p, GuardConfig(max_drawdown_pct=30)).state()
    assert st.halted and "32" in st.halt_reason and st.peak_equity == 251.0
    with pytest.raises(ValueError):
        led.clear_halt("", "no operator")
    led.clear_halt("alice", "reviewed incident")
    assert not RiskLedger(p).state().halted


def test_peak_reset_is_explicit_and_logged(tmp_path: Path) -> None:
    p = tmp_path / "l.jsonl"
    led = RiskLedger(p)
    led.mark_equity(251.0, ts=T0)
    led.mark_equity(118.4, ts=T0 + timedelta(hours=1))
    assert RiskLedger(p).state().peak_equity == 251.0           # a restart keeps the true peak
    led.reset_peak("bob", "new capital allocation")
    st = RiskLedger(p).state()
    assert st.peak_equity == 118.4
    assert '"operator": "bob"' in p.read_text()


def test_unresolved_outcomes_count_as_losses(tmp_path: Path) -> None:
    led = RiskLedger(tmp_path / "l.jsonl", GuardConfig(outcome_grace_s=60))
    for i in range(3):
        led.record_entry(f"t{i}", resolve_by=T0 + timedelta(minutes=15), ts=T0)
    led.record_outcome("t0", pnl=2.0, ts=T0 + timedelta(minutes=16))
    st = led.state(now=T0 + timedelta(minutes=30))
    assert st.unresolved_outcomes == 2 and st.consecutive_losses == 2
    assert led.state(now=T0 + timedelta(minutes=15, seconds=30)).unresolved_outcomes == 0  # within grace


def test_loss_streak_and_system_halts(tmp_path: Path) -> None:
    led = RiskLedger(tmp_path / "l.jsonl")
    for i, pnl in enumerate([-1, -2, 3, -1, -1]):
        led.record_entry(f"t{i}", ts=T0)
        led.record_outcome(f"t{i}", pnl=pnl, ts=T0 + timedelta(minutes=i))
    led.halt(ReasonCode.RECONCILE_MISMATCH, "broker long 1, ledger flat")
    st = RiskLedger(tmp_path / "l.jsonl").state()
    assert st.consecutive_losses == 2 and st.active_halts == [ReasonCode.RECONCILE_MISMATCH]
    led.clear_halt("ops", "reconciled by hand", ReasonCode.RECONCILE_MISMATCH)
    st = RiskLedger(tmp_path / "l.jsonl").state()
    assert st.active_halts == [] and st.consecutive_losses == 2   # clearing one code keeps the streak
    led.clear_halt("ops", "strategy reviewed", ReasonCode.LOSS_STREAK)
    assert RiskLedger(tmp_path / "l.jsonl").state().consecutive_losses == 0


def test_corrupt_line_is_counted_not_fatal(tmp_path: Path) -> None:
    p = tmp_path / "l.jsonl"
    led = RiskLedger(p)
    led.mark_equity(100.0, ts=T0)
    with p.open("a") as fh:
        fh.write("{not json\n")
    led2 = RiskLedger(p)
    assert led2.corrupt_lines == 1 and led2.state().equity == 100.0


# -- issue 10: the latch and the peak are facts of the ledger ----------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

OPS = st.lists(st.one_of(
    st.tuples(st.just("mark"), st.floats(1.0, 1e9, allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("restart"), st.floats(1.0, 99.0)),            # re-open with another max_drawdown_pct
    st.tuples(st.just("torn"), st.integers(1, 40)),                  # a torn append (first n characters)
    st.tuples(st.just("reset"), st.floats(1.0, 1e9, allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("repair"), st.just(0)),
    st.tuples(st.just("bad_mark"), st.sampled_from([float("nan"), float("inf"), -float("inf")])),
), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_peak_never_decreases_but_by_an_operator_entry(tmp_path_factory, ops) -> None:  # noqa: ANN001
    """Across restarts, config changes, torn writes and refused non-finite marks the peak never goes down,
    except by an operator's reset; a latched halt survives every restart and config; a torn line blocks
    entries (LEDGER_CORRUPT) until an operator's repair."""
    import json

    p = tmp_path_factory.mktemp("ledger") / "risk" / "ledger.jsonl"
    cfg = GuardConfig(max_drawdown_pct=30)
    led = RiskLedger(p, cfg)
    peak, halted, torn = None, False, False
    for op, arg in ops:
        if op == "mark":
            led.mark_equity(arg, ts=T0)
        elif op == "bad_mark":
            with pytest.raises(ValueError):
                led.mark_equity(arg, ts=T0)
        elif op == "restart":
            cfg = GuardConfig(max_drawdown_pct=arg)
            led = RiskLedger(p, cfg)
        elif op == "torn":
            line = json.dumps({"equity": 5e9, "ts": T0.isoformat(), "type": "equity"})[:arg]
            p.parent.mkdir(parents=True, exist_ok=True)
            with p.open("a") as fh:
                fh.write(line + "\n")
            led = RiskLedger(p, cfg)
            torn = True
        elif op == "reset":
            led.reset_peak("amy", "new capital", arg)
            peak = arg
        elif op == "repair":
            led.repair("amy", "checked the torn line")
            torn = False
        st_ = RiskLedger(p, cfg).state(T0)
        if op not in ("reset",) and peak is not None:
            assert st_.peak_equity is not None and st_.peak_equity >= peak, (op, arg, st_.peak_equity, peak)
        peak = st_.peak_equity if st_.peak_equity is not None else peak
        if halted and op not in ("reset",):
            assert st_.halted, f"{op} {arg} unlatched the drawdown halt"
        halted = st_.halted
        assert (ReasonCode.LEDGER_CORRUPT in st_.active_halts) is torn, (op, st_.active_halts)


def test_latch_is_an_entry_and_a_looser_config_keeps_it(tmp_path: Path) -> None:
    p = tmp_path / "l.jsonl"
    led = RiskLedger(p, GuardConfig(max_drawdown_pct=30))
    led.mark_equity(100.0, ts=T0)
    led.mark_equity(64.0, ts=T0 + timedelta(minutes=1))
    assert '"type": "halt_latched"' in p.read_text()
    assert RiskLedger(p, GuardConfig(max_drawdown_pct=90)).state().halted
    led.clear_halt("amy", "reviewed")
    assert not RiskLedger(p, GuardConfig(max_drawdown_pct=90)).state().halted


def test_a_live_ledger_is_never_shared_by_two_brokers_or_accounts(tmp_path: Path) -> None:
    """Live runs write ``risk/ledger.jsonl``: an IB account's marks (100k) and a Polymarket wallet's (1k) in
    one ledger would share one peak (a 99% "drawdown" that halts the wallet, or a halt that hides). A live
    run on a data dir whose ledger belongs to another broker or account is refused at wiring, naming both
    (the same owner resuming it is what the IB and Polymarket restart tests do)."""
    from trading.execution.session_report import SessionFiles
    from trading.execution.wiring import BrokerSetupError, open_session
    from trading.settings import Settings

    ledger_path = SessionFiles(tmp_path).ledger
    RiskLedger(ledger_path, GuardConfig(), broker="ib", account="DU123").describe_owner()

    class Venue:                     # only its identity is read before the refusal
        def __init__(self, name: str, account_id: str) -> None:
            self.name, self.account_id = name, account_id

    for name, acct in (("polymarket", "0xabc"), ("ib", "DU999")):
        with pytest.raises(BrokerSetupError, match="would mix their equity and peak") as exc:
            open_session(Settings(data_dir=tmp_path), Venue(name, acct), symbol="ES")  # type: ignore[arg-type]
        assert "ib account DU123" in str(exc.value) and acct in str(exc.value)
    assert RiskLedger(ledger_path, GuardConfig()).account == "DU123"     # nothing appended by the refusals
