"""Halts that stop new entries: drawdown latch, loss streak, unresolved outcomes, operator/system halts.

None of these ever blocks a reduce-only exit.
"""
from __future__ import annotations

from trading.guards.inputs import RiskState
from trading.guards.verdict import CheckResult
from trading.reason_codes import ReasonCode
from trading.settings import GuardConfig


def check_halts(state: RiskState, cfg: GuardConfig) -> CheckResult:
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
    if state.consecutive_losses >= cfg.max_consecutive_losses:
        res.add(ReasonCode.LOSS_STREAK, max_consecutive_losses=cfg.max_consecutive_losses)
    if state.unresolved_outcomes > cfg.max_unresolved_outcomes:
        res.add(ReasonCode.OUTCOME_UNRESOLVED, max_unresolved_outcomes=cfg.max_unresolved_outcomes)
    for code in state.active_halts:
        res.add(code)
    return res
