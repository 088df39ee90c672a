"""Risk role: call the deterministic guards, then explain their verdict. It cannot change the verdict.

The verdict comes from ``trading.guards.evaluate`` alone; the model (or the offline policy) is asked
only for an ``explanation`` string, and nothing else it returns is read. If the model is unavailable,
the explanation falls back to the offline policy's text; the verdict is the same either way.

Offline policy (``risk_policy``): one sentence per reason code, from ``CODE_TEXT``, citing the guard
evidence (live position, worst-case loss, drawdown...) the guards recorded.
Failure contract: ``assess`` / ``explain`` never raise for the model (the offline text is used, marked
"(model unavailable)"); what the guards raise propagates (they fail closed themselves).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.llm import LLMUnavailable, Reasoner
from trading.domain.models import Advisory, OrderIntent
from trading.guards import BrokerSnapshot, GuardConfig, GuardVerdict, RiskState, evaluate

log = logging.getLogger(__name__)

ROLE = "risk"

PROMPT = """You are the risk agent of a trading guardian. The deterministic guards have already judged
the order intent below; their verdict is final and you cannot change it. Explain in two or three plain
sentences why the order was allowed or blocked, naming the reason codes and citing only numbers present
in the evidence."""

CODE_TEXT: dict[str, str] = {
    "AWS_WAIT": "the advisory said WAIT and WAIT blocks entries",
    "ADVISORY_STALE": "the advisory is older than the allowed age",
    "ADVISORY_MISSING": "an entry needs an advisory and there is none",
    "ADVISORY_CONFLICT": "the advisory points the other way",
    "LLM_UNAVAILABLE": "the model could not advise, so entries fail closed",
    "MISSING_PROTECTION": "the order has no valid stop and target",
    "INVALID_STOP_SIDE": "the stop or target is on the wrong side of the entry",
    "MAX_LOSS_CAP": "the worst-case loss is above the per-trade cap",
    "PRICE_UNKNOWN": "there is no price to measure the risk against",
    "MAX_EXPOSURE": "the position would exceed the maximum size",
    "OPPOSITE_POSITION": "the entry goes against an open opposite position",
    "NO_EXPOSURE": "it is an exit but the live position is flat, so it would open a new position",
    "POSITION_UNKNOWN": "the live position could not be read",
    "REDUCE_ONLY_VIOLATION": "the exit would grow or flip the live position",
    "REDUCE_ONLY_CAPPED": "the exit was capped to the live position",
    "EXIT_SIDE_CORRECTED": "the exit side was derived from the live position",
    "DRAWDOWN_HALT": "the drawdown halt is latched",
    "LOSS_STREAK": "the loss streak limit is reached",
    "OUTCOME_UNRESOLVED": "too many trades have no recorded outcome",
    "COOLDOWN": "a cooldown is running",
    "RATE_LIMIT": "the order rate limit is reached",
    "OPERATOR_HALT": "an operator halted trading",
    "RECONCILE_MISMATCH": "the book does not reconcile with the broker",
    "JOURNAL_UNWRITABLE": "the journal cannot be written",
    "EQUITY_UNKNOWN": "equity is unknown so drawdown cannot be checked",
    "GUARD_ERROR": "a guard failed and fails closed",
    "INTENT_CONFLICT": "the order contradicts itself (an entry marked reduce-only) and is rejected first",
    "INPUT_INVALID": "a number the guards read is not finite or out of range, so they fail closed",
    "LEDGER_CORRUPT": "a risk ledger line is unreadable, so entries wait for an operator's repair",
    "INTERNAL_ERROR": "a code error behind the advice fails closed (it is not a model outage)",
    "MEMORY_WAIT": "Warden's own memory of similar past cycles advised WAIT",
    "PNL_MISMATCH": "the broker's PnL disagrees with the fills",
    "NUMBER_UNGROUNDED": "the advice cited a number no tool produced",
}


class RiskExplanation(BaseModel):
    """A plain-language explanation of the guards' verdict; the verdict itself is not yours to set."""
    model_config = ConfigDict(extra="ignore")   # anything else a model adds (e.g. "allowed") is dropped

    explanation: str = Field(max_length=2000)
    ungrounded_numbers: list[str] = Field(default_factory=list)


def verdict_evidence(verdict: GuardVerdict) -> dict[str, Any]:
    i = verdict.intent
    return {
        "allowed": verdict.allowed,
        "reason_codes": [c.value for c in verdict.reason_codes],
        "blocking_codes": [c.value for c in verdict.blocking_codes],
        "judged_as": verdict.judged_as.value,
        "intent": {"kind": i.kind.value, "side": i.side.value, "qty": i.qty, "symbol": i.symbol,
                   "price": i.price, "stop": i.stop, "target": i.target, "reduce_only": i.reduce_only},
        "guard_evidence": verdict.evidence,
        "code_meanings": {c.value: CODE_TEXT.get(c.value, c.value) for c in verdict.reason_codes},
    }


def risk_policy(ev: Mapping[str, Any]) -> RiskExplanation:
    """Offline explanation: the verdict, then one clause per reason code."""
    i = ev["intent"]
    verdict = "ALLOWED" if ev["allowed"] else "BLOCKED"
    head = f"{verdict}: {i['kind']} {i['side']} {i['qty']:g} {i['symbol']} judged as {ev['judged_as']}"
    parts = [f"{c} ({ev['code_meanings'].get(c, c)})" for c in ev["reason_codes"]]
    g = ev.get("guard_evidence") or {}
    facts = []
    if "live_position" in g:
        facts.append(f"live position {g['live_position']}")
    if g.get("worst_case_loss") is not None:
        ccy = g.get("account_currency") or "USD"
        facts.append(f"worst-case loss {g['worst_case_loss']:g} {ccy} vs cap {g.get('max_loss_per_trade')} {ccy}")
    if g.get("drawdown_pct") is not None:
        facts.append(f"drawdown {g['drawdown_pct']:g}%")
    text = head + (": " + "; ".join(parts) if parts else "")
    text += (". " + ", ".join(facts) if facts else "") + "."
    return RiskExplanation(explanation=text)


def assess(reasoner: Reasoner, intent: OrderIntent, snapshot: BrokerSnapshot, risk_state: RiskState,
           cfg: GuardConfig, advisory: Advisory | None, now: datetime,
           cycle_id: str) -> tuple[GuardVerdict, RiskExplanation]:
    """The guards' verdict (final) and its explanation (the only thing a model contributes)."""
    verdict = evaluate(intent, snapshot, risk_state, cfg, advisory, now)
    return verdict, explain(reasoner, verdict, cycle_id)


def explain(reasoner: Reasoner, verdict: GuardVerdict, cycle_id: str) -> RiskExplanation:
    evidence = verdict_evidence(verdict)
    try:
        return reasoner.reason(ROLE, PROMPT, evidence, RiskExplanation, risk_policy, cycle_id=cycle_id)
    except LLMUnavailable as exc:
        log.info("cycle %s: risk explanation unavailable, using the offline text: %s", cycle_id,  # outage logged
                 exc)                                                                            # once: agents.llm
        fallback = risk_policy(evidence)
        return fallback.model_copy(update={"explanation": fallback.explanation + " (model unavailable)"})
