"""What the guards judge against: the LIVE broker snapshot and the persisted risk state.

Failure contract: plain models; an unreadable position is ``positions=None`` (POSITION_UNKNOWN), never 0,
and the helpers return None when they cannot say.
"""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from trading.domain.models import utcnow
from trading.domain.reason_codes import ReasonCode


class BrokerSnapshot(BaseModel):
    """The broker's view right now. ``positions=None`` means it could not be read: never flat."""
    model_config = ConfigDict(extra="forbid")

    positions: dict[str, float] | None = Field(default_factory=dict)
    position_error: str | None = None
    open_orders: int = 0
    equity: float | None = None
    cash: float | None = None
    marks: dict[str, float] = Field(default_factory=dict)   # last price per symbol
    taken_at: datetime = Field(default_factory=utcnow)

    def position(self, symbol: str) -> float | None:
        """Signed live quantity, or None when unknown (never 0 by default for an unreadable book)."""
        if self.positions is None or self.position_error:
            return None
        return float(self.positions.get(symbol, 0.0))


class RiskState(BaseModel):
    """The persisted risk ledger folded to now (see ``trading.records.risk_ledger``)."""
    model_config = ConfigDict(extra="forbid")

    equity: float | None = None
    peak_equity: float | None = None
    halted: bool = False                         # drawdown halt latch: only an operator clears it
    halt_reason: str = ""
    active_halts: list[ReasonCode] = Field(default_factory=list)  # operator / reconcile / journal halts
    consecutive_losses: int = 0
    unresolved_outcomes: int = 0                 # trades past resolve_by + grace with no outcome
    last_entry_at: datetime | None = None
    last_loss_at: datetime | None = None
    recent_order_times: list[datetime] = Field(default_factory=list)
    ledger_errors: list[str] = Field(default_factory=list)   # unreadable ledger lines (LEDGER_CORRUPT), named

    @property
    def drawdown_pct(self) -> float | None:
        if self.equity is None or not self.peak_equity or self.peak_equity <= 0:
            return None
        return max(0.0, (self.peak_equity - self.equity) / self.peak_equity * 100.0)
