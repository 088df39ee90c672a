"""ES: Warden's guards replayed on every order intent the bot sent, and the exposure it left unprotected.

Uses ``trading.guards.evaluate`` itself. Returns [] when the bundle has no ES data; an intent whose
action is not BUY/SELL raises ValueError (the log parser only emits those).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools.review.forensics import Forensics
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side
from trading.guards import BrokerSnapshot, RiskState, evaluate
from trading.settings import GuardConfig


def replay_es_intents(fx: Forensics, cfg: GuardConfig) -> list[dict[str, Any]]:
    """What Warden's guards would have said about each order the bot sent, with what happened next."""
    es = fx.es
    if es is None:
        return []
    out = []
    for it in es.intents:
        side = Side(it.action)
        signal_conf = None
        if it.signal and it.signal.get("confidence") is not None:
            signal_conf = max(0.0, min(1.0, float(it.signal["confidence"])))
        intent = OrderIntent(kind=IntentKind.EXIT if it.kind == "exit" else IntentKind.ENTRY, side=side, qty=it.qty,
                             symbol=it.symbol, price=it.price or it.mark, stop=it.stop, target=it.target,
                             signal_confidence=signal_conf, created_at=it.ts)
        adv = None
        if it.advisory:
            adv = Advisory(action=AdvisoryAction(it.advisory["action"]),
                           confidence=max(0.0, min(1.0, float(it.advisory.get("pct") or 0) / 100)),
                           advisory_only=True, ts=it.advisory["ts"], source="bot log")
        snap = BrokerSnapshot(positions={it.symbol: float(it.live_position or 0.0)},
                              marks={it.symbol: it.mark} if it.mark else {}, taken_at=it.ts)
        # account equity is not in a mytrader log: a nominal, non-halting state so only the order's
        # own faults are judged (halts are replayed separately where equity is known)
        risk = RiskState(equity=1.0, peak_equity=1.0)
        v = evaluate(intent, snap, risk, cfg, advisory=adv, now=it.ts)
        order = es.orders.get(it.order_id) if it.order_id else None
        children = [o for o in es.orders.values() if order and o.parent_id == order.order_id]
        pos_after = None
        if order and order.filled_ts:
            for ts, sym, q, _ in es.positions:
                if sym == it.symbol and ts >= order.filled_ts:
                    pos_after = q
                    break
        before = float(it.live_position or 0.0)
        opened = pos_after is not None and pos_after != 0 and (before == 0 or (before > 0) != (pos_after > 0))
        out.append({
            "ts": it.ts, "ref": it.ref, "kind": it.kind, "action": it.action, "qty": it.qty, "symbol": it.symbol,
            "believed_position": it.believed_position, "live_position": before,
            "stop": it.stop, "target": it.target,
            "advisory": (f"{it.advisory['action']} ({it.advisory.get('pct')}%)" if it.advisory else None),
            "advisory_ignored": it.advisory_ignored,
            "order_id": it.order_id, "filled": bool(order and order.filled_ts),
            "fill_price": order.fill_price if order else None, "fill_ref": order.fill_ref if order else "",
            "position_after": pos_after, "opened_exposure": opened,
            "protective_children": len([c for c in children if c.order_type == "STP"]),
            "trade_cycle_id": order.trade_cycle_id if order else None,
            "guard_allowed": v.allowed, "guard_codes": [c.value for c in v.reason_codes],
            "judged_as": v.judged_as.value,
        })
    return out


def unprotected_exposure(fx: Forensics, replay: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Positions opened without a protective stop, how long they stayed open and what they cost."""
    out: list[dict[str, Any]] = []
    es = fx.es
    if es is None:
        return out
    for r in replay:
        if not (r["opened_exposure"] and r["protective_children"] == 0):
            continue
        start = None
        for o in es.orders.values():
            if o.order_id == r["order_id"]:
                start = o.filled_ts
        end = None
        for ts, sym, q, _ in es.positions:
            if start and sym == r["symbol"] and ts > start and q == 0:
                end = ts
                break
        trade = next((t for t in fx.trades if t.order_id == r["order_id"]), None)
        out.append({"order_id": r["order_id"], "opened": start, "closed": end,
                    "minutes": round((end - start).total_seconds() / 60, 1) if start and end else None,
                    "pnl": trade.pnl if trade else None, "trade_id": trade.trade_id if trade else None,
                    "ref": r["fill_ref"]})
    return out

