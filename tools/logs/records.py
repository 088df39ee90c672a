"""What the log readers yield: one typed record per matched line, with its continuation lines.

Plain data classes: nothing here raises (``ts_utc`` raises ZoneInfoNotFoundError only for a zone the
reader already rejected).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class LogRecord:
    ts: datetime                   # naive, in the format's zone (see ``tz``)
    tz: str                        # IANA zone the timestamp is in, e.g. America/Chicago
    logger: str
    level: str
    event: str                     # rule name, e.g. "filled"; "unknown" never yielded unless asked
    fields: dict[str, Any]         # typed per the rule file
    message: str
    line_no: int                   # 1-based line of the record's first line
    source: str = ""               # file path
    extra: list[str] = field(default_factory=list)   # continuation lines (tracebacks)

    @property
    def ts_utc(self) -> datetime:
        from zoneinfo import ZoneInfo

        return self.ts.replace(tzinfo=ZoneInfo(self.tz)).astimezone(ZoneInfo("UTC"))


@dataclass(slots=True)
class ReadStats:
    bytes_read: int = 0
    lines: int = 0
    matched: Counter = field(default_factory=Counter)        # event -> count
    unknown: Counter = field(default_factory=Counter)        # (logger, level) -> count
    continuation_lines: int = 0
    orphan_continuation_lines: int = 0                       # before any record
    # continuation lines whose record is not yielded (an unknown or noise line above them)
    skipped_continuation_lines: int = 0
    field_errors: Counter = field(default_factory=Counter)   # event -> lines whose fields failed to cast
    bad_timestamps: int = 0                                  # record lines whose ts did not parse
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_read": self.bytes_read, "lines": self.lines, "matched": dict(self.matched),
            "unknown": {f"{lg}|{lv}": n for (lg, lv), n in self.unknown.items()},
            "continuation_lines": self.continuation_lines,
            "orphan_continuation_lines": self.orphan_continuation_lines,
            "skipped_continuation_lines": self.skipped_continuation_lines,
            "field_errors": dict(self.field_errors), "bad_timestamps": self.bad_timestamps,
            "format": self.format,
        }
