"""Domain models shared by every layer: signals, advisories, intents, orders, fills, positions, cycles.

Failure contract: constructing a model with values it refuses raises pydantic's ValidationError
(e.g. a non-positive order qty); the helpers never raise.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trading.domain.reason_codes import ReasonCode


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_cycle_id() -> str:
    return str(uuid.uuid4())


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class AdvisoryAction(StrEnum):
    """What an advisor says: go with a direction, or WAIT (which blocks entries, never exits)."""

    BUY = "BUY"
    SELL = "SELL"
    WAIT = "WAIT"


class IntentKind(StrEnum):
    """What an order intent is for; the guards judge an exit against the live position."""

    ENTRY = "entry"
    EXIT = "exit"
    PROTECTIVE = "protective"   # a bracket child (stop or target) of an entry


class OrderType(StrEnum):
    """Market, limit or stop; a bracket entry is MKT or LMT, its stop child STP."""

    MKT = "MKT"
    LMT = "LMT"
    STP = "STP"


class OrderStatus(StrEnum):
    """An order's state at the broker; FILLED, CANCELLED and REJECTED are final."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    PARTIAL = "partial"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Signal(_Model):
    """What a strategy wants: a direction with a conviction and, for entries, protective levels."""
    symbol: str
    side: Side | None = None          # None for HOLD
    label: str = ""                   # the bot's own name for it, e.g. SCALP_BUY
    confidence: float = Field(ge=0.0, le=1.0)
    price: float | None = None
    stop: float | None = None
    target: float | None = None
    ts: datetime = Field(default_factory=utcnow)
    source: str = "strategy"
    features: dict[str, float] = Field(default_factory=dict)


class Advisory(_Model):
    """An agent's (or a human's) advice. It never places an order and never overrides a guard."""
    action: AdvisoryAction
    confidence: float = Field(ge=0.0, le=1.0)
    advisory_only: bool = True        # True: advice, not a command; only then may a WAIT be overridden
    rationale: str = ""
    source: str = "offline"
    ts: datetime = Field(default_factory=utcnow)
    reason_codes: list[ReasonCode] = Field(default_factory=list)


class ViewMapping(_Model):
    """The view an order expresses when the venue trades another instrument for it: a SELL view on BTC
    is a BUY of the window's Down share. The advisory gate judges the advice against ``side`` (the view
    the advisor was asked about), never against the mapped order's side; the mapping goes into the
    verdict's evidence."""
    symbol: str
    side: Side
    outcome: str | None = None        # e.g. "Up" / "Down"


class OrderIntent(_Model):
    """What the caller would like to send; the guards may block or adjust it.

    ``kind`` and ``reduce_only`` must agree: an ENTRY is never reduce-only (the guards reject one with
    INTENT_CONFLICT before anything else); an EXIT is always judged and sent reduce-only."""
    kind: IntentKind
    side: Side
    qty: float = Field(gt=0)
    symbol: str
    price: float | None = None        # limit / reference price used to measure risk
    stop: float | None = None
    target: float | None = None
    reduce_only: bool = False
    trade_cycle_id: str = Field(default_factory=new_cycle_id)
    signal_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    order_type: OrderType = OrderType.MKT
    created_at: datetime = Field(default_factory=utcnow)
    view: ViewMapping | None = None   # set when the venue mapped a view onto another instrument

    @property
    def signed_qty(self) -> float:
        return self.side.sign * self.qty

    @property
    def view_side(self) -> Side:
        """The direction of the view this order expresses (the signal's), not the mapped order's side."""
        return self.view.side if self.view is not None else self.side


class Order(_Model):
    order_id: str
    trade_cycle_id: str
    symbol: str
    side: Side
    qty: float = Field(gt=0)
    order_type: OrderType = OrderType.MKT
    limit_price: float | None = None
    stop_price: float | None = None
    parent_id: str | None = None
    oca_group: str | None = None
    reduce_only: bool = False
    status: OrderStatus = OrderStatus.PENDING
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    created_at: datetime = Field(default_factory=utcnow)
    reason: str = ""


class Fill(_Model):
    """One execution. ``exec_id`` is unique per execution: duplicates are dropped on it."""
    exec_id: str
    order_id: str
    symbol: str
    side: Side
    qty: float = Field(gt=0)
    price: float
    ts: datetime = Field(default_factory=utcnow)
    commission: float = 0.0
    trade_cycle_id: str | None = None
    broker_realized_pnl: float | None = None

    @property
    def signed_qty(self) -> float:
        return self.side.sign * self.qty


class Position(_Model):
    symbol: str
    qty: float                        # signed: > 0 long, < 0 short
    avg_price: float | None = None    # per point, NOT IB's avgCost (which includes the multiplier)

    @field_validator("qty")
    @classmethod
    def _no_negative_zero(cls, v: float) -> float:
        return 0.0 if v == 0 else v


class TradeCycle(_Model):
    """One signal's life: signal -> advisory -> verdict -> orders -> fills -> PnL, under one id."""
    trade_cycle_id: str = Field(default_factory=new_cycle_id)
    symbol: str
    opened_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    signal: Signal | None = None
    advisory: Advisory | None = None
    verdicts: list[dict[str, Any]] = Field(default_factory=list)
    orders: list[Order] = Field(default_factory=list)
    fills: list[Fill] = Field(default_factory=list)
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    pnl_usd: float | None = None
    fees_usd: float = 0.0
    status: str = "open"              # open | blocked | closed | unresolved
