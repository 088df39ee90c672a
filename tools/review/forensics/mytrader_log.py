"""Handlers for the ES bot's (mytrader) log events: signals, advisories, intents, orders, fills, positions,
commissions, alerts and structured events, gathered into ``Forensics.es`` (an ``ESData``).

Fields missing from a record stay None; handlers never raise on a record the reader produced.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from tools.logs.records import LogRecord
from tools.review.forensics.models import ESData, ESIntent, ESOrder

if TYPE_CHECKING:
    from tools.review.forensics.log_pass import LogPass



def _es(p: LogPass) -> ESData:
    if p.fx.es is None:
        p.fx.es = ESData()
    return p.fx.es


def _t_signal(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    d = {"ts": ts, "ref": p.r(rec), **f}
    _es(p).signals.append(d)
    p.sig_ts.append(ep)
    p.sig_prob.append(np.nan)
    conf = f.get("confidence")
    p.sig_conf.append(float(conf) if conf is not None else np.nan)
    if f.get("signal") != "HOLD":
        p.fx.add_timeline(ts, p.name, "signal", None, rec.message[:200])


def _t_advisory(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).advisories.append({"ts": ts, "ref": p.r(rec), **rec.fields})
    p.fx.add_timeline(ts, p.name, "advisory", None, rec.message[:200])


def _t_ignored(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).ignored_advisories.append({"ts": ts, "ref": p.r(rec), **rec.fields})
    p.fx.add_timeline(ts, p.name, "advisory_ignored", None, rec.message[:200])


def _t_exit_decision(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    pos = rec.fields.get("position")
    p.believed = int(pos) if pos is not None else None    # the bot's belief, used by the next exit intent
    p.fx.add_timeline(ts, p.name, "exit_decision", None, rec.message[:200])


def _t_intent(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    es = _es(p)
    believed = p.believed if f.get("kind") == "exit" else None
    p.believed = None
    adv = next((a for a in reversed(es.advisories) if (ts - a["ts"]).total_seconds() <= 600), None)
    ign = any(0 <= (ts - a["ts"]).total_seconds() <= 60 for a in es.ignored_advisories)
    sig = next((s for s in reversed(es.signals) if (ts - s["ts"]).total_seconds() <= 600), None)
    sym = str(f.get("symbol"))
    live = next((q for _, s_, q, _ in reversed(es.positions) if s_ == sym), 0.0)
    mark = es.marks[-1][1] if es.marks else (sig.get("price") if sig else None)
    es.intents.append(ESIntent(ts=ts, kind=str(f.get("kind")), action=str(f.get("action")), qty=float(f["qty"]),
                               symbol=str(f.get("symbol")), stop=f.get("stop"), target=f.get("target"),
                               price=f.get("price"), ref=p.r(rec), believed_position=believed, live_position=live,
                               advisory=adv, advisory_ignored=ign, signal=sig, mark=mark))
    p.fx.add_timeline(ts, p.name, "order_intent", None, rec.message[:200])


def _t_submitted(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    es = _es(p)
    oid = str(f.get("order_id"))
    o = ESOrder(order_id=oid, ts=ts, action=str(f.get("action")), qty=float(f["qty"]), symbol=str(f.get("symbol")),
                order_type=str(f.get("order_type")),
                parent_id=str(f["parent_id"]) if f.get("parent_id") is not None else None,
                trade_cycle_id=f.get("trade_cycle_id"), ref=p.r(rec), lmt=f.get("lmt_price"), aux=f.get("aux_price"))
    es.orders[oid] = o
    if o.parent_id is None:
        for it in reversed(es.intents):
            if it.order_id is None and it.action == o.action and (ts - it.ts).total_seconds() <= 60:
                it.order_id = oid
                break
    p.fx.add_timeline(ts, p.name, "order_submitted", f.get("trade_cycle_id"), rec.message[:200])


def _t_filled(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    es = _es(p)
    oid = str(f.get("order_id"))
    o = es.orders.get(oid)
    if o is None:
        o = es.orders[oid] = ESOrder(order_id=oid, ts=ts, action=str(f.get("action")), qty=float(f["qty"]),
                                     symbol="?", order_type="?", parent_id=None,
                                     trade_cycle_id=f.get("trade_cycle_id"), ref=p.r(rec))
    o.filled_ts, o.fill_price, o.fill_ref = ts, f.get("avg_price"), p.r(rec)
    o.trade_cycle_id = o.trade_cycle_id or f.get("trade_cycle_id")
    p.fx.add_timeline(ts, p.name, "order_filled", o.trade_cycle_id, rec.message[:200])


def _t_cancelled(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    o = _es(p).orders.get(str(rec.fields.get("order_id")))
    if o:
        o.cancelled = True
    p.fx.add_timeline(ts, p.name, "order_cancelled", o.trade_cycle_id if o else None, rec.message[:200])


def _t_position(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    _es(p).positions.append((ts, str(f.get("symbol")), float(f["position"]), p.r(rec)))
    p.fx.add_timeline(ts, p.name, "position", None, rec.message[:200])


def _t_commission(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    o = _es(p).orders.get(str(f.get("order_id")))
    if o:
        o.commission += float(f.get("commission") or 0.0)
        if f.get("realized_pnl") is not None:
            o.broker_pnl = float(f["realized_pnl"])
    p.fx.add_timeline(ts, p.name, "commission", o.trade_cycle_id if o else None, rec.message[:200])


def _t_alert(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).alerts.append({"ts": ts, "ref": p.r(rec), **rec.fields})
    p.fx.add_timeline(ts, p.name, "alert", None, rec.message[:200])


def _t_bad_levels(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).bad_levels.append(p.r(rec))
    p.fx.add_timeline(ts, p.name, "bad_levels", None, rec.message[:200])


def _t_lost(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).lost_telemetry.append(p.r(rec))
    p.fx.add_timeline(ts, p.name, "lost_telemetry", None, rec.message[:200])


def _t_structured(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    data = rec.fields.get("data")
    if isinstance(data, dict):
        _es(p).structured.append({"_ts": ts, "_ref": p.r(rec), **data})


def _t_heartbeat(p: LogPass, rec: LogRecord, ep: float) -> None:
    _es(p).heartbeats += 1


def _t_market(p: LogPass, rec: LogRecord, ep: float) -> None:
    es = _es(p)
    last = rec.fields.get("last")
    if last is not None and (not es.marks or ep - es.marks[-1][0] >= 1.0):
        es.marks.append((ep, float(last)))


MYTRADER_HANDLERS: dict[str, Callable[[LogPass, LogRecord, datetime, float], None]] = {
    "signal": _t_signal, "advisory": _t_advisory, "advisory_ignored": _t_ignored, "exit_decision": _t_exit_decision,
    "order_intent": _t_intent, "submitted": _t_submitted, "filled": _t_filled, "cancelled": _t_cancelled,
    "position": _t_position, "commission": _t_commission, "alert": _t_alert, "bad_levels": _t_bad_levels,
    "lost_telemetry": _t_lost, "structured_event": _t_structured,
}
# bulk events whose handlers need only the epoch (no aware datetime is built for them)
MYTRADER_HOT_HANDLERS: dict[str, Callable[[LogPass, LogRecord, float], None]] = {
    "heartbeat": _t_heartbeat, "market_data": _t_market,
}
