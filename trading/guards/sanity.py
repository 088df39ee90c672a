"""Input sanity: every number that reaches a guard is finite and in range, and an intent's kind agrees
with its reduce-only flag. Checked before any other guard runs.

- ``check_intent_conflict``: an ENTRY is never reduce-only (INTENT_CONFLICT). An EXIT is always
  reduce-only: ``evaluate`` judges it on the exit path and the executor sends it reduce-only whatever
  flag it came with, so an EXIT without the flag is normalised, never a way around anything.
- ``check_numbers``: NaN, infinity or an out-of-range quantity / price / stop / target / live position /
  mark / equity / peak / config value is INPUT_INVALID, naming the field. A NaN compares False with
  everything, so without this a NaN peak made the drawdown 0 and a NaN live position let any exit through.

Failure contract: pure; both return a ``CheckResult`` and never raise, whatever the values (models built
with ``model_construct`` included).
"""
from __future__ import annotations

import math
from typing import Any

from trading.domain.models import IntentKind, OrderIntent
from trading.domain.reason_codes import ReasonCode
from trading.guards.inputs import BrokerSnapshot, RiskState
from trading.guards.verdict import CheckResult
from trading.settings import GuardConfig


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_intent_conflict(intent: OrderIntent) -> CheckResult:
    res = CheckResult()
    if intent.kind is IntentKind.ENTRY and intent.reduce_only:
        res.add(ReasonCode.INTENT_CONFLICT, intent_conflict=(
            "an ENTRY marked reduce_only: an entry opens exposure and is never reduce-only; send an EXIT "
            "to close a position"))
    return res


def _bad(res: CheckResult, field: str, value: Any, why: str) -> None:
    res.add(ReasonCode.INPUT_INVALID)
    res.evidence.setdefault("invalid_inputs", {})[field] = f"{value!r}: {why}"


def check_numbers(intent: OrderIntent, snapshot: BrokerSnapshot, risk: RiskState, cfg: GuardConfig,
                  entry: bool) -> CheckResult:
    """``entry``: the intent is judged as an entry, so the risk state and config numbers matter too."""
    res = CheckResult()
    if not _finite(intent.qty) or intent.qty <= 0:
        _bad(res, "qty", intent.qty, "must be a finite number > 0")
    for name in ("price", "stop", "target"):
        v = getattr(intent, name)
        if v is not None and not _finite(v):
            _bad(res, name, v, "must be finite")
    live = snapshot.position(intent.symbol)
    if live is not None and not _finite(live):
        _bad(res, "live_position", live, "must be finite")
    if intent.price is None and intent.symbol in snapshot.marks and not _finite(snapshot.marks[intent.symbol]):
        _bad(res, "mark", snapshot.marks[intent.symbol], "must be finite")
    if not entry:
        return res
    if risk.equity is not None and not _finite(risk.equity):
        _bad(res, "equity", risk.equity, "must be finite")
    if risk.peak_equity is not None and (not _finite(risk.peak_equity) or risk.peak_equity <= 0):
        _bad(res, "peak_equity", risk.peak_equity, "must be a finite number > 0")
    if intent.signal_confidence is not None and not (_finite(intent.signal_confidence)
                                                     and 0 <= intent.signal_confidence <= 1):
        _bad(res, "signal_confidence", intent.signal_confidence, "must be within [0, 1]")
    for name, v in cfg.__dict__.items():
        if isinstance(v, float) and not math.isfinite(v):
            _bad(res, f"guards.{name}", v, "config value must be finite")
    return res
