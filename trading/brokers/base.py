"""The one ``Broker`` protocol every adapter (paper, ib, polymarket) implements.

Reads raise ``BrokerUnavailable`` (timeouts, socket errors) instead of guessing: the executor turns
that into POSITION_UNKNOWN and blocks entries. A position is never assumed flat.

Failure contract of every adapter: reads raise ``BrokerUnavailable``; an exit that would open, grow or
flip a position raises ``ReduceOnlyViolation``; an order the adapter cannot form raises ValueError.
Before an exit, ``prepare_exit`` (``PreparesExits``) takes the trade's bracket children off the venue and
waits for the acknowledgement, so an exit and a child can never both fill (docs/brokers.md).
This module only declares the types (``BracketRequest`` raises pydantic's ValidationError on qty <= 0).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from trading.domain.models import Fill, Order, Position, Side


class BrokerUnavailable(RuntimeError):
    """The broker could not answer (timeout, disconnect, HTTP error)."""


class ReduceOnlyViolation(ValueError):
    """An exit would open, grow or flip the live position; the adapter refuses to send it."""


class BracketRequest(BaseModel):
    """An entry with its protective children, sent as one OCA group."""
    trade_cycle_id: str
    symbol: str
    side: Side
    qty: float = Field(gt=0)
    entry_type: str = "MKT"             # MKT | LMT
    limit_price: float | None = None
    stop_price: float
    target_price: float


class BracketOrders(BaseModel):
    parent: Order
    stop: Order
    target: Order


class ExitPreparation(BaseModel):
    """What ``prepare_exit`` left: the children it cancelled (acknowledged) and the live position after
    them, signed (a child that filled meanwhile is in it: the exit is sized from this, 0 means no exit)."""
    cancelled: list[str] = Field(default_factory=list)
    position: float = 0.0


class AccountSnapshot(BaseModel):
    cash: float
    equity: float                        # cash + marked positions
    taken_at: datetime


@runtime_checkable
class Broker(Protocol):
    name: str

    def connect(self) -> None: ...
    def disconnect(self) -> None: ...
    def positions(self) -> list[Position]: ...               # raises BrokerUnavailable
    def open_orders(self) -> list[Order]: ...                # raises BrokerUnavailable
    def account(self) -> AccountSnapshot: ...                # raises BrokerUnavailable
    def executions(self, since: datetime | None = None) -> list[Fill]: ...
    def place_bracket(self, req: BracketRequest) -> BracketOrders: ...
    def place_reduce_only(self, trade_cycle_id: str, symbol: str, side: Side, qty: float,
                          order_type: str = "MKT", limit_price: float | None = None) -> Order: ...
    def cancel(self, order_id: str) -> None: ...
    def on_fill(self, callback: Callable[[Fill], None]) -> None: ...
    def on_order_status(self, callback: Callable[[Order], None]) -> None: ...


@runtime_checkable
class PreparesExits(Protocol):
    """Before an exit is sent: take the trade's working bracket children off the venue and wait until the
    venue acknowledged it (IB: cancel, wait for Cancelled within ``timeout_s``); paper and Polymarket have
    nothing to take off. Raises ``BrokerUnavailable`` when the cancels are not acknowledged in time (the
    exit is then not sent: a child may still fill) and ``KeyError`` never (unknown trades are a no-op)."""

    def prepare_exit(self, trade_cycle_id: str, symbol: str, timeout_s: float = 5.0) -> ExitPreparation: ...


@runtime_checkable
class SupportsSettlement(Protocol):
    """Optional: a paper venue that settles a resolved binary share at 1 or 0 (cash, equity, drawdown)."""

    def settle(self, symbol: str, payout: float, ts: datetime) -> float: ...


@runtime_checkable
class SupportsReconnectEvents(Protocol):
    """Optional: a broker that can tell when its connection came back (the executor reconciles then)."""

    def on_reconnect(self, callback: Callable[[], object]) -> None: ...
