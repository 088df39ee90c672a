"""A Hummingbot pure-market-making log in Hummingbot's grammar, with planted round trips.

Every fill appears three times, as in a real log (the tracker's "has been filled" line, the strategy's
"Maker ... filled" line and the EVENT_LOG ``OrderFilledEvent`` JSON); only the JSON event is a fill.
Orders are created (JSON ``Buy/SellOrderCreatedEvent``), some are cancelled unfilled, an ERROR with a
Python traceback sits in the middle. Each planted trip is a buy then a sell of the same amount, fee
``percent`` of the notional on each. Same arguments, same bytes.

Failure contract: raises only on I/O errors; the file is written atomically.
"""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tools.samples.planted import PlantedTrip, write_lines

PAIR, BASE, QUOTE = "EDG-USDT", "EDG", "USDT"
FEE = 0.002
_STRAT = "hummingbot.strategy.pure_market_making.pure_market_making"
_TRACK = "hummingbot.connector.client_order_tracker"
_EV = "hummingbot.core.event.event_reporter"


def write_hummingbot_log(path: str | Path, n_trips: int = 5, seed: int = 3,
                         start: datetime = datetime(2022, 12, 21, 22, 35, 32, tzinfo=UTC)
                         ) -> tuple[Path, list[PlantedTrip]]:
    rng = random.Random(seed)
    lines: list[str] = []
    t = start

    def add(logger: str, msg: str, level: str = "INFO", step: float = 0.2) -> None:
        nonlocal t
        t += timedelta(seconds=step)
        lines.append(f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} - 4539 - {logger} - {level} - {msg}")

    def event(doc: dict[str, object]) -> None:
        add(_EV, json.dumps({"timestamp": float(int(t.timestamp())), **doc}), level="EVENT_LOG")

    planted: list[PlantedTrip] = []
    n = 0
    for i in range(n_trips):
        legs = []
        for side in ("BUY", "SELL"):
            n += 1
            oid = f"{side[0]}EGUT5f05e{n:04d}fd552691931eb59b8689ef8aa19"
            legs.append((side, oid, n))
        amount = round(rng.uniform(1000, 400000), 4)
        buy_px = round(rng.uniform(0.0004, 0.00045), 6)
        sell_px = round(buy_px + rng.choice([-2, -1, 1, 2, 3]) * 1e-6, 6)
        for (side, oid, k), px in zip(legs, (buy_px, sell_px)):
            kind = "bid" if side == "BUY" else "ask"
            add(_STRAT, f"({PAIR}) Creating 1 {kind} orders at (Size, Price): ['{amount} {BASE}, {px} {QUOTE}']", step=30)
            add(_TRACK, f"Created LIMIT_MAKER {side} order {oid} for {amount} {PAIR}.")
            event({"type": "OrderType.LIMIT_MAKER", "trading_pair": PAIR, "amount": str(amount), "price": str(px),
                   "order_id": oid, "creation_timestamp": float(int(t.timestamp())),
                   "exchange_order_id": f"63a38a71c4a7c3{k:010d}", "leverage": 1, "position": "NIL",
                   "event_name": f"{side.title()}OrderCreatedEvent", "event_source": "kucoin"})
            if rng.random() < 0.4:                  # an unfilled order that is cancelled
                dead = f"{side[0]}EGUT5f05f{n:04d}dead691931eb59b8689ef8aa19"
                add(_STRAT, f"({PAIR}) Canceling the limit order {dead}. [clock={t:%Y-%m-%d %H:%M:%S}+00:00]")
                event({"order_id": dead, "exchange_order_id": "63a38a71c4a7c300013243a6",
                       "event_name": "OrderCancelledEvent", "event_source": "kucoin"})
            add(_TRACK, f"The {side} order {oid} amounting to {amount}/{amount} {BASE} has been filled.", step=40)
            add(_STRAT, f"({PAIR}) Maker {side.lower()} order of {amount} {BASE} filled. "
                f"[clock={t:%Y-%m-%d %H:%M:%S}+00:00]")
            event({"order_id": oid, "trading_pair": PAIR, "trade_type": f"TradeType.{side}",
                   "order_type": "OrderType.LIMIT_MAKER", "price": str(px), "amount": str(amount),
                   "trade_fee": {"percent": str(FEE), "percent_token": None, "flat_fees": []},
                   "exchange_trade_id": f"20393951475{k:05d}", "leverage": 1, "position": "NIL",
                   "event_name": "OrderFilledEvent", "event_source": "kucoin"})
            add(_TRACK, f"{side} order {oid} completely filled.")
        planted.append(PlantedTrip(PAIR, "BUY", amount, buy_px, sell_px, FEE * amount * (buy_px + sell_px)))
        if i == n_trips // 2:
            add("hummingbot.connector.exchange.kucoin.kucoin_exchange.KucoinExchange",
                "Error parsing the trading pair rule {'symbol': 'BTC-BRL'}. Skipping.", level="ERROR")
            lines.extend(["Traceback (most recent call last):",
                          '  File "hummingbot/connector/exchange_base.pyx", line 108, in trading_pair_associated',
                          "KeyError: 'BTC-BRL'"])
    return write_lines(path, lines), planted
