"""The guarded executor against the real paper broker: verdict before send, brackets, reduce-only exits,
unreadable positions, the seed-000 sequence, trade closing and journal failures."""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trading.brokers.base import BrokerUnavailable
from trading.brokers.paper import PaperBroker
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, OrderStatus, OrderType, Side
from trading.domain.reason_codes import ReasonCode
from trading.execution.executor import GuardedExecutor
from trading.execution.outcome_resolver import OutcomeResolver
from trading.market.candles import Bar
from trading.records.journal import Journal
from trading.records.learning_hooks import LearningHooks
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventLog
from trading.settings import GuardConfig

T0 = datetime(2025, 12, 12, 14, 0, tzinfo=UTC)


class Clock:
    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> datetime:
        self.t += timedelta(**kw)
        return self.t


@dataclass
class Stack:
    broker: PaperBroker
    ledger: RiskLedger
    events: EventLog
    journal: Journal | None
    resolver: OutcomeResolver
    hooks: LearningHooks
    executor: GuardedExecutor
    clock: Clock
    root: Path


def make_stack(root: Path, broker: PaperBroker | None = None, cfg: GuardConfig | None = None,
               clock: Clock | None = None, read_timeout_s: float | None = 2.0, journal: bool = True) -> Stack:
    cfg = cfg or GuardConfig()
    clock = clock or Clock()
    broker = broker or PaperBroker(starting_cash=100_000, commission_per_contract=2.25)
    ledger = RiskLedger(root / "risk" / "ledger.jsonl", cfg)
    events = EventLog(root / "telemetry" / "events.jsonl")
    j = Journal(root / "journal" / "journal.db", synchronous="NORMAL") if journal else None
    hooks = LearningHooks(root, cfg)
    resolver = OutcomeResolver(j, ledger, events, hooks=hooks, clock=clock)
    ex = GuardedExecutor(broker, ledger, events, j, cfg, resolver=resolver, read_timeout_s=read_timeout_s,
                         clock=clock)
    return Stack(broker, ledger, events, j, resolver, hooks, ex, clock, root)


def bar(ts: datetime, o: float, h: float, lo: float, c: float, v: float = 1000.0) -> Bar:
    return Bar(ts, o, h, lo, c, v)


def agree(side: Side, clock: Clock, conf: float = 0.7) -> Advisory:
    return Advisory(action=AdvisoryAction(side.value), confidence=conf, source="test", ts=clock())


def entry(side: Side, px: float, stop: float, target: float, symbol: str = "ES", qty: float = 1.0,
          conf: float = 0.7) -> OrderIntent:
    return OrderIntent(kind=IntentKind.ENTRY, side=side, qty=qty, symbol=symbol, price=px, stop=stop, target=target,
                       signal_confidence=conf)


def feed(s: Stack, symbol: str, *bars: Bar) -> None:
    for b in bars:
        s.broker.on_bar(symbol, b, b.ts + timedelta(minutes=1))
        s.clock.t = b.ts + timedelta(minutes=1)
        s.executor.service(s.clock())


def events_of(s: Stack) -> list[dict]:
    return [json.loads(line) for line in s.events.path.read_text().splitlines()]


# -- verdict before send ---------------------------------------------------------------------------

class SpyBroker(PaperBroker):
    """Records what the event log held at the moment each order reached the broker."""

    def __init__(self, log_path: Path, **kw) -> None:
        super().__init__(**kw)
        self.log_path = log_path
        self.seen_at_send: list[list[str]] = []

    def _events(self) -> list[str]:
        if not self.log_path.exists():
            return []
        return [json.loads(x)["event"] for x in self.log_path.read_text().splitlines()]

    def place_bracket(self, req):  # noqa: ANN001, ANN201
        self.seen_at_send.append(self._events())
        return super().place_bracket(req)

    def place_reduce_only(self, *a, **kw):  # noqa: ANN002, ANN003, ANN201
        self.seen_at_send.append(self._events())
        return super().place_reduce_only(*a, **kw)


def test_verdict_is_logged_before_the_order_reaches_the_broker(tmp_path: Path) -> None:
    spy = SpyBroker(tmp_path / "telemetry" / "events.jsonl")
    s = make_stack(tmp_path, broker=spy)
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000))
    res = s.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, s.clock))
    assert res.sent and res.allowed
    assert spy.seen_at_send and spy.seen_at_send[0][-1] == "guard_verdict"
    # the entry went out as a bracket: parent + stop + target, children in one OCA group, same cycle id
    parent, stop, target = res.orders
    assert (stop.parent_id, target.parent_id) == (parent.order_id, parent.order_id)
    assert stop.oca_group == target.oca_group is not None
    assert stop.stop_price == 4990 and target.limit_price == 5020
    assert {o.trade_cycle_id for o in res.orders} == {res.trade_cycle_id}
    kinds = [e["event"] for e in events_of(s) if e["trade_cycle_id"] == res.trade_cycle_id]
    assert kinds.index("guard_verdict") < kinds.index("order_sent")


def test_blocked_intent_sends_nothing_and_says_why(tmp_path: Path) -> None:
    s = make_stack(tmp_path)
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000))
    wait = Advisory(action=AdvisoryAction.WAIT, confidence=0.5, ts=s.clock())
    res = s.executor.submit(entry(Side.BUY, 5000, 4990, 5020), wait)
    assert not res.sent and ReasonCode.AWS_WAIT in res.reason_codes
    assert s.broker.open_orders() == []
    assert s.executor.blocked["AWS_WAIT"] == 1
    v = [e for e in events_of(s) if e["event"] == "guard_verdict"][-1]
    assert v["payload"]["allowed"] is False and "AWS_WAIT" in v["reason_codes"]
    assert s.journal.verdicts(res.trade_cycle_id)[0]["allowed"] is False


# -- unreadable positions --------------------------------------------------------------------------

class HangingPositions(PaperBroker):
    def __init__(self, hang_s: float, **kw) -> None:
        super().__init__(**kw)
        self.hang_s = hang_s
        self.hanging = False

    def positions(self):  # noqa: ANN201
        if self.hanging:
            time.sleep(self.hang_s)
        return super().positions()


def test_position_read_timeout_blocks_entries_with_position_unknown(tmp_path: Path) -> None:
    brk = HangingPositions(hang_s=1.5)
    s = make_stack(tmp_path, broker=brk, read_timeout_s=0.2)
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000))
    brk.hanging = True
    t = time.perf_counter()
    res = s.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, s.clock))
    assert time.perf_counter() - t < 1.0                  # the executor did not wait for the hung read
    assert not res.sent
    assert ReasonCode.POSITION_UNKNOWN in res.reason_codes
    assert res.snapshot.positions is None and "timed out" in res.snapshot.position_error
    assert brk.open_orders() == []
    # an exit cannot be judged either: unknown is never flat
    ex = s.executor.submit(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=1, symbol="ES"))
    assert not ex.sent and ReasonCode.POSITION_UNKNOWN in ex.reason_codes
    brk.hanging = False
    ok = s.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, s.clock))
    assert ok.sent                                          # the stuck worker was replaced


def test_disconnected_broker_is_position_unknown(tmp_path: Path) -> None:
    s = make_stack(tmp_path)
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000))
    s.broker.disconnect()
    res = s.executor.submit(entry(Side.BUY, 5000, 4990, 5020), agree(Side.BUY, s.clock))
    assert not res.sent and ReasonCode.POSITION_UNKNOWN in res.reason_codes
    with pytest.raises(BrokerUnavailable):
        s.broker.positions()


# -- the seed-000 sequence -------------------------------------------------------------------------

def test_seed_000_sequence_cannot_open_the_naked_long(tmp_path: Path) -> None:
    """Short 1 ESZ5 with a bracket; the stop fills (live position 0) while the bot still believes it is
    short; a SCALP_BUY @0.36 with stop=target=0 and a WAIT advisory becomes a BUY "exit"."""
    s = make_stack(tmp_path)
    sym = "ESZ5"
    t = datetime(2025, 12, 12, 14, 12, tzinfo=UTC)
    feed(s, sym, bar(t, 6880.0, 6881.0, 6879.0, 6880.0))
    short = s.executor.submit(entry(Side.SELL, 6879.75, 6889.75, 6859.75, symbol=sym, conf=0.52),
                              Advisory(action=AdvisoryAction.SELL, confidence=0.64, ts=s.clock()))
    assert short.sent
    feed(s, sym, bar(t + timedelta(minutes=1), 6879.75, 6882.0, 6878.0, 6881.0))
    assert s.broker.positions()[0].qty == -1
    # 08:49: the stop child fills at 6889.75; the target is cancelled by OCA
    feed(s, sym, bar(t + timedelta(minutes=37), 6884.0, 6890.25, 6883.0, 6890.0))
    assert s.broker.positions() == []
    closed = s.journal.outcome(short.trade_cycle_id)
    assert closed is not None and closed.exit_reason == "stop" and closed.pnl == pytest.approx(-500 - 4.5)
    # 08:53: the bot's belief (short) makes the BUY signal an exit with no levels, WAIT advised
    wait = Advisory(action=AdvisoryAction.WAIT, confidence=0.5, ts=s.clock(), rationale="momentum fading")
    bogus_exit = OrderIntent(kind=IntentKind.EXIT, side=Side.BUY, qty=1, symbol=sym, price=6890.25,
                             stop=None, target=None, signal_confidence=0.36)
    res = s.executor.submit(bogus_exit, wait)
    assert not res.sent
    assert {ReasonCode.NO_EXPOSURE, ReasonCode.AWS_WAIT, ReasonCode.MISSING_PROTECTION} <= set(res.reason_codes)
    assert res.verdict.judged_as is IntentKind.ENTRY
    # even with an agreeing advisory and an override threshold it stays an exit with nothing to reduce
    buy = Advisory(action=AdvisoryAction.BUY, confidence=0.9, ts=s.clock())
    res2 = s.executor.submit(bogus_exit.model_copy(update={"stop": 6880.0, "target": 6900.0}), buy)
    assert not res2.sent and ReasonCode.NO_EXPOSURE in res2.reason_codes
    # and the same BUY sent as an entry is blocked by the WAIT and the missing protection
    as_entry = bogus_exit.model_copy(update={"kind": IntentKind.ENTRY})
    res3 = s.executor.submit(as_entry, wait)
    assert not res3.sent and {ReasonCode.AWS_WAIT, ReasonCode.MISSING_PROTECTION} <= set(res3.reason_codes)
    # the market moves on (08:53 -> 09:35); nothing was working, so no long was ever opened
    feed(s, sym, bar(t + timedelta(minutes=41), 6890.25, 6891.0, 6889.0, 6890.5),
         bar(t + timedelta(minutes=83), 6857.0, 6858.0, 6856.0, 6856.5))
    assert s.broker.positions() == [] and s.broker.open_orders() == []
    assert all(f.side is Side.SELL or f.order_id != "" for f in s.broker.executions())
    buys_after_stop = [f for f in s.broker.executions() if f.side is Side.BUY and f.ts > t + timedelta(minutes=38)]
    assert buys_after_stop == []


# -- exits ------------------------------------------------------------------------------------------

def test_exit_side_and_size_come_from_the_live_position(tmp_path: Path) -> None:
    s = make_stack(tmp_path, cfg=GuardConfig(cap_reduce_only_qty=True))
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000))
    res = s.executor.submit(entry(Side.BUY, 5000, 4992, 5040, qty=2), agree(Side.BUY, s.clock))
    assert res.sent, res.reason_codes
    feed(s, "ES", bar(T0 + timedelta(minutes=1), 5000, 5003, 4998, 5002))
    assert s.broker.positions()[0].qty == 2
    # the caller asks to SELL 5 "to exit": capped to the live 2, reduce-only, same trade id
    ex = s.executor.submit(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=5, symbol="ES"))
    assert ex.sent and ReasonCode.REDUCE_ONLY_CAPPED in ex.reason_codes
    assert ex.orders[0].qty == 2 and ex.orders[0].reduce_only
    assert ex.trade_cycle_id == res.trade_cycle_id
    feed(s, "ES", bar(T0 + timedelta(minutes=2), 5004, 5005, 5003, 5004))
    assert s.broker.positions() == []
    out = s.journal.outcome(res.trade_cycle_id)
    assert out is not None and out.exit_reason == "signal"
    assert out.pnl == pytest.approx((5004 - 5000) * 50 * 2 - 2.25 * 4)
    # the bracket children did not outlive the trade
    assert s.broker.open_orders() == []
    assert all(r.order.status is not OrderStatus.SUBMITTED for r in s.journal.orders(res.trade_cycle_id))
    # the learning artefacts exist for the closed trade
    files = list((tmp_path / "training" / "trade_outcomes").rglob(f"{res.trade_cycle_id}.json"))
    snaps = list((tmp_path / "history_snapshots").rglob(f"{res.trade_cycle_id}.json"))
    assert len(files) == 1 and len(snaps) == 1


def test_partial_exit_fill_cancels_the_remainder_and_resizes_from_the_live_book(tmp_path: Path) -> None:
    brk = PaperBroker(max_participation=0.001)      # 1 contract per 1000 volume per bar
    s = make_stack(tmp_path, broker=brk)
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000, v=10_000))
    res = s.executor.submit(entry(Side.BUY, 5000, 4995, 5040, qty=3), agree(Side.BUY, s.clock))
    assert res.sent, res.reason_codes
    feed(s, "ES", bar(T0 + timedelta(minutes=1), 5000, 5002, 4999, 5001, v=10_000))
    assert brk.positions()[0].qty == 3
    ex = s.executor.submit(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=3, symbol="ES"))
    assert ex.sent
    feed(s, "ES", bar(T0 + timedelta(minutes=2), 5001, 5002, 5000, 5001, v=1_000))   # only 1 can fill
    first = s.executor.tracker.get(ex.orders[0].order_id)
    assert first.filled_qty == 1 and first.order.status is OrderStatus.CANCELLED
    assert "remainder cancelled" in first.order.reason
    # service() sent a fresh reduce-only exit sized from the live position (2)
    exits = [t for t in s.executor.tracker.for_cycle(res.trade_cycle_id) if t.role == "exit"]
    assert len(exits) == 2 and exits[1].order.qty == 2
    feed(s, "ES", bar(T0 + timedelta(minutes=3), 5001, 5002, 5000, 5001, v=10_000))
    assert brk.positions() == []
    assert s.journal.outcome(res.trade_cycle_id) is not None


def test_unfilled_entry_cancelled_is_voided_not_counted(tmp_path: Path) -> None:
    s = make_stack(tmp_path)
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000))
    i = entry(Side.BUY, 4990, 4980, 5010).model_copy(update={"order_type": OrderType.LMT})
    res = s.executor.submit(i, agree(Side.BUY, s.clock))
    assert res.sent and res.orders[0].order_type.value == "LMT"
    assert res.trade_cycle_id in s.ledger.open_trades
    s.broker.cancel(res.orders[0].order_id)
    assert res.trade_cycle_id not in s.ledger.open_trades
    assert s.journal.trade(res.trade_cycle_id).status == "cancelled"
    assert s.ledger.state().consecutive_losses == 0
    assert s.broker.open_orders() == []


# -- journal failures halt entries, loudly -----------------------------------------------------------

def test_locked_journal_halts_new_entries_but_exits_still_go_out(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    import sqlite3

    s = make_stack(tmp_path)
    s.journal._conn.execute("PRAGMA busy_timeout=50")
    feed(s, "ES", bar(T0, 5000, 5001, 4999, 5000))
    first = s.executor.submit(entry(Side.BUY, 5000, 4980, 5040), agree(Side.BUY, s.clock))
    feed(s, "ES", bar(T0 + timedelta(minutes=1), 5000, 5002, 4999, 5001))
    other = sqlite3.connect(s.journal.path, timeout=0.05)
    other.execute("BEGIN EXCLUSIVE")                  # another process holds the write lock
    try:
        res = s.executor.submit(entry(Side.BUY, 5001, 4985, 5030), agree(Side.BUY, s.clock))
        assert not res.sent
        assert ReasonCode.JOURNAL_UNWRITABLE in res.reason_codes
        assert ReasonCode.JOURNAL_UNWRITABLE in s.ledger.state().active_halts
        assert any("JOURNAL UNWRITABLE" in r.message for r in caplog.records)
        halts = [e for e in events_of(s) if e["event"] == "halt"]
        assert halts and halts[0]["reason_codes"] == ["JOURNAL_UNWRITABLE"]
        ex = s.executor.submit(OrderIntent(kind=IntentKind.EXIT, side=Side.SELL, qty=1, symbol="ES",
                                           trade_cycle_id=first.trade_cycle_id))
        assert ex.sent                                    # reducing risk is never blocked by a halt
    finally:
        other.rollback()
        other.close()
    # the halt latches: the journal is writable again but entries stay blocked until an operator clears it
    again = s.executor.submit(entry(Side.BUY, 5001, 4985, 5030), agree(Side.BUY, s.clock))
    assert not again.sent and ReasonCode.JOURNAL_UNWRITABLE in again.reason_codes


def _make_read_only(path: Path) -> tuple[bool, callable]:
    """Make ``path`` unwritable even for root (chattr +i); otherwise chmod. Returns (ok, undo)."""
    import os

    if os.geteuid() != 0:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        return True, lambda: (path.parent.chmod(0o755), path.chmod(0o644))
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False, lambda: None
    return True, lambda: subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)


def test_read_only_journal_fails_at_open_and_halts_entries(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    from trading.execution.wiring import open_session
    from trading.settings import Settings

    db = tmp_path / "journal" / "journal.db"
    Journal(db).close()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    ok, undo = _make_read_only(db)
    if not ok:
        pytest.skip("cannot make a file read-only here (no chattr, running as root)")
    try:
        settings = Settings(data_dir=tmp_path)
        brk = PaperBroker()
        session, problems = open_session(settings, brk, symbol="ES", data_dir=tmp_path, replay=False)
        assert problems and "JOURNAL UNWRITABLE" in problems[0]
        assert "readonly" in problems[0] or "read-only" in problems[0] or "unable to open" in problems[0]
        assert session.executor.journal is None
        assert any(r.levelname == "ERROR" and "JOURNAL UNWRITABLE" in r.message for r in caplog.records)
        ex = session.executor
        assert ReasonCode.JOURNAL_UNWRITABLE in ex.ledger.state().active_halts
        brk.on_bar("ES", bar(T0, 5000, 5001, 4999, 5000))
        res = ex.submit(entry(Side.BUY, 5000, 4980, 5040),
                        Advisory(action=AdvisoryAction.BUY, confidence=0.7, ts=ex.clock()))
        assert not res.sent and ReasonCode.JOURNAL_UNWRITABLE in res.reason_codes
        assert brk.open_orders() == []
        # a position from before the journal broke can still be closed by the loop
        from trading.brokers.base import BracketRequest
        from trading.domain.models import Signal

        brk.place_bracket(BracketRequest(trade_cycle_id="earlier", symbol="ES", side=Side.BUY, qty=1,
                                         stop_price=4900, target_price=5100))
        brk.on_bar("ES", bar(T0 + timedelta(minutes=1), 5000, 5001, 4999, 5000))
        assert brk.positions()[0].qty == 1
        session.signals = lambda bars, ctx: Signal(symbol="ES", side=Side.SELL, confidence=0.6, ts=ctx.now) \
            if ctx.position and ctx.position > 0 else None
        out = session.step(bar(T0 + timedelta(minutes=2), 5000, 5001, 4999, 5000))
        assert out is not None and out.sent and out.orders[0].reduce_only
        session.step(bar(T0 + timedelta(minutes=3), 5000, 5001, 4999, 5000))
        assert brk.positions() == []
    finally:
        undo()
