"""Trade pages: the outcomes table with filters, and one trade followed by its trade_cycle_id.

The table reads the outcome files (cached per file, warden.desk.data.OutcomeIndex) and filters by
symbol, closing date, advisory, reason code and outcome; it shows one page of rows at a time. The trade
page shows the outcome, every event carrying that id (signal, advisory, verdict, orders, fills, PnL)
and the history snapshot's candles as an inline SVG chart.
Failure contract: an unknown trade id is a 404 page; a bad filter value is a 400 page naming it.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from trading.records.outcome_schema import same_money
from warden.desk.base import Desk
from warden.desk.data import events, snapshot

PAGE = 200


def _filter(rows: list[dict[str, Any]], symbol: str, date: str, advisory: str, reason: str,
            outcome: str) -> list[dict[str, Any]]:
    if outcome not in ("", "won", "lost"):
        raise HTTPException(400, f"outcome must be won or lost, got {outcome!r}")
    sym = symbol.strip().upper()
    adv = advisory.strip().upper()
    out = []
    for r in rows:
        if sym and r["symbol"].upper() != sym:
            continue
        if date and not r["closed_at"].startswith(date.strip()):
            continue
        if adv and (r["advisory"].upper() or "NONE") != adv:
            continue
        if reason and reason.strip() not in r["reason_codes"]:
            continue
        if outcome and r["won"] != (outcome == "won"):
            continue
        out.append(r)
    return out


def chart(snap: dict[str, Any] | None, width: int = 640, height: int = 220) -> dict[str, Any] | None:
    """Close prices of the snapshot's candles as SVG polyline points (numbers only, computed here)."""
    candles = (snap or {}).get("candles") or []
    closes = [float(c["close"]) for c in candles if isinstance(c, dict) and isinstance(c.get("close"), int | float)]
    if len(closes) < 2:
        return None
    lo, hi = min(closes), max(closes)
    span = (hi - lo) or 1.0
    step = width / (len(closes) - 1)
    pts = " ".join(f"{i * step:.1f},{height - (c - lo) / span * height:.1f}" for i, c in enumerate(closes))
    return {"points": pts, "width": width, "height": height, "lo": lo, "hi": hi, "n": len(closes)}


def router(desk: Desk) -> APIRouter:
    r = APIRouter()

    @r.get("/trades", response_class=HTMLResponse)
    def trades(request: Request, symbol: str = "", date: str = "", advisory: str = "", reason: str = "",
               outcome: str = "", page: int = 1) -> HTMLResponse:
        if page < 1:
            raise HTTPException(400, f"page must be 1 or more, got {page}")
        rows = desk.outcomes.rows()
        hits = _filter(rows, symbol, date, advisory, reason, outcome)
        shown = hits[(page - 1) * PAGE: page * PAGE]
        pnl: dict[str, float] = {}                # never added across currencies (USD stablecoins count as USD)
        for h in hits:
            ccy = same_money(h["currency"])
            pnl[ccy] = pnl.get(ccy, 0.0) + float(h["pnl_usd"] or 0.0)
        wins = sum(1 for h in hits if h["won"])
        codes = sorted({c for row in rows for c in row["reason_codes"]})
        return desk.render(request, "trades.html", rows=shown, total=len(rows), hits=len(hits), pnl=pnl, wins=wins,
                           page=page, pages=max(1, -(-len(hits) // PAGE)), codes=codes,
                           f={"symbol": symbol, "date": date, "advisory": advisory, "reason": reason,
                              "outcome": outcome}, errors=sorted(desk.outcomes.errors.items())[:20])

    @r.get("/trades/{trade_cycle_id}", response_class=HTMLResponse)
    def trade(request: Request, trade_cycle_id: str) -> HTMLResponse:
        outcome = desk.outcomes.find(trade_cycle_id)
        evs = events(desk.data_dir, trade_cycle_id)
        if outcome is None and not evs:
            raise HTTPException(404, f"no trade {trade_cycle_id!r} in this data dir (no outcome, no event)")
        return desk.render(request, "trade.html", tid=trade_cycle_id, o=outcome, events=evs,
                           chart=chart(snapshot(desk.data_dir, trade_cycle_id)))

    return r
