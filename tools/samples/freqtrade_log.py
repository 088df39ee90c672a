"""A freqtrade log in freqtrade's own grammar with planted round trips (and the traps of a real one).

Each planted trip is the real sequence: signal, order created, "Fee for Trade ... [buy]", "LIMIT_BUY has
been fulfilled", rpc ``entry_fill``, then exit attempts that time out (rpc ``exit`` with a made-up
profit, "Sell order cancelled due to timeout", rpc ``exit_cancel``: none of them is a fill), then the
real exit fill. Buy orders that time out and are removed never fill. Heartbeats, wallet syncs and the
strategy's own chatter pad it. Same arguments, same bytes.

Failure contract: raises only on I/O errors; the file is written atomically.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from tools.samples.planted import PlantedTrip, write_lines

PAIR = "ETH/USDC:USDC"
RATE = 0.001


def _dt(t: datetime) -> str:
    return (f"datetime.datetime({t.year}, {t.month}, {t.day}, {t.hour}, {t.minute}, {t.second}, "
            f"{t.microsecond}, tzinfo=datetime.timezone.utc)")


def _trade(tid: int, amount: float, rate: float, since: datetime, short: bool) -> str:
    return (f"Trade(id={tid}, pair={PAIR}, amount={amount:.8f}, is_short={short}, leverage=1.0, "
            f"open_rate={rate:.8f}, open_since={since:%Y-%m-%d %H:%M:%S})")


def write_freqtrade_log(path: str | Path, n_trips: int = 4, seed: int = 7,
                        start: datetime = datetime(2025, 12, 12, 22, 38, 34)) -> tuple[Path, list[PlantedTrip]]:
    rng = random.Random(seed)
    lines: list[str] = []
    t = start

    def add(logger: str, msg: str, level: str = "INFO", step: float = 0.5) -> None:
        nonlocal t
        t += timedelta(seconds=step)
        lines.append(f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} - {logger} - {level} - {msg}")

    add("freqtrade.loggers", "Enabling colorized output.")
    add("freqtrade.worker", "Starting freqtrade 2025.4")
    add("freqtrade.worker", "Changing state to: RUNNING")
    planted: list[PlantedTrip] = []
    tid = 0
    for i in range(n_trips):
        for _ in range(rng.randint(1, 3)):
            add("Market_Making", f"[spread] side=bid bps={rng.uniform(1, 3):.2f} abs=0.6 mid=3093.55 source=hjb_grid")
            add("freqtrade.worker", "Bot heartbeat. PID=1, version='2025.4', state='RUNNING'", step=5)
            add("freqtrade.wallets", "Wallets synced.")
        tid += 1
        short = i % 3 == 2
        price = round(3090 + rng.uniform(-20, 20), 1)
        amount = round(1000.0 / price, 4)
        # a buy that times out first: never a fill
        add("freqtrade.freqtradebot", f"{'Short' if short else 'Long'} signal found: about create a new trade for "
            f"{PAIR} with stake_amount: 1000.0 and price: {price + 0.02} ...")
        add("freqtrade.freqtradebot", f"Order dry_run_{'sell' if short else 'buy'}_{PAIR}_{1765579138 + i}.1 was "
            f"created for {PAIR} and status is open.")
        opened = t
        add("freqtrade.freqtradebot", f"Fee for Trade {_trade(tid, 0, price + 0.02, opened, short)} "
            f"[{'sell' if short else 'buy'}]: {amount * price * RATE:.8f} USDC - rate: {RATE}", step=10)
        add("freqtrade.persistence.trade_model", f"LIMIT_{'SELL' if short else 'BUY'} has been fulfilled for "
            f"{_trade(tid, amount, price, opened, short)}.")
        add("freqtrade.rpc.rpc_manager", f"Sending rpc message: {{'trade_id': {tid}, 'type': entry_fill, 'buy_tag': "
            f"'', 'enter_tag': '', 'exchange': 'Hyperliquid', 'pair': '{PAIR}', 'leverage': 1.0, 'direction': "
            f"'{'Short' if short else 'Long'}', 'limit': {price}, 'open_rate': {price}, 'order_type': 'limit', "
            f"'stake_amount': {amount * price:.5f}, 'stake_currency': 'USDC', 'base_currency': 'ETH', "
            f"'quote_currency': 'USDC', 'fiat_currency': None, 'amount': {amount}, 'open_date': {_dt(opened)}, "
            f"'current_rate': {price + 0.6}, 'sub_trade': False}}")
        exit_px = round(price + rng.uniform(-6, 6), 1)
        for _ in range(rng.randint(1, 3)):   # exit attempts that time out: the -1000 "profit" trap
            add("freqtrade.freqtradebot", f"Exit for {PAIR} detected. Reason: roi", step=3)
            add("freqtrade.rpc.rpc_manager", f"Sending rpc message: {{'type': exit, 'trade_id': {tid}, 'exchange': "
                f"'Hyperliquid', 'pair': '{PAIR}', 'leverage': 1.0, 'direction': 'Long', 'gain': 'loss', 'limit': "
                f"{exit_px + 1}, 'amount': {amount}, 'open_rate': {price}, 'close_rate': {exit_px + 1}, "
                f"'profit_amount': -1.53760903, 'profit_ratio': -0.0015, 'exit_reason': 'roi'}}")
            add("freqtrade.freqtradebot", f"{'Buy' if short else 'Sell'} order cancelled due to timeout for "
                f"{_trade(tid, amount, price, opened, short)}.", step=25)
            add("freqtrade.rpc.rpc_manager", f"Sending rpc message: {{'type': exit_cancel, 'trade_id': {tid}, "
                f"'amount': 0.0, 'profit_amount': -1000.93450457, 'reason': 'cancelled due to timeout'}}")
        fee_in, fee_out = amount * price * RATE, amount * exit_px * RATE
        add("freqtrade.freqtradebot", f"Fee for Trade {_trade(tid, amount, price, opened, short)} "
            f"[{'buy' if short else 'sell'}]: {fee_out:.8f} USDC - rate: {RATE}", step=30)
        sign = -1 if short else 1
        profit = (exit_px - price) * amount * sign - fee_in - fee_out
        add("freqtrade.persistence.trade_model", f"Marking {_trade(tid, amount, price, opened, short)} as closed as "
            "the trade is fulfilled and found no open orders for it.")
        add("freqtrade.rpc.rpc_manager", f"Sending rpc message: {{'type': exit_fill, 'trade_id': {tid}, 'exchange': "
            f"'Hyperliquid', 'pair': '{PAIR}', 'leverage': 1.0, 'direction': '{'Short' if short else 'Long'}', "
            f"'gain': '{'profit' if profit > 0 else 'loss'}', 'limit': {exit_px}, 'order_rate': {exit_px}, "
            f"'order_type': 'limit', 'amount': {amount}, 'open_rate': {price}, 'close_rate': {exit_px}, "
            f"'current_rate': None, 'profit_amount': {profit:.8f}, 'profit_ratio': -0.001, 'buy_tag': '', "
            f"'enter_tag': '', 'exit_reason': 'roi', 'open_date': {_dt(opened)}, 'close_date': {_dt(t)}}}")
        planted.append(PlantedTrip(PAIR, "SELL" if short else "BUY", amount, price, exit_px, fee_in + fee_out))
        # a buy that never fills
        tid += 1
        add("freqtrade.freqtradebot", f"Buy order fully cancelled. Removing {_trade(tid, 0, price, t, False)} "
            "from database.", step=40)
    add("freqtrade.commands.trade_commands", "worker found ... calling exit")
    return write_lines(path, lines), planted
