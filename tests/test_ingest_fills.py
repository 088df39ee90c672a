"""`warden ingest` takes fills files (issue 12): each closed position (flat to flat, FIFO per market and
outcome, or settled) becomes one memory record with PnL from the fills' cash flows; re-ingesting the same
or an overlapping export adds nothing twice; bad rows are counted with their row numbers; an unknown or
empty file is one line, exit 2. Real files in /work/shared/data are optional (skipped when absent)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_fills_import import _wallet_csv as _wallet  # the real file's columns, bogus fee included
from tools.logs.fills_import import read_fills
from tools.memory.fills_ingest import LAYOUTS, read_fills_file, split_positions
from tools.memory.outcomes_table import OutcomesTable
from trading.domain.pnl import round_trips
from warden.cli import app
from warden.commands.ingest import FillsLayout
from warden.errors import UserError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SLUG = "btc-updown-15m-1768029300"
GENERIC = "time,symbol,side,qty,price,fee,exec_id\n"


def _generic(path: Path, rows: Sequence[tuple[str, str, float, float]], start: int = 0) -> Path:
    """(symbol, side, qty, price), one minute apart, fee 0.5 each, exec ids e<start+i>."""
    body = "".join(f"2026-01-02T{10 + (start + i) // 60:02d}:{(start + i) % 60:02d}:00,{s},{side},{q},{px},0.5,"
                   f"e{start + i}\n" for i, (s, side, q, px) in enumerate(rows))
    path.write_text(GENERIC + body)
    return path


def _ingest(data: Path, *args: str) -> dict:
    r = CliRunner().invoke(app, ["ingest", *args, "--data-dir", str(data), "--json"])
    assert r.exit_code == 0, (r.output, r.exception)
    return json.loads(r.output)


def _user_error(data: Path, *args: str) -> str:
    r = CliRunner().invoke(app, ["ingest", *args, "--data-dir", str(data)])
    assert isinstance(r.exception, UserError), (r.output, r.exception)
    return str(r.exception)


# a maker in SOL: three round trips back to flat, the second one through several fills, then one left open
MAKER = [("SOL", "buy", 2, 100), ("SOL", "sell", 2, 103),                                   # +6 - 1 fee
         ("SOL", "buy", 1, 100), ("SOL", "buy", 1, 102), ("SOL", "sell", 1, 104), ("SOL", "sell", 1, 99),
         ("SOL", "sell", 3, 98), ("SOL", "buy", 3, 97),                                     # short: +3 - 1
         ("SOL", "buy", 5, 90)]                                                              # still open


def test_a_maker_is_one_record_per_closed_position_with_cash_flow_pnl(tmp_path: Path) -> None:
    f = _generic(tmp_path / "fills.csv", MAKER)
    ff = read_fills_file(f)
    assert (ff.layout, ff.rows, ff.fills, ff.open_positions) == ("generic", 9, 9, 1)
    recs = ff.records
    assert [len(o.fills) for o in recs] == [2, 4, 2] and [o.side for o in recs] == ["BUY", "BUY", "SELL"]
    assert [o.pnl_usd for o in recs] == pytest.approx([5.0, (104 + 99 - 100 - 102) - 2.0, 3.0 - 1.0])
    assert recs[1].qty == 2 and recs[1].entry_price == pytest.approx(101) and recs[1].exit_price == pytest.approx(101.5)
    assert all(o.fees_usd == pytest.approx(0.5 * len(o.fills)) for o in recs)
    assert all(o.gross_pnl_usd - o.fees_usd == pytest.approx(o.pnl_usd) for o in recs)
    # the one FIFO implementation agrees on every closed fill
    fs, _ = read_fills(f)
    closed = [x for o in recs for x in o.fills]
    assert sum(t.net_pnl for t in round_trips(closed, lambda s: 1.0, ndigits=None)) == pytest.approx(ff.net_pnl["USD"])


def test_a_fill_that_crosses_zero_closes_one_position_and_opens_the_next(tmp_path: Path) -> None:
    f = _generic(tmp_path / "fills.csv", [("ES", "buy", 1, 5000), ("ES", "sell", 3, 5002), ("ES", "buy", 2, 4999)])
    ff = read_fills_file(f)
    long_, short = ff.records
    assert long_.side == "BUY" and long_.qty == 1 and long_.fills[-1].qty == 1
    assert long_.pnl_usd == pytest.approx(2 * 50 - 0.5 - 0.5 / 3)            # ES is 50 a point: the registry
    assert short.side == "SELL" and short.qty == 2 and short.pnl_usd == pytest.approx(3 * 50 * 2 - 0.5 - 1 / 3)
    assert long_.trade_cycle_id != short.trade_cycle_id and ff.open_positions == 0
    assert long_.asset_class == "future" and long_.currency == "USD" and long_.venue == "ib"


def test_settled_polymarket_shares_are_one_record_per_outcome(tmp_path: Path) -> None:
    rows = [("BUY", "Up", 100, 0.40), ("SELL", "Up", 30, 0.55), ("BUY", "Down", 80, 0.50),
            ("SELL", "Down", 20, 0.52)] * 5
    ff = read_fills_file(_wallet(tmp_path / "wallet_fills.csv", rows))
    by = {o.trade_cycle_id.split("-")[-2]: o for o in ff.records}
    assert set(by) == {"Up", "Down"} and all(o.symbol == SLUG for o in by.values())
    up, down = by["Up"], by["Down"]
    assert up.pnl_usd == pytest.approx(5 * (-40 + 16.5) + 350 * 1.0) and up.won
    assert down.pnl_usd == pytest.approx(5 * (-40 + 10.4)) and not down.won
    assert up.exit_reason == "resolution" and up.closed_at.isoformat() == "2026-01-10T07:30:00+00:00"
    assert (up.asset_class, up.currency, up.venue, len(up.fills)) == ("prediction", "USDC", "polymarket", 10)


def test_reingest_and_an_overlapping_later_export_add_nothing_twice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _generic(tmp_path / "first.csv", MAKER[:7])
    d1 = _ingest(data, str(first))
    assert d1["fills_records"]["added"] == 2 and d1["fills"][0]["open_positions"] == 1
    d2 = _ingest(data, str(first))
    assert d2["fills_records"]["added"] == 0 and d2["fills_records"]["skipped"] == 2
    later = _generic(tmp_path / "later.csv", MAKER)                # the same fills and more
    d3 = _ingest(data, str(later))
    assert d3["fills_records"] == {"added": 1, "updated": 0, "repaired": 0, "skipped": 2, "duplicates": 0}
    table = OutcomesTable.in_data_dir(data).load()
    assert len(table) == 3 and table["pnl_usd"].sum() == pytest.approx(5.0 - 1.0 + 2.0)
    assert set(table["n_fills"]) == {2, 4}


def test_bad_rows_are_counted_with_row_numbers_and_the_rest_goes_in(tmp_path: Path) -> None:
    f = tmp_path / "fills.csv"
    f.write_text("time,symbol,side,qty,price\n"
                 "2026-01-02T10:00:00,SOL,buy,2,100\n"
                 "2026-01-02T10:01:00,SOL,buy,1,nan\n"
                 f"2026-01-02T10:02:00,SOL,buy,{'9' * 400},100\n"
                 "2026-01-02T10:03:00,SOL,sell,2,101\n"
                 "2026-01-02T10:03:00,SOL,sell,2,101\n")                  # the same row twice, no exec_id
    d = _ingest(tmp_path / "data", str(f))
    (ff,) = d["fills"]
    assert ff["rows"] == 5 and ff["fills"] == 2 and ff["duplicate_fills"] == 1
    assert [b.split(":")[0] for b in ff["bad_rows"]] == ["row 3", "row 4"]
    assert "finite" in ff["bad_rows"][0] and "too long" in ff["bad_rows"][1]
    assert ff["closed_positions"] == 1 and ff["net_pnl"] == {"USD": pytest.approx(2.0)}      # the repeat did not double
    r = CliRunner().invoke(app, ["ingest", str(f), "--data-dir", str(tmp_path / "data")])
    assert "bad row 3: price" in r.output and "1 duplicate fills dropped" in r.output


def test_unknown_empty_or_incomplete_files_are_one_line_errors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "is empty" in _user_error(data, str(empty))
    missing = tmp_path / "fills.csv"
    missing.write_text("time,symbol,side,qty\n2026-01-02T10:00:00,SOL,buy,2\n")
    assert "lacks column(s) price" in _user_error(data, str(missing))
    candles = tmp_path / "candles.csv"
    candles.write_text("timestamp,open,high,low,close\n1,2,3,1,2\n")
    msg = _user_error(data, str(candles))
    assert "not a fills file" in msg and all(name.split(" (")[0].split(":")[0] in msg for name in LAYOUTS.values())
    note = tmp_path / "notes.md"
    note.write_text("# notes\n")
    assert "not a fills file" in _user_error(data, str(note), "--fills")
    wallet = _wallet(tmp_path / "w.csv", [("BUY", "Up", 1, 0.5)])
    assert "--format generic expects" in _user_error(data, str(wallet), "--format", "generic")
    assert not (data / "tables" / "outcomes.parquet").exists()                   # nothing half-ingested
    r = subprocess.run([sys.executable, "-m", "warden", "ingest", str(empty), "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "empty" in r.stderr


def test_a_folder_mixes_fills_with_outcome_files_and_a_freqtrade_database(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _generic(src / "fills.csv", MAKER[:2])
    db = src / "tradesv3.sqlite"
    with sqlite3.connect(db) as con:          # freqtrade's tables, the columns the reader uses; trade 1 of C1
        con.executescript("""
            CREATE TABLE trades (id INTEGER, fee_open_cost REAL, fee_close_cost REAL, is_short INTEGER);
            CREATE TABLE orders (id INTEGER, ft_trade_id INTEGER, ft_order_side TEXT, ft_pair TEXT, order_id TEXT,
                                 status TEXT, filled REAL, average REAL, price REAL, order_filled_date TEXT,
                                 order_date TEXT);
            INSERT INTO trades VALUES (1, 0.99993457, 1.00048418, 0);
            INSERT INTO orders VALUES (1, 1, 'buy', 'ETH/USDC:USDC', 'b1', 'closed', 0.3233, 3092.9, 3092.9,
                                       '2025-12-12 22:39:13', NULL),
                                      (2, 1, 'sell', 'ETH/USDC:USDC', 's1', 'canceled', 0.0, NULL, 3094.3, NULL,
                                       '2025-12-12 22:39:16'),
                                      (3, 1, 'sell', 'ETH/USDC:USDC', 's2', 'closed', 0.3233, 3094.6, 3094.6,
                                       '2025-12-12 23:00:06', NULL);""")
    con.close()
    (src / "report.md").write_text("# Incident report\n\nThe bot stopped.\n")
    d = _ingest(tmp_path / "data", str(src))
    layouts = {Path(f["path"]).name: (f["layout"], f["rows"], f["closed_positions"]) for f in d["fills"]}
    assert layouts == {"fills.csv": ("generic", 2, 1), "tradesv3.sqlite": ("freqtrade", 3, 1)}
    assert d["documents"]["added"] == 1 and d["fills_records"]["added"] == 2
    pnl = {Path(r["path"]).name: r["net_pnl"] for r in d["fills"]}
    assert pnl == {"fills.csv": {"USD": pytest.approx(5.0)},
                   "tradesv3.sqlite": {"USD": pytest.approx(-1.45080875, abs=1e-8)}}


def test_format_names_match_the_layouts() -> None:
    assert {m.value for m in FillsLayout} == set(LAYOUTS)


def test_split_positions_keeps_open_quantity_open(tmp_path: Path) -> None:
    fs, _ = read_fills(_generic(tmp_path / "f.csv", [("X", "buy", 1, 1), ("X", "sell", 0.5, 2)]))
    closed, still = split_positions(fs.fills)
    assert not closed and len(still) == 1 and still[0].net == pytest.approx(0.5)


# --- real files ------------------------------------------------------------------------------------------
def _need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


def test_real_c4_fills_ingested_then_asked_net_pnl_by_market(tmp_path: Path) -> None:
    f = _need(DATA / "C4_polymarket_btc_updown_15m_fills" / f"{SLUG}_wallet_fills.csv")
    data = tmp_path / "data"
    d = _ingest(data, str(f))
    (ff,) = d["fills"]
    assert (ff["rows"], ff["fills"], ff["closed_positions"], ff["open_positions"]) == (749, 749, 2, 0)
    assert ff["net_pnl"] == {"USDC": pytest.approx(4.393949, abs=1e-6)} and d["fills_records"]["added"] == 2
    assert _ingest(data, str(f))["fills_records"]["skipped"] == 2
    r = CliRunner().invoke(app, ["ask", "net pnl by market", "--data-dir", str(data), "--json"])
    doc = json.loads(r.output)
    text = json.dumps(doc)
    assert "4.39" in text and all(i in text for i in ff["records"])
    r = CliRunner().invoke(app, ["ask", "how many trades", "--data-dir", str(data)])
    assert "2 trades" in r.output and ff["records"][0] in r.output


def test_real_c1_c2_c3_fills(tmp_path: Path) -> None:
    c1 = read_fills_file(_need(DATA / "C1_freqtrade_dryrun_log_hyperliquid_eth" / "tradesv3_orders.csv"))
    assert (c1.rows, c1.fills, len(c1.records), c1.open_positions) == (32, 2, 1, 0)
    assert c1.records[0].pnl_usd == pytest.approx(-1.45080875, abs=1e-8)
    c2 = read_fills_file(_need(DATA / "C2_hummingbot_kucoin_pure_mm_logs" / "trades_conf_pure_mm_4.csv"))
    assert c2.rows == 1791 and c2.fills == 1791 and not c2.bad and c2.open_positions == 1
    assert len(c2.records) == 107 and all(o.venue == "hummingbot" and o.asset_class == "crypto" for o in c2.records)
    c3 = read_fills_file(_need(DATA / "C3_polymarket_api_responses" / "data_api_trades.json"))
    assert c3.rows == 100 and c3.open_positions + len(c3.records) + c3.incomplete >= 50
    assert "holds no fills" in _user_error(tmp_path / "d", str(DATA / "C1_freqtrade_dryrun_log_hyperliquid_eth"
                                                                 / "tradesv3_trades.csv"))


def test_a_spreadsheet_export_with_a_bom_and_crlf_and_no_exec_ids_is_read(tmp_path: Path) -> None:
    f = tmp_path / "fills.csv"
    f.write_bytes(b"\xef\xbb\xbftime,symbol,side,qty,price\r\n2026-01-02T10:00:00,SOL,buy,2,100\r\n"
                  b"2026-01-02T10:01:00,SOL,sell,2,101\r\n")
    d = _ingest(tmp_path / "data", str(f))
    assert d["fills"][0]["layout"] == "generic" and d["fills_records"]["added"] == 1
    longer = tmp_path / "later.csv"                       # a later export: the same rows, one more trip
    longer.write_bytes(f.read_bytes() + b"2026-01-02T10:02:00,SOL,buy,1,100\r\n2026-01-02T10:03:00,SOL,sell,1,99\r\n")
    d = _ingest(tmp_path / "data", str(longer))
    assert d["fills_records"]["added"] == 1 and d["fills_records"]["skipped"] == 1
