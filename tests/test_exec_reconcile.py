"""Reconciliation: a process killed between "order sent" and "fill recorded" is reconciled on restart;
what still differs after recovering missed fills halts new entries and says what differs."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_exec_guarded import T0, Clock, agree, bar, entry, events_of, make_stack
from trading.brokers.paper import PaperBroker
from trading.domain.models import Side
from trading.domain.reason_codes import ReasonCode


class Killed(BaseException):
    """Stands for SIGKILL: nothing after this point runs in the dying process."""


def test_killed_between_order_sent_and_fill_recorded_is_reconciled_on_restart(tmp_path: Path) -> None:
    broker = PaperBroker()                       # the broker (the exchange) outlives our process
    clock = Clock()
    a = make_stack(tmp_path, broker=broker, clock=clock)
    broker.on_bar("ES", bar(T0, 5000, 5001, 4999, 5000))
    res = a.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, clock))
    assert res.sent
    # the process dies: its callbacks are gone, its memory is gone; only files and the broker remain
    broker.clear_callbacks()
    del a
    broker.on_bar("ES", bar(T0 + timedelta(minutes=1), 5000, 5002, 4999, 5001))      # entry fills
    broker.on_bar("ES", bar(T0 + timedelta(minutes=2), 5001, 5021, 5000, 5019))      # target fills
    assert broker.positions() == [] and len(broker.executions()) == 2

    clock.t = T0 + timedelta(minutes=3)
    b = make_stack(tmp_path, broker=broker, clock=clock)        # restart: same files, same broker
    rep = b.executor.reconcile("start")
    assert rep.ok, rep.describe()
    assert len(rep.recovered_fills) == 2
    assert b.ledger.state().active_halts == []
    # the recovered fills belong to the trade that sent them, and the trade was closed from them
    fills = b.journal.fills(res.trade_cycle_id)
    assert [f.exec_id for f in fills] == [f.exec_id for f in broker.executions()]
    out = b.journal.outcome(res.trade_cycle_id)
    assert out is not None and out.source == "fills" and out.exit_reason == "target"
    assert out.pnl == pytest.approx((5020 - 5000) * 50 - 4.5)
    assert b.ledger.open_trades == {}
    recovered = [e for e in events_of(b) if e["event"] == "fill" and e["payload"]["source"] == "reconcile"]
    assert {e["trade_cycle_id"] for e in recovered} == {res.trade_cycle_id}
    assert list((tmp_path / "training" / "trade_outcomes").rglob(f"{res.trade_cycle_id}.json"))
    # a second restart changes nothing (idempotent on exec_id)
    c = make_stack(tmp_path, broker=broker, clock=clock)
    rep2 = c.executor.reconcile("start")
    assert rep2.ok and rep2.recovered_fills == []
    assert len(c.journal.outcomes()) == 1


class DiesAfterSend(PaperBroker):
    """The order reaches the broker, then the process is killed before it could journal the order ids."""

    die = True

    def place_bracket(self, req):  # noqa: ANN001, ANN201
        orders = super().place_bracket(req)
        if self.die:
            raise Killed()
        return orders


def test_orders_sent_but_never_journaled_are_adopted_on_restart(tmp_path: Path) -> None:
    broker = DiesAfterSend()
    clock = Clock()
    a = make_stack(tmp_path, broker=broker, clock=clock)
    broker.on_bar("ES", bar(T0, 5000, 5001, 4999, 5000))
    with pytest.raises(Killed):
        a.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, clock))
    cycle = a.journal.trades()[0].trade_cycle_id
    assert a.journal.orders(cycle) == []          # killed before the order ids were written
    broker.clear_callbacks()
    broker.die = False
    broker.on_bar("ES", bar(T0 + timedelta(minutes=1), 5000, 5002, 4999, 5001))      # entry fills meanwhile

    b = make_stack(tmp_path, broker=broker, clock=clock)
    rep = b.executor.reconcile("start")
    assert rep.ok, rep.describe()
    assert len(rep.adopted_orders) == 2            # the live stop and target, tied to the trade by its id
    assert rep.recovered_fills and b.journal.positions(b.executor.account) == {"ES": 1.0}
    assert b.ledger.state().active_halts == [] and b.executor.stats["unknown_fills"] == 0
    entry_rec = [r for r in b.journal.orders(cycle) if r.role == "entry"]
    assert len(entry_rec) == 1 and "adopted" in entry_rec[0].order.reason
    roles = {r.role for r in b.journal.orders(cycle)}
    assert {"stop", "target"} <= roles
    # the adopted bracket still protects the position and closes the trade when it fills
    broker.on_bar("ES", bar(T0 + timedelta(minutes=2), 5000, 5001, 4985, 4989))
    assert broker.positions() == []
    assert b.journal.outcome(cycle).exit_reason == "stop"


def test_fill_for_an_order_warden_never_placed_halts_entries(tmp_path: Path) -> None:
    from trading.brokers.base import BracketRequest

    broker = PaperBroker()
    s = make_stack(tmp_path, broker=broker)
    broker.on_bar("ES", bar(T0, 5000, 5001, 4999, 5000))
    # someone trades the same account by hand
    broker.place_bracket(BracketRequest(trade_cycle_id="manual", symbol="ES", side=Side.BUY, qty=2,
                                        stop_price=4900, target_price=5100))
    broker.on_bar("ES", bar(T0 + timedelta(minutes=1), 5000, 5001, 4999, 5000))
    state = s.ledger.state()
    assert ReasonCode.RECONCILE_MISMATCH in state.active_halts
    assert s.executor.stats["unknown_fills"] == 1
    halt = [e for e in events_of(s) if e["event"] == "halt"][-1]
    assert "not placed through Warden" in halt["payload"]["detail"]
    assert s.journal.positions(s.executor.account) == {"ES": 2.0}      # the fill is kept, not dropped
    rep = s.executor.reconcile("timer")
    assert rep.mismatch and rep.unknown_broker_orders                    # the manual bracket's children
    res = s.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, s.clock))
    assert not res.sent and ReasonCode.RECONCILE_MISMATCH in res.reason_codes


class ShortMemory(PaperBroker):
    """A broker that reports positions but no executions older than its window (like IB's same-day list)."""

    def executions(self, since=None):  # noqa: ANN001, ANN201
        return []


def test_position_unknown_to_the_journal_halts_entries_with_what_differs(tmp_path: Path) -> None:
    from trading.brokers.base import BracketRequest

    broker = ShortMemory()
    broker.on_bar("ES", bar(T0, 5000, 5001, 4999, 5000))
    req = BracketRequest(trade_cycle_id="before", symbol="ES", side=Side.BUY, qty=2, stop_price=4900,
                         target_price=5100)
    bracket = broker.place_bracket(req)
    broker.on_bar("ES", bar(T0 + timedelta(minutes=1), 5000, 5001, 4999, 5000))
    for child in (bracket.stop, bracket.target):
        broker.cancel(child.order_id)
    s = make_stack(tmp_path, broker=broker)                 # Warden starts on an account already long 2
    rep = s.executor.reconcile("start")
    assert rep.mismatch and not rep.ok
    assert "positions differ: ES: broker 2 vs journal 0" in rep.describe()
    assert ReasonCode.RECONCILE_MISMATCH in s.ledger.state().active_halts
    halt = [e for e in events_of(s) if e["event"] == "halt"][-1]
    assert "ES: broker 2 vs journal 0" in halt["payload"]["detail"]
    res = s.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, s.clock))
    assert not res.sent and ReasonCode.RECONCILE_MISMATCH in res.reason_codes
    # only an operator clears it
    s.ledger.clear_halt("ops", "position adopted by hand", ReasonCode.RECONCILE_MISMATCH)
    assert ReasonCode.RECONCILE_MISMATCH not in s.ledger.state().active_halts


def test_reconnect_triggers_a_reconcile(tmp_path: Path) -> None:
    s = make_stack(tmp_path)
    s.broker.on_bar("ES", bar(T0, 5000, 5001, 4999, 5000))
    s.broker.disconnect()
    rep = s.executor.reconcile("timer")
    assert rep.error and "disconnected" in rep.error and not rep.mismatch
    s.broker.connect()
    assert s.executor.last_reconcile.trigger == "reconnect" and s.executor.last_reconcile.ok
    kinds = [(e["event"], e["payload"].get("trigger")) for e in events_of(s)]
    assert ("reconcile", "reconnect") in kinds


def test_timer_reconcile_runs_from_service(tmp_path: Path) -> None:
    s = make_stack(tmp_path)
    s.executor.service(T0)
    first = s.executor.stats["reconciles"]
    s.executor.service(T0 + timedelta(seconds=30))
    assert s.executor.stats["reconciles"] == first
    s.executor.service(T0 + timedelta(seconds=61))
    assert s.executor.stats["reconciles"] == first + 1
    assert json.dumps(s.executor.last_reconcile.model_dump(mode="json"))
