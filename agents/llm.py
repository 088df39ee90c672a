"""The one LLM seam. Every agent reasons through ``Reasoner.reason``; nothing else talks to a model.

An agent hands over its role, its prompt, the tool evidence (numbers computed by tools) and a pydantic
output schema, plus its ``policy``: the explicit rules the offline reasoner applies to the same
evidence. The result is always a validated instance of the schema, or ``LLMUnavailable`` (fail closed);
an exception in the offline policy itself is a code error and propagates unchanged (logged with its
traceback, INTERNAL_ERROR in telemetry), never an ``LLMUnavailable``; ``get_reasoner`` raises
``ValueError`` for an unknown kind.

- ``OfflineReasoner`` (default): deterministic, no network; runs the role's documented policy.
- ``BedrockReasoner``: AWS Bedrock Converse with the schema as a forced tool (see agents/bedrock.py).
- ``OpenAIReasoner``: any OpenAI-compatible endpoint (agents/openai_compat.py; Ollama, vLLM, LM Studio ...).
- ``get_reasoner``: the one factory choosing between them (boto3 / openai imported only when asked for);
  model providers come wrapped in ``OutageGate`` (an outage logged once at its start and once at its end)
  and agents/llm_records.py's ``RecordingReasoner`` (a decision record per call).
- ``preflight(settings)``: one cheap call that checks credentials, endpoint and model id before a run.

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
from trading.domain.models import utcnow
from trading.domain.reason_codes import ReasonCode
from trading.records.telemetry import EventLog, EventType

__all__ = ["GROUNDED_FIELDS", "SEAM_FIELDS", "LLMUnavailable", "OfflineReasoner", "OutageGate", "Policy",
           "PreflightFailed", "Reasoner", "get_reasoner", "ground", "preflight", "rationale_flags",
           "telemetry_path"]

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
            # the offline rules are code: an exception in them is a bug (INTERNAL_ERROR, traceback logged),
            # never relabelled a model outage; it propagates, and the caller fails closed (issue 10)
            log.exception("cycle %s role %s: offline policy failed (a code error, not a model outage)",
                          cycle_id, role)
            if self.events is not None:
                self.events.emit(EventType.LLM_CALL, cycle_id, [ReasonCode.INTERNAL_ERROR], role=role,
                                 reasoner=self.name, status="policy_error",
                                 error=f"{type(exc).__name__}: {exc}")
            raise
        return ground(result, evidence, role, self.name, cycle_id, self.events)


def rationale_flags(text: str, evidence: Mapping[str, Any]) -> list[str]:
    """Numbers in ``text`` that appear nowhere in ``evidence``."""
    return ungrounded_numbers(text, evidence)


MODEL_KINDS = ("bedrock", "openai")


def get_reasoner(kind: str = "offline", settings: Any = None) -> Reasoner:
    """``offline``, ``bedrock``, ``openai`` (any OpenAI-compatible endpoint) or ``replay`` (recorded calls).

    Settings come from ``trading.settings.Settings.llm``; with settings, the seam's telemetry goes to
    ``telemetry_path(settings.data_dir)``. A model provider comes wrapped: its outages are logged once
    (``OutageGate``) and every call is written as a decision record (agents/llm_records.py).
    """
    kind = str(getattr(kind, "value", kind))
    if kind == "offline":
        events = EventLog(telemetry_path(settings.data_dir)) if settings is not None else None
        return OfflineReasoner(events)
    if kind == "replay":
        from agents.llm_records import ReplayReasoner, records_path

        return ReplayReasoner.from_file(records_path(settings.data_dir))
    inner: Any
    if kind == "bedrock":
        from agents.bedrock import BedrockReasoner  # boto3 only when asked for

        inner = BedrockReasoner.from_settings(settings)
    elif kind == "openai":
        from agents.openai_compat import OpenAIReasoner  # the openai client only when asked for

        inner = OpenAIReasoner.from_settings(settings)
    else:
        raise ValueError(f"unknown reasoner {kind!r}; expected offline, bedrock, openai or replay")
    from agents.llm_records import RecordingReasoner, records_path

    path = records_path(settings.data_dir) if settings is not None else None
    return RecordingReasoner(OutageGate(inner), path, getattr(inner.cfg, "model_id", ""))


class OutageGate:
    """Logs a model outage once when it starts and once when it ends, with the number of cycles (or review
    calls) it blocked, instead of an ERROR per signal. The state is per provider and model, process-wide."""

    _state: dict[tuple[str, str], dict[str, Any]] = {}

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self._key = (inner.name, getattr(getattr(inner, "cfg", None), "model_id", ""))

    def __getattr__(self, item: str) -> Any:
        return getattr(self.inner, item)

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T:
        st = self._state.setdefault(self._key, {"down": False, "blocked": set(), "since": None})
        try:
            out = self.inner.reason(role, prompt, evidence, schema, policy, cycle_id)
        except LLMUnavailable as exc:
            if not st["down"]:
                st.update(down=True, since=utcnow(), blocked=set())
                log.error("model %s/%s unavailable from %s (cycle %s, role %s): %s; advice falls back until it "
                          "answers again", self._key[0], self._key[1], st["since"].isoformat(timespec="seconds"),
                          cycle_id, role, exc)
            st["blocked"].add(cycle_id or f"call-{len(st['blocked'])}")
            raise
        if st["down"]:
            log.warning("model %s/%s answering again; the outage since %s blocked %d cycle(s)", self._key[0],
                        self._key[1], st["since"].isoformat(timespec="seconds"), len(st["blocked"]))
            st.update(down=False, blocked=set(), since=None)
        return out


class PreflightFailed(RuntimeError):
    """The configured model cannot be used: one line saying why (the CLI exits 2)."""


def preflight(settings: Any, kind: str | None = None) -> None:
    """One cheap call before a loop, review or chat starts with a model: credentials, endpoint, model id.

    ``offline`` and ``replay`` need nothing. Raises ``PreflightFailed`` with one line; never spends more
    than one token of output.
    """
    kind = str(getattr(kind, "value", kind) or settings.llm.provider)
    if kind in ("offline", "replay"):
        return
    try:
        r: Any = get_reasoner(kind, settings)
        r.ping()
    except LLMUnavailable as exc:
        raise PreflightFailed(f"--llm {kind}: {exc}") from exc
    except ImportError as exc:
        raise PreflightFailed(f"--llm {kind}: client library missing ({exc.name}); see docs/llm.md") from exc
