"""Numeric grounding: every number an agent writes must come from the tool evidence it was given.

A number in the text is grounded when some evidence number ``y`` (or ``100*y`` / ``y/100``: 0.62 may be
written as 62%) is within 0.5% of it in magnitude, or within 0.005 absolutely (rounding: 6890.5 may
be written 6,890.50; -1700 may be written "lost $1,700"). Matching is on magnitudes, so a sign the
prose expresses in words is not flagged.

``ground`` applies the check to a reasoner's validated result (every provider calls it). Failure contract:
nothing here raises on odd input: unparsable tokens and non-finite values are skipped, and ungrounded
numbers are returned (and written to the result's ``ungrounded_numbers`` / ``reason_codes`` and an
``llm_call`` event), never dropped silently.
"""
from __future__ import annotations

import bisect
import logging
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from agents.llm_types import GROUNDED_FIELDS, SEAM_FIELDS, T
from trading.domain.reason_codes import ReasonCode
from trading.records.telemetry import EventLog, EventType

log = logging.getLogger(__name__)

_NUM = re.compile(r"(?<![\w.])[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?%?")
REL_TOL = 0.005
ABS_TOL = 0.005 + 1e-9       # 0.875 written 0.88 is exactly on the edge: float noise must not flag it


def _collect(obj: Any, nums: set[float]) -> None:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            for t in _NUM.findall(o):
                nums.add(_parse(t))
        elif isinstance(o, bool) or o is None:
            continue
        elif isinstance(o, (int, float)):
            nums.add(float(o))
        elif isinstance(o, Mapping):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
        elif hasattr(o, "model_dump"):
            stack.append(o.model_dump(mode="json"))


def _parse(tok: str) -> float:
    return float(tok.replace("$", "").replace(",", "").rstrip("%"))


def evidence_numbers(evidence: Any) -> set[float]:
    nums: set[float] = set()
    _collect(evidence, nums)
    return nums


class NumberPool:
    """The evidence's numbers (and their x100 / /100 forms) as a sorted list of magnitudes."""

    def __init__(self, evidence: Any, allowed: Iterable[float] = (0, 1, 100)) -> None:
        base = evidence_numbers(evidence) | {float(a) for a in allowed}
        cands = {abs(c) for y in base for c in (y, y * 100.0, y / 100.0)}
        self._sorted = sorted(c for c in cands if c == c)      # drop NaN

    def grounded(self, x: float) -> bool:
        ax = abs(x)
        s = self._sorted
        i = bisect.bisect_left(s, ax)
        # tolerance grows with the candidate; candidates near ax are the only ones that can match
        for j in range(i - 1, -1, -1):
            c = s[j]
            if ax - c > max(REL_TOL * c, ABS_TOL):
                break
            return True
        for j in range(i, len(s)):
            c = s[j]
            if c - ax <= max(REL_TOL * c, ABS_TOL):
                return True
            if c * (1 - REL_TOL) > ax + ABS_TOL:
                break
        return False


def ungrounded_numbers(text: str, evidence: Any, allowed: Iterable[float] = (0, 1, 100),
                       pool: NumberPool | None = None) -> list[str]:
    """Tokens of ``text`` whose value (within rounding) is not in the evidence."""
    if not text:
        return []
    toks = _NUM.findall(text)
    if not toks:
        return []
    pool = pool or NumberPool(evidence, allowed)
    out = []
    for tok in toks:
        try:
            x = _parse(tok)
        except ValueError:
            continue
        # "1e966" inside an id parses as infinity: an id fragment, not a quantity anyone computed
        if math.isfinite(x) and not pool.grounded(x):
            out.append(tok)
    return out


def _grounded_texts(obj: Any, key: str | None = None) -> list[str]:
    if isinstance(obj, Mapping):
        out: list[str] = []
        for k, v in obj.items():
            out.extend(_grounded_texts(v, str(k)))
        return out
    if isinstance(obj, list):
        return [t for v in obj for t in _grounded_texts(v, key)]
    if isinstance(obj, str) and key in GROUNDED_FIELDS:
        return [obj]
    return []


def ground(result: T, evidence: Mapping[str, Any], role: str, reasoner: str, cycle_id: str | None,
           events: EventLog | None) -> T:
    """Flag numbers in the result's text fields (``GROUNDED_FIELDS``) that no tool produced (module doc)."""
    seam = set(SEAM_FIELDS) & set(type(result).model_fields)
    texts = _grounded_texts(result.model_dump(mode="json", exclude=seam))
    flags: list[str] = []
    pool: NumberPool | None = None
    for t in texts:
        if not any(ch.isdigit() for ch in t):
            continue
        pool = pool or NumberPool(evidence)          # built once, only when some text cites a number
        flags.extend(x for x in ungrounded_numbers(t, evidence, pool=pool) if x not in flags)
    fields = type(result).model_fields
    update: dict[str, Any] = {}
    if "ungrounded_numbers" in fields:
        update["ungrounded_numbers"] = flags
    if flags and "reason_codes" in fields:
        codes = list(result.reason_codes or [])  # type: ignore[attr-defined]  # T is any BaseModel; "reason_codes" in fields checked above
        if ReasonCode.NUMBER_UNGROUNDED not in codes:
            update["reason_codes"] = codes + [ReasonCode.NUMBER_UNGROUNDED]
    if flags:
        log.warning("cycle %s role %s (%s): ungrounded numbers %s", cycle_id, role, reasoner, flags)
        if events is not None:
            events.emit(EventType.LLM_CALL, cycle_id, [ReasonCode.NUMBER_UNGROUNDED], role=role,
                        reasoner=reasoner, status="ungrounded", ungrounded_numbers=flags)
    return result.model_copy(update=update) if update else result
