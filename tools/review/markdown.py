"""Plain-text formatting of report values: numbers, timestamps in the bundle's zone, markdown tables.

Failure contract: never raises on a value it cannot format (it prints ``str(value)``); an unknown time
zone name raises ZoneInfoNotFoundError.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


def fmt_num(x: Any, nd: int = 2) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def fmt_ts(ts: datetime | str | None, tz: str = "UTC", ms: bool = False) -> str:
    """ISO 8601 in the bundle's display zone, with its offset (UTC shown as Z); ``ms`` always writes
    milliseconds (CSV columns then sort as text)."""
    if ts is None or ts == "":
        return ""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=ZoneInfo("UTC"))
    local = ts.astimezone(ZoneInfo(tz))
    text = local.isoformat(timespec="milliseconds" if (ms or local.microsecond) else "seconds")
    return text.replace("+00:00", "Z") if tz == "UTC" else text


def _md_cell(v: Any) -> str:
    return fmt_num(v).replace("|", "\\|").replace("\n", " ")


def md_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, limit: int = 40) -> str:
    if not rows:
        return "_none_\n"
    cols = list(columns or rows[0].keys())
    out = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for r in rows[:limit]:
        out.append("| " + " | ".join(_md_cell(r.get(c)) for c in cols) + " |")
    if len(rows) > limit:
        out.append(f"\n_{len(rows) - limit} more rows not shown_")
    return "\n".join(out) + "\n"


def plural(n: int | None, word: str, many: str | None = None) -> str:
    """``1 trade``, ``3 trades``, ``0 trades`` (``many`` for irregular plurals)."""
    k = 0 if n is None else n
    return f"{k} {word if k == 1 else (many or word + 's')}"


def was(n: int | None) -> str:
    return "was" if n == 1 else "were"


def currency(kind: str) -> str:
    """The account currency of a bundle kind: Polymarket settles in USDC, the futures brokers in USD."""
    return "USDC" if kind == "polymarket" else "USD"


def money(x: Any, ccy: str) -> str:
    """``-236.08 USDC``; ``n/a`` when there is no amount (never ``None``)."""
    if x is None:
        return "n/a"
    return f"{round(float(x), 2)} {ccy}"


def num(x: Any) -> str:
    """A number as a statement prints it; ``n/a`` instead of ``None``."""
    return "n/a" if x is None else str(x)
