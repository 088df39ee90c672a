"""Trade-cycle telemetry: a structured JSONL event log.

Every event carries UTC time, ``trade_cycle_id``, an event type, reason codes and a payload, so one
id follows signal -> advisory -> guard verdict -> order -> fill -> PnL.

Failure contract: ``emit`` never raises for a write that fails (full or read-only disk): the line is
not written (never half-written), the failure is counted in ``failures`` and handed to ``on_failure``
(the executor halts new entries on it), so the event log never takes the money path down. Opening the
log cuts a torn last line (a writer killed mid-line) and counts it in ``torn_tails``. ``read`` raises
pydantic's ValidationError on a line that is not an event.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from trading.domain.models import utcnow
from trading.domain.reason_codes import ReasonCode
from trading.records.atomic import append_line, repair_jsonl_tail

log = logging.getLogger(__name__)


class EventType(StrEnum):
    SIGNAL = "signal"
    ADVISORY = "advisory"
    GUARD_VERDICT = "guard_verdict"
    ORDER_SENT = "order_sent"
    ORDER_STATUS = "order_status"
    FILL = "fill"
    PNL = "pnl"
    TRADE_CLOSED = "trade_closed"
    OUTCOME = "outcome"
    RECONCILE = "reconcile"
    HALT = "halt"
    ERROR = "error"
    LLM_CALL = "llm_call"
    SESSION = "session"


class Event(BaseModel):
    ts: datetime = Field(default_factory=utcnow)
    trade_cycle_id: str | None
    event: str
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)


class EventLog:
    """Append-only JSONL; one line per event, written with a single O_APPEND write (all or nothing)."""

    def __init__(self, path: Path, fsync: bool = False,
                 on_failure: Callable[[Path, OSError], None] | None = None) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.on_failure = on_failure
        self.failures = 0
        self.last_error: OSError | None = None
        self.torn_tails = 0
        try:
            cut = repair_jsonl_tail(self.path)
        except OSError as exc:
            log.warning("event log %s: a torn last line could not be cut: %s", self.path, exc)
            cut = 0
        if cut:
            self.torn_tails += 1
            log.warning("event log %s: cut a torn last line (%d bytes) left by an interrupted writer", self.path, cut)

    def emit(self, event: EventType | str, trade_cycle_id: str | None, reason_codes: list[ReasonCode] | None = None,
             **payload: Any) -> Event:
        ev = Event(trade_cycle_id=trade_cycle_id, event=str(event), reason_codes=list(reason_codes or []),
                   payload=payload)
        try:
            append_line(self.path, json.dumps(ev.model_dump(mode="json"), separators=(",", ":"), default=str),
                        fsync=self.fsync)
        except OSError as exc:
            self.failures += 1
            self.last_error = exc
            if self.on_failure is not None:
                self.on_failure(self.path, exc)
            elif self.failures == 1:
                log.error("event log %s unwritable (trade %s): %s", self.path, trade_cycle_id, exc)
        return ev

    def read(self) -> Iterator[Event]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield Event.model_validate_json(line)

    def for_cycle(self, trade_cycle_id: str) -> list[Event]:
        return [e for e in self.read() if e.trade_cycle_id == trade_cycle_id]
