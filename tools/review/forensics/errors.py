"""Error signatures: mask an exception text into a signature, name its likely cause, list them per source.

Pure functions over strings and a ``Forensics``; they never raise on odd text (unknown text has no
known cause: ``known_cause`` returns None).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.review.forensics.models import Forensics

# Known exception signatures -> (likely cause, fix). Matching is on lower-cased text.
KNOWN_ERRORS: list[tuple[str, str, str]] = [
    ("readonly database", "the process cannot write the SQLite journal: the file or its folder is read-only for "
     "its user (ownership, permissions or a read-only mount)",
     "fix ownership/permissions of trade_journal.db and its folder; probe a write at start and halt entries "
     "when the journal is unwritable"),
    ("database is locked", "another process holds the write lock and no busy timeout is set",
     "set a busy timeout, use WAL mode and a single writer"),
    ("disk i/o error", "the disk failed or filled up", "alert on disk space; halt entries on write failure"),
    ("no space left", "the disk is full", "alert on disk space; rotate logs"),
    ("no such table", "the resolver and the bot disagree on the schema", "versioned schema migrations"),
    ("no such column", "the resolver and the bot disagree on the schema", "versioned schema migrations"),
    ("timed out", "a network call timed out", "retry with backoff and alert after N failures"),
    ("connection", "a network connection failed", "retry with backoff and alert after N failures"),
]


def normalize_error(text: str) -> str:
    """An error signature: the exception text with ids, numbers and quoted values masked."""
    t = re.sub(r"0x[0-9a-fA-F]+", "<hex>", text.strip())
    t = re.sub(r"'[^']*'|\"[^\"]*\"", "<str>", t)
    t = re.sub(r"\b\d+(\.\d+)?\b", "<n>", t)
    return t[:240]



def known_cause(text: str) -> tuple[str, str] | None:
    """(likely cause, fix) of the first known signature found in ``text``, else None."""
    low = text.lower()
    for needle, cause, fix in KNOWN_ERRORS:
        if needle in low:
            return cause, fix
    return None


def error_rows(fx: Forensics) -> list[dict[str, Any]]:
    rows = []
    for sig in sorted(fx.errors.values(), key=lambda s: -s.count):
        kc = known_cause(sig.example)
        rows.append({"source": sig.source, "signature": sig.signature, "count": sig.count,
                     "first": sig.first, "last": sig.last, "swallowed": sig.swallowed,
                     "tracebacks": sig.tracebacks, "trades_hit": len(sig.trade_ids),
                     "levels": dict(sig.levels), "likely_cause": kc[0] if kc else "", "fix": kc[1] if kc else "",
                     "refs": sig.refs, "trade_ids": sorted(sig.trade_ids, key=lambda x: (len(x), x))})
    return rows

