"""Fills import (issue 12): every layout keeps the side of each fill, fills group FIFO per market and
outcome into positions, PnL = the fills' cash flows + settlement, and the review counts positions, not
fills. Real files in /work/shared/data are optional (skipped when absent)."""
from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from tools.logs.fills import positions, round_trips
from tools.logs.fills_import import FillsFormatError, read_fills

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SLUG = "btc-updown-15m-1768029300"


def _wallet_csv(path: Path, rows: Sequence[tuple[str, str, float, float]], winner: str = "up") -> Path:
    """Polymarket wallet fills: (side, outcome, shares, price); the fee column is bogus, as in the real file."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["wallet", "market_slug", "market_question", "winning_outcome", "id", "timestamp", "datetime",
                    "side", "outcome", "shares", "usdc", "price", "role", "tx_hash", "fee"])
        for i, (side, outcome, sh, px) in enumerate(rows):
            w.writerow(["0xabc", SLUG, "Bitcoin Up or Down", winner, f"id{i}", 1768029316 + i, "2026-01-10T08:15:16",
                        side, outcome, sh, sh * px, px, "maker", f"0xtx{i // 2}", sh * 0.1])
    return path


def test_a_market_maker_is_one_position_per_outcome_with_net_pnl_from_cash_flows(tmp_path: Path) -> None:
    rows = [("BUY", "Up", 100, 0.40), ("SELL", "Up", 30, 0.55), ("BUY", "Up", 50, 0.45), ("SELL", "Up", 20, 0.60),
            ("BUY", "Down", 80, 0.50), ("SELL", "Down", 80, 0.52)] * 10
    fs, settle = read_fills(_wallet_csv(tmp_path / "wallet_fills.csv", rows))
    assert len(fs.fills) == 60 and sum(f.side.value == "SELL" for f in fs.fills) == 30   # sides kept
    ps = {p.key: p for p in positions(fs.fills, settle)}
    assert set(ps) == {f"{SLUG}:Up", f"{SLUG}:Down"}
    up, down = ps[f"{SLUG}:Up"], ps[f"{SLUG}:Down"]
    cash_up = 10 * (-100 * 0.40 + 30 * 0.55 - 50 * 0.45 + 20 * 0.60)
    assert up.fills == 40 and up.net_qty == pytest.approx(1000) and up.cash_flow == pytest.approx(cash_up)
    assert up.net_pnl == pytest.approx(cash_up + 1000 * 1.0)          # Up won: each held share pays 1
    assert down.net_qty == pytest.approx(0) and down.net_pnl == pytest.approx(10 * 80 * 0.02)
    assert up.round_trips > 0 and len(round_trips(fs.fills)) >= 20


def test_review_of_a_fills_file_reports_cash_flow_pnl_and_no_overtrading(tmp_path: Path) -> None:
    from tools.logs.bundle import load_bundle
    from tools.review.forensics.run import run_forensics

    rows = [("BUY", "Up", 10, 0.40), ("SELL", "Up", 5, 0.50), ("BUY", "Down", 10, 0.55)] * 200   # 600 fills
    b = load_bundle(_wallet_csv(tmp_path / "wallet_fills.csv", rows))
    assert b.fills is not None and not b.logs and b.kind == "polymarket"
    fx = run_forensics(b)
    assert len(fx.trades) == 2                               # two positions, not 600 trades
    expected = 200 * (-10 * 0.40 + 5 * 0.50) + 200 * 5 * 1.0 + 200 * (-10 * 0.55)
    assert sum(t.pnl for t in fx.trades if t.pnl is not None) == pytest.approx(expected)
    assert fx.counts["fills"]["fills"] == 600 and fx.counts["fills"]["sells"] == 200


def test_hummingbot_csv_generic_csv_and_duplicates(tmp_path: Path) -> None:
    hb = tmp_path / "trades_conf_pure_mm_4.csv"
    fee = "{'fee_type': 'AddedToCost', 'percent': '0.002', 'percent_token': None, 'flat_fees': []}"
    with hb.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow("exchange_trade_id,config_file_path,strategy,market,symbol,base_asset,quote_asset,timestamp,"
                   "order_id,trade_type,order_type,price,amount,leverage,trade_fee,position,age".split(","))
        for i, (side, px) in enumerate([("BUY", 0.000446), ("SELL", 0.000450), ("SELL", 0.000450)]):
            tid = "1985636187117569" if i < 2 else "1985636187117570"
            w.writerow([tid if i != 1 else "1985636187117571", "c.yml", "pure_market_making", "kucoin", "EDG-USDT",
                        "EDG", "USDT", 1670971170000 + i * 1000, f"o{i}", side, "LIMIT_MAKER", px, 1000, 1, fee, "NIL",
                        "00:29:06"])
        w.writerow(["1985636187117569", "c.yml", "pure_market_making", "kucoin", "EDG-USDT", "EDG", "USDT",
                    1670971170000, "o0", "BUY", "LIMIT_MAKER", 0.000446, 1000, 1, fee, "NIL", "00:29:06"])   # repeat
    fs, _ = read_fills(hb)
    assert len(fs.fills) == 3 and fs.duplicates == 1
    assert fs.fills[0].commission == pytest.approx(0.002 * 1000 * 0.000446)
    gen = tmp_path / "fills.csv"
    gen.write_text("time,symbol,side,qty,price,fee\n2026-01-02T10:00:00,SOL,buy,2,100,0.1\n"
                   "1767348540,SOL,sell,2,103,0.1\n2026-01-02T10:10:00,SOL,sell,abc,1,0\n")
    fs, _ = read_fills(gen)
    assert len(fs.fills) == 2 and len(fs.bad) == 1 and "row 4" in fs.bad[0]
    (t,) = round_trips(fs.fills)
    assert t.net_pnl == pytest.approx(6 - 0.2)
    with pytest.raises(FillsFormatError, match="not a known fills layout"):
        read_fills(_write(tmp_path / "x.csv", "a,b\n1,2\n"))


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def test_freqtrade_database_and_polymarket_json(tmp_path: Path) -> None:
    db = tmp_path / "tradesv3.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE trades (id INTEGER, fee_open_cost REAL, fee_close_cost REAL, is_short INTEGER)")
    con.execute("CREATE TABLE orders (id INTEGER, ft_trade_id INTEGER, ft_order_side TEXT, ft_pair TEXT, order_id TEXT,"
                " status TEXT, filled REAL, average REAL, price REAL, order_filled_date TEXT, order_date TEXT)")
    con.execute("INSERT INTO trades VALUES (1, 0.99993457, 1.00048418, 0)")
    con.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
        (1, 1, "buy", "ETH/USDC:USDC", "b1", "closed", 0.3233, 3092.9, 3092.9, "2025-12-12 22:39:13.180000", None),
        (2, 1, "sell", "ETH/USDC:USDC", "s1", "canceled", 0.0, None, 3094.3, None, "2025-12-12 22:39:16"),
        (3, 1, "sell", "ETH/USDC:USDC", "s2", "closed", 0.3233, 3094.6, 3094.6, "2025-12-12 23:00:06.432000", None)])
    con.commit()
    con.close()
    fs, _ = read_fills(db)
    (t,) = round_trips(fs.fills)
    assert t.net_pnl == pytest.approx(-1.45080875, abs=1e-8)
    js = tmp_path / "data_api_trades.json"
    js.write_text(json.dumps([
        {"side": "BUY", "asset": "111", "size": 45, "price": 0.82, "timestamp": 1770479517, "slug": "m", "outcome": "Down",
         "transactionHash": "0x1"},
        {"side": "SELL", "asset": "111", "size": 20, "price": 0.9, "timestamp": 1770479518, "slug": "m",
         "outcome": "Down", "transactionHash": "0x2"},
        {"side": "BUY", "size": 1e999 if False else "x", "price": 0.5, "timestamp": 1, "slug": "m", "outcome": "Up"}]))
    fs, settle = read_fills(js)
    assert [f.side.value for f in fs.fills] == ["BUY", "SELL"] and len(fs.bad) == 1 and not settle
    (p,) = positions(fs.fills, settle)
    assert p.net_qty == pytest.approx(25) and p.net_pnl is None           # open and unsettled: no made-up PnL


def _need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


def test_real_c4_wallet_fills_net_pnl_is_plus_4_39() -> None:
    f = _need(DATA / "C4_polymarket_btc_updown_15m_fills" / f"{SLUG}_wallet_fills.csv")
    fs, settle = read_fills(f)
    assert len(fs.fills) == 749 and sum(x.side.value == "SELL" for x in fs.fills) == 33
    ps = positions(fs.fills, settle)
    assert len(ps) == 2 and sum(p.net_pnl or 0 for p in ps) == pytest.approx(4.393949, abs=1e-5)


def test_real_c1_orders_export_gives_the_database_trade() -> None:
    f = _need(DATA / "C1_freqtrade_dryrun_log_hyperliquid_eth" / "tradesv3_orders.csv")
    fs, _ = read_fills(f)
    (t,) = round_trips(fs.fills)
    assert t.net_pnl == pytest.approx(-1.45080875, abs=1e-8)


def test_real_c2_trades_csv_keeps_sides() -> None:
    f = _need(DATA / "C2_hummingbot_kucoin_pure_mm_logs" / "trades_conf_pure_mm_4.csv")
    fs, _ = read_fills(f)
    assert len(fs.fills) == 1791 and sum(x.side.value == "BUY" for x in fs.fills) == 805 and not fs.bad
