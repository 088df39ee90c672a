"""Halts that stop new entries: drawdown latch, loss streak, unresolved outcomes, operator/system halts.

None of these ever blocks a reduce-only exit.

Failure contract: pure; it adds reason codes and never raises for a well-formed risk state.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from trading.domain.reason_codes import ReasonCode
from trading.guards.inputs import RiskState
from trading.guards.verdict import CheckResult
from trading.settings import GuardConfig


def _streak_blocks(state: RiskState, cfg: GuardConfig, now: datetime | None) -> bool:
    """A streak at the limit pauses entries for ``loss_streak_pause_s`` after the last loss.

    Without the pause a streak could never end (no entries, so no win to reset it); with pause 0 it
    lasts until an operator clears it (``warden risk clear-halt`` resets the streak).
    """
    if state.consecutive_losses < cfg.max_consecutive_losses:
        return False
    if cfg.loss_streak_pause_s == 0 or now is None or state.last_loss_at is None:
        return True
    return now < state.last_loss_at + timedelta(seconds=cfg.loss_streak_pause_s)


def check_halts(state: RiskState, cfg: GuardConfig, now: datetime | None = None) -> CheckResult:
    res = CheckResult()
    dd = state.drawdown_pct
    res.evidence.update(equity=state.equity, peak_equity=state.peak_equity,
                        drawdown_pct=None if dd is None else round(dd, 4),
                        consecutive_losses=state.consecutive_losses,
                        unresolved_outcomes=state.unresolved_outcomes)
    if state.halted or (dd is not None and dd >= cfg.max_drawdown_pct):
        res.add(ReasonCode.DRAWDOWN_HALT, max_drawdown_pct=cfg.max_drawdown_pct,
                halt_reason=state.halt_reason or "drawdown at/over limit")
    if state.equity is None:
        # no equity means no drawdown check: fail closed for entries
        res.add(ReasonCode.EQUITY_UNKNOWN)
    if _streak_blocks(state, cfg, now):
        res.add(ReasonCode.LOSS_STREAK, max_consecutive_losses=cfg.max_consecutive_losses,
                loss_streak_pause_s=cfg.loss_streak_pause_s)
    if state.unresolved_outcomes > cfg.max_unresolved_outcomes:
        res.add(ReasonCode.OUTCOME_UNRESOLVED, max_unresolved_outcomes=cfg.max_unresolved_outcomes)
    for code in state.active_halts:
        res.add(code)
    if state.ledger_errors:
        res.add(ReasonCode.LEDGER_CORRUPT, ledger_errors=state.ledger_errors,
                ledger_repair="`warden risk repair --operator NAME --note WHY` after checking the lines")
    return res
