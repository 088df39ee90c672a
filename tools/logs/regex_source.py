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


_SIMPLE_ESCAPES = frozenset("dDsSwWbBAZtnrfva")       # letter escapes that are one whole atom (2 characters)
_CONTROL = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


def _class_end(src: str, i: int) -> int:
    """Index just past the character class that starts at ``src[i] == "["``, or -1 if it never closes."""
    j = i + 1
    j += src[j:j + 1] == "^"
    j += src[j:j + 1] == "]"
    while j < len(src) and src[j] != "]":
        j += 2 if src[j] == "\\" else 1
    return j + 1 if j < len(src) else -1


def _char_set(atom: str) -> tuple[bool, frozenset[str]] | None:
    """(negated, characters) of a simple atom: one character, an escaped one, ``[0-9]``, ``[^ ]``,
    ``[A-Z_]``; None for anything else (a category such as ``\\s``, ``.``, a class with escapes)."""
    if len(atom) == 1 and atom not in ".^$":
        return False, frozenset(atom)
    if len(atom) == 2 and atom[0] == "\\":
        c = atom[1]
        if c.isalnum():
            return (False, frozenset(_CONTROL[c])) if c in _CONTROL else None
        return False, frozenset(c)
    if not (atom.startswith("[") and atom.endswith("]")) or "\\" in atom:
        return None
    body, neg = atom[1:-1], atom.startswith("[^")
    body = body[1:] if neg else body
    chars: set[str] = set()
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            chars.update(chr(x) for x in range(ord(body[k]), ord(body[k + 2]) + 1))
            k += 3
        else:
            chars.add(body[k])
            k += 1
    return neg, frozenset(chars)


def _excludes(atom: str, c: str) -> bool:
    """Can ``atom`` provably never match the character ``c``?"""
    cs = _char_set(atom)
    return cs is not None and (c in cs[1]) == cs[0]          # matches iff (c in the set) != negated


def _tokens(src: str, max_unroll: int) -> list[tuple[str, str]] | None:
    """(kind, text) tokens, kind in atom / quant / open / close / other; None where not understood."""
    toks: list[tuple[str, str]] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            nxt = src[i + 1:i + 2]
            if not nxt or (nxt.isalnum() and nxt not in _SIMPLE_ESCAPES):
                return None               # \x41, \0, \1, \g<..>, \N{..}: leave the regex as it is
            toks.append(("atom", "[0-9]" if nxt == "d" else c + nxt))
            i += 2
        elif c == "[":
            end = _class_end(src, i)
            if end < 0 or re.search(r"\\[0-9xgNuU]", src[i:end]):
                return None
            toks.append(("atom", re.sub(r"(?<!\\)((?:\\\\)*)\\d", r"\g<1>0-9", src[i:end])))
            i = end
        elif c == "{":
            m = re.match(r"\{(\d+)\}(?![?+])", src[i:])
            if m and toks and toks[-1][0] == "atom" and 1 <= int(m.group(1)) <= max_unroll:
                toks[-1] = ("other", toks[-1][1] * int(m.group(1)))
                i += len(m.group(0))
            else:
                m = re.match(r"\{\d*(?:,\d*)?\}[?+]?", src[i:])
                toks.append(("quant", m.group(0)) if m else ("atom", c))
                i += len(m.group(0)) if m else 1
        elif c == "(":
            m = re.match(r"\(\?(?:P<\w+>|<[=!]|[:=!>])|\((?!\?)", src[i:])
            if m is None:
                return None               # (?#..), (?x), (?i), (?P=..), (?(1)..): not rewritten
            toks.append(("open", m.group(0)))
            i += len(m.group(0))
        elif c in "*+?":
            m = re.match(r"[*+?][?+]?", src[i:])
            assert m is not None
            toks.append(("quant", m.group(0)))
            i += len(m.group(0))
        elif c in ")|^$":
            toks.append(("close" if c == ")" else "other", c))
            i += 1
        else:                             # a literal character, or "."
            toks.append(("atom", c))
            i += 1
    return toks


def ascii_fast(src: str, max_unroll: int = 8) -> str:
    """The same regex, cheaper for Python's engine, for ASCII/bytes matching (re.ASCII or a bytes pattern).

    Three exact rewrites: ``\\d`` becomes ``[0-9]`` (a range test instead of a category test; the same
    set under ASCII); an atom repeated exactly ``{n}`` times (n <= ``max_unroll``) is written out n
    times (``[0-9]{4}`` -> ``[0-9][0-9][0-9][0-9]``: no repeat bookkeeping); a greedy ``X+`` / ``X*``
    directly followed (after any group ends) by a required literal character that X cannot match
    becomes possessive (``[^ ]+ -`` -> ``[^ ]++ -``: giving back characters could never let the
    literal match, so the engine need not remember how). Anything it does not fully understand
    (hex / octal escapes, backreferences, comments, inline flags) returns ``src`` unchanged.
    """
    toks = _tokens(src, max_unroll)
    if toks is None:
        return src
    out: list[str] = []
    for k, (kind, text) in enumerate(toks):
        out.append(text)
        if kind != "quant" or text not in ("+", "*") or k == 0 or toks[k - 1][0] != "atom":
            continue
        j = k + 1
        while j < len(toks) and toks[j][0] == "close" and not (j + 1 < len(toks) and toks[j + 1][0] == "quant"):
            j += 1
        nxt = toks[j] if j < len(toks) else None
        follows_quant = j + 1 < len(toks) and toks[j + 1][0] == "quant"
        if nxt is not None and nxt[0] == "atom" and not follows_quant:
            lit = _char_set(nxt[1])
            if lit is not None and not lit[0] and len(lit[1]) == 1 and _excludes(toks[k - 1][1], next(iter(lit[1]))):
                out[-1] = text + "+"
    return "".join(out)


def single_way(src: str) -> bool:
    """Can ``src`` match in at most one way from a given position (no ``|``, every repeat possessive
    or fixed)? Then wrapping it in an atomic group ``(?>...)`` changes nothing and can be left out."""
    toks = _tokens(src, 0)
    return toks is not None and all(
        t != "|" and (kind != "quant" or t.endswith("+") and len(t) == 2) for kind, t in toks)
