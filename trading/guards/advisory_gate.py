"""Advisory gate: WAIT, stale, missing or conflicting advice blocks entries; it never blocks a reduce-only exit.

The advice is compared with the direction of the view it was asked about (``intent.view_side``: the
signal's side), not with the side of an instrument the venue mapped the view onto (a SELL view on BTC
is a BUY of the Down share); the mapping is recorded in the evidence. An advisory that carries
INTERNAL_ERROR (a code bug behind it) or LLM_UNAVAILABLE passes that code on: it blocks entries.
Failure contract: pure; adds reason codes and never raises for a well-formed advisory.
"""
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
    if intent.view is not None:
        res.evidence["view_mapping"] = {
            "view": f"{intent.view.side.value} {intent.view.symbol}", "outcome": intent.view.outcome,
            "order": f"{intent.side.value} {intent.symbol}", "advice_compared_with": intent.view.side.value}
    for code in (ReasonCode.LLM_UNAVAILABLE, ReasonCode.INTERNAL_ERROR):
        if code in advisory.reason_codes:
            res.add(code)
    if age > cfg.advisory_max_age_s:
        res.add(ReasonCode.ADVISORY_STALE)
    if advisory.action is AdvisoryAction.WAIT and cfg.block_on_wait:
        override = (
            advisory.advisory_only
            and cfg.wait_override_confidence is not None
            and intent.signal_confidence is not None
            and intent.signal_confidence >= cfg.wait_override_confidence
            and ReasonCode.LLM_UNAVAILABLE not in advisory.reason_codes
            and ReasonCode.INTERNAL_ERROR not in advisory.reason_codes
            and ReasonCode.NUMBER_UNGROUNDED not in advisory.reason_codes   # an invented number: no override
        )
        if override:
            res.evidence["wait_overridden"] = True
        else:   # a WAIT from Warden's own memory is labelled as such, never as the model's
            res.add(ReasonCode.MEMORY_WAIT if ReasonCode.MEMORY_WAIT in advisory.reason_codes
                    else ReasonCode.AWS_WAIT)
    elif advisory.action.value != intent.view_side.value and advisory.action is not AdvisoryAction.WAIT:
        if cfg.block_on_advisory_conflict:
            res.add(ReasonCode.ADVISORY_CONFLICT)
    return res
