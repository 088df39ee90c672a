"""Decision role: BUY / SELL / WAIT for this cycle's signal, with a confidence and a grounded rationale.

The context is the signal, the ingested features (live position next to the bot's belief) and, when a
RAG store exists, the most similar past trade cycles with their outcomes. Free text from memory (past
notes, rationales) is part of the evidence and therefore reaches a model only as quoted data.

Offline policy (``decision_policy``), applied in this order; the first rule that fires decides:
1. No direction (HOLD)                                  -> WAIT.
2. A genuine exit (signal side reduces the LIVE position) -> that side: exits are never held back.
3. The bot's belief disagrees with the live position    -> WAIT (it would act on a stale book).
4. Signal confidence below ``min_confidence``           -> WAIT.
5. Stop or target missing / non-positive                -> WAIT (no protective levels).
6. The memory rule (``memory_verdict``; settings ``[memory_rule]``): similar past cycles weighted by
   age (half-life ``half_life_days``), their win rate shrunk toward ``prior_win_rate`` with the weight of
   ``prior_strength`` cycles; at least ``min_sample`` effective cycles and a shrunk win rate below
   ``bad_win_rate`` -> WAIT, labelled source ``memory`` with MEMORY_WAIT (never AWS_WAIT). It cannot lock
   the loop out: ``RagSimilarCycles`` lets a memory WAIT through (``explore``) for a share
   ``explore_rate`` of paper signals and after ``max_consecutive_vetoes`` memory WAITs in a row, and old
   cycles decay, so a memory that stops changing loses its say.
7. Regime trends against the signal in high volatility  -> WAIT.
8. Otherwise follow the signal at the signal's confidence.
A WAIT's confidence is 1 - signal confidence (how sure we are that waiting is right), rounded.
The advice is advisory: the guards decide what is sent, whatever this says.
Failure contract: ``decide`` never raises for the model: ``LLMUnavailable`` becomes a WAIT with
LLM_UNAVAILABLE (which blocks entries); ungrounded numbers add NUMBER_UNGROUNDED. A RAG lookup error
propagates from ``RagSimilarCycles`` to the caller (the graph decides without memory, loudly).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.data_ingestion import MarketFeatures
from agents.llm import LLMUnavailable, Reasoner
from trading.domain.instruments import UnknownInstrument, resolve
from trading.domain.models import Advisory, AdvisoryAction, Signal
from trading.domain.reason_codes import ReasonCode
from trading.records.outcome_schema import money_decimals, same_money
from trading.settings import MemoryRuleConfig

log = logging.getLogger(__name__)

ROLE = "decision"
THRESHOLDS = {"min_confidence": 0.5}
MAX_SIMILAR_IN_PROMPT = 5
MEMORY_SOURCE = "memory"

PROMPT = """You are the decision agent of a trading guardian. Given one strategy signal, the market
features computed by tools, the live broker position (which may differ from what the bot believes) and
the outcomes of the most similar past trade cycles, advise BUY, SELL or WAIT with a confidence in [0, 1]
and a short rationale. Prefer WAIT when the bot's belief disagrees with the live position, when the
signal lacks a stop or a target, when its confidence is below thresholds.min_confidence, or when similar
past cycles mostly lost. Cite only numbers present in the evidence. Your advice never overrides the
deterministic guards."""


class DecisionOutput(BaseModel):
    """Advice for this cycle: action, confidence and a rationale citing only evidence numbers."""
    model_config = ConfigDict(extra="ignore")

    action: Literal["BUY", "SELL", "WAIT"]
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(max_length=2000)
    ungrounded_numbers: list[str] = Field(default_factory=list)
    rule: str = ""                     # which offline rule decided ("memory" labels a memory WAIT)


SimilarCycles = Callable[[MarketFeatures, Signal], Sequence[Mapping[str, Any]]]


def memory_verdict(cycles: Sequence[Mapping[str, Any]], rule: MemoryRuleConfig) -> dict[str, Any]:
    """The memory rule's arithmetic: decayed effective sample, shrunk win rate, and whether it vetoes.
    Each cycle may carry ``weight`` (its age decay, default 1) and ``explore`` (let this one through)."""
    w = [float(c.get("weight", 1.0)) for c in cycles]
    n_eff = sum(w)
    wins_w = sum(wi for wi, c in zip(w, cycles, strict=True) if c.get("won"))
    k, prior = rule.prior_strength, rule.prior_win_rate
    shrunk = (wins_w + prior * k) / (n_eff + k) if n_eff + k > 0 else prior
    veto = n_eff >= rule.min_sample and shrunk < rule.bad_win_rate
    explore = veto and any(c.get("explore") for c in cycles)
    return {"n_effective": round(n_eff, 2), "win_rate_shrunk": round(shrunk, 4), "veto": veto and not explore,
            "explored": explore, "min_sample": rule.min_sample, "bad_win_rate": rule.bad_win_rate,
            "prior_win_rate": prior}


def summarize_similar(cycles: Sequence[Mapping[str, Any]], rule: MemoryRuleConfig | None = None,
                      currency: str = "USD") -> dict[str, Any]:
    """Win rate and mean PnL of the similar past cycles and the memory rule's verdict (tool arithmetic,
    quoted by the agent). The mean PnL is over the cycles whose PnL is in ``currency`` (the signal's
    instrument's; USD stablecoins count as USD): a BTC PnL is never averaged with a USD one."""
    n = len(cycles)
    wins = sum(1 for c in cycles if c.get("won"))
    ccy = same_money(currency)
    pnls = [float(c["pnl_usd"]) for c in cycles
            if c.get("pnl_usd") is not None and same_money(str(c.get("currency") or "USD")) == ccy]
    other = sum(1 for c in cycles if c.get("pnl_usd") is not None) - len(pnls)
    return {"n_similar": n, "wins": wins, "losses": n - wins,
            "win_rate": round(wins / n, 4) if n else None,
            "avg_pnl_usd": round(sum(pnls) / len(pnls), money_decimals(ccy)) if pnls else None,
            "avg_pnl_currency": ccy, "pnl_other_currency": other,
            "rule": memory_verdict(cycles, rule or MemoryRuleConfig()),
            "cycles": [{k: v for k, v in c.items() if k not in ("explore", "rule_cfg")}
                       for c in cycles[:MAX_SIMILAR_IN_PROMPT]]}


def _rule_of(cycles: Sequence[Mapping[str, Any]]) -> MemoryRuleConfig:
    """The rule config the lookup ran with (it rides on the rows as ``rule_cfg``), else the defaults."""
    raw = cycles[0].get("rule_cfg") if cycles else None
    return MemoryRuleConfig.model_validate(raw) if raw else MemoryRuleConfig()


def _currency_of(symbol: str) -> str:
    """The currency the signal's instrument counts PnL in (USD when the registry does not know it)."""
    try:
        return resolve(symbol).currency
    except UnknownInstrument:
        return "USD"


def decision_evidence(signal: Signal, features: MarketFeatures, intent_kind: str,
                      similar: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return {
        "signal": {"label": signal.label, "side": signal.side.value if signal.side else None,
                   "confidence": signal.confidence, "price": signal.price, "stop": signal.stop,
                   "target": signal.target, "symbol": signal.symbol},
        "bot_intent": intent_kind,
        "features": features.model_dump(mode="json"),
        "memory": summarize_similar(similar, _rule_of(similar), _currency_of(signal.symbol)),
        "thresholds": dict(THRESHOLDS),
    }


def _wait(conf: float, why: str) -> DecisionOutput:
    return DecisionOutput(action="WAIT", confidence=round(1.0 - conf, 4), rationale=why)


def decision_policy(ev: Mapping[str, Any]) -> DecisionOutput:
    """The offline decision rules (see module doc)."""
    sig, feat, mem, th = ev["signal"], ev["features"], ev["memory"], ev["thresholds"]
    side, conf = sig["side"], float(sig["confidence"])
    live, believed = feat.get("live_position"), feat.get("believed_position")
    if side is None:
        return _wait(conf, f"signal {sig['label'] or 'HOLD'} has no direction")
    sign = 1 if side == "BUY" else -1
    if live and live * sign < 0:
        return DecisionOutput(action=side, confidence=conf,
                              rationale=f"{side} reduces the live position {live:g}; exits are not held back")
    if feat.get("position_mismatch"):
        return _wait(conf, f"bot believes position {believed if believed is not None else 'unknown'} but the "
                           f"live position is {live if live is not None else 'unknown'}: stale book, "
                           f"no new exposure")
    if conf < th["min_confidence"]:
        return _wait(conf, f"signal confidence {conf:g} is below the minimum {th['min_confidence']:g}")
    stop, target = sig.get("stop"), sig.get("target")
    if stop is None or target is None or stop <= 0 or target <= 0:
        return _wait(conf, f"signal {sig['label'] or side} has no valid protective levels "
                           f"(stop {stop}, target {target})")
    n = mem.get("n_similar", 0)
    rv = mem.get("rule") or {}
    if rv.get("veto"):
        out = _wait(conf, f"Warden's memory: {mem['wins']} wins in {n} similar past cycles; decayed sample "
                          f"{rv['n_effective']:g}, win rate shrunk toward {rv['prior_win_rate']:g} is "
                          f"{rv['win_rate_shrunk']:g}, below {rv['bad_win_rate']:g}")
        return out.model_copy(update={"rule": MEMORY_SOURCE})
    regime = feat.get("regime") or ""
    against = (sign > 0 and regime.startswith("trend_down")) or (sign < 0 and regime.startswith("trend_up"))
    if against and regime.endswith("high_vol"):
        return _wait(conf, f"regime {regime} runs against a {side} signal")
    memo = f"; {mem['wins']} wins in {n} similar past cycles" if n else ""
    if rv.get("explored"):
        memo += " (memory would advise WAIT; let through to keep sampling)"
    return DecisionOutput(action=side, confidence=conf,
                          rationale=f"{sig['label'] or side} at confidence {conf:g} with stop {stop:g} and "
                                    f"target {target:g} in regime {regime or 'unknown'}{memo}")


def live_situation(signal: Signal, features: MarketFeatures, venue: str, now: datetime) -> Any:
    """The live cycle described exactly as stored outcomes are (signal features + regime_of's numbers),
    so the situation vector compares like with like. No advisory yet: it is being decided."""
    from tools.memory.situations import Situation

    return Situation(symbol=signal.symbol, venue=venue, side=signal.side.value if signal.side else "BUY",
                     opened_at=now, features={**signal.features, **features.regime_features},
                     regime=features.regime, signal_side=signal.side.value if signal.side else None,
                     signal_label=signal.label, signal_confidence=signal.confidence, entry_price=signal.price,
                     stop=signal.stop, target=signal.target)


class RagSimilarCycles:
    """``SimilarCycles`` over the RAG store (tools/memory/store.py): the ``k`` nearest past cycles of the same
    asset that had closed by the cycle's time (``as_of``: a replay never sees its own future)."""

    def __init__(self, store: Any, venue: str, k: int | None = None, same_asset: bool = True,
                 rule: MemoryRuleConfig | None = None) -> None:
        self.store = store
        self.venue = venue
        self.rule = rule or getattr(getattr(store, "settings", None), "memory_rule", None) or MemoryRuleConfig()
        self.k = k or self.rule.neighbours
        self.same_asset = same_asset
        self.consecutive_vetoes = 0           # memory WAITs in a row (the lock-out cap)
        self.explored = 0
        self._rows: tuple[int, dict[str, tuple[float | None, str, str, str]]] | None = None

    def _display(self) -> dict[str, tuple[float | None, str, str, str]]:
        df = self.store.table.load()            # cached by the table on its file's mtime
        if self._rows is None or self._rows[0] != id(df):
            pnl = df["pnl_usd"].tolist() if "pnl_usd" in df else [None] * len(df)
            reg = df["regime"].tolist() if "regime" in df else [""] * len(df)
            ex = df["exit_reason"].tolist() if "exit_reason" in df else [""] * len(df)
            cur = df["currency"].tolist() if "currency" in df else ["USD"] * len(df)   # no column: USD (v1)
            self._rows = (id(df), {i: (p if p == p else None, str(r or ""), str(e or ""),
                                       c if isinstance(c, str) and c else "USD") for i, p, r, e, c in
                                   zip(df["trade_cycle_id"].tolist(), pnl, reg, ex, cur)})
        return self._rows[1]

    def __call__(self, features: MarketFeatures, signal: Signal) -> list[dict[str, Any]]:
        from tools.memory.cycle_filter import CycleFilter
        from tools.memory.situations import asset_of, situation_vector

        now = signal.ts
        vec = situation_vector(live_situation(signal, features, self.venue, now))
        flt = CycleFilter(asset=asset_of(signal.symbol) if self.same_asset else None, as_of=now)
        rows = self._display()
        out = []
        for h in self.store.query_cycles(vec, self.k, flt):
            pnl, regime, exit_reason, currency = rows.get(h.id, (None, "", "", "USD"))
            m = h.metadata
            ts = m.get("closed_ts")
            age_days = max(0.0, (now.timestamp() - float(ts)) / 86400.0) if isinstance(ts, (int, float)) else 0.0
            out.append({"trade_cycle_id": h.id, "won": bool(m.get("won")), "pnl_usd": pnl, "currency": currency,
                        "side": m.get("side"), "advisory": m.get("advisory"), "regime": regime,
                        "exit_reason": exit_reason, "similarity": round(1.0 - h.distance, 4),
                        "weight": round(0.5 ** (age_days / self.rule.half_life_days), 4),
                        "reason_codes": sorted(k[3:] for k, v in m.items() if k.startswith("rc_") and v),
                        "rule_cfg": self.rule.model_dump()})
        return self._sample(out, signal)

    def _sample(self, rows: list[dict[str, Any]], signal: Signal) -> list[dict[str, Any]]:
        """Keep the loop from locking itself out: a would-be memory WAIT is let through (``explore``) for a
        deterministic share ``explore_rate`` of paper signals (keyed by symbol and time, so a replay repeats
        itself) and after ``max_consecutive_vetoes`` memory WAITs in a row."""
        if not memory_verdict(rows, self.rule)["veto"]:
            self.consecutive_vetoes = 0
            return rows
        key = hashlib.sha256(f"{signal.symbol}|{signal.ts.isoformat()}".encode()).digest()
        draw = int.from_bytes(key[:8], "big") / 2.0 ** 64
        explore = (self.venue == "paper" and draw < self.rule.explore_rate) or \
            self.consecutive_vetoes >= self.rule.max_consecutive_vetoes
        if not explore:
            self.consecutive_vetoes += 1
            return rows
        self.consecutive_vetoes = 0
        self.explored += 1
        log.info("memory rule: letting a memory WAIT through to keep sampling (%s %s, explored %d)",
                 signal.symbol, signal.ts.isoformat(), self.explored)
        return [dict(r, explore=True) for r in rows]


def decide(reasoner: Reasoner, signal: Signal, features: MarketFeatures, intent_kind: str,
           similar: Sequence[Mapping[str, Any]], cycle_id: str,
           now: datetime) -> tuple[Advisory, dict[str, Any]]:
    """Run the role; an unavailable model yields WAIT with LLM_UNAVAILABLE (fail closed)."""
    evidence = decision_evidence(signal, features, intent_kind, similar)
    try:
        out = reasoner.reason(ROLE, PROMPT, evidence, DecisionOutput, decision_policy, cycle_id=cycle_id)
    except LLMUnavailable as exc:
        log.info("cycle %s: decision unavailable, advising WAIT: %s", cycle_id, exc)  # outage logged once: agents.llm
        return Advisory(action=AdvisoryAction.WAIT, confidence=0.0, advisory_only=False,
                        rationale=f"LLM unavailable: {exc}"[:500], source=reasoner.name, ts=now,
                        reason_codes=[ReasonCode.LLM_UNAVAILABLE]), evidence
    codes = [ReasonCode.NUMBER_UNGROUNDED] if out.ungrounded_numbers else []
    source = reasoner.name
    if out.action == "WAIT" and decision_policy(evidence).rule == MEMORY_SOURCE:
        # the WAIT rests on Warden's own memory (the offline rules would WAIT for that reason alone)
        source = MEMORY_SOURCE
        codes.append(ReasonCode.MEMORY_WAIT)
    return Advisory(action=AdvisoryAction(out.action), confidence=out.confidence, advisory_only=True,
                    rationale=out.rationale, source=source, ts=now, reason_codes=codes), evidence
