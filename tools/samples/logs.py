"""Deterministic sample logs: the seed-000 `mytrader` scenario (and a small `momentum` bot.log).

Used by tests, benches and ``warden sample-log``. Same arguments, same bytes. Padding is realistic
noise (quotes, heartbeats, feature/bar chatter, a traceback now and then), spread over the trading
day so timestamps stay monotonic whatever the target size.

Raises only on I/O errors; a log is written through a temp file and renamed, never half-written.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
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


_HY, _AWS, _LTM, _IB = ("mytrader.strategies.hybrid", "mytrader.aws.decision_agent",
                        "mytrader.execution.live_trading_manager", "mytrader.execution.ib_executor")
_CYCLE = "5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01"
_Line = tuple[str, str, str, str]      # (HH:MM:SS.mmm, logger, level, message)


def _bracket_entry(at: Sequence[str], signal: str, side: str, px: str, entry: str, stop: str, target: str,
                   advisory: str, oid: int, avg_cost: str, cycle: str = "", commission_exec: str = "") -> list[_Line]:
    """A protected entry: signal, advisory, the entry order and its two bracket children, the fill, [IB's
    commission report,] the position. ``at`` holds one time per line, in that order."""
    other = "BUY" if side == "SELL" else "SELL"
    tag = f" trade_cycle_id={cycle}" if cycle else ""
    lines = [
        (_HY, "INFO", f"Hybrid pipeline emitted {signal} confidence (price={px}, stop={stop}, target={target})"),
        (_AWS, "INFO", f"AWS Decision Agent returned {advisory}"),
        (_LTM, "INFO", f"Placing entry order: {side} 1 {_SYMBOL} @ {entry} (SL={stop}, TP={target})"),
        (_IB, "INFO", f"Order submitted: orderId={oid} action={side} qty=1 symbol={_SYMBOL} type=LMT lmtPrice={entry}{tag}"),
        (_IB, "INFO", f"Order submitted: orderId={oid + 1} action={other} qty=1 symbol={_SYMBOL} type=LMT "
                      f"lmtPrice={target} parentId={oid}{tag}"),
        (_IB, "INFO", f"Order submitted: orderId={oid + 2} action={other} qty=1 symbol={_SYMBOL} type=STP "
                      f"auxPrice={stop} parentId={oid}{tag}"),
        (_IB, "INFO", f"Order filled: orderId={oid} action={side} qty=1 avgPrice={entry}{tag}"),
    ]
    if commission_exec:
        lines.append((_IB, "INFO", f"Commission report: execId=0000e0d5.{commission_exec}.01.01 orderId={oid} "
                                   "commission=2.25 realizedPNL=None"))
    lines.append((_IB, "INFO", f"Position update: {_SYMBOL} position={1 if side == 'BUY' else -1} avgCost={avg_cost}"))
    return [(t, lg, lv, msg) for t, (lg, lv, msg) in zip(at, lines, strict=True)]


def _bracket_exit(at: Sequence[str], oid: int, side: str, price: str, cancelled: int, cycle: str = "",
                  commission: tuple[str, str] | None = None) -> list[_Line]:
    """A bracket child fills: the fill, [IB's commission report (exec id, realized PnL),] the flat position,
    its OCA sibling cancelled. ``at`` holds one time per line, in that order."""
    tag = f" trade_cycle_id={cycle}" if cycle else ""
    lines = [(_IB, "INFO", f"Order filled: orderId={oid} action={side} qty=1 avgPrice={price}{tag}")]
    if commission is not None:
        lines.append((_IB, "INFO", f"Commission report: execId=0000e0d5.{commission[0]}.01.01 orderId={oid} "
                                   f"commission=2.25 realizedPNL={commission[1]}"))
    lines += [(_IB, "INFO", f"Position update: {_SYMBOL} position=0 avgCost=0.0"),
              (_IB, "INFO", f"Order cancelled: orderId={cancelled} reason=OCA group filled")]
    return [(t, lg, lv, msg) for t, (lg, lv, msg) in zip(at, lines, strict=True)]


def _mytrader_scenario() -> list[tuple[datetime, str, str, str]]:
    """(time, logger, level, message) of the seed-000 day: the incident plus two normal trades."""
    hy, aws, ltm, ib = _HY, _AWS, _LTM, _IB
    S = _SYMBOL
    ev: list[tuple[str, str, str, str]] = [
        # the bot connects and IB reports the (flat) book
        ("07:30:00.000", ib, "INFO", f"Position update: {S} position=0 avgCost=0.0"),
        # 08:12 a normal short entry with a bracket; its stop child fills at 08:49 -> live flat
        *_bracket_entry(("08:12:39.870", "08:12:40.002", "08:12:40.010", "08:12:40.101", "08:12:40.102", "08:12:40.103",
                         "08:12:41.554", "08:12:41.610"), "SCALP_SELL @ 0.52", "SELL", "6880.00", "6879.75", "6889.75",
                        "6859.75", "SELL (64%) - lower highs into the open", 14731, "343987.5"),
        *_bracket_exit(("08:49:57.208", "08:49:57.260", "08:49:57.301"), 14733, "BUY", "6890.00", 14732),
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
        *_bracket_entry(("10:05:00.200", "10:05:00.410", "10:05:00.420", "10:05:00.501", "10:05:00.502", "10:05:00.503",
                         "10:05:01.880", "10:05:01.900", "10:05:01.950"), "BUY @ 0.71", "BUY", "6861.00", "6861.25",
                        "6855.25", "6873.25", "BUY (72%) - higher lows, volume up", 16001, "343062.5", cycle=_CYCLE,
                        commission_exec="6575f1b7"),
        ("10:05:02.000", ltm, "INFO", 'EVENT {"event": "order_filled", "trade_cycle_id": "5f1c6a0e-0b7e-4d0c-9a51-3c2f1d7e8a01", "order_id": 16001}'),
        *_bracket_exit(("10:41:17.090", "10:41:17.120", "10:41:17.150", "10:41:17.160"), 16002, "SELL", "6873.25", 16003,
                       cycle=_CYCLE, commission=("6575f1c2", "595.50")),
        # 13:20 a normal short whose stop fills: a small, protected loss
        *_bracket_entry(("13:20:30.000", "13:20:30.300", "13:20:30.310", "13:20:30.400", "13:20:30.401", "13:20:30.402",
                         "13:20:31.010", "13:20:31.040"), "SCALP_SELL @ 0.58", "SELL", "6868.50", "6868.50", "6872.50",
                        "6860.50", "SELL (61%)", 17101, "343425.0"),
        *_bracket_exit(("13:52:44.700", "13:52:44.730", "13:52:44.760", "13:52:44.790"), 17103, "BUY", "6872.75", 17102,
                       commission=("6575f1d9", "-214.75")),
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
