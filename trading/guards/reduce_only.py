"""Reduce-only exits: judged against the LIVE position, never the bot's belief.

Seed 000: the bot believed it was short, its stop had already filled, and the BUY "exit" opened a
naked long. Here the side is derived from the live position and any excess is refused.
"""
from __future__ import annotations

from trading.domain.models import OrderIntent, Side
from trading.domain.reason_codes import ReasonCode
from trading.guards.verdict import CheckResult


def check_reduce_only(intent: OrderIntent, live_qty: float | None, cap: bool) -> tuple[CheckResult, OrderIntent, float]:
    """Return (result, adjusted intent, qty that would OPEN new exposure).

    ``opening_qty > 0`` means the exit as asked would open or grow exposure; the caller then also
    judges it as an entry.
    """
    res = CheckResult()
    res.evidence["live_position"] = live_qty
    if live_qty is None:
        res.add(ReasonCode.POSITION_UNKNOWN)
        return res, intent, intent.qty
    if live_qty == 0:
        res.add(ReasonCode.NO_EXPOSURE)
        return res, intent, intent.qty
    needed = Side.SELL if live_qty > 0 else Side.BUY
    if intent.side is not needed:
        # the order would grow the position: never corrected silently into the other direction
        res.add(ReasonCode.REDUCE_ONLY_VIOLATION, required_side=needed.value)
        return res, intent, intent.qty
    excess = intent.qty - abs(live_qty)
    if excess > 1e-12:
        if cap:
            res.add(ReasonCode.REDUCE_ONLY_CAPPED, requested_qty=intent.qty, capped_qty=abs(live_qty))
            return res, intent.model_copy(update={"qty": abs(live_qty), "reduce_only": True}), 0.0
        res.add(ReasonCode.REDUCE_ONLY_VIOLATION, would_flip_by=excess)
        return res, intent, excess
    return res, intent.model_copy(update={"reduce_only": True}), 0.0
