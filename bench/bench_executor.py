"""Benchmark the guarded executor and the paper loop; run as ``python bench/bench_executor.py``.

Figures (all measured in this process, ratios against a baseline run here too):
1. submit(): guards + telemetry + journal + paper bracket, per call, vs the bare paper ``place_bracket``.
2. A full paper session (signals, advice, guards, journal, reconcile, outcomes, learning files) in
   bars/s, vs the bare paper broker + the same signal rule with no guards, journal or files.
3. Candle reading in rows/s (a generated CSV; plus a real 30k-row export when ../shared/data exists).
"""
from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trading.brokers.base import BracketRequest  # noqa: E402
from trading.brokers.paper import PaperBroker  # noqa: E402
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side  # noqa: E402
from trading.execution.executor import GuardedExecutor  # noqa: E402
from trading.execution.wiring import open_session  # noqa: E402
from trading.market.candles import Bar, read_candles  # noqa: E402
from trading.market.signals import BreakoutSignals, SignalContext  # noqa: E402
from trading.records.journal import Journal  # noqa: E402
from trading.records.risk_ledger import RiskLedger  # noqa: E402
from trading.records.telemetry import EventLog  # noqa: E402
from trading.settings import GuardConfig, Settings  # noqa: E402

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)


def bars(n: int, seed: int = 4) -> list[Bar]:
    r = random.Random(seed)
    px, out, drift = 5000.0, [], 0.0
    for i in range(n):
        if i % 100 == 0:
            drift = r.choice([-0.5, -0.25, 0.0, 0.25, 0.5])
        o = px
        c = o + drift + r.gauss(0, 1.0)
        q = lambda x: round(x * 4) / 4  # noqa: E731
        out.append(Bar(T0 + timedelta(minutes=i), q(o), q(max(o, c) + abs(r.gauss(0, 0.5))),
                       q(min(o, c) - abs(r.gauss(0, 0.5))), q(c), r.randint(100, 1000)))
        px = c
    return out


def bench_submit(n: int = 300) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        cfg = GuardConfig(max_orders_per_minute=10_000, max_position_qty=1e9)
        broker = PaperBroker()
        now = {"t": T0}
        ex = GuardedExecutor(broker, RiskLedger(root / "l.jsonl", cfg), EventLog(root / "e.jsonl"),
                             Journal(root / "j.db"), cfg, clock=lambda: now["t"], read_timeout_s=None)
        broker.on_bar("ES", bars(1)[0])
        lat = []
        for i in range(n):
            now["t"] = T0 + timedelta(seconds=i)
            adv = Advisory(action=AdvisoryAction.BUY, confidence=0.7, ts=now["t"])
            it = OrderIntent(kind=IntentKind.ENTRY, side=Side.BUY, qty=1, symbol="ES", price=5000, stop=4995,
                             target=5010, signal_confidence=0.7)
            t = time.perf_counter()
            res = ex.submit(it, adv)
            lat.append(time.perf_counter() - t)
            assert res.sent, res.reason_codes
        base = PaperBroker()
        blat = []
        for i in range(n):
            req = BracketRequest(trade_cycle_id=str(i), symbol="ES", side=Side.BUY, qty=1, stop_price=4995,
                                 target_price=5010)
            t = time.perf_counter()
            base.place_bracket(req)
            blat.append(time.perf_counter() - t)
        g, b = statistics.median(lat) * 1e3, statistics.median(blat) * 1e3
        p95 = sorted(lat)[int(0.95 * n)] * 1e3
        print(f"submit (journal synchronous=FULL): median {g:.2f} ms, p95 {p95:.2f} ms; bare paper bracket "
              f"{b:.3f} ms; ratio {g / b:.0f}x")


def bench_session(n: int = 3000) -> None:
    data = bars(n)
    with tempfile.TemporaryDirectory() as d:
        s = Settings(data_dir=Path(d))
        session, _ = open_session(s, PaperBroker(), symbol="ES")
        t = time.perf_counter()
        summary = session.run(data, flatten_at_end=True)
        full = time.perf_counter() - t
    # baseline: the same rule and fills with no guards, journal, telemetry, reconcile or files
    broker, rule, t = PaperBroker(), BreakoutSignals(), time.perf_counter()
    recent: list[Bar] = []
    pos_side = None
    for i, b in enumerate(data):
        broker.on_bar("ES", b)
        recent = (recent + [b])[-300:]
        live = broker.positions()
        pos = live[0].qty if live else 0.0
        if not live:
            pos_side = None
        sig = rule(recent, SignalContext("ES", b.ts, pos))
        if sig and sig.side and not pos and pos_side is None and not broker.open_orders():
            broker.place_bracket(BracketRequest(trade_cycle_id=str(i), symbol="ES", side=sig.side, qty=1,
                                                stop_price=sig.stop, target_price=sig.target))
            pos_side = sig.side
    bare = time.perf_counter() - t
    print(f"paper session: {n} bars, {summary.trades} trades closed, {summary.blocked_orders} blocked; "
          f"{n / full:,.0f} bars/s guarded vs {n / bare:,.0f} bars/s bare (ratio {full / bare:.1f}x slower); "
          f"{full / max(1, summary.trades) * 1e3:.1f} ms of session time per closed trade")


def bench_candles() -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.csv"
        data = bars(50_000)
        with p.open("w") as fh:
            fh.write("timestamp,open,high,low,close,volume\n")
            for b in data:
                fh.write(f"{b.ts.isoformat()},{b.open},{b.high},{b.low},{b.close},{b.volume}\n")
        t = time.perf_counter()
        s = read_candles(p)
        el = time.perf_counter() - t
        print(f"candles: {len(s):,} ISO rows in {el:.2f} s ({len(s) / el:,.0f} rows/s)")
    real = Path(__file__).resolve().parents[2] / "shared" / "data" / \
        "A1_binanceus_btc_1m_2023-03_svb_usdc_depeg" / "BTCUSD_1m_20230301_20230321.csv"
    if real.is_file():
        t = time.perf_counter()
        s = read_candles(real)
        el = time.perf_counter() - t
        print(f"candles: real export {real.name}: {len(s):,} rows in {el:.2f} s ({len(s) / el:,.0f} rows/s)")


if __name__ == "__main__":
    bench_submit()
    bench_session()
    bench_candles()
