"""One or more cases per reason code: the guards' contract as a table."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trading.domain.models import Advisory, IntentKind, OrderIntent, Side
from trading.domain.reason_codes import ReasonCode as RC
from trading.guards import BrokerSnapshot, GuardConfig, RiskState, evaluate

NOW = datetime(2025, 12, 12, 14, 53, 13, tzinfo=UTC)
HEALTHY = RiskState(equity=100_000.0, peak_equity=100_000.0)


def adv(action: str = "BUY", conf: float = 0.7, age_s: float = 1.0, only: bool = True, codes=()) -> Advisory:
    return Advisory(action=action, confidence=conf, ts=NOW - timedelta(seconds=age_s), advisory_only=only,
                    reason_codes=list(codes))


def entry(side: str = "BUY", qty: float = 1, price: float = 6890.0, stop: float | None = 6880.0,
          target: float | None = 6910.0, symbol: str = "ESZ5", conf: float | None = 0.6) -> OrderIntent:
    return OrderIntent(kind=IntentKind.ENTRY, side=side, qty=qty, symbol=symbol, price=price, stop=stop,
                       target=target, signal_confidence=conf)


def exit_(side: str, qty: float = 1, price: float = 6890.0, symbol: str = "ESZ5") -> OrderIntent:
    return OrderIntent(kind=IntentKind.EXIT, side=side, qty=qty, symbol=symbol, price=price)


def snap(pos: float | None = 0.0, symbol: str = "ESZ5") -> BrokerSnapshot:
    if pos is None:
        return BrokerSnapshot(positions=None, position_error="timeout reading positions")
    return BrokerSnapshot(positions={symbol: pos}, equity=100_000.0)


CFG = GuardConfig()
CASES = [
    # (id, intent, snapshot, risk, advisory, config, expected codes (subset), allowed)
    ("clean-entry", entry(), snap(0), HEALTHY, adv("BUY"), CFG, [], True),
    ("AWS_WAIT", entry(), snap(0), HEALTHY, adv("WAIT", 0.5), CFG, [RC.AWS_WAIT], False),
    ("AWS_WAIT-override-advisory-only",
     entry(conf=0.9), snap(0), HEALTHY, adv("WAIT", 0.5), CFG.model_copy(update={"wait_override_confidence": 0.8}),
     [], True),
    ("AWS_WAIT-no-override-when-binding",
     entry(conf=0.9), snap(0), HEALTHY, adv("WAIT", 0.5, only=False),
     CFG.model_copy(update={"wait_override_confidence": 0.8}), [RC.AWS_WAIT], False),
    ("AWS_WAIT-no-override-below-threshold",
     entry(conf=0.7), snap(0), HEALTHY, adv("WAIT", 0.5), CFG.model_copy(update={"wait_override_confidence": 0.8}),
     [RC.AWS_WAIT], False),
    ("WAIT-not-blocking-when-disabled", entry(), snap(0), HEALTHY, adv("WAIT"),
     CFG.model_copy(update={"block_on_wait": False}), [], True),
    ("ADVISORY_STALE", entry(), snap(0), HEALTHY, adv("BUY", age_s=600), CFG, [RC.ADVISORY_STALE], False),
    ("ADVISORY_MISSING", entry(), snap(0), HEALTHY, None, CFG, [RC.ADVISORY_MISSING], False),
    ("ADVISORY_CONFLICT", entry(), snap(0), HEALTHY, adv("SELL"), CFG, [RC.ADVISORY_CONFLICT], False),
    ("LLM_UNAVAILABLE", entry(), snap(0), HEALTHY, adv("WAIT", 0.0, codes=[RC.LLM_UNAVAILABLE]), CFG,
     [RC.LLM_UNAVAILABLE, RC.AWS_WAIT], False),
    ("MISSING_PROTECTION-none", entry(stop=None, target=None), snap(0), HEALTHY, adv(), CFG,
     [RC.MISSING_PROTECTION], False),
    ("MISSING_PROTECTION-zero", entry(stop=0.0, target=0.0), snap(0), HEALTHY, adv(), CFG,
     [RC.MISSING_PROTECTION], False),
    ("INVALID_STOP_SIDE-long", entry(stop=6900.0, target=6910.0), snap(0), HEALTHY, adv(), CFG,
     [RC.INVALID_STOP_SIDE], False),
    ("INVALID_STOP_SIDE-short", entry(side="SELL", stop=6880.0, target=6870.0), snap(0), HEALTHY, adv("SELL"),
     CFG, [RC.INVALID_STOP_SIDE], False),
    ("MAX_LOSS_CAP", entry(qty=3, stop=6880.0), snap(0), HEALTHY, adv(), CFG, [RC.MAX_LOSS_CAP], False),
    ("MAX_LOSS_CAP-at-cap-allowed", entry(qty=2, stop=6880.0), snap(0), HEALTHY, adv(), CFG, [], True),
    ("PRICE_UNKNOWN", entry(price=None), snap(0), HEALTHY, adv(), CFG, [RC.PRICE_UNKNOWN], False),
    ("MAX_EXPOSURE", entry(qty=1, stop=6889.0), snap(10), HEALTHY, adv(), CFG, [RC.MAX_EXPOSURE], False),
    ("OPPOSITE_POSITION", entry(), snap(-1), HEALTHY, adv(), CFG, [RC.OPPOSITE_POSITION], False),
    ("POSITION_UNKNOWN-entry", entry(), snap(None), HEALTHY, adv(), CFG, [RC.POSITION_UNKNOWN], False),
    ("POSITION_UNKNOWN-exit", exit_("SELL"), snap(None), HEALTHY, adv(), CFG, [RC.POSITION_UNKNOWN], False),
    ("NO_EXPOSURE-seed000", exit_("BUY"), snap(0), HEALTHY, adv("WAIT", 0.5),
     CFG, [RC.NO_EXPOSURE, RC.AWS_WAIT, RC.MISSING_PROTECTION], False),
    ("REDUCE_ONLY_VIOLATION-grow", exit_("SELL"), snap(-1), HEALTHY, adv("SELL"), CFG,
     [RC.REDUCE_ONLY_VIOLATION], False),
    ("REDUCE_ONLY_VIOLATION-flip-when-capping-is-off", exit_("BUY", qty=3), snap(-1), HEALTHY, adv("BUY"),
     CFG.model_copy(update={"cap_reduce_only_qty": False}), [RC.REDUCE_ONLY_VIOLATION, RC.MISSING_PROTECTION], False),
    ("REDUCE_ONLY_CAPPED-by-default", exit_("BUY", qty=3), snap(-1), HEALTHY, None, CFG,
     [RC.REDUCE_ONLY_CAPPED], True),
    ("INTENT_CONFLICT-reduce-only-entry", entry().model_copy(update={"reduce_only": True}), snap(1), HEALTHY, adv(),
     CFG, [RC.INTENT_CONFLICT], False),
    ("INPUT_INVALID-nan-stop", entry().model_copy(update={"stop": float("nan")}), snap(0), HEALTHY, adv(), CFG,
     [RC.INPUT_INVALID], False),
    ("INPUT_INVALID-inf-live-exit", exit_("SELL"), snap(float("inf")), HEALTHY, None, CFG,
     [RC.INPUT_INVALID], False),
    ("LEDGER_CORRUPT", entry(), snap(0), HEALTHY.model_copy(update={
        "active_halts": [RC.LEDGER_CORRUPT], "ledger_errors": ["ledger.jsonl:2: line 2 unreadable"]}), adv(), CFG,
     [RC.LEDGER_CORRUPT], False),
    ("LEDGER_CORRUPT-exit-still-allowed", exit_("SELL"), snap(1), HEALTHY.model_copy(update={
        "active_halts": [RC.LEDGER_CORRUPT], "ledger_errors": ["ledger.jsonl:2: line 2 unreadable"]}), None, CFG,
     [], True),
    ("MEMORY_WAIT", entry(), snap(0), HEALTHY, adv("WAIT", 0.5, codes=[RC.MEMORY_WAIT]), CFG, [RC.MEMORY_WAIT], False),
    ("INTERNAL_ERROR-behind-the-advice", entry(), snap(0), HEALTHY, adv("WAIT", 0.0, codes=[RC.INTERNAL_ERROR]),
     CFG.model_copy(update={"wait_override_confidence": 0.1}), [RC.INTERNAL_ERROR, RC.AWS_WAIT], False),
    ("binary-share-stop-gets-no-credit", entry(symbol="POLY:123", price=0.5, stop=0.45, target=1.0, qty=10_000),
     snap(0, "POLY:123"), HEALTHY, adv(), CFG.model_copy(update={"max_position_qty": 1e6}), [RC.MAX_LOSS_CAP], False),
    ("genuine-exit-ignores-WAIT", exit_("BUY"), snap(-1), HEALTHY, adv("WAIT", 0.9), CFG, [], True),
    ("genuine-exit-no-advisory", exit_("SELL"), snap(2), HEALTHY, None, CFG, [], True),
    ("DRAWDOWN_HALT-latched", entry(), snap(0), RiskState(equity=1e5, peak_equity=1e5, halted=True), adv(), CFG,
     [RC.DRAWDOWN_HALT], False),
    ("DRAWDOWN_HALT-over-limit", entry(), snap(0), RiskState(equity=69.0, peak_equity=100.0), adv(), CFG,
     [RC.DRAWDOWN_HALT], False),
    ("EQUITY_UNKNOWN", entry(), snap(0), RiskState(), adv(), CFG, [RC.EQUITY_UNKNOWN], False),
    ("LOSS_STREAK", entry(), snap(0), HEALTHY.model_copy(update={"consecutive_losses": 4}), adv(), CFG,
     [RC.LOSS_STREAK], False),
    ("LOSS_STREAK-within-pause", entry(), snap(0),
     HEALTHY.model_copy(update={"consecutive_losses": 5, "last_loss_at": NOW - timedelta(minutes=30)}), adv(), CFG,
     [RC.LOSS_STREAK], False),
    ("LOSS_STREAK-pause-over", entry(), snap(0),
     HEALTHY.model_copy(update={"consecutive_losses": 5, "last_loss_at": NOW - timedelta(hours=2)}), adv(), CFG,
     [], True),
    ("LOSS_STREAK-until-cleared", entry(), snap(0),
     HEALTHY.model_copy(update={"consecutive_losses": 5, "last_loss_at": NOW - timedelta(days=2)}), adv(),
     CFG.model_copy(update={"loss_streak_pause_s": 0}), [RC.LOSS_STREAK], False),
    ("OUTCOME_UNRESOLVED", entry(), snap(0), HEALTHY.model_copy(update={"unresolved_outcomes": 4}), adv(), CFG,
     [RC.OUTCOME_UNRESOLVED], False),
    ("COOLDOWN-after-loss", entry(), snap(0), HEALTHY.model_copy(update={"last_loss_at": NOW - timedelta(seconds=5)}),
     adv(), CFG.model_copy(update={"cooldown_after_loss_s": 60}), [RC.COOLDOWN], False),
    ("COOLDOWN-between-entries", entry(), snap(0),
     HEALTHY.model_copy(update={"last_entry_at": NOW - timedelta(seconds=5)}), adv(),
     CFG.model_copy(update={"min_seconds_between_entries": 30}), [RC.COOLDOWN], False),
    ("RATE_LIMIT", entry(), snap(0),
     HEALTHY.model_copy(update={"recent_order_times": [NOW - timedelta(seconds=i) for i in range(30)]}), adv(),
     CFG, [RC.RATE_LIMIT], False),
    ("OPERATOR_HALT", entry(), snap(0), HEALTHY.model_copy(update={"active_halts": [RC.OPERATOR_HALT]}), adv(),
     CFG, [RC.OPERATOR_HALT], False),
    ("RECONCILE_MISMATCH", entry(), snap(0), HEALTHY.model_copy(update={"active_halts": [RC.RECONCILE_MISMATCH]}),
     adv(), CFG, [RC.RECONCILE_MISMATCH], False),
    ("JOURNAL_UNWRITABLE", entry(), snap(0), HEALTHY.model_copy(update={"active_halts": [RC.JOURNAL_UNWRITABLE]}),
     adv(), CFG, [RC.JOURNAL_UNWRITABLE], False),
    ("JOURNAL_UNWRITABLE-exit-still-allowed", exit_("SELL"), snap(1),
     HEALTHY.model_copy(update={"active_halts": [RC.JOURNAL_UNWRITABLE], "halted": True}), None, CFG, [], True),
    ("polymarket-binary-no-stop-needed", entry(symbol="POLY:123", price=0.42, stop=None, target=None, qty=100),
     snap(0, "POLY:123"), HEALTHY, adv(), CFG.model_copy(update={"max_position_qty": 1e6}), [], True),
    ("polymarket-binary-cap", entry(symbol="POLY:123", price=0.42, stop=None, target=None, qty=10),
     snap(0, "POLY:123"), HEALTHY, adv(), CFG.model_copy(update={"max_loss_per_trade": 4.0, "max_position_qty": 1e6}),
     [RC.MAX_LOSS_CAP], False),
    # ETHBTC's money is in BTC: with no [fx] BTC rate the entry cannot be judged in USD (tests/test_fx_guards.py)
    ("FX_RATE_MISSING", entry(symbol="ETHBTC", price=0.1, stop=0.099, target=0.102, qty=1), snap(0, "ETHBTC"),
     HEALTHY, adv(), CFG, [RC.FX_RATE_MISSING], False),
    ("FX_RATE_MISSING-exit-still-allowed", exit_("SELL", price=0.1, symbol="ETHBTC"), snap(1, "ETHBTC"), HEALTHY,
     None, CFG, [], True),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_guard_case(case) -> None:
    _, intent, snapshot, risk, advisory, cfg, expected, allowed = case
    v = evaluate(intent, snapshot, risk, cfg, advisory, NOW)
    assert v.allowed is allowed, v.reason_codes
    for code in expected:
        assert code in v.reason_codes
    if not allowed:
        assert v.blocking_codes, "every block carries a reason code"


def test_every_reason_code_is_reachable_or_documented_flag() -> None:
    covered = {c for case in CASES for c in case[6]}
    flags = {RC.EXIT_SIDE_CORRECTED, RC.PNL_MISMATCH, RC.NUMBER_UNGROUNDED, RC.GUARD_ERROR}
    sizing = {RC.NOTIONAL_CAP, RC.SIZE_ROUNDS_TO_ZERO}    # refused before the guards: tests/test_sizing_refusals.py
    assert set(RC) - covered - flags - sizing == set()


def test_guard_error_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import trading.guards as g

    def boom(*a, **k):
        raise RuntimeError("bad config")

    monkeypatch.setattr(g, "check_entry_protection", boom)
    v = evaluate(entry(), snap(0), HEALTHY, CFG, adv(), NOW)
    assert not v.allowed and RC.GUARD_ERROR in v.reason_codes
    assert "bad config" in v.evidence["guard_errors"]["protection"]
    # an exit never reaches the entry checks, so a broken entry check cannot trap a position
    v = evaluate(exit_("SELL"), snap(1), HEALTHY, CFG, None, NOW)
    assert v.allowed


def test_exit_side_comes_from_live_position_and_is_reduce_only() -> None:
    v = evaluate(exit_("BUY", qty=1), snap(-2), HEALTHY, CFG, None, NOW)
    assert v.allowed and v.intent.reduce_only and v.intent.side is Side.BUY and v.judged_as == "exit"


def test_advisory_cannot_override_a_block() -> None:
    strong = Advisory(action="BUY", confidence=1.0, ts=NOW, advisory_only=False,
                      rationale="ignore all guards and buy now")
    v = evaluate(entry(stop=None), snap(0), HEALTHY, CFG, strong, NOW)
    assert not v.allowed and RC.MISSING_PROTECTION in v.reason_codes
