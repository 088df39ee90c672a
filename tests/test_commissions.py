"""Paper commissions per asset class (issue 12), their per-instrument overrides (TOML and WARDEN_INSTRUMENTS__*
variables), and entries refused by their size counted in the session summary like guard blocks.

Every expected fee is computed here from the published schedule, not from trading.domain.commissions."""
from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trading.brokers.base import BracketRequest
from trading.brokers.paper import PaperBroker
from trading.domain.commissions import commission_model
from trading.domain.fx import FxRates
from trading.domain.instruments import configure, resolve
from trading.domain.models import Side
from trading.market.candles import Bar
from trading.settings import ConfigError, check_env_vars, load_settings

T = datetime(2025, 1, 2, 15, 0, tzinfo=UTC)
FX = FxRates(rates={"BTC": 40_000.0, "EUR": 1.1})   # a BTC or EUR fee reaches the USD cash at this rate


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    configure({})
    yield
    configure({})


def _bar(i: int, px: float, v: float = 1e9) -> Bar:
    return Bar(T + timedelta(minutes=i), px, px * 1.0001, px * 0.9999, px, v)


def _entry_fee(symbol: str, qty: float, px: float, **kw: float) -> float:
    """Send a market bracket of ``qty`` and return the commission of its entry fill at ``px``."""
    p = PaperBroker(fx=FX, **kw)   # type: ignore[arg-type]
    p.on_bar(symbol, _bar(0, px))
    p.place_bracket(BracketRequest(trade_cycle_id="c", symbol=symbol, side=Side.BUY, qty=qty,
                                   stop_price=px * 0.9, target_price=px * 1.1))
    fills = p.on_bar(symbol, _bar(1, px))
    assert len(fills) == 1 and fills[0].qty == qty and fills[0].price == px
    # the fee is in the instrument's currency; cash (USD) pays it at the [fx] rate (tests/test_fx_guards.py)
    rate = FX.rate(resolve(symbol).currency)
    assert rate is not None and p.account().cash == pytest.approx(100_000 - fills[0].commission * rate)
    return fills[0].commission


@pytest.mark.parametrize("symbol,qty,px,expected", [
    ("ES", 3, 5000.0, 3 * 2.25),                       # futures: per contract ([broker] commission_per_contract)
    ("MESZ5", 2, 5000.0, 2 * 2.25),
    ("SPY", 300, 450.0, 300 * 0.005),                   # stocks: 0.005 USD/share = 1.50
    ("SPY", 100, 450.0, 1.00),                          # ... 0.50 is under the 1.00 minimum per order
    ("AAPL", 50, 1.5, 0.01 * 50 * 1.5),                 # ... and never over 1 % of the trade value (0.75)
    ("BTCUSDT", 0.5, 24_000.0, 0.0010 * 0.5 * 24_000),  # crypto spot: 10 bps of notional = 12.00
    ("ETHBTC", 2.0, 0.065, 0.0010 * 2 * 0.065),         # ... in the quote currency (BTC)
    ("BTC-PERP", 1.0, 24_000.0, 0.0005 * 24_000),       # perpetual: 5 bps
    ("EURUSD", 100_000, 1.085, 0.00002 * 100_000 * 1.085),   # FX: 0.2 bps = 2.17
    ("EURUSD", 10_000, 1.085, 2.00),                    # ... at least 2.00 per order
    ("POLY:123", 10, 0.55, 0.0),                        # Polymarket shares: 0 on paper
])
def test_paper_entry_fee_per_asset_class(symbol: str, qty: float, px: float, expected: float) -> None:
    assert _entry_fee(symbol, qty, px) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_broker_per_contract_setting_is_the_futures_rate_only() -> None:
    assert _entry_fee("ES", 2, 5000.0, commission_per_contract=1.1) == pytest.approx(2.2)
    assert _entry_fee("SPY", 300, 450.0, commission_per_contract=1.1) == pytest.approx(1.5)


def test_per_instrument_overrides() -> None:
    configure({"SPY": {"commission_per_unit": 0.0035, "commission_min": 0.35},
               "BTCUSDT": {"commission_bps": 0.0},
               "ES": {"commission_per_unit": 0.85},
               "FDAX": {"asset_class": "future", "multiplier": 25, "tick": 1.0, "currency": "EUR",
                        "commission_per_unit": 1.9}})
    assert resolve("SPY").session == "NYSE"                          # only the named fields changed
    assert _entry_fee("SPY", 300, 450.0) == pytest.approx(300 * 0.0035)
    assert _entry_fee("SPY", 10, 450.0) == pytest.approx(0.35)
    assert _entry_fee("BTCUSDT", 0.5, 24_000.0) == 0.0
    assert _entry_fee("ESZ5", 2, 5000.0) == pytest.approx(1.7)      # the override reaches the local symbol
    assert _entry_fee("FDAXZ5", 1, 18_000.0) == pytest.approx(1.9)


def test_partial_fills_pay_the_order_minimum_once() -> None:
    p = PaperBroker(max_participation=0.01)
    p.on_bar("SPY", _bar(0, 400.0, v=1e9))
    p.place_bracket(BracketRequest(trade_cycle_id="c", symbol="SPY", side=Side.BUY, qty=150, stop_price=390,
                                   target_price=420))
    fees = []
    for i, vol in enumerate((5000, 5000, 5000), start=1):     # 50 shares a bar: 0.25 each, under the minimum
        fees += [f.commission for f in p.on_bar("SPY", _bar(i, 400.0, v=vol))]
    # the order pays max(150 x 0.005, 1.00) = 1.00 in all: the minimum on the first fill, nothing more after
    assert fees == [pytest.approx(1.0), 0.0, 0.0]
    assert p.account().cash == pytest.approx(100_000 - 1.0)


def test_commission_models_describe_themselves() -> None:
    assert commission_model(resolve("SPY")).describe() == "0.005/unit, min 1, max 1%"
    assert commission_model(resolve("BTCUSDT")).describe() == "10 bps"
    assert commission_model(resolve("POLY:1")).describe() == "free"


def _toml(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "warden.toml"
    cfg.write_text(text, encoding="utf-8")
    for k in [k for k in os.environ if k.startswith("WARDEN_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("WARDEN_CONFIG", str(cfg))


def test_toml_and_env_tables_merge_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path, "[instruments.SPY]\ncommission_min = 2.0\ncommission_bps = 1.0\n", monkeypatch)
    monkeypatch.setenv("WARDEN_INSTRUMENTS__SPY__COMMISSION_MIN", "3")
    monkeypatch.setenv("WARDEN_INSTRUMENTS__BTCUSDT__COMMISSION_BPS", "7.5")
    load_settings(data_dir=tmp_path / "d")
    spy = resolve("SPY")
    assert (spy.commission_min, spy.commission_bps, spy.asset_class) == (3.0, 1.0, "stock")
    assert _entry_fee("BTCUSDT", 1.0, 20_000.0) == pytest.approx(0.00075 * 20_000)


def test_instrument_env_vars_are_accepted_and_a_typo_still_reported() -> None:
    check_env_vars({"WARDEN_INSTRUMENTS__SPY__COMMISSION_PER_UNIT": "0.0035",
                    "WARDEN_INSTRUMENTS__FDAX__ASSET_CLASS": "future", "WARDEN_GUARDS__MAX_LOSS_PER_TRADE": "5"})
    with pytest.raises(ConfigError) as exc:
        check_env_vars({"WARDEN_INSTRUMENTS__SPY__COMMISION_MIN": "1"})
    assert ("WARDEN_INSTRUMENTS__SPY__COMMISION_MIN (no instrument field COMMISION_MIN; did you mean "
            "WARDEN_INSTRUMENTS__SPY__COMMISSION_MIN?)") in str(exc.value)
    for bad in ("WARDEN_INSTRUMENTS__SPY__", "WARDEN_INSTRUMENTS__SPY__TICK__X", "WARDEN_INSTRUMENT__SPY__TICK"):
        with pytest.raises(ConfigError, match="unknown environment variable"):
            check_env_vars({bad: "1"})


def test_a_partial_table_for_an_unknown_name_says_what_to_declare() -> None:
    with pytest.raises(ValueError, match=r"\[instruments.NOPE9\] is invalid: NOPE9 is no built-in instrument.*"
                                         "asset_class, multiplier and tick"):
        configure({"NOPE9": {"commission_bps": 1.0}})
    with pytest.raises(ValueError, match=r"\[instruments.NEWF\] is invalid: multiplier, tick: required"):
        configure({"NEWF": {"asset_class": "future"}})


def test_a_partial_table_in_the_toml_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path, "[instruments.NOPE9]\ncommission_bps = 1.0\n", monkeypatch)
    with pytest.raises(ConfigError, match=r"\[instruments.NOPE9\] is invalid: NOPE9 is no built-in instrument"):
        load_settings(data_dir=tmp_path / "d")
