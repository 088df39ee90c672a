"""Deterministic sample logs: the seed-000 `mytrader` scenario (and a small `momentum` bot.log).

Used by tests, benches and ``warden sample-log``. Same arguments, same bytes. Padding is realistic
noise (quotes, heartbeats, feature/bar chatter, a traceback now and then), spread over the trading
day so timestamps stay monotonic whatever the target size.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from trading.records.atomic import atomic_writer

MYTRADER_DAY = datetime(2025, 12, 12)
_SYMBOL = "ESZ5"
_LOG_START = MYTRADER_DAY.replace(hour=7, minute=30)
_LOG_END = MYTRADER_DAY.replace(hour=15, minute=0)
_AVG_NOISE_LINE = 117   # bytes, a little under the generator's measured mean (~119.7)


def _t(hms: str) -> datetime:
    h, m, s = hms.split(":")
    sec, _, ms = s.partition(".")
    return MYTRADER_DAY.replace(hour=int(h), minute=int(m), second=int(sec), microsecond=int(ms or 0) * 1000)


def _mytrader_scenario() -> list[tuple[datetime, str, str, str]]:
    """(time, logger, level, message) of the seed-000 day: the incident plus two normal trades."""
    hy, aws, ltm, ib = ("mytrader.strategies.hybrid", "mytrader.aws.decision_agent",
                        "mytrader.execution.live_trading_manager", "mytrader.execution.ib_executor")
    S = _SYMBOL
    ev: list[tuple[str, str, str, str]] = [
        # the bot connects and IB reports the (flat) book
        ("07:30:00.000", ib, "INFO", f"Position update: {S} position=0 avgCost=0.0"),
        # 08:12 a normal short entry with a bracket; its stop child fills at 08:49 -> live flat
        ("08:12:39.870", hy, "INFO", "Hybrid pipeline emitted SCALP_SELL @ 0.52 confidence (price=6880.00, stop=6889.75, target=6859.75)"),
        ("08:12:40.002", aws, "INFO", "AWS Decision Agent returned SELL (64%) - lower highs into the open"),
        ("08:12:40.010", ltm, "INFO", f"Placing entry order: SELL 1 {S} @ 6879.75 (SL=6889.75, TP=6859.75)"),
        ("08:12:40.101", ib, "INFO", f"Order submitted: orderId=14731 action=SELL qty=1 symbol={S} type=LMT lmtPrice=6879.75"),
        ("08:12:40.102", ib, "INFO", f"Order submitted: orderId=14732 action=BUY qty=1 symbol={S} type=LMT lmtPrice=6859.75 parentId=14731"),
        ("08:12:40.103", ib, "INFO", f"Order submitted: orderId=14733 action=BUY qty=1 symbol={S} type=STP auxPrice=6889.75 parentId=14731"),
        ("08:12:41.554", ib, "INFO", "Order filled: orderId=14731 action=SELL qty=1 avgPrice=6879.75"),
        ("08:12:41.610", ib, "INFO", f"Position update: {S} position=-1 avgCost=343987.5"),
        ("08:49:57.208", ib, "INFO", "Order filled: orderId=14733 action=BUY qty=1 avgPrice=6890.00"),
        ("08:49:57.260", ib, "INFO", f"Position update: {S} position=0 avgCost=0.0"),
        ("08:49:57.301", ib, "INFO", "Order cancelled: orderId=14732 reason=OCA group filled"),
        # 08:53 the incident: a BUY "exit" while the bot still believes it is short
        ("08:53:01.004", hy, "INFO", "Hybrid pipeline emitted SCALP_BUY @ 0.36 confidence (price=6890.25, stop=0.00, target=0.00)"),
        ("08:53:01.006", hy, "WARNING", "Hybrid pipeline produced non-positive protective levels (stop=0.00, target=0.00)"),
        ("08:53:13.220", aws, "INFO", "AWS Decision Agent returned WAIT (50%) - momentum fading, no edge"),
        ("08:53:13.221", ltm, "INFO", "WAIT advisory only - not blocking trade (confidence 0.36 -> 0.18)"),
        ("08:53:13.222", ltm, "INFO", f"HYBRID EXIT: SCALP_BUY signal while position=-1 {S}"),
        ("08:53:13.224", ltm, "INFO", f"Placing exit order: BUY 1 {S} (SL=None, TP=None)"),
        ("08:53:13.301", ib, "INFO", f"Order submitted: orderId=14812 action=BUY qty=1 symbol={S} type=MKT"),
        ("08:53:20.450", ib, "INFO", "Order filled: orderId=14812 action=BUY qty=1 avgPrice=6890.50"),
        ("08:53:20.512", "mytrader.monitoring.alerts", "INFO", f"Telegram alert: Position opened LONG 1 {S} @ 6890.50 SL=None, TP=None"),
        ("08:53:20.640", ib, "INFO", f"Position update: {S} position=1 avgCost=344525.0"),
    ]
    # 08:54-09:34 the pipeline keeps emitting HOLD/SELL with zero levels; WAIT advisories are ignored
    for i, minute in enumerate(range(54, 94, 6)):
        h, m = divmod(8 * 60 + minute, 60)
        label = "HOLD" if i % 2 == 0 else "SELL"
        px = 6888.0 - 4.5 * i
        ev.append((f"{h:02d}:{m:02d}:01.100", hy, "INFO",
                   f"Hybrid pipeline emitted {label} @ 0.2{i} confidence (price={px:.2f}, stop=0.00, target=0.00)"))
        ev.append((f"{h:02d}:{m:02d}:01.102", hy, "WARNING",
                   "Hybrid pipeline produced non-positive protective levels (stop=0.00, target=0.00)"))
        ev.append((f"{h:02d}:{m:02d}:09.500", aws, "INFO", f"AWS Decision Agent returned WAIT ({55 + i}%) - no edge"))
    ev += [
        # 09:35 the unintended long is closed: -34 points, IB reports a stale -592
        ("09:35:04.118", hy, "INFO", "Hybrid pipeline emitted SCALP_SELL @ 0.41 confidence (price=6857.00, stop=6866.00, target=6840.00)"),
        ("09:35:04.120", ltm, "INFO", f"HYBRID EXIT: SCALP_SELL signal while position=1 {S}"),
        ("09:35:04.121", ltm, "INFO", f"Placing exit order: SELL 1 {S} (SL=None, TP=None)"),
        ("09:35:10.002", ib, "INFO", f"Order submitted: orderId=15638 action=SELL qty=1 symbol={S} type=MKT"),
        ("09:35:22.310", ib, "INFO", "Order filled: orderId=15638 action=SELL qty=1 avgPrice=6856.50"),
        ("09:35:22.355", ib, "INFO", "Commission report: execId=0000e0d5.6575f1a2.01.01 orderId=15638 commission=2.25 realizedPNL=-592.00"),
        ("09:35:22.401", "mytrader.rag.pipeline_integration", "WARNING", "No current trade ID for exit logging"),
        ("09:35:22.402", ib, "INFO", f"Position update: {S} position=0 avgCost=0.0"),
        # 10:05 a normal long: bracket, target fills, broker PnL agrees (+600 - 4.50 fees)
        ("10:05:00.200", hy, "INFO", "Hybrid pipeline emitted BUY @ 0.71 confidence (price=6861.00, stop=6855.25, target=6873.25)"),
        ("10:05:00.410", aws, "INFO", "AWS Decision Agent returned BUY (72%) - higher lows, volume up"),
        ("10:05:00.420", ltm, "INFO", f"Placing entry order: BUY 1 {S} @ 6861.25 (SL=6855.25, TP=6873.25)"),
        ("10:05:00.501", ib, "INFO", f"Order submitted: orderId=16001 action=BUY qty=1 symbol={S} type=LMT lmtPrice=6861.25 trade_cycle_id=5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01"),
        ("10:05:00.502", ib, "INFO", f"Order submitted: orderId=16002 action=SELL qty=1 symbol={S} type=LMT lmtPrice=6873.25 parentId=16001 trade_cycle_id=5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01"),
        ("10:05:00.503", ib, "INFO", f"Order submitted: orderId=16003 action=SELL qty=1 symbol={S} type=STP auxPrice=6855.25 parentId=16001 trade_cycle_id=5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01"),
        ("10:05:01.880", ib, "INFO", "Order filled: orderId=16001 action=BUY qty=1 avgPrice=6861.25 trade_cycle_id=5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01"),
        ("10:05:01.900", ib, "INFO", "Commission report: execId=0000e0d5.6575f1b7.01.01 orderId=16001 commission=2.25 realizedPNL=None"),
        ("10:05:01.950", ib, "INFO", f"Position update: {S} position=1 avgCost=343062.5"),
        ("10:05:02.000", ltm, "INFO", 'EVENT {"event": "order_filled", "trade_cycle_id": "5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01", "order_id": 16001}'),
        ("10:41:17.090", ib, "INFO", "Order filled: orderId=16002 action=SELL qty=1 avgPrice=6873.25 trade_cycle_id=5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01"),
        ("10:41:17.120", ib, "INFO", "Commission report: execId=0000e0d5.6575f1c2.01.01 orderId=16002 commission=2.25 realizedPNL=595.50"),
        ("10:41:17.150", ib, "INFO", f"Position update: {S} position=0 avgCost=0.0"),
        ("10:41:17.160", ib, "INFO", "Order cancelled: orderId=16003 reason=OCA group filled"),
        # 13:20 a normal short whose stop fills: a small, protected loss
        ("13:20:30.000", hy, "INFO", "Hybrid pipeline emitted SCALP_SELL @ 0.58 confidence (price=6868.50, stop=6872.50, target=6860.50)"),
        ("13:20:30.300", aws, "INFO", "AWS Decision Agent returned SELL (61%)"),
        ("13:20:30.310", ltm, "INFO", f"Placing entry order: SELL 1 {S} @ 6868.50 (SL=6872.50, TP=6860.50)"),
        ("13:20:30.400", ib, "INFO", f"Order submitted: orderId=17101 action=SELL qty=1 symbol={S} type=LMT lmtPrice=6868.50"),
        ("13:20:30.401", ib, "INFO", f"Order submitted: orderId=17102 action=BUY qty=1 symbol={S} type=LMT lmtPrice=6860.50 parentId=17101"),
        ("13:20:30.402", ib, "INFO", f"Order submitted: orderId=17103 action=BUY qty=1 symbol={S} type=STP auxPrice=6872.50 parentId=17101"),
        ("13:20:31.010", ib, "INFO", "Order filled: orderId=17101 action=SELL qty=1 avgPrice=6868.50"),
        ("13:20:31.040", ib, "INFO", f"Position update: {S} position=-1 avgCost=343425.0"),
        ("13:52:44.700", ib, "INFO", "Order filled: orderId=17103 action=BUY qty=1 avgPrice=6872.75"),
        ("13:52:44.730", ib, "INFO", "Commission report: execId=0000e0d5.6575f1d9.01.01 orderId=17103 commission=2.25 realizedPNL=-214.75"),
        ("13:52:44.760", ib, "INFO", f"Position update: {S} position=0 avgCost=0.0"),
        ("13:52:44.790", ib, "INFO", "Order cancelled: orderId=17102 reason=OCA group filled"),
    ]
    return [(_t(t), lg, lv, msg) for t, lg, lv, msg in ev]


class _Clock:
    """Formats ``YYYY-MM-DD HH:MM:SS,mmm`` cheaply (the second part is cached)."""

    def __init__(self) -> None:
        self._sec: int | None = None
        self._txt = ""

    def fmt(self, t: datetime) -> str:
        sec = int(t.timestamp()) if t.tzinfo else int((t - datetime(1970, 1, 1)).total_seconds())
        if sec != self._sec:
            self._sec, self._txt = sec, t.strftime("%Y-%m-%d %H:%M:%S")
        return f"{self._txt},{t.microsecond // 1000:03d}"


def _noise(rng: random.Random, ts: str, px: float) -> str:
    r = rng.random()
    if r < 0.80:
        bid = round(px * 4) / 4
        return (f"{ts} - mytrader.data.stream - DEBUG - Market data: {_SYMBOL} bid={bid:.2f} "
                f"ask={bid + 0.25:.2f} last={bid + 0.25 * rng.randint(0, 1):.2f} volume={rng.randint(1, 900)}\n")
    if r < 0.96:
        return f"{ts} - mytrader.execution.ib_executor - INFO - Heartbeat: connected=True latency_ms={rng.randint(3, 40)}\n"
    if r < 0.99:
        return f"{ts} - mytrader.features.engine - DEBUG - Computed 42 features for bar (rsi={rng.uniform(20, 80):.1f} atr={rng.uniform(2, 7):.2f})\n"
    return f"{ts} - mytrader.strategies.hybrid - INFO - Bar closed {_SYMBOL} o={px:.2f} h={px + 1:.2f} l={px - 1:.2f} c={px:.2f}\n"


_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/opt/mytrader/mytrader/data/stream.py", line 211, in _on_tick\n'
    "    self._book.update(tick)\n"
    "KeyError: 'ESZ5'\n"
)


def _mytrader_lines(target_bytes: int | None, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    clock = _Clock()
    events = [f"{clock.fmt(et)} - {lg} - {lv} - {msg}\n" for et, lg, lv, msg in _mytrader_scenario()]
    times = [et for et, *_ in _mytrader_scenario()]
    left = sum(len(e) for e in events)          # bytes of scenario lines not yet written
    # noise density: enough lines over the day to pass the target (we stop at it), or a sprinkle
    n_noise = int(target_bytes / _AVG_NOISE_LINE) + 1 if target_bytes else 240
    step = (_LOG_END - _LOG_START).total_seconds() / max(n_noise, 1)
    px = 6875.0
    ei = 0
    written = 0
    traceback_every = max(n_noise // 4, 60)
    for i in range(n_noise):
        t = _LOG_START + timedelta(seconds=i * step)
        while ei < len(events) and times[ei] <= t:
            yield events[ei]
            written += len(events[ei])
            left -= len(events[ei])
            ei += 1
        if target_bytes and written + left >= target_bytes:
            break
        px = min(max(px + rng.choice((-0.25, 0.0, 0.25)), 6800.0), 6950.0)
        ts = clock.fmt(t)
        line = _noise(rng, ts, px)
        if i % traceback_every == traceback_every // 2:
            line += f"{ts} - mytrader.data.stream - ERROR - Tick handler failed\n" + _TRACEBACK
        yield line
        written += len(line)
    yield from events[ei:]


def _write_stream(path: Path, lines: Iterator[str]) -> int:
    """Write through a temp file in the same folder, then rename: never a half-written log."""
    n = 0
    with atomic_writer(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as fh:
        batch: list[str] = []
        for ln in lines:
            batch.append(ln)
            if len(batch) >= 4096:
                chunk = "".join(batch)
                fh.write(chunk)
                n += len(chunk)
                batch.clear()
        chunk = "".join(batch)
        fh.write(chunk)
        n += len(chunk)
    return n


def write_mytrader_log(path: str | Path, target_bytes: int | None = None, seed: int = 0) -> Path:
    """The seed-000 day for ESZ5 (America/Chicago), padded with noise to about ``target_bytes``.

    Orders: 14731 (SELL entry, bracket 14732/14733; the stop 14733 fills at 08:49 -> live flat),
    14812 (the BUY "exit" at 08:53 while the bot believes position=-1, WAIT 50%, SL/TP None,
    filled 6890.50), 15638 (SELL exit at 09:35 filled 6856.50, IB realizedPNL=-592.00, then
    "No current trade ID"), 16001 (+16002/16003: a protected long, target hit, +600 gross) and
    17101 (+17102/17103: a protected short, stop hit, -212.50 gross).
    """
    _write_stream(Path(path), _mytrader_lines(target_bytes, seed))
    return Path(path)


def write_momentum_log(path: str | Path, seed: int = 0, trades: int = 6) -> Path:
    """A small momentum bot.log (UTC): start with a peak reset, signals, orders, balances."""
    rng = random.Random(seed)
    t = datetime(2026, 1, 15, 0, 0, 2, 114000)
    clock = _Clock()
    lg = "momentum_bot_v12"
    balance = 118.40
    lines = [
        f"{clock.fmt(t)} [INFO] {lg}: Bot started (pid=48211, version=v12)\n",
        f"{clock.fmt(t + timedelta(milliseconds=26))} [WARNING] {lg}: peak_balance missing or invalid in state file; "
        f"resetting peak to current balance {balance:.2f}\n",
        f"{clock.fmt(t + timedelta(milliseconds=27))} [INFO] {lg}: State loaded: balance={balance:.2f} "
        f"peak_balance={balance:.2f} consecutive_losses=0\n",
    ]
    window = 1768435200 + 900        # 2026-01-15 00:15 UTC
    for i in range(trades):
        w = window + 900 * i
        t = datetime(2026, 1, 15, 0, 0, 0) + timedelta(seconds=w - 1768435200 - 8 + rng.randint(0, 3))
        asset = rng.choice(["BTC", "ETH", "SOL", "XRP"])
        direction = rng.choice(["UP", "DOWN"])
        price = round(rng.uniform(0.20, 0.48), 2)
        cost = 5.00
        size = round(cost / price, 2)
        slug = f"{asset.lower()}-updown-15m-{w}"
        tid = 17 + i
        lines += [
            f"{clock.fmt(t)} [INFO] {lg}: ML signal: asset={asset} direction={direction} prob={rng.uniform(0.55, 0.7):.2f} "
            f"confidence={rng.uniform(0.5, 0.65):.2f} model=ml_random_forest market={slug}\n",
            f"{clock.fmt(t + timedelta(milliseconds=108))} [INFO] {lg}: Placing order: trade_id={tid} market={slug} "
            f"outcome={'Up' if direction == 'UP' else 'Down'} side=BUY price={price:.2f} size={size:.2f} cost={cost:.2f}\n",
            f"{clock.fmt(t + timedelta(milliseconds=830))} [INFO] {lg}: Order placed: trade_id={tid} "
            f"order_id=0x{rng.getrandbits(64):016x} status=matched\n",
        ]
        balance = round(balance - cost, 2)
        peak = 118.40
        dd = (peak - balance) / peak * 100
        lines += [
            f"{clock.fmt(t + timedelta(seconds=1))} [INFO] {lg}: Balance: usdc={balance:.2f} peak={peak:.2f} drawdown={dd:.1f}%\n",
            f"{clock.fmt(t + timedelta(seconds=1, milliseconds=1))} [INFO] {lg}: Drawdown check: dd={dd:.1f}% "
            f"limit=30.0% -> {'OK' if dd < 30 else 'HALT'}\n",
        ]
    _write_stream(Path(path), iter(lines))
    return Path(path)
