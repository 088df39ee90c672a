"""Reading risk-ledger lines strictly: one JSON object per line, every number finite, or the line is corrupt.

Python's ``json`` accepts ``NaN`` and ``Infinity``; a ledger line carrying one (or a torn write, a bad
type, an unparseable time) is *corrupt*, never a number: ``read_lines`` returns it as a ``BadLine``
naming the file and line, with a digest of its text so an operator's ``repair`` entry can acknowledge
exactly that line (and no other written later at the same place).

Failure contract: ``read_lines`` raises only OSError (the file cannot be read); everything wrong inside a
line is reported as a ``BadLine``, never raised and never skipped silently.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

# numeric fields per entry type: present ones must be finite (equity/peak also > 0 where noted)
NUMERIC = {"equity": ("equity", "peak"), "peak_reset": ("new_peak", "old_peak"), "outcome": ("pnl",),
           "halt_latched": ("equity", "peak", "drawdown_pct", "max_drawdown_pct")}
REQUIRED = {"equity": ("equity",), "peak_reset": ("new_peak",), "outcome": ("trade_id", "pnl"),
            "entry": ("trade_id",), "entry_void": ("trade_id",), "halt": ("code",), "halt_latched": ("code",)}


@dataclass(frozen=True)
class BadLine:
    path: Path
    line: int
    error: str
    digest: str          # sha256 of the raw line (without the newline), for a repair to acknowledge it
    text: str            # the raw text, cut to 200 characters (shown escaped by whoever prints it)

    def describe(self) -> str:
        return f"{self.path.name}:{self.line}: line {self.line} unreadable ({self.error})"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.rstrip("\n").encode("utf-8", "surrogateescape")).hexdigest()


def _no_constants(tok: str) -> Any:
    raise ValueError(f"non-finite number {tok}")


def parse_entry(raw: str) -> dict[str, Any]:
    """One ledger entry, validated; ValueError saying what is wrong."""
    e = json.loads(raw, parse_constant=_no_constants)
    if not isinstance(e, dict):
        raise ValueError("not a JSON object")
    kind = e.get("type")
    if not isinstance(kind, str):
        raise ValueError("no entry type")
    ts = e.get("ts")
    if not isinstance(ts, str):
        raise ValueError("no timestamp")
    if datetime.fromisoformat(ts).tzinfo is None:
        raise ValueError(f"timestamp {ts!r} has no time zone")
    for k in REQUIRED.get(kind, ()):
        if e.get(k) is None:
            raise ValueError(f"{kind} entry without {k}")
    for k in NUMERIC.get(kind, ()):
        v = e.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{k} is not a finite number: {v!r}")
    if kind == "peak_reset" and e["new_peak"] <= 0:
        raise ValueError(f"new_peak must be > 0, got {e['new_peak']!r}")
    return e


def read_lines(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[BadLine]]:
    """(line number, entry) for every good line and a ``BadLine`` for every other non-blank one."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[BadLine] = []
    if not path.exists():
        return good, bad
    with path.open(encoding="utf-8", errors="surrogateescape") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                good.append((n, parse_entry(raw)))
            except (ValueError, TypeError, KeyError) as exc:
                bad.append(BadLine(path, n, f"{type(exc).__name__}: {exc}"[:200], digest(raw),
                                   raw.rstrip("\n")[:200]))
    return good, bad
