"""Typed state of the advisory graph, its run-time context and the result a bot gets back.

The state is checkpointed, so it holds only JSON types (pydantic models are dumped in JSON mode and
re-validated where read): no custom classes for the checkpoint serializer to allow-list. Live objects
(broker, executor, reasoner, RAG store) travel in the LangGraph run-time context, never in the state.
Failure contract: types only; pydantic raises ``ValidationError`` when a ``GuardedDecision`` is built
from bad values.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, Field

from agents.decision import SimilarCycles
from agents.llm import OfflineReasoner, Reasoner
from agents.outcome_recorder import OutcomeRecorder
from trading.domain.models import Advisory, IntentKind, OrderIntent, utcnow
from trading.domain.reason_codes import ReasonCode
from trading.guards import BrokerSnapshot, GuardConfig, RiskState
from trading.records.telemetry import EventLog


class AdvisoryState(TypedDict, total=False):
    # input
    trade_cycle_id: str
    now: str                        # ISO time of the cycle (the replay clock in paper runs)
    signal: dict[str, Any] | None   # trading.domain.models.Signal, JSON
    intent_kind: str | None         # entry | exit | none; derived from the bot's belief when absent
    qty: float
    believed_position: float | None
    # server-only inputs, used when no run-time context is given (e.g. under a LangGraph server)
    live_position: float | None
    equity: float | None
    bars: list[dict[str, Any]]
    # ingest
    features: dict[str, Any]
    snapshot: dict[str, Any]        # the live broker snapshot ingest read (JSON), judged by risk
    # decision
    similar: list[dict[str, Any]]
    advisory: dict[str, Any]        # trading.domain.models.Advisory, JSON
    # risk
    intent: dict[str, Any] | None   # trading.domain.models.OrderIntent, JSON
    verdict: dict[str, Any] | None  # the guards' verdict (risk node), JSON
    explanation: str
    # execute
    execution: dict[str, Any] | None
    # record
    recorded: list[str]
    errors: Annotated[list[str], operator.add]


@dataclass
class AdvisoryContext:
    """Live dependencies of one run. With ``executor`` the execute node sends through it; without one
    the graph only advises (``snapshot`` / ``risk_state`` supply the guards' inputs). ``guards`` None and
    ``risk_state`` None mean what `warden run` uses: the settings (warden.toml / WARDEN_*) and the persisted
    risk ledger under their data dir, re-read every cycle (a LangGraph server passes no context at all)."""
    reasoner: Reasoner = field(default_factory=OfflineReasoner)
    guards: GuardConfig | None = None
    executor: Any = None                                  # trading.execution.executor.GuardedExecutor
    snapshot: Callable[[str], BrokerSnapshot] | None = None
    risk_state: Callable[[datetime], RiskState] | None = None
    bars: Callable[[str], Sequence[Any]] | None = None    # recent candles for a symbol, oldest first
    similar: SimilarCycles | None = None                  # RAG: most similar past trade cycles
    recorder: OutcomeRecorder | None = None
    events: EventLog | None = None
    clock: Callable[[], datetime] = utcnow
    emit_events: bool = True                              # False when the caller already logs signal/advice
    preview: bool = True                                  # False: the caller judges a mapped order itself
    on_execution: Callable[[Any], None] | None = None     # receives the executor's ExecutionResult
    on_storage_failure: Callable[[str, str | None, BaseException], None] | None = None   # a write failed


class GuardedDecision(BaseModel):
    """What ``advise`` returns: the advice, the guards' verdict (final) and what was sent."""
    trade_cycle_id: str
    advisory: Advisory | None = None
    allowed: bool = False
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    judged_as: IntentKind | None = None
    intent: OrderIntent | None = None          # as adjusted by the guards (derived exit side, capped qty)
    explanation: str = ""
    executed: bool = False                     # True only when the broker accepted the order(s)
    order_ids: list[str] = Field(default_factory=list)
    error: str | None = None
    features: dict[str, Any] = Field(default_factory=dict)
    similar_cycles: int = 0

    @property
    def action(self) -> str:
        return self.advisory.action.value if self.advisory else "WAIT"

    def summary(self) -> str:
        codes = ",".join(self.reason_codes) or "-"
        what = f"{self.intent.kind} {self.intent.side} {self.intent.qty:g}" if self.intent else "no order"
        return f"{self.action} -> {'ALLOW' if self.allowed else 'BLOCK'} {what} [{codes}]"
