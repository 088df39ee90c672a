"""Instrument registry (issue 12): built-in specs, safe-direction tick rounding, TOML overrides, sizing."""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.domain import instruments as ins
from trading.domain.contracts import parse_ib_symbol, spec_for
from trading.domain.instruments import (
    UnknownInstrument,
    configure,
    resolve,
    round_qty_down,
    round_stop,
    round_target,
    size_position,
)
from trading.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    configure({})
    yield
    configure({})


@pytest.mark.parametrize("symbol,root,cls,mult,tick", [
    ("ES", "ES", "future", 50.0, 0.25), ("ESZ5", "ES", "future", 50.0, 0.25), ("MES", "MES", "future", 5.0, 0.25),
    ("NQH6", "NQ", "future", 20.0, 0.25), ("MNQ", "MNQ", "future", 2.0, 0.25), ("YM", "YM", "future", 5.0, 1.0),
    ("MYM", "MYM", "future", 0.5, 1.0), ("RTY", "RTY", "future", 50.0, 0.1), ("M2KZ5", "M2K", "future", 5.0, 0.1),
    ("CL", "CL", "future", 1000.0, 0.01), ("MCLF6", "MCL", "future", 100.0, 0.01), ("GC", "GC", "future", 100.0, 0.1),
    ("MGC", "MGC", "future", 10.0, 0.1), ("SI", "SI", "future", 5000.0, 0.005), ("MBTZ5", "MBT", "future", 0.1, 5.0),
    ("SPY", "SPY", "stock", 1.0, 0.01), ("AAPL", "AAPL", "stock", 1.0, 0.01), ("BRK.B", "BRK.B", "stock", 1.0, 0.01),
    ("BTCUSDT", "BTCUSDT", "crypto", 1.0, 0.01), ("BTC-USD", "BTC-USD", "crypto", 1.0, 0.01),
    ("btc/usdt", "BTC/USDT", "crypto", 1.0, 0.01), ("ETHBTC", "ETHBTC", "crypto", 1.0, 1e-8),
    ("XRPUSDT", "XRPUSDT", "crypto", 1.0, 1e-8), ("XBTUSD", "XBTUSD", "crypto", 1.0, 0.01),
    ("BTC-PERP", "BTC-PERP", "perpetual", 1.0, 0.01), ("BTCUSDT.P", "BTCUSDT.P", "perpetual", 1.0, 0.01),
    ("ETH/USDC:USDC", "ETH/USDC:USDC", "perpetual", 1.0, 0.01), ("BTC-USDT-SWAP", "BTC-USDT-SWAP", "perpetual", 1.0, 0.01),
    ("EURUSD", "EURUSD", "fx", 1.0, 1e-5), ("USD/JPY", "USDJPY", "fx", 1.0, 0.001),
    ("POLY:123", "POLY", "prediction", 1.0, 0.01), ("71321045679252212594626385532706912750332728571942532289631379312455583992563",
                                                    "POLY", "prediction", 1.0, 0.01),
])
def test_builtin_registry(symbol: str, root: str, cls: str, mult: float, tick: float) -> None:
    s = spec_for(symbol)
    assert (s.root, s.asset_class, s.multiplier, s.tick) == (root, cls, mult, tick)


def test_session_currency_and_precision() -> None:
    assert resolve("SPY").session == "NYSE" and resolve("ES").session == "CME_Equity"
    assert resolve("BTCUSDT").session == "" and resolve("BTCUSDT").currency == "USD"
    assert resolve("ETHBTC").currency == "BTC" and resolve("ETHBTC").quote_precision == 8
    assert resolve("USDJPY").currency == "JPY" and resolve("ES").quote_precision == 2
    assert resolve("POLY:1").bounded_payoff and not resolve("BTCUSDT").bounded_payoff
    assert parse_ib_symbol("MGCZ5").root == "MGC"


@pytest.mark.parametrize("symbol", ["BTC", "DOGE", "eth", "!!", "AB-CD-EF-GH"])
def test_unknown_symbol_says_how_to_declare_it(symbol: str) -> None:
    with pytest.raises(UnknownInstrument) as exc:
        spec_for(symbol)
    msg = str(exc.value)
    assert msg.startswith("no contract spec for symbol")
    assert f"[instruments.{symbol.upper()}]" in msg and "multiplier" in msg and "tick" in msg and "asset_class" in msg


def test_alt_btc_prices_never_round_to_zero() -> None:
    tick = resolve("DOGEBTC").tick
    assert round_stop(0.0000012345, tick, long=True) == pytest.approx(0.00000123)
    assert round_target(0.0000031, tick, long=False) > 0


@settings(max_examples=300, deadline=None)
@given(price=st.floats(1e-6, 1e6), frac=st.floats(0.0001, 0.5), tick_exp=st.integers(-8, 1),
       mantissa=st.sampled_from([1, 2, 5, 25]), long=st.booleans())
def test_stop_and_target_round_in_the_safe_direction(price: float, frac: float, tick_exp: int, mantissa: int,
                                                     long: bool) -> None:
    tick = float(Decimal(mantissa).scaleb(tick_exp))
    dist = price * frac
    stop = price - dist if long else price + dist
    target = price + dist if long else price - dist
    rs, rt = round_stop(stop, tick, long=long), round_target(target, tick, long=long)
    # on the grid, within one tick, and only ever widening the stop / pulling the target toward the entry
    for raw, r in ((stop, rs), (target, rt)):
        assert abs(r - raw) < tick * (1 + 1e-9)
        assert Decimal(repr(r)) % Decimal(repr(tick)) == 0
    if long:
        assert rs <= stop + 1e-12 * max(1.0, abs(stop)) and rs < price and rt <= target + 1e-12 * abs(target)
    else:
        assert rs >= stop - 1e-12 * abs(stop) and rs > price and rt >= target - 1e-12 * abs(target)


def test_rounding_exact_cases() -> None:
    assert round_stop(6890.30, 0.25, long=True) == 6890.25 and round_stop(6890.30, 0.25, long=False) == 6890.50
    assert round_target(6900.99, 0.25, long=True) == 6900.75 and round_target(6880.01, 0.25, long=False) == 6880.25
    assert round_stop(0.51239, 1e-4, long=True) == 0.5123 and round_stop(0.51231, 1e-4, long=False) == 0.5124
    assert round_qty_down(0.123456789, 1e-5) == 0.12345 and round_qty_down(2.9, 1.0) == 2.0
    with pytest.raises(ValueError):
        round_stop(math.nan, 0.25, long=True)


def test_breakout_signal_levels_respect_the_tick() -> None:
    from datetime import UTC, datetime, timedelta

    from trading.market.candles import Bar
    from trading.market.signals import BreakoutSignals, SignalContext

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    px = [0.51 + 0.0003 * (i % 7) for i in range(60)] + [0.5112, 0.5231]
    bars = [Bar(ts=t0 + timedelta(minutes=i), open=p, high=p + 0.00037, low=p - 0.00041, close=p, volume=1.0)
            for i, p in enumerate(px)]
    sig = BreakoutSignals()(bars, SignalContext(symbol="XRPUSDT", now=bars[-1].ts, position=0.0))
    assert sig is not None and sig.stop is not None and sig.target is not None and sig.price is not None
    assert sig.stop < sig.price < sig.target
    assert Decimal(repr(sig.stop)) % Decimal("1e-8") == 0 and Decimal(repr(sig.target)) % Decimal("1e-8") == 0


def _toml(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "warden.toml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("WARDEN_CONFIG", str(cfg))
    for k in [k for k in os.environ if k.startswith("WARDEN_") and k != "WARDEN_CONFIG"]:
        monkeypatch.delenv(k)


def test_toml_tables_add_and_override_instruments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path, """
[instruments.FDAX]
asset_class = "future"
multiplier = 25.0
tick = 1.0
currency = "EUR"
exchange = "EUREX"

[instruments.ES]
asset_class = "future"
multiplier = 49.0
tick = 0.5

[instruments.DOGE]
asset_class = "crypto"
multiplier = 1
tick = 0.00001
qty_step = 1
""", monkeypatch)
    load_settings(data_dir=tmp_path / "d")
    assert resolve("FDAX").multiplier == 25.0 and resolve("FDAX").currency == "EUR"
    assert resolve("FDAXZ5").root == "FDAX"           # a declared future root takes IB month codes too
    assert resolve("ESZ5").multiplier == 49.0 and resolve("ES").tick == 0.5
    assert resolve("DOGE").asset_class == "crypto"
    configure({})
    assert resolve("ES").multiplier == 50.0


def test_toml_bad_instrument_table_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path, '[instruments.XYZ]\nasset_class = "future"\nmultiplier = -1\ntick = 0.1\nmultipler = 3\n',
          monkeypatch)
    with pytest.raises(ConfigError) as exc:
        load_settings(data_dir=tmp_path / "d")
    assert "instruments.XYZ.multiplier" in str(exc.value) and "instruments.XYZ.multipler" in str(exc.value)


def test_risk_based_size_loses_exactly_the_risk_or_less() -> None:
    es = resolve("ES")
    d = size_position(es, entry=5000.0, stop=4990.0, fixed_qty=1, risk_per_trade=1500, equity=1_000_000,
                      max_notional_x=5)
    assert d.qty == 3.0 and 10 * 3 * 50 <= 1500
    btc = resolve("BTCUSDT")
    d = size_position(btc, entry=24000.0, stop=23900.0, fixed_qty=1, risk_per_trade=500, equity=100_000,
                      max_notional_x=5)
    assert d.qty == pytest.approx(5.0) and abs(24000 - 23900) * d.qty <= 500 + 1e-9
    d = size_position(btc, entry=24000.0, stop=23970.0, fixed_qty=1, risk_per_trade=500, equity=100_000,
                      max_notional_x=5, max_qty=2)
    assert d.qty == 2.0                                   # capped at the position guard's limit
    assert size_position(btc, entry=24000.0, stop=None, fixed_qty=1, risk_per_trade=500, equity=1e5,
                         max_notional_x=5).qty == 0


def test_absurd_notional_is_refused_not_silent() -> None:
    # the case: 1 BTC sized like an ES contract is 1.16M notional on a 100k account
    absurd = ins.InstrumentSpec(root="BTC-AS-ES", multiplier=50.0, venue="paper", tick=0.25)
    d = size_position(absurd, entry=23_200.0, stop=23_000.0, fixed_qty=1, risk_per_trade=None, equity=100_000,
                      max_notional_x=5)
    assert d.qty == 0 and "1,160,000.00" in d.reason and "max_notional_x_equity" in d.reason
    ok = size_position(resolve("BTCUSDT"), entry=23_200.0, stop=23_000.0, fixed_qty=1, risk_per_trade=None,
                       equity=100_000, max_notional_x=5)
    assert ok.qty == 1 and ok.notional == 23_200.0


def test_btcusdt_paper_run_keeps_the_symbol(tmp_path: Path) -> None:
    """A short paper run on generated candles: the outcomes say BTCUSDT and the stops sit on the tick."""
    import json
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta

    csv = tmp_path / "BTCUSDT_1m.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    level, t0, i = 24000.0, datetime(2023, 3, 1, tzinfo=UTC), 0
    for seg in range(12):                  # 65 bars of range, then a 5-bar breakout (up, up, down, ...)
        for k in range(70):
            px = level + ((k * 7) % 11 - 5) * 4.1 if k < 65 else level + (k - 64) * 60 * (1 if seg % 3 != 2 else -1)
            t = t0 + timedelta(minutes=i)
            i += 1
            lines.append(f"{t:%Y-%m-%dT%H:%M:%SZ},{px:.2f},{px + 9.07:.2f},{px - 8.93:.2f},{px + 1.11:.2f},3.5")
        level = px
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "warden", "run", "--broker", "paper", "--symbol", "BTCUSDT",
                        "--candles", str(csv), "--advisor", "rule", "--data-dir", str(tmp_path / "d"), "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0, r.stderr[-2000:]
    outs = list((tmp_path / "d" / "training" / "trade_outcomes").rglob("*.json"))
    assert outs, "the run closed no trade"
    for f in outs:
        d = json.loads(f.read_text(encoding="utf-8"))
        assert d["symbol"] == "BTCUSDT" and {x["symbol"] for x in d["fills"]} == {"BTCUSDT"}
        stop = d["risk"]["stop"]
        assert abs(stop * 100 - round(stop * 100)) < 1e-6
        assert (stop < d["signal"]["price"]) if d["side"] == "BUY" else (stop > d["signal"]["price"])
