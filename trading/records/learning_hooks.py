"""Learning hooks: on every trade close, write the outcome and the market snapshot the RAG store ingests.

``<data_dir>/training/trade_outcomes/<date>/<trade_cycle_id>.json`` (``TradeOutcome``) and
``<data_dir>/history_snapshots/<date>/<trade_cycle_id>.json`` (``HistorySnapshot``), both dated by the
trade's close. Writes are atomic and idempotent (``trading.records.outcome_schema``): the content is built
only from the trade's own records and the bars closed by its decision time (no wall-clock time, no bar
that opened at or after the decision), so the same closed trade always yields the same bytes: a restart
that rewrites a missing file writes what the live run would have.

Failure contract: ``on_trade_close`` raises what the atomic write raises (OSError on a full or read-only
disk); the outcome resolver logs, counts and retries it, and the trade's outcome stays in the journal.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from trading.domain.models import Advisory, Fill, Signal
from trading.domain.reason_codes import ReasonCode
from trading.market.bars import true_ranges
from trading.market.candles import Bar
from trading.records.journal_records import OutcomeRecord, TradeRecord
from trading.records.outcome_schema import (
    Candle,
    HistorySnapshot,
    RiskParams,
    TradeOutcome,
    VerdictRecord,
    facts_for,
    write_outcome,
    write_snapshot,
)
from trading.settings import GuardConfig

History = Callable[[str, datetime], Sequence[Bar]]   # (symbol, up to) -> recent bars, oldest first


def regime_of(bars: Sequence[Bar]) -> tuple[dict[str, float], dict[str, Any]]:
    """Features and regime metadata of a candle stack (computed here, never by a model).

    - ``ret_pct``: close-to-close return over the stack; ``vol_pct``: std of bar log returns (%);
    - ``atr_pct``: mean true range / last close (%); ``efficiency``: |net move| / path length (0..1);
    - labels: trend_up / trend_down when efficiency >= 0.3 and the move exceeds 2 sigma-of-the-stack,
      else range; high_vol when the last quarter's vol is 1.5x the stack's, low_vol when under 0.67x.
    """
    if len(bars) < 3:
        return {}, {"label": "unknown", "bars": len(bars)}
    closes = [b.close for b in bars]
    rets = [math.log(b / a) for a, b in zip(closes, closes[1:]) if a > 0 and b > 0]
    n = len(rets)
    mean = sum(rets) / n if n else 0.0
    vol = math.sqrt(sum((r - mean) ** 2 for r in rets) / max(1, n - 1)) if n > 1 else 0.0
    trs = true_ranges(bars)
    atr = sum(trs) / len(trs)
    path = sum(abs(b - a) for a, b in zip(closes, closes[1:]))
    net = closes[-1] - closes[0]
    eff = abs(net) / path if path > 0 else 0.0
    tail = rets[-max(2, n // 4):]
    tmean = sum(tail) / len(tail)
    tvol = math.sqrt(sum((r - tmean) ** 2 for r in tail) / max(1, len(tail) - 1)) if len(tail) > 1 else 0.0
    total = math.log(closes[-1] / closes[0]) if closes[0] > 0 and closes[-1] > 0 else 0.0
    if eff >= 0.3 and abs(total) > 2 * vol * math.sqrt(n):
        trend = "trend_up" if net > 0 else "trend_down"
    else:
        trend = "range"
    ratio = tvol / vol if vol > 0 else 1.0
    volume_label = "high_vol" if ratio >= 1.5 else "low_vol" if ratio <= 0.67 else "normal_vol"
    feats = {"ret_pct": round(total * 100, 6), "vol_pct": round(vol * 100, 6),
             "atr_pct": round(atr / closes[-1] * 100, 6) if closes[-1] else 0.0,
             "efficiency": round(eff, 6), "recent_vol_ratio": round(ratio, 6)}
    meta = {"label": f"{trend}_{volume_label}", "trend": trend, "volatility": volume_label, "bars": len(bars),
            "from": bars[0].ts.isoformat(), "to": bars[-1].ts.isoformat(), **feats}
    return feats, meta


def closed_by(bars: Sequence[Bar], decision: datetime) -> list[Bar]:
    """The bars already closed at ``decision`` (open + the series' median spacing <= decision): a snapshot
    holds only what the decision could see, whatever later bars the history source has meanwhile."""
    if len(bars) < 2:
        return [b for b in bars if b.ts < decision]
    gaps = sorted(b.ts - a.ts for a, b in zip(bars, bars[1:]) if b.ts > a.ts)
    step = gaps[len(gaps) // 2] if gaps else None
    if step is None:
        return [b for b in bars if b.ts < decision]
    return [b for b in bars if b.ts + step <= decision]


class LearningHooks:
    def __init__(self, data_dir: str | Path, guards: GuardConfig, history: History | None = None,
                 window: int = 60) -> None:
        self.data_dir = Path(data_dir)
        self.guards = guards
        self.history = history
        self.window = window
        self.written = 0          # files whose content changed
        self.unchanged = 0        # idempotent re-writes

    def on_trade_close(self, trade: TradeRecord, outcome: OutcomeRecord, fills: list[Fill],
                       verdicts: list[dict[str, Any]]) -> tuple[Path, Path]:
        bars = closed_by(list(self.history(trade.symbol, trade.opened_at)), trade.opened_at)[-self.window:] \
            if self.history else []
        feats, meta = regime_of(bars)
        if not bars:
            meta = {"label": "unknown", "unavailable": f"no candle history for {trade.symbol} at entry"}
        signal = Signal.model_validate(trade.signal) if trade.signal else None
        advisory = Advisory.model_validate(trade.advisory) if trade.advisory else None
        codes: list[ReasonCode] = []
        vrecs = []
        for v in verdicts:
            rc = [ReasonCode(c) for c in v["reason_codes"]]
            codes += [c for c in rc if c not in codes]
            vrecs.append(VerdictRecord(ts=datetime.fromisoformat(v["ts"]), kind=v["kind"], side=v["side"],
                                       qty=v["qty"], allowed=v["allowed"], reason_codes=rc,
                                       judged_as=v["judged_as"]))
        risk = RiskParams(max_loss_per_trade=self.guards.max_loss_per_trade,
                          max_drawdown_pct=self.guards.max_drawdown_pct,
                          max_consecutive_losses=self.guards.max_consecutive_losses,
                          stop=trade.stop, target=trade.target,
                          worst_case_loss=(trade.risk or {}).get("worst_case_loss"))
        facts = facts_for(trade.symbol, trade.venue, trade.asset_class, trade.currency)   # the journal's, else the registry's
        features = dict(signal.features) if signal else {}
        features.update(feats)
        doc = TradeOutcome(
            trade_cycle_id=trade.trade_cycle_id, venue=trade.venue, symbol=trade.symbol, side=trade.side.value,
            asset_class=facts.asset_class, currency=facts.currency, multiplier=facts.multiplier,
            qty=outcome.qty if outcome.qty is not None else trade.qty, opened_at=trade.opened_at,
            closed_at=outcome.resolved_at,
            entry_price=outcome.entry_price if outcome.entry_price is not None else (trade.ref_price or 0.0),
            exit_price=outcome.exit_price if outcome.exit_price is not None else 0.0,
            pnl_usd=outcome.pnl, gross_pnl_usd=outcome.gross_pnl, fees_usd=outcome.fees, won=outcome.won,
            outcome_source=outcome.source, exit_reason=outcome.exit_reason, signal=signal, advisory=advisory,
            verdicts=vrecs, risk=risk, reason_codes=codes, fills=fills, features=features,
            regime=str(meta.get("label", "")))
        snap = HistorySnapshot(
            trade_cycle_id=trade.trade_cycle_id, symbol=trade.symbol, taken_at=trade.opened_at,
            candles=[Candle(ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume)
                     for b in bars], regime=meta)
        p1, c1 = write_outcome(self.data_dir, doc)
        p2, c2 = write_snapshot(self.data_dir, snap, outcome.resolved_at)
        for changed in (c1, c2):
            if changed:
                self.written += 1
            else:
                self.unchanged += 1
        return p1, p2
