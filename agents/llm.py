"""The one LLM seam. Every agent reasons through ``Reasoner.reason``; nothing else talks to a model.

An agent hands over its role, its prompt, the tool evidence (numbers computed by tools) and a pydantic
output schema, plus its ``policy``: the explicit rules the offline reasoner applies to the same
evidence. The result is always a validated instance of the schema, or ``LLMUnavailable`` (fail closed);
``get_reasoner`` raises ``ValueError`` for an unknown kind.

- ``OfflineReasoner`` (default): deterministic, no network; runs the role's documented policy.
- ``BedrockReasoner``: AWS Bedrock Converse with the schema as a forced tool (see agents/bedrock.py).
- ``get_reasoner``: the one factory choosing between them (boto3 is imported only for ``bedrock``).

Whatever the reasoner, numbers in the returned text fields (``GROUNDED_FIELDS``) are checked against
the evidence (``agents.grounding.ground``): ungrounded numbers are written to the schema's
``ungrounded_numbers`` field when it has one, NUMBER_UNGROUNDED is added to its ``reason_codes`` when
it has those, and an ``llm_call`` telemetry event carries the flag. Never silently passed on.
The shared types live in agents/llm_types.py (re-exported here), so no provider imports this module.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from agents.grounding import ground, ungrounded_numbers
from agents.llm_types import (
    GROUNDED_FIELDS,
    SEAM_FIELDS,
    LLMUnavailable,
    Policy,
    Reasoner,
    T,
    telemetry_path,
)
from trading.domain.reason_codes import ReasonCode
from trading.records.telemetry import EventLog, EventType

__all__ = ["GROUNDED_FIELDS", "SEAM_FIELDS", "LLMUnavailable", "OfflineReasoner", "Policy", "Reasoner",
           "get_reasoner", "ground", "rationale_flags", "telemetry_path"]

log = logging.getLogger(__name__)


class OfflineReasoner:
    """Deterministic reasoner: the role's explicit policy over the tool evidence; same input, same answer."""

    name = "offline"

    def __init__(self, events: EventLog | None = None) -> None:
        self.events = events

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T:
        try:
            out = policy(evidence)
            # re-validate through the schema so the offline path obeys the same contract as a model
            result = schema.model_validate(out.model_dump() if isinstance(out, BaseModel) else out)
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            # a policy that cannot answer fails closed like a model would, with the cycle id in the log
            log.error("cycle %s role %s: offline policy failed: %s: %s", cycle_id, role,
                      type(exc).__name__, exc)
            if self.events is not None:
                self.events.emit(EventType.LLM_CALL, cycle_id, [ReasonCode.LLM_UNAVAILABLE], role=role,
                                 reasoner=self.name, status="policy_error",
                                 error=f"{type(exc).__name__}: {exc}")
            raise LLMUnavailable(f"offline policy for {role} failed: {exc}") from exc
        return ground(result, evidence, role, self.name, cycle_id, self.events)


def rationale_flags(text: str, evidence: Mapping[str, Any]) -> list[str]:
    """Numbers in ``text`` that appear nowhere in ``evidence``."""
    return ungrounded_numbers(text, evidence)


def get_reasoner(kind: str = "offline", settings: Any = None) -> Reasoner:
    """``offline`` or ``bedrock``. Bedrock settings come from ``trading.settings.Settings.llm``.

    With settings, the seam's telemetry goes to ``telemetry_path(settings.data_dir)``.
    """
    kind = str(getattr(kind, "value", kind))
    if kind == "offline":
        events = EventLog(telemetry_path(settings.data_dir)) if settings is not None else None
        return OfflineReasoner(events)
    if kind == "bedrock":
        from agents.bedrock import BedrockReasoner  # boto3 only when asked for

        return BedrockReasoner.from_settings(settings)
    raise ValueError(f"unknown reasoner {kind!r}; expected offline or bedrock")
