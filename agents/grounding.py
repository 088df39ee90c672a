"""Numeric grounding: every number an agent writes must be one the tools gave it, with its sign and unit.

A number ``x`` in the text is grounded by an evidence number ``y`` when all of these hold:

- **rounding to the shown decimals**: ``x`` written with ``d`` decimals equals ``y`` rounded to ``d``
  decimals (6890.5 may be written 6,890.50 or 6890.5; 763.92 may be written 763.9 but not 764, since
  a whole number only rounds a value of 1,000 or more: "$6,891" for 6890.5). Scientific notation
  rounds to its shown significant digits.
- **sign**: an explicit ``-`` needs a negative ``y`` and ``+`` a positive one; a gain word just before
  the number (gained, profit, up, rose, won, ...) needs ``y >= 0``; a loss word (lost, loss, down,
  fell, ...) needs ``y <= 0`` or a ``y`` whose evidence key names a loss (``max_drawdown_usd``,
  ``losses``). "the account GAINED 236.08" when the evidence says -236.08 is not grounded.
- **unit**: ``x%`` matches ``y`` only when the evidence states ``y`` is a percent (its key holds
  ``pct``/``percent`` or its text wrote ``%``) and ``100*y`` only when it states ``y`` is a fraction
  (key holds ``rate``/``prob``/``ratio``/``fraction``/``share``). There is no other x100 or /100.

Dates and times (``2025-01-05T14:30:00Z``, ``14:30``) are not quantities: they are taken out of both
text and evidence before numbers are read, and a timestamp in the text must appear in the evidence.
Identifier fragments (``R12``, ``9f1c-4455``) are not read as numbers. 0, 1 and 100 are always allowed.
``false_accept_rate`` measures the check on random numbers (tests/test_grounding.py reports it).

``ground`` applies the check to a reasoner's validated result (every provider calls it). Failure contract:
nothing here raises on odd input: unparsable tokens and non-finite values are skipped, and ungrounded
numbers are returned (and written to the result's ``ungrounded_numbers`` / ``reason_codes`` and an
``llm_call`` event), never dropped silently.
"""
from __future__ import annotations

import bisect
import logging
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.llm_types import GROUNDED_FIELDS, SEAM_FIELDS, T
from trading.domain.reason_codes import ReasonCode
from trading.records.telemetry import EventLog, EventType

log = logging.getLogger(__name__)

_NUM = re.compile(r"(?<![\w.])([-+\u2212]?)\$?((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)([eE][-+]?\d+)?(\s?%|\s?percent\b)?")
_TS = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
                 r"|\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_WORD = re.compile(r"[a-z]+")
_CI = re.compile(r"\s*(?:CI\b|confidence|credible|interval)", re.IGNORECASE)
GAIN_WORDS = frozenset({"gained", "gain", "gains", "gaining", "profit", "profits", "profited", "earned", "up",
                        "rose", "won", "positive", "plus", "increased", "grew", "made"})
LOSS_WORDS = frozenset({"lost", "lose", "loses", "loss", "losses", "losing", "down", "fell", "dropped", "drop",
                        "declined", "negative", "minus", "deficit", "drawdown", "drew", "shed"})
LOSS_KEYS = ("loss", "drawdown", "_dd", "lost", "decline", "deficit")
PCT_KEYS = ("pct", "percent")
FRACTION_KEYS = ("rate", "prob", "ratio", "fraction", "share", "brier", "ece", "confidence")
ALLOWED = (0.0, 1.0, 100.0)
CONTEXT_WORDS = 6
STOP_WORDS = frozenset({"the", "and", "for", "with", "was", "were", "are", "from", "than", "that", "this", "its",
                        "per", "into", "over", "under", "after", "before", "about", "only", "all", "not", "has",
                        "had", "have", "which", "while", "there", "their", "them", "then", "each", "one", "two"})
EPS = 1e-9


@dataclass(frozen=True)
class _Num:
    value: float
    decimals: int          # shown decimals (negative for e-notation of a large number)
    sign: str              # "-", "+" or ""
    percent: bool
    text: str


def _parse_tokens(text: str) -> list[_Num]:
    out = []
    for m in _NUM.finditer(text):
        sign, body, exp, pct = m.group(1), m.group(2), m.group(3) or "", bool(m.group(4))
        plain = body.replace(",", "")
        dec = len(plain.split(".")[1]) if "." in plain else 0
        try:
            v = float(plain + exp)
        except ValueError:
            continue
        if exp:
            dec -= int(exp[1:])     # 1.23e+06 shows 10**4 resolution: decimals -4
        sign = "-" if sign in ("-", "\u2212") else sign
        if sign == "-":
            v = -v
        out.append(_Num(v, dec, sign, pct, m.group(0).strip()))
    return out


def _decimals_of(y: float) -> int:
    s = repr(float(y))
    if "e" in s:
        return 6
    return len(s.split(".")[1].rstrip("0")) if "." in s else 0


@dataclass(frozen=True)
class _Ev:
    value: float
    key: str
    pct: bool = False       # the evidence states y is a percent
    frac: bool = False      # the evidence states y is a fraction
    ctx: frozenset[str] = frozenset()   # words of its key path, or around it in its text


_SAME = {"lose": "loss", "loses": "loss", "losing": "loss", "lost": "loss", "losses": "loss", "loser": "loss",
         "won": "win", "wins": "win", "winning": "win", "winner": "win", "winners": "win", "profit": "pnl",
         "profits": "pnl", "gained": "pnl", "gain": "pnl", "pnl": "pnl", "balance": "equity", "equity": "equity"}


def _words(text: str) -> frozenset[str]:
    return frozenset(_SAME.get(w, w) for w in _WORD.findall(text.lower()) if len(w) >= 3 and w not in STOP_WORDS)


def context_words(text: str, start: int, end: int) -> frozenset[str]:
    """Content words within ``CONTEXT_WORDS`` words either side of ``text[start:end]``."""
    before = _WORD.findall(text[max(0, start - 80):start].lower())[-CONTEXT_WORDS:]
    after = _WORD.findall(text[end:end + 80].lower())[:CONTEXT_WORDS]
    return _words(" ".join(before + after))


def _collect(obj: Any, out: list[_Ev], stamps: set[str], key: str = "", parent: str = "") -> None:
    if isinstance(obj, bool) or obj is None:
        return
    kctx = _words(f"{parent} {key}".replace("_", " "))
    if isinstance(obj, str):
        for ts in _TS.findall(obj):
            stamps.add(ts)
        clean = _TS.sub(lambda m: " " * len(m.group(0)), obj)
        for m in _NUM.finditer(clean):
            for n in _parse_tokens(m.group(0)):
                out.append(_Ev(n.value, key, pct=n.percent or _has(key, PCT_KEYS), frac=_has(key, FRACTION_KEYS),
                               ctx=kctx | context_words(clean, m.start(), m.end())))
        return
    if isinstance(obj, (int, float)):
        if math.isfinite(float(obj)):
            out.append(_Ev(float(obj), key, pct=_has(key, PCT_KEYS), frac=_has(key, FRACTION_KEYS), ctx=kctx))
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _collect(k, out, stamps, key, parent)
            _collect(v, out, stamps, str(k).lower(), key)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _collect(v, out, stamps, key, parent)
        return
    if hasattr(obj, "model_dump"):
        _collect(obj.model_dump(mode="json"), out, stamps, key, parent)


def _has(key: str, parts: tuple[str, ...]) -> bool:
    return any(p in key for p in parts)


def evidence_numbers(evidence: Any) -> set[float]:
    nums: list[_Ev] = []
    _collect(evidence, nums, set())
    return {n.value for n in nums}


class NumberPool:
    """The evidence's numbers with their keys and stated units, sorted for lookup by value."""

    def __init__(self, evidence: Any, allowed: Iterable[float] = ALLOWED) -> None:
        evs: list[_Ev] = []
        self.stamps: set[str] = set()
        _collect(evidence, evs, self.stamps)
        evs += [_Ev(float(a), "", pct=True) for a in allowed]
        plain = [(e.value, e) for e in evs]
        pct = [(e.value, e) for e in evs if e.pct] + [(e.value * 100.0, e) for e in evs if e.frac and abs(e.value) <= 1]
        self._plain = sorted(plain, key=lambda t: t[0])
        self._pct = sorted(pct, key=lambda t: t[0])
        self._pv = [t[0] for t in self._plain]
        self._cv = [t[0] for t in self._pct]
        self._stamp_text = " ".join(sorted(self.stamps))

    def _candidates(self, x: _Num) -> list[tuple[float, _Ev]]:
        vals, items = (self._cv, self._pct) if x.percent else (self._pv, self._plain)
        half = 0.5 * 10.0 ** (-x.decimals) + EPS
        out = []
        for mag in ({abs(x.value), -abs(x.value)} if not x.sign else {x.value}):
            lo, hi = bisect.bisect_left(vals, mag - half), bisect.bisect_right(vals, mag + half)
            out += items[lo:hi]
        return out

    def grounded(self, x: _Num | float, before: str = "", ctx: frozenset[str] | None = None) -> bool:
        if not isinstance(x, _Num):
            x = _parse_tokens(repr(float(x)))[0] if math.isfinite(x) else _Num(x, 0, "", False, "")
        words = _WORD.findall(before.lower())[-2:]
        gain, loss = any(w in GAIN_WORDS for w in words), any(w in LOSS_WORDS for w in words)
        for y, ev in self._candidates(x):
            if not _rounds_to(y, x):
                continue
            if x.sign == "-" and y > 0 or x.sign == "+" and y < 0:
                continue
            if gain and not loss and y < 0:
                continue
            if loss and not gain and y > 0 and not (_has(ev.key, LOSS_KEYS) or ev.ctx & LOSS_WORDS):
                continue
            if ctx is not None and _needs_context(x) and ev.key != "" and not _same_context(ctx, ev.ctx):
                continue
            return True
        return False

    def stamp_grounded(self, ts: str) -> bool:
        return ts in self._stamp_text


def _needs_context(x: _Num) -> bool:
    """A whole number under 1,000 or a percent with at most one decimal says little by its value alone:
    it must also stand in its context (a content word shared with the evidence number's key or text)."""
    return (x.decimals <= 1 if x.percent else x.decimals <= 0 and abs(x.value) < 1000) and \
        abs(x.value) not in ALLOWED


def _stem(w: str) -> str:
    if w.endswith("ies") and len(w) > 5:
        return w[:-3] + "y"
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > len(suf) + 2 and w.endswith(suf):
            return w[:-len(suf)]
    return w


def _same_context(a: frozenset[str], b: frozenset[str]) -> bool:
    """Some word of ``a`` and some word of ``b`` share a stem (moving / move, trades / trade)."""
    sa, sb = {_stem(w) for w in a}, {_stem(w) for w in b}
    if sa & sb:
        return True
    for u in sa:
        for v in sb:
            short, long_ = (u, v) if len(u) <= len(v) else (v, u)
            if len(short) >= 3 and long_.startswith(short) and len(long_) - len(short) <= 2:
                return True
    return False


def _rounds_to(y: float, x: _Num) -> bool:
    """``x`` is ``y`` rounded to the decimals ``x`` shows (a whole number only rounds |y| >= 1000)."""
    d = x.decimals
    if d <= 0 and abs(y) < 1000 and _decimals_of(y) > max(d, 0):
        return False
    return abs(abs(y) - abs(x.value)) <= 0.5 * 10.0 ** (-d) + EPS * max(1.0, abs(y))


def ungrounded_numbers(text: str, evidence: Any, allowed: Iterable[float] = ALLOWED,
                       pool: NumberPool | None = None) -> list[str]:
    """Tokens of ``text`` (numbers and timestamps) that no evidence number grounds (module doc)."""
    if not text or not any(ch.isdigit() for ch in text):
        return []
    pool = pool or NumberPool(evidence, allowed)
    out: list[str] = []
    for ts in _TS.findall(text):
        if not pool.stamp_grounded(ts):
            out.append(ts)
    clean = _TS.sub(lambda m: " " * len(m.group(0)), text)
    prev_end = 0
    for m in _NUM.finditer(clean):
        nums = _parse_tokens(m.group(0))
        if not nums or not math.isfinite(nums[0].value):
            continue      # "1e966" inside an id parses as infinity: a name, not a quantity
        if nums[0].percent and _CI.match(clean, m.end()):
            prev_end = m.end()
            continue      # "95% CI": a confidence level, not a quantity
        # the sign words that count are the ones after the previous number ("lost 1,700 at 6890.50")
        if not pool.grounded(nums[0], clean[max(prev_end, m.start() - 40):m.start()],
                             context_words(clean, m.start(), m.end())):
            out.append(nums[0].text)
        prev_end = m.end()
    return out


def false_accept_rate(evidence: Any, n: int = 2000, seed: int = 7, kind: str = "int") -> float:
    """Share of random numbers the check accepts against ``evidence``: integers 1-1000 (``int``),
    two-decimal numbers in [-1000, 1000] (``dec2``) or percents with one decimal (``pct``). Each is written
    next to a word the evidence itself uses (a key or a word around one of its numbers), so the context
    rule is met as a plausible-sounding model sentence would meet it; only the value can give it away."""
    rng = random.Random(seed)
    pool = NumberPool(evidence)
    evs: list[_Ev] = []
    _collect(evidence, evs, set())
    vocab = sorted({w for e in evs for w in e.ctx}) or ["value"]
    hits = 0
    for _ in range(n):
        word = rng.choice(vocab)
        if kind == "int":
            text = f"{rng.randint(1, 1000)} {word}"
        elif kind == "dec2":
            text = f"{word} {rng.uniform(-1000, 1000):.2f}"
        else:
            text = f"{word} {rng.uniform(0, 100):.1f}%"
        hits += not ungrounded_numbers(text, evidence, pool=pool)
    return hits / n


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
