"""Issue 12: an instrument quoted in another currency (ETHBTC in BTC, EURJPY in JPY) is judged and booked in
the account's currency at the configured [fx] rate; no rate blocks entries (FX_RATE_MISSING), never a rate
of 1, and exits still go out."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.decision import summarize_similar
from trading.brokers.base import BracketRequest
from trading.brokers.paper import PaperBroker
from trading.brokers.paper_account import PaperAccountError, PaperAccountStore
from trading.brokers.paper_book import Unvalued
from trading.domain import fx
from trading.domain.fx import FxRates
from trading.domain.instruments import configure, resolve, size_position
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side
from trading.domain.reason_codes import ReasonCode as RC
from trading.guards import BrokerSnapshot, GuardConfig, RiskState, evaluate
from trading.market.candles import Bar
from trading.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 12, 12, 14, 53, tzinfo=UTC)
HEALTHY = RiskState(equity=100_000.0, peak_equity=100_000.0)
CAP_500 = GuardConfig(max_loss_per_trade=500.0, max_position_qty=1e9)
BTC_40K = FxRates(rates={"BTC": 40_000.0})
A3_ETHBTC = Path("/work/shared/data/A3_freqtrade_testdata_candles/ETH_BTC-5m.feather")


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    configure({})
    fx.configure()
    yield
    configure({})
    fx.configure()


def adv(action: str = "BUY") -> Advisory:
    return Advisory(action=AdvisoryAction(action), confidence=0.7, ts=NOW - timedelta(seconds=1), advisory_only=True)


def entry(symbol: str = "ETHBTC", qty: float = 10, price: float = 0.05, stop: float = 0.045,
          target: float = 0.06) -> OrderIntent:
    return OrderIntent(kind=IntentKind.ENTRY, side=Side.BUY, qty=qty, symbol=symbol, price=price, stop=stop,
                       target=target, signal_confidence=0.6)


def snap(symbol: str = "ETHBTC", pos: float = 0.0) -> BrokerSnapshot:
    return BrokerSnapshot(positions={symbol: pos}, equity=100_000.0)


# --- the guards ----------------------------------------------------------------------------------------

def test_a_btc_stop_is_judged_in_usd_against_the_usd_cap() -> None:
    # 10 ETH x (0.05 - 0.045) = 0.05 BTC at risk = 2,000 USD at 40,000: four times the 500 USD cap.
    # Compared as a bare number (0.05 < 500) it passed: the hole this closes.
    bare = evaluate(entry(), snap(), HEALTHY, CAP_500, adv(), NOW, fx=FxRates(account_currency="BTC"))
    assert bare.allowed and bare.evidence["worst_case_loss"] == pytest.approx(0.05)   # what main did for USD
    v = evaluate(entry(), snap(), HEALTHY, CAP_500, adv(), NOW, fx=BTC_40K)
    assert not v.allowed and RC.MAX_LOSS_CAP in v.reason_codes
    ev = v.evidence
    assert ev["worst_case_loss"] == pytest.approx(2000.0) and ev["worst_case_loss_native"] == pytest.approx(0.05)
    assert (ev["currency"], ev["fx_rate"], ev["account_currency"]) == ("BTC", 40_000.0, "USD")
    # a stop 40 times tighter risks 50 USD: allowed, with the converted figure in the evidence
    ok = evaluate(entry(stop=0.049875), snap(), HEALTHY, CAP_500, adv(), NOW, fx=BTC_40K)
    assert ok.allowed, ok.reason_codes
    assert ok.evidence["worst_case_loss"] == pytest.approx(50.0)


def test_the_configured_rate_reaches_the_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_FX__BTC", "40000")
    load_settings()
    v = evaluate(entry(), snap(), HEALTHY, CAP_500, adv(), NOW)     # no fx argument: the configured rates
    assert RC.MAX_LOSS_CAP in v.reason_codes and v.evidence["fx_rate"] == 40_000.0


def test_no_rate_blocks_the_entry_and_names_the_setting_but_an_exit_goes_out() -> None:
    v = evaluate(entry(stop=0.049875), snap(), HEALTHY, CAP_500, adv(), NOW)
    assert not v.allowed and RC.FX_RATE_MISSING in v.reason_codes and RC.MAX_LOSS_CAP not in v.reason_codes
    why = v.evidence["fx_rate_missing"]
    assert "BTC" in why and "[fx] BTC" in why and "WARDEN_FX__BTC" in why and "USD" in why
    assert v.evidence["worst_case_loss"] is None        # never a BTC figure passed off as USD
    out = evaluate(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=10, symbol="ETHBTC", price=0.05),
                   snap(pos=10), HEALTHY, CAP_500, None, NOW)
    assert out.allowed and out.intent.reduce_only, out.reason_codes
    # an exit that would flip the position is an entry for the excess: that part needs the rate
    flip = evaluate(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=15, symbol="ETHBTC", price=0.05,
                                stop=0.055, target=0.04), snap(pos=10), HEALTHY, CAP_500.model_copy(
                        update={"cap_reduce_only_qty": False}), adv("SELL"), NOW)
    assert not flip.allowed


def test_a_usdt_pair_needs_no_rate() -> None:
    v = evaluate(entry("BTCUSDT", qty=0.1, price=24_000.0, stop=23_000.0, target=26_000.0), snap("BTCUSDT"),
                 HEALTHY, CAP_500, adv(), NOW)
    assert v.allowed, v.reason_codes
    assert v.evidence["worst_case_loss"] == pytest.approx(100.0) and "fx_rate" not in v.evidence


def test_eurjpy_is_judged_in_usd_at_the_jpy_rate() -> None:
    jpy = FxRates(rates={"JPY": 0.0067})
    # 100,000 EUR x 0.5 JPY = 50,000 JPY at risk = 335 USD: under a 500 cap (as a bare 50,000 it was blocked)
    e = entry("EURJPY", qty=100_000, price=160.0, stop=159.5, target=161.0)
    v = evaluate(e, snap("EURJPY"), HEALTHY, CAP_500, adv(), NOW, fx=jpy)
    assert v.allowed, v.reason_codes
    assert v.evidence["worst_case_loss"] == pytest.approx(335.0) and v.evidence["currency"] == "JPY"
    tight = evaluate(e, snap("EURJPY"), HEALTHY, CAP_500.model_copy(update={"max_loss_per_trade": 300.0}), adv(),
                     NOW, fx=jpy)
    assert RC.MAX_LOSS_CAP in tight.reason_codes
    assert RC.FX_RATE_MISSING in evaluate(e, snap("EURJPY"), HEALTHY, CAP_500, adv(), NOW).reason_codes


def test_an_account_in_another_currency_converts_usd_instruments_too() -> None:
    eur = FxRates(account_currency="EUR", rates={"USDT": 0.9})    # a stablecoin key counts as USD
    v = evaluate(entry("BTCUSDT", qty=0.1, price=24_000.0, stop=23_000.0, target=26_000.0), snap("BTCUSDT"),
                 HEALTHY, CAP_500, adv(), NOW, fx=eur)
    assert v.allowed and v.evidence["worst_case_loss"] == pytest.approx(90.0)
    assert v.evidence["account_currency"] == "EUR"
    assert FxRates(account_currency="EUR").rate("USDC") is None


# --- sizing: risk per trade and notional x equity are account-currency figures ------------------------------

def test_risk_per_trade_and_the_notional_cap_are_in_the_account_currency() -> None:
    spec = resolve("ETHBTC")
    # risking 500 USD on a 0.001 BTC stop at 40,000 USD/BTC: 12.5 ETH (not 500,000 ETH)
    d = size_position(spec, entry=0.05, stop=0.049, fixed_qty=1, risk_per_trade=500, equity=100_000,
                      max_notional_x=10, fx=BTC_40K)
    assert d.qty == pytest.approx(12.5) and "40000 USD/BTC" in d.reason
    # 1,000 ETH at 0.05 BTC = 50 BTC = 2,000,000 USD: over 10 x 100,000 (as a bare 50 it passed)
    big = size_position(spec, entry=0.05, stop=0.049, fixed_qty=1000, risk_per_trade=None, equity=100_000,
                        max_notional_x=10, fx=BTC_40K)
    assert big.code == "NOTIONAL_CAP" and big.notional == pytest.approx(2_000_000.0) and "USD" in big.reason
    none = size_position(spec, entry=0.05, stop=0.049, fixed_qty=1, risk_per_trade=500, equity=100_000,
                         max_notional_x=10)
    assert none.qty == 0 and none.code == "FX_RATE_MISSING" and "[fx] BTC" in none.reason


# --- the paper account: one currency for cash, equity and drawdown -----------------------------------------

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _bar(i: int, px: float) -> Bar:
    return Bar(T0 + timedelta(minutes=i), px, px * 1.001, px * 0.999, px, 1e9)


def _round_trip(p: PaperBroker, symbol: str, qty: float, buy: float, sell: float) -> list:
    p.on_bar(symbol, _bar(0, buy))
    p.place_bracket(BracketRequest(trade_cycle_id="c1", symbol=symbol, side=Side.BUY, qty=qty,
                                   stop_price=buy * 0.8, target_price=buy * 1.5))
    fills = p.on_bar(symbol, _bar(1, buy))
    p.on_bar(symbol, _bar(2, sell))
    p.place_reduce_only("c1", symbol, Side.SELL, qty)
    return fills + p.on_bar(symbol, _bar(3, sell))


def test_paper_equity_moves_by_the_btc_pnl_times_the_rate() -> None:
    p = PaperBroker(fx=BTC_40K)
    p.on_bar("ETHBTC", _bar(0, 0.05))
    p.place_bracket(BracketRequest(trade_cycle_id="c1", symbol="ETHBTC", side=Side.BUY, qty=10,
                                   stop_price=0.04, target_price=0.08))
    buy = p.on_bar("ETHBTC", _bar(1, 0.05))
    p.on_bar("ETHBTC", _bar(2, 0.051))
    acct = p.account()
    # open: 10 x 0.001 BTC = 0.01 BTC = 400 USD above cash; the fee (BTC) left cash at the rate
    assert acct.equity - acct.cash == pytest.approx(400.0)
    assert acct.cash == pytest.approx(100_000 - buy[0].commission * 40_000)
    p.place_reduce_only("c1", "ETHBTC", Side.SELL, 10)
    sell = p.on_bar("ETHBTC", _bar(3, 0.051))
    fees_btc = sum(f.commission for f in buy + sell)
    assert fees_btc > 0 and sell[0].commission < 0.001           # fills keep the instrument's currency (BTC)
    assert p.account().equity == pytest.approx(100_000 + (0.01 - fees_btc) * 40_000)


def test_paper_eurjpy_books_its_jpy_pnl_in_usd() -> None:
    p = PaperBroker(fx=FxRates(rates={"JPY": 0.0067}))
    fills = _round_trip(p, "EURJPY", 100_000, 160.0, 160.5)      # +0.5 JPY x 100,000 EUR = 50,000 JPY
    assert len(fills) == 2
    net_jpy = 50_000 - sum(f.commission for f in fills)
    assert p.account().equity == pytest.approx(100_000 + net_jpy * 0.0067)        # about +335 USD


def test_a_paper_account_without_the_rate_has_no_equity_and_keeps_the_money_aside() -> None:
    p = PaperBroker()
    fills = _round_trip(p, "ETHBTC", 10, 0.05, 0.051)
    assert len(fills) == 2
    assert p.acct.unvalued["BTC"] == pytest.approx(0.01 - sum(f.commission for f in fills))   # kept, not lost
    assert p.acct.realized == 0.0 and p.acct.fees == 0.0                                     # never added at 1
    with pytest.raises(Unvalued, match=r"\[fx\] BTC"):
        p.account()                      # the executor reads this as no equity: EQUITY_UNKNOWN blocks entries


def test_money_kept_aside_reaches_cash_once_the_rate_is_configured(tmp_path: Path) -> None:
    p = PaperBroker(store=PaperAccountStore(tmp_path / "paper"))
    fills = _round_trip(p, "ETHBTC", 10, 0.05, 0.051)
    net_btc = 0.01 - sum(f.commission for f in fills)
    p.disconnect()
    again = PaperBroker(store=PaperAccountStore(tmp_path / "paper"))       # still no rate: still aside
    assert again.resumed and again.acct.unvalued["BTC"] == pytest.approx(net_btc)
    valued = PaperBroker(store=PaperAccountStore(tmp_path / "paper"), fx=BTC_40K)
    assert valued.resumed and valued.acct.unvalued == {}
    assert valued.account().equity == pytest.approx(100_000 + net_btc * 40_000)
    # and it was saved so: a third start finds it in cash, not counted twice
    third = PaperBroker(store=PaperAccountStore(tmp_path / "paper"), fx=BTC_40K)
    assert third.account().equity == pytest.approx(100_000 + net_btc * 40_000)


def test_a_resumed_account_in_another_currency_is_refused(tmp_path: Path) -> None:
    store = PaperAccountStore(tmp_path / "paper")
    PaperBroker(store=store).disconnect()
    with pytest.raises(PaperAccountError, match="keeps its cash in USD.*EUR"):
        PaperBroker(store=PaperAccountStore(tmp_path / "paper"), fx=FxRates(account_currency="EUR"))
    assert PaperBroker(store=PaperAccountStore(tmp_path / "paper"), fx=FxRates(account_currency="EUR"),
                       fresh_account=True).acct.currency == "EUR"


# --- configuration ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "0", "-40000"])
def test_a_bad_rate_is_refused_at_load(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WARDEN_FX__BTC", value)
    with pytest.raises(ConfigError, match="WARDEN_FX__BTC"):
        load_settings()


def test_rates_and_currencies_are_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARDEN_FX__btc", "40000")
    monkeypatch.setenv("WARDEN_BROKER__ACCOUNT_CURRENCY", "usdt")
    load_settings()
    assert fx.current().rate("BTC") == 40_000.0 and fx.current().account == "USD"
    toml = tmp_path / "warden.toml"
    toml.write_text('[fx]\n"bit coin" = 3.0\n', encoding="utf-8")
    monkeypatch.setenv("WARDEN_CONFIG", str(toml))
    with pytest.raises(ConfigError, match="bit coin"):
        load_settings()
    toml.write_text('[instruments.DAX_CFD]\nasset_class = "other"\nmultiplier = 25\ntick = 0.5\n'
                    'currency = "<b>EUR</b>"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"instruments\.DAX_CFD\.currency"):
        load_settings()
    toml.write_text('[instruments.DAX_CFD]\nasset_class = "other"\nmultiplier = 25\ntick = 0.5\n'
                    'currency = " eur"\n', encoding="utf-8")
    load_settings()
    assert resolve("DAX_CFD").currency == "EUR"


def test_a_bad_rate_exits_2_with_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "ETHBTC.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{T0 + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ},0.05,0.0501,0.0499,0.05,1\n" for i in range(5)))
    r = subprocess.run([sys.executable, "-m", "warden", "run", "--broker", "paper", "--symbol", "ETHBTC",
                        "--candles", str(csv), "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={**os.environ, "WARDEN_FX__BTC": "nan"})
    assert r.returncode == 2, r.stderr[-2000:]
    assert "WARDEN_FX__BTC" in r.stderr and "Traceback" not in r.stderr


# --- the decision agent's memory: a BTC PnL is never averaged with a USD one -----------------------------------

def test_similar_cycles_average_pnl_only_in_the_instrument_currency() -> None:
    rows = [{"trade_cycle_id": "a", "won": True, "pnl_usd": 0.002, "currency": "BTC"},
            {"trade_cycle_id": "b", "won": False, "pnl_usd": -0.001, "currency": "BTC"},
            {"trade_cycle_id": "c", "won": True, "pnl_usd": 1500.0, "currency": "USDT"},
            {"trade_cycle_id": "d", "won": True, "pnl_usd": 500.0}]        # no currency: a v1 row, USD
    btc = summarize_similar(rows, currency="BTC")
    assert btc["avg_pnl_usd"] == pytest.approx(0.0005) and btc["avg_pnl_currency"] == "BTC"
    assert btc["pnl_other_currency"] == 2 and btc["n_similar"] == 4 and btc["wins"] == 3
    usd = summarize_similar(rows, currency="USD")
    assert usd["avg_pnl_usd"] == pytest.approx(1000.0) and usd["pnl_other_currency"] == 2


# --- as a user: the real A3 ETH/BTC file --------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not A3_ETHBTC.exists(), reason="A3 ETH_BTC-5m.feather is not on this machine")
@pytest.mark.parametrize("rate", [None, "12000"])
def test_the_a3_ethbtc_run_keeps_usd_equity(tmp_path: Path, rate: str | None) -> None:
    env = {**os.environ, **({"WARDEN_FX__BTC": rate} if rate else {})}
    r = subprocess.run([sys.executable, "-m", "warden", "run", "--broker", "paper", "--symbol", "ETHBTC",
                        "--candles", str(A3_ETHBTC), "--data-dir", str(tmp_path / "d"), "--json"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads(r.stdout)
    warned = "ETHBTC is quoted in BTC: every entry will be blocked (FX_RATE_MISSING)" in r.stderr
    assert warned is (rate is None)              # said once at start when the rate is missing
    if rate is None:
        assert s["entries_sent"] == 0 and s["blocked_by_reason"].get("FX_RATE_MISSING", 0) == s["blocked_orders"] > 0
        assert s["end_equity"] == s["start_equity"] == 100_000.0
    else:
        assert s["trades"] > 0 and s["currency"] == "BTC"
        # the BTC PnL (net of fees) reaches the USD equity at the rate, to the cent
        assert s["end_equity"] - s["start_equity"] == pytest.approx(s["pnl_usd"] * float(rate), abs=0.01)
        # the outcome keeps the instrument's money: PnL and the worst case both in BTC (an R multiple stays true)
        outs = [json.loads(f.read_text(encoding="utf-8"))
                for f in (tmp_path / "d" / "training" / "trade_outcomes").rglob("*.json")]
        assert outs and all(o["currency"] == "BTC" and 0 < o["risk"]["worst_case_loss"] < 0.01 for o in outs)
