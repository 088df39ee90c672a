"""Deterministic guards: they have the last word on every order.

``evaluate`` is a pure function of (intent, live broker snapshot, persisted risk state, config,
advisory, now). No advisory, LLM or caller can override its verdict. Order of judgement:
1. the intent agrees with itself (an ENTRY is never reduce-only): else INTENT_CONFLICT, alone;
2. every number it reads is finite and in range: else INPUT_INVALID (fail closed, exits included);
3. an EXIT is judged against the LIVE position (reduce-only: capped to it by default, never grown or
   flipped); an ENTRY (or an exit that would open exposure) gets every entry rule.
Failure contract: never raises; a check that raises fails closed (GUARD_ERROR, the error in the
evidence). Entries are blocked under every halt; genuine reduce-only exits never are.
Money is judged in the account currency: ``fx`` (default: the configured ``[fx]`` rates,
``trading.domain.fx``) converts an instrument's own currency; no rate blocks entries (FX_RATE_MISSING).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from trading.domain.fx import FxRates
from trading.domain.models import Advisory, IntentKind, OrderIntent, utcnow
from trading.domain.reason_codes import NON_BLOCKING, ReasonCode
from trading.guards.advisory_gate import check_advisory
from trading.guards.entry_protection import check_entry_protection, worst_case_loss
from trading.guards.halts import check_halts
from trading.guards.inputs import BrokerSnapshot, RiskState
from trading.guards.limits import check_exposure, check_pace
from trading.guards.reduce_only import check_reduce_only
from trading.guards.sanity import check_intent_conflict, check_numbers
from trading.guards.verdict import CheckResult, GuardVerdict
from trading.settings import GuardConfig

__all__ = ["BrokerSnapshot", "RiskState", "GuardVerdict", "GuardConfig", "evaluate", "worst_case_loss"]


def _run(name: str, fn: Callable[[], CheckResult], codes: list[ReasonCode], evidence: dict) -> CheckResult | None:
    try:
        res = fn()
    except Exception as exc:  # noqa: BLE001 - by design: any bug in a check blocks (fail closed), with evidence
        codes.append(ReasonCode.GUARD_ERROR)
        evidence.setdefault("guard_errors", {})[name] = f"{type(exc).__name__}: {exc}"
        return None
    for c in res.codes:
        if c not in codes:
            codes.append(c)
    evidence.update(res.evidence)
    return res


def _entry_checks(intent: OrderIntent, snapshot: BrokerSnapshot, risk: RiskState, cfg: GuardConfig,
                  advisory: Advisory | None, now: datetime, live: float | None, opening_qty: float,
                  codes: list[ReasonCode], evidence: dict, fx: FxRates | None = None) -> None:
    as_entry = intent.model_copy(update={"kind": IntentKind.ENTRY, "qty": opening_qty})
    price = intent.price if intent.price is not None else snapshot.marks.get(intent.symbol)
    _run("halts", lambda: check_halts(risk, cfg, now), codes, evidence)
    _run("pace", lambda: check_pace(risk, cfg, now), codes, evidence)
    _run("advisory", lambda: check_advisory(as_entry, advisory, cfg, now), codes, evidence)
    _run("protection", lambda: check_entry_protection(as_entry, price, cfg.max_loss_per_trade, fx=fx), codes,
         evidence)
    if live is not None:
        base = live if intent.kind is IntentKind.ENTRY else 0.0
        _run("exposure", lambda: check_exposure(as_entry, base, cfg, opening_qty), codes, evidence)


def evaluate(intent: OrderIntent, snapshot: BrokerSnapshot, risk: RiskState, cfg: GuardConfig,
             advisory: Advisory | None = None, now: datetime | None = None, fx: FxRates | None = None) -> GuardVerdict:
    now = now or utcnow()
    codes: list[ReasonCode] = []
    evidence: dict = {"believed_kind": intent.kind.value}

    def verdict(adjusted: OrderIntent = intent, judged_as: IntentKind = intent.kind) -> GuardVerdict:
        allowed = not any(c not in NON_BLOCKING for c in codes)
        return GuardVerdict(allowed=allowed, reason_codes=codes, evidence=evidence, intent=adjusted,
                            original_intent=intent, judged_as=judged_as)

    # 1. a contradiction in the intent itself is rejected before any guard runs (the only code)
    if _run("intent", lambda: check_intent_conflict(intent), codes, evidence) is None or codes:
        return verdict()
    # 2. numbers: NaN / inf / out of range fail closed before anything compares with them
    as_entry = intent.kind is IntentKind.ENTRY
    if _run("inputs", lambda: check_numbers(intent, snapshot, risk, cfg, as_entry), codes, evidence) is None \
            or codes:
        return verdict()
    adjusted = intent
    judged_as = intent.kind
    live = snapshot.position(intent.symbol)
    if snapshot.position_error:
        evidence["position_error"] = snapshot.position_error

    if intent.kind is IntentKind.EXIT:
        # an exit is always reduce-only, whatever flag it came with
        opening = intent.qty
        box: dict = {}

        def _reduce_only() -> CheckResult:
            res, box["intent"], box["opening"] = check_reduce_only(intent, live, cfg.cap_reduce_only_qty)
            return res

        if _run("reduce_only", _reduce_only, codes, evidence) is not None:
            adjusted, opening = box["intent"], box["opening"]
        else:
            adjusted = intent.model_copy(update={"reduce_only": True})
        if opening > 0:
            # an exit that would open exposure is an entry in disguise: every entry rule applies
            judged_as = IntentKind.ENTRY
            _run("inputs_entry", lambda: check_numbers(intent, snapshot, risk, cfg, True), codes, evidence)
            _entry_checks(intent, snapshot, risk, cfg, advisory, now, live, opening, codes, evidence, fx)
    elif intent.kind is IntentKind.PROTECTIVE:
        # bracket children only ever close what their parent opened (OCA); the parent was judged
        evidence["note"] = "protective bracket child"
    else:
        evidence["live_position"] = live
        if live is None:
            codes.append(ReasonCode.POSITION_UNKNOWN)
        _entry_checks(intent, snapshot, risk, cfg, advisory, now, live, intent.qty, codes, evidence, fx)
    return verdict(adjusted, judged_as)
