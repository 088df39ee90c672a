"""Handlers for the Polymarket momentum bot's log events (bot.log and its resolver logs).

Each handler takes (pass, record, aware time or None for hot events, epoch) and adds to the pass's
``Forensics``: order intents, failures, balances, drawdown checks, process events, resolutions and resolver
errors. Fields missing from a record stay None; handlers never raise on a record the reader produced.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from tools.logs.records import LogRecord
from tools.review.forensics.models import ProcEvent

if TYPE_CHECKING:
    from tools.review.forensics.log_pass import LogPass



def _m_signal(p: LogPass, rec: LogRecord, ep: float) -> None:
    f = rec.fields
    prob, conf = f.get("prob"), f.get("confidence")
    p.sig_ts.append(ep)
    p.sig_prob.append(prob if prob is not None else np.nan)
    p.sig_conf.append(conf if conf is not None else np.nan)
    m = f.get("market")
    if m:
        p.last_signal[m] = (prob, conf, ep, p.r(rec), f.get("direction"))


def _m_intent(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    market = f.get("market")
    sig = p.last_signal.get(market) if market else None
    p.intents[tid] = {"ts": ts, "market": f.get("market"), "outcome": f.get("outcome"), "price": f.get("price"),
                      "size": f.get("size"), "cost": f.get("cost"), "ref": p.r(rec),
                      "prob": sig[0] if sig else None, "confidence": sig[1] if sig else None,
                      "signal_ref": sig[3] if sig else None}
    p.pending_link = (ep, tid)
    p.fx.add_timeline(ts, p.name, "order_intent", tid,
                      f"{f.get('market')} {f.get('outcome')} price={f.get('price')} size={f.get('size')} "
                      f"cost={f.get('cost')}" + (f" prob={sig[0]}" if sig else ""))


def _m_placed(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    it = p.intents.setdefault(tid, {"ts": ts, "ref": p.r(rec)})
    it["order_id"] = f.get("order_id")
    it["status"] = f.get("status")
    p.fx.add_timeline(ts, p.name, "order_placed", tid, f"order_id={f.get('order_id')} status={f.get('status')}")


def _m_failed(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    p.intents.setdefault(tid, {"ts": ts, "ref": p.r(rec)})["failed"] = True
    sig = p.fx.error(p.name, f"Order failed: {f.get('error')}")
    sig.add(ts, rec.level, p.r(rec), rec.level not in ("ERROR", "CRITICAL"), bool(rec.extra))
    sig.trade_ids.add(tid)
    p.fx.add_timeline(ts, p.name, "order_failed", tid, str(f.get("error"))[:200])


def _m_balance(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    bal, peak = f.get("usdc"), f.get("peak")
    if bal is not None:
        p.bal_ts.append(ep)
        p.bal_val.append(bal)
        p.bal_line.append(rec.line_no)
    key = (bal, peak)
    if key != p.last_balance:
        p.last_balance = key
        p.fx.balances.append((ts, bal, peak, f.get("drawdown_pct"), p.r(rec)))
    if p.pending_link and ep - p.pending_link[0] < 10:
        p.fx.add_timeline(ts, p.name, "balance", p.pending_link[1],
                          f"usdc={bal} peak={peak} drawdown={f.get('drawdown_pct')}%")


def _m_check(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    res = str(f.get("result"))
    p.fx.dd_check_counts[res] += 1
    p.chk_ts.append(ep)
    p.chk_halt.append(res == "HALT")
    key = (f.get("dd_pct"), res)
    if key != p.last_check or res == "HALT":
        p.last_check = key
        p.fx.dd_checks.append((ts, f.get("dd_pct"), f.get("limit_pct"), res, p.r(rec)))
    if res == "HALT":
        p.fx.process.append(ProcEvent(ts, p.name, "halt", dict(f), p.r(rec)))
    if res == "HALT" or (p.pending_link and ep - p.pending_link[0] < 10):
        p.fx.add_timeline(ts, p.name, "drawdown_check", p.pending_link[1] if p.pending_link else None,
                          f"dd={f.get('dd_pct')}% limit={f.get('limit_pct')}% -> {res}")
        p.pending_link = None


def _m_proc(kind: str) -> Callable[[LogPass, LogRecord, datetime, float], None]:
    def h(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
        p.fx.process.append(ProcEvent(ts, p.name, kind, dict(rec.fields), p.r(rec)))
        p.fx.add_timeline(ts, p.name, kind, None, rec.message[:200])
    return h


def _m_pass(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    n = int(rec.fields.get("pending") or 0)
    p.fx.resolution_passes.append((ts, n, p.r(rec)))
    p.last_market = None


def _m_resolved(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    m = f.get("market")
    p.last_market = m
    if m and m not in p.fx.resolved_markets:
        p.fx.resolved_markets[m] = (str(f.get("winner")), ts, p.r(rec))
        p.fx.add_timeline(ts, p.name, "market_resolved", None, f"{m} winner={f.get('winner')}")


def _m_recorded(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    p.fx.logged_outcomes[tid] = (bool(f.get("won")), float(f.get("pnl") or 0.0), ts, p.r(rec))
    p.fx.add_timeline(ts, p.name, "outcome_recorded", tid, f"won={f.get('won')} pnl={f.get('pnl')}")


def _m_res_error(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    text = str(f.get("error") or rec.message)
    ignored = bool(f.get("ignored")) or rec.level not in ("ERROR", "CRITICAL")
    sig = p.fx.error(p.name, text)
    sig.add(ts, rec.level, p.r(rec), ignored, bool(rec.extra))
    tid = f.get("trade_id")
    if tid is not None:
        sig.trade_ids.add(str(tid))
        p.fx.record_failures[str(tid)] += 1
    elif p.last_market:
        sig.markets.add(p.last_market)
    p.fx.add_timeline(ts, p.name, "resolution_error" + ("_ignored" if ignored else ""),
                      str(tid) if tid is not None else None,
                      (f"market={p.last_market} " if tid is None and p.last_market else "") + text[:200])


MOMENTUM_HANDLERS: dict[str, Callable[[LogPass, LogRecord, datetime, float], None]] = {
    "order_intent": _m_intent, "placed": _m_placed, "failed": _m_failed,
    "balance": _m_balance, "drawdown_check": _m_check, "start": _m_proc("start"), "stop": _m_proc("stop"),
    "state_loaded": _m_proc("state_loaded"), "peak_reset": _m_proc("peak_reset"),
    "resolution_pass": _m_pass, "market_resolved": _m_resolved, "outcome_recorded": _m_recorded,
    "resolution_error": _m_res_error,
}
# bulk events whose handlers need only the epoch (no aware datetime is built for them)
MOMENTUM_HOT_HANDLERS: dict[str, Callable[[LogPass, LogRecord, float], None]] = {"signal": _m_signal}
