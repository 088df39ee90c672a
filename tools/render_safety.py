"""Escaping for untrusted text (log lines, market names, model output) wherever Warden renders it.

Three sinks, one function each, plus a walker that applies one to every string of a pydantic model:

- ``md_text``: markdown. HTML is inert (``<`` ``>`` become entities, so no ``<script>``, no
  ``<img onerror>``, no ``<javascript:...>`` autolink), link and image syntax is broken (``[`` ``]``
  backslash-escaped, so ``[x](javascript:...)`` is never a link) and control characters are dropped;
  table cells escape ``|`` where the table is built (tools/review/report.py ``_md_cell``).
- ``csv_cell``: CSV formula injection (OWASP): a text cell starting with ``=`` ``+`` ``-`` ``@``, tab
  or carriage return gets a leading apostrophe so a spreadsheet shows it as text. Numbers (ints and
  floats, negative ones included) are left alone: they are data, not formulas. Markup is made inert as
  for markdown (CSV files end up in browsers and dashboards too).
- ``term_text``: a terminal through Rich. Rich markup (``[bold red]``) is escaped with
  ``rich.markup.escape`` and control characters (ANSI escape sequences, bells, backspaces) are dropped.

``safe_model`` returns a copy of a pydantic model with every string (at any depth) passed through one
escaper; enum values and numbers are left untouched, so a report's root-cause codes, change types and
metrics are identical before and after. Failure contract: nothing here raises on odd input; a value
that is not text is returned as it is.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# C0 controls except \t and \n, DEL, C1 controls; plus the bidi overrides used to disguise text
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_MD = {"<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]"}
_MD_RE = re.compile(r"[<>\[\]]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def strip_controls(text: str) -> str:
    """Drop ANSI escape sequences and control characters (keeps tab and newline)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def md_text(text: Any) -> Any:
    """Markdown-safe text (module doc); non-text is returned unchanged."""
    if not isinstance(text, str) or isinstance(text, Enum):
        return text
    return _MD_RE.sub(lambda m: _MD[m.group(0)], strip_controls(text))


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet will run as a formula; numbers pass unchanged."""
    if not isinstance(value, str) or isinstance(value, Enum):
        return value
    # CSV files get opened in browsers and pasted into dashboards: markup is made inert here too
    text = md_text(value) if not value.startswith(("\t", "\r")) else _MD_RE.sub(lambda m: _MD[m.group(0)], value)
    if text.startswith(_FORMULA_START):
        try:
            float(text)             # "-12.5" written as text is still a number, not a formula
        except ValueError:
            return "'" + text
    return text


def term_text(text: Any) -> str:
    """Text that Rich prints literally: markup escaped, control characters dropped."""
    from rich.markup import escape  # Rich's own rule, so the escaping matches the parser

    return escape(strip_controls(str(text)))


def _walk(obj: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(obj, Enum):
        return obj
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, BaseModel):
        return obj.model_copy(update={k: _walk(getattr(obj, k), fn) for k in type(obj).model_fields})
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, fn) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_walk(v, fn) for v in obj)
    return obj


def safe_model(model: M, fn: Callable[[Any], Any] = md_text) -> M:
    """A copy of ``model`` with every string field (at any depth) escaped by ``fn``."""
    return _walk(model, fn)  # type: ignore[no-any-return]


def safe_row(row: dict[str, Any], fn: Callable[[Any], Any] = csv_cell) -> dict[str, Any]:
    """One CSV row with every text cell escaped."""
    return {k: fn(v) for k, v in row.items()}


__all__ = ["csv_cell", "md_text", "safe_model", "safe_row", "strip_controls", "term_text"]
