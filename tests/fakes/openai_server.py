"""A fake OpenAI-compatible server on 127.0.0.1 for the real ``openai`` client (chat completions, models).

``FakeOpenAI(plan)``: each chat request takes the next step of ``plan`` (the last one repeats):
``("ok", obj)`` JSON content; ``("tool", obj)`` a tool call; ``"malformed"`` content that is not JSON;
``("schema", obj)`` JSON that breaks the schema; ``("429", seconds)`` a rate limit with Retry-After;
``("slow", seconds)`` sleep, then answer ok; ``"hostile"`` what tests/fakes/hostile_model.py answers;
``("status", code)`` an error status. Requests are kept in ``requests``; ``models`` is what /models lists.
"""
from __future__ import annotations

import json
import time
from typing import Any

from tests.fakes.hostile_model import answer
from tests.fakes.json_http import JsonServer, Reply

OK = {"action": "WAIT", "confidence": 0.5, "rationale": "ok"}


def _schema_of(req: dict[str, Any]) -> dict[str, Any]:
    rf = req.get("response_format") or {}
    if rf.get("type") == "json_schema":
        return rf["json_schema"]["schema"]
    tools = req.get("tools") or []
    return tools[0]["function"]["parameters"] if tools else {}


def _completion(req: dict[str, Any], content: str, tin: int = 900, tout: int = 60) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    finish = "stop"
    if req.get("tools"):
        name = req["tools"][0]["function"]["name"]
        msg = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": content}}]}
        finish = "tool_calls"
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": req.get("model", "m"),
            "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}}


class FakeOpenAI(JsonServer):
    def __init__(self, plan: list[Any] | None = None, models: tuple[str, ...] = ("test-model",),
                 key: str | None = None) -> None:
        self.plan = list(plan or [("ok", OK)])
        self.models = models
        self.key = key
        self.requests: list[dict[str, Any]] = []
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def respond(self, method: str, path: str, headers: dict[str, str], req: Any) -> Reply:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization")
        if self.key and auth != f"Bearer {self.key}":
            return 401, {"error": {"message": "bad key", "type": "invalid_request_error"}}, {}
        if method == "GET":
            if path.rstrip("/").endswith("/models"):
                return 200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                                                        for m in self.models]}, {}
            return 404, {"error": {"message": "not found"}}, {}
        self.requests.append(req)
        step = self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]
        kind, arg = (step, None) if isinstance(step, str) else step
        if kind == "slow":
            time.sleep(float(arg))
            kind, arg = "ok", OK
        if kind == "429":
            return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"retry-after": str(arg)}
        if kind == "status":
            return int(arg), {"error": {"message": f"status {arg}"}}, {}
        if kind == "malformed":
            return 200, _completion(req, '{"action": "WAIT", "confidence": '), {}
        if kind == "hostile":
            prompt = " ".join(str(m.get("content")) for m in req.get("messages", []))
            return 200, _completion(req, json.dumps(answer(_schema_of(req), prompt))), {}
        return 200, _completion(req, json.dumps(arg)), {}     # "ok", "tool", "schema": the test's object
