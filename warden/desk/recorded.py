"""Broker positions and open orders as the data dir records them (IB, Polymarket, any non-paper venue).

The desk never connects to a broker. What it shows comes from the session's journal
(``journal/journal.db``: net quantity per symbol from the recorded fills, as ``Journal.positions`` counts
it, binary shares settled by a market's resolution left out; the orders still pending, submitted or
partly filled) and from the last ``reconcile`` event in events.jsonl (when the executor last compared the
broker with the journal, and what it found). Each venue/account row is stamped with the time of the last
fill or order update it rests on: "as recorded at <time>". Paper accounts are read from their own files
(warden.desk.data.paper_accounts) and are left out here.
Failure contract: the journal is opened read-only (``mode=ro``), nothing is written; a missing journal is an
empty list; an unreadable one is one line in ``error`` (never raised to the page).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

JOURNAL = Path("journal") / "journal.db"
WORKING = ("pending", "submitted", "partial")
EPS = 1e-9

_POSITIONS = """
SELECT COALESCE(t.venue, '?') AS venue, f.account AS account, f.symbol AS symbol,
       SUM(CASE f.side WHEN 'BUY' THEN f.qty ELSE -f.qty END) AS qty, MAX(f.recorded_at) AS at
FROM fills f LEFT JOIN trades t ON t.trade_cycle_id = f.trade_cycle_id
WHERE COALESCE(t.venue, '?') != 'paper' AND NOT EXISTS (
    SELECT 1 FROM outcomes o WHERE o.trade_cycle_id = f.trade_cycle_id AND o.source != 'fills')
GROUP BY 1, 2, 3"""

_ORDERS = f"""
SELECT COALESCE(t.venue, '?') AS venue, COALESCE(t.account, '') AS account, o.order_id, o.trade_cycle_id, o.role,
       o.symbol, o.side, o.qty, o.filled_qty, o.order_type, o.limit_price, o.stop_price, o.status, o.updated_at
FROM orders o LEFT JOIN trades t ON t.trade_cycle_id = o.trade_cycle_id
WHERE o.status IN ({", ".join("?" * len(WORKING))}) AND COALESCE(t.venue, '?') != 'paper'
ORDER BY o.updated_at"""

_LAST_ORDER = """
SELECT COALESCE(t.venue, '?'), COALESCE(t.account, ''), MAX(o.updated_at)
FROM orders o LEFT JOIN trades t ON t.trade_cycle_id = o.trade_cycle_id
WHERE COALESCE(t.venue, '?') != 'paper' GROUP BY 1, 2"""


def _book(books: dict[tuple[str, str], dict[str, Any]], venue: str, account: str) -> dict[str, Any]:
    return books.setdefault((venue, account), {"venue": venue, "account": account, "positions": {},
                                               "open_orders": [], "as_of": ""})


def _stamp(book: dict[str, Any], at: object) -> None:
    if at and str(at) > book["as_of"]:
        book["as_of"] = str(at)


def broker_books(data_dir: Path) -> dict[str, Any]:
    """{"books": [{venue, account, positions {symbol: qty}, open_orders [...], as_of}], "error": str}."""
    path = data_dir / JOURNAL
    if not path.is_file():
        return {"books": [], "error": ""}
    books: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        conn.row_factory = sqlite3.Row
        try:
            for row in conn.execute(_POSITIONS):
                book = _book(books, row["venue"], row["account"])
                if abs(row["qty"] or 0.0) > EPS:
                    book["positions"][row["symbol"]] = float(row["qty"])
                _stamp(book, row["at"])
            for row in conn.execute(_ORDERS, WORKING):
                book = _book(books, row["venue"], row["account"])
                book["open_orders"].append({k: row[k] for k in row.keys() if k not in ("venue", "account")})
            for venue, account, at in conn.execute(_LAST_ORDER):
                _stamp(_book(books, venue, account), at)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"books": [], "error": f"{path}: {exc}"}
    return {"books": [books[k] for k in sorted(books)], "error": ""}


def last_reconcile(evs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last ``reconcile`` event of the tail: when, whether the broker matched the journal, and the detail."""
    for e in reversed(evs):
        if e.get("event") == "reconcile":
            p = e["payload"] if isinstance(e.get("payload"), dict) else {}
            return {"ts": str(e.get("ts", "")), "ok": bool(p.get("ok")), "detail": str(p.get("detail", "")),
                    "trigger": str(p.get("trigger", "")), "codes": [str(c) for c in e.get("reason_codes") or []]}
    return None
