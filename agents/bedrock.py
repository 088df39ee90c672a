"""AWS Bedrock behind the LLM seam: Converse API, the output schema as a forced tool, fail closed.

One ``reason`` call = at most two ``converse`` requests: the first, and one repair if the tool input
does not validate against the pydantic schema (or no tool call came back). A second failure, any
client error after botocore's adaptive retries, a timeout or a budget stop raises ``LLMUnavailable``.
Each request's token use and cost go to the budget ledger and to an ``llm_call`` telemetry event.
Evidence reaches the model only as a quoted data block (agents/prompt_safety.py).
Failure contract: ``reason`` returns a validated schema instance or raises ``LLMUnavailable`` (its
subclass ``BudgetExceeded`` for a budget stop); it never returns partial or unvalidated output.
Built by ``agents.llm.get_reasoner``; this module never imports agents/llm.py.
"""
from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agents.grounding import ground
from agents.llm_budget import output_limit
from agents.llm_provider import Provider
from agents.llm_types import SEAM_FIELDS, LLMUnavailable
from agents.prompt_safety import SYSTEM_RULES, build_user_message
from trading.domain.reason_codes import ReasonCode
from trading.settings import LLMConfig

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)


def _inline_refs(node: Any, defs: Mapping[str, Any], depth: int = 0) -> Any:
    """Replace ``$ref`` to ``#/$defs/X`` by the definition: some model providers ignore $defs."""
    if depth > 20:
        raise ValueError("schema nesting too deep (recursive model?)")
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"].startswith("#/$defs/"):
            target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inline_refs({**target, **rest}, defs, depth + 1)
        return {k: _inline_refs(v, defs, depth) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs, depth) for v in node]
    return node


def tool_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The pydantic JSON schema as a self-contained tool input schema, without seam-owned fields."""
    js = schema.model_json_schema()
    js = _inline_refs(js, js.get("$defs", {}))
    props = js.get("properties", {})
    for f in SEAM_FIELDS:
        props.pop(f, None)
    if "required" in js:
        js["required"] = [r for r in js["required"] if r not in SEAM_FIELDS]
    js["type"] = "object"
    return js


def tool_name(role: str) -> str:
    """Bedrock tool names match [a-zA-Z0-9_-]{1,64}."""
    return (re.sub(r"[^A-Za-z0-9_-]", "_", role)[:50] or "role") + "_output"


def _errors_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors())


class BedrockReasoner(Provider):
    name = "bedrock"

    @staticmethod
    def make_client(cfg: LLMConfig) -> Any:
        import boto3

        return boto3.client("bedrock-runtime", config=make_client_config(cfg), endpoint_url=cfg.base_url or None)

    def _converse(self, role: str, cycle_id: str | None, attempt: int,
                  request: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        self.reserve(role, cycle_id, attempt, len(json.dumps(request, default=str)),
                     request.get("inferenceConfig", {}).get("maxTokens"))
        t0 = self._clock()
        try:
            resp = self.client.converse(**request)
        except (ClientError, BotoCoreError) as exc:
            ms = (self._clock() - t0) * 1000
            code, retries = type(exc).__name__, None
            if isinstance(exc, ClientError):
                code = exc.response.get("Error", {}).get("Code", "") or code
                retries = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
            # INFO: an outage is logged once at its start and end by agents.llm.OutageGate; telemetry has each call
            log.info("cycle %s role %s: bedrock converse failed (%s): %s", cycle_id, role, code, exc)
            self.emit(role, cycle_id, "error", [ReasonCode.LLM_UNAVAILABLE], attempt=attempt,
                       error_code=code, error=str(exc)[:500], latency_ms=round(ms, 1), retry_attempts=retries)
            raise LLMUnavailable(f"bedrock converse failed for {role}: {code}") from exc
        usage = resp.get("usage") or {}
        resp["_warden"] = {**self.charge(role, cycle_id, int(usage.get("inputTokens", 0)),
                                         int(usage.get("outputTokens", 0)), t0),
                           "retry_attempts": resp.get("ResponseMetadata", {}).get("RetryAttempts")}
        return resp

    def ping(self) -> None:
        ping(self.client, self.cfg)

    # -- the seam ----------------------------------------------------------------------------------
    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T:
        name = tool_name(role)
        doc = (schema.__doc__ or f"The {role} answer.").strip().splitlines()[0][:500]
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"text": build_user_message(prompt, evidence)}]}]
        base = {
            "modelId": self.cfg.model_id,
            "system": [{"text": SYSTEM_RULES}],
            "inferenceConfig": {"maxTokens": output_limit(self.cfg, role, schema), "temperature": 0.0},
            "toolConfig": {
                "tools": [{"toolSpec": {"name": name, "description": doc,
                                        "inputSchema": {"json": tool_schema(schema)}}}],
                "toolChoice": {"tool": {"name": name}},
            },
        }
        problem = ""
        for attempt in (1, 2):
            resp = self._converse(role, cycle_id, attempt, {**base, "messages": messages})
            meta = resp.pop("_warden")
            content = ((resp.get("output") or {}).get("message") or {}).get("content") or []
            use = next((c["toolUse"] for c in content
                        if "toolUse" in c and c["toolUse"].get("name") == name), None)
            stop = resp.get("stopReason")
            if use is None:
                problem = f"no call to tool {name} (stopReason={stop})"
            else:
                raw = use.get("input")
                if isinstance(raw, Mapping):
                    raw = {k: v for k, v in raw.items() if k not in SEAM_FIELDS}
                try:
                    result = schema.model_validate(raw)
                except ValidationError as exc:
                    problem = _errors_text(exc)
                else:
                    self.emit(role, cycle_id, "ok", attempt=attempt, stop_reason=stop, **meta)
                    return ground(result, evidence, role, self.name, cycle_id, self.events)
            log.warning("cycle %s role %s: bedrock answer %d invalid: %s", cycle_id, role, attempt, problem)
            self.emit(role, cycle_id, "invalid", [ReasonCode.LLM_UNAVAILABLE] if attempt == 2 else [],
                       attempt=attempt, stop_reason=stop, problem=problem[:1000], **meta)
            if attempt == 2:
                break
            # one repair: show the model what was wrong and ask for the tool call again
            messages.append({"role": "assistant", "content": content or [{"text": "(no answer)"}]})
            fix = (f"Your answer did not match the {name} schema: {problem}. "
                   f"Call {name} again with input that matches the schema exactly.")
            if use is not None and use.get("toolUseId"):
                messages.append({"role": "user", "content": [{"toolResult": {
                    "toolUseId": use["toolUseId"], "status": "error", "content": [{"text": fix}]}}]})
            else:
                messages.append({"role": "user", "content": [{"text": fix}]})
        raise LLMUnavailable(f"bedrock gave no valid {role} answer after one repair: {problem}")


def ping(client: Any, cfg: LLMConfig) -> None:
    """Preflight: one Converse call with one output token checks credentials, endpoint, region and model id."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        client.converse(modelId=cfg.model_id, messages=[{"role": "user", "content": [{"text": "ping"}]}],
                        inferenceConfig={"maxTokens": 1})
    except NoCredentialsError as exc:
        raise LLMUnavailable("no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID / "
                             "AWS_SECRET_ACCESS_KEY)") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "") or "ClientError"
        msg = exc.response.get("Error", {}).get("Message", "")
        raise LLMUnavailable(f"bedrock {cfg.region} model {cfg.model_id!r}: {code}: {msg[:200]}") from exc
    except BotoCoreError as exc:
        raise LLMUnavailable(f"bedrock {cfg.region}: {type(exc).__name__}: {exc}") from exc


def make_client_config(llm: LLMConfig) -> Any:
    """botocore Config: timeouts from settings and adaptive retries (client-side rate limiting on throttles).

    ``LLMConfig.max_attempts`` counts every attempt, the first included (like AWS_MAX_ATTEMPTS); botocore's
    own ``max_attempts`` key counts retries only, so it is passed as ``total_max_attempts``.
    """
    from botocore.config import Config

    return Config(region_name=llm.region, connect_timeout=llm.connect_timeout_s,
                  read_timeout=llm.read_timeout_s,
                  retries={"mode": "adaptive", "total_max_attempts": llm.max_attempts})
