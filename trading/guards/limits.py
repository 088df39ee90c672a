"""Pace and size limits on entries: cooldowns, order rate, maximum exposure, opposite positions.

Failure contract: pure; it adds reason codes and never raises for a well-formed intent and state.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from trading.domain.models import OrderIntent
from trading.domain.reason_codes import ReasonCode
from trading.guards.inputs import RiskState
from trading.guards.verdict import CheckResult
from trading.settings import GuardConfig


def check_pace(state: RiskState, cfg: GuardConfig, now: datetime) -> CheckResult:
    res = CheckResult()
    if cfg.cooldown_after_loss_s and state.last_loss_at is not None:
        wait = (state.last_loss_at + timedelta(seconds=cfg.cooldown_after_loss_s) - now).total_seconds()
        if wait > 0:
            res.add(ReasonCode.COOLDOWN, cooldown_remaining_s=round(wait, 3))
    if cfg.min_seconds_between_entries and state.last_entry_at is not None:
        wait = (state.last_entry_at + timedelta(seconds=cfg.min_seconds_between_entries) - now).total_seconds()
        if wait > 0:
            res.add(ReasonCode.COOLDOWN, cooldown_remaining_s=round(wait, 3))
    window_start = now - timedelta(minutes=1)
    recent = sum(1 for t in state.recent_order_times if t > window_start)
    if recent >= cfg.max_orders_per_minute:
        res.add(ReasonCode.RATE_LIMIT, orders_last_minute=recent)
    return res


def check_exposure(intent: OrderIntent, live_qty: float, cfg: GuardConfig, opening_qty: float) -> CheckResult:
    """``opening_qty``: the quantity that opens new exposure (all of an entry, the excess of an exit)."""
    res = CheckResult()
    if live_qty and (live_qty > 0) != (intent.side.sign > 0) and intent.kind == "entry":
        res.add(ReasonCode.OPPOSITE_POSITION, live_position=live_qty)
    after = abs(live_qty + intent.side.sign * opening_qty) if intent.kind == "entry" else opening_qty
    if after > cfg.max_position_qty + 1e-12:
        res.add(ReasonCode.MAX_EXPOSURE, position_after=after, max_position_qty=cfg.max_position_qty)
    return res
