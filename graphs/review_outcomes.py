"""The review's reconstructed outcomes as outcome JSON, so the learning memory can ingest them.

The forensics step recovers outcomes the bot never recorded (from resolution lines, candles, fills or
an API). ``write_reconstructed`` writes each one the bot did not record as a ``TradeOutcome``
(trading/records/outcome_schema.py) with ``outcome_source = "review"`` (the evidence it came from is in
``exit_reason``, e.g. ``resolution_log``) under ``<out>/reconstructed_outcomes/``; ``warden ingest
<that folder>`` puts them into the memory, marked with their source.

Failure contract: a trade that cannot form a valid outcome (no entry time, no PnL) is skipped and
counted, never guessed; ``OSError`` when a file cannot be written (atomic writes, idempotent: the same
review writes the same bytes).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trading.records.atomic import atomic_write_json
from trading.records.outcome_schema import TradeOutcome

FOLDER = "reconstructed_outcomes"


@dataclass
class Exported:
    folder: Path
    written: int
    skipped: int


def _outcome(t: Any, kind: str) -> TradeOutcome:
    poly = kind == "polymarket"
    side = "SELL" if str(t.outcome).upper() == "SHORT" else "BUY"
    closed = t.exit_time or t.resolved_at or t.window_end or t.entry_time
    exit_px = t.exit_price if t.exit_price is not None else ((1.0 if t.won else 0.0) if poly else None)
    if exit_px is None or t.price is None or t.entry_time is None:
        raise ValueError(f"trade {t.trade_id}: no entry or exit price / time to form an outcome")
    return TradeOutcome(
        trade_cycle_id=str(t.trade_id), venue="polymarket" if poly else "ib", symbol=str(t.market), side=side,
        qty=float(t.size or 1.0), opened_at=t.entry_time, closed_at=closed, entry_price=t.price,
        exit_price=exit_px, pnl_usd=float(t.pnl), gross_pnl_usd=float(t.pnl) + float(t.fees or 0.0),
        fees_usd=float(t.fees or 0.0), won=bool(t.won), outcome_source="review", exit_reason=str(t.source))


def write_reconstructed(trades: Iterable[Any], kind: str, out: Path) -> Exported:
    """Write the outcomes this review reconstructed (not recorded by the bot) as outcome JSON files."""
    folder = Path(out) / FOLDER
    written = skipped = 0
    for t in trades:
        if t.failed or t.recorded or t.won is None or t.pnl is None or t.source in ("unresolved", "journal"):
            continue
        try:
            o = _outcome(t, kind)
        except (ValidationError, TypeError, ValueError):
            skipped += 1
            continue
        name = o.trade_cycle_id.replace("/", "_").replace("\\", "_")
        atomic_write_json(folder / f"{name}.json", o.model_dump(mode="json"))
        written += 1
    return Exported(folder, written, skipped)
