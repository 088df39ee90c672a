"""What every part of the LLM seam shares: the ``Reasoner`` protocol, the fail-closed error and the field sets.

This module imports nothing else from ``agents/``, so the seam (agents/llm.py), the grounding check
(agents/grounding.py), the budget (agents/llm_budget.py) and the providers (agents/bedrock.py) can all
import it without importing one another back. Failure contract: a reasoner returns a validated instance
of the requested schema or raises ``LLMUnavailable`` (callers fail closed); nothing here raises itself.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)
Policy = Callable[[Mapping[str, Any]], T]

# Text fields whose numbers must come from the evidence (searched at any depth of the output).
GROUNDED_FIELDS: frozenset[str] = frozenset({"rationale", "explanation", "summary"})
# Fields the seam fills in; a model is never asked for them and anything it puts there is replaced.
# ("rule" names the offline policy's rule that decided: a model cannot claim one.)
SEAM_FIELDS: frozenset[str] = frozenset({"ungrounded_numbers", "rule"})


class LLMUnavailable(RuntimeError):
    """The model could not give a valid answer (error, timeout, malformed output, budget): fail closed."""


class Reasoner(Protocol):
    name: str

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T: ...


def telemetry_path(data_dir: Path) -> Path:
    """Where the seam appends its events when built from settings."""
    return Path(data_dir) / "telemetry" / "events.jsonl"
