"""IB contracts for every asset class of the registry (issue 12): qualified by the real ib_async client
against the simulated Gateway (tests/fakes/ib_gateway.py), then an order whose contract fields the Gateway
receives as TWS would."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

ib_async = pytest.importorskip("ib_async")

from tests.fakes.ib_gateway import FakeGateway, FakeIB  # noqa: E402
from trading.brokers.base import BracketRequest  # noqa: E402
from trading.brokers.ib import IBBroker  # noqa: E402
from trading.brokers.ib_contracts import IBContractError, front_month  # noqa: E402
from trading.domain.instruments import configure  # noqa: E402
from trading.domain.models import Fill, Side  # noqa: E402
from trading.settings import BrokerConfig  # noqa: E402

TODAY = date(2025, 12, 12)


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    configure({})
    yield
    configure({})


@pytest.fixture
def gw() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def broker(gw: FakeGateway) -> Iterator[IBBroker]:
    b = IBBroker(BrokerConfig(kind="ib", position_timeout_s=0.3), ib=FakeIB(gw), today=TODAY, commission_grace_s=60)
    b.connect()
    yield b
    b.disconnect()


def _sent_contract(gw: FakeGateway) -> tuple[str, str, str, str, str, int]:
    contracts = {(c.secType, c.exchange, c.currency, c.symbol, c.localSymbol, c.conId) for _, c, _ in gw.received}
    assert len(contracts) == 1, contracts          # parent and both children on one contract
    return contracts.pop()


# symbol asked, price, stop, target -> (secType, exchange, currency, symbol, localSymbol, conId) TWS receives
CASES = [
    ("SPY", 450.0, 445.0, 460.0, ("STK", "SMART", "USD", "SPY", "SPY", 756733)),
    ("BRK.B", 410.0, 400.0, 420.0, ("STK", "SMART", "USD", "BRK B", "BRK B", 72063691)),
    ("EURUSD", 1.0850, 1.0800, 1.0950, ("CASH", "IDEALPRO", "USD", "EUR", "EUR.USD", 12087792)),
    ("BTCUSD", 42000.0, 41000.0, 44000.0, ("CRYPTO", "PAXOS", "USD", "BTC", "BTC.USD", 479624278)),
    ("BTC-USDT", 42000.0, 41000.0, 44000.0, ("CRYPTO", "PAXOS", "USD", "BTC", "BTC.USD", 479624278)),
    ("ESZ5", 6890.0, 6880.0, 6910.0, ("FUT", "CME", "USD", "ES", "ESZ5", 495512563)),
    ("ES", 6890.0, 6880.0, 6910.0, ("FUT", "CME", "USD", "ES", "ESZ5", 495512563)),   # front month on 2025-12-12
]


@pytest.mark.parametrize("symbol,price,stop,target,expected", CASES, ids=[c[0] for c in CASES])
def test_each_sec_type_qualifies_and_the_gateway_receives_its_contract(
        broker: IBBroker, gw: FakeGateway, symbol: str, price: float, stop: float, target: float,
        expected: tuple[str, str, str, str, str, int]) -> None:
    c = broker.qualify(symbol)
    assert (c.secType, c.conId) == (expected[0], expected[5])
    gw.market_price[c.localSymbol] = price
    fills: list[Fill] = []
    broker.on_fill(fills.append)
    broker.place_bracket(BracketRequest(trade_cycle_id=f"c-{symbol}", symbol=symbol, side=Side.BUY, qty=2,
                                        stop_price=stop, target_price=target))
    broker.process_events()
    assert _sent_contract(gw) == expected
    # fills and positions carry the symbol the session asked for, whatever IB calls the contract
    assert [(f.symbol, f.qty, f.price) for f in fills] == [(symbol, 2, price)]
    assert broker.position(symbol) == 2
    assert [p.symbol for p in broker.positions()] == [symbol]


def test_stock_with_declared_primary_exchange_and_currency(broker: IBBroker, gw: FakeGateway) -> None:
    gw.add_stock("DUAL", "NYSE", 9001)
    gw.add_stock("DUAL", "ARCA", 9002)                # two USD listings: SMART alone is ambiguous
    gw.add_stock("SHOP", "TSE", 195440561, currency="CAD")
    with pytest.raises(IBContractError, match=r"IB does not know contract DUAL \(STK DUAL SMART USD\).*primary_exchange"):
        broker.qualify("DUAL")
    # tables that override only these fields of the built-in stock spec
    configure({"DUAL": {"primary_exchange": "ARCA"}, "SHOP": {"primary_exchange": "TSE", "currency": "CAD"}})
    assert broker.qualify("DUAL").conId == 9002
    c = broker.qualify("SHOP")
    assert (c.conId, c.primaryExchange, c.currency) == (195440561, "TSE", "CAD")
    gw.market_price["SHOP"] = 100.0
    broker.place_bracket(BracketRequest(trade_cycle_id="shop", symbol="SHOP", side=Side.BUY, qty=5,
                                        stop_price=95.0, target_price=110.0))
    assert _sent_contract(gw) == ("STK", "SMART", "CAD", "SHOP", "SHOP", 195440561)


def test_ib_min_tick_wins_for_rounding_and_the_difference_is_logged(broker: IBBroker, gw: FakeGateway,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="trading.brokers.ib"):
        broker.qualify("EURUSD")
    assert "IB's minTick for EURUSD (EUR.USD) is 5e-05, the registry's tick 1e-05" in caplog.text
    assert broker.tick_for("EURUSD") == 0.00005
    gw.auto_fill_market = False
    broker.place_bracket(BracketRequest(trade_cycle_id="fx", symbol="EURUSD", side=Side.BUY, qty=10_000,
                                        stop_price=1.08013, target_price=1.09537))
    _, take, stop = (o for _, _, o in gw.received)
    # on IB's 0.00005 grid, toward the entry: the stop up, the target down (never more risk than measured)
    assert stop.auxPrice == pytest.approx(1.08015) and take.lmtPrice == pytest.approx(1.09535)
    assert broker.tick_for("BTCUSD") == 0.01                 # not qualified yet: the registry's tick
    broker.qualify("BTCUSD")
    assert broker.tick_for("BTCUSD") == 0.25


def test_unknown_and_unsupported_symbols_are_one_clear_error(broker: IBBroker, gw: FakeGateway) -> None:
    with pytest.raises(IBContractError, match=r"IB does not know contract QQQX \(STK QQQX SMART USD\)"):
        broker.qualify("QQQX")
    with pytest.raises(IBContractError, match="IB does not know contract GBPUSD"):
        broker.qualify("GBPUSD")
    with pytest.raises(IBContractError, match="Polymarket share.*--broker polymarket"):
        broker.qualify("POLY:123")
    with pytest.raises(IBContractError, match="crypto perpetual: IB has none"):
        broker.qualify("BTC-PERP")
    with pytest.raises(IBContractError, match=r"declare it in warden.toml as \[instruments.ZZZ9Q\]"):
        broker.qualify("ZZZ9Q")
    assert gw.received == []


def test_front_month_skips_expired_contracts() -> None:
    from ib_async import Future

    listed = [Future("ES", "20251219"), Future("ES", "20260320"), Future("ES", "20250919")]
    assert [front_month(listed, date(2025, 12, d)).lastTradeDateOrContractMonth  # type: ignore[union-attr]
            for d in (12, 19, 20)] == ["20251219", "20251219", "20260320"]
    assert front_month(listed, date(2026, 4, 1)) is None


def test_warden_run_with_an_unknown_ib_symbol_exits_2_naming_it(gw: FakeGateway, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI end to end: the real ib_async IB talks to the simulated Gateway (only its socket is faked)."""
    import os

    from warden.cli import run as main

    monkeypatch.setattr(ib_async, "IB", lambda: FakeIB(gw))
    for k in [k for k in os.environ if k.startswith("WARDEN_")]:
        monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "QQQX.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2025-12-01T14:30:00Z,1,1,1,1,1\n", encoding="utf-8")
    code = main(["run", "--broker", "ib", "--symbol", "QQQX", "--candles", str(csv), "--advisor", "rule",
                 "--data-dir", str(tmp_path / "d"), "--quiet"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert "IB does not know contract QQQX (STK QQQX SMART USD)" in err and "[instruments.QQQX]" in err
    assert gw.received == []


def test_ib_multiplier_differing_from_the_registry_is_logged(broker: IBBroker, gw: FakeGateway,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    configure({"ES": {"multiplier": 49.0}})          # a wrong table: IB says 50
    with caplog.at_level(logging.WARNING, logger="trading.brokers.ib"):
        broker.qualify("ESZ5")
    assert "IB's multiplier for ESZ5 (ESZ5) is 50, the registry's 49" in caplog.text
    gw.set_position("ESZ5", 1, 6890.5)               # IB's avgCost 344525 = 6890.5 x IB's 50
    assert broker.positions()[0].avg_price == 6890.5
