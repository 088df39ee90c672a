"""An IB API client log as ib_async writes it (``util.logToFile``), with planted round trips.

The object reprs are made by ib_async itself (Trade, Fill, Execution, CommissionReport, Position), so the
grammar is the library's, not a transcription. Each trip is an entry order, its execution and commission
report, the position, then the exit. TWS notices (2104, 2106: INFO) and a real error (201 order
rejected: ERROR) are mixed in. Same arguments, same bytes.

Failure contract: raises ImportError when ib_async is not installed, otherwise only I/O errors; the file
is written atomically.
"""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tools.samples.planted import PlantedTrip, write_lines


def write_ib_log(path: str | Path, n_trips: int = 4, seed: int = 5,
                 start: datetime = datetime(2025, 6, 25, 13, 30, tzinfo=UTC)) -> tuple[Path, list[PlantedTrip]]:
    from ib_async import Future, LimitOrder, MarketOrder, OrderStatus, Stock, Trade
    from ib_async.objects import CommissionReport, Execution, Fill, Position

    rng = random.Random(seed)
    lines: list[str] = []
    t = start

    def add(logger: str, msg: str, level: str = "INFO", step: float = 0.3) -> None:
        nonlocal t
        t += timedelta(seconds=step)
        lines.append(f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} {logger} {level} {msg}")

    add("ib_async.client", "Connecting to 127.0.0.1:7497 with clientId 10...")
    add("ib_async.client", "Connected")
    add("ib_async.client", "Logged on to server version 176")
    add("ib_async.wrapper", "Warning 2104, reqId -1: Market data farm connection is OK:usfarm")
    add("ib_async.wrapper", "Warning 2106, reqId -1: HMDS data farm connection is OK:ushmds")
    add("ib_async.client", "API connection ready")
    es = Future(conId=495512563, symbol="ES", lastTradeDateOrContractMonth="20251219", multiplier="50",
                exchange="CME", localSymbol="ESZ5")
    spy = Stock(conId=756733, symbol="SPY", exchange="SMART", currency="USD")
    planted: list[PlantedTrip] = []
    oid, n_exec = 20, 0
    pos: dict[str, float] = {}
    for i in range(n_trips):
        contract, mult, sym = (es, 50.0, "ESZ5") if i % 2 == 0 else (spy, 1.0, "SPY")
        qty = float(rng.choice([1, 2])) if sym == "ESZ5" else float(rng.choice([10, 25]))
        side = "BUY" if i % 3 != 1 else "SELL"
        px0 = round((6860 if sym == "ESZ5" else 600) + rng.randint(-40, 40) * (0.25 if sym == "ESZ5" else 0.01), 2)
        px1 = round(px0 + rng.randint(-12, 12) * (0.25 if sym == "ESZ5" else 0.05), 2)
        fees = 0.0
        for leg, action, px in (("entry", side, px0), ("exit", "SELL" if side == "BUY" else "BUY", px1)):
            oid += 1
            order = LimitOrder(action, qty, px, orderId=oid, clientId=10) if leg == "entry" else \
                MarketOrder(action, qty, orderId=oid, clientId=10)
            add("ib_async.ib", f"placeOrder: New order {Trade(contract, order, OrderStatus(orderId=oid, status='PendingSubmit'))}",
                step=rng.uniform(20, 90))
            if leg == "entry" and i == 1:
                add("ib_async.wrapper", f"Error 201, reqId {oid}: Order rejected - reason:Margin check", level="ERROR")
                oid += 1
                order = LimitOrder(action, qty, px, orderId=oid, clientId=10)
                add("ib_async.ib", f"placeOrder: New order {Trade(contract, order, OrderStatus(orderId=oid, status='PendingSubmit'))}")
            n_exec += 1
            eid = f"0000e215.685b{n_exec:04x}.01.01"
            ex = Execution(execId=eid, time=t, acctNumber="DU5352527", exchange=contract.exchange,
                           side="BOT" if action == "BUY" else "SLD", shares=qty, price=px, permId=834371572 + oid,
                           clientId=10, orderId=oid, cumQty=qty, avgPrice=px)
            add("ib_async.wrapper", f"execDetails: {Fill(contract, ex, CommissionReport(), t)}", step=0.8)
            fee = round(2.25 * qty if sym == "ESZ5" else max(1.0, 0.005 * qty), 2)
            fees += fee
            add("ib_async.wrapper", f"commissionReport: {CommissionReport(execId=eid, commission=fee, currency='USD', realizedPNL=0.0)}")
            pos[sym] = pos.get(sym, 0.0) + (qty if action == "BUY" else -qty)
            add("ib_async.wrapper", f"position: {Position('DU5352527', contract, pos[sym], px * mult)}")
        planted.append(PlantedTrip(sym, side, qty, px0, px1, fees, mult))
    add("ib_async.client", "Disconnecting")
    add("ib_async.client", "Disconnected.")
    return write_lines(path, lines), planted
