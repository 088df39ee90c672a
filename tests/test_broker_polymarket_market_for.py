"""PolymarketBroker.market_for: an underlying's signal -> the 15-minute window's Up/Down share, through the
real py-clob-client-v2 and httpx talking to the fake venue on 127.0.0.1."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("py_clob_client_v2")

from tests.fakes.polymarket_server import FakePolymarket  # noqa: E402
from trading.brokers.base import BrokerUnavailable  # noqa: E402
from trading.brokers.polymarket import PolymarketBroker, PolymarketCredentials  # noqa: E402
from trading.domain.models import Side, Signal  # noqa: E402
from trading.settings import BrokerConfig  # noqa: E402

# made-up token ids of the real length; a float would keep ~17 of their digits
UP = "71583992563217201054921439186227845637195740366310582286412093842771602213057"
DOWN = "2894417305818365270148902957812735960114720938377126905561234098743211776543"
CID = "0x" + "5e" * 32
START = datetime(2026, 1, 15, 0, 15, tzinfo=UTC)            # a 15-minute boundary
SLUG = f"btc-updown-15m-{int(START.timestamp())}"           # btc-updown-15m-1768436100
END = START + timedelta(minutes=15)


@pytest.fixture(scope="module")
def venue() -> Iterator[FakePolymarket]:
    v = FakePolymarket().start()
    yield v
    v.stop()


@pytest.fixture
def fake(venue: FakePolymarket) -> FakePolymarket:
    venue.reset()
    venue.add_updown_market(SLUG, CID, UP, DOWN, up_price=0.55, start=int(START.timestamp()))
    venue.set_book(UP, bids=[(0.53, 100), (0.54, 50)], asks=[(0.57, 100), (0.56, 40)])
    venue.set_book(DOWN, bids=[(0.43, 80)], asks=[(0.47, 30), (0.45, 60)])
    return venue


@pytest.fixture
def broker(fake: FakePolymarket) -> PolymarketBroker:
    cfg = BrokerConfig(kind="polymarket", polymarket_host=fake.url + "/clob",
                       polymarket_data_host=fake.url + "/data")
    b = PolymarketBroker(cfg, PolymarketCredentials(), gamma_host=fake.url + "/gamma", request_timeout_s=2.0)
    b.connect()                                   # read-only (level 0) is enough to map a signal
    fake.requests.clear()
    return b


def sig(side: Side | None, symbol: str = "BTC") -> Signal:
    return Signal(symbol=symbol, side=side, confidence=0.7, ts=START)


def test_buy_maps_to_the_up_share_at_its_best_ask(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    m = broker.market_for(sig(Side.BUY), START + timedelta(minutes=4, seconds=30))
    assert m is not None
    assert m["symbol"] == UP and isinstance(m["symbol"], str)          # exact, all 77 digits
    assert m["price"] == pytest.approx(0.56)                           # best ask, not the first level sent
    assert (m["stop"], m["target"]) == (0.0, 1.0)
    assert (m["market_slug"], m["outcome_label"]) == (SLUG, "Up")
    assert m["resolve_by"] == END and m["resolve_by"].tzinfo is not None
    assert m["side"] is Side.BUY
    # what went over the wire: the slug to gamma, the exact token id and side=SELL (= the ask) to /price
    gamma = [r for r in fake.requests if r["path"] == "/gamma/markets"]
    assert [r["query"]["slug"] for r in gamma] == [SLUG]
    [price] = [r for r in fake.requests if r["path"] == "/clob/price"]
    assert price["query"] == {"token_id": UP, "side": "SELL"}


def test_sell_maps_to_buying_the_down_share(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    m = broker.market_for(sig(Side.SELL), START + timedelta(minutes=1))
    assert m is not None
    assert (m["symbol"], m["outcome_label"], m["market_slug"]) == (DOWN, "Down", SLUG)
    assert m["price"] == pytest.approx(0.45)
    assert m["side"] is Side.BUY                                      # no short on Polymarket
    [price] = [r for r in fake.requests if r["path"] == "/clob/price"]
    assert price["query"]["token_id"] == DOWN


@pytest.mark.parametrize("symbol", ["BTC", "btc", "BTCUSDT", "BTC-USD", "BTC/USDT", "BINANCE:BTCUSDT"])
def test_underlying_spellings_map_to_the_same_window(broker: PolymarketBroker, symbol: str) -> None:
    m = broker.market_for(sig(Side.BUY, symbol), START + timedelta(minutes=7))
    assert m is not None and m["market_slug"] == SLUG


def test_window_is_now_floored_to_15_minutes(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    nxt = START + timedelta(minutes=15)
    slug2 = f"eth-updown-15m-{int(nxt.timestamp())}"
    up2, down2 = UP[:-1] + "1", DOWN[:-1] + "2"
    fake.add_updown_market(slug2, "0x" + "6f" * 32, up2, down2, start=int(nxt.timestamp()))
    fake.set_book(up2, bids=[], asks=[(0.31, 10)])
    m = broker.market_for(sig(Side.BUY, "ETHUSDT"), nxt + timedelta(minutes=14, seconds=59) - timedelta(seconds=90))
    assert m is not None
    assert (m["market_slug"], m["symbol"], m["resolve_by"]) == (slug2, up2, nxt + timedelta(minutes=15))
    # a moment before it began is the window before, which eth does not list
    assert broker.market_for(sig(Side.BUY, "ETH"), nxt - timedelta(seconds=61)) is None


def test_missing_market_is_none_and_says_why(broker: PolymarketBroker, fake: FakePolymarket,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trading.brokers.polymarket_markets")
    assert broker.market_for(sig(Side.BUY, "SOL"), START + timedelta(minutes=2)) is None
    assert f"sol-updown-15m-{int(START.timestamp())}: no such market" in caplog.text
    # the next window of BTC is not listed either
    assert broker.market_for(sig(Side.BUY), END + timedelta(minutes=2)) is None
    assert not [r for r in fake.requests if r["path"].startswith("/clob/")]   # nothing priced


def test_too_late_in_the_window_is_none_without_asking(broker: PolymarketBroker, fake: FakePolymarket,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trading.brokers.polymarket_markets")
    late = END - timedelta(seconds=45)
    assert broker.market_for(sig(Side.BUY), late) is None
    assert "45 s left" in caplog.text
    assert fake.requests == []                                         # decided before any request
    # a smaller minimum (keyword, or the class attribute on an instance) lets it through
    assert broker.market_for(sig(Side.BUY), late, min_window_left_s=30) is not None
    broker.min_window_left_s = 50
    assert broker.market_for(sig(Side.BUY), late) is None
    broker.min_window_left_s = 40
    assert broker.market_for(sig(Side.BUY), late) is not None


def test_closed_or_not_accepting_orders_is_none(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    now = START + timedelta(minutes=3)
    fake.clob_markets[CID]["accepting_orders"] = False
    assert broker.market_for(sig(Side.BUY), now) is None
    assert not [r for r in fake.requests if r["path"] == "/clob/price"]
    fake.clob_markets[CID]["accepting_orders"] = True
    assert broker.market_for(sig(Side.BUY), now) is not None
    fake.gamma[SLUG]["closed"] = True
    assert broker.market_for(sig(Side.BUY), now) is None


def test_gamma_window_that_disagrees_with_the_slug_is_none(broker: PolymarketBroker, fake: FakePolymarket,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    fake.gamma[SLUG]["endDate"] = "2026-01-15T01:30:00Z"              # not START + 15 min
    assert broker.market_for(sig(Side.BUY), START + timedelta(minutes=3)) is None
    assert "gamma says the market ends" in caplog.text


def test_no_ask_or_an_ask_at_099_is_none(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    now = START + timedelta(minutes=5)
    fake.set_book(UP, bids=[(0.5, 10)], asks=[])                      # the CLOB answers /price with 404
    assert broker.market_for(sig(Side.BUY), now) is None
    fake.set_book(UP, bids=[(0.5, 10)], asks=[(0.99, 100)])
    assert broker.market_for(sig(Side.BUY), now) is None
    fake.set_book(UP, bids=[(0.5, 10)], asks=[(0.98, 100)])
    m = broker.market_for(sig(Side.BUY), now)
    assert m is not None and m["price"] == pytest.approx(0.98)


def test_hold_signal_is_none_and_naive_now_is_refused(broker: PolymarketBroker) -> None:
    assert broker.market_for(sig(None), START + timedelta(minutes=1)) is None
    with pytest.raises(ValueError, match="aware"):
        broker.market_for(sig(Side.BUY), datetime(2026, 1, 15, 0, 20))


@pytest.mark.parametrize("path,status", [("/gamma/markets", 500), ("/clob/markets/" + CID, 503),
                                         ("/clob/price", 502), ("/clob/price", 429)])
def test_http_errors_raise_broker_unavailable(broker: PolymarketBroker, fake: FakePolymarket, path: str,
                                              status: int) -> None:
    fake.fail[path] = (status, {"error": "upstream"})
    with pytest.raises(BrokerUnavailable):
        broker.market_for(sig(Side.BUY), START + timedelta(minutes=2))


def test_non_json_gamma_answer_raises_broker_unavailable(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    fake.non_json.add("/gamma/markets")
    with pytest.raises(BrokerUnavailable):
        broker.market_for(sig(Side.SELL), START + timedelta(minutes=2))


def test_a_timed_out_price_read_raises_broker_unavailable(fake: FakePolymarket) -> None:
    cfg = BrokerConfig(kind="polymarket", polymarket_host=fake.url + "/clob",
                       polymarket_data_host=fake.url + "/data")
    b = PolymarketBroker(cfg, PolymarketCredentials(), gamma_host=fake.url + "/gamma", request_timeout_s=0.3)
    b.connect()
    fake.delay["/clob/price"] = 1.0
    with pytest.raises(BrokerUnavailable, match="price read"):
        b.market_for(sig(Side.BUY), START + timedelta(minutes=2))
    assert b.errors["price read"] == 1


def test_gamma_token_that_is_not_the_clobs_is_none(broker: PolymarketBroker, fake: FakePolymarket,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    fake.clob_markets[CID]["tokens"][0]["token_id"] = UP[:-1] + "9"   # the CLOB's Up token differs
    assert broker.market_for(sig(Side.BUY), START + timedelta(minutes=3)) is None
    assert "is not the CLOB's" in caplog.text
    assert broker.market_for(sig(Side.SELL), START + timedelta(minutes=3)) is not None   # Down still agrees
