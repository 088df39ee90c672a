"""The one LLM seam. Every agent reasons through ``Reasoner.reason``; nothing else talks to a model.

An agent hands over its role, its prompt, the tool evidence (numbers computed by tools) and a pydantic
output schema, plus its ``policy``: the explicit rules the offline reasoner applies to the same
evidence. The result is always a validated instance of the schema.

- ``OfflineReasoner`` (default): deterministic, no network; runs the role's documented policy.
- ``BedrockReasoner``: AWS Bedrock Converse with the schema as a forced tool (see agents/bedrock.py).

Whatever the reasoner, numbers in the returned rationale are checked against the evidence
(``grounding``): ungrounded numbers are flagged, never silently passed on.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from agents.grounding import ungrounded_numbers

T = TypeVar("T", bound=BaseModel)
Policy = Callable[[Mapping[str, Any]], T]


class LLMUnavailable(RuntimeError):
    """The model could not give a valid answer (error, timeout, malformed output, budget): fail closed."""


class Reasoner(Protocol):
    name: str

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T: ...


class OfflineReasoner:
    """Deterministic reasoner: the role's explicit policy over the tool evidence; same input, same answer."""

    name = "offline"

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T:
        out = policy(evidence)
        # re-validate through the schema so the offline path obeys the same contract as a model
        return schema.model_validate(out.model_dump() if isinstance(out, BaseModel) else out)


def rationale_flags(text: str, evidence: Mapping[str, Any]) -> list[str]:
    """Numbers in ``text`` that appear nowhere in ``evidence``."""
    return ungrounded_numbers(text, evidence)


def get_reasoner(kind: str = "offline", settings: Any = None) -> Reasoner:
    """``offline`` or ``bedrock``. Bedrock settings come from ``trading.settings.Settings.llm``."""
    if kind == "offline":
        return OfflineReasoner()
    if kind == "bedrock":
        from agents.bedrock import BedrockReasoner  # boto3 only when asked for

        return BedrockReasoner.from_settings(settings)
    raise ValueError(f"unknown reasoner {kind!r}; expected offline or bedrock")
