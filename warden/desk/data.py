"""Read-only views of a data dir for the desk: outcome rows (cached by file), events, paper accounts.

Nothing here writes: event lines are parsed directly (``EventLog`` would cut a torn tail), outcome files
are read as JSON. Failure contract: an unreadable or malformed file is skipped and counted in
``OutcomeIndex.errors`` (named by path), never raised to the page.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = Path("training") / "trade_outcomes"
EVENTS = Path("telemetry") / "events.jsonl"
SNAPSHOTS = Path("history_snapshots")


def _row(path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    adv = doc.get("advisory") or {}
    return {"id": str(doc.get("trade_cycle_id", path.stem)), "path": str(path), "venue": doc.get("venue", ""),
            "symbol": str(doc.get("symbol", "")), "side": doc.get("side", ""), "qty": doc.get("qty"),
            "opened_at": str(doc.get("opened_at", "")), "closed_at": str(doc.get("closed_at", "")),
            "entry_price": doc.get("entry_price"), "exit_price": doc.get("exit_price"),
            "pnl_usd": doc.get("pnl_usd"), "currency": str(doc.get("currency") or "USD"), "won": bool(doc.get("won")),
            "advisory": str(adv.get("action", "")) if adv else "", "exit_reason": doc.get("exit_reason", ""),
            "reason_codes": [str(c) for c in doc.get("reason_codes") or []]}


@dataclass
class OutcomeIndex:
    """Outcome rows keyed by file; a file is parsed again only when its mtime or size changes."""
    data_dir: Path
    _cache: dict[str, tuple[tuple[int, int], dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rows(self) -> list[dict[str, Any]]:
        root = self.data_dir / OUTCOMES
        seen: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
        with self._lock:
            for day in sorted(_scandir(root), key=lambda e: e.name):
                for ent in _scandir(Path(day.path)):
                    if not ent.name.endswith(".json"):
                        continue
                    try:
                        st = ent.stat()
                    except OSError:
                        continue
                    key = (st.st_mtime_ns, st.st_size)
                    hit = self._cache.get(ent.path)
                    if hit is None or hit[0] != key:
                        try:
                            hit = (key, _row(Path(ent.path), json.loads(Path(ent.path).read_bytes())))
                            self.errors.pop(ent.path, None)
                        except (OSError, ValueError, AttributeError, TypeError) as exc:
                            self.errors[ent.path] = f"{type(exc).__name__}: {exc}"
                            continue
                    seen[ent.path] = hit
            self._cache = seen
        rows = [r for _, r in seen.values()]
        rows.sort(key=lambda r: r["closed_at"], reverse=True)
        return rows

    def find(self, trade_cycle_id: str) -> dict[str, Any] | None:
        for path, (_, row) in list(self._cache.items()):
            if row["id"] == trade_cycle_id:
                return read_json(Path(path))
        for row in self.rows():
            if row["id"] == trade_cycle_id:
                return read_json(Path(row["path"]))
        return None


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(path))
    except OSError:
        return []


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def events(data_dir: Path, trade_cycle_id: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
    """Events from events.jsonl (all, one trade's, or the last ``last``); malformed lines are skipped."""
    path = data_dir / EVENTS
    try:
        with path.open("rb") as fh:
            if last is not None:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - 400 * last - 65536))
            lines = fh.read().splitlines()
    except OSError:
        return []
    needle = trade_cycle_id.encode() if trade_cycle_id else None
    out: list[dict[str, Any]] = []
    for line in lines:
        if needle is not None and needle not in line:
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and (needle is None or ev.get("trade_cycle_id") == trade_cycle_id):
            out.append(ev)
    return out[-last:] if last is not None else out


def snapshot(data_dir: Path, trade_cycle_id: str) -> dict[str, Any] | None:
    for day in _scandir(data_dir / SNAPSHOTS):
        doc = read_json(Path(day.path) / f"{trade_cycle_id}.json")
        if doc is not None:
            return doc
    return None


def position_text(v: Any) -> str:
    """A paper position ``[qty, avg price]`` as ``qty @ avg``; anything else as its text."""
    if isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(x, int | float) for x in v):
        qty, avg = (int(x) if float(x).is_integer() else x for x in v)
        return f"{qty} @ {avg}"
    return str(v)


def paper_accounts(data_dir: Path) -> list[dict[str, Any]]:
    """Each paper account's positions, marks and working orders."""
    out = []
    for ent in sorted(_scandir(data_dir / "paper" / "accounts"), key=lambda e: e.name):
        doc = read_json(Path(ent.path))
        if doc is None:
            continue
        working = [o.get("order", {}) for o in doc.get("orders", [])
                   if isinstance(o, dict) and str(o.get("order", {}).get("status", "")) in
                   ("pending", "submitted", "partial")]
        out.append({"account": str(doc.get("account_id", ent.name)),
                    "positions": {str(k): position_text(v) for k, v in (doc.get("positions") or {}).items()},
                    "marks": doc.get("marks") or {}, "open_orders": working, "now": doc.get("now")})
    return out
