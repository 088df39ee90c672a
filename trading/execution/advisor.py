"""The advisor seam of the trading loop: ``AdvisorContext``, the ``Advisor`` type and the default ``rule_advisor``.

Any ``(signal, AdvisorContext) -> Advisory`` callable is an advisor; the agents' advisory graph plugs
in here. Failure contract: ``rule_advisor`` is deterministic and raises nothing for a well-formed
signal (fewer than 20 bars just skips the volatility test); the session turns any advisor that raises
into a fail-closed WAIT with LLM_UNAVAILABLE.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from trading.domain.models import Advisory, AdvisoryAction, Signal
from trading.market.bars import true_ranges
from trading.market.candles import Bar


@dataclass(frozen=True, slots=True)
class AdvisorContext:
    symbol: str
    now: datetime
    bars: Sequence[Bar]                 # recent candles, oldest first
    position: float | None              # what the loop believes it holds
    intent_kind: str                    # entry | exit
    trade_cycle_id: str


Advisor = Callable[[Signal, AdvisorContext], Advisory]


def rule_advisor(signal: Signal, ctx: AdvisorContext) -> Advisory:
    """The default deterministic advisor (no model). For an entry it says WAIT when:
    - the signal has no positive stop and target (nothing to protect the fill with);
    - the signal's confidence is under 0.55 (a marginal breakout);
    - the last 5 bars' mean true range is over 2x that of the recent window (a volatility spike).
    Otherwise it agrees with the signal's direction, at the signal's confidence. Exits get agreement:
    closing risk needs no permission (and the guards never block a reduce-only exit on advice)."""
    side = signal.side.value if signal.side else "WAIT"
    if ctx.intent_kind == "exit" or signal.side is None:
        return Advisory(action=AdvisoryAction(side), confidence=signal.confidence, rationale="exit: reduce risk",
                        source="rule", ts=ctx.now)
    reasons = []
    if not (signal.stop and signal.target and signal.stop > 0 and signal.target > 0):
        reasons.append("no protective levels")
    if signal.confidence < 0.55:
        reasons.append("marginal signal confidence")
    bars = list(ctx.bars)[-60:]
    if len(bars) >= 20:
        trs = true_ranges(bars)
        window, recent = sum(trs) / len(trs), sum(trs[-5:]) / 5
        if window > 0 and recent > 2 * window:
            reasons.append("volatility spike in the last 5 bars")
    if reasons:
        return Advisory(action=AdvisoryAction.WAIT, confidence=0.5, rationale="; ".join(reasons), source="rule",
                        ts=ctx.now)
    return Advisory(action=AdvisoryAction(side), confidence=signal.confidence, rationale="breakout with levels",
                    source="rule", ts=ctx.now)
