"""The forensics result model: reconstructed trades, error signatures, process events, ES orders and intents,
per-log digests, and ``Forensics``, the one object every review team reads.

Plain dataclasses: nothing here reads a file or raises on bad values (fields hold what the logs said,
None where they said nothing).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from tools.logs.bundle import Bundle
from tools.review.forensics.errors import normalize_error
from tools.review.report import NotRun
from tools.review.series import Series

TIMELINE_MAX = 50_000

# ------------------------------------------------------------------------------------------------
# result model


@dataclass
class TradeRow:
    trade_id: str
    market: str
    asset: str
    outcome: str                      # share bought (Up/Down) or LONG/SHORT for futures
    entry_time: datetime | None
    price: float | None = None
    size: float | None = None
    cost: float | None = None
    prob: float | None = None         # the model's stated probability for the side it bought
    confidence: float | None = None
    order_id: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    in_journal: bool = False
    in_log: bool = False
    failed: bool = False              # the order failed: not a position
    winner: str | None = None
    won: bool | None = None
    pnl: float | None = None
    source: str = "unresolved"        # journal | resolution_log | candles | api | fills | unresolved
    resolved_at: datetime | None = None
    recorded: bool = False            # the bot itself recorded the outcome
    exit_time: datetime | None = None
    exit_price: float | None = None
    broker_pnl: float | None = None
    fees: float = 0.0
    log_ref: str = ""                 # the order's line in the bot's log
    conflicts: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def as_outcome_row(self) -> dict[str, Any]:
        return {"trade_id": self.trade_id, "market": self.market, "asset": self.asset, "outcome": self.outcome,
                "entry_time": self.entry_time, "price": self.price, "size": self.size, "cost": self.cost,
                "winner": self.winner, "won": self.won, "pnl": self.pnl, "source": self.source}


@dataclass
class ErrorSig:
    signature: str
    example: str
    source: str
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    levels: Counter = field(default_factory=Counter)
    trade_ids: set[str] = field(default_factory=set)
    markets: set[str] = field(default_factory=set)
    swallowed: int = 0                # occurrences logged as ignored / below ERROR
    tracebacks: int = 0
    refs: list[str] = field(default_factory=list)

    def add(self, ts: datetime, level: str, r: str, swallowed: bool, tb: bool) -> None:
        self.count += 1
        self.first = ts if self.first is None else min(self.first, ts)
        self.last = ts if self.last is None else max(self.last, ts)
        self.levels[level] += 1
        self.swallowed += int(swallowed)
        self.tracebacks += int(tb)
        if len(self.refs) < 5:
            self.refs.append(r)


@dataclass
class ProcEvent:
    ts: datetime
    source: str
    kind: str                          # start | stop | state_loaded | peak_reset | halt
    fields: dict[str, Any]
    ref: str


@dataclass
class ESOrder:
    order_id: str
    ts: datetime
    action: str
    qty: float
    symbol: str
    order_type: str
    parent_id: str | None
    trade_cycle_id: str | None
    ref: str
    lmt: float | None = None
    aux: float | None = None
    filled_ts: datetime | None = None
    fill_price: float | None = None
    fill_ref: str = ""
    cancelled: bool = False
    commission: float = 0.0
    broker_pnl: float | None = None


@dataclass
class ESIntent:
    ts: datetime
    kind: str                          # entry | exit
    action: str
    qty: float
    symbol: str
    stop: float | None
    target: float | None
    price: float | None
    ref: str
    believed_position: int | None = None
    live_position: float | None = None
    advisory: dict[str, Any] | None = None
    advisory_ignored: bool = False
    signal: dict[str, Any] | None = None
    mark: float | None = None
    order_id: str | None = None


@dataclass
class ESData:
    intents: list[ESIntent] = field(default_factory=list)
    orders: dict[str, ESOrder] = field(default_factory=dict)
    positions: list[tuple[datetime, str, float, str]] = field(default_factory=list)   # ts, symbol, qty, ref
    advisories: list[dict[str, Any]] = field(default_factory=list)
    ignored_advisories: list[dict[str, Any]] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    bad_levels: list[str] = field(default_factory=list)
    lost_telemetry: list[str] = field(default_factory=list)
    structured: list[dict[str, Any]] = field(default_factory=list)
    marks: list[tuple[float, float]] = field(default_factory=list)   # (epoch, last) sampled from quotes
    heartbeats: int = 0


@dataclass
class LogDigest:
    source: str
    fmt: str
    stats: dict[str, Any]
    first: datetime | None = None
    last: datetime | None = None
    records: int = 0
    gaps: list[tuple[datetime, datetime, float]] = field(default_factory=list)
    per_minute: Counter = field(default_factory=Counter)            # (minute epoch, level) -> records
    full_parse: bool = True


@dataclass
class Forensics:
    bundle: Bundle
    kind: str
    zone: str
    trades: list[TradeRow] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    timeline_dropped: int = 0
    errors: dict[tuple[str, str], ErrorSig] = field(default_factory=dict)
    process: list[ProcEvent] = field(default_factory=list)
    balances: list[tuple[datetime, float | None, float | None, float | None, str]] = field(default_factory=list)  # ts, bal, peak, dd, ref
    dd_checks: list[tuple[datetime, float | None, float | None, str, str]] = field(default_factory=list)   # ts, dd, limit, res, ref
    dd_check_counts: Counter = field(default_factory=Counter)
    bal_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))             # every balance reading: epoch
    bal_val: np.ndarray = field(default_factory=lambda: np.zeros(0))            # ... its value
    bal_line: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ... its line
    bal_src: list[tuple[int, str]] = field(default_factory=list)                 # (first index, log name)
    dd_check_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))        # epoch of every check
    dd_check_halt: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # its verdict was HALT
    sig_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sig_prob: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sig_conf: np.ndarray = field(default_factory=lambda: np.zeros(0))
    resolved_markets: dict[str, tuple[str, datetime, str]] = field(default_factory=dict)   # slug -> winner, ts, ref
    logged_outcomes: dict[str, tuple[bool, float, datetime, str]] = field(default_factory=dict)
    resolution_passes: list[tuple[datetime, int, str]] = field(default_factory=list)
    record_failures: Counter = field(default_factory=Counter)         # trade_id -> failed attempts
    logs: dict[str, LogDigest] = field(default_factory=dict)
    journal_error: str | None = None
    journal_trades: int = 0
    journal_outcomes: int = 0
    state: dict[str, Any] | None = None
    state_error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    events_bad_lines: int = 0
    candles: dict[str, Series] = field(default_factory=dict)
    candle_errors: dict[str, str] = field(default_factory=dict)
    es: ESData | None = None
    could_not_run: list[NotRun] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    # -- conveniences for the other teams ---------------------------------------------------------
    @property
    def positions(self) -> list[TradeRow]:
        return [t for t in self.trades if not t.failed]

    @property
    def resolved(self) -> list[TradeRow]:
        return [t for t in self.positions if t.pnl is not None]

    @property
    def span(self) -> tuple[datetime | None, datetime | None]:
        firsts = [d.first for d in self.logs.values() if d.first]
        lasts = [d.last for d in self.logs.values() if d.last]
        return (min(firsts) if firsts else None, max(lasts) if lasts else None)

    def metrics(self) -> dict[str, Any]:
        pos = self.positions
        res = self.resolved
        return {
            "trades": len(pos),
            "outcomes_recorded": sum(1 for t in pos if t.recorded),
            "outcomes_reconstructed": sum(1 for t in pos if t.pnl is not None and not t.recorded),
            "unresolved": sum(1 for t in pos if t.pnl is None),
            "wins": sum(1 for t in res if t.won),
            "losses": sum(1 for t in res if t.won is False),
            "net_pnl": round(sum(t.pnl or 0.0 for t in res), 2) if res else 0.0,
            "by_source": dict(Counter(t.source for t in pos)),
        }

    def fmt(self, ts: datetime | None) -> str:
        """A time as the reports show it: ISO 8601 in the bundle's display zone."""
        from tools.review.report import fmt_ts

        return fmt_ts(ts, self.zone) if ts is not None else "n/a"

    def balance_ref(self, i: int) -> str:
        name = next((n for start, n in reversed(self.bal_src) if start <= i), "log")
        return f"{name}:L{int(self.bal_line[i])}"

    def add_timeline(self, ts: datetime | None, source: str, event: str, trade_id: str | None, detail: str) -> None:
        if len(self.timeline) >= TIMELINE_MAX:
            self.timeline_dropped += 1
            return
        self.timeline.append({"time": ts, "source": source, "event": event, "trade_id": trade_id or "",
                              "detail": detail})

    def error(self, source: str, text: str) -> ErrorSig:
        key = (Path(source).name, normalize_error(text))
        sig = self.errors.get(key)
        if sig is None:
            sig = self.errors[key] = ErrorSig(signature=key[1], example=text[:300], source=key[0])
        return sig

