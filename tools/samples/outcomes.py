"""Deterministic generator of TradeOutcome / HistorySnapshot files, for tests, benches and demos.

Same ``seed`` and ``n`` give byte-identical files (written with trading.records.outcome_schema's writers). The
data carries the patterns the postmortems describe, so questions have non-trivial answers: trades
placed against a WAIT advisory win less often, entries without a protective stop lose more when they
lose, and a share of Polymarket 15-minute crypto trades sits beside ES/MES/NQ futures.

    python -m tools.samples.outcomes OUT_DIR [--n 300] [--seed 7]

Raises only on I/O errors (files are written atomically).
"""
from __future__ import annotations

import math
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from trading.domain.models import Advisory, AdvisoryAction, Fill, Side, Signal
from trading.domain.reason_codes import ReasonCode
from trading.records.outcome_schema import (
    Candle,
    HistorySnapshot,
    RiskParams,
    TradeOutcome,
    VerdictRecord,
    write_outcome,
    write_snapshot,
)

START = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
FUTURES = {"ES": (50.0, 6850.0), "MES": (5.0, 6850.0), "NQ": (20.0, 25300.0)}
CRYPTO = ("BTC", "ETH", "SOL", "XRP")
QUARTER_CODE = {1: "H", 2: "M", 3: "U", 4: "Z"}
REGIMES = ("trend_up_low_vol", "trend_down_low_vol", "range_normal_vol", "range_high_vol", "trend_up_high_vol",
           "trend_down_high_vol", "range_low_vol")
# Win probabilities by advisory relation: the pattern the learning agent should find.
P_WIN = {"WAIT": 0.34, "agree": 0.58, "oppose": 0.42, "none": 0.48}


def _futures_symbol(root: str, ts: datetime) -> str:
    q = (ts.month - 1) // 3 + 1
    return f"{root}{QUARTER_CODE[q]}{ts.year % 10}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _candles(rng: random.Random, end_price: float, end: datetime, n: int, vol: float) -> list[Candle]:
    """A random walk that ends at ``end_price`` (one-minute bars, oldest first)."""
    closes = [end_price]
    for _ in range(n - 1):
        closes.append(closes[-1] * math.exp(-rng.gauss(0.0, vol)))
    closes.reverse()
    out = []
    for i, c in enumerate(closes):
        o = closes[i - 1] if i else c
        hi, lo = max(o, c) * (1 + abs(rng.gauss(0, vol / 3))), min(o, c) * (1 - abs(rng.gauss(0, vol / 3)))
        out.append(Candle(ts=end - timedelta(minutes=n - 1 - i), open=round(o, 4), high=round(hi, 4),
                          low=round(lo, 4), close=round(c, 4), volume=float(rng.randint(50, 5000))))
    return out


def generate(n: int = 300, seed: int = 7, start: datetime = START, snapshots: bool = True,
             candles: int = 30) -> Iterator[tuple[TradeOutcome, HistorySnapshot | None]]:
    """Yield ``n`` closed trades (and their entry snapshots), oldest first, fully determined by ``seed``."""
    rng = random.Random(seed)
    t = start
    for _ in range(n):
        t = t + timedelta(minutes=rng.randint(3, 15), seconds=rng.randint(0, 59))
        cid = _uuid(rng)
        crypto = rng.random() < 0.35
        regime = rng.choice(REGIMES)
        vol = {"low_vol": 0.0006, "normal_vol": 0.0012, "high_vol": 0.0025}[regime.rsplit("_", 2)[-2] + "_vol"]
        features = {"ret_1": round(rng.gauss(0, vol), 6), "ret_5": round(rng.gauss(0, vol * 2.2), 6),
                    "ret_15": round(rng.gauss(0, vol * 3.8), 6), "volatility": round(vol * rng.uniform(0.7, 1.3), 6)}
        r = rng.random()
        has_advisory = r < 0.95                               # 5% of cycles had no advisory at all
        adv_action: AdvisoryAction | None = AdvisoryAction.WAIT if r < 0.30 else None   # BUY/SELL set below
        codes: list[ReasonCode] = []
        if crypto:
            asset = rng.choice(CRYPTO)
            window = int(t.timestamp()) // 900 * 900
            symbol = f"{asset.lower()}-updown-15m-{window}"
            side = Side.BUY                                   # buying Up or Down shares
            direction = rng.choice(("UP", "DOWN"))
            label = f"ML_{direction}"
            venue, mult = "polymarket", 1.0
            entry = round(rng.uniform(0.2, 0.6), 2)
            qty = float(rng.randint(5, 25))
            stop = target = None                              # a binary share's worst case is its premium
        else:
            root = rng.choices(list(FUTURES), weights=(6, 2, 2))[0]
            mult, base = FUTURES[root]
            symbol = _futures_symbol(root, t)
            side = rng.choice((Side.BUY, Side.SELL))
            label = rng.choice(("SCALP_", "")) + side.value
            venue = rng.choice(("ib", "ib", "ib", "paper"))
            entry = round(base * math.exp(rng.gauss(0, 0.01)) * 4) / 4
            qty = float(rng.choice((1, 1, 1, 2)))
            protected = rng.random() < 0.85
            stop_pts, tgt_pts = rng.choice((4, 6, 8, 10)), rng.choice((6, 8, 12, 16))
            stop = entry - side.sign * stop_pts if protected else None
            target = entry + side.sign * tgt_pts if protected else None
            if not protected:
                codes.append(ReasonCode.MISSING_PROTECTION)
        if has_advisory and adv_action is None:
            agree = rng.random() < 0.7
            adv_action = AdvisoryAction(side.value if agree else side.opposite.value)
        if adv_action is AdvisoryAction.WAIT:
            codes.append(ReasonCode.AWS_WAIT)
            rel = "WAIT"
        elif adv_action is None:
            codes.append(ReasonCode.ADVISORY_MISSING)
            rel = "none"
        elif adv_action.value == side.value:
            rel = "agree"
        else:
            codes.append(ReasonCode.ADVISORY_CONFLICT)
            rel = "oppose"
        won = rng.random() < P_WIN[rel]
        hold = timedelta(minutes=rng.randint(2, 40), seconds=rng.randint(0, 59))
        if crypto:
            hold = timedelta(seconds=window + 900 - int(t.timestamp()) + rng.randint(5, 90))
            exit_price = 1.0 if won else 0.0
            gross = round(qty * (1 - entry), 2) if won else round(-qty * entry, 2)
            fees = 0.0
            exit_reason = "resolution"
        else:
            if won:
                pts = (target - entry) * side.sign if target else rng.choice((2, 4, 6, 8))
                exit_reason = "target" if target else "signal"
            else:
                pts = -((entry - stop) * side.sign if stop else rng.choice((6, 12, 20, 34)))
                exit_reason = "stop" if stop else "signal"
            exit_price = entry + side.sign * pts
            gross = round(pts * mult * qty, 2)
            fees = round(2.25 * 2 * qty, 2)
        pnl = round(gross - fees, 2)
        closed = t + hold
        conf = round(rng.uniform(0.3, 0.9), 2)
        signal = Signal(symbol=symbol, side=side, label=label, confidence=conf, price=entry, stop=stop,
                        target=target, ts=t, source="sample")
        advisory = (Advisory(action=adv_action, confidence=round(rng.uniform(0.45, 0.9), 2), ts=t, source="sample",
                             rationale=f"sample advisory {adv_action.value}") if adv_action else None)
        worst = round(abs(entry - stop) * mult * qty, 2) if stop is not None else None
        outcome = TradeOutcome(
            trade_cycle_id=cid, venue=venue, symbol=symbol, side=side.value, qty=qty, opened_at=t,
            closed_at=closed, entry_price=entry, exit_price=exit_price, pnl_usd=pnl, gross_pnl_usd=gross,
            fees_usd=fees, won=won, outcome_source="resolution" if crypto else "fills", exit_reason=exit_reason,
            signal=signal, advisory=advisory,
            verdicts=[VerdictRecord(ts=t, kind="entry", side=side.value, qty=qty, allowed=True,
                                    reason_codes=list(codes), judged_as="entry")],
            risk=RiskParams(max_loss_per_trade=1000.0, max_drawdown_pct=30.0, max_consecutive_losses=4,
                            stop=stop, target=target, worst_case_loss=worst),
            reason_codes=codes,
            fills=[Fill(exec_id=f"{cid[:8]}-in", order_id=f"{cid[:8]}-o1", symbol=symbol, side=side, qty=qty,
                        price=entry, ts=t, trade_cycle_id=cid),
                   Fill(exec_id=f"{cid[:8]}-out", order_id=f"{cid[:8]}-o2", symbol=symbol, side=side.opposite,
                        qty=qty, price=exit_price, ts=closed, trade_cycle_id=cid)],
            features=features, regime=regime)
        snap = None
        if snapshots:
            snap = HistorySnapshot(
                trade_cycle_id=cid, symbol=symbol, taken_at=t,
                candles=_candles(rng, entry if not crypto else 100.0 * (1 + entry), t, candles, vol),
                regime={"label": regime, "volatility": regime.rsplit("_", 2)[-2] + "_vol"})
        yield outcome, snap


def write_samples(data_dir: Path, n: int = 300, seed: int = 7, start: datetime = START,
                  snapshots: bool = True) -> list[TradeOutcome]:
    """Write ``n`` outcome files (and snapshot files) in the execution loop's layout under ``data_dir``."""
    outs = []
    for o, s in generate(n, seed, start, snapshots):
        write_outcome(data_dir, o)
        if s is not None:
            write_snapshot(data_dir, s, o.closed_at)
        outs.append(o)
    return outs


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    written = write_samples(a.out_dir, a.n, a.seed)
    print(f"wrote {len(written)} trade outcomes under {a.out_dir}", file=sys.stderr)
