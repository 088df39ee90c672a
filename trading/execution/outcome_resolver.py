"""Outcome resolution: every trade gets a recorded result, with the source it came from.

- Trades closed by fills (futures, paper, a binary share sold before its window ends): PnL from the
  fills (``trading.domain.pnl``), source ``fills``.
- Polymarket windows held to resolution: the winner from the first ``ResolutionSource`` that knows it
  (an API-backed source from the Polymarket adapter, then candles as the fallback: Up iff the
  asset's price at the window's end >= the price at its start), source = that source's name.
  A share pays 1 USD when its outcome wins: pnl = size x (1 - price) on a win, -cost on a loss.

Seed 001: 28 trades, 0 outcomes, and nobody noticed. Here each failure (a source raising, nothing
resolving a window past its grace period, the journal refusing the write) is logged with the trade
id, counted per trade, stored in ``outcome_failures`` and emitted as an ERROR event; the risk ledger's
open entries with ``resolve_by`` turn late outcomes into the OUTCOME_UNRESOLVED halt. A journal that
cannot be written halts new entries (JOURNAL_UNWRITABLE).
"""
from __future__ import annotations

import bisect
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, runtime_checkable

from trading.domain.contracts import spec_for
from trading.domain.models import Fill, utcnow
from trading.domain.pnl import dedupe_fills, round_trips
from trading.domain.reason_codes import ReasonCode
from trading.market.candles import Bar
from trading.records.journal import Journal, JournalUnwritable
from trading.records.journal_records import OutcomeRecord, TradeRecord
from trading.records.learning_hooks import LearningHooks
from trading.records.outcome_schema import money_decimals
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventLog, EventType

log = logging.getLogger(__name__)
Winner = Literal["Up", "Down"]
EPS = 1e-9


@runtime_checkable
class ResolutionSource(Protocol):
    """Who won a market window. Return None while unknown (not resolved yet, no data); raise on errors."""

    name: str

    def resolve(self, market_slug: str) -> str | None: ...


def source_name(src: object) -> str:
    """What the outcome records as its source: the source's ``name``, else ``api`` for an adapter's
    source (anything that is not the candle fallback)."""
    return str(getattr(src, "name", "") or "api")


_SLUG = re.compile(r"^(?P<asset>[a-z0-9]+)-updown-(?P<n>\d+)(?P<unit>[mh])-(?P<start>\d{9,11})$")


@dataclass(frozen=True)
class MarketWindow:
    slug: str
    asset: str
    start: datetime
    end: datetime


def parse_market_slug(slug: str) -> MarketWindow:
    """``btc-updown-15m-1768436100`` -> BTC, window starting at that Unix second, 15 minutes long."""
    m = _SLUG.match(slug.strip().lower())
    if not m:
        raise ValueError(f"not an up/down window slug: {slug!r} (expected e.g. btc-updown-15m-1768436100)")
    length = timedelta(minutes=int(m["n"])) if m["unit"] == "m" else timedelta(hours=int(m["n"]))
    start = datetime.fromtimestamp(int(m["start"]), UTC)
    return MarketWindow(slug=slug, asset=m["asset"].upper(), start=start, end=start + length)


class CandleResolutionSource:
    """Fallback: the winner from the asset's candles (open of the bar starting at the window's start vs
    close of the bar ending at its end). None unless both bars are present."""

    name = "candles"

    def __init__(self, candles: Mapping[str, Sequence[Bar]] | Callable[[str], Sequence[Bar] | None]) -> None:
        self._lookup = candles if callable(candles) else (lambda asset: candles.get(asset))

    def resolve(self, market_slug: str) -> Winner | None:
        w = parse_market_slug(market_slug)
        bars = self._lookup(w.asset)
        if not bars or len(bars) < 2:
            return None
        times = [b.ts for b in bars]
        i = bisect.bisect_left(times, w.start)
        if i >= len(bars) or bars[i].ts != w.start:
            return None
        j = bisect.bisect_left(times, w.end) - 1          # last bar starting before the window's end
        if j < i:
            return None
        step = bars[j].ts - bars[j - 1].ts if j > 0 else bars[1].ts - bars[0].ts
        if bars[j].ts + step != w.end:                     # that bar must close exactly at the window's end
            return None
        return "Up" if bars[j].close >= bars[i].open else "Down"


@dataclass
class ResolutionReport:
    resolved: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)      # not due yet, or still open
    failed: dict[str, str] = field(default_factory=dict)  # trade id -> error


class OutcomeResolver:
    def __init__(self, journal: Journal | None, ledger: RiskLedger, events: EventLog,
                 sources: Sequence[ResolutionSource] = (), hooks: LearningHooks | None = None,
                 grace_s: float | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.journal = journal
        self.ledger = ledger
        self.events = events
        self.sources = list(sources)
        self.hooks = hooks
        self.grace = timedelta(seconds=ledger.cfg.outcome_grace_s if grace_s is None else grace_s)
        self.clock = clock
        self.failures: Counter[str] = Counter()        # trade id -> failures
        self.hook_failures = 0
        self.hook_errors = 0                           # learning-hook bugs (not storage): counted, logged
        self.storage_down: Callable[[str, str | None, BaseException], None] | None = None
        self.settle: Callable[[str, float, datetime], object] | None = None   # paper: SupportsSettlement

    # -- failures are loud -------------------------------------------------------------------------
    def _fail(self, trade_id: str, source: str, error: str, level: int = logging.ERROR) -> None:
        self.failures[trade_id] += 1
        log.log(level, "outcome for trade %s not recorded (%s): %s", trade_id, source, error)
        self.events.emit(EventType.ERROR, trade_id, [ReasonCode.OUTCOME_UNRESOLVED], stage="outcome",
                         source=source, error=error, failures=self.failures[trade_id])
        if self.journal is not None:
            try:
                self.journal.record_outcome_failure(trade_id, source, error)
            except JournalUnwritable as exc:
                self._journal_down(trade_id, exc)

    def _journal_down(self, trade_id: str, exc: Exception) -> None:
        self._store_failed("journal", trade_id, exc)

    def _store_failed(self, what: str, trade_id: str, exc: BaseException) -> None:
        """A write failed: the executor's storage handler (one ERROR line, JOURNAL_UNWRITABLE halt), or
        on its own (no executor) the same halt, logged once per failure."""
        if self.storage_down is not None:
            self.storage_down(what, trade_id, exc)
            return
        log.error("%s unwritable while recording trade %s: %s; halting new entries", what, trade_id, exc)
        if ReasonCode.JOURNAL_UNWRITABLE not in self.ledger.state().active_halts:
            try:
                self.ledger.halt(ReasonCode.JOURNAL_UNWRITABLE, f"{what}: {exc} (trade {trade_id})")
            except OSError:
                pass      # the halt holds in memory
            self.events.emit(EventType.HALT, trade_id, [ReasonCode.JOURNAL_UNWRITABLE], detail=str(exc))

    # -- closing from fills ------------------------------------------------------------------------
    def close_from_fills(self, trade_id: str, entry_done: bool) -> OutcomeRecord | None:
        """Record the outcome of a trade whose fills net to zero. ``entry_done``: no entry qty still working."""
        if self.journal is None:
            return None
        trade = self.journal.trade(trade_id)
        if trade is None or trade.status == "closed" or self.journal.outcome(trade_id) is not None:
            return None
        fills = dedupe_fills(self.journal.fills(trade_id))
        if not fills or not entry_done:
            return None
        if abs(sum(f.signed_qty for f in fills)) > EPS:
            return None
        nd = money_decimals(trade.currency)    # cents; a BTC-quoted PnL (ETHBTC) keeps 8 decimals
        trips = round_trips(fills, ndigits=nd)
        if not trips:
            return None
        gross = round(sum(t.gross_pnl for t in trips), nd)
        fees = round(sum(f.commission for f in fills), nd)
        net = round(gross - fees, nd)
        qty = sum(t.qty for t in trips)
        last = fills[-1]
        role = ""
        rec = self.journal.order(last.order_id)
        if rec is not None:
            role = {"stop": "stop", "target": "target", "exit": "signal"}.get(rec.role, rec.role)
        out = OutcomeRecord(
            trade_cycle_id=trade_id, resolved_at=last.ts, won=net > 0, pnl=net, gross_pnl=gross, fees=fees,
            source="fills", exit_reason=role,
            entry_price=round(sum(t.entry_price * t.qty for t in trips) / qty, 6),
            exit_price=round(sum(t.exit_price * t.qty for t in trips) / qty, 6), qty=qty)
        return self._record(trade, out, fills)

    # -- binary windows ----------------------------------------------------------------------------
    def resolve_binary(self, trade: TradeRecord, now: datetime) -> OutcomeRecord | None:
        tid = trade.trade_cycle_id
        if not trade.market_slug or not trade.outcome_label:
            self._fail(tid, "resolver", "binary trade without market_slug / outcome_label")
            return None
        winner: str | None = None           # a source may answer any label: checked below
        used = ""
        errors = []
        for src in self.sources:
            name = source_name(src)
            try:
                winner = src.resolve(trade.market_slug)
            except Exception as exc:  # noqa: BLE001 - a pluggable source (HTTP API, files): counted, the next one is tried
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                self._fail(tid, name, f"{type(exc).__name__}: {exc}")
                continue
            if winner is not None:
                if winner not in ("Up", "Down"):
                    self._fail(tid, name, f"answered {winner!r}, expected Up or Down")
                    winner = None
                    continue
                used = name
                break
        if winner is None:
            overdue = trade.resolve_by is None or now > trade.resolve_by + self.grace
            msg = "; ".join(errors) or f"no source could resolve {trade.market_slug} " \
                                       f"(tried {', '.join(source_name(s) for s in self.sources) or 'none'})"
            if overdue and not errors:
                self._fail(tid, "resolver", msg)
            elif not errors:
                log.info("trade %s: %s not resolved yet", tid, trade.market_slug)
            return None
        fills = dedupe_fills(self.journal.fills(tid)) if self.journal is not None else []
        buys = [f for f in fills if f.side.value == "BUY"]
        sells = [f for f in fills if f.side.value == "SELL"]
        held = sum(f.qty for f in buys) - sum(f.qty for f in sells)
        if not buys or held <= EPS:
            self._fail(tid, used, "no held shares in the journal for a resolved window")
            return None
        cost_per = sum(f.qty * f.price for f in buys) / sum(f.qty for f in buys)
        won = winner.lower() == trade.outcome_label.strip().lower()
        payout = 1.0 if won else 0.0
        realized_before = sum(t.gross_pnl for t in round_trips(fills))
        gross = round(realized_before + (payout - cost_per) * held * spec_for(trade.symbol).multiplier, 6)
        fees = round(sum(f.commission for f in fills), 6)
        out = OutcomeRecord(trade_cycle_id=tid, resolved_at=trade.resolve_by or now, won=won, winner=winner,
                            pnl=round(gross - fees, 6), gross_pnl=gross, fees=fees, source=used,
                            exit_reason="resolution", entry_price=round(cost_per, 6), exit_price=payout, qty=held)
        recorded = self._record(trade, out, fills)
        if recorded is not None and self.settle is not None:   # a paper venue pays the share out (1 or 0)
            self.settle(trade.symbol, payout, out.resolved_at)
        return recorded

    # -- recording ---------------------------------------------------------------------------------
    def _record(self, trade: TradeRecord, out: OutcomeRecord, fills: list[Fill]) -> OutcomeRecord | None:
        tid = trade.trade_cycle_id
        if self.journal is None:            # both callers return earlier without a journal
            return None
        try:
            new = self.journal.record_outcome(out)
        except JournalUnwritable as exc:     # retried on the next pass; the storage halt says why
            self.failures[tid] += 1
            self._journal_down(tid, exc)
            return None
        if not new:
            return None
        try:
            self.ledger.record_outcome(tid, out.pnl, ts=out.resolved_at, source=out.source)
        except OSError as exc:               # held in memory; the halt makes it visible
            self._store_failed("risk ledger", tid, exc)
        self.events.emit(EventType.TRADE_CLOSED, tid, [], pnl=out.pnl, gross_pnl=out.gross_pnl, fees=out.fees,
                         won=out.won, source=out.source, exit_reason=out.exit_reason, winner=out.winner)
        self.events.emit(EventType.PNL, tid, [], pnl=out.pnl, source=out.source)
        paths: dict[str, str] = {}
        if self.hooks is not None:
            try:
                p1, p2 = self.hooks.on_trade_close(trade, out, fills, self.journal.verdicts(tid))
                paths = {"outcome_path": str(p1), "snapshot_path": str(p2)}
            except OSError as exc:   # full or read-only disk: a storage halt; rewritten on the next start
                self.hook_failures += 1
                self._store_failed("outcome files", tid, exc)
            except (ValueError, TypeError, KeyError, ArithmeticError) as exc:   # a bug in the hook: its own count
                self.hook_errors += 1
                log.error("learning hook failed for trade %s: %s: %s", tid, type(exc).__name__, exc)
                self.events.emit(EventType.ERROR, tid, [], stage="learning_hook", error=f"{type(exc).__name__}: {exc}")
        self.events.emit(EventType.OUTCOME, tid, [], source=out.source, won=out.won, pnl=out.pnl, **paths)
        return out

    def rewrite_artifacts(self, trade_id: str) -> bool:
        """Re-run the learning hook for an already-resolved trade (idempotent); False if nothing to write."""
        if self.journal is None or self.hooks is None:
            return False
        trade, out = self.journal.trade(trade_id), self.journal.outcome(trade_id)
        if trade is None or out is None:
            return False
        self.hooks.on_trade_close(trade, out, dedupe_fills(self.journal.fills(trade_id)), self.journal.verdicts(trade_id))
        return True

    # -- the pass ----------------------------------------------------------------------------------
    def resolve_pending(self, now: datetime | None = None,
                        entry_done: Callable[[str], bool] | None = None) -> ResolutionReport:
        """One pass over every trade without an outcome (what the old bot's auto_resolve should have been)."""
        now = now or self.clock()
        rep = ResolutionReport()
        if self.journal is None:
            return rep
        for t in self.journal.trades(status=("open", "pending")):
            tid = t.trade_cycle_id
            try:
                if t.market_slug and t.resolve_by is not None:
                    fills = self.journal.fills(tid)
                    if fills and abs(sum(f.signed_qty for f in fills)) <= EPS:
                        out = self.close_from_fills(tid, True)       # sold before the window resolved
                    elif now >= t.resolve_by:
                        out = self.resolve_binary(t, now)
                    else:
                        rep.pending.append(tid)
                        continue
                else:
                    done = entry_done(tid) if entry_done is not None else True
                    out = self.close_from_fills(tid, done)
            except (ValueError, LookupError, ArithmeticError) as exc:   # bad trade data: counted, logged with its id
                self._fail(tid, "resolver", f"{type(exc).__name__}: {exc}")
                rep.failed[tid] = str(exc)
                continue
            if out is not None:
                rep.resolved.append(tid)
            elif self.failures.get(tid):
                rep.failed[tid] = "see outcome_failures"
            else:
                rep.pending.append(tid)
        return rep
