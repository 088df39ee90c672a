"""Decision records: every model call written down, and a reasoner that replays them with no model.

``RecordingReasoner`` wraps a model reasoner (agents/llm.py builds it for every provider but offline) and
appends one JSON line per ``reason`` call to ``<data_dir>/llm/decisions.jsonl``: time, role, provider,
model, prompt template version (hash of the role's prompt), evidence hash, the validated output (or the
error), tokens, cost, latency, the grounding result (ungrounded numbers) and the link (the
``trade_cycle_id``, or ``review:<run_id>`` for a review). ``calls_for(path, link)`` reads what the model
said for one cycle or run.

``ReplayReasoner`` answers from such a file: the same role and evidence hash give the recorded output
(validated through the schema and the grounding check again), so a recorded run is a regression test
with no model; a call with no record raises ``LLMUnavailable`` (the caller falls back, as for an outage).

Failure contract: a record that cannot be written is logged with its link and counted
(``write_errors``), never allowed to fail the call it describes; unreadable lines are skipped and counted.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agents.grounding import ground
from agents.llm_types import LLMUnavailable, Reasoner, T
from agents.prompt_safety import to_json_data
from trading.domain.models import utcnow
from trading.records.atomic import append_line

log = logging.getLogger(__name__)


def records_path(data_dir: Path) -> Path:
    return Path(data_dir) / "llm" / "decisions.jsonl"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def evidence_hash(evidence: Mapping[str, Any]) -> str:
    return digest(to_json_data(dict(evidence)))


class RecordingReasoner:
    """A reasoner that writes a decision record for every call of the one it wraps."""

    def __init__(self, inner: Reasoner, path: Path | None, model_id: str = "") -> None:
        self.inner = inner
        self.name = inner.name
        self.path = path
        self.model_id = model_id
        self.write_errors = 0

    def __getattr__(self, item: str) -> Any:          # client, budget, cfg ... of the wrapped provider
        return getattr(self.inner, item)

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T:
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"ts": utcnow().isoformat(), "link": cycle_id, "role": role, "provider": self.name,
                               "model": self.model_id, "prompt_version": digest(prompt),
                               "evidence_hash": evidence_hash(evidence), "schema": schema.__name__}
        before = _usage(self.inner)
        try:
            out = self.inner.reason(role, prompt, evidence, schema, policy, cycle_id)
        except LLMUnavailable as exc:
            rec.update(status="unavailable", error=str(exc)[:500])
            raise
        else:
            rec.update(status="ok", output=out.model_dump(mode="json"),
                       ungrounded_numbers=list(getattr(out, "ungrounded_numbers", []) or []))
            return out
        finally:
            rec["latency_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            rec.update(_delta(before, _usage(self.inner)))
            self._write(rec)

    def _write(self, rec: dict[str, Any]) -> None:
        if self.path is None:
            return
        try:
            append_line(self.path, json.dumps(rec, sort_keys=True, default=str), fsync=True)
        except OSError as exc:
            self.write_errors += 1
            log.error("link %s role %s: decision record not written (%d so far): %s", rec.get("link"),
                      rec.get("role"), self.write_errors, exc)


def _usage(r: Any) -> dict[str, float]:
    """Running token and cost totals of a provider (its budget ledger's view of this process)."""
    return dict(getattr(r, "usage_totals", None) or {})


def _delta(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    return {k: round(b.get(k, 0) - a.get(k, 0), 8) for k in ("input_tokens", "output_tokens", "cost_usd")}


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    if not Path(path).is_file():
        return
    with Path(path).open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                yield json.loads(line)
            except ValueError:
                log.error("decision records %s: unreadable line %d skipped", path, n)


def calls_for(path: Path, link: str) -> list[dict[str, Any]]:
    """What the model said for one trade cycle (its id) or review (``review:<run_id>``)."""
    return [r for r in read_records(path) if r.get("link") == link]


class ReplayReasoner:
    """Answers from recorded calls: same role and evidence, same output (module doc)."""

    name = "replay"

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for r in records:
            if r.get("status") == "ok":
                self._by_key[(r["role"], r["evidence_hash"])] = r

    @classmethod
    def from_file(cls, path: Path) -> ReplayReasoner:
        return cls(list(read_records(path)))

    def reason(self, role: str, prompt: str, evidence: Mapping[str, Any], schema: type[T],
               policy: Callable[[Mapping[str, Any]], T], cycle_id: str | None = None) -> T:
        rec = self._by_key.get((role, evidence_hash(evidence)))
        if rec is None:
            raise LLMUnavailable(f"no recorded {role} answer for this evidence")
        try:
            out = schema.model_validate(rec["output"])
        except ValidationError as exc:
            raise LLMUnavailable(f"recorded {role} answer no longer matches {schema.__name__}: {exc}") from exc
        return ground(out, evidence, role, self.name, cycle_id, None)


__all__ = ["RecordingReasoner", "ReplayReasoner", "calls_for", "evidence_hash", "read_records", "records_path"]
