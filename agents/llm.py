"""The one LLM seam. Every agent reasons through ``Reasoner.reason``; nothing else talks to a model.

An agent hands over its role, its prompt, the tool evidence (numbers computed by tools) and a pydantic
output schema, plus its ``policy``: the explicit rules the offline reasoner applies to the same
evidence. The result is always a validated instance of the schema, or ``LLMUnavailable`` (fail closed).

- ``OfflineReasoner`` (default): deterministic, no network; runs the role's documented policy.
- ``BedrockReasoner``: AWS Bedrock Converse with the schema as a forced tool (see agents/bedrock.py).

Whatever the reasoner, numbers in the returned text fields (``GROUNDED_FIELDS``) are checked against
the evidence (``agents.grounding``): ungrounded numbers are written to the schema's
``ungrounded_numbers`` field when it has one, NUMBER_UNGROUNDED is added to its ``reason_codes`` when
it has those, and an ``llm_call`` telemetry event carries the flag. Never silently passed on.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from agents.grounding import NumberPool, ungrounded_numbers
from trading.domain.reason_codes import ReasonCode
from trading.records.telemetry import EventLog, EventType

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Policy = Callable[[Mapping[str, Any]], T]

# Text fields whose numbers must come from the evidence (searched at any depth of the output).
GROUNDED_FIELDS: frozenset[str] = frozenset({"rationale", "explanation", "summary"})
# Fields the seam fills in; a model is never asked for them and anything it puts there is replaced.
SEAM_FIELDS: frozenset[str] = frozenset({"ungrounded_numbers"})


class LLMUnavailable(RuntimeError):
    """The model could not give a valid answer (error, timeout, malformed output, budget): fail closed."""


class Reasoner(Protocol):
    name: str

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T: ...


def telemetry_path(data_dir: Path) -> Path:
    """Where the seam appends its events when built from settings."""
    return Path(data_dir) / "telemetry" / "events.jsonl"


def _grounded_texts(obj: Any, key: str | None = None) -> list[str]:
    if isinstance(obj, Mapping):
        out: list[str] = []
        for k, v in obj.items():
            out.extend(_grounded_texts(v, str(k)))
        return out
    if isinstance(obj, list):
        return [t for v in obj for t in _grounded_texts(v, key)]
    if isinstance(obj, str) and key in GROUNDED_FIELDS:
        return [obj]
    return []


def ground(result: T, evidence: Mapping[str, Any], role: str, reasoner: str, cycle_id: str | None,
           events: EventLog | None) -> T:
    """Flag numbers in the result's text fields that no tool produced (see module doc)."""
    seam = set(SEAM_FIELDS) & set(type(result).model_fields)
    texts = _grounded_texts(result.model_dump(mode="json", exclude=seam))
    flags: list[str] = []
    pool: NumberPool | None = None
    for t in texts:
        if not any(ch.isdigit() for ch in t):
            continue
        pool = pool or NumberPool(evidence)          # built once, only when some text cites a number
        flags.extend(x for x in ungrounded_numbers(t, evidence, pool=pool) if x not in flags)
    fields = type(result).model_fields
    update: dict[str, Any] = {}
    if "ungrounded_numbers" in fields:
        update["ungrounded_numbers"] = flags
    if flags and "reason_codes" in fields:
        codes = list(result.reason_codes or [])
        if ReasonCode.NUMBER_UNGROUNDED not in codes:
            update["reason_codes"] = codes + [ReasonCode.NUMBER_UNGROUNDED]
    if flags:
        log.warning("cycle %s role %s (%s): ungrounded numbers %s", cycle_id, role, reasoner, flags)
        if events is not None:
            events.emit(EventType.LLM_CALL, cycle_id, [ReasonCode.NUMBER_UNGROUNDED], role=role,
                        reasoner=reasoner, status="ungrounded", ungrounded_numbers=flags)
    return result.model_copy(update=update) if update else result


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
