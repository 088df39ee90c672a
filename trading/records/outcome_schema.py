"""Versioned schema of the learning artefacts written on every trade close.

``rag_data/training/trade_outcomes/<date>/<trade_cycle_id>.json`` holds a ``TradeOutcome``;
``rag_data/history_snapshots/<date>/<trade_cycle_id>.json`` holds a ``HistorySnapshot``. The RAG
ingestion reads both; bump ``SCHEMA_VERSION`` (and keep a reader for the old one) on any change.

Failure contract: the models raise pydantic's ValidationError on fields they refuse (extra fields
included); ``write_outcome`` / ``write_snapshot`` raise OSError when the atomic write fails.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from trading.domain.models import Advisory, Fill, Signal
from trading.domain.reason_codes import ReasonCode
from trading.records.atomic import atomic_write_json

SCHEMA_VERSION: Final = 1


class VerdictRecord(BaseModel):
    ts: datetime
    kind: str                        # entry | exit | protective
    side: str
    qty: float
    allowed: bool
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    judged_as: str = ""


class RiskParams(BaseModel):
    max_loss_per_trade: float
    max_drawdown_pct: float
    max_consecutive_losses: int
    stop: float | None = None
    target: float | None = None
    worst_case_loss: float | None = None


class TradeOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    trade_cycle_id: str
    venue: str                       # paper | ib | polymarket
    symbol: str
    side: str                        # BUY (long) | SELL (short)
    qty: float
    opened_at: datetime
    closed_at: datetime
    entry_price: float
    exit_price: float
    pnl_usd: float                   # net of fees, from fills
    gross_pnl_usd: float
    fees_usd: float = 0.0
    won: bool
    outcome_source: str = "fills"    # fills | resolution | candles | api
    exit_reason: str = ""            # stop | target | signal | manual | resolution
    signal: Signal | None = None
    advisory: Advisory | None = None
    verdicts: list[VerdictRecord] = Field(default_factory=list)
    risk: RiskParams | None = None
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    fills: list[Fill] = Field(default_factory=list)
    features: dict[str, float] = Field(default_factory=dict)   # returns, volatility, ... at entry
    regime: str = ""                 # e.g. trend_low_vol, mean_revert_high_vol


class Candle(BaseModel):
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


class HistorySnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    trade_cycle_id: str
    symbol: str
    taken_at: datetime
    candles: list[Candle] = Field(default_factory=list)   # the recent stack up to the entry
    regime: dict[str, Any] = Field(default_factory=dict)  # volatility, trend, hurst, labels


def outcome_path(data_dir: Path, outcome: TradeOutcome) -> Path:
    return Path(data_dir) / "training" / "trade_outcomes" / outcome.closed_at.date().isoformat() / \
        f"{outcome.trade_cycle_id}.json"


def snapshot_path(data_dir: Path, snap: HistorySnapshot, day: datetime) -> Path:
    return Path(data_dir) / "history_snapshots" / day.date().isoformat() / f"{snap.trade_cycle_id}.json"


def artefact_paths(data_dir: Path, trade_cycle_id: str, closed_at: datetime) -> tuple[Path, Path]:
    """Where a closed trade's outcome file and history snapshot live (both dated by the close)."""
    day = closed_at.date().isoformat()
    return (Path(data_dir) / "training" / "trade_outcomes" / day / f"{trade_cycle_id}.json",
            Path(data_dir) / "history_snapshots" / day / f"{trade_cycle_id}.json")


def write_outcome(data_dir: Path, outcome: TradeOutcome) -> tuple[Path, bool]:
    """Atomic and idempotent: the same outcome twice is one file with the same content."""
    p = outcome_path(data_dir, outcome)
    return p, atomic_write_json(p, outcome.model_dump(mode="json"))


def write_snapshot(data_dir: Path, snap: HistorySnapshot, day: datetime) -> tuple[Path, bool]:
    p = snapshot_path(data_dir, snap, day)
    return p, atomic_write_json(p, snap.model_dump(mode="json"))
