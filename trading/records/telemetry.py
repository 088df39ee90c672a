"""Trade-cycle telemetry: a structured JSONL event log.

Every event carries UTC time, ``trade_cycle_id``, an event type, reason codes and a payload, so one
id follows signal -> advisory -> guard verdict -> order -> fill -> PnL.

Failure contract: ``emit`` raises OSError when the line cannot be appended (never drops it silently);
``read`` raises pydantic's ValidationError on a line that is not an event.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from trading.domain.models import utcnow
from trading.domain.reason_codes import ReasonCode
from trading.records.atomic import append_line


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
    """Append-only JSONL; one line per event, written with a single O_APPEND write."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync

    def emit(self, event: EventType | str, trade_cycle_id: str | None, reason_codes: list[ReasonCode] | None = None,
             **payload: Any) -> Event:
        ev = Event(trade_cycle_id=trade_cycle_id, event=str(event), reason_codes=list(reason_codes or []),
                   payload=payload)
        append_line(self.path, json.dumps(ev.model_dump(mode="json"), separators=(",", ":"), default=str),
                    fsync=self.fsync)
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
