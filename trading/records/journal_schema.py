"""The journal's schema as an ordered list of migrations; ``SCHEMA_VERSION`` is how many there are.

Each migration moves the schema from version i to i+1 (``PRAGMA user_version``). Never edit one that
has shipped: append. A migration that needs values computed in Python (v2: each trade's asset class and
currency from its symbol) names a backfill in ``BACKFILLS``, run in the same transaction.

Failure contract: the SQL is data; a backfill raises only what sqlite3 raises; ``Journal`` applies each
migration in one transaction (so a failed backfill leaves the file at its old version) and raises
``JournalError`` for a file newer than this list.
"""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from trading.records.outcome_schema import instrument_facts

log = logging.getLogger(__name__)

MIGRATIONS: list[list[str]] = [
    [  # 0 -> 1
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)""",
        """CREATE TABLE trades (
            trade_cycle_id TEXT PRIMARY KEY, venue TEXT NOT NULL, account TEXT NOT NULL DEFAULT '',
            symbol TEXT NOT NULL, side TEXT NOT NULL,
            qty REAL NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT,
            stop REAL, target REAL, ref_price REAL, resolve_by TEXT, market_slug TEXT, outcome_label TEXT,
            signal_json TEXT, advisory_json TEXT, risk_json TEXT)""",
        """CREATE TABLE orders (
            order_id TEXT PRIMARY KEY, trade_cycle_id TEXT, role TEXT NOT NULL, symbol TEXT NOT NULL,
            side TEXT NOT NULL, qty REAL NOT NULL, order_type TEXT NOT NULL, limit_price REAL, stop_price REAL,
            parent_id TEXT, oca_group TEXT, reduce_only INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
            filled_qty REAL NOT NULL DEFAULT 0, avg_fill_price REAL, created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '')""",
        """CREATE TABLE fills (
            exec_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, trade_cycle_id TEXT, account TEXT NOT NULL DEFAULT '',
            symbol TEXT NOT NULL,
            side TEXT NOT NULL, qty REAL NOT NULL, price REAL NOT NULL, ts TEXT NOT NULL,
            commission REAL NOT NULL DEFAULT 0, broker_realized_pnl REAL, recorded_at TEXT NOT NULL)""",
        """CREATE TABLE outcomes (
            trade_cycle_id TEXT PRIMARY KEY REFERENCES trades(trade_cycle_id), resolved_at TEXT NOT NULL,
            won INTEGER NOT NULL, winner TEXT, pnl REAL NOT NULL, gross_pnl REAL NOT NULL,
            fees REAL NOT NULL DEFAULT 0, source TEXT NOT NULL, exit_reason TEXT NOT NULL DEFAULT '',
            entry_price REAL, exit_price REAL, qty REAL)""",
        """CREATE TABLE verdicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, trade_cycle_id TEXT NOT NULL, ts TEXT NOT NULL,
            kind TEXT NOT NULL, side TEXT NOT NULL, qty REAL NOT NULL, allowed INTEGER NOT NULL,
            reason_codes TEXT NOT NULL, judged_as TEXT NOT NULL, evidence_json TEXT)""",
        """CREATE TABLE outcome_failures (
            id INTEGER PRIMARY KEY AUTOINCREMENT, trade_cycle_id TEXT NOT NULL, ts TEXT NOT NULL,
            source TEXT NOT NULL, error TEXT NOT NULL)""",
        "CREATE INDEX fills_cycle ON fills(trade_cycle_id)",
        "CREATE INDEX orders_cycle ON orders(trade_cycle_id)",
        "CREATE INDEX trades_status ON trades(status, account)",
        "CREATE INDEX fills_account ON fills(account, symbol)",
        "CREATE INDEX verdicts_cycle ON verdicts(trade_cycle_id)",
    ],
    [  # 1 -> 2: the instrument's asset class and PnL currency on every trade (issue 12); the journal fills
       # the rows of an older file from their symbols in the same transaction (``Journal._backfill``)
        "ALTER TABLE trades ADD COLUMN asset_class TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE trades ADD COLUMN currency TEXT NOT NULL DEFAULT ''",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def backfill_instruments(c: sqlite3.Connection) -> int:
    """Fill asset_class / currency of trades written before schema v2 from their symbol (and venue): only
    empty ones, so running it again changes nothing. Returns how many rows it filled."""
    rows = c.execute("SELECT DISTINCT symbol, venue FROM trades WHERE asset_class='' OR currency=''").fetchall()
    n = 0
    for symbol, venue in rows:
        f = instrument_facts(symbol, venue)
        n += c.execute("UPDATE trades SET asset_class=CASE asset_class WHEN '' THEN ? ELSE asset_class END, "
                       "currency=CASE currency WHEN '' THEN ? ELSE currency END "
                       "WHERE symbol=? AND venue=? AND (asset_class='' OR currency='')",
                       (f.asset_class, f.currency, symbol, venue)).rowcount
    if n:
        log.info("journal: asset class and currency filled for %d trade(s) from their symbols", n)
    return n


BACKFILLS: dict[int, Callable[[sqlite3.Connection], int]] = {2: backfill_instruments}   # by target version
