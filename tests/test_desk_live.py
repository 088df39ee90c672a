"""The Live page's server-sent events (issue 17): ``/api/live/events`` sends the snapshot at once, pushes a
new one when events.jsonl changes, and ends after ``max_events`` or ``timeout`` (read with the test client)."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from trading.domain.reason_codes import ReasonCode
from trading.records.telemetry import EventLog
from warden.desk.app import create_app

BASE = "http://testserver"
EVIL = "<script>alert(1)</script>"


def _data(tmp_path: Path) -> tuple[Path, EventLog]:
    data = tmp_path / "d"
    log = EventLog(data / "telemetry" / "events.jsonl")
    log.emit("signal", "cycle-1", kind="entry", signal={"side": "BUY", "symbol": "ES", "price": 1.5})
    return data, log


def _events(body: str) -> list[dict]:
    out = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        if "event: live" in lines:
            out.append(json.loads(next(ln for ln in lines if ln.startswith("data: "))[6:]))
    return out


def test_first_event_is_the_snapshot(tmp_path: Path) -> None:
    data, _ = _data(tmp_path)
    c = TestClient(create_app(data), base_url=BASE)
    r = c.get("/api/live/events?max_events=1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.text.startswith("retry: 2000\n\n")
    (doc,) = _events(r.text)
    assert doc == c.get("/api/live").json() and doc["cycles"][0]["id"] == "cycle-1"
    assert "EventSource(\"/api/live/events\")" in c.get("/live").text


def test_a_new_event_is_pushed(tmp_path: Path) -> None:
    data, log = _data(tmp_path)
    c = TestClient(create_app(data), base_url=BASE)

    def later() -> None:
        time.sleep(0.6)
        log.emit("guard_verdict", "cycle-2", [ReasonCode.OPERATOR_HALT], allowed=False, summary="BLOCK entry")
        log.emit("halt", None, [ReasonCode.OPERATOR_HALT], detail=EVIL)

    writer = threading.Thread(target=later)
    writer.start()
    t0 = time.monotonic()
    r = c.get("/api/live/events?max_events=2&timeout=10&poll=0.1")
    writer.join()
    assert time.monotonic() - t0 < 8, "the second event came only at the timeout, not on the change"
    first, second = _events(r.text)
    assert [cy["id"] for cy in first["cycles"]] == ["cycle-1"]
    assert second["cycles"][0]["id"] == "cycle-2" and second["cycles"][0]["codes"] == ["OPERATOR_HALT"]
    assert second["halts"][-1]["detail"] == EVIL and "<script>" not in r.text   # escaped on the wire


def test_the_stream_is_bounded_and_checked(tmp_path: Path) -> None:
    data, _ = _data(tmp_path)
    c = TestClient(create_app(data), base_url=BASE)
    t0 = time.monotonic()
    r = c.get("/api/live/events?timeout=0.5&poll=0.1")
    assert time.monotonic() - t0 < 5 and len(_events(r.text)) == 1     # nothing changed: one event, then the end
    for bad in ("timeout=0", "timeout=99999", "max_events=0", "poll=0"):
        assert c.get(f"/api/live/events?{bad}").status_code == 400, bad
    locked = TestClient(create_app(data, token="s3cret"), base_url=BASE)
    assert locked.get("/api/live/events?max_events=1").status_code == 401
    ok = locked.get("/api/live/events?max_events=1", headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and len(_events(ok.text)) == 1


def _ib_and_polymarket_journal(data: Path) -> None:
    """A journal as an IB session and a Polymarket session leave it: an open ES long with its working stop
    and target, a short MES fully closed, and Polymarket shares settled by the market's resolution."""
    from datetime import UTC, datetime

    from trading.domain.models import Fill, Order, OrderStatus, OrderType, Side
    from trading.records.journal import Journal
    from trading.records.journal_records import OutcomeRecord, TradeRecord

    t0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    j = Journal(data / "journal" / "journal.db")
    try:
        for tid, venue, acct, sym, side in (("ib-1", "ib", "DU123", "ES", Side.BUY), ("ib-2", "ib", "DU123", "MES", Side.SELL),
                                            ("pm-1", "polymarket", "0xabc", "tok-UP", Side.BUY)):
            j.open_trade(TradeRecord(trade_cycle_id=tid, venue=venue, account=acct, symbol=sym, side=side, qty=2,
                                     status="open", opened_at=t0))
            j.record_order(Order(order_id=f"{tid}-e", trade_cycle_id=tid, symbol=sym, side=side, qty=2,
                                 status=OrderStatus.FILLED, filled_qty=2), "entry")
            j.record_fill(Fill(exec_id=f"{tid}-x1", order_id=f"{tid}-e", symbol=sym, side=side, qty=2, price=10.0,
                               ts=t0, trade_cycle_id=tid), account=acct)
        j.record_orders([(Order(order_id="ib-1-s", trade_cycle_id="ib-1", symbol="ES", side=Side.SELL, qty=2,
                                order_type=OrderType.STP, stop_price=5000.0, status=OrderStatus.SUBMITTED), "stop"),
                         (Order(order_id="ib-1-t", trade_cycle_id="ib-1", symbol="ES", side=Side.SELL, qty=2,
                                order_type=OrderType.LMT, limit_price=5050.0, status=OrderStatus.SUBMITTED), "target")])
        j.record_fill(Fill(exec_id="ib-2-x2", order_id="ib-2-c", symbol="MES", side=Side.BUY, qty=2, price=9.0, ts=t0,
                           trade_cycle_id="ib-2"), account="DU123")
        j.record_outcome(OutcomeRecord(trade_cycle_id="pm-1", resolved_at=t0, won=True, pnl=1.0, gross_pnl=1.0,
                                       source="api"))
        assert j.positions("DU123") == {"ES": 2.0}
    finally:
        j.close()


def test_ib_and_polymarket_positions_as_recorded(tmp_path: Path) -> None:
    data, log = _data(tmp_path)
    _ib_and_polymarket_journal(data)
    log.emit("reconcile", None, [ReasonCode.RECONCILE_MISMATCH], ok=False, detail="broker holds ES 3, journal 2",
             trigger="timer")
    journal = data / "journal" / "journal.db"
    before = journal.read_bytes()
    c = TestClient(create_app(data), base_url=BASE)
    live = c.get("/api/live").json()
    books = {(b["venue"], b["account"]): b for b in live["brokers"]}
    ib = books[("ib", "DU123")]
    assert ib["positions"] == {"ES": 2.0}                       # MES closed, so flat
    assert sorted((o["role"], o["status"]) for o in ib["open_orders"]) == [("stop", "submitted"),
                                                                          ("target", "submitted")]
    assert ib["as_of"] >= "2026"
    assert books[("polymarket", "0xabc")]["positions"] == {}    # settled by the market's resolution
    assert live["reconcile"]["ok"] is False and "ES 3" in live["reconcile"]["detail"]
    page = c.get("/live").text
    assert 'id="brokers"' in page and "as recorded at 20" in page and "MISMATCH" in page
    assert "ES: 2.0" in page and "stop SELL 2.0 ES STP 5000.0 (submitted)" in page
    assert journal.read_bytes() == before          # read-only: the journal itself is untouched (SQLite may add
    # its -wal/-shm side files, as any reader of a WAL database does)


def test_an_unreadable_journal_is_one_line(tmp_path: Path) -> None:
    data, _ = _data(tmp_path)
    (data / "journal").mkdir()
    (data / "journal" / "journal.db").write_bytes(b"not a database at all" * 100)
    live = TestClient(create_app(data), base_url=BASE).get("/api/live").json()
    assert live["brokers"] == [] and "journal.db" in live["brokers_error"]


def test_a_real_ib_session_shows_its_position_and_bracket(tmp_path: Path) -> None:
    """The IB adapter on the real ib_async client, talking to the fake gateway, behind the guarded executor:
    the entry fills and its stop and target stay working; Live shows exactly that, as the journal records it,
    with no connection of its own to the broker."""
    import pytest

    pytest.importorskip("ib_async")
    from datetime import date

    from tests.fakes.ib_gateway import ACCOUNT, FakeGateway, FakeIB
    from trading.brokers.ib import IBBroker
    from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side
    from trading.execution.wiring import open_session
    from trading.settings import BrokerConfig, Settings

    gw = FakeGateway()
    gw.market_price["ESZ5"] = 6890.50
    broker = IBBroker(BrokerConfig(kind="ib", position_timeout_s=0.3), ib=FakeIB(gw), today=date(2025, 12, 12),
                      commission_grace_s=0.0)
    broker.connect()
    data = tmp_path / "ib"
    try:
        session, problems = open_session(Settings(data_dir=data), broker, symbol="ESZ5", replay=False)
        assert not problems
        ex = session.executor
        res = ex.submit(OrderIntent(kind=IntentKind.ENTRY, side=Side.BUY, qty=1, symbol="ESZ5", price=6890.5,
                                    stop=6880.0, target=6910.0),
                        Advisory(action=AdvisoryAction.BUY, confidence=0.7, source="test", ts=ex.clock()))
        broker.process_events()
        assert res.sent, res.verdict
    finally:
        broker.disconnect()
    live = TestClient(create_app(data), base_url=BASE).get("/api/live").json()
    (book,) = live["brokers"]
    assert (book["venue"], book["account"], book["positions"]) == ("ib", ACCOUNT, {"ESZ5": 1.0})
    assert sorted((o["role"], o["order_type"], o["limit_price"] or o["stop_price"]) for o in book["open_orders"]) == [
        ("stop", "STP", 6880.0), ("target", "LMT", 6910.0)]
    assert book["as_of"] and live["accounts"] == []
