"""Token and cost accounting for model calls, with per-cycle and per-day budgets that fail closed.

Every call's usage is appended to ``<data_dir>/llm/usage.jsonl`` (one fsynced line each), so the day's
spend survives restarts and is shared by every process writing the same file (each re-reads the tail
before checking). Before a call, ``check`` refuses it when the spend so far plus the call's worst case
(estimated input tokens + ``max_tokens`` of output) would pass either budget: a budget is a ceiling,
never a target to overshoot by one call. Days are UTC days.
Failure contract: ``check`` raises ``BudgetExceeded`` (an ``LLMUnavailable``: callers fail closed); an
unreadable ledger line is counted in ``corrupt_lines`` and logged, never fatal; a failed append raises.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from agents.llm_types import SEAM_FIELDS, LLMUnavailable
from trading.domain.models import utcnow
from trading.records.atomic import append_line
from trading.settings import LLMConfig

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.0   # conservative (over-)estimate of input tokens for the pre-call check


def output_limit(cfg: LLMConfig, role: str, schema: type[Any] | None = None) -> int:
    """The output token ceiling for one role: ``llm.max_tokens_by_role[role]`` when set, else sized from the
    schema (256 + 80 per scalar field + 700 per list field, at least ``llm.max_tokens``, at most 8192):
    a team report (a dozen lists) gets about 8k, a decision (scalars) the configured 1024."""
    if role in cfg.max_tokens_by_role:
        return int(cfg.max_tokens_by_role[role])
    if schema is None or not hasattr(schema, "model_fields"):
        return cfg.max_tokens
    est = 256
    for name, f in schema.model_fields.items():
        if name in SEAM_FIELDS:
            continue
        ann = str(f.annotation)
        est += 700 if ("list[" in ann or "dict[" in ann) else 80
    return max(cfg.max_tokens, min(8192, est))


def _is_cycle(link: str | None) -> bool:
    return not (link or "").startswith("review:")


class BudgetExceeded(LLMUnavailable):
    """A per-cycle or per-day LLM budget would be passed: no call is made."""


class LLMBudget:
    def __init__(self, path: Path | None, cfg: LLMConfig, clock: Callable[[], datetime] = utcnow) -> None:
        self.path = Path(path) if path is not None else None
        self.cfg = cfg
        self.clock = clock
        self.corrupt_lines = 0
        self._day_usd: dict[str, float] = defaultdict(float)
        self._cycle_usd: dict[str, float] = defaultdict(float)
        self._offset = 0
        self._lock = threading.Lock()

    @classmethod
    def for_data_dir(cls, data_dir: Path, cfg: LLMConfig) -> LLMBudget:
        return cls(Path(data_dir) / "llm" / "usage.jsonl", cfg)

    # -- pricing -----------------------------------------------------------------------------------
    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens / 1000.0 * self.cfg.usd_per_1k_input_tokens
                + output_tokens / 1000.0 * self.cfg.usd_per_1k_output_tokens)

    def worst_case(self, prompt_chars: int, max_output: int | None = None) -> float:
        """Upper estimate of one call: the whole prompt as input, the role's output ceiling as output."""
        return self.cost(int(prompt_chars / CHARS_PER_TOKEN) + 1, max_output or self.cfg.max_tokens)

    # -- persistence -------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Fold lines other processes (or earlier runs) appended since the last read."""
        if self.path is None or not self.path.exists():
            return
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1          # leave a partly written last line for the next read
        for n, raw in enumerate(data[:end].splitlines()):
            if not raw.strip():
                continue
            try:
                self._apply(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                self.corrupt_lines += 1
                log.error("llm usage ledger %s: unreadable line at byte %d (+%d): %s",
                          self.path, self._offset, n, exc)
        self._offset += end

    def _apply(self, e: dict[str, Any]) -> None:
        usd = float(e["cost_usd"])
        self._day_usd[str(e["day"])] += usd
        if e.get("trade_cycle_id"):
            self._cycle_usd[str(e["trade_cycle_id"])] += usd

    # -- budget ------------------------------------------------------------------------------------
    def spent_today(self) -> float:
        with self._lock:
            self._refresh()
            return self._day_usd[self.clock().date().isoformat()]

    def spent_cycle(self, cycle_id: str | None) -> float:
        with self._lock:
            self._refresh()
            return self._cycle_usd[cycle_id] if cycle_id else 0.0

    def check(self, cycle_id: str | None, estimate_usd: float = 0.0) -> None:
        """Raise ``BudgetExceeded`` if this call could pass the cycle's or the day's budget."""
        with self._lock:
            self._refresh()
            day = self._day_usd[self.clock().date().isoformat()]
            cycle = self._cycle_usd[cycle_id] if cycle_id else 0.0
        if day + estimate_usd > self.cfg.budget_usd_per_day + 1e-12:
            raise BudgetExceeded(
                f"daily LLM budget: spent {day:.4f} + next call up to {estimate_usd:.4f} > "
                f"{self.cfg.budget_usd_per_day:.4f} USD")
        # the per-cycle budget is an advisory cycle's; a review run ("review:<id>") has only the daily one
        if _is_cycle(cycle_id) and cycle + estimate_usd > self.cfg.budget_usd_per_cycle + 1e-12:
            raise BudgetExceeded(
                f"per-cycle LLM budget for {cycle_id}: spent {cycle:.4f} + next call up to "
                f"{estimate_usd:.4f} > "
                f"{self.cfg.budget_usd_per_cycle:.4f} USD")

    def record(self, cycle_id: str | None, role: str, model_id: str, input_tokens: int,
               output_tokens: int) -> float:
        """Record one call's usage (also a failed or invalid one: tokens were still spent)."""
        usd = self.cost(input_tokens, output_tokens)
        now = self.clock()
        entry = {"ts": now.isoformat(), "day": now.date().isoformat(), "trade_cycle_id": cycle_id,
                 "role": role, "model_id": model_id, "input_tokens": int(input_tokens),
                 "output_tokens": int(output_tokens), "cost_usd": round(usd, 8)}
        with self._lock:
            if self.path is not None:
                self._refresh()
                append_line(self.path, json.dumps(entry, sort_keys=True), fsync=True)
                # our own line is folded on the next refresh; skip past it only if nobody else wrote
                size = self.path.stat().st_size
                if size - self._offset == len(json.dumps(entry, sort_keys=True)) + 1:
                    self._offset = size
                    self._apply(entry)
            else:
                self._apply(entry)
        return usd
