"""The journal's records: a trade, an order with its role, an outcome; and their SQLite rows -> models.

Failure contract: the ``*_from_row`` functions raise KeyError for a row without a column they read,
ValueError for a stored timestamp or enum value that does not parse, and pydantic's ValidationError for
values the models refuse; the journal only stores what these models produced, so none is expected.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from trading.domain.models import Order, OrderStatus, OrderType, Side


class TradeRecord(BaseModel):
    trade_cycle_id: str
    venue: str
    account: str = ""                # the broker account (a paper broker's is per instance)
    symbol: str
    side: Side
    qty: float
    status: str                      # pending | open | closed | rejected | cancelled
    asset_class: str = ""            # the registry's class (future, stock, crypto, ...); "" = from the symbol
    currency: str = ""               # what the trade's PnL is counted in; "" = from the symbol
    opened_at: datetime
    closed_at: datetime | None = None
    stop: float | None = None
    target: float | None = None
    ref_price: float | None = None
    resolve_by: datetime | None = None
    market_slug: str | None = None
    outcome_label: str | None = None    # Polymarket: the share bought (Up / Down)
    signal: dict[str, Any] | None = None
    advisory: dict[str, Any] | None = None
    risk: dict[str, Any] | None = None


class OrderRecord(BaseModel):
    order: Order
    role: str                        # entry | stop | target | exit


class OutcomeRecord(BaseModel):
    trade_cycle_id: str
    resolved_at: datetime
    won: bool
    winner: str | None = None
    pnl: float
    gross_pnl: float
    fees: float = 0.0
    source: str                      # fills | api | candles
    exit_reason: str = ""
    entry_price: float | None = None
    exit_price: float | None = None
    qty: float | None = None


def iso(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None


def parse_dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


def trade_from_row(r: sqlite3.Row) -> TradeRecord:
    return TradeRecord(
        trade_cycle_id=r["trade_cycle_id"], venue=r["venue"], account=r["account"], symbol=r["symbol"], side=Side(r["side"]),
        qty=r["qty"], status=r["status"], opened_at=datetime.fromisoformat(r["opened_at"]), closed_at=parse_dt(r["closed_at"]),
        stop=r["stop"], target=r["target"], ref_price=r["ref_price"], resolve_by=parse_dt(r["resolve_by"]),
        market_slug=r["market_slug"], outcome_label=r["outcome_label"],
        asset_class=r["asset_class"], currency=r["currency"],
        signal=json.loads(r["signal_json"]) if r["signal_json"] else None,
        advisory=json.loads(r["advisory_json"]) if r["advisory_json"] else None,
        risk=json.loads(r["risk_json"]) if r["risk_json"] else None)


def order_from_row(r: sqlite3.Row) -> OrderRecord:
    o = Order(order_id=r["order_id"], trade_cycle_id=r["trade_cycle_id"] or "", symbol=r["symbol"],
              side=Side(r["side"]), qty=r["qty"], order_type=OrderType(r["order_type"]),
              limit_price=r["limit_price"], stop_price=r["stop_price"], parent_id=r["parent_id"],
              oca_group=r["oca_group"], reduce_only=bool(r["reduce_only"]), status=OrderStatus(r["status"]),
              filled_qty=r["filled_qty"], avg_fill_price=r["avg_fill_price"],
              created_at=datetime.fromisoformat(r["created_at"]), reason=r["reason"])
    return OrderRecord(order=o, role=r["role"])


def outcome_from_row(r: sqlite3.Row) -> OutcomeRecord:
    return OutcomeRecord(trade_cycle_id=r["trade_cycle_id"], resolved_at=datetime.fromisoformat(r["resolved_at"]),
                         won=bool(r["won"]), winner=r["winner"], pnl=r["pnl"], gross_pnl=r["gross_pnl"],
                         fees=r["fees"], source=r["source"], exit_reason=r["exit_reason"],
                         entry_price=r["entry_price"], exit_price=r["exit_price"], qty=r["qty"])
