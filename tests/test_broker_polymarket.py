"""PolymarketBroker and polymarket_data against a fake venue on 127.0.0.1, through the real
py-clob-client-v2 (signing, HMAC, httpx) and httpx. The key is a throwaway one made here."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("py_clob_client_v2")
from eth_account import Account  # noqa: E402

from tests.fakes.polymarket_server import FakePolymarket  # noqa: E402
from trading.brokers.base import (  # noqa: E402
    BracketRequest,
    Broker,
    BrokerUnavailable,
    ReduceOnlyViolation,
    SupportsReconnectEvents,
)
from trading.brokers.polymarket import PolymarketBroker, PolymarketCredentials  # noqa: E402
from trading.brokers.polymarket_data import (  # noqa: E402
    DataPosition,
    GammaMarket,
    PolymarketData,
    PolymarketResolutionSource,
    token_id_str,
)
from trading.domain.contracts import spec_for  # noqa: E402
from trading.domain.models import OrderStatus, Side  # noqa: E402
from trading.settings import BrokerConfig  # noqa: E402

# made-up token ids of the real length (76-77 digits); a float would keep ~17 of them
UP = "71583992563217201054921439186227845637195740366310582286412093842771602213057"
DOWN = "2894417305818365270148902957812735960114720938377126905561234098743211776543"
CID = "0x" + "7c" * 32
SLUG = "btc-updown-15m-1767200400"


@pytest.fixture(scope="module")
def venue() -> Iterator[FakePolymarket]:
    v = FakePolymarket().start()
    yield v
    v.stop()


@pytest.fixture
def fake(venue: FakePolymarket) -> FakePolymarket:
    venue.reset()
    venue.add_updown_market(SLUG, CID, UP, DOWN, up_price=0.55)
    venue.set_book(UP, bids=[(0.53, 100), (0.54, 50)], asks=[(0.56, 40), (0.57, 100)])
    return venue


@pytest.fixture
def wallet() -> object:
    return Account.create()


def config(fake: FakePolymarket) -> BrokerConfig:
    return BrokerConfig(kind="polymarket", polymarket_host=fake.url + "/clob", polymarket_data_host=fake.url + "/data")


def make_broker(fake: FakePolymarket, creds: PolymarketCredentials, timeout: float = 2.0,
                **kw: object) -> PolymarketBroker:
    b = PolymarketBroker(config(fake), creds, gamma_host=fake.url + "/gamma", request_timeout_s=timeout,
                         **kw)  # type: ignore[arg-type]
    b.connect()
    return b


@pytest.fixture
def broker(fake: FakePolymarket, wallet: object) -> PolymarketBroker:
    fake.add_account(wallet.address, usdc=500.0)  # type: ignore[attr-defined]
    return make_broker(fake, PolymarketCredentials(private_key=wallet.key.hex()))  # type: ignore[attr-defined]


def posted_orders(fake: FakePolymarket) -> list[dict]:
    return [json.loads(r["body"]) for r in fake.requests if r["method"] == "POST" and r["path"] == "/clob/order"]


# ---------------------------------------------------------------------------- connection and credentials
def test_connect_derives_api_credentials_with_level_1_signature(fake: FakePolymarket, wallet: object) -> None:
    creds = PolymarketCredentials(private_key=wallet.key.hex())  # type: ignore[attr-defined]
    first = make_broker(fake, creds)
    assert first.client.mode == 2 and first.wallet == wallet.address  # type: ignore[attr-defined]
    key = fake.accounts[wallet.address.lower()]["api_key"]  # type: ignore[attr-defined]
    second = make_broker(fake, creds)          # the key exists now: create fails, derive answers
    assert second.client.creds.api_key == key
    auth = [(r["method"], r["path"]) for r in fake.requests if "/auth/" in r["path"]]
    assert auth == [("POST", "/clob/auth/api-key"), ("POST", "/clob/auth/api-key"),
                    ("GET", "/clob/auth/derive-api-key")]
    assert isinstance(first, Broker) and not first.supports_protective_orders


def test_a_forged_level_1_signature_is_refused(fake: FakePolymarket, wallet: object) -> None:
    other = Account.create()
    creds = PolymarketCredentials(private_key=other.key.hex(), funder=wallet.address)  # type: ignore[attr-defined]
    b = PolymarketBroker(config(fake), creds, gamma_host=fake.url + "/gamma")
    fake.fail_once["/clob/auth/api-key"] = (401, {"error": "Invalid L1 Request headers"})
    fake.fail_once["/clob/auth/derive-api-key"] = (401, {"error": "Invalid L1 Request headers"})
    with pytest.raises(BrokerUnavailable, match="HTTP 401"):
        b.connect()


def test_credentials_come_from_env_and_partial_sets_are_refused() -> None:
    env = {"POLYMARKET_PRIVATE_KEY": "0xabc", "POLYMARKET_API_KEY": "k-1", "POLYMARKET_SECRET": "s-1",
           "POLYMARKET_API_PASSPHRASE": "p-1", "POLYMARKET_FUNDER": "0x" + "1" * 40, "POLYMARKET_SIGNATURE_TYPE": "2"}
    c = PolymarketCredentials.from_env(env)
    assert c.has_api_creds and c.api_secret and c.api_secret.get_secret_value() == "s-1"
    assert c.signature_type == 2 and c.funder == "0x" + "1" * 40
    assert "s-1" not in repr(c) and "0xabc" not in str(c) and "p-1" not in repr(c)
    with pytest.raises(ValueError, match="POLYMARKET_API_SECRET, POLYMARKET_API_PASSPHRASE") as exc:
        PolymarketCredentials.from_env({"POLYMARKET_API_KEY": "k-2"})
    assert "k-2" not in str(exc.value)
    assert not PolymarketCredentials.from_env({}).has_api_creds


def test_credentials_never_reach_logs_or_errors(fake: FakePolymarket, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    acct = Account.create()
    key_hex = acct.key.hex()
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ1Ng=="
    fake.add_account(acct.address, api_key="6f1c0a52-0000-4000-8000-00000000beef", secret=secret,
                     passphrase="pass-phrase-do-not-log", usdc=100.0)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", key_hex)
    monkeypatch.setenv("POLYMARKET_API_KEY", "6f1c0a52-0000-4000-8000-00000000beef")
    monkeypatch.setenv("POLYMARKET_API_SECRET", secret)
    monkeypatch.setenv("POLYMARKET_API_PASSPHRASE", "pass-phrase-do-not-log")
    caplog.set_level(logging.DEBUG)          # every logger, the client library and httpx included
    errors: list[str] = []
    b = PolymarketBroker(config(fake), gamma_host=fake.url + "/gamma", request_timeout_s=0.3)
    b.connect()
    b.place_bracket(BracketRequest(trade_cycle_id="c", symbol=UP, side=Side.BUY, qty=5, entry_type="MKT",
                                   stop_price=0.1, target_price=0.9))
    b.executions()
    rejected = b.place_bracket(BracketRequest(trade_cycle_id="r", symbol=UP, side=Side.BUY, qty=5000,
                                              entry_type="LMT", limit_price=0.5, stop_price=0.1, target_price=0.9))
    errors.append(rejected.parent.reason)
    fake.delay["/clob/data/orders"] = 1.0
    fake.fail["/clob/data/trades"] = (500, {"error": "internal"})
    for call in (b.open_orders, b.executions):
        with pytest.raises(BrokerUnavailable) as exc:
            call()
        errors.append(str(exc.value))
    fake.delay.clear()
    with pytest.raises(ValueError) as bad:
        PolymarketBroker(config(fake), PolymarketCredentials(private_key=key_hex[:-6] + "zzzzzz")).connect()
    errors.append(str(bad.value))
    text = caplog.text + "\n".join(errors) + repr(b) + repr(b.creds) + str(b.creds)
    assert "HTTP Request" in caplog.text      # the capture did see the traffic
    for s in (key_hex, key_hex.removeprefix("0x"), secret, "pass-phrase-do-not-log",
              "6f1c0a52-0000-4000-8000-00000000beef"):
        assert s not in text


# ---------------------------------------------------------------------------- market data
def test_book_is_sorted_best_first_and_price_sides_are_not_swapped(broker: PolymarketBroker,
                                                                    fake: FakePolymarket) -> None:
    raw = [r for r in fake.requests if r["path"] == "/clob/book"]
    book = broker.order_book(UP)
    raw = [r for r in fake.requests if r["path"] == "/clob/book"][len(raw):]
    assert raw[0]["query"]["token_id"] == UP           # the full 77-digit id went over the wire
    assert [lv.price for lv in book.bids] == [0.54, 0.53] and [lv.price for lv in book.asks] == [0.56, 0.57]
    assert (book.best_bid, book.best_ask, book.mid) == (0.54, 0.56, pytest.approx(0.55))
    assert broker.best_bid(UP) == 0.54 and broker.best_ask(UP) == 0.56 and broker.midpoint(UP) == 0.55
    with pytest.raises(BrokerUnavailable, match="HTTP 404"):
        broker.order_book("1234")


def test_gamma_json_string_fields_and_token_ids_stay_exact(broker: PolymarketBroker) -> None:
    m = broker.market_by_slug(SLUG)
    assert m is not None and m.outcomes == ["Up", "Down"] and m.outcome_prices == [0.55, 0.45]
    assert m.clob_token_ids == [UP, DOWN] and m.token_for("down") == DOWN
    assert broker.market_by_slug("no-such-market") is None
    clob = broker.market(CID)
    assert [t["token_id"] for t in clob["tokens"]] == [UP, DOWN]
    assert spec_for(UP).bounded_payoff


def test_token_ids_are_never_floats() -> None:
    assert token_id_str(int(UP)) == UP
    with pytest.raises(ValueError):
        token_id_str(float(UP))
    with pytest.raises(ValueError):
        DataPosition.model_validate({"asset": 8.851848546962572e75, "size": 1})
    g = GammaMarket.model_validate({"slug": "s", "outcomes": '["Up","Down"]', "clobTokenIds": f"[{UP}, {DOWN}]"})
    assert g.clob_token_ids == [UP, DOWN]     # bare JSON integers decode exactly, then become strings


# ---------------------------------------------------------------------------- orders, fills, positions
def test_market_entry_fills_and_positions_follow(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    fills, statuses = [], []
    broker.on_fill(fills.append)
    broker.on_order_status(statuses.append)
    out = broker.place_bracket(BracketRequest(trade_cycle_id="cyc-1", symbol=UP, side=Side.BUY, qty=10,
                                              entry_type="MKT", stop_price=0.3, target_price=0.9))
    order = posted_orders(fake)[0]
    assert order["order"]["tokenId"] == UP and order["orderType"] == "FAK"
    assert out.parent.status is OrderStatus.FILLED and out.parent.filled_qty == 10
    assert out.parent.avg_fill_price == pytest.approx(0.56) and statuses[-1].order_id == out.parent.order_id
    assert out.stop.status is OrderStatus.CANCELLED and "no resting stop" in out.stop.reason
    assert out.target.limit_price == 0.9 and out.target.order_id.endswith(":target")
    [pos] = broker.positions()
    assert (pos.symbol, pos.qty, pos.avg_price) == (UP, 10, pytest.approx(0.56))
    [fill] = broker.executions()
    assert (fill.symbol, fill.side, fill.qty, fill.price, fill.trade_cycle_id) == (UP, Side.BUY, 10, 0.56, "cyc-1")
    snap = broker.account()
    assert snap.cash == pytest.approx(494.4) and snap.equity == pytest.approx(494.4 + 10 * 0.55)
    new_fills, _ = broker.poll()
    assert [f.exec_id for f in new_fills] == [fill.exec_id] == [f.exec_id for f in fills]


def test_limit_entry_rests_then_maker_fills_arrive_by_poll(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    fills, statuses = [], []
    broker.on_fill(fills.append)
    broker.on_order_status(statuses.append)
    out = broker.place_bracket(BracketRequest(trade_cycle_id="cyc-2", symbol=UP, side=Side.BUY, qty=20,
                                              entry_type="LMT", limit_price=0.50, stop_price=0.3, target_price=0.9))
    assert out.parent.status is OrderStatus.SUBMITTED
    assert [o.order_id for o in broker.open_orders()] == [out.parent.order_id]
    broker.poll()
    fake.fill_resting(out.parent.order_id, 5)
    new_fills, changed = broker.poll()
    assert [(f.qty, f.price, f.trade_cycle_id, f.order_id) for f in new_fills] == [(5, 0.5, "cyc-2",
                                                                                     out.parent.order_id)]
    assert new_fills[0].exec_id.endswith(":" + out.parent.order_id)
    assert changed[0].status is OrderStatus.PARTIAL and statuses[-1].filled_qty == 5
    assert broker.poll() == ([], [])               # nothing new: fills are de-duplicated
    fake.fill_resting(out.parent.order_id)
    _, changed = broker.poll()
    assert changed[0].status is OrderStatus.FILLED and broker.position(UP) == 20


def test_failed_settlements_are_not_fills(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    broker.place_bracket(BracketRequest(trade_cycle_id="f", symbol=UP, side=Side.BUY, qty=10, entry_type="MKT",
                                        stop_price=0.3, target_price=0.9))
    fake.trades[-1]["status"] = "FAILED"           # the on-chain settlement failed: nothing changed hands
    assert broker.executions() == []


def test_a_trade_row_not_understood_fails_the_read(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    broker.place_bracket(BracketRequest(trade_cycle_id="m", symbol=UP, side=Side.BUY, qty=10, entry_type="MKT",
                                        stop_price=0.3, target_price=0.9))
    fake.trades[-1]["asset_id"] = float(UP)        # a token id that lost its digits
    with pytest.raises(BrokerUnavailable, match="trade .* not understood"):
        broker.executions()
    assert broker.errors["trade not understood"] == 1


def test_no_short_entries(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    with pytest.raises(ValueError, match="no short"):
        broker.place_bracket(BracketRequest(trade_cycle_id="c", symbol=UP, side=Side.SELL, qty=5,
                                            stop_price=0.9, target_price=0.1))
    assert posted_orders(fake) == []


def test_reduce_only_sells_only_shares_held(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    with pytest.raises(ReduceOnlyViolation, match="BUY never reduces"):
        broker.place_reduce_only("c", UP, Side.BUY, 5)
    with pytest.raises(ReduceOnlyViolation, match="no shares held"):
        broker.place_reduce_only("c", UP, Side.SELL, 5)
    fake.set_holding(broker.wallet, UP, 8, 0.4)
    with pytest.raises(ReduceOnlyViolation, match="exceeds the 8 shares"):
        broker.place_reduce_only("c", UP, Side.SELL, 9)
    assert posted_orders(fake) == []
    out = broker.place_reduce_only("c", UP, Side.SELL, 8)
    assert out.reduce_only and out.status is OrderStatus.FILLED and out.limit_price == 0.54   # best bid
    assert posted_orders(fake)[0]["order"]["side"] == "SELL" and broker.positions() == []


def test_small_positions_are_not_hidden_by_the_default_threshold(broker: PolymarketBroker,
                                                                  fake: FakePolymarket) -> None:
    fake.set_holding(broker.wallet, DOWN, 0.5, 0.3)
    assert [(p.symbol, p.qty) for p in broker.positions()] == [(DOWN, 0.5)]
    q = [r["query"] for r in fake.requests if r["path"] == "/data/positions"][-1]
    assert q["sizeThreshold"] == "0" and q["user"] == broker.wallet


def test_rejected_order_is_reported_not_raised(broker: PolymarketBroker) -> None:
    out = broker.place_bracket(BracketRequest(trade_cycle_id="big", symbol=UP, side=Side.BUY, qty=5000,
                                              entry_type="LMT", limit_price=0.5, stop_price=0.1, target_price=0.9))
    assert out.parent.status is OrderStatus.REJECTED and "not enough balance" in out.parent.reason
    tiny = broker.place_bracket(BracketRequest(trade_cycle_id="tiny", symbol=UP, side=Side.BUY, qty=1,
                                               entry_type="LMT", limit_price=0.5, stop_price=0.1, target_price=0.9))
    assert tiny.parent.status is OrderStatus.REJECTED and "minimum" in tiny.parent.reason
    assert broker.errors["order rejected"] == 2


def test_cancel_and_cancel_of_a_dead_order(broker: PolymarketBroker) -> None:
    out = broker.place_bracket(BracketRequest(trade_cycle_id="c", symbol=UP, side=Side.BUY, qty=10,
                                              entry_type="LMT", limit_price=0.4, stop_price=0.1, target_price=0.9))
    broker.cancel(out.parent.order_id)
    assert broker.open_orders() == []
    with pytest.raises(ValueError, match="did not cancel"):
        broker.cancel(out.parent.order_id)


def test_trades_follow_cursor_pagination(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    fake.page_size = 2
    fake.set_book(UP, bids=[], asks=[(0.51, 5), (0.52, 5), (0.53, 5), (0.54, 5), (0.55, 5)])
    broker.place_bracket(BracketRequest(trade_cycle_id="p", symbol=UP, side=Side.BUY, qty=25, entry_type="MKT",
                                        limit_price=0.55, stop_price=0.1, target_price=0.9))
    fills = broker.executions()
    assert len(fills) == 5 and sum(f.qty for f in fills) == 25
    cursors = [r["query"].get("next_cursor") for r in fake.requests if r["path"] == "/clob/data/trades"]
    assert cursors == ["MA==", "Mg==", "NA=="]


def test_read_only_without_key(fake: FakePolymarket, wallet: object) -> None:
    fake.set_holding(wallet.address, UP, 3, 0.2)  # type: ignore[attr-defined]
    b = make_broker(fake, PolymarketCredentials(), wallet=wallet.address)  # type: ignore[attr-defined]
    assert b.client.mode == 0 and b.position(UP) == 3
    with pytest.raises(PermissionError, match="POLYMARKET_PRIVATE_KEY"):
        b.open_orders()


# ---------------------------------------------------------------------------- failures
@pytest.mark.parametrize("path, call", [
    ("/data/positions", "positions"), ("/clob/data/orders", "open_orders"), ("/clob/data/trades", "executions"),
    ("/clob/balance-allowance", "account"), ("/clob/book", "book"),
])
def test_http_errors_are_unavailable(broker: PolymarketBroker, fake: FakePolymarket, path: str, call: str) -> None:
    fake.fail[path] = (503, {"error": "Trading is currently disabled. Check polymarket.com for updates"})
    fn = {"book": lambda: broker.order_book(UP)}.get(call) or getattr(broker, call)
    with pytest.raises(BrokerUnavailable, match="503"):
        fn()
    fake.fail.clear()
    fake.non_json.add(path)                        # a 200 that is an HTML error page
    with pytest.raises(BrokerUnavailable):
        fn()


def test_timeouts_are_unavailable_and_bounded(fake: FakePolymarket, wallet: object) -> None:
    fake.add_account(wallet.address, usdc=500.0)  # type: ignore[attr-defined]
    b = make_broker(fake, PolymarketCredentials(private_key=wallet.key.hex()), timeout=0.3)  # type: ignore[attr-defined]
    for path, call in (("/data/positions", b.positions), ("/clob/data/trades", b.executions)):
        fake.delay[path] = 1.0
        t0 = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="timeout|ReadTimeout|no answer"):
            call()
        assert time.monotonic() - t0 < 0.9
        fake.delay.clear()
    fake.delay["/clob/order"] = 1.0                 # the POST itself times out: fate unknown
    with pytest.raises(BrokerUnavailable, match="fate unknown"):
        b.place_bracket(BracketRequest(trade_cycle_id="t", symbol=UP, side=Side.BUY, qty=5, entry_type="LMT",
                                       limit_price=0.4, stop_price=0.1, target_price=0.9))
    fake.delay.clear()


def test_poll_failures_report_disconnect_then_recovery(broker: PolymarketBroker, fake: FakePolymarket) -> None:
    down: list[int] = []
    up: list[int] = []
    assert isinstance(broker, SupportsReconnectEvents) and broker.account_id == broker.wallet
    broker.on_disconnect(lambda: down.append(1))
    broker.on_reconnect(lambda: up.append(1))
    fake.fail["/clob/data/trades"] = (502, {"error": "bad gateway"})
    broker.process_events()                        # logged and counted, never raised into the loop
    broker.process_events()
    assert down == [1] and up == [] and broker.errors["trade read"] == 2
    fake.fail.clear()
    t0 = time.monotonic()
    broker.process_events(0.2)
    assert up == [1] and time.monotonic() - t0 >= 0.2


# ---------------------------------------------------------------------------- data API and resolution
def test_data_positions_paginate(fake: FakePolymarket) -> None:
    w = "0x" + "ab" * 20
    for tok, size in ((UP, 1.0), (DOWN, 2.0)):
        fake.set_holding(w, tok, size, 0.5)
    fake.add_updown_market("eth-updown-15m-1767200400", "0x" + "9d" * 32, "1" * 76, "2" * 76)
    fake.set_holding(w, "1" * 76, 3.0, 0.5)
    data = PolymarketData(fake.url + "/data", fake.url + "/gamma", clob_host=fake.url + "/clob")
    rows = data.positions(w, page_size=2)
    assert sorted(r.asset for r in rows) == sorted([UP, DOWN, "1" * 76])
    offsets = [r["query"]["offset"] for r in fake.requests if r["path"] == "/data/positions"]
    assert offsets == ["0", "2"]
    assert data.value(w) == pytest.approx(1 * 0.55 + 2 * 0.45 + 3 * 0.5)


@pytest.mark.parametrize("kw, expected", [
    ({"closed": True, "winner": "Down", "final": ("0.0000011", "0.9999989")}, "Down"),
    ({"closed": True, "final": ("1", "0")}, "Up"),                       # no CLOB flag, decisive prices
    ({"closed": True, "final": ("0", "0")}, None),                       # seen on real closed markets
    ({"closed": True, "final": ("0.584", "0.416")}, None),
    ({"closed": True, "final": ("1", "1")}, None),                       # not one winner
    ({"closed": False, "final": ("0.999", "0.001")}, None),              # still trading
    ({"closed": False, "winner": "Up", "final": ("0.999", "0.001")}, None),   # a flag before the close
    ({"closed": True, "final": ("1", "0"), "uma_status": "disputed"}, None),
])
def test_resolution_source(fake: FakePolymarket, kw: dict, expected: str | None) -> None:
    fake.reset()
    fake.add_updown_market(SLUG, CID, UP, DOWN, **kw)
    src = PolymarketResolutionSource(PolymarketData(fake.url + "/data", fake.url + "/gamma",
                                                    clob_host=fake.url + "/clob"))
    assert src.resolve(SLUG) == expected


def test_resolution_failures_are_none_logged_and_counted(fake: FakePolymarket,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    fake.reset()
    fake.add_updown_market(SLUG, CID, UP, DOWN, closed=True, final=("0", "1"), winner="Up")
    src = PolymarketResolutionSource(PolymarketData(fake.url + "/data", fake.url + "/gamma",
                                                    clob_host=fake.url + "/clob", timeout_s=0.3))
    with caplog.at_level(logging.WARNING):
        assert src.resolve(SLUG) == "Up"                  # the CLOB winner flag beats the prices
        assert src.errors["conflicting evidence"] == 1
        assert src.resolve("btc-updown-15m-0") is None
        fake.fail["/gamma/markets"] = (500, {"error": "boom"})
        assert src.resolve(SLUG) is None
        fake.fail.clear()
        fake.fail[f"/clob/markets/{CID}"] = (502, {"error": "bad gateway"})
        assert src.resolve(SLUG) == "Down"                # CLOB down: decisive prices still answer
    assert src.errors["unknown market"] == 1 and src.errors["unavailable"] == 1
    assert src.errors["clob unavailable"] == 1 and "btc-updown-15m-0" in caplog.text


def test_broker_resolution_source_raises_for_the_outcome_resolver(broker: PolymarketBroker,
                                                                   fake: FakePolymarket) -> None:
    from trading.execution.outcome_resolver import ResolutionSource

    src = broker.resolution_source()
    assert isinstance(src, ResolutionSource) and src.name == "polymarket"
    assert src.resolve(SLUG) is None                   # open market: not resolved yet, no error
    with pytest.raises(LookupError):
        src.resolve("btc-updown-15m-0")
    fake.fail["/gamma/markets"] = (503, {"error": "down"})
    with pytest.raises(BrokerUnavailable, match="503"):
        src.resolve(SLUG)
