"""The ES demo bundle (seed 000), written in the ``mytrader`` format: bot.log, events.jsonl, candles.

``write_es_bundle`` writes seed 000's ES morning: a normal bracketed trade, a short whose stop fills while
the bot still believes it is short, a SCALP_BUY with non-positive levels, a WAIT advisory treated as
advisory-only, the "exit" BUY that opens a naked long without SL/TP, the SELL 41 minutes later, IB's
stale realizedPNL and the missing trade id. ``ESScenario`` switches each flaw off for tests. Same
scenario, same bytes; raises only on I/O errors.
"""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from tools.samples.polymarket_market import iso
from trading.records.atomic import atomic_write_bytes


@dataclass(frozen=True)
class ESScenario:
    seed: int = 20251212
    naked_exit: bool = True          # the stop fills first, then the "exit" BUY opens a naked long
    wait_ignored: bool = True
    stale_pnl: bool = True
    lost_trade_id: bool = True
    heartbeat_gap_min: int = 6
    candles: bool = True
    events: bool = True
    noise_mb: float = 0.0            # benchmarks: quotes dense enough for a log of about this size


def write_es_bundle(root: str | Path, sc: ESScenario | None = None) -> Path:
    sc = sc or ESScenario()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sc.seed)
    zone = ZoneInfo("America/Chicago")
    day = datetime(2025, 12, 12, tzinfo=zone)

    def T(hms: str, plus_ms: int = 0) -> float:
        h, m, s = hms.split(":")
        return (day + timedelta(hours=int(h), minutes=int(m), seconds=float(s), milliseconds=plus_ms)).timestamp()

    # price path through the seed's anchors (CST)
    anchors = [("06:55:00", 6868.0), ("07:05:00", 6871.25), ("07:38:00", 6887.5), ("08:12:00", 6880.0),
               ("08:49:50", 6889.5), ("08:53:00", 6890.25), ("09:10:00", 6874.0), ("09:35:00", 6857.0),
               ("10:05:00", 6861.0)]
    at = np.array([T(a) for a, _ in anchors])
    av = np.array([v for _, v in anchors])
    t0, t1 = at[0], at[-1]
    step = 2.0 if sc.noise_mb <= 0 else max(0.002, (t1 - t0) * 118 / (sc.noise_mb * 1e6))
    grid = np.arange(t0, t1, step)
    hb_every = max(1, int(round(10.0 / step)))
    noise = np.cumsum(rng.normal(0, 0.35 * math.sqrt(step / 2.0), len(grid)))
    noise -= np.interp(grid, at, np.interp(at, grid, noise))        # pin the noise to zero at the anchors
    px = np.round((np.interp(grid, at, av) + noise) * 4) / 4

    lines: list[tuple[float, int, str]] = []
    seq = [0]

    def log(ts: float, logger: str, level: str, msg: str) -> None:
        seq[0] += 1
        d = datetime.fromtimestamp(ts, zone)
        lines.append((ts, seq[0], d.strftime("%Y-%m-%d %H:%M:%S,") + f"{d.microsecond // 1000:03d} - {logger} - "
                      f"{level} - {msg}"))

    S, A, M, X, AL, RAG = ("mytrader.strategies.hybrid", "mytrader.aws.decision_agent",
                           "mytrader.execution.live_trading_manager", "mytrader.execution.ib_executor",
                           "mytrader.monitoring.alerts", "mytrader.rag.pipeline_integration")
    gap0 = T("09:50:00")
    for i, (ts, p) in enumerate(zip(grid, px)):
        if sc.heartbeat_gap_min and gap0 <= ts < gap0 + 60 * sc.heartbeat_gap_min:
            continue                      # the bot's process stalls: no quotes, no heartbeats
        log(ts + 0.87 * step / 2, "mytrader.data.stream", "DEBUG",
            f"Market data: ESZ5 bid={p - 0.25:.2f} ask={p:.2f} last={p:.2f} volume={300 + (i * 37) % 400}")
        if i % hb_every == 0:
            log(ts + 0.1 * step / 2, X, "INFO", f"Heartbeat: connected=True latency_ms={9 + (i // hb_every) % 7}")
    events: list[dict] = []

    def ev(ts: float, name: str, cyc: str | None, **payload: object) -> None:
        d = {"ts": datetime.fromtimestamp(ts, UTC).isoformat(), "event": name, "trade_cycle_id": cyc, **payload}
        events.append(d)
        log(ts, M, "INFO", "EVENT " + json.dumps(d, separators=(",", ":")))

    def bracket_entry(at: str, cyc: str, side: str, conf: float, advisory: str, signal_px: float, entry: float,
                      stop: float, target: float, oid: int, exec_id: str, avg_cost: float) -> None:
        """A SCALP entry with its bracket: signal, advisory, entry + target + stop orders, the entry fill."""
        other = "SELL" if side == "BUY" else "BUY"
        log(T(at), S, "INFO", f"Hybrid pipeline emitted SCALP_{side} @ {conf:.2f} confidence (price={signal_px:.2f}, "
            f"stop={stop:.2f}, target={target:.2f})")
        log(T(at, 132), A, "INFO", f"AWS Decision Agent returned {advisory}")
        ev(T(at, 134), "signal", cyc, signal=f"SCALP_{side}", confidence=conf)
        log(T(at, 140), M, "INFO", f"Placing entry order: {side} 1 ESZ5 @ {entry:.2f} (SL={stop:.2f}, TP={target:.2f})")
        log(T(at, 231), X, "INFO", f"Order submitted: orderId={oid} action={side} qty=1 symbol=ESZ5 type=LMT "
            f"lmtPrice={entry:.2f} trade_cycle_id={cyc}")
        log(T(at, 232), X, "INFO", f"Order submitted: orderId={oid + 1} action={other} qty=1 symbol=ESZ5 type=LMT "
            f"lmtPrice={target:.2f} parentId={oid} trade_cycle_id={cyc}")
        log(T(at, 233), X, "INFO", f"Order submitted: orderId={oid + 2} action={other} qty=1 symbol=ESZ5 type=STP "
            f"auxPrice={stop:.2f} parentId={oid} trade_cycle_id={cyc}")
        log(T(at, 1684), X, "INFO", f"Order filled: orderId={oid} action={side} qty=1 avgPrice={entry:.2f} "
            f"trade_cycle_id={cyc}")
        log(T(at, 1690), X, "INFO", f"Commission report: execId=0000e0d5.{exec_id}.01.01 orderId={oid} "
            "commission=2.25 realizedPNL=None")
        log(T(at, 1740), X, "INFO", f"Position update: ESZ5 position={1 if side == 'BUY' else -1} avgCost={avg_cost}")

    def bracket_exit(at: str, cyc: str, oid: int, side: str, price: float, exec_id: str, pnl: str,
                     cancelled: int) -> None:
        """A bracket child fills: its fill, IB's commission report, the flat position, its OCA sibling cancelled."""
        log(T(at), X, "INFO", f"Order filled: orderId={oid} action={side} qty=1 avgPrice={price:.2f} "
            f"trade_cycle_id={cyc}")
        log(T(at, 7), X, "INFO", f"Commission report: execId=0000e0d5.{exec_id}.01.01 orderId={oid} "
            f"commission=2.25 realizedPNL={pnl}")
        log(T(at, 52), X, "INFO", "Position update: ESZ5 position=0 avgCost=0.0")
        log(T(at, 93), X, "INFO", f"Order cancelled: orderId={cancelled} reason=OCA group filled")

    # trade A: a normal bracketed long that hits its target
    ca = str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | 0xA))
    bracket_entry("07:05:00.870", ca, "BUY", 0.64, "BUY (71%) - higher lows, volume confirming", 6871.25, 6871.25,
                  6863.25, 6887.25, 14601, "6575a001", 343562.5)
    ev(T("07:05:02.620"), "fill", ca, order_id=14601, price=6871.25)
    bracket_exit("07:38:00.208", ca, 14602, "SELL", 6887.25, "6575a002", "795.50", 14603)
    ev(T("07:38:00.320"), "trade_closed", ca, pnl=795.5, exit_order_id=14602)

    # trade B: the seed's short, stopped out at 08:49
    cb = str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | 0xB))
    bracket_entry("08:12:39.870", cb, "SELL", 0.52, "SELL (64%) - lower highs into the open", 6880.00, 6879.75,
                  6889.75, 6859.75, 14731, "6575b001", 343987.5)
    believed = 0
    if sc.naked_exit:
        bracket_exit("08:49:57.208", cb, 14733, "BUY", 6890.00, "6575b003", "-517.00", 14732)
        ev(T("08:49:57.320"), "trade_closed", cb, pnl=-517.0, exit_order_id=14733)
        believed = -1               # the bot never noticed the stop fill
    log(T("08:53:01.004"), S, "INFO", "Hybrid pipeline emitted SCALP_BUY @ 0.36 confidence (price=6890.25, "
        "stop=0.00, target=0.00)")
    log(T("08:53:01.006"), S, "WARNING", "Hybrid pipeline produced non-positive protective levels (stop=0.00, "
        "target=0.00)")
    log(T("08:53:13.220"), A, "INFO", "AWS Decision Agent returned WAIT (50%) - momentum fading, no edge")
    if sc.wait_ignored:
        log(T("08:53:13.221"), M, "INFO", "WAIT advisory only - not blocking trade (confidence 0.36 -> 0.18)")
        log(T("08:53:13.222"), M, "INFO", f"HYBRID EXIT: SCALP_BUY signal while position={believed or -1} ESZ5")
        log(T("08:53:13.224"), M, "INFO", "Placing exit order: BUY 1 ESZ5 (SL=None, TP=None)")
        log(T("08:53:13.301"), X, "INFO", "Order submitted: orderId=14812 action=BUY qty=1 symbol=ESZ5 type=MKT")
        log(T("08:53:20.450"), X, "INFO", "Order filled: orderId=14812 action=BUY qty=1 avgPrice=6890.50")
        log(T("08:53:20.456"), X, "INFO", "Commission report: execId=0000e0d5.6575c001.01.01 orderId=14812 "
            "commission=2.25 realizedPNL=None" if sc.naked_exit else
            "Commission report: execId=0000e0d5.6575c001.01.01 orderId=14812 commission=2.25 realizedPNL=-542.00")
        if sc.naked_exit:
            log(T("08:53:20.512"), AL, "INFO", "Telegram alert: Position opened LONG 1 ESZ5 @ 6890.50 SL=None, TP=None")
            log(T("08:53:20.640"), X, "INFO", "Position update: ESZ5 position=1 avgCost=344525.0")
        else:
            log(T("08:53:20.640"), X, "INFO", "Position update: ESZ5 position=0 avgCost=0.0")
        # 08:53-09:34: the pipeline keeps producing bad levels and WAITs, the bot keeps going
        t = T("08:56:00")
        while t < T("09:34:00"):
            log(t + 0.9, S, "INFO", "Hybrid pipeline emitted HOLD @ 0.22 confidence (price=None, stop=0.00, "
                "target=0.00)")
            log(t + 0.91, S, "WARNING", "Hybrid pipeline produced non-positive protective levels (stop=0.00, "
                "target=0.00)")
            log(t + 2.4, A, "INFO", "AWS Decision Agent returned WAIT (55%) - no edge")
            t += 180
        if sc.naked_exit:
            log(T("09:35:04.118"), S, "INFO", "Hybrid pipeline emitted SCALP_SELL @ 0.41 confidence (price=6857.00, "
                "stop=6866.00, target=6840.00)")
            log(T("09:35:04.120"), M, "INFO", "HYBRID EXIT: SCALP_SELL signal while position=1 ESZ5")
            log(T("09:35:04.121"), M, "INFO", "Placing exit order: SELL 1 ESZ5 (SL=None, TP=None)")
            log(T("09:35:10.002"), X, "INFO", "Order submitted: orderId=15638 action=SELL qty=1 symbol=ESZ5 type=MKT")
            log(T("09:35:22.310"), X, "INFO", "Order filled: orderId=15638 action=SELL qty=1 avgPrice=6856.50")
            pnl = "-592.00" if sc.stale_pnl else "-1704.50"
            log(T("09:35:22.355"), X, "INFO", f"Commission report: execId=0000e0d5.6575f1a2.01.01 orderId=15638 "
                f"commission=2.25 realizedPNL={pnl}")
            if sc.lost_trade_id:
                log(T("09:35:22.401"), RAG, "WARNING", "No current trade ID for exit logging")
            log(T("09:35:22.402"), X, "INFO", "Position update: ESZ5 position=0 avgCost=0.0")
    else:
        log(T("08:53:13.221"), M, "INFO", "Signal skipped: WAIT advisory blocks entries")

    lines.sort()
    atomic_write_bytes(root / "bot.log", ("\n".join(s for _, _, s in lines) + "\n").encode())
    if sc.events:
        atomic_write_bytes(root / "events.jsonl", ("\n".join(json.dumps(e) for e in events) + "\n").encode())
    if sc.candles:
        n = int((t1 - t0) // 60)
        rows = ["timestamp,open,high,low,close,volume"]
        for k in range(n):
            seg = px[(grid >= t0 + 60 * k) & (grid < t0 + 60 * (k + 1))]
            if len(seg) == 0:
                continue
            rows.append(f"{iso(t0 + 60 * k)},{seg[0]:.2f},{seg.max():.2f},{seg.min():.2f},{seg[-1]:.2f},{len(seg) * 40}")
        atomic_write_bytes(root / "candles" / "ES-1m.csv", ("\n".join(rows) + "\n").encode())
    return root
