"""Advisory gate: WAIT, stale or missing advice blocks entries; it never blocks a reduce-only exit."""
from __future__ import annotations

from datetime import datetime

from trading.domain.models import Advisory, AdvisoryAction, OrderIntent
from trading.domain.reason_codes import ReasonCode
from trading.guards.verdict import CheckResult
from trading.settings import GuardConfig


def check_advisory(intent: OrderIntent, advisory: Advisory | None, cfg: GuardConfig, now: datetime) -> CheckResult:
    res = CheckResult()
    if advisory is None:
        if cfg.require_advisory:
            res.add(ReasonCode.ADVISORY_MISSING)
        return res
    age = (now - advisory.ts).total_seconds()
    res.evidence["advisory"] = {"action": advisory.action.value, "confidence": advisory.confidence,
                                "advisory_only": advisory.advisory_only, "age_s": round(age, 3),
                                "source": advisory.source}
    if ReasonCode.LLM_UNAVAILABLE in advisory.reason_codes:
        res.add(ReasonCode.LLM_UNAVAILABLE)
    if age > cfg.advisory_max_age_s:
        res.add(ReasonCode.ADVISORY_STALE)
    if advisory.action is AdvisoryAction.WAIT and cfg.block_on_wait:
        override = (
            advisory.advisory_only
            and cfg.wait_override_confidence is not None
            and intent.signal_confidence is not None
            and intent.signal_confidence >= cfg.wait_override_confidence
            and ReasonCode.LLM_UNAVAILABLE not in advisory.reason_codes
        )
        if override:
            res.evidence["wait_overridden"] = True
        else:
            res.add(ReasonCode.AWS_WAIT)
    elif advisory.action.value != intent.side.value and advisory.action is not AdvisoryAction.WAIT:
        if cfg.block_on_advisory_conflict:
            res.add(ReasonCode.ADVISORY_CONFLICT)
    return res
