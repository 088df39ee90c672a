"""Reading a rule's regex as text: anchors, named groups, top-level alternation, literal prefix.

Pure functions on regex source strings, used to compile rule files (tools/logs/log_rules.py) and to
plan the reader's scan (tools/logs/reader.py). They never compile or raise: an unusual construct
makes them conservative (``literal_prefix`` returns a shorter prefix or ""), never wrong.
"""
from __future__ import annotations

import re

_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>")


def strip_anchors(src: str) -> str:
    """Rule regexes match the whole message; a leading ^ / trailing $ is redundant, drop it."""
    if src.startswith("^"):
        src = src[1:]
    if src.endswith("$") and not src.endswith("\\$"):
        src = src[:-1]
    return src


def uncaptured(src: str, keep: frozenset[str] = frozenset()) -> str:
    """The same regex with named groups (but ``keep``) made non-capturing, so it can be combined."""
    return _NAMED_GROUP.sub(lambda m: m.group(0) if m.group(1) in keep else "(?:", src)


def top_level_alternation(src: str) -> bool:
    """Does ``src`` hold a ``|`` outside any group (``a|b`` splits the whole regex in two)?"""
    depth, i, n = 0, 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":                                 # skip a class; a ']' first in it is literal
            j = i + 1
            j += src[j:j + 1] == "^"
            j += src[j:j + 1] == "]"
            while j < n and src[j] != "]":
                j += 2 if src[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def literal_prefix(src: str) -> str:
    """Literal text every full match of ``src`` starts with; conservative (may be shorter, or "")."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            nxt = src[i + 1:i + 2]
            if not nxt or nxt.isalnum() or nxt == "_":   # \d \w \b \1 \x41 ...: not a plain literal
                break
            lit, step = nxt, 2
        elif c in ".^$*+?{}[]()|#" or c.isspace() and c != " ":
            break
        else:
            lit, step = c, 1
        if src[i + step:i + step + 1] in ("*", "+", "?", "{"):   # quantified: optional or repeated
            break
        out.append(lit)
        i += step
    return "".join(out) if out and not top_level_alternation(src) else ""
