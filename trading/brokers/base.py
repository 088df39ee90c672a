"""The one ``Broker`` protocol every adapter (paper, ib, polymarket) implements.

Reads raise ``BrokerUnavailable`` (timeouts, socket errors) instead of guessing: the executor turns
that into POSITION_UNKNOWN and blocks entries. A position is never assumed flat.

Failure contract of every adapter: reads raise ``BrokerUnavailable``; an exit that would open, grow or
flip a position raises ``ReduceOnlyViolation``; an order the adapter cannot form raises ValueError.
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
class SupportsReconnectEvents(Protocol):
    """Optional: a broker that can tell when its connection came back (the executor reconciles then)."""

    def on_reconnect(self, callback: Callable[[], object]) -> None: ...
