"""JSON shapes of a guard replay: one order (with what the bot knew) and one round trip.

Failure contract: pure functions; ``order_json`` expects an order that has been judged (asserts it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading.domain.pnl import RoundTrip

if TYPE_CHECKING:
    from tools.logs.replay import OrderContext


def _num(x: float | None) -> float | int | None:
    """Quantities print as integers when they are whole."""
    if x is None:
        return None
    return int(x) if float(x).is_integer() else x


def order_json(o: OrderContext) -> dict[str, Any]:
    v = o.verdict
    assert v is not None
    doc: dict[str, Any] = {
        "order_id": o.order_id, "symbol": o.symbol, "action": o.action.value, "qty": _num(o.qty),
        "intent": o.intent.value, "live_position_before": _num(o.live_position_before),
        "believed_position": _num(o.believed_position),
        "advisory": None if o.advisory is None else {"action": o.advisory.action,
                                                     "confidence": o.advisory.confidence},
        "would_block": not v.allowed, "reason_codes": [c.value for c in v.reason_codes],
        "fill_price": o.fill_price,
    }
    doc.update({
        "time": o.ts.isoformat(), "submitted_at": o.submitted_at.isoformat(), "order_type": o.order_type,
        "parent_id": o.parent_id, "inherited_from": o.inherited_from, "judged_as": v.judged_as.value,
        "price": o.price, "stop": o.stop, "target": o.target, "reference_price": o.mark,
        "signal": None if o.signal is None else {
            "label": o.signal.label, "confidence": o.signal.confidence, "price": o.signal.price,
            "stop": o.signal.stop, "target": o.signal.target, "time": o.signal.ts.isoformat()},
        "advisory_time": None if o.advisory is None else o.advisory.ts.isoformat(),
        "advisory_ignored_by_bot": None if o.advisory is None else o.advisory.ignored,
        "advisory_call_failed": o.advisory_failed,
        "believed_source": o.believed_source or None, "live_source": o.live_source,
        "trade_cycle_id": o.trade_cycle_id, "cancelled": o.cancelled, "notes": o.notes,
        "line_no": o.line_no, "evidence": v.evidence,
    })
    return doc


def trip_json(t: RoundTrip) -> dict[str, Any]:
    return {
        "entry_order_id": t.entry_order_id, "exit_order_id": t.exit_order_id, "symbol": t.symbol,
        "side": t.side.value, "qty": _num(t.qty), "entry_price": t.entry_price, "exit_price": t.exit_price,
        "pnl_usd": t.gross_pnl, "broker_realized_pnl": t.broker_realized_pnl, "pnl_mismatch": t.pnl_mismatch,
        "fees_usd": t.fees, "net_pnl_usd": t.net_pnl, "multiplier": t.multiplier,
        "entry_time": t.entry_ts, "exit_time": t.exit_ts, "trade_cycle_id": t.trade_cycle_id,
    }
