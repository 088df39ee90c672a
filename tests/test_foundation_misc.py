"""Contracts, PnL from fills, telemetry, atomic writes and settings."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain.contracts import multiplier_for, parse_ib_symbol, spec_for
from trading.domain.models import Fill
from trading.domain.pnl import dedupe_fills, open_position, round_trips
from trading.records.atomic import atomic_write_json
from trading.records.telemetry import EventLog, EventType
from trading.settings import ConfigError, load_settings

T0 = datetime(2025, 12, 12, 14, 53, tzinfo=UTC)


def test_contract_multipliers_and_symbols() -> None:
    assert [multiplier_for(s) for s in ("ES", "MES", "NQ", "MNQ")] == [50, 5, 20, 2]
    s = parse_ib_symbol("ESZ5", today=date(2025, 12, 12))
    assert (s.root, s.month_name, s.year, s.expiry_month) == ("ES", "Dec", 2025, "202512")
    assert parse_ib_symbol("MNQH26").year == 2026
    assert spec_for("POLY:7192837").bounded_payoff and spec_for("ESZ5").multiplier == 50
    with pytest.raises(ValueError, match="not a known futures symbol"):
        parse_ib_symbol("XYZ")


def _fill(i: str, oid: str, side: str, px: float, qty: float = 1, fee: float = 0.0, broker=None, dt=0) -> Fill:
    return Fill(exec_id=i, order_id=oid, symbol="ESZ5", side=side, qty=qty, price=px, commission=fee,
                broker_realized_pnl=broker, ts=T0 + timedelta(seconds=dt))


def test_seed000_round_trip_from_fills_flags_broker_pnl() -> None:
    trips = round_trips([_fill("a", "14812", "BUY", 6890.5, dt=0),
                         _fill("b", "15638", "SELL", 6856.5, fee=2.25, broker=-592.0, dt=60)])
    assert len(trips) == 1
    t = trips[0]
    assert t.gross_pnl == -1700.0 and t.net_pnl == -1702.25 and t.pnl_mismatch


def test_partial_and_flip_fills() -> None:
    fills = [_fill("a", "1", "SELL", 100.0, qty=2, dt=0), _fill("b", "2", "BUY", 90.0, qty=3, dt=1),
             _fill("c", "3", "SELL", 95.0, qty=1, dt=2)]
    trips = round_trips(fills)
    assert [t.gross_pnl for t in trips] == [1000.0, 250.0]   # short 2 @100 -> 90; long 1 @90 -> 95
    assert open_position(fills) == {}


@settings(max_examples=100, deadline=None)
@given(prices=st.lists(st.floats(min_value=1000, max_value=2000, allow_nan=False), min_size=2, max_size=12),
       dup=st.lists(st.integers(min_value=0, max_value=11), max_size=6), seed=st.randoms())
def test_duplicate_fills_never_double_count(prices, dup, seed) -> None:
    fills = [_fill(str(i), str(i), "BUY" if i % 2 == 0 else "SELL", p, dt=i) for i, p in enumerate(prices)]
    noisy = fills + [fills[d % len(fills)] for d in dup]
    seed.shuffle(noisy)
    assert round_trips(noisy) == round_trips(fills)
    assert len(dedupe_fills(noisy)) == len(fills)


def test_event_log_follows_one_cycle(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    for et in (EventType.SIGNAL, EventType.ADVISORY, EventType.GUARD_VERDICT, EventType.ORDER_SENT,
               EventType.FILL, EventType.PNL):
        log.emit(et, "cycle-1", payload_key=et.value)
    log.emit(EventType.SIGNAL, "cycle-2")
    evs = log.for_cycle("cycle-1")
    assert [e.event for e in evs] == ["signal", "advisory", "guard_verdict", "order_sent", "fill", "pnl"]
    first = json.loads((tmp_path / "events.jsonl").read_text().splitlines()[0])
    assert set(first) == {"ts", "trade_cycle_id", "event", "reason_codes", "payload"}
    assert first["ts"].endswith("Z") or first["ts"].endswith("+00:00")


def test_atomic_json_idempotent(tmp_path: Path) -> None:
    p = tmp_path / "a" / "b.json"
    assert atomic_write_json(p, {"x": 1, "y": [1, 2]})
    before = p.stat().st_mtime_ns
    assert not atomic_write_json(p, {"y": [1, 2], "x": 1})   # same content: untouched
    assert p.stat().st_mtime_ns == before
    assert list(p.parent.iterdir()) == [p]                    # no temp files left behind


def test_settings_env_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "warden.toml"
    cfg.write_text('[guards]\nmax_loss_per_trade = 250.0\nmax_drawdown_pct = 20\n')
    monkeypatch.setenv("WARDEN_CONFIG", str(cfg))
    monkeypatch.setenv("WARDEN_GUARDS__MAX_DRAWDOWN_PCT", "25")
    s = load_settings()
    assert s.guards.max_loss_per_trade == 250.0 and s.guards.max_drawdown_pct == 25.0  # env wins
    monkeypatch.setenv("WARDEN_GUARDS__MAX_DRAWDOWN_PCT", "250")
    with pytest.raises(ConfigError, match="guards.max_drawdown_pct"):
        load_settings()
    monkeypatch.setenv("WARDEN_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()


def test_settings_toml_unknown_key_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "warden.toml"
    cfg.write_text('[guards]\nmax_los_per_trade = 250.0\n')
    monkeypatch.setenv("WARDEN_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="max_los_per_trade"):
        load_settings()


def test_atomic_writer_leaves_no_partial_file_on_error(tmp_path: Path) -> None:
    from trading.records.atomic import atomic_writer

    p = tmp_path / "log.txt"
    p.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_writer(p, "w") as fh:
            fh.write("half of the new conte")
            raise RuntimeError("crash mid-write")
    assert p.read_text() == "old\n" and list(tmp_path.iterdir()) == [p]
