"""Any OpenAI-compatible endpoint behind the LLM seam (OpenAI, Ollama, vLLM, LM Studio, llama.cpp server).

Uses the maintained ``openai`` client: ``base_url`` and ``model_id`` from ``[llm]`` settings (or
``WARDEN_LLM__BASE_URL`` / ``WARDEN_LLM__MODEL_ID``), the key from the variable ``llm.api_key_env`` names
(a local server needs none). Structured output comes either through ``response_format`` JSON schema
(``llm.structured_output = "json_schema"``, the default) or a forced function call (``"tools"``); the
model families that support each are tabled in docs/llm.md.

Same contract as agents/bedrock.py: one ``reason`` call = at most two requests (the first, and one repair
when the answer is not JSON or breaks the schema); the client's own retries (``llm.max_attempts`` in
all, honouring ``Retry-After`` on 429 and 5xx) and timeouts (``llm.connect_timeout_s`` /
``read_timeout_s``); the budget is checked before and charged after each request; every request is an
``llm_call`` telemetry event. Failure contract: ``reason`` returns a validated schema instance or raises
``LLMUnavailable`` (``BudgetExceeded`` for a budget stop); never partial or unvalidated output.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agents.bedrock import tool_name, tool_schema
from agents.grounding import ground
from agents.llm_budget import output_limit
from agents.llm_provider import Provider
from agents.llm_types import SEAM_FIELDS, LLMUnavailable
from agents.prompt_safety import SYSTEM_RULES, build_user_message
from trading.domain.reason_codes import ReasonCode
from trading.settings import LLMConfig

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
LOCAL_KEY = "not-needed"          # Ollama, vLLM, LM Studio and llama.cpp accept any key


def make_client(cfg: LLMConfig) -> Any:
    """The ``openai.OpenAI`` client for ``cfg``: base URL, key, timeouts and retries from settings."""
    import openai

    return openai.OpenAI(base_url=cfg.base_url or None, api_key=os.environ.get(cfg.api_key_env) or LOCAL_KEY,
                         timeout=openai.Timeout(cfg.read_timeout_s, connect=cfg.connect_timeout_s),
                         max_retries=max(0, cfg.max_attempts - 1))


class OpenAIReasoner(Provider):
    name = "openai"

    @staticmethod
    def make_client(cfg: LLMConfig) -> Any:
        return make_client(cfg)

    def _create(self, role: str, cycle_id: str | None, attempt: int, request: dict[str, Any]) -> Any:
        import openai

        self.reserve(role, cycle_id, attempt, len(json.dumps(request, default=str)), request.get("max_tokens"))
        t0 = self._clock()
        try:
            resp = self.client.chat.completions.create(**request)
        except openai.APIError as exc:
            ms = (self._clock() - t0) * 1000
            code = type(exc).__name__ + (f" {exc.status_code}" if isinstance(exc, openai.APIStatusError) else "")
            # INFO: an outage is logged once at its start and end by agents.llm.OutageGate; telemetry has each call
            log.info("cycle %s role %s: openai-compatible call failed (%s): %s", cycle_id, role, code, exc)
            self.emit(role, cycle_id, "error", [ReasonCode.LLM_UNAVAILABLE], attempt=attempt, error_code=code,
                       error=str(exc)[:500], latency_ms=round(ms, 1))
            raise LLMUnavailable(f"openai-compatible call failed for {role}: {code}") from exc
        usage = getattr(resp, "usage", None)
        resp._warden = self.charge(role, cycle_id, int(getattr(usage, "prompt_tokens", 0) or 0),
                                   int(getattr(usage, "completion_tokens", 0) or 0), t0)
        return resp

    def _structured(self, role: str, schema: type[BaseModel]) -> dict[str, Any]:
        name, js = tool_name(role), tool_schema(schema)
        doc = (schema.__doc__ or f"The {role} answer.").strip().splitlines()[0][:500]
        if self.cfg.structured_output == "tools":
            return {"tools": [{"type": "function", "function": {"name": name, "description": doc, "parameters": js}}],
                    "tool_choice": {"type": "function", "function": {"name": name}}}
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "description": doc, "schema": js, "strict": False}}}

    @staticmethod
    def _answer_text(resp: Any) -> tuple[str | None, str]:
        """The raw JSON text of the answer (tool call arguments or message content) and the finish reason."""
        choice = (getattr(resp, "choices", None) or [None])[0]
        if choice is None:
            return None, "no_choices"
        msg = choice.message
        calls = getattr(msg, "tool_calls", None) or []
        if calls:
            return calls[0].function.arguments, str(choice.finish_reason)
        return getattr(msg, "content", None), str(choice.finish_reason)

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_RULES + " Answer with one JSON object matching the schema."},
            {"role": "user", "content": build_user_message(prompt, evidence)}]
        base = {"model": self.cfg.model_id, "temperature": 0.0, "max_tokens": output_limit(self.cfg, role, schema),
                **self._structured(role, schema)}
        problem = ""
        for attempt in (1, 2):
            resp = self._create(role, cycle_id, attempt, {**base, "messages": messages})
            meta = resp._warden
            raw, stop = self._answer_text(resp)
            if not raw:
                problem = f"no answer (finish_reason={stop})"
            else:
                try:
                    data = json.loads(raw)
                    if isinstance(data, dict):
                        data = {k: v for k, v in data.items() if k not in SEAM_FIELDS}
                    result = schema.model_validate(data)
                except json.JSONDecodeError as exc:
                    problem = f"not JSON: {exc}"
                except ValidationError as exc:
                    problem = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                                        for e in exc.errors())
                else:
                    self.emit(role, cycle_id, "ok", attempt=attempt, stop_reason=stop, **meta)
                    return ground(result, evidence, role, self.name, cycle_id, self.events)
            log.warning("cycle %s role %s: openai-compatible answer %d invalid: %s", cycle_id, role, attempt,
                        problem[:300])
            self.emit(role, cycle_id, "invalid", [ReasonCode.LLM_UNAVAILABLE] if attempt == 2 else [],
                       attempt=attempt, stop_reason=stop, problem=problem[:1000], **meta)
            if attempt == 2:
                break
            messages.append({"role": "assistant", "content": (raw or "(no answer)")[:4000]})
            messages.append({"role": "user", "content": f"Your answer did not match the schema: {problem[:1000]}. "
                                                        "Answer again with one JSON object that matches it exactly."})
        raise LLMUnavailable(f"openai-compatible model gave no valid {role} answer after one repair: {problem}")

    def ping(self) -> None:
        """Preflight: the endpoint answers, the key is accepted and the model id exists (agents/llm.py)."""
        import openai

        try:
            ids = [m.id for m in self.client.models.list()]
        except openai.NotFoundError:
            ids = []        # some servers have no /models: one 1-token completion checks the model instead
        except openai.APIError as exc:
            raise LLMUnavailable(_why(exc, self.cfg)) from exc
        if ids and self.cfg.model_id not in ids:
            raise LLMUnavailable(f"model {self.cfg.model_id!r} is not served at {self.cfg.base_url or 'the API'} "
                                 f"(it serves: {', '.join(ids[:8])})")
        if not ids:
            try:
                self.client.chat.completions.create(model=self.cfg.model_id, max_tokens=1,
                                                    messages=[{"role": "user", "content": "ping"}])
            except openai.APIError as exc:
                raise LLMUnavailable(_why(exc, self.cfg)) from exc


def _why(exc: Exception, cfg: LLMConfig) -> str:
    import openai

    where = cfg.base_url or "api.openai.com"
    if isinstance(exc, openai.AuthenticationError):
        return f"the key in ${cfg.api_key_env} was refused by {where}"
    if isinstance(exc, openai.NotFoundError):
        return f"model {cfg.model_id!r} not found at {where}"
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return f"cannot reach {where} ({type(exc).__name__})"
    return f"{where}: {type(exc).__name__}: {str(exc)[:200]}"
