"""Live page: positions, open orders, equity and drawdown against the peak and halt level, the last cycles
and halts of the run(s) in the data dir; pushed without a reload by server-sent events
(``/api/live/events``, warden.desk.live_stream), with polling of ``/api/live`` (JSON) as the fallback.
Paper accounts come from their files; IB / Polymarket positions and open orders as the journal records
them, with the last reconcile (warden.desk.recorded).

Cycles are folded from the tail of events.jsonl: per trade_cycle_id, the signal, the advisory (action,
source, rationale), the guard verdict (allowed, reason codes), the orders and the fills.
Failure contract: a missing file is an empty section; the poller shows "stale" when a poll fails.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from warden.desk import live_stream
from warden.desk.base import Desk
from warden.desk.data import events, paper_accounts
from warden.desk.recorded import broker_books, last_reconcile
from warden.desk.risk_pages import ledgers

TAIL = 400
CYCLES = 20


def cycles(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last cycles, newest first, one row per trade_cycle_id."""
    by_id: dict[str, dict[str, Any]] = {}
    for e in evs:
        tid = e.get("trade_cycle_id")
        if not tid or str(tid).startswith("review:"):   # a review's own events are not trade cycles
            continue
        c = by_id.setdefault(tid, {"id": tid, "ts": "", "signal": "", "advisory": "", "verdict": "", "codes": [],
                                   "orders": 0, "fills": 0, "pnl": None})
        c["ts"] = str(e.get("ts", ""))
        p: dict[str, Any] = e["payload"] if isinstance(e.get("payload"), dict) else {}
        kind = e.get("event")
        if kind == "signal":
            s = p.get("signal") or {}
            price = s.get("price")
            c["signal"] = " ".join(str(x) for x in (p.get("kind", ""), s.get("side", ""), s.get("symbol", "")) if x)
            if price not in (None, ""):
                c["signal"] += f" @ {price}"
        elif kind == "advisory":
            c["advisory"] = f"{p.get('action', '')} ({p.get('source', '')}): {p.get('rationale', '')}"
        elif kind == "guard_verdict":
            c["verdict"] = str(p.get("summary") or ("ALLOW" if p.get("allowed") else "BLOCK"))
            c["codes"] = [str(x) for x in e.get("reason_codes") or []]
        elif kind == "order_sent":
            c["orders"] += 1
        elif kind == "fill":
            c["fills"] += 1
        elif kind in ("pnl", "trade_closed") and isinstance(p.get("pnl_usd", p.get("pnl")), int | float):
            c["pnl"] = p.get("pnl_usd", p.get("pnl"))
    return list(reversed(list(by_id.values())))[:CYCLES]


def snapshot(desk: Desk) -> dict[str, Any]:
    """Everything the live page shows, as JSON-ready data."""
    evs = events(desk.data_dir, last=TAIL)
    risk = [{k: led[k] for k in ("ledger", "equity", "peak_equity", "drawdown_pct", "halt_level_pct", "halts",
                                  "halt_reason", "last_entry")} for led in ledgers(desk.data_dir)]
    halts = [{"ts": str(e.get("ts", "")), "codes": [str(x) for x in e.get("reason_codes") or []],
              "detail": str((e.get("payload") or {}).get("detail", "")) if isinstance(e.get("payload"), dict) else ""}
             for e in evs if e.get("event") == "halt"]
    books = broker_books(desk.data_dir)
    return {"risk": risk, "accounts": paper_accounts(desk.data_dir), "brokers": books["books"],
            "brokers_error": books["error"], "reconcile": last_reconcile(evs), "cycles": cycles(evs),
            "halts": halts[-20:]}


def router(desk: Desk) -> APIRouter:
    r = APIRouter()

    @r.get("/live", response_class=HTMLResponse)
    def live(request: Request) -> HTMLResponse:
        return desk.render(request, "live.html", s=snapshot(desk))

    @r.get("/api/live")
    def live_json() -> dict[str, Any]:
        return snapshot(desk)

    r.include_router(live_stream.router(desk, snapshot))
    return r
