"""ib_async objects -> domain objects: orders, order states, fills, contract symbols and tick rounding.

Pure functions of what the Gateway sent (no I/O). Failure contract: ``to_order`` returns None (logged)
for an order with no quantity; ``multiplier`` falls back to our contract specs when IB gives none
(``spec_for`` raises KeyError for an unknown root); a fill or order object missing the attributes
ib_async documents raises AttributeError.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from trading.brokers.ib_api import UNSET_DOUBLE
from trading.domain.contracts import spec_for
from trading.domain.models import Fill, Order, OrderStatus, OrderType, Side

log = logging.getLogger(__name__)

EPS = 1e-9
# IB codes that mean "cancelled" rather than "rejected" when they end an order.
_CANCEL_CODES = {202, 10148, 10147}


def multiplier_of(contract: Any) -> float:
    """The multiplier IB states on a contract; 0.0 when it states none (stocks, FX, crypto)."""
    try:
        m = float(contract.multiplier or 0)
    except (TypeError, ValueError):
        return 0.0
    return m if m > 0 else 0.0


def multiplier(contract: Any) -> float:
    """Point multiplier from the contract IB returned, else from our contract specs."""
    return multiplier_of(contract) or spec_for(symbol_of(contract)).multiplier


def symbol_of(contract: Any, names: Mapping[int, str] | None = None) -> str:
    """The symbol Warden knows a contract by: the one it was qualified as (``names``: conId -> symbol), else a
    registry name: a future's localSymbol (ESZ5), EURUSD for IB's EUR.USD, BTCUSD for BTC.USD, BRK.B for BRK B."""
    if names and contract.conId in names:
        return names[contract.conId]
    if contract.secType in ("CASH", "CRYPTO"):
        return f"{contract.symbol}{contract.currency}"
    if contract.secType == "STK":
        return str(contract.symbol).replace(" ", ".")
    return str(contract.localSymbol or contract.symbol)


def unset(v: float | None) -> bool:
    return v is None or v == UNSET_DOUBLE or (isinstance(v, float) and math.isnan(v))


def order_type(ib_type: str) -> OrderType:
    t = (ib_type or "").upper()
    if "STP" in t or "TRAIL" in t:
        return OrderType.STP
    if "LMT" in t:
        return OrderType.LMT
    return OrderType.MKT


def round_to_tick(price: float, tick: float, up: bool) -> float:
    n = price / tick
    n = math.ceil(n - 1e-9) if up else math.floor(n + 1e-9)
    return round(n * tick, 10)


def order_status(ib_status: str, filled: float, qty: float, error_code: int) -> OrderStatus:
    if ib_status == "Filled" or filled >= qty - EPS:
        return OrderStatus.FILLED
    if ib_status in ("Cancelled", "ApiCancelled", "Inactive"):
        if filled > 0:
            return OrderStatus.CANCELLED
        if ib_status == "Inactive" or (error_code and error_code not in _CANCEL_CODES):
            return OrderStatus.REJECTED
        return OrderStatus.CANCELLED
    if filled > 0:
        return OrderStatus.PARTIAL
    if ib_status in ("PendingSubmit", "ApiPending", ""):
        return OrderStatus.PENDING
    return OrderStatus.SUBMITTED


def to_order(trade: Any, cycles: Mapping[int, str], reduce_only: bool = False,
             names: Mapping[int, str] | None = None) -> Order | None:
    """An ib_async Trade as an Order; ``cycles`` maps IB order ids to trade_cycle_ids, ``names`` conIds to
    the symbols they were qualified as."""
    o, st = trade.order, trade.orderStatus
    qty = float(o.totalQuantity or 0)
    if qty <= 0:
        log.warning("IB order %s has no quantity; skipped", o.orderId)
        return None
    otype = order_type(o.orderType)
    filled = float(st.filled or 0) or float(trade.filled())
    last = trade.log[-1] if trade.log else None
    status = order_status(st.status, filled, qty, last.errorCode if last else 0)
    cycle = cycles.get(o.orderId) or o.orderRef or ""
    has_limit = "LMT" in o.orderType.upper() and not unset(o.lmtPrice)
    return Order(
        order_id=str(o.orderId), trade_cycle_id=cycle, symbol=symbol_of(trade.contract, names),
        side=Side(o.action), qty=qty, order_type=otype,
        limit_price=float(o.lmtPrice) if has_limit else None,
        stop_price=float(o.auxPrice) if otype is OrderType.STP and not unset(o.auxPrice) else None,
        parent_id=str(o.parentId) if o.parentId else None, oca_group=o.ocaGroup or None,
        reduce_only=reduce_only, status=status, filled_qty=filled,
        avg_fill_price=float(st.avgFillPrice) if filled > 0 and st.avgFillPrice else None,
        created_at=trade.log[0].time if trade.log and trade.log[0].time.tzinfo else datetime.now(UTC),
        reason=(last.message if last else "") or "",
    )


def to_fill(fill: Any, with_commission: bool, cycles: Mapping[int, str],
            late_commission: Mapping[str, float], names: Mapping[int, str] | None = None) -> Fill:
    """An ib_async Fill as a Fill; ``late_commission`` holds reports that came after the fill was emitted."""
    e, rep = fill.execution, fill.commissionReport
    commission = 0.0
    realized: float | None = None
    if with_commission:
        commission = late_commission.get(e.execId, rep.commission if rep.execId else 0.0)
        # IB sends realizedPNL UNSET (ib_async turns it into 0.0) on opening fills
        if rep.execId and not unset(rep.realizedPNL) and rep.realizedPNL != 0.0:
            realized = float(rep.realizedPNL)
    ts = fill.time if isinstance(fill.time, datetime) and fill.time.tzinfo else e.time
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        ts = datetime.now(UTC)
    return Fill(
        exec_id=e.execId, order_id=str(e.orderId), symbol=symbol_of(fill.contract, names),
        side=Side.BUY if e.side.upper() in ("BOT", "BUY") else Side.SELL,
        qty=float(e.shares), price=float(e.price), ts=ts.astimezone(UTC), commission=float(commission),
        trade_cycle_id=cycles.get(e.orderId) or e.orderRef or None, broker_realized_pnl=realized,
    )
