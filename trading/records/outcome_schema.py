"""Versioned schema of the learning artefacts written on every trade close.

``rag_data/training/trade_outcomes/<date>/<trade_cycle_id>.json`` holds a ``TradeOutcome``;
``rag_data/history_snapshots/<date>/<trade_cycle_id>.json`` holds a ``HistorySnapshot``. The RAG
ingestion reads both; bump the version (and keep a reader for the old one) on any change.

Outcome versions: 1 had no instrument facts; 2 adds ``asset_class`` (the registry's class, or "unknown"),
``currency`` (what ``pnl_usd`` / ``gross_pnl_usd`` / ``fees_usd`` are counted in: the instrument's quote
currency, e.g. BTC for ETHBTC, JPY for USDJPY; the field names are kept from v1) and ``multiplier``. A v1
file, or a v2 record built without them, gets them from the symbol through the instrument registry
(``instrument_facts``), so reading an old file never fails and the result is a pure function of the trade.

Failure contract: the models raise pydantic's ValidationError on fields they refuse (extra fields
included); ``write_outcome`` / ``write_snapshot`` raise OSError when the atomic write fails;
``instrument_facts`` never raises (an unknown symbol is "unknown", USD, no multiplier).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trading.domain.instrument_table import CURRENCY_PATTERN, FX_CURRENCIES, USD_STABLES
from trading.domain.instruments import AssetClass, UnknownInstrument, resolve
from trading.domain.models import Advisory, Fill, Signal
from trading.domain.reason_codes import ReasonCode
from trading.records.atomic import atomic_write_json

OUTCOME_SCHEMA_VERSION: Final = 2
SNAPSHOT_SCHEMA_VERSION: Final = 1
SCHEMA_VERSION: Final = OUTCOME_SCHEMA_VERSION
READABLE_VERSIONS: Final = (1, 2)       # what a reader accepts in a file's schema_version
UNKNOWN_ASSET_CLASS: Final = "unknown"
OutcomeAssetClass = Literal[AssetClass, "unknown"]
POLYMARKET_CURRENCY: Final = "USDC"      # what a Polymarket share is bought and paid out in


def money_decimals(currency: str) -> int:
    """Decimals a PnL in ``currency`` keeps: 2 for USD, a USD stablecoin or a fiat currency; 8 for a coin
    (a 0.0019 BTC gain of an ETHBTC trade must not round to 0)."""
    c = (currency or "USD").strip().upper()
    return 2 if c in USD_STABLES or c in FX_CURRENCIES else 8


def same_money(currency: str) -> str:
    """The currency PnL is added in: USD stablecoins count as USD (the registry's rule), others as themselves."""
    c = (currency or "USD").strip().upper()
    return "USD" if c in USD_STABLES else c


class InstrumentFacts(BaseModel, frozen=True):
    asset_class: OutcomeAssetClass
    currency: str
    multiplier: float | None = None


def instrument_facts(symbol: str, venue: str = "") -> InstrumentFacts:
    """Asset class, PnL currency and multiplier of ``symbol`` from the instrument registry (with the user's
    ``[instruments.NAME]`` tables once configured). A Polymarket venue is a prediction share whatever its
    slug, in USDC; a symbol the registry does not know is "unknown" in USD (what v1 files assumed)."""
    try:
        spec = resolve(symbol)
    except UnknownInstrument:
        if venue.strip().lower() == "polymarket":
            return InstrumentFacts(asset_class="prediction", currency=POLYMARKET_CURRENCY, multiplier=1.0)
        return InstrumentFacts(asset_class=UNKNOWN_ASSET_CLASS, currency="USD")
    if (venue.strip().lower() == "polymarket" and spec.asset_class != "prediction") or spec.root == "POLY":
        return InstrumentFacts(asset_class="prediction", currency=POLYMARKET_CURRENCY, multiplier=1.0)
    return InstrumentFacts(asset_class=spec.asset_class, currency=spec.currency.strip().upper(),
                           multiplier=spec.multiplier)


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


def facts_for(symbol: str, venue: str = "", asset_class: str = "", currency: str = "") -> InstrumentFacts:
    """The facts a record already holds (a journal trade's asset class and currency), completed from the
    registry; a held value that is not a valid class falls back to the registry's, never raises."""
    f = instrument_facts(symbol, venue)
    try:
        return InstrumentFacts.model_validate({"asset_class": asset_class or f.asset_class,
                                               "currency": (currency or f.currency).strip().upper(),
                                               "multiplier": f.multiplier})
    except ValidationError:
        return f


class TradeOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = OUTCOME_SCHEMA_VERSION
    trade_cycle_id: str
    venue: str                       # paper | ib | polymarket
    symbol: str
    asset_class: OutcomeAssetClass = UNKNOWN_ASSET_CLASS   # filled from the symbol when absent (v1 files)
    currency: str = Field(default="USD", pattern=CURRENCY_PATTERN)   # the unit of pnl_usd, gross_pnl_usd, fees_usd
    multiplier: float | None = None  # currency per point per unit, from the registry; None when unknown
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

    @model_validator(mode="before")
    @classmethod
    def _instrument_facts(cls, data: Any) -> Any:
        """Read a v1 file as v2 and complete a record built without its instrument facts."""
        if not isinstance(data, dict):
            return data
        missing = [k for k in ("asset_class", "currency", "multiplier") if data.get(k) in (None, "")]
        if data.get("schema_version") == 1 or missing:
            data = dict(data)
            if data.get("schema_version") == 1:
                data["schema_version"] = OUTCOME_SCHEMA_VERSION
            if missing and isinstance(data.get("symbol"), str):
                facts = instrument_facts(data["symbol"], str(data.get("venue") or ""))
                for k in missing:
                    data[k] = getattr(facts, k)
        if isinstance(data.get("currency"), str):
            data["currency"] = data["currency"].strip().upper()
        return data


class Candle(BaseModel):
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


class HistorySnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SNAPSHOT_SCHEMA_VERSION
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
