"""Numeric grounding: every number an agent writes must come from the tool evidence it was given."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_NUM = re.compile(r"(?<![\w.])[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?")


def _walk(obj: Any) -> Iterable[Any]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield k
            yield from _walk(v)
    elif isinstance(obj, (list, tuple, set)):
        for v in obj:
            yield from _walk(v)
    elif isinstance(obj, str):
        yield obj
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj
    elif hasattr(obj, "model_dump"):
        yield from _walk(obj.model_dump(mode="json"))


def _parse(tok: str) -> float:
    return float(tok.replace("$", "").replace(",", "").rstrip("%"))


def evidence_numbers(evidence: Any) -> set[float]:
    nums: set[float] = set()
    for item in _walk(evidence):
        if isinstance(item, str):
            nums.update(_parse(t) for t in _NUM.findall(item))
        else:
            nums.add(float(item))
    return nums


def _matches(x: float, pool: set[float]) -> bool:
    for y in pool:
        for cand in (y, y * 100.0, y / 100.0):   # 0.62 in evidence may be written as 62%
            if abs(x - cand) <= max(1e-9, 0.005 * abs(cand)) or abs(abs(x) - abs(cand)) <= 0.005 + 1e-9:
                return True
    return False


def ungrounded_numbers(text: str, evidence: Any, allowed: Iterable[float] = (0, 1, 100)) -> list[str]:
    """Tokens of ``text`` whose value (within rounding) is not in the evidence."""
    pool = evidence_numbers(evidence) | {float(a) for a in allowed}
    out = []
    for tok in _NUM.findall(text or ""):
        try:
            if not _matches(_parse(tok), pool):
                out.append(tok)
        except ValueError:
            continue
    return out
