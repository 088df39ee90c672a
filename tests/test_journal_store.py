"""The SQLite journal: migrations, WAL, idempotent fills and outcomes, loud failures; the legacy reader."""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trading.domain.models import Fill, Order, OrderStatus, Side
from trading.records.journal import Journal, JournalError, JournalUnwritable
from trading.records.journal_records import OutcomeRecord, TradeRecord
from trading.records.journal_schema import SCHEMA_VERSION
from trading.records.legacy_journal import LegacyJournalError, read_legacy_journal, unresolved

T = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)


def trade(cycle: str = "c1", **kw) -> TradeRecord:
    base = dict(trade_cycle_id=cycle, venue="paper", account="acct", symbol="ES", side=Side.BUY, qty=1,
                status="open", opened_at=T, stop=4990.0, target=5020.0)
    return TradeRecord(**{**base, **kw})


def fill(eid: str, side: Side, px: float, qty: float = 1, cycle: str = "c1", order: str = "1") -> Fill:
    return Fill(exec_id=eid, order_id=order, symbol="ES", side=side, qty=qty, price=px, ts=T, commission=2.25,
                trade_cycle_id=cycle)


def test_fresh_journal_is_wal_at_the_current_schema_and_reopens_without_migrating(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    assert j.schema_version == SCHEMA_VERSION
    assert j._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    j.open_trade(trade())
    j.close()
    j2 = Journal(tmp_path / "j.db")
    assert j2.schema_version == SCHEMA_VERSION and j2.trade("c1").symbol == "ES"


def test_a_journal_from_a_newer_warden_is_refused(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db").close()
    c = sqlite3.connect(tmp_path / "j.db")
    c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    c.close()
    with pytest.raises(JournalError, match="newer"):
        Journal(tmp_path / "j.db")


def test_fills_and_outcomes_are_idempotent(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.open_trade(trade())
    assert j.record_fill(fill("e1", Side.BUY, 5000), "acct") is True
    assert j.record_fill(fill("e1", Side.BUY, 5000), "acct") is False
    assert j.record_fill(fill("x1", Side.SELL, 5010), "acct") is True
    assert len(j.fills("c1")) == 2 and j.positions("acct") == {}
    out = OutcomeRecord(trade_cycle_id="c1", resolved_at=T, won=True, pnl=495.5, gross_pnl=500, fees=4.5,
                        source="fills")
    assert j.record_outcome(out) is True
    assert j.record_outcome(out.model_copy(update={"pnl": 1.0})) is False
    assert j.outcome("c1").pnl == 495.5 and j.trade("c1").status == "closed"


def test_positions_are_per_account_and_settled_binaries_drop_out(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.open_trade(trade("a"))
    j.open_trade(trade("b", account="other"))
    j.record_fill(fill("1", Side.BUY, 5000, cycle="a"), "acct")
    j.record_fill(fill("2", Side.BUY, 5000, qty=3, cycle="b"), "other")
    assert j.positions("acct") == {"ES": 1.0} and j.positions("other") == {"ES": 3.0}
    assert j.positions() == {"ES": 4.0}
    j.record_outcome(OutcomeRecord(trade_cycle_id="b", resolved_at=T, won=False, pnl=-1, gross_pnl=-1,
                                   source="api"))
    assert j.positions("other") == {}


def test_orders_and_verdicts_round_trip(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    o = Order(order_id="7", trade_cycle_id="c1", symbol="ES", side=Side.SELL, qty=1, stop_price=4990,
              order_type="STP", parent_id="6", oca_group="oca-6", reduce_only=True, status=OrderStatus.SUBMITTED)
    j.record_order(o, "stop")
    assert [r.role for r in j.orders("c1", working=True)] == ["stop"]
    j.update_order("7", OrderStatus.CANCELLED, reason="OCA group filled")
    assert j.orders("c1", working=True) == [] and j.order("7").order.reason == "OCA group filled"
    j.record_verdict("c1", T, "exit", "BUY", 1, False, ["NO_EXPOSURE", "AWS_WAIT"], "entry", {"live_position": 0})
    v = j.verdicts("c1")[0]
    assert v["reason_codes"] == ["NO_EXPOSURE", "AWS_WAIT"] and v["allowed"] is False
    assert v["evidence"] == {"live_position": 0}


def test_a_locked_journal_is_a_loud_error_not_a_silent_skip(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "j.db", timeout=0.05)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JournalUnwritable, match="locked"):
            j.record_fill(fill("e1", Side.BUY, 5000), "acct")
        assert j.write_failures == 1
        with pytest.raises(JournalUnwritable):
            Journal(tmp_path / "j.db", busy_timeout_ms=50)       # opening probes a write
    finally:
        other.rollback()
        other.close()
    assert j.record_fill(fill("e1", Side.BUY, 5000), "acct") is True   # nothing half-written before


def test_the_legacy_schema_is_refused_for_writing(tmp_path: Path) -> None:
    db = tmp_path / "trade_journal.db"
    _legacy_db(db)
    with pytest.raises(JournalError, match="legacy"):
        Journal(db)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 0   # untouched


def _legacy_db(path: Path) -> None:
    c = sqlite3.connect(path)
    c.executescript("""
        CREATE TABLE trades (
          id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, strategy TEXT, market_slug TEXT,
          asset TEXT, outcome TEXT, side TEXT, price REAL, size REAL, cost REAL,
          confidence REAL, order_id TEXT, status TEXT);
        CREATE TABLE outcomes (
          trade_id INTEGER PRIMARY KEY REFERENCES trades(id), resolved_at TEXT,
          winner TEXT, won INTEGER, payout REAL, pnl REAL);
    """)
    rows = [(17, "2026-01-15 00:14:52", "ml_random_forest", "btc-updown-15m-1768436100", "BTC", "Up", "BUY", 0.42,
             11.90, 5.00, 0.58, "0x9f3c2a7be1d04c55", "matched"),
            (18, "2026-01-15T00:29:51Z", "ml_random_forest", "eth-updown-15m-1768437000", "ETH", "Down", "BUY",
             0.35, 10.0, 3.5, 0.61, "0xaa", "matched")]
    c.executemany("INSERT INTO trades VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    c.execute("INSERT INTO outcomes VALUES (18, '2026-01-15T00:45:10Z', 'Down', 1, 10.0, 6.5)")
    c.commit()
    c.close()


def test_legacy_reader_reads_trades_and_outcomes_read_only(tmp_path: Path) -> None:
    db = tmp_path / "trade_journal.db"
    _legacy_db(db)
    before = db.read_bytes()
    trades = read_legacy_journal(db)
    assert db.read_bytes() == before
    assert [t.id for t in trades] == [17, 18]
    assert trades[0].timestamp == datetime(2026, 1, 15, 0, 14, 52, tzinfo=UTC)
    assert trades[0].result is None and trades[1].result.won is True and trades[1].result.pnl == 6.5
    assert [t.id for t in unresolved(trades)] == [17]
    # a share pays 1 when its outcome wins: size x (1 - price) on a win, -cost on a loss
    assert trades[0].expected_pnl("Down") == -5.0
    assert trades[0].expected_pnl("Up") == pytest.approx(11.90 * 0.58)
    assert trades[1].expected_pnl("Down") == pytest.approx(6.5)
    chicago = read_legacy_journal(db, tz="America/Chicago")
    assert chicago[0].timestamp == datetime(2026, 1, 15, 6, 14, 52, tzinfo=UTC)


def test_legacy_reader_names_what_is_missing(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("CREATE TABLE fills (id INTEGER)").connection.close()
    with pytest.raises(LegacyJournalError, match="no 'trades' table"):
        read_legacy_journal(db)
    (tmp_path / "notdb.db").write_text("hello, not sqlite" * 100)
    with pytest.raises(LegacyJournalError, match="not an SQLite database"):
        read_legacy_journal(tmp_path / "notdb.db")
    with pytest.raises(LegacyJournalError, match="no such file"):
        read_legacy_journal(tmp_path / "missing.db")


def test_trades_filter_by_status_symbol_account(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.open_trade(trade("a"))
    j.open_trade(trade("b", status="pending", opened_at=T + timedelta(seconds=1)))
    j.open_trade(trade("c", symbol="NQ", status="closed"))
    assert [t.trade_cycle_id for t in j.trades(status=("open", "pending"))] == ["a", "b"]
    assert [t.trade_cycle_id for t in j.trades(symbol="NQ")] == ["c"]
    assert j.trades(account="nobody") == []
