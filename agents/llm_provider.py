"""What every model provider shares (agents/bedrock.py, agents/openai_compat.py): construction from
settings, the ``llm_call`` telemetry event, the budget reservation before a request and the charge after it.

A provider subclasses ``Provider`` and implements ``make_client(cfg)`` and ``reason``. Failure contract:
``reserve`` raises ``BudgetExceeded`` (logged and emitted first); ``charge`` raises only what the budget
ledger's append raises (``OSError``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from agents.llm_budget import BudgetExceeded, LLMBudget
from agents.llm_types import telemetry_path
from trading.domain.reason_codes import ReasonCode
from trading.records.telemetry import EventLog, EventType
from trading.settings import LLMConfig

log = logging.getLogger(__name__)
P = TypeVar("P", bound="Provider")


class Provider:
    name = "provider"

    def __init__(self, client: Any, cfg: LLMConfig, budget: LLMBudget, events: EventLog | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.client = client
        self.cfg = cfg
        self.budget = budget
        self.events = events
        self._clock = clock
        self.usage_totals: dict[str, float] = {}     # this instance's tokens and cost (decision records)

    @staticmethod
    def make_client(cfg: LLMConfig) -> Any:
        raise NotImplementedError

    @classmethod
    def from_settings(cls: type[P], settings: Any = None) -> P:
        if settings is None:
            from trading.settings import load_settings

            settings = load_settings()
        llm: LLMConfig = settings.llm
        return cls(cls.make_client(llm), llm, LLMBudget.for_data_dir(settings.data_dir, llm),
                   EventLog(telemetry_path(settings.data_dir)))

    def emit(self, role: str, cycle_id: str | None, status: str, codes: list[ReasonCode] | None = None,
             **payload: Any) -> None:
        if self.events is not None:
            self.events.emit(EventType.LLM_CALL, cycle_id, codes or [], role=role, reasoner=self.name,
                             model_id=self.cfg.model_id, status=status, **payload)

    def reserve(self, role: str, cycle_id: str | None, attempt: int, request_chars: int,
                max_output: int | None) -> None:
        """Refuse the request before it is made if it could pass a budget (module doc)."""
        try:
            self.budget.check(cycle_id, self.budget.worst_case(request_chars, max_output))
        except BudgetExceeded as exc:
            log.error("cycle %s role %s: %s", cycle_id, role, exc)
            self.emit(role, cycle_id, "budget", [ReasonCode.LLM_UNAVAILABLE], attempt=attempt, error=str(exc))
            raise

    def charge(self, role: str, cycle_id: str | None, tin: int, tout: int, started: float) -> dict[str, Any]:
        """Record one answered request's tokens and cost; returns the telemetry fields for it."""
        cost = self.budget.record(cycle_id, role, self.cfg.model_id, tin, tout)
        for k, v in (("input_tokens", tin), ("output_tokens", tout), ("cost_usd", cost)):
            self.usage_totals[k] = self.usage_totals.get(k, 0) + v
        return {"input_tokens": tin, "output_tokens": tout, "cost_usd": cost,
                "latency_ms": (self._clock() - started) * 1000}
