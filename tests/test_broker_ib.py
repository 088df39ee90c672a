"""IBBroker against the real ib_async IB/Wrapper, with only the Gateway socket simulated (tests/fakes)."""
from __future__ import annotations

import importlib.util
import logging
import sys
import time
import types
from datetime import UTC, date, datetime, timedelta

import pytest

ib_async = pytest.importorskip("ib_async")

from tests.fakes.ib_gateway import ACCOUNT, FakeGateway, FakeIB  # noqa: E402
from trading.brokers import ib_api as ib_module  # noqa: E402
from trading.brokers.base import (  # noqa: E402
    BracketRequest,
    Broker,
    BrokerUnavailable,
    ReduceOnlyViolation,
    SupportsReconnectEvents,
)
from trading.brokers.ib import OCA_REDUCE_WITH_BLOCK, IBBroker  # noqa: E402
from trading.domain.models import OrderStatus, OrderType, Side  # noqa: E402
from trading.domain.pnl import round_trips  # noqa: E402
from trading.settings import BrokerConfig  # noqa: E402

TODAY = date(2025, 12, 12)


@pytest.fixture
def gw() -> FakeGateway:
    g = FakeGateway()
    g.market_price["ESZ5"] = 6890.50
    return g


def make_broker(gw: FakeGateway, **kw: object) -> IBBroker:
    cfg = BrokerConfig(kind="ib", position_timeout_s=kw.pop("timeout", 0.3))  # type: ignore[arg-type]
    return IBBroker(cfg, ib=FakeIB(gw), today=TODAY, **kw)  # type: ignore[arg-type]


@pytest.fixture
def broker(gw: FakeGateway):
    b = make_broker(gw, commission_grace_s=60.0)
    b.connect()
    yield b
    b.disconnect()


def bracket(cycle: str = "cyc-1", side: Side = Side.BUY, entry: str = "MKT", **kw: float) -> BracketRequest:
    stop, target = (6880.1, 6910.9) if side is Side.BUY else (6910.9, 6880.1)
    return BracketRequest(trade_cycle_id=cycle, symbol="ESZ5", side=side, qty=kw.get("qty", 1), entry_type=entry,
                          limit_price=kw.get("limit"), stop_price=kw.get("stop", stop),
                          target_price=kw.get("target", target))


def test_satisfies_the_broker_protocol(broker: IBBroker) -> None:
    assert isinstance(broker, Broker)
    assert broker.account_id == ACCOUNT


def test_qualifies_local_symbol_to_cme_future(broker: IBBroker, gw: FakeGateway) -> None:
    c = broker.qualify("ESZ5")
    assert (c.symbol, c.secType, c.exchange, c.conId, c.localSymbol) == ("ES", "FUT", "CME", 495512563, "ESZ5")
    assert c.lastTradeDateOrContractMonth.startswith("202512")
    with pytest.raises(ValueError, match="does not know contract ESZ9"):
        broker.qualify("ESZ9")           # parses, but the Gateway has no such contract
    with pytest.raises(ValueError, match="not a known futures symbol"):
        broker.qualify("XYZ5")


def test_positions_convert_ib_avg_cost_to_per_point(broker: IBBroker, gw: FakeGateway) -> None:
    gw.set_position("ESZ5", -2, 6890.50)           # IB reports avgCost 344525.0
    gw.set_position("MESZ5", 3, 6000.25)           # multiplier 5: avgCost 30001.25
    assert gw.positions[495512563][2] == 344525.0
    pos = {p.symbol: p for p in broker.positions()}
    assert pos["ESZ5"].qty == -2 and pos["ESZ5"].avg_price == pytest.approx(6890.50)
    assert pos["MESZ5"].qty == 3 and pos["MESZ5"].avg_price == pytest.approx(6000.25)
    assert broker.position("ESZ5") == -2 and broker.position("ESH6") == 0.0


def test_position_read_timeout_raises_never_returns_flat(broker: IBBroker, gw: FakeGateway) -> None:
    gw.set_position("ESZ5", 1, 6890.5)
    gw.silent.add("positions")                     # the Gateway never answers
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="position read"):
        broker.positions()
    assert time.monotonic() - t0 < 2.0             # bounded by position_timeout_s (0.3 s)
    assert broker.errors["position read"] == 1
    gw.silent.clear()
    assert broker.position("ESZ5") == 1            # the link itself is fine afterwards


def test_socket_loss_during_read_raises_and_fires_disconnect(broker: IBBroker, gw: FakeGateway) -> None:
    seen: list[str] = []
    broker.on_disconnect(lambda: seen.append("down"))
    gw.set_position("ESZ5", 1, 6890.5)
    gw.silent.add("positions")
    gw.drop_connection()                           # arrives while the request is pending
    with pytest.raises(BrokerUnavailable, match="Socket disconnect"):
        broker.positions()
    assert seen == ["down"] and not broker.is_connected()
    for read in (broker.positions, broker.open_orders, broker.account, broker.executions):
        with pytest.raises(BrokerUnavailable, match="not connected"):
            read()
    gw.silent.clear()
    broker.connect()                               # reconnect on the same adapter
    assert broker.position("ESZ5") == 1


def test_process_events_reconnects_and_reports_it(gw: FakeGateway) -> None:
    b = make_broker(gw, reconnect_interval_s=0.0)
    b.connect()
    back: list[str] = []
    assert isinstance(b, SupportsReconnectEvents)
    b.on_reconnect(lambda: back.append("up"))
    gw.refuse_connect = True
    gw.drop_connection()
    b.process_events()                             # the drop arrives
    assert not b.is_connected() and b.errors["disconnect"] == 1
    b.process_events()                             # a reconnect attempt, refused
    assert not b.is_connected() and back == [] and b.errors["connect"] == 1
    gw.refuse_connect = False
    b.process_events()
    assert b.is_connected() and back == ["up"]
    b.disconnect()
    b.process_events()
    assert not b.is_connected() and b.errors["disconnect"] == 1   # an asked-for disconnect stays down


def test_refused_connection_is_unavailable(gw: FakeGateway) -> None:
    gw.refuse_connect = True
    b = make_broker(gw)
    with pytest.raises(BrokerUnavailable, match="unavailable: ConnectionRefusedError"):
        b.connect()
    assert b.errors["connect"] == 1


def test_market_bracket_wiring_matches_ib_conventions(broker: IBBroker, gw: FakeGateway) -> None:
    out = broker.place_bracket(bracket())
    sent = [o for _, _, o in gw.received]
    parent, take, stop = sent
    assert (parent.orderType, parent.action, parent.transmit, parent.parentId) == ("MKT", "BUY", False, 0)
    assert (take.orderType, take.action, take.transmit, take.parentId) == ("LMT", "SELL", False, parent.orderId)
    assert (stop.orderType, stop.action, stop.transmit, stop.parentId) == ("STP", "SELL", True, parent.orderId)
    # prices on the ES tick (0.25), rounded toward the entry so the risk never grows
    assert stop.auxPrice == 6880.25 and take.lmtPrice == 6910.75
    assert take.ocaGroup == stop.ocaGroup == "warden-cyc-1" and take.ocaType == stop.ocaType == OCA_REDUCE_WITH_BLOCK
    assert take.tif == stop.tif == "GTC" and take.outsideRth and stop.outsideRth
    assert {o.orderRef for o in sent} == {"cyc-1"}
    assert out.parent.order_id == str(parent.orderId) and out.stop.parent_id == out.target.parent_id == str(parent.orderId)
    assert out.stop.order_type is OrderType.STP and out.stop.stop_price == 6880.25
    assert out.parent.status is OrderStatus.PENDING and out.parent.trade_cycle_id == "cyc-1"


def test_limit_bracket_uses_ib_bracket_order(broker: IBBroker, gw: FakeGateway) -> None:
    gw.auto_fill_market = False
    broker.place_bracket(bracket(entry="LMT", side=Side.SELL, limit=6894.9))   # rounded up: never sell lower
    parent, take, stop = (o for _, _, o in gw.received)
    # ib_async's own IB.bracketOrder for the same request, for comparison
    ref = broker.ib.bracketOrder("SELL", 1, 6895.0, 6880.25, 6910.75)
    for ours, theirs in zip((parent, take, stop), ref, strict=True):
        assert (ours.orderType, ours.action, ours.transmit) == (theirs.orderType, theirs.action, theirs.transmit)
        assert ours.lmtPrice == theirs.lmtPrice and ours.auxPrice == theirs.auxPrice
    assert take.parentId == stop.parentId == parent.orderId


def test_bracket_rejects_inverted_levels_and_sends_nothing(broker: IBBroker, gw: FakeGateway) -> None:
    with pytest.raises(ValueError, match="wrong side"):
        broker.place_bracket(bracket(stop=6920.0, target=6900.0))
    with pytest.raises(ValueError, match="needs limit_price"):
        broker.place_bracket(bracket(entry="LMT"))
    assert gw.received == []


def test_fill_status_and_oca_flow(broker: IBBroker, gw: FakeGateway) -> None:
    fills, statuses = [], []
    broker.on_fill(fills.append)
    broker.on_order_status(statuses.append)
    out = broker.place_bracket(bracket())
    broker.process_events()
    assert [f.order_id for f in fills] == [out.parent.order_id]
    f = fills[0]
    assert (f.symbol, f.side, f.qty, f.price, f.commission, f.trade_cycle_id) == ("ESZ5", Side.BUY, 1, 6890.5, 2.25,
                                                                                  "cyc-1")
    assert broker.position("ESZ5") == 1
    open_ids = {o.order_id: o.status for o in broker.open_orders()}
    assert open_ids == {out.stop.order_id: OrderStatus.SUBMITTED, out.target.order_id: OrderStatus.SUBMITTED}
    gw.fill(int(out.target.order_id), price=6910.75)       # target hit: OCA cancels the stop
    broker.process_events()
    last = {o.order_id: o.status for o in statuses}
    assert last[out.target.order_id] is OrderStatus.FILLED
    assert last[out.stop.order_id] is OrderStatus.CANCELLED
    assert broker.position("ESZ5") == 0 and broker.open_orders() == []
    trip = broker.round_trips()[0]
    assert trip.gross_pnl == pytest.approx((6910.75 - 6890.5) * 50) and trip.fees == pytest.approx(4.5)


def test_partial_fills_report_partial_then_filled(broker: IBBroker, gw: FakeGateway) -> None:
    gw.auto_fill_market = False
    gw.set_position("ESZ5", 2, 6900.0)
    fills, statuses = [], []
    broker.on_fill(fills.append)
    broker.on_order_status(statuses.append)
    exit_order = broker.place_reduce_only("cyc-x", "ESZ5", Side.SELL, 2, "LMT", 6905.0)
    broker.process_events()
    gw.fill(int(exit_order.order_id), qty=1, price=6905.0)
    broker.process_events()
    assert statuses[-1].status is OrderStatus.PARTIAL and statuses[-1].filled_qty == 1
    gw.fill(int(exit_order.order_id), qty=1, price=6905.25)
    broker.process_events()
    assert statuses[-1].status is OrderStatus.FILLED and statuses[-1].avg_fill_price == pytest.approx(6905.125)
    assert [f.qty for f in fills] == [1, 1] and len({f.exec_id for f in fills}) == 2
    assert all(f.trade_cycle_id == "cyc-x" for f in fills)


def test_fill_waits_for_its_commission_report(gw: FakeGateway) -> None:
    b = make_broker(gw, commission_grace_s=60.0)
    b.connect()
    fills = []
    b.on_fill(fills.append)
    gw.hold_commissions = True
    b.place_bracket(bracket())
    b.process_events()
    assert fills == []                             # execution seen, commission still pending
    gw.release_commissions()
    b.process_events()
    assert len(fills) == 1 and fills[0].commission == 2.25
    b.executions()                                 # IB replays executions and commission reports
    b.process_events()
    assert len(fills) == 1 and b.errors["late commission report"] == 0


def test_missing_commission_report_emits_fill_after_grace_and_counts(gw: FakeGateway,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    b = make_broker(gw, commission_grace_s=0.0)
    b.connect()
    fills = []
    b.on_fill(fills.append)
    gw.hold_commissions = True
    with caplog.at_level(logging.WARNING, logger="trading.brokers.ib_connection"):
        b.place_bracket(bracket())
        b.process_events()
        assert len(fills) == 1 and fills[0].commission == 0.0
        assert b.errors["missing commission report"] == 1
        exec_id = fills[0].exec_id
        assert exec_id in caplog.text
        gw.release_commissions()                   # the report finally arrives
        b.process_events()
    assert len(fills) == 1 and b.errors["late commission report"] == 1
    assert {f.exec_id: f.commission for f in b.executions()}[exec_id] == 2.25


def test_stale_ib_realized_pnl_is_flagged_pnl_comes_from_fills(broker: IBBroker, gw: FakeGateway) -> None:
    """Seed 000: BUY 1 @ 6890.50, SELL 1 @ 6856.50 = -1700 USD; IB's stale avg cost said -592."""
    gw.market_price["ESZ5"] = 6890.50
    broker.place_bracket(bracket(cycle="seed-000", stop=6850.0, target=6950.0))
    broker.process_events()
    # IB's realizedPNL rests on a stale average cost
    gw.stale_avg_cost[495512563] = 6856.50 * 50 + 592 - 2.25
    stop_id = max(gw.orders)
    gw.fill(stop_id, price=6856.50)
    broker.process_events()
    fills = broker.executions()
    assert fills[-1].broker_realized_pnl == pytest.approx(-592.0)
    trip = round_trips(fills)[0]
    assert trip.gross_pnl == pytest.approx(-1700.0) and trip.multiplier == 50
    assert trip.net_pnl == pytest.approx(-1704.5) and trip.pnl_mismatch


def test_rejection_maps_to_rejected_with_reason(broker: IBBroker, gw: FakeGateway) -> None:
    statuses = []
    broker.on_order_status(statuses.append)
    gw.reject_next = (201, "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. MARGIN")
    broker.place_bracket(bracket())
    broker.process_events()
    final = {o.order_id: o for o in statuses}
    assert len(final) == 3 and all(o.status is OrderStatus.REJECTED for o in final.values())
    assert "MARGIN" in next(iter(final.values())).reason
    assert broker.errors["order rejected"] == 3 and broker.position("ESZ5") == 0


def test_cancel_is_cancelled_not_rejected(broker: IBBroker, gw: FakeGateway) -> None:
    gw.set_position("ESZ5", 1, 6890.5)
    statuses = []
    broker.on_order_status(statuses.append)
    o = broker.place_reduce_only("cyc-c", "ESZ5", Side.SELL, 1, "LMT", 6999.0)
    broker.process_events()
    broker.cancel(o.order_id)
    broker.process_events()
    assert statuses[-1].order_id == o.order_id and statuses[-1].status is OrderStatus.CANCELLED
    assert gw.cancel_requests == [int(o.order_id)]
    with pytest.raises(ValueError, match="unknown IB order id"):
        broker.cancel("99999")


def test_broker_side_cancel_reaches_callback(broker: IBBroker, gw: FakeGateway) -> None:
    gw.set_position("ESZ5", 1, 6890.5)
    statuses = []
    broker.on_order_status(statuses.append)
    o = broker.place_reduce_only("cyc-d", "ESZ5", Side.SELL, 1, "LMT", 6999.0)
    broker.process_events()
    gw.broker_cancel(int(o.order_id))
    broker.process_events()
    assert statuses[-1].status is OrderStatus.CANCELLED


def test_reduce_only_refuses_to_open_grow_or_flip(broker: IBBroker, gw: FakeGateway) -> None:
    """Seed 000: the bot still believed it was short, the live position was flat: no BUY goes out."""
    with pytest.raises(ReduceOnlyViolation, match="flat"):
        broker.place_reduce_only("seed", "ESZ5", Side.BUY, 1)
    gw.set_position("ESZ5", -1, 6900.0)
    with pytest.raises(ReduceOnlyViolation, match="grow"):
        broker.place_reduce_only("seed", "ESZ5", Side.SELL, 1)
    with pytest.raises(ReduceOnlyViolation, match="flip"):
        broker.place_reduce_only("seed", "ESZ5", Side.BUY, 2)
    assert gw.received == []
    out = broker.place_reduce_only("seed", "ESZ5", Side.BUY, 1)
    broker.process_events()
    assert out.reduce_only and out.side is Side.BUY and gw.received[-1][2].orderType == "MKT"
    assert broker.position("ESZ5") == 0


def test_reduce_only_fails_closed_when_position_unreadable(broker: IBBroker, gw: FakeGateway) -> None:
    gw.set_position("ESZ5", -1, 6900.0)
    gw.silent.add("positions")
    with pytest.raises(BrokerUnavailable):
        broker.place_reduce_only("c", "ESZ5", Side.BUY, 1)
    assert gw.received == []


def test_account_snapshot_and_missing_values(broker: IBBroker, gw: FakeGateway) -> None:
    snap = broker.account()
    assert (snap.cash, snap.equity) == (95000.0, 100000.0)   # USD wins over BASE
    broker.ib.wrapper.accountValues.clear()
    with pytest.raises(BrokerUnavailable, match="NetLiquidation"):
        broker.account()


def test_executions_of_an_earlier_session_keep_cycle_and_commission(gw: FakeGateway) -> None:
    first = make_broker(gw)
    first.connect()
    first.place_bracket(bracket(cycle="cyc-old"))
    first.process_events()
    first.disconnect()
    second = make_broker(gw)                      # a restart: new IB object, same Gateway
    second.connect()
    fills = second.executions()
    assert [(f.trade_cycle_id, f.commission, f.qty) for f in fills] == [("cyc-old", 2.25, 1.0)]
    assert second.executions(since=datetime.now(UTC) + timedelta(seconds=5)) == []


def test_callback_errors_are_logged_counted_and_isolated(broker: IBBroker, caplog: pytest.LogCaptureFixture) -> None:
    good = []

    def bad(_: object) -> None:
        raise RuntimeError("consumer bug")

    broker.on_fill(bad)
    broker.on_fill(good.append)
    with caplog.at_level(logging.ERROR, logger="trading.brokers.ib_connection"):
        broker.place_bracket(bracket())
        broker.process_events()
    assert len(good) == 1 and broker.errors["fill callback"] == 1
    assert good[0].exec_id in caplog.text


def test_falls_back_to_ib_insync_when_ib_async_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in = types.ModuleType("ib_insync")
    stand_in.__dict__.update({k: v for k, v in vars(ib_async).items() if not k.startswith("__")})
    monkeypatch.setitem(sys.modules, "ib_async", None)          # import ib_async -> ImportError
    monkeypatch.setitem(sys.modules, "ib_insync", stand_in)
    spec = importlib.util.spec_from_file_location("ib_adapter_fallback", ib_module.__file__)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.ibapi is stand_in
    monkeypatch.setitem(sys.modules, "ib_insync", None)
    mod2 = importlib.util.module_from_spec(spec)
    with pytest.raises(ImportError, match=r"warden\[ib\]"):
        spec.loader.exec_module(mod2)


# -- issue 11 hole 7: an exit and a bracket child must never both fill ---------------------------------------

def _open_bracket(broker: IBBroker, gw: FakeGateway, qty: float = 1):  # noqa: ANN202
    out = broker.place_bracket(bracket(qty=qty))
    broker.process_events()
    assert broker.position("ESZ5") == qty
    return out


def test_without_preparation_an_exit_and_the_stop_can_both_fill(broker: IBBroker, gw: FakeGateway) -> None:
    """The hole, shown on the fake venue: the children are plain GTC orders, so after a market exit fills
    the stop still works and its fill flips the book short."""
    out = _open_bracket(broker, gw)
    broker.place_reduce_only("cyc-1", "ESZ5", Side.SELL, 1)
    broker.process_events()
    assert broker.position("ESZ5") == 0
    gw.fill(int(out.stop.order_id), price=6880.0)       # still working at IB: it fills too
    broker.process_events()
    assert broker.position("ESZ5") == -1


def test_prepare_exit_cancels_the_children_and_waits_for_the_acknowledgement(broker: IBBroker,
                                                                            gw: FakeGateway) -> None:
    out = _open_bracket(broker, gw)
    statuses = []
    broker.on_order_status(statuses.append)
    prep = broker.prepare_exit("cyc-1", "ESZ5", timeout_s=2.0)
    assert sorted(gw.cancel_requests) == sorted([int(out.stop.order_id), int(out.target.order_id)])
    assert sorted(prep.cancelled) == sorted([out.stop.order_id, out.target.order_id]) and prep.position == 1
    last = {o.order_id: o.status for o in statuses}      # acknowledged before prepare_exit returned
    assert last[out.stop.order_id] is OrderStatus.CANCELLED and last[out.target.order_id] is OrderStatus.CANCELLED
    assert broker.open_orders() == []
    broker.place_reduce_only("cyc-1", "ESZ5", Side.SELL, prep.position)
    broker.process_events()
    assert broker.position("ESZ5") == 0
    assert gw.orders[int(out.stop.order_id)].done        # nothing left at IB that could fill and flip the book
    assert broker.prepare_exit("cyc-1", "ESZ5").cancelled == []     # idempotent: nothing working any more


def test_a_child_filling_while_its_cancel_travels_is_accounted_and_sizes_the_exit(gw: FakeGateway) -> None:
    b = make_broker(gw, commission_grace_s=0.0)
    b.connect()
    fills = []
    b.on_fill(fills.append)
    out = _open_bracket(b, gw, qty=2)
    gw.fill_on_cancel[int(out.target.order_id)] = 1       # 1 of 2 fills at the target before the cancel lands
    prep = b.prepare_exit("cyc-1", "ESZ5", timeout_s=2.0)
    b.process_events()
    assert [f.order_id for f in fills if f.order_id == out.target.order_id] == [out.target.order_id]
    assert prep.position == 1                              # the exit is resized from the live book
    assert all(w.done for oid, w in gw.orders.items() if oid != int(out.parent.order_id))
    with pytest.raises(ReduceOnlyViolation):
        b.place_reduce_only("cyc-1", "ESZ5", Side.SELL, 2)  # the old size would flip: refused
    gw.fill_on_cancel.clear()
    b.disconnect()


def test_a_child_filled_in_full_meanwhile_leaves_nothing_to_exit(broker: IBBroker, gw: FakeGateway) -> None:
    out = _open_bracket(broker, gw)
    gw.fill_on_cancel[int(out.stop.order_id)] = None
    prep = broker.prepare_exit("cyc-1", "ESZ5", timeout_s=2.0)
    assert prep.position == 0 and broker.position("ESZ5") == 0
    assert out.stop.order_id not in prep.cancelled


def test_unacknowledged_cancels_raise_and_no_exit_is_sent(broker: IBBroker, gw: FakeGateway) -> None:
    _open_bracket(broker, gw)
    gw.ignore_cancels = True
    sent = len(gw.received)
    t0 = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="did not acknowledge"):
        broker.prepare_exit("cyc-1", "ESZ5", timeout_s=0.3)
    assert time.monotonic() - t0 < 2.0
    assert broker.errors["exit preparation"] == 1 and len(gw.received) == sent


def test_the_executor_cancels_the_children_before_its_exit(tmp_path, gw: FakeGateway) -> None:  # noqa: ANN001
    """Through the guarded executor: the exit of a bracketed IB trade first cancels the stop and target
    (acknowledged), then sends the exit; nothing is left at IB that could fill and flip the book."""
    from trading.domain.models import IntentKind, OrderIntent
    from trading.execution.wiring import open_session
    from trading.settings import Settings

    b = make_broker(gw, commission_grace_s=0.0)
    b.connect()
    session, _ = open_session(Settings(data_dir=tmp_path), b, symbol="ESZ5", replay=False)
    out = b.place_bracket(bracket())
    b.process_events()
    ex = session.executor
    children = {int(out.stop.order_id), int(out.target.order_id)}
    at_send: list[bool] = []
    real_place = gw.on_place

    def place(order_id, contract, order, client_id):  # noqa: ANN001, ANN202
        at_send.append(all(gw.orders[c].done for c in children))   # were the children gone when the exit came?
        return real_place(order_id, contract, order, client_id)

    gw.on_place = place  # type: ignore[method-assign]
    res = ex.submit(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=1, symbol="ESZ5", reduce_only=True,
                                trade_cycle_id="cyc-1"), None, None)
    b.process_events()
    assert res.sent, res
    assert children <= set(gw.cancel_requests) and at_send == [True]
    assert b.position("ESZ5") == 0 and all(gw.orders[c].done for c in children)
    b.disconnect()
