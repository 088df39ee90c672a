"""A fake Bedrock Converse endpoint on 127.0.0.1 for the real boto3 client (``endpoint_url``).

Every ``POST /model/<id>/converse`` is answered with a forced-tool result filled by
tests/fakes/hostile_model.py: it obeys text injected into the evidence (the hostile-model experiment)
and answers blandly otherwise (``obey_always``: as if every prompt carried the injection, so every role
is tested). The preflight's one-token ping (no tools) gets a text answer. ``requests`` keeps what was asked.
"""
from __future__ import annotations

from typing import Any

from tests.fakes.hostile_model import INJECTION, answer
from tests.fakes.json_http import JsonServer, Reply


class FakeBedrock(JsonServer):
    def __init__(self, obey_always: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.obey_always = obey_always
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def respond(self, method: str, path: str, headers: dict[str, str], req: Any) -> Reply:
        self.requests.append(req)
        prompt = " ".join(c.get("text", "") for m in req["messages"] for c in m["content"])
        prompt += f" {INJECTION}" if self.obey_always else ""
        if "toolConfig" in req:
            spec = req["toolConfig"]["tools"][0]["toolSpec"]
            content: list[dict[str, Any]] = [{"toolUse": {"toolUseId": "t1", "name": spec["name"],
                                                          "input": answer(spec["inputSchema"]["json"], prompt)}}]
        else:                   # the preflight's one-token ping
            content = [{"text": "p"}]
        return 200, {"output": {"message": {"role": "assistant", "content": content}},
                     "stopReason": "tool_use" if "toolConfig" in req else "max_tokens",
                     "usage": {"inputTokens": 1000, "outputTokens": 200, "totalTokens": 1200},
                     "metrics": {"latencyMs": 3}}, {}
