"""Issue 12: outcomes, the journal and the memory keep the real symbol, its asset class and its PnL currency;
PnL in different currencies is never added."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tools.memory.outcomes_table import OutcomesTable, outcome_row
from tools.memory.questions import Query, QueryFilter, run_query
from trading.domain.instruments import configure
from trading.domain.models import Side
from trading.records.journal import Journal
from trading.records.journal_records import OutcomeRecord, TradeRecord
from trading.records.journal_schema import MIGRATIONS, SCHEMA_VERSION
from trading.records.learning_hooks import LearningHooks
from trading.records.outcome_schema import OUTCOME_SCHEMA_VERSION, TradeOutcome, instrument_facts, write_outcome
from trading.settings import GuardConfig

T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_user_instruments() -> Iterator[None]:
    configure({})
    yield
    configure({})


def outcome(cid: str, symbol: str, venue: str = "paper", pnl: float = 10.0, minutes: int = 0, **kw) -> TradeOutcome:
    return TradeOutcome(trade_cycle_id=cid, venue=venue, symbol=symbol, side="BUY", qty=1.0,
                        opened_at=T + timedelta(minutes=minutes), closed_at=T + timedelta(minutes=minutes + 5),
                        entry_price=100.0, exit_price=101.0, pnl_usd=pnl, gross_pnl_usd=pnl, won=pnl > 0, **kw)


@pytest.mark.parametrize("symbol,venue,asset_class,currency,multiplier", [
    ("BTCUSDT", "paper", "crypto", "USD", 1.0),
    ("ETHBTC", "paper", "crypto", "BTC", 1.0),
    ("ESZ5", "ib", "future", "USD", 50.0),
    ("MESH6", "ib", "future", "USD", 5.0),
    ("SPY", "paper", "stock", "USD", 1.0),
    ("EURJPY", "paper", "fx", "JPY", 1.0),
    ("BTC-PERP", "paper", "perpetual", "USD", 1.0),
    ("btc-updown-15m-1768437900", "polymarket", "prediction", "USDC", 1.0),
    ("bitcoin-above-100k-on-january-16", "polymarket", "prediction", "USDC", 1.0),
    ("POLY:12345", "paper", "prediction", "USDC", 1.0),
    ("NOT A SYMBOL!", "paper", "unknown", "USD", None),
])
def test_a_new_outcome_records_the_instruments_asset_class_currency_and_multiplier(
        symbol: str, venue: str, asset_class: str, currency: str, multiplier: float | None) -> None:
    o = outcome("c1", symbol, venue)
    assert (o.schema_version, o.symbol) == (OUTCOME_SCHEMA_VERSION, symbol)
    assert (o.asset_class, o.currency, o.multiplier) == (asset_class, currency, multiplier)
    dumped = o.model_dump(mode="json")
    assert dumped["asset_class"] == asset_class and dumped["currency"] == currency


def test_a_user_declared_instrument_keeps_its_declared_class_and_currency() -> None:
    configure({"DAX_CFD": {"asset_class": "other", "multiplier": 25, "tick": 0.5, "currency": "EUR"}})
    o = outcome("c1", "DAX_CFD")
    assert (o.asset_class, o.currency, o.multiplier) == ("other", "EUR", 25.0)
    # explicit values win over the registry (a fills import that knows better)
    o2 = outcome("c2", "DAX_CFD", asset_class="future", currency="usd")
    assert (o2.asset_class, o2.currency) == ("future", "USD")


def test_a_version_1_outcome_file_is_read_with_facts_derived_from_its_symbol(tmp_path: Path) -> None:
    for symbol, want in (("ESZ5", ("future", "USD", 50.0)), ("ETHBTC", ("crypto", "BTC", 1.0)),
                         ("ZZZ_UNKNOWN_9", ("unknown", "USD", None))):
        v1 = outcome("old", symbol).model_dump(mode="json")
        for k in ("asset_class", "currency", "multiplier"):
            del v1[k]
        v1["schema_version"] = 1
        o = TradeOutcome.model_validate_json(json.dumps(v1))
        assert o.schema_version == OUTCOME_SCHEMA_VERSION
        assert (o.asset_class, o.currency, o.multiplier) == want
    with pytest.raises(ValueError):                      # extra fields are still refused
        TradeOutcome.model_validate({**v1, "surprise": 1})


def test_outcome_files_stay_byte_identical_when_rewritten(tmp_path: Path) -> None:
    o = outcome("c1", "ETHBTC")
    p, changed = write_outcome(tmp_path, o)
    first = p.read_bytes()
    again = TradeOutcome.model_validate_json(first)
    p2, changed2 = write_outcome(tmp_path, again)
    assert changed and not changed2 and p2 == p and p.read_bytes() == first
    assert json.loads(first)["currency"] == "BTC"


def test_learning_hooks_write_the_journals_asset_class_and_currency(tmp_path: Path) -> None:
    trade = TradeRecord(trade_cycle_id="c9", venue="paper", symbol="ETHBTC", side=Side.BUY, qty=2.0,
                        status="closed", opened_at=T, asset_class="crypto", currency="BTC")
    out = OutcomeRecord(trade_cycle_id="c9", resolved_at=T + timedelta(minutes=3), won=True, pnl=0.0012,
                        gross_pnl=0.0012, source="fills", entry_price=0.05, exit_price=0.0506, qty=2.0)
    p_out, _ = LearningHooks(tmp_path, GuardConfig()).on_trade_close(trade, out, [], [])
    doc = json.loads(p_out.read_text(encoding="utf-8"))
    assert (doc["schema_version"], doc["asset_class"], doc["currency"]) == (2, "crypto", "BTC")
    assert doc["pnl_usd"] == 0.0012


# --- the journal ----------------------------------------------------------------------------------------

def _journal_v1(path: Path, rows: list[tuple[str, str, str]]) -> None:
    c = sqlite3.connect(path)
    for stmt in MIGRATIONS[0]:
        c.execute(stmt)
    c.execute("PRAGMA user_version=1")
    for cid, venue, symbol in rows:
        c.execute("INSERT INTO trades(trade_cycle_id, venue, symbol, side, qty, status, opened_at) "
                  "VALUES (?,?,?,?,?,?,?)", (cid, venue, symbol, "BUY", 1.0, "closed", T.isoformat()))
    c.commit()
    c.close()


def test_a_version_1_journal_gains_asset_class_and_currency_filled_from_symbols(tmp_path: Path) -> None:
    db = tmp_path / "journal.db"
    _journal_v1(db, [("a", "ib", "ESZ5"), ("b", "paper", "ETHBTC"), ("c", "polymarket", "bitcoin-above-100k"),
                     ("d", "paper", "#?!")])
    j = Journal(db)
    assert j.schema_version == SCHEMA_VERSION == 2
    got = {t.trade_cycle_id: (t.asset_class, t.currency) for t in j.trades()}
    assert got == {"a": ("future", "USD"), "b": ("crypto", "BTC"), "c": ("prediction", "USDC"),
                   "d": ("unknown", "USD")}
    j.close()
    before = db.read_bytes()
    j2 = Journal(db)                                       # reopening: no migration, nothing refilled
    b = j2.trade("b")
    assert j2.schema_version == 2 and b is not None and b.currency == "BTC"
    j2.close()
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM trades WHERE asset_class='' OR currency=''").fetchone()[0] == 0
    con.close()
    assert len(before) > 0


def test_a_new_trade_gets_its_asset_class_from_the_registry_unless_the_record_has_one(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    j.open_trade(TradeRecord(trade_cycle_id="x", venue="paper", symbol="SPY", side=Side.BUY, qty=1, status="open",
                             opened_at=T))
    j.open_trade(TradeRecord(trade_cycle_id="y", venue="paper", symbol="SPY", side=Side.BUY, qty=1, status="open",
                             opened_at=T, asset_class="other", currency="eur"))
    x, y = j.trade("x"), j.trade("y")
    assert x is not None and (x.asset_class, x.currency) == ("stock", "USD")
    assert y is not None and (y.asset_class, y.currency) == ("other", "EUR")
    j.close()


# --- the memory -----------------------------------------------------------------------------------------

def test_an_outcomes_table_written_before_the_columns_existed_loads_them_from_symbols(tmp_path: Path) -> None:
    rows = [outcome_row(outcome("a", "ESZ5")), outcome_row(outcome("b", "ETHBTC"))]
    old = pd.DataFrame(rows).drop(columns=["asset_class", "currency", "multiplier"])
    path = tmp_path / "tables" / "outcomes.parquet"
    path.parent.mkdir(parents=True)
    old.to_parquet(path, index=False)
    df = OutcomesTable(path).load()
    assert df.set_index("trade_cycle_id")[["asset_class", "currency"]].to_dict("index") == {
        "a": {"asset_class": "future", "currency": "USD"}, "b": {"asset_class": "crypto", "currency": "BTC"}}


def _table(tmp_path: Path, outs: list[TradeOutcome]) -> pd.DataFrame:
    t = OutcomesTable(tmp_path / "outcomes.parquet")
    t.upsert([outcome_row(o) for o in outs])
    return t.load()


def test_pnl_in_two_currencies_is_answered_per_currency_never_summed(tmp_path: Path) -> None:
    df = _table(tmp_path, [outcome("u1", "ESZ5", "ib", 100.0, 0), outcome("u2", "ESZ5", "ib", -40.0, 10),
                           outcome("b1", "ETHBTC", "paper", 0.0025, 20), outcome("b2", "ETHBTC", "paper", -0.001, 30)])
    r = run_query(df, Query(metric="pnl"))
    assert r.value is None and r.value_text == ""
    assert "BTC" in r.note and "USD" in r.note and "never added" in r.note
    by = {g["key"]: g for g in r.groups}
    assert by["USD"]["value"] == 60.0 and by["USD"]["value_text"] == "$60.00"
    assert by["BTC"]["currency"] == "BTC" and by["BTC"]["value_text"].endswith(" BTC")
    assert r.n == 4 and sorted(r.cited) == ["b1", "b2", "u1", "u2"]
    # grouped: each group is one currency
    g = run_query(df, Query(metric="pnl", group_by="asset_class"))
    assert {x["key"] for x in g.groups} == {"future [USD]", "crypto [BTC]"}
    # counts and win rates mix currencies safely
    w = run_query(df, Query(metric="win_rate"))
    assert w.value == 50.0 and not w.groups
    # one currency after the filter: a plain value
    f = run_query(df, Query(metric="pnl", filter=QueryFilter(asset_class="future")))
    assert (f.value, f.value_text) == (60.0, "$60.00")


def test_a_single_non_usd_currency_is_written_in_that_currency(tmp_path: Path) -> None:
    df = _table(tmp_path, [outcome("j1", "USDJPY", "paper", 1500.0), outcome("j2", "USDJPY", "paper", 250.0, 10)])
    r = run_query(df, Query(metric="pnl"))
    assert r.value == 1750.0 and r.value_text == "1,750 JPY"
    best = run_query(df, Query(metric="best", top=1))
    assert best.rows[0]["currency"] == "JPY"


def test_asking_by_asset_class_in_words(tmp_path: Path) -> None:
    from agents.learning_router import route_question

    for q, want in (("net pnl for crypto", {"asset_class": "crypto"}), ("win rate on futures", {"asset_class": "future"}),
                    ("how many perps trades", {"asset_class": "perpetual"})):
        intent = route_question(q, None, T)
        assert intent.kind == "numeric" and intent.query is not None
        assert intent.query.filter.model_dump(exclude_defaults=True) == want, q
    by = route_question("win rate by asset class", None, T)
    assert by.query is not None and by.query.group_by == "asset_class"


def test_instrument_facts_never_raise() -> None:
    for s in ("", " ", "💥", "A" * 500, "ES Z5", "POLY:123"):
        f = instrument_facts(s, "paper")
        assert f.asset_class and f.currency


def test_similar_cycle_filters_know_the_asset_class(tmp_path: Path) -> None:
    from tools.memory.cycle_filter import CycleFilter, FilterIndex
    from tools.memory.ingest import cycle_metadata

    outs = [outcome("a", "ESZ5", "ib"), outcome("b", "BTCUSDT"), outcome("c", "SPY")]
    df = _table(tmp_path, outs)
    idx = FilterIndex.from_frame(df)
    f = CycleFilter(asset_class="crypto")
    assert [df["trade_cycle_id"][i] for i in idx.mask(f).nonzero()[0]] == ["b"]
    assert f.where() == {"asset_class": "crypto"}
    assert [f.matches(cycle_metadata(o)) for o in outs] == [False, True, False]
    assert not idx.mask(CycleFilter(asset_class="fx")).any()


def test_ranked_trades_in_two_currencies_are_ranked_within_each(tmp_path: Path) -> None:
    df = _table(tmp_path, [outcome("u1", "ESZ5", "ib", -100.0, 0), outcome("b1", "ETHBTC", "paper", -0.00123456, 5),
                           outcome("b2", "ETHBTC", "paper", -0.0002, 10)])
    r = run_query(df, Query(metric="worst", top=1))
    assert [(x["trade_cycle_id"], x["currency"], x["pnl_usd"]) for x in r.rows] == [
        ("b1", "BTC", -0.00123456), ("u1", "USD", -100.0)]
    assert r.value is None and "ranked within each currency" in r.note


def test_a_win_rate_by_group_shows_a_groups_pnl_only_in_one_currency(tmp_path: Path) -> None:
    df = _table(tmp_path, [outcome("u1", "BTCUSDT", "paper", 50.0, 0), outcome("b1", "ETHBTC", "paper", -0.0004, 5),
                           outcome("s1", "SPY", "paper", 2.5, 10)])
    r = run_query(df, Query(metric="win_rate", group_by="asset_class"))
    assert r.value == pytest.approx(66.7, abs=0.05)
    by = {g["key"]: g for g in r.groups}
    assert by["crypto"]["pnl_usd"] is None and by["crypto"]["currency"] == "BTC, USD"
    assert (by["stock"]["pnl_usd"], by["stock"]["currency"]) == (2.5, "USD")
    from tools.memory.currencies import money_in
    assert money_in(None, "BTC, USD") == "not added (BTC, USD)" and money_in(-0.0004, "BTC") == "-0.0004 BTC"


def test_usd_stablecoins_count_as_usd_when_pnl_is_added(tmp_path: Path) -> None:
    df = _table(tmp_path, [outcome("p1", "btc-updown-15m-1768437900", "polymarket", 4.0),
                           outcome("e1", "ESZ5", "ib", 100.0, 10)])
    assert set(df["currency"]) == {"USDC", "USD"}
    r = run_query(df, Query(metric="pnl"))
    assert (r.value, r.value_text, r.groups) == (104.0, "$104.00", [])


def test_a_btc_quoted_paper_run_keeps_its_pnl_in_btc_to_the_satoshi(tmp_path: Path) -> None:
    """ETHBTC moves in 0.0001 BTC steps: rounded to cents, every trade's PnL was 0.00 and none won."""
    import subprocess
    import sys

    csv = tmp_path / "ETHBTC_1m.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    level, t0, i = 0.05, datetime(2024, 3, 1, tzinfo=UTC), 0
    for seg in range(8):                  # 65 bars of range, then a 5-bar breakout
        for k in range(70):
            px = level + ((k * 7) % 11 - 5) * 0.00002 if k < 65 else level + (k - 64) * 0.0004 * (1 if seg % 3 != 2 else -1)
            lines.append(f"{t0 + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ},{px:.6f},{px + 0.00005:.6f},"
                         f"{px - 0.00005:.6f},{px + 0.00001:.6f},12.5")
            i += 1
        level = px
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "warden", "run", "--broker", "paper", "--symbol", "ETHBTC", "--qty", "10",
                        "--candles", str(csv), "--advisor", "rule", "--data-dir", str(tmp_path / "d"), "--json"],
                       capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent,
                       env={**os.environ, "WARDEN_FX__BTC": "60000"})   # no rate: entries FX_RATE_MISSING
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["currency"] == "BTC" and summary["trades"] > 0
    outs = [json.loads(f.read_text(encoding="utf-8"))
            for f in (tmp_path / "d" / "training" / "trade_outcomes").rglob("*.json")]
    assert outs and {(o["asset_class"], o["currency"]) for o in outs} == {("crypto", "BTC")}
    assert any(o["gross_pnl_usd"] != 0.0 for o in outs), "every PnL rounded away"
    assert summary["pnl_usd"] == pytest.approx(round(sum(o["pnl_usd"] for o in outs), 8), abs=1e-8)
    db = sqlite3.connect(tmp_path / "d" / "journal" / "journal.db")
    assert set(db.execute("SELECT asset_class, currency FROM trades")) == {("crypto", "BTC")}
    db.close()


def test_a_currency_is_a_code_never_free_text() -> None:
    with pytest.raises(ValueError, match="currency"):
        outcome("c1", "SPY", currency="<b>USD</b>")
    assert outcome("c2", "SPY", currency=" usdc ").currency == "USDC"
