"""Data forensics: read every input of a bundle once and reconstruct what happened.

One streaming pass per log keeps only what the other teams need: trade-related records, the
process lifecycle, error signatures, change-compressed balance and drawdown-check series, compact
signal arrays (for drift), per-minute record counts and logging gaps. A 100+ MB log never becomes a
list of Python records.

Outcomes are reconstructed in order of trust (seed 001, Data Forensics):
recorded outcomes (journal ``outcomes`` table) > ``Market ... resolved`` lines > candles (Up iff the
close at the window's end >= the open at its start) > the Polymarket API when configured; what is
left stays ``unresolved``. ES round trips come from fills (trading.domain.pnl), never from IB's realizedPNL.
"""
from __future__ import annotations

import logging
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from tools.logs.bundle import Bundle, read_events, read_state
from tools.logs.reader import read_log
from tools.logs.records import LogRecord
from tools.review.report import NotRun
from trading.domain.contracts import spec_for
from trading.domain.models import Fill, Side
from trading.domain.pnl import round_trips

log = logging.getLogger(__name__)

WINDOW_S = 900
SLUG = re.compile(r"^(?P<asset>[a-z0-9]+)-updown-(?P<mins>\d+)m-(?P<start>\d{9,11})$")
# Above these sizes a log's noise lines (heartbeats, quotes) / its lines matching no rule are counted by
# the reader, not turned into records (each record costs a timestamp parse in Python).
FULL_PARSE_MAX_BYTES = 32 << 20
UNKNOWN_PARSE_MAX_BYTES = 8 << 20
TIMELINE_MAX = 50_000
GAP_MIN_S = 120.0

# Known exception signatures -> (likely cause, fix). Matching is on lower-cased text.
KNOWN_ERRORS: list[tuple[str, str, str]] = [
    ("readonly database", "the process cannot write the SQLite journal: the file or its folder is read-only for "
     "its user (ownership, permissions or a read-only mount)",
     "fix ownership/permissions of trade_journal.db and its folder; probe a write at start and halt entries "
     "when the journal is unwritable"),
    ("database is locked", "another process holds the write lock and no busy timeout is set",
     "set a busy timeout, use WAL mode and a single writer"),
    ("disk i/o error", "the disk failed or filled up", "alert on disk space; halt entries on write failure"),
    ("no space left", "the disk is full", "alert on disk space; rotate logs"),
    ("no such table", "the resolver and the bot disagree on the schema", "versioned schema migrations"),
    ("no such column", "the resolver and the bot disagree on the schema", "versioned schema migrations"),
    ("timed out", "a network call timed out", "retry with backoff and alert after N failures"),
    ("connection", "a network connection failed", "retry with backoff and alert after N failures"),
]


def slug_window(slug: str | None) -> tuple[str, datetime, datetime] | None:
    """(asset, window start, window end) named by a slug like btc-updown-15m-1768437900."""
    if not slug:
        return None
    m = SLUG.match(slug.strip().lower())
    if not m:
        return None
    start = datetime.fromtimestamp(int(m.group("start")), UTC)
    return m.group("asset").upper(), start, start + timedelta(minutes=int(m.group("mins")))


def normalize_error(text: str) -> str:
    """An error signature: the exception text with ids, numbers and quoted values masked."""
    t = re.sub(r"0x[0-9a-fA-F]+", "<hex>", text.strip())
    t = re.sub(r"'[^']*'|\"[^\"]*\"", "<str>", t)
    t = re.sub(r"\b\d+(\.\d+)?\b", "<n>", t)
    return t[:240]


def known_cause(text: str) -> tuple[str, str] | None:
    low = text.lower()
    for needle, cause, fix in KNOWN_ERRORS:
        if needle in low:
            return cause, fix
    return None


def ref(source: str, line: int | None) -> str:
    return f"{Path(source).name}:L{line}" if line else Path(source).name


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
class Candles:
    asset: str
    t: np.ndarray                      # int64 epoch seconds (bar open)
    o: np.ndarray
    h: np.ndarray
    low: np.ndarray
    c: np.ndarray
    interval_s: int
    source: str
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t)


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
    balances: list[tuple[datetime, float, float, float, str]] = field(default_factory=list)  # ts, bal, peak, dd, ref
    dd_checks: list[tuple[datetime, float, float, str, str]] = field(default_factory=list)   # ts, dd, limit, res, ref
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
    candles: dict[str, Candles] = field(default_factory=dict)
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
            "net_pnl": round(sum(t.pnl for t in res), 2) if res else 0.0,
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


# ------------------------------------------------------------------------------------------------
# log passes


_EPOCH = datetime(1970, 1, 1)
# bulk events whose handlers need only the epoch (no aware datetime is built for them)
_HOT_MOMENTUM = frozenset({"signal"})
_HOT_MYTRADER = frozenset({"heartbeat", "market_data"})


class _Pass:
    """State of one streaming pass over one log."""

    def __init__(self, fx: Forensics, path: Path, fmt: str) -> None:
        self.fx = fx
        self.path = path
        self.name = path.name
        self.fmt = fmt
        self.size = path.stat().st_size
        self.full = self.size <= FULL_PARSE_MAX_BYTES
        self.unknown = self.size <= UNKNOWN_PARSE_MAX_BYTES
        self.digest = LogDigest(source=self.name, fmt=fmt, stats={}, full_parse=self.full)
        self.prev_epoch: float | None = None
        self.last_market: str | None = None       # resolver: the market being resolved
        self.believed: int | None = None          # mytrader: the position the bot believes it holds
        self.last_signal: dict[str, tuple[float, float, datetime, str]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.sig_ts = array("d")
        self.sig_prob = array("d")
        self.sig_conf = array("d")
        self.chk_ts = array("d")
        self.chk_halt = array("b")
        self.bal_ts = array("d")
        self.bal_val = array("d")
        self.bal_line = array("q")
        self.last_balance: tuple[float, float] | None = None
        self.last_check: tuple[float, str] | None = None
        self.pending_link: tuple[float, str] | None = None   # (epoch, trade_id) of the last order

    def run(self) -> None:
        reader = read_log(self.path, self.fmt, include_unknown=self.unknown, include_noise=self.full)
        zone = ZoneInfo(reader.tz)
        offsets: dict[datetime, float] = {}        # naive hour -> UTC offset seconds (DST-aware, cached)
        handlers = _MOMENTUM if self.fmt == "momentum" else _MYTRADER
        hot = _HOT_MOMENTUM if self.fmt == "momentum" else _HOT_MYTRADER
        d = self.digest
        per_minute = d.per_minute
        gap_min = GAP_MIN_S
        first_ep = last_ep = None
        n = 0
        for rec in reader:
            # the epoch straight from the naive time: no aware datetime for the bulk of the records
            naive = rec.ts
            hour = naive.replace(minute=0, second=0, microsecond=0)
            off = offsets.get(hour)
            if off is None:
                uo = naive.replace(tzinfo=zone).utcoffset()
                off = offsets[hour] = uo.total_seconds() if uo else 0.0
            ep = (naive - _EPOCH).total_seconds() - off
            n += 1
            if first_ep is None:
                first_ep = ep
            last_ep = ep
            per_minute[(int(ep // 60), rec.level)] += 1
            pe = self.prev_epoch
            if pe is not None and ep - pe > gap_min:
                d.gaps.append((datetime.fromtimestamp(pe, UTC), datetime.fromtimestamp(ep, UTC), ep - pe))
            self.prev_epoch = ep
            ev = rec.event
            h = handlers.get(ev)
            if h is not None:
                h(self, rec, None if ev in hot else datetime.fromtimestamp(ep, UTC), ep)
            elif ev == "unknown" and rec.level in ("ERROR", "CRITICAL"):
                _unknown_error(self, rec, datetime.fromtimestamp(ep, UTC), ep)
        d.first = datetime.fromtimestamp(first_ep, UTC) if first_ep is not None else None
        d.last = datetime.fromtimestamp(last_ep, UTC) if last_ep is not None else None
        d.records = n
        d.stats = reader.stats.as_dict()
        fx = self.fx
        if len(self.sig_ts):
            fx.sig_ts = np.concatenate([fx.sig_ts, np.frombuffer(self.sig_ts, dtype=float)])
            fx.sig_prob = np.concatenate([fx.sig_prob, np.frombuffer(self.sig_prob, dtype=float)])
            fx.sig_conf = np.concatenate([fx.sig_conf, np.frombuffer(self.sig_conf, dtype=float)])
        if len(self.bal_ts):
            fx.bal_src.append((len(fx.bal_ts), self.name))
            fx.bal_ts = np.concatenate([fx.bal_ts, np.frombuffer(self.bal_ts, dtype=float)])
            fx.bal_val = np.concatenate([fx.bal_val, np.frombuffer(self.bal_val, dtype=float)])
            fx.bal_line = np.concatenate([fx.bal_line, np.frombuffer(self.bal_line, dtype=np.int64)])
        if len(self.chk_ts):
            fx.dd_check_ts = np.concatenate([fx.dd_check_ts, np.frombuffer(self.chk_ts, dtype=float)])
            fx.dd_check_halt = np.concatenate([fx.dd_check_halt, np.frombuffer(self.chk_halt, dtype=np.int8) > 0])
        fx.logs[self.name] = d

    def r(self, rec: LogRecord) -> str:
        return f"{self.name}:L{rec.line_no}"


def _unknown_error(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    text = rec.extra[-1].strip() if rec.extra else rec.message
    p.fx.error(p.name, text).add(ts, rec.level, p.r(rec), False, bool(rec.extra))
    p.fx.add_timeline(ts, p.name, "error", None, rec.message[:200])


# -- momentum ---------------------------------------------------------------------------------------

def _m_signal(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    prob, conf = f.get("prob"), f.get("confidence")
    p.sig_ts.append(ep)
    p.sig_prob.append(prob if prob is not None else np.nan)
    p.sig_conf.append(conf if conf is not None else np.nan)
    m = f.get("market")
    if m:
        p.last_signal[m] = (prob, conf, ep, p.r(rec), f.get("direction"))  # type: ignore[assignment]


def _m_intent(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    sig = p.last_signal.get(f.get("market"))
    p.intents[tid] = {"ts": ts, "market": f.get("market"), "outcome": f.get("outcome"), "price": f.get("price"),
                      "size": f.get("size"), "cost": f.get("cost"), "ref": p.r(rec),
                      "prob": sig[0] if sig else None, "confidence": sig[1] if sig else None,
                      "signal_ref": sig[3] if sig else None}
    p.pending_link = (ep, tid)
    p.fx.add_timeline(ts, p.name, "order_intent", tid,
                      f"{f.get('market')} {f.get('outcome')} price={f.get('price')} size={f.get('size')} "
                      f"cost={f.get('cost')}" + (f" prob={sig[0]}" if sig else ""))


def _m_placed(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    it = p.intents.setdefault(tid, {"ts": ts, "ref": p.r(rec)})
    it["order_id"] = f.get("order_id")
    it["status"] = f.get("status")
    p.fx.add_timeline(ts, p.name, "order_placed", tid, f"order_id={f.get('order_id')} status={f.get('status')}")


def _m_failed(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    p.intents.setdefault(tid, {"ts": ts, "ref": p.r(rec)})["failed"] = True
    sig = p.fx.error(p.name, f"Order failed: {f.get('error')}")
    sig.add(ts, rec.level, p.r(rec), rec.level not in ("ERROR", "CRITICAL"), bool(rec.extra))
    sig.trade_ids.add(tid)
    p.fx.add_timeline(ts, p.name, "order_failed", tid, str(f.get("error"))[:200])


def _m_balance(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
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


def _m_check(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
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


def _m_proc(kind: str) -> Callable[[_Pass, LogRecord, datetime, float], None]:
    def h(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
        p.fx.process.append(ProcEvent(ts, p.name, kind, dict(rec.fields), p.r(rec)))
        p.fx.add_timeline(ts, p.name, kind, None, rec.message[:200])
    return h


def _m_pass(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    n = int(rec.fields.get("pending") or 0)
    p.fx.resolution_passes.append((ts, n, p.r(rec)))
    p.last_market = None


def _m_resolved(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    m = f.get("market")
    p.last_market = m
    if m and m not in p.fx.resolved_markets:
        p.fx.resolved_markets[m] = (str(f.get("winner")), ts, p.r(rec))
        p.fx.add_timeline(ts, p.name, "market_resolved", None, f"{m} winner={f.get('winner')}")


def _m_recorded(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    tid = str(f.get("trade_id"))
    p.fx.logged_outcomes[tid] = (bool(f.get("won")), float(f.get("pnl") or 0.0), ts, p.r(rec))
    p.fx.add_timeline(ts, p.name, "outcome_recorded", tid, f"won={f.get('won')} pnl={f.get('pnl')}")


def _m_res_error(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
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


_MOMENTUM: dict[str, Callable[[_Pass, LogRecord, datetime, float], None]] = {
    "signal": _m_signal, "order_intent": _m_intent, "placed": _m_placed, "failed": _m_failed,
    "balance": _m_balance, "drawdown_check": _m_check, "start": _m_proc("start"), "stop": _m_proc("stop"),
    "state_loaded": _m_proc("state_loaded"), "peak_reset": _m_proc("peak_reset"),
    "resolution_pass": _m_pass, "market_resolved": _m_resolved, "outcome_recorded": _m_recorded,
    "resolution_error": _m_res_error,
}


# -- mytrader ---------------------------------------------------------------------------------------

def _es(p: _Pass) -> ESData:
    if p.fx.es is None:
        p.fx.es = ESData()
    return p.fx.es


def _t_signal(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    d = {"ts": ts, "ref": p.r(rec), **f}
    _es(p).signals.append(d)
    p.sig_ts.append(ep)
    p.sig_prob.append(np.nan)
    p.sig_conf.append(f.get("confidence") if f.get("confidence") is not None else np.nan)
    if f.get("signal") != "HOLD":
        p.fx.add_timeline(ts, p.name, "signal", None, rec.message[:200])


def _t_advisory(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).advisories.append({"ts": ts, "ref": p.r(rec), **rec.fields})
    p.fx.add_timeline(ts, p.name, "advisory", None, rec.message[:200])


def _t_ignored(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).ignored_advisories.append({"ts": ts, "ref": p.r(rec), **rec.fields})
    p.fx.add_timeline(ts, p.name, "advisory_ignored", None, rec.message[:200])


def _t_exit_decision(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    pos = rec.fields.get("position")
    p.believed = int(pos) if pos is not None else None    # the bot's belief, used by the next exit intent
    p.fx.add_timeline(ts, p.name, "exit_decision", None, rec.message[:200])


def _t_intent(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
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
    es.intents.append(ESIntent(ts=ts, kind=str(f.get("kind")), action=str(f.get("action")), qty=float(f.get("qty")),
                               symbol=str(f.get("symbol")), stop=f.get("stop"), target=f.get("target"),
                               price=f.get("price"), ref=p.r(rec), believed_position=believed, live_position=live,
                               advisory=adv, advisory_ignored=ign, signal=sig, mark=mark))
    p.fx.add_timeline(ts, p.name, "order_intent", None, rec.message[:200])


def _t_submitted(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    es = _es(p)
    oid = str(f.get("order_id"))
    o = ESOrder(order_id=oid, ts=ts, action=str(f.get("action")), qty=float(f.get("qty")), symbol=str(f.get("symbol")),
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


def _t_filled(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    es = _es(p)
    oid = str(f.get("order_id"))
    o = es.orders.get(oid)
    if o is None:
        o = es.orders[oid] = ESOrder(order_id=oid, ts=ts, action=str(f.get("action")), qty=float(f.get("qty")),
                                     symbol="?", order_type="?", parent_id=None,
                                     trade_cycle_id=f.get("trade_cycle_id"), ref=p.r(rec))
    o.filled_ts, o.fill_price, o.fill_ref = ts, f.get("avg_price"), p.r(rec)
    o.trade_cycle_id = o.trade_cycle_id or f.get("trade_cycle_id")
    p.fx.add_timeline(ts, p.name, "order_filled", o.trade_cycle_id, rec.message[:200])


def _t_cancelled(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    o = _es(p).orders.get(str(rec.fields.get("order_id")))
    if o:
        o.cancelled = True
    p.fx.add_timeline(ts, p.name, "order_cancelled", o.trade_cycle_id if o else None, rec.message[:200])


def _t_position(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    _es(p).positions.append((ts, str(f.get("symbol")), float(f.get("position")), p.r(rec)))
    p.fx.add_timeline(ts, p.name, "position", None, rec.message[:200])


def _t_commission(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    f = rec.fields
    o = _es(p).orders.get(str(f.get("order_id")))
    if o:
        o.commission += float(f.get("commission") or 0.0)
        if f.get("realized_pnl") is not None:
            o.broker_pnl = float(f["realized_pnl"])
    p.fx.add_timeline(ts, p.name, "commission", o.trade_cycle_id if o else None, rec.message[:200])


def _t_alert(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).alerts.append({"ts": ts, "ref": p.r(rec), **rec.fields})
    p.fx.add_timeline(ts, p.name, "alert", None, rec.message[:200])


def _t_bad_levels(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).bad_levels.append(p.r(rec))
    p.fx.add_timeline(ts, p.name, "bad_levels", None, rec.message[:200])


def _t_lost(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).lost_telemetry.append(p.r(rec))
    p.fx.add_timeline(ts, p.name, "lost_telemetry", None, rec.message[:200])


def _t_structured(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    data = rec.fields.get("data")
    if isinstance(data, dict):
        _es(p).structured.append({"_ts": ts, "_ref": p.r(rec), **data})


def _t_heartbeat(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    _es(p).heartbeats += 1


def _t_market(p: _Pass, rec: LogRecord, ts: datetime, ep: float) -> None:
    es = _es(p)
    last = rec.fields.get("last")
    if last is not None and (not es.marks or ep - es.marks[-1][0] >= 1.0):
        es.marks.append((ep, float(last)))


_MYTRADER: dict[str, Callable[[_Pass, LogRecord, datetime, float], None]] = {
    "signal": _t_signal, "advisory": _t_advisory, "advisory_ignored": _t_ignored, "exit_decision": _t_exit_decision,
    "order_intent": _t_intent, "submitted": _t_submitted, "filled": _t_filled, "cancelled": _t_cancelled,
    "position": _t_position, "commission": _t_commission, "alert": _t_alert, "bad_levels": _t_bad_levels,
    "lost_telemetry": _t_lost, "structured_event": _t_structured, "heartbeat": _t_heartbeat,
    "market_data": _t_market,
}


# ------------------------------------------------------------------------------------------------
# candles


def load_candles(bundle: Bundle, fx: Forensics) -> None:
    from trading.market.candles import CandleFormatError, read_candles

    for asset, path in bundle.candles.items():
        try:
            cs = read_candles(path)
        except (CandleFormatError, ValueError, OSError) as exc:
            fx.candle_errors[asset] = str(exc)
            log.error("candles %s unreadable: %s", path, exc)
            continue
        t = np.array([int(b.ts.timestamp()) for b in cs.bars], dtype=np.int64)
        arr = np.array([(b.open, b.high, b.low, b.close) for b in cs.bars], dtype=float).reshape(-1, 4)
        interval = int(cs.interval.total_seconds()) if cs.interval else 60
        fx.candles[asset] = Candles(asset, t, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], interval, str(path),
                                    dict(cs.dropped))


def candle_winner(c: Candles, start: datetime, end: datetime) -> tuple[str, float, float] | None:
    """Up iff the close at the window's end >= the open at its start; None if a bar is missing."""
    s, e = int(start.timestamp()), int(end.timestamp())
    i = int(np.searchsorted(c.t, s))
    j = int(np.searchsorted(c.t, e - c.interval_s))
    if i >= len(c.t) or c.t[i] != s or j >= len(c.t) or c.t[j] != e - c.interval_s:
        return None
    o, cl = float(c.o[i]), float(c.c[j])
    return ("Up" if cl >= o else "Down"), o, cl


# ------------------------------------------------------------------------------------------------
# the whole forensics step


ApiResolver = Callable[[str], "str | None"]


def run_forensics(bundle: Bundle, api_resolver: ApiResolver | None = None) -> Forensics:
    fx = Forensics(bundle=bundle, kind=bundle.kind, zone=bundle.zone)
    missing = bundle.missing()
    for inp, analyses in missing.items():
        for a in analyses:
            fx.could_not_run.append(NotRun(analysis=a, lacking=inp))
    # logs: bot.log first, then the rest in name order (resolver logs refer to the bot's trades)
    intents: dict[str, dict[str, Any]] = {}
    order = sorted(bundle.logs, key=lambda n: (n != "bot.log", n))
    for name in order:
        fmt = bundle.log_formats.get(name, "unknown")
        if fmt == "unknown":
            continue
        p = _Pass(fx, bundle.logs[name], fmt)
        p.run()
        intents.update(p.intents)
        if not p.full and fmt == "mytrader":
            fx.could_not_run.append(NotRun(analysis=f"heartbeat gaps and price marks from quotes in {name}",
                                           lacking=f"parsed noise lines (log over {FULL_PARSE_MAX_BYTES >> 20} MB: "
                                                   "heartbeats and quotes are counted, not parsed)"))
        if not p.unknown:
            fx.could_not_run.append(NotRun(analysis=f"unmatched ERROR lines in {name}",
                                           lacking=f"parsed unmatched lines (log over {UNKNOWN_PARSE_MAX_BYTES >> 20} "
                                                   "MB: lines matching no rule are counted by logger and level)"))
    fx.state, fx.state_error = read_state(bundle.state)
    if bundle.state is not None and fx.state is None:
        fx.could_not_run.append(NotRun(analysis="state-file consistency check", lacking=f"readable state file "
                                       f"({fx.state_error})"))
    fx.events, fx.events_bad_lines = read_events(bundle.events)
    load_candles(bundle, fx)
    for asset, err in fx.candle_errors.items():
        fx.could_not_run.append(NotRun(analysis=f"candles for {asset}", lacking=f"readable candles ({err})"))
    if fx.kind == "es":
        _build_es_trades(fx)
    else:
        _build_poly_trades(fx, intents, api_resolver)
    fx.timeline.sort(key=lambda r: (r["time"] or datetime.min.replace(tzinfo=UTC)))
    fx.counts = {"log_records": {n: d.records for n, d in fx.logs.items()},
                 "timeline_rows": len(fx.timeline), "timeline_dropped": fx.timeline_dropped,
                 "error_signatures": len(fx.errors), "signals": int(len(fx.sig_ts))}
    return fx


def _build_poly_trades(fx: Forensics, intents: dict[str, dict[str, Any]], api: ApiResolver | None) -> None:
    trades: dict[str, TradeRow] = {}
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
            w = slug_window(t.market_slug)
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
        w = slug_window(it.get("market"))
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
        if c is not None and row.window_start is not None:
            cw = candle_winner(c, row.window_start, row.window_end)  # type: ignore[arg-type]
        if cw is not None:
            if row.pnl is None:
                _settle(row, cw[0], "candles", row.window_end)
                row.evidence.append(f"candles/{Path(c.source).name}@{row.window_start.isoformat()}")  # type: ignore
            elif row.winner and row.winner.lower() != cw[0].lower():
                row.conflicts.append(f"candles say {cw[0]} (open {cw[1]:g}, close {cw[2]:g}), {row.source} says "
                                     f"{row.winner}")
        if row.pnl is None and api is not None and row.market:
            try:
                winner = api(row.market)
            except Exception as exc:      # network / API errors: counted, the trade stays unresolved
                log.error("API resolution for trade %s (%s) failed: %s", tid, row.market, exc)
                fx.counts.setdefault("api_errors", 0)
                fx.counts["api_errors"] += 1
                winner = None
            if winner:
                _settle(row, winner, "api", row.window_end)
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


def _build_es_trades(fx: Forensics) -> None:
    es = fx.es or ESData()
    fx.es = es
    fills: list[Fill] = []
    for o in es.orders.values():
        if o.filled_ts is None or o.fill_price is None:
            continue
        sym = o.symbol if o.symbol != "?" else next((x.symbol for x in es.orders.values() if x.symbol != "?"), "ES")
        try:
            spec_for(sym)
        except ValueError:
            continue
        fills.append(Fill(exec_id=f"{o.order_id}@{o.fill_ref}", order_id=o.order_id, symbol=sym,
                          side=Side(o.action), qty=o.qty, price=o.fill_price, ts=o.filled_ts,
                          commission=o.commission, trade_cycle_id=o.trade_cycle_id, broker_realized_pnl=o.broker_pnl))
    closed = {str(e.get("exit_order_id")): e for e in [*es.structured, *fx.events]
              if e.get("event") in ("trade_closed", "pnl") and e.get("exit_order_id") is not None}
    closed_cycles = {e.get("trade_cycle_id") for e in [*es.structured, *fx.events] if e.get("event") == "trade_closed"}
    for rt in round_trips(fills):
        entry = es.orders.get(rt.entry_order_id)
        exit_ = es.orders.get(rt.exit_order_id)
        tid = rt.trade_cycle_id or f"{rt.entry_order_id}-{rt.exit_order_id}"
        recorded = rt.exit_order_id in closed or (rt.trade_cycle_id is not None and rt.trade_cycle_id in closed_cycles)
        row = TradeRow(trade_id=tid, market=rt.symbol, asset=spec_for(rt.symbol).root,
                       outcome="LONG" if rt.side is Side.BUY else "SHORT",
                       entry_time=datetime.fromisoformat(rt.entry_ts) if rt.entry_ts else None,
                       price=rt.entry_price, size=rt.qty, cost=None, order_id=rt.entry_order_id, in_log=True,
                       won=rt.net_pnl > 0, pnl=rt.net_pnl, source="fills", recorded=recorded,
                       resolved_at=datetime.fromisoformat(rt.exit_ts) if rt.exit_ts else None,
                       exit_time=datetime.fromisoformat(rt.exit_ts) if rt.exit_ts else None,
                       exit_price=rt.exit_price, broker_pnl=rt.broker_realized_pnl, fees=rt.fees,
                       log_ref=entry.fill_ref if entry else "",
                       evidence=[x for x in (entry.fill_ref if entry else "", exit_.fill_ref if exit_ else "") if x])
        if rt.pnl_mismatch:
            row.conflicts.append(f"broker realizedPNL {rt.broker_realized_pnl:.2f} vs fills {rt.net_pnl:.2f}")
        fx.trades.append(row)
    fx.trades.sort(key=lambda r: r.entry_time or datetime.min.replace(tzinfo=UTC))
    for row in fx.trades:
        fx.add_timeline(row.exit_time, "reconstruction", "round_trip", row.trade_id,
                        f"{row.outcome} {row.size:g} {row.market} {row.price} -> {row.exit_price} "
                        f"pnl={row.pnl:.2f} (broker {row.broker_pnl})")


# ------------------------------------------------------------------------------------------------
# the data team's analysis: outcomes, recording failures and telemetry gaps


def error_rows(fx: Forensics) -> list[dict[str, Any]]:
    rows = []
    for sig in sorted(fx.errors.values(), key=lambda s: -s.count):
        kc = known_cause(sig.example)
        rows.append({"source": sig.source, "signature": sig.signature, "count": sig.count,
                     "first": sig.first, "last": sig.last, "swallowed": sig.swallowed,
                     "tracebacks": sig.tracebacks, "trades_hit": len(sig.trade_ids),
                     "levels": dict(sig.levels), "likely_cause": kc[0] if kc else "", "fix": kc[1] if kc else "",
                     "refs": sig.refs, "trade_ids": sorted(sig.trade_ids, key=lambda x: (len(x), x))})
    return rows


def analyze(fx: Forensics, grace_s: float = 900.0) -> dict[str, Any]:
    from tools.review.report import RootCause
    from tools.review.report import RootCauseCode as C

    m = fx.metrics()
    out: dict[str, Any] = {"metrics": m, "detections": [], "errors": error_rows(fx)}
    _, end = fx.span
    pos = fx.positions
    m["journal_trades"] = fx.journal_trades
    m["journal_outcomes"] = fx.journal_outcomes
    m["error_signatures"] = len(fx.errors)
    m["errors_total"] = sum(s.count for s in fx.errors.values())
    m["errors_swallowed"] = sum(s.swallowed for s in fx.errors.values())
    m["resolution_passes"] = len(fx.resolution_passes)
    m["markets_resolved_in_log"] = len(fx.resolved_markets)
    conflicts = [(t.trade_id, c) for t in pos for c in t.conflicts]
    m["source_conflicts"] = len(conflicts)
    out["conflicts"] = conflicts
    if fx.kind == "polymarket" and fx.bundle.journal is not None and fx.journal_error is None and end is not None:
        due = [t for t in pos if (t.window_end or t.entry_time) and
               (t.window_end or t.entry_time) + timedelta(seconds=grace_s) <= end]  # type: ignore[operator]
        missing = [t for t in due if not t.recorded]
        m["outcomes_due"] = len(due)
        m["outcomes_missing"] = len(missing)
        if missing:
            rec_errs = [r for r in out["errors"] if r["source"] != "bot.log" and r["trades_hit"]]
            hit = {tid for r in rec_errs for tid in r["trade_ids"]}
            never = [t for t in missing if t.trade_id not in hit]
            parts = [f"{len(due) - len(missing)} of {len(due)} trades past their resolution time have a recorded "
                     "outcome"]
            ev = [f"trade_journal.db:outcomes ({fx.journal_outcomes} rows)"]
            if rec_errs:
                top = rec_errs[0]
                parts.append(f"the resolver failed {top['count']} times with '{top['signature']}' from "
                             f"{fx.fmt(top['first'])} to {fx.fmt(top['last'])}, hitting {top['trades_hit']} "
                             "trades")
                ev += top["refs"][:3]
            if fx.resolved_markets:
                parts.append(f"it did find the winners of {len(fx.resolved_markets)} markets")
            if never:
                parts.append(f"{len(never)} trades were never attempted (no resolver activity for them in the bundle)")
            out["detections"].append(RootCause(code=C.OUTCOME_RECORDING_FAILED, teams=["forensics"],
                                               summary="; ".join(parts) + ".", evidence=ev))
        # trades the bot logged but did not journal (and journal rows the log never mentions)
        first, last = fx.span
        not_journaled = [t for t in pos if t.in_log and not t.in_journal]
        not_logged = [t for t in pos if t.in_journal and not t.in_log and first and last and t.entry_time
                      and first <= t.entry_time <= last and "bot.log" in fx.bundle.logs]
        m["trades_not_journaled"] = len(not_journaled)
        m["journal_rows_not_in_log"] = len(not_logged)
        if not_journaled or not_logged:
            out["detections"].append(RootCause(
                code=C.TELEMETRY_GAP, teams=["forensics"],
                summary=(f"{len(not_journaled)} trade(s) placed in the log have no journal row and "
                         f"{len(not_logged)} journal row(s) have no order in the log over the same period: the trade "
                         "record is incomplete."),
                evidence=[t.log_ref or t.trade_id for t in not_journaled][:3]
                + [f"trade_journal.db:trades.id={t.trade_id}" for t in not_logged][:3]))
    elif fx.kind == "polymarket" and fx.bundle.journal is None:
        m["outcomes_missing"] = None
    # outcome timeline rows (for outcomes.csv / timeline.csv)
    out["outcomes"] = [t.as_outcome_row() for t in fx.trades]
    return out
