"""Numeric grounding: every number an agent writes must come from the tool evidence it was given.

A number in the text is grounded when some evidence number ``y`` (or ``100*y`` / ``y/100``: 0.62 may be
written as 62%) is within 0.5% of it in magnitude, or within 0.005 absolutely (rounding: 6890.5 may
be written 6,890.50; -1700 may be written "lost $1,700"). Matching is on magnitudes, so a sign the
prose expresses in words is not flagged.
"""
from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

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
