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
    dropped_continuation_lines: int = 0                      # beyond the per-record cap (memory bound)
    field_errors: Counter = field(default_factory=Counter)   # event -> lines whose fields failed to cast
    bad_timestamps: int = 0                                  # record lines whose ts did not parse
    out_of_order: int = 0                                    # records timed before the latest one seen
    duplicate_records: int = 0                               # order events repeated verbatim (dropped)
    # noise lines counted as one total, not per rule (a reader opened with noise_by_rule=False)
    noise_unsplit: int = 0
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes_read": self.bytes_read, "lines": self.lines, "matched": dict(self.matched),
            "unknown": {f"{lg}|{lv}": n for (lg, lv), n in self.unknown.items()},
            "continuation_lines": self.continuation_lines,
            "orphan_continuation_lines": self.orphan_continuation_lines,
            "skipped_continuation_lines": self.skipped_continuation_lines,
            "dropped_continuation_lines": self.dropped_continuation_lines,
            "field_errors": dict(self.field_errors), "bad_timestamps": self.bad_timestamps,
            "format": self.format, "out_of_order": self.out_of_order,
            "duplicate_records": self.duplicate_records, "summary": self.summary(),
            # only from a reader opened with noise_by_rule=False (otherwise noise is in "matched" by rule)
            **({"noise_unsplit": self.noise_unsplit} if self.noise_unsplit else {}),
        }

    def summary(self) -> dict[str, Any]:
        """Lines read / recognised / unknown / unreadable, and the share understood (0..1)."""
        recognised = sum(self.matched.values()) + self.noise_unsplit
        unknown = sum(self.unknown.values())
        unreadable = self.bad_timestamps + sum(self.field_errors.values())
        records = recognised + unknown + unreadable
        return {"lines_read": self.lines, "recognised": recognised, "unknown": unknown, "unreadable": unreadable,
                "continuation": self.continuation_lines + self.orphan_continuation_lines,
                "understood_share": round(recognised / records, 4) if records else 0.0}

    def warnings(self, threshold: float = 0.8) -> list[str]:
        """Plain-language warnings for a report: little understood, bad lines, time going backwards."""
        s = self.summary()
        out: list[str] = []
        if s["recognised"] == 0:
            out.append(f"NOTHING in this log was recognised as format {self.format!r} ({self.lines} lines read)")
        elif s["understood_share"] < threshold:
            top = ", ".join(f"{lg} {lv} x{n}" for (lg, lv), n in self.unknown.most_common(3))
            out.append(f"only {s['understood_share']:.0%} of the records were understood "
                       f"({s['unknown']} unknown; most from: {top})")
        if s["unreadable"]:
            out.append(f"{s['unreadable']} lines could not be read (bad values or timestamps)")
        if self.out_of_order:
            out.append(f"{self.out_of_order} records have a timestamp earlier than a record before them")
        if self.duplicate_records:
            out.append(f"{self.duplicate_records} duplicated order/fill lines were ignored")
        if self.dropped_continuation_lines:
            out.append(f"{self.dropped_continuation_lines} continuation lines past the per-record cap were counted, "
                       "not kept")
        return out
