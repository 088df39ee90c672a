"""A guard verdict: allow or block, with reason codes, evidence and the (possibly adjusted) intent.

Failure contract: a plain model; nothing here raises beyond pydantic validation on construction.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from trading.domain.models import IntentKind, OrderIntent
from trading.domain.reason_codes import NON_BLOCKING, ReasonCode


class CheckResult(BaseModel):
    codes: list[ReasonCode] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)

    def add(self, code: ReasonCode, **evidence: Any) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.evidence.update(evidence)


class GuardVerdict(BaseModel):
    allowed: bool
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    intent: OrderIntent                      # adjusted intent (derived exit side, capped qty)
    original_intent: OrderIntent
    judged_as: IntentKind                    # an exit that would open exposure is judged as an entry

    @property
    def blocking_codes(self) -> list[ReasonCode]:
        return [c for c in self.reason_codes if c not in NON_BLOCKING]

    def summary(self) -> str:
        state = "ALLOW" if self.allowed else "BLOCK"
        codes = ",".join(self.reason_codes) or "-"
        i = self.intent
        return f"{state} {i.kind} {i.side} {i.qty:g} {i.symbol} [{codes}]"
