"""What a trading session reports: its files, its summary (computed from the journal and the files it
describes) and its progress lines.

The summary counts what is on disk: ``trades`` are the journal's outcomes of the trades this session
opened, ``outcome_files`` the outcome files of those trades that exist (with their snapshot), and
``blocked_orders`` equals the sum of ``blocked_by_reason`` (each blocked order counted once, under its
first blocking code; further codes of the same verdict are in ``blocked_also``). An entry refused by its
size (``size_or_refuse``: NOTIONAL_CAP, SIZE_ROUNDS_TO_ZERO, MISSING_PROTECTION) is a blocked order too,
recorded like a guard block (a BLOCK verdict in the event log and the journal) and counted under its code.
Failure contract: pure formatting and file-existence checks; raises nothing for missing files (they
are simply not counted); ``size_or_refuse`` leaves a journal that refuses the verdict to the executor's
own handling (halted entries, counted).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from trading.domain.fx import current as fx_rates
from trading.domain.instruments import size_entry
from trading.domain.models import IntentKind, OrderIntent, Side
from trading.domain.reason_codes import ReasonCode
from trading.guards.verdict import GuardVerdict
from trading.records.journal_records import OutcomeRecord
from trading.records.outcome_schema import artefact_paths, instrument_facts, money_decimals


class SessionSummary(BaseModel):
    broker: str
    symbol: str
    bars: int = 0
    bars_skipped: int = 0                # already processed by the resumed account: history only
    signals: int = 0
    entries_sent: int = 0
    exits_sent: int = 0
    trades: int = 0                      # opened and closed in this session
    wins: int = 0
    losses: int = 0
    win_rate_pct: float | None = None
    pnl_usd: float = 0.0                 # net, from fills, in ``currency`` (the field name is historical)
    fees_usd: float = 0.0
    currency: str = "USD"                # the instrument's PnL currency (BTC for ETHBTC), from the registry
    account_currency: str = "USD"        # equity, drawdown and every guard limit ([broker] account_currency)
    start_equity: float | None = None
    end_equity: float | None = None
    max_drawdown_usd: float = 0.0
    max_drawdown_pct: float = 0.0
    blocked_orders: int = 0
    blocked_by_reason: dict[str, int] = Field(default_factory=dict)   # first blocking code per order
    blocked_also: dict[str, int] = Field(default_factory=dict)        # further codes of the same verdicts
    open_position: float | None = None
    open_trades: int = 0
    outcome_files: int = 0
    artefacts_repaired: int = 0          # outcome / snapshot files a restart rewrote
    halts: list[str] = Field(default_factory=list)
    errors: dict[str, int] = Field(default_factory=dict)
    storage_error: str | None = None     # the first write that failed
    reconcile: str = ""
    interrupted: bool = False
    elapsed_s: float = 0.0
    bars_per_s: float | None = None
    paths: dict[str, str] = Field(default_factory=dict)


@dataclass
class SessionFiles:
    data_dir: Path

    @property
    def journal(self) -> Path:
        return self.data_dir / "journal" / "journal.db"

    paper_account: str | None = None

    @property
    def ledger(self) -> Path:
        """The live risk ledger (what ``warden risk`` shows). A paper account gets its own: a replay's
        losses and equity (from its own starting cash) must never move the live peak or halt live entries."""
        if self.paper_account:
            return self.data_dir / "risk" / "paper" / f"{self.paper_account}.jsonl"
        return self.data_dir / "risk" / "ledger.jsonl"

    @property
    def events(self) -> Path:
        return self.data_dir / "telemetry" / "events.jsonl"


def files_on_disk(data_dir: Path, outcomes: list[OutcomeRecord]) -> int:
    """How many of these outcomes have both their outcome file and their snapshot on disk."""
    n = 0
    for o in outcomes:
        p1, p2 = artefact_paths(data_dir, o.trade_cycle_id, o.resolved_at)
        if p1.is_file() and p2.is_file():
            n += 1
    return n


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def progress_line(done: int, total: int | None, elapsed_s: float, now: datetime | None, equity: float | None,
                  entries: int, closed: int, blocked: int) -> str:
    """``bar 1200 of 20000 (6.0%) 2026-01-02 15:00 | 850 bars/s, ~22s left | equity 100,250.00 ...``"""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    head = f"bar {done}"
    tail = f"{rate:,.0f} bars/s"
    if total:
        head += f" of {total} ({done / total * 100:.1f}%)"
        left = (total - done) / rate if rate > 0 else None
        tail += f", ~{_duration(left)} left" if left is not None else ""
    when = f" {now:%Y-%m-%d %H:%M}" if now is not None else ""
    eq = f"{equity:,.2f}" if equity is not None else "?"
    return f"{head}{when} | {tail} | equity {eq} entries {entries} closed {closed} blocked {blocked}"


def summarize(session: Any) -> SessionSummary:
    """The summary of a ``TradingSession`` from its executor, journal and files."""
    ex = session.executor
    outs = []
    if ex.journal is not None:
        mine = set(session.cycles)
        outs = [o for o in ex.journal.outcomes() if o.trade_cycle_id in mine]
    wins = sum(1 for o in outs if o.won)
    elapsed = time.perf_counter() - session._started
    state = ex.risk_state(session.clock())
    halts = [c.value for c in state.active_halts] + (["DRAWDOWN_HALT"] if state.halted else [])
    live = ex.snapshot((session.symbol,)).position(session.symbol)    # a read failure is None (logged, counted)
    errors = {k: v for k, v in {**dict(ex.stats), **session.counts}.items()
              if ("error" in k or "unknown" in k or "failures" in k or "mismatch" in k) and v}
    if ex.resolver is not None and ex.resolver.failures:
        errors["outcome_failures"] = sum(ex.resolver.failures.values())
    if ex.events.failures:
        errors["event_log_failures"] = ex.events.failures
    if ex.events.torn_tails:      # a torn last line left by a killed writer, cut on open
        errors["event_log_torn_lines_cut"] = ex.events.torn_tails
    files = session.files
    ccy = instrument_facts(session.symbol, str(getattr(session.broker, "name", ""))).currency
    return SessionSummary(
        broker=str(getattr(session.broker, "name", "")), symbol=session.symbol, bars=session._bars,
        bars_skipped=session.skipped, signals=session.counts["signals"], entries_sent=ex.stats["entries_sent"],
        exits_sent=ex.stats["exits_sent"], trades=len(outs), wins=wins, losses=len(outs) - wins,
        win_rate_pct=round(wins / len(outs) * 100, 2) if outs else None,
        pnl_usd=round(sum(o.pnl for o in outs), money_decimals(ccy)),
        fees_usd=round(sum(o.fees for o in outs), money_decimals(ccy)), currency=ccy,
        account_currency=fx_rates().account_currency,
        start_equity=session._start_equity, end_equity=session._end_equity,
        max_drawdown_usd=round(session._max_dd[0], 2), max_drawdown_pct=round(session._max_dd[1], 4),
        blocked_orders=sum(ex.blocked.values()), blocked_by_reason=dict(sorted(ex.blocked.items())),
        blocked_also=dict(sorted(ex.blocked_also.items())),
        open_position=live, open_trades=len(ex.journal.trades(status=("open", "pending"), account=ex.account))
        if ex.journal is not None else 0,
        outcome_files=files_on_disk(files.data_dir, outs) if files is not None else 0,
        artefacts_repaired=session.repaired, halts=sorted(set(halts)), errors=errors,
        storage_error=ex.storage_error, reconcile=ex.last_reconcile.describe() if ex.last_reconcile else "",
        interrupted=session.interrupted,
        paths={"journal": str(files.journal), "events": str(files.events),
               "ledger": str(files.ledger), "data_dir": str(files.data_dir)} if files else {},
        elapsed_s=round(elapsed, 3), bars_per_s=round(session._bars / elapsed, 1) if elapsed > 0 else None)


def size_or_refuse(executor: Any, symbol: str, side: Side, price: float, stop: float | None, target: float | None,
                   qty: float, equity: float | None, cycle: str, now: datetime) -> float:
    """The entry quantity (``trading.domain.instruments.size_entry``), or 0.0 for a refused entry, which is
    recorded like a guard block: a BLOCK verdict with its reason code in the event log and the journal,
    counted in the executor's ``blocked`` (so the summary's blocked = the sum of its per-reason counts)."""
    d = size_entry(symbol, price, stop, qty, executor.guards, equity, cycle)
    if d.qty:
        return d.qty
    code = ReasonCode(d.code) if d.code in ReasonCode.__members__ else ReasonCode.INPUT_INVALID
    intent = OrderIntent(kind=IntentKind.ENTRY, side=side, qty=d.wanted or qty, symbol=symbol, price=price,
                         stop=stop, target=target, trade_cycle_id=cycle, created_at=now)
    verdict = GuardVerdict(allowed=False, reason_codes=[code], intent=intent, original_intent=intent,
                           judged_as=IntentKind.ENTRY,
                           evidence={"sizing": d.reason, "notional": round(d.notional, 2), "stage": "sizing"})
    executor._log_verdict(verdict, now)     # the executor's record of a verdict: event log first, then journal
    executor.stats["blocked"] += 1
    executor.stats["sizing_refused"] += 1
    executor.blocked[code.value] += 1
    return 0.0
