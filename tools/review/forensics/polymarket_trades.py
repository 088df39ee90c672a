"""Polymarket trade reconstruction: journal rows and logged intents merged into ``TradeRow``s, and each
outcome settled in order of trust (seed 001, Data Forensics): recorded outcomes (journal ``outcomes``)
> ``Market ... resolved`` lines > candles (Up iff the close at the window's end >= the open at its
start) > the Polymarket API when configured; what is left stays ``unresolved``.

An unreadable journal is recorded in ``Forensics.could_not_run`` (never raised); an API resolver error
is logged and counted in ``Forensics.counts["api_errors"]`` and the trade stays unresolved.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.review.forensics.candles import candle_winner
from tools.review.forensics.models import Forensics, TradeRow
from tools.review.report import NotRun
from trading.brokers.base import BrokerUnavailable
from trading.domain.slugs import parse_updown_slug

log = logging.getLogger(__name__)

# Who won a market slug (None while unknown). It raises one of API_ERRORS on a failed lookup
# (trading.brokers.polymarket_data.PolymarketResolutionSource.resolve with raise_errors=True).
ApiResolver = Callable[[str], "str | None"]
API_ERRORS: tuple[type[Exception], ...] = (BrokerUnavailable, LookupError, ValueError, OSError)


def build_poly_trades(fx: Forensics, intents: dict[str, dict[str, Any]], api: ApiResolver | None) -> None:
    trades: dict[str, TradeRow] = {}
    row: TradeRow | None
    if fx.bundle.journal is not None:
        from trading.records.legacy_journal import LegacyJournalError, read_legacy_journal

        try:
            jt = read_legacy_journal(fx.bundle.journal)
        except (LegacyJournalError, OSError) as exc:
            fx.journal_error = str(exc)
            fx.could_not_run.append(NotRun(analysis="recorded outcomes", lacking=f"readable journal ({exc})"))
            jt = []
        fx.journal_trades = len(jt)
        for t in jt:
            tid = str(t.id)
            w = parse_updown_slug(t.market_slug)
            row = TradeRow(trade_id=tid, market=t.market_slug or "", asset=(t.asset or (w[0] if w else "")).upper(),
                           outcome=t.outcome or "", entry_time=t.timestamp, price=t.price, size=t.size, cost=t.cost,
                           confidence=t.confidence, order_id=t.order_id, window_start=w[1] if w else None,
                           window_end=w[2] if w else None, in_journal=True,
                           evidence=[f"trade_journal.db:trades.id={tid}"])
            if t.result is not None and t.result.won is not None:
                fx.journal_outcomes += 1
                row.won = bool(t.result.won)
                row.winner = t.result.winner or (row.outcome if row.won else _other(row.outcome))
                row.pnl = t.result.pnl if t.result.pnl is not None else t.expected_pnl(row.winner)
                row.source, row.recorded, row.resolved_at = "journal", True, t.result.resolved_at
                row.evidence.append(f"trade_journal.db:outcomes.trade_id={tid}")
            trades[tid] = row
    for tid, it in intents.items():
        row = trades.get(tid)
        w = parse_updown_slug(it.get("market"))
        if row is None:
            row = trades[tid] = TradeRow(
                trade_id=tid, market=it.get("market") or "", asset=w[0] if w else "", outcome=it.get("outcome") or "",
                entry_time=it.get("ts"), price=it.get("price"), size=it.get("size"), cost=it.get("cost"),
                window_start=w[1] if w else None, window_end=w[2] if w else None)
        row.in_log = True
        row.log_ref = it["ref"]
        row.failed = bool(it.get("failed"))
        row.order_id = row.order_id or it.get("order_id")
        row.prob = it.get("prob")
        row.confidence = row.confidence if row.confidence is not None else it.get("confidence")
        for k in ("price", "size", "cost"):
            if getattr(row, k) is None:
                setattr(row, k, it.get(k))
        row.evidence.append(it["ref"])
    # resolver errors without a trade id hit the trades of the market being resolved
    by_market: dict[str, list[str]] = defaultdict(list)
    for tid, row in trades.items():
        by_market[row.market].append(tid)
    for sig in fx.errors.values():
        for m in sig.markets:
            for tid in by_market.get(m, []):
                sig.trade_ids.add(tid)
    # outcomes in order of trust
    for tid, row in trades.items():
        if row.failed:
            row.source = "unresolved"
            continue
        if tid in fx.logged_outcomes:
            won, pnl, ts, r = fx.logged_outcomes[tid]
            if row.source == "journal":
                row.evidence.append(r)
            else:
                # the bot says it recorded this outcome, but the journal does not hold it
                row.conflicts.append(f"{r} says recorded, journal has no outcome")
                row.won, row.pnl, row.resolved_at, row.source = won, pnl, ts, "resolution_log"
                row.winner = row.outcome if won else _other(row.outcome)
                row.evidence.append(r)
        if row.pnl is None and row.market in fx.resolved_markets:
            winner, ts, r = fx.resolved_markets[row.market]
            _settle(row, winner, "resolution_log", ts)
            row.evidence.append(r)
        cw = None
        c = fx.candles.get(row.asset)
        if c is not None and row.window_start is not None and row.window_end is not None:
            cw = candle_winner(c, row.window_start, row.window_end)
        if cw is not None and c is not None and row.window_start is not None:
            if row.pnl is None:
                _settle(row, cw[0], "candles", row.window_end)
                row.evidence.append(f"candles/{Path(c.source).name}@{row.window_start.isoformat()}")
            elif row.winner and row.winner.lower() != cw[0].lower():
                row.conflicts.append(f"candles say {cw[0]} (open {cw[1]:g}, close {cw[2]:g}), {row.source} says "
                                     f"{row.winner}")
        if row.pnl is None and api is not None and row.market:
            try:
                api_winner = api(row.market)
            except API_ERRORS as exc:      # network / API errors: counted, the trade stays unresolved
                log.error("API resolution for trade %s (%s) failed: %s", tid, row.market, exc)
                fx.counts.setdefault("api_errors", 0)
                fx.counts["api_errors"] += 1
                api_winner = None
            if api_winner:
                _settle(row, api_winner, "api", row.window_end)
                row.evidence.append(f"api:{row.market}")
        if row.pnl is None:
            row.source = "unresolved"
    fx.trades = sorted(trades.values(), key=lambda r: (r.entry_time or datetime.min.replace(tzinfo=UTC),
                                                       int(r.trade_id) if r.trade_id.isdigit() else 0))
    for row in fx.trades:
        fx.add_timeline(row.entry_time, "trade_journal.db" if row.in_journal else "bot.log", "trade", row.trade_id,
                        f"{row.market} {row.outcome} @ {row.price} cost={row.cost}")
        if row.pnl is not None:
            fx.add_timeline(row.resolved_at or row.window_end, "reconstruction", "outcome", row.trade_id,
                            f"winner={row.winner} won={row.won} pnl={row.pnl:.2f} source={row.source}")
    if not fx.candles and fx.bundle.candles:
        fx.could_not_run.append(NotRun(analysis="candle-based outcome reconstruction", lacking="readable candles"))


def _other(outcome: str) -> str:
    return {"up": "Down", "down": "Up"}.get((outcome or "").lower(), "")


def _settle(row: TradeRow, winner: str, source: str, ts: datetime | None) -> None:
    row.winner = winner.capitalize()
    row.won = row.outcome.lower() == winner.lower()
    if row.won:
        row.pnl = round((row.size or 0.0) * (1.0 - (row.price or 0.0)), 6)
    else:
        row.pnl = -round(row.cost if row.cost is not None else (row.size or 0.0) * (row.price or 0.0), 6)
    row.source = source
    row.resolved_at = ts
