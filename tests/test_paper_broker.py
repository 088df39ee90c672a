"""The paper broker's fill rules: deterministic, conservative, never opening a position by accident."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trading.brokers.base import BracketRequest, Broker, BrokerUnavailable
from trading.brokers.paper import PaperBroker
from trading.domain.models import OrderStatus, Side
from trading.market.candles import Bar

T = datetime(2025, 1, 2, 15, 0, tzinfo=UTC)


def b(i: int, o: float, h: float, lo: float, c: float, v: float = 1000) -> Bar:
    return Bar(T + timedelta(minutes=i), o, h, lo, c, v)


def bracket(p: PaperBroker, side: Side = Side.BUY, qty: float = 1, stop: float = 4990, target: float = 5020,
            entry_type: str = "MKT", limit: float | None = None):  # noqa: ANN201
    return p.place_bracket(BracketRequest(trade_cycle_id="c1", symbol="ES", side=side, qty=qty, entry_type=entry_type,
                                          limit_price=limit, stop_price=stop, target_price=target))


def test_it_is_a_broker() -> None:
    assert isinstance(PaperBroker(), Broker)


def test_market_entry_fills_at_the_next_open_with_slippage_and_commission() -> None:
    p = PaperBroker(commission_per_contract=2.0, slippage_ticks=1)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p)
    assert p.executions() == []                       # no look-ahead: nothing fills on the bar it was sent
    fills = p.on_bar("ES", b(1, 5002, 5004, 5001, 5003))
    assert [(f.order_id, f.price, f.commission) for f in fills] == [(br.parent.order_id, 5002.25, 2.0)]
    assert p.positions()[0].qty == 1 and p.positions()[0].avg_price == 5002.25
    acct = p.account()
    assert acct.cash == pytest.approx(100_000 - 2.0)
    assert acct.equity == pytest.approx(100_000 - 2.0 + (5003 - 5002.25) * 50)


def test_target_fills_at_its_limit_and_cancels_the_stop() -> None:
    p = PaperBroker(commission_per_contract=0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p)
    p.on_bar("ES", b(1, 5000, 5005, 4995, 5004))
    fills = p.on_bar("ES", b(2, 5004, 5025, 5003, 5022))
    assert [(f.order_id, f.price) for f in fills] == [(br.target.order_id, 5020)]
    assert p.positions() == []
    assert p.account().cash == pytest.approx(100_000 + 20 * 50)
    assert p.open_orders() == []


def test_stop_first_when_one_bar_spans_stop_and_target() -> None:
    p = PaperBroker(commission_per_contract=0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p)
    p.on_bar("ES", b(1, 5000, 5001, 4999, 5000))
    fills = p.on_bar("ES", b(2, 5000, 5030, 4980, 5010))     # both reachable: conservative = the stop
    assert [(f.order_id, f.price) for f in fills] == [(br.stop.order_id, 4990)]
    assert p.account().cash == pytest.approx(100_000 - 10 * 50)


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    p = PaperBroker(commission_per_contract=0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    bracket(p)
    p.on_bar("ES", b(1, 5000, 5001, 4999, 5000))
    fills = p.on_bar("ES", b(2, 4980, 4985, 4975, 4982))
    assert [f.price for f in fills] == [4980]               # the worse price, not the stop


def test_limit_entry_waits_for_its_price_and_then_only_the_stop_may_fill_in_that_bar() -> None:
    p = PaperBroker(commission_per_contract=0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p, entry_type="LMT", limit=4995, stop=4990, target=5003)
    assert p.on_bar("ES", b(1, 5000, 5002, 4996, 5001)) == []   # never reached 4995
    fills = p.on_bar("ES", b(2, 5000, 5004, 4994, 5003))        # reaches the limit, and the target's price
    assert [(f.order_id, f.price) for f in fills] == [(br.parent.order_id, 4995)]
    fills = p.on_bar("ES", b(3, 5003, 5004, 5002, 5003))
    assert [(f.order_id, f.price) for f in fills] == [(br.target.order_id, 5003)]


def test_short_bracket_mirror() -> None:
    p = PaperBroker(commission_per_contract=0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p, side=Side.SELL, stop=5010, target=4980)
    p.on_bar("ES", b(1, 5000, 5001, 4999, 5000))
    assert p.positions()[0].qty == -1
    fills = p.on_bar("ES", b(2, 5000, 5012, 4999, 5011))
    assert [(f.order_id, f.side, f.price) for f in fills] == [(br.stop.order_id, Side.BUY, 5010)]
    assert p.account().cash == pytest.approx(100_000 - 10 * 50)


def test_reduce_only_is_capped_and_never_flips() -> None:
    p = PaperBroker(commission_per_contract=0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    bracket(p, qty=2, stop=4900, target=5100)
    p.on_bar("ES", b(1, 5000, 5001, 4999, 5000))
    ex = p.place_reduce_only("c1", "ES", Side.SELL, 5)
    p.on_bar("ES", b(2, 5000, 5001, 4999, 5000))
    assert p.positions() == []
    filled = [f for f in p.executions() if f.order_id == ex.order_id]
    assert sum(f.qty for f in filled) == 2
    # nothing left to reduce: a reduce-only order is cancelled, never turned into an entry
    again = p.place_reduce_only("c1", "ES", Side.BUY, 1)
    p.on_bar("ES", b(3, 5000, 5001, 4999, 5000))
    assert p.positions() == []
    st = {o.order_id: o for o in p.open_orders()}
    assert again.order_id not in st


def test_children_of_a_closed_position_are_cancelled_not_filled() -> None:
    p = PaperBroker(commission_per_contract=0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p)
    p.on_bar("ES", b(1, 5000, 5001, 4999, 5000))
    p.place_reduce_only("c1", "ES", Side.SELL, 1)
    p.on_bar("ES", b(2, 5000, 5001, 4999, 5000))                # exit fills; children still armed
    fills = p.on_bar("ES", b(3, 5000, 5025, 4985, 5000))        # both children reachable
    assert fills == [] and p.positions() == []
    assert p.open_orders() == []
    assert br.stop.order_id not in {f.order_id for f in p.executions()}


def test_partial_fills_from_a_participation_cap_reduce_the_oca_sibling() -> None:
    p = PaperBroker(commission_per_contract=0, max_participation=0.01)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000, v=1000))
    br = bracket(p, qty=3, stop=4995, target=5010)
    p.on_bar("ES", b(1, 5000, 5001, 4999, 5000, v=1000))        # 10 available: all 3 fill
    assert p.positions()[0].qty == 3
    p.on_bar("ES", b(2, 5000, 5011, 4999, 5010, v=100))         # 1 available: the target fills 1 of 3
    orders = {o.order_id: o for o in p.open_orders()}
    assert orders[br.target.order_id].status is OrderStatus.PARTIAL
    assert orders[br.stop.order_id].qty == 2                     # OCA: the sibling shrank with it
    assert p.positions()[0].qty == 2


def test_cancelling_a_parent_cancels_its_children() -> None:
    p = PaperBroker()
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p, entry_type="LMT", limit=4900)
    seen = []
    p.on_order_status(lambda o: seen.append((o.order_id, o.status)))
    p.cancel(br.parent.order_id)
    assert p.open_orders() == []
    assert {oid for oid, st in seen if st is OrderStatus.CANCELLED} == {br.parent.order_id, br.stop.order_id,
                                                                         br.target.order_id}
    with pytest.raises(KeyError):
        p.cancel("999")


def test_callbacks_errors_are_counted_not_fatal_and_reads_fail_when_disconnected() -> None:
    p = PaperBroker()
    p.on_fill(lambda f: 1 / 0)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    bracket(p)
    p.on_bar("ES", b(1, 5000, 5001, 4999, 5000))
    assert p.callback_errors == 1 and p.positions()[0].qty == 1
    reconnects = []
    p.on_reconnect(lambda: reconnects.append(1))
    p.disconnect()
    for read in (p.positions, p.open_orders, p.account, p.executions):
        with pytest.raises(BrokerUnavailable):
            read()
    with pytest.raises(BrokerUnavailable):
        bracket(p)
    p.connect()
    assert reconnects == [1]


def test_unknown_instrument_is_refused_when_sent() -> None:
    p = PaperBroker()
    with pytest.raises(ValueError, match="no contract spec"):
        p.place_bracket(BracketRequest(trade_cycle_id="c", symbol="DOGE", side=Side.BUY, qty=1, stop_price=1,
                                       target_price=2))


# -- the account persists in the data dir (issue 11 hole 1) -----------------------------------------------

def test_the_account_resumes_from_its_store_with_ids_that_continue(tmp_path) -> None:  # noqa: ANN001
    from trading.brokers.paper_account import PaperAccountStore

    store = PaperAccountStore(tmp_path / "paper")
    p = PaperBroker(commission_per_contract=1.0, store=store)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    br = bracket(p)
    p.on_bar("ES", b(1, 5000, 5005, 4995, 5004))                  # entry fills, bracket children work
    ids = {o.order_id for o in p.open_orders()}
    execs = {f.exec_id for f in p.executions()}
    acct = p.account()
    # a restart: a new process, a new broker object on the same data dir
    q = PaperBroker(commission_per_contract=1.0, store=PaperAccountStore(tmp_path / "paper"))
    assert q.resumed and q.account_id == p.account_id
    assert q.positions() == p.positions() and {o.order_id for o in q.open_orders()} == ids
    assert q.account() == acct and {f.exec_id for f in q.executions()} == execs
    assert q.on_bar("ES", b(1, 5000, 5005, 4995, 5004)) == []     # a bar it already processed: ignored
    fills = q.on_bar("ES", b(2, 5004, 5025, 5003, 5022))          # the resumed target fills
    assert [(f.order_id, f.price) for f in fills] == [(br.target.order_id, 5020)]
    assert not {f.exec_id for f in fills} & execs and q.positions() == []
    nxt = q.place_reduce_only("c2", "ES", Side.SELL, 1)
    assert nxt.order_id not in ids | {br.parent.order_id}


def test_a_fresh_account_is_explicit_and_keeps_the_old_one(tmp_path) -> None:  # noqa: ANN001
    from trading.brokers.paper_account import PaperAccountError, PaperAccountStore

    store = PaperAccountStore(tmp_path / "paper")
    p = PaperBroker(store=store)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    bracket(p)
    fresh = PaperBroker(store=PaperAccountStore(tmp_path / "paper"), fresh_account=True)
    assert not fresh.resumed and fresh.account_id != p.account_id and fresh.open_orders() == []
    assert store.path(p.account_id).exists() and store.current() == fresh.account_id
    assert not {o.order_id for o in p.open_orders()} & {fresh.place_reduce_only("x", "ES", Side.SELL, 1).order_id}
    store.path(fresh.account_id).write_text("{not json")           # a broken account is an error, not a reset
    with pytest.raises(PaperAccountError, match="not a readable paper account"):
        PaperBroker(store=PaperAccountStore(tmp_path / "paper"))


def test_a_binary_share_settles_at_one_or_zero() -> None:
    token = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
    for payout, cash in ((1.0, 100_000 + 10 * 0.58), (0.0, 100_000 - 10 * 0.42)):
        p = PaperBroker(commission_per_contract=0)
        p.on_bar(token, Bar(T, 0.42, 0.42, 0.42, 0.42, 1e6))
        p.place_bracket(BracketRequest(trade_cycle_id="w", symbol=token, side=Side.BUY, qty=10, stop_price=0.0,
                                       target_price=1.0))
        p.on_bar(token, Bar(T + timedelta(minutes=1), 0.42, 0.42, 0.42, 0.42, 1e6))
        assert p.positions()[0].qty == 10 and p.account().equity == pytest.approx(100_000)
        assert p.settle(token, payout, T + timedelta(minutes=15)) == 10
        acct = p.account()
        assert p.positions() == [] and p.open_orders() == []
        assert acct.cash == pytest.approx(cash) and acct.equity == pytest.approx(cash)
        assert p.settle(token, payout, T + timedelta(minutes=15)) == 0   # idempotent


def test_a_failing_save_is_counted_and_raised_after_the_bars_fills_went_out(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import errno

    from trading.brokers.paper_account import PaperAccountStore

    store = PaperAccountStore(tmp_path / "paper")
    p = PaperBroker(commission_per_contract=0, store=store)
    p.on_bar("ES", b(0, 5000, 5001, 4999, 5000))
    seen = []
    p.on_fill(seen.append)
    bracket(p)
    real = store._write

    def full(path, text):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "_write", full)
    with pytest.raises(OSError, match="No space"):
        p.on_bar("ES", b(1, 5000, 5005, 4995, 5004))
    assert len(seen) == 1 and p.positions()[0].qty == 1 and p.persist_failures == 1   # the fill went out
    monkeypatch.setattr(store, "_write", real)
    p.on_bar("ES", b(2, 5004, 5006, 5003, 5005))                     # the disk is back: saved again
    again = PaperBroker(store=PaperAccountStore(tmp_path / "paper"))
    assert again.positions() == p.positions()
