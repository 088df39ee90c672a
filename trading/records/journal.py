"""The trade journal: SQLite in WAL mode with versioned schema migrations (PRAGMA user_version).

Tables: ``trades`` (one row per trade_cycle_id), ``orders``, ``fills`` (keyed on the broker's exec_id,
so a repeated fill is stored once), ``outcomes``, ``verdicts`` and ``outcome_failures``.

Seed 001: the old bot's resolver hit "attempt to write a readonly database", logged it and kept
trading, and 28 trades ended with no outcome. Here every write goes through one transaction helper
that turns any SQLite write failure (read-only file, locked database, disk error) into
``JournalUnwritable``; the executor answers that with a JOURNAL_UNWRITABLE halt of new entries.
Opening the journal probes a write, so a read-only or locked file fails at start, loudly.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from trading.domain.models import Fill, Order, OrderStatus, Side, utcnow
from trading.records.journal_records import (
    OrderRecord,
    OutcomeRecord,
    TradeRecord,
    iso,
    order_from_row,
    outcome_from_row,
    trade_from_row,
)
from trading.records.journal_schema import BACKFILLS, MIGRATIONS, SCHEMA_VERSION
from trading.records.outcome_schema import instrument_facts

log = logging.getLogger(__name__)

WORKING = (OrderStatus.PENDING.value, OrderStatus.SUBMITTED.value, OrderStatus.PARTIAL.value)


class JournalError(RuntimeError):
    """The journal cannot be used (wrong schema, newer version, legacy file)."""


class JournalUnwritable(JournalError):
    """A write failed: read-only file, locked database, disk error. New entries must halt."""


class Journal:
    """One journal file. Thread-safe (broker callbacks may arrive on another thread)."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 2000, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self.write_failures = 0
        self._batch_depth = 0
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                                         check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise JournalUnwritable(f"journal {self.path}: cannot open ({exc})") from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            self._check_not_legacy()
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalUnwritable(f"journal {self.path}: cannot switch to WAL (journal_mode={mode})")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            # probe a write now: a read-only or locked journal must fail at start, not at the first fill
            with self._tx() as c:
                c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_open', ?)", (utcnow().isoformat(),))
        except sqlite3.Error as exc:
            self._conn.close()
            raise JournalUnwritable(f"journal {self.path}: {exc}") from None
        except JournalError:
            self._conn.close()
            raise

    # -- schema ------------------------------------------------------------------------------------
    def _check_not_legacy(self) -> None:
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if "trades" in tables and version == 0:
            cols = {r[1] for r in self._conn.execute("PRAGMA table_info(trades)")}
            if "trade_cycle_id" not in cols:
                raise JournalError(f"{self.path} is a legacy trade_journal.db (trades without trade_cycle_id); "
                                   "read it with trading.records.legacy_journal, Warden will not migrate it in place")

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(f"journal {self.path} has schema v{version}, newer than this Warden (v{SCHEMA_VERSION})")
        for v in range(version, SCHEMA_VERSION):
            with self._tx() as c:
                for stmt in MIGRATIONS[v]:
                    c.execute(stmt)
                if v + 1 in BACKFILLS:
                    BACKFILLS[v + 1](c)
                c.execute(f"PRAGMA user_version={v + 1}")
            log.info("journal %s migrated to schema v%d", self.path, v + 1)

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group several writes into one transaction (one commit, one fsync); all or nothing."""
        with self._tx():
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._batch_depth:
                yield self._conn          # inside batch(): the outer transaction commits
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self.write_failures += 1
                raise JournalUnwritable(f"journal {self.path}: {exc}") from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.IntegrityError:
                # a data error (bad reference, constraint), not an unwritable journal: the caller's bug
                self._conn.execute("ROLLBACK")
                raise
            except sqlite3.Error as exc:
                self.write_failures += 1
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise JournalUnwritable(f"journal {self.path}: {exc}") from None
            except BaseException:
                try:
                    self._conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise

    def _rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- meta: small keyed values (e.g. the last bar a session finished for an account) -------------
    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      (key, value))

    def meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    # -- trades ------------------------------------------------------------------------------------
    def open_trade(self, t: TradeRecord) -> None:
        """Record a trade; its asset class and currency come from the registry when the record has none."""
        facts = instrument_facts(t.symbol, t.venue) if not (t.asset_class and t.currency) else None
        with self._tx() as c:
            c.execute(
                """INSERT INTO trades(trade_cycle_id, venue, account, symbol, side, qty, status, opened_at, closed_at,
                   stop, target, ref_price, resolve_by, market_slug, outcome_label, signal_json, advisory_json,
                   risk_json, asset_class, currency) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(trade_cycle_id) DO NOTHING""",
                (t.trade_cycle_id, t.venue, t.account, t.symbol, t.side.value, t.qty, t.status, t.opened_at.isoformat(),
                 iso(t.closed_at), t.stop, t.target, t.ref_price, iso(t.resolve_by), t.market_slug,
                 t.outcome_label, json.dumps(t.signal, default=str) if t.signal else None,
                 json.dumps(t.advisory, default=str) if t.advisory else None,
                 json.dumps(t.risk, default=str) if t.risk else None,
                 t.asset_class or (facts.asset_class if facts else ""),
                 (t.currency or (facts.currency if facts else "")).upper()))

    def set_trade_status(self, trade_cycle_id: str, status: str, closed_at: datetime | None = None) -> None:
        with self._tx() as c:
            c.execute("UPDATE trades SET status=?, closed_at=COALESCE(?, closed_at) WHERE trade_cycle_id=?",
                      (status, iso(closed_at), trade_cycle_id))

    def trade(self, trade_cycle_id: str) -> TradeRecord | None:
        rows = self._rows("SELECT * FROM trades WHERE trade_cycle_id=?", (trade_cycle_id,))
        return trade_from_row(rows[0]) if rows else None

    def trades(self, status: str | tuple[str, ...] | None = None, symbol: str | None = None,
               account: str | None = None) -> list[TradeRecord]:
        sql, args = "SELECT * FROM trades WHERE 1=1", []
        if account is not None:
            sql += " AND account=?"
            args.append(account)
        if status is not None:
            sts = (status,) if isinstance(status, str) else status
            sql += f" AND status IN ({','.join('?' * len(sts))})"
            args += list(sts)
        if symbol is not None:
            sql += " AND symbol=?"
            args.append(symbol)
        return [trade_from_row(r) for r in self._rows(sql + " ORDER BY opened_at, rowid", tuple(args))]

    # -- orders ------------------------------------------------------------------------------------
    def record_order(self, order: Order, role: str) -> None:
        self.record_orders([(order, role)])

    def record_orders(self, orders: list[tuple[Order, str]]) -> None:
        now = utcnow().isoformat()
        with self._tx() as c:
            for o, role in orders:
                c.execute(
                    """INSERT INTO orders(order_id, trade_cycle_id, role, symbol, side, qty, order_type, limit_price,
                       stop_price, parent_id, oca_group, reduce_only, status, filled_qty, avg_fill_price, created_at,
                       updated_at, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                       ON CONFLICT(order_id) DO UPDATE SET status=excluded.status, filled_qty=excluded.filled_qty,
                       avg_fill_price=excluded.avg_fill_price, qty=excluded.qty, updated_at=excluded.updated_at,
                       reason=excluded.reason""",
                    (o.order_id, o.trade_cycle_id, role, o.symbol, o.side.value, o.qty, o.order_type.value,
                     o.limit_price, o.stop_price, o.parent_id, o.oca_group, int(o.reduce_only), o.status.value,
                     o.filled_qty, o.avg_fill_price, o.created_at.isoformat(), now, o.reason))

    def update_order(self, order_id: str, status: OrderStatus, filled_qty: float | None = None,
                     avg_fill_price: float | None = None, reason: str | None = None) -> None:
        with self._tx() as c:
            c.execute("""UPDATE orders SET status=?, filled_qty=COALESCE(?, filled_qty),
                         avg_fill_price=COALESCE(?, avg_fill_price), reason=COALESCE(?, reason), updated_at=?
                         WHERE order_id=?""",
                      (status.value, filled_qty, avg_fill_price, reason, utcnow().isoformat(), order_id))

    def orders(self, trade_cycle_id: str | None = None, working: bool = False) -> list[OrderRecord]:
        sql, args = "SELECT * FROM orders WHERE 1=1", []
        if trade_cycle_id is not None:
            sql += " AND trade_cycle_id=?"
            args.append(trade_cycle_id)
        if working:
            sql += f" AND status IN ({','.join('?' * len(WORKING))})"
            args += list(WORKING)
        return [order_from_row(r) for r in self._rows(sql + " ORDER BY rowid", tuple(args))]

    def order(self, order_id: str) -> OrderRecord | None:
        rows = self._rows("SELECT * FROM orders WHERE order_id=?", (order_id,))
        return order_from_row(rows[0]) if rows else None

    # -- fills -------------------------------------------------------------------------------------
    def record_fill(self, f: Fill, account: str = "") -> bool:
        """Store a fill; False when this exec_id is already recorded (a duplicate, not counted twice)."""
        with self._tx() as c:
            cur = c.execute(
                """INSERT INTO fills(exec_id, order_id, trade_cycle_id, account, symbol, side, qty, price, ts,
                   commission, broker_realized_pnl, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(exec_id) DO NOTHING""",
                (f.exec_id, f.order_id, f.trade_cycle_id, account, f.symbol, f.side.value, f.qty, f.price, f.ts.isoformat(),
                 f.commission, f.broker_realized_pnl, utcnow().isoformat()))
            return cur.rowcount == 1

    def fills(self, trade_cycle_id: str | None = None, symbol: str | None = None) -> list[Fill]:
        sql, args = "SELECT * FROM fills WHERE 1=1", []
        if trade_cycle_id is not None:
            sql += " AND trade_cycle_id=?"
            args.append(trade_cycle_id)
        if symbol is not None:
            sql += " AND symbol=?"
            args.append(symbol)
        return [Fill(exec_id=r["exec_id"], order_id=r["order_id"], symbol=r["symbol"], side=Side(r["side"]),
                     qty=r["qty"], price=r["price"], ts=datetime.fromisoformat(r["ts"]), commission=r["commission"],
                     trade_cycle_id=r["trade_cycle_id"], broker_realized_pnl=r["broker_realized_pnl"])
                for r in self._rows(sql + " ORDER BY ts, exec_id", tuple(args))]

    def settled_symbols(self, account: str | None = None) -> set[str]:
        """Binary shares whose every trade was settled by a market's resolution: the broker may still list
        them until they are redeemed, and that is not a mismatch."""
        sql = ("SELECT DISTINCT f.symbol FROM fills f JOIN outcomes o ON o.trade_cycle_id = f.trade_cycle_id "
               "WHERE o.source != 'fills'")
        args: tuple = ()
        if account is not None:
            sql, args = sql + " AND f.account=?", (account,)
        return {r[0] for r in self._rows(sql, args)} - set(self.positions(account))

    def exec_ids(self, account: str | None = None) -> set[str]:
        sql = "SELECT exec_id FROM fills"
        args: tuple[str, ...] = ()
        if account is not None:
            sql, args = sql + " WHERE account=?", (account,)
        return {r[0] for r in self._rows(sql, args)}

    def has_fill(self, exec_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM fills WHERE exec_id=?", (exec_id,)))

    def positions(self, account: str | None = None) -> dict[str, float]:
        """Signed net quantity per symbol from the recorded fills: what we believe the broker holds.

        Binary shares settled by a market's resolution (outcome source other than fills) no longer count.
        """
        sql = ("SELECT symbol, SUM(CASE side WHEN 'BUY' THEN qty ELSE -qty END) AS q FROM fills f WHERE "
               "NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.trade_cycle_id = f.trade_cycle_id "
               "AND o.source != 'fills')")
        args: tuple = ()
        if account is not None:
            sql, args = sql + " AND account=?", (account,)
        rows = self._rows(sql + " GROUP BY symbol", args)
        return {r["symbol"]: float(r["q"]) for r in rows if abs(r["q"] or 0.0) > 1e-9}

    # -- outcomes ----------------------------------------------------------------------------------
    def record_outcome(self, o: OutcomeRecord) -> bool:
        """Record a trade's result and close the trade; False if it already had one (idempotent)."""
        with self._tx() as c:
            cur = c.execute(
                """INSERT INTO outcomes(trade_cycle_id, resolved_at, won, winner, pnl, gross_pnl, fees, source,
                   exit_reason, entry_price, exit_price, qty) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(trade_cycle_id) DO NOTHING""",
                (o.trade_cycle_id, o.resolved_at.isoformat(), int(o.won), o.winner, o.pnl, o.gross_pnl, o.fees,
                 o.source, o.exit_reason, o.entry_price, o.exit_price, o.qty))
            c.execute("UPDATE trades SET status='closed', closed_at=? WHERE trade_cycle_id=?",
                      (o.resolved_at.isoformat(), o.trade_cycle_id))
            return cur.rowcount == 1

    def outcome(self, trade_cycle_id: str) -> OutcomeRecord | None:
        rows = self._rows("SELECT * FROM outcomes WHERE trade_cycle_id=?", (trade_cycle_id,))
        return outcome_from_row(rows[0]) if rows else None

    def last_resolution(self, symbol: str, account: str | None = None) -> OutcomeRecord | None:
        """The latest outcome settled by a market's resolution (source other than fills) of a trade with fills
        in ``symbol``: its ``exit_price`` is the payout."""
        sql = ("SELECT o.* FROM outcomes o WHERE o.source != 'fills' AND EXISTS (SELECT 1 FROM fills f WHERE "
               "f.trade_cycle_id = o.trade_cycle_id AND f.symbol=?" + (" AND f.account=?" if account else "") +
               ") ORDER BY o.resolved_at DESC, o.rowid DESC LIMIT 1")
        rows = self._rows(sql, (symbol, account) if account else (symbol,))
        return outcome_from_row(rows[0]) if rows else None

    def outcomes(self) -> list[OutcomeRecord]:
        return [outcome_from_row(r) for r in self._rows("SELECT * FROM outcomes ORDER BY resolved_at, rowid")]

    def record_outcome_failure(self, trade_cycle_id: str, source: str, error: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO outcome_failures(trade_cycle_id, ts, source, error) VALUES (?,?,?,?)",
                      (trade_cycle_id, utcnow().isoformat(), source, error))

    def outcome_failures(self, trade_cycle_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM outcome_failures"
        args: tuple[str, ...] = ()
        if trade_cycle_id is not None:
            sql, args = sql + " WHERE trade_cycle_id=?", (trade_cycle_id,)
        return [dict(r) for r in self._rows(sql + " ORDER BY id", args)]

    # -- verdicts ----------------------------------------------------------------------------------
    def record_verdict(self, trade_cycle_id: str, ts: datetime, kind: str, side: str, qty: float, allowed: bool,
                       reason_codes: list[str], judged_as: str, evidence: dict[str, Any] | None = None) -> None:
        with self._tx() as c:
            c.execute("""INSERT INTO verdicts(trade_cycle_id, ts, kind, side, qty, allowed, reason_codes, judged_as,
                         evidence_json) VALUES (?,?,?,?,?,?,?,?,?)""",
                      (trade_cycle_id, ts.isoformat(), kind, side, qty, int(allowed), json.dumps(list(reason_codes)),
                       judged_as, json.dumps(evidence, default=str) if evidence else None))

    def verdicts(self, trade_cycle_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM verdicts"
        args: tuple[str, ...] = ()
        if trade_cycle_id is not None:
            sql, args = sql + " WHERE trade_cycle_id=?", (trade_cycle_id,)
        out = []
        for r in self._rows(sql + " ORDER BY id", args):
            d = dict(r)
            d["reason_codes"] = json.loads(d["reason_codes"])
            d["allowed"] = bool(d["allowed"])
            d["evidence"] = json.loads(d.pop("evidence_json")) if d.get("evidence_json") else {}
            out.append(d)
        return out
