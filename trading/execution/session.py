"""The trading loop: candles in, signals, advice, the guarded executor, the journal, the learning hooks.

Per closed bar: the paper broker fills what the bar reaches (replay clock), the executor runs its
follow-ups (reconcile timer, outcome resolution, equity marks), the signal source looks at the recent
bars, an advisor gives its advice, and the signal becomes an entry (no open trade), an exit (against
the open trade) or nothing (same direction). Every signal that leads somewhere gets one
trade_cycle_id: an entry's own, or for an exit the id of the trade it closes.

The advisor seam is ``trading.execution.advisor``; the wiring (broker by name, files, executor) is
``trading.execution.wiring``. The advisor is pluggable: any ``(signal, AdvisorContext) -> Advisory`` callable. The default is the
deterministic ``rule_advisor``; the agents' advisory graph plugs in here. An advisor that raises is
fail-closed: WAIT with LLM_UNAVAILABLE, so entries are blocked and exits still go out.

Failure contract: ``step`` raises nothing for a failing signal source, advisor or venue lookup: each is
logged, counted in ``counts`` and emitted as an ERROR event; a candle file that cannot be read in
``follow`` is retried on the next poll. Broker and journal failures are the executor's (see there).
"""
from __future__ import annotations

import bisect
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from trading.brokers.base import Broker, BrokerUnavailable
from trading.brokers.paper import PaperBroker
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side, Signal, new_cycle_id, utcnow
from trading.domain.reason_codes import ReasonCode
from trading.execution.advisor import Advisor, AdvisorContext, rule_advisor
from trading.execution.executor import ExecutionResult, GuardedExecutor
from trading.market.candles import Bar
from trading.market.signals import BreakoutSignals, SignalContext
from trading.records.learning_hooks import LearningHooks
from trading.records.telemetry import EventType

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class _Untracked:
    """A live position the journal cannot describe (the journal is down): enough to exit it."""
    side: Side
    qty: float
    trade_cycle_id: str


class SessionSummary(BaseModel):
    broker: str
    symbol: str
    bars: int = 0
    signals: int = 0
    entries_sent: int = 0
    exits_sent: int = 0
    trades: int = 0                      # closed in this session
    wins: int = 0
    losses: int = 0
    win_rate_pct: float | None = None
    pnl_usd: float = 0.0                 # net, from fills
    fees_usd: float = 0.0
    start_equity: float | None = None
    end_equity: float | None = None
    max_drawdown_usd: float = 0.0
    max_drawdown_pct: float = 0.0
    blocked_orders: int = 0
    blocked_by_reason: dict[str, int] = Field(default_factory=dict)
    open_position: float | None = None
    open_trades: int = 0
    outcome_files: int = 0
    halts: list[str] = Field(default_factory=list)
    errors: dict[str, int] = Field(default_factory=dict)
    reconcile: str = ""
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


class TradingSession:
    """One loop over one symbol. Use ``step`` per closed bar or ``run`` over an iterable of bars."""

    def __init__(self, broker: Broker, executor: GuardedExecutor, *, symbol: str,
                 signals: Callable[[Sequence[Bar], SignalContext], Signal | None] | None = None,
                 advisor: Advisor | None = None, qty: float = 1.0, window: int = 300,
                 hooks: LearningHooks | None = None, progress: Callable[[str], None] | None = None,
                 progress_every_s: float = 1.0) -> None:
        self.broker = broker
        self.executor = executor
        self.events = executor.events
        self.symbol = symbol
        self.signals = signals or BreakoutSignals()
        self.advisor = advisor or rule_advisor
        self.qty = qty
        self.hooks = hooks
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.history: list[Bar] = []            # the whole replay, for snapshots and candle resolution
        self._ts: list[datetime] = []
        self.files: SessionFiles | None = None
        self.recent: deque[Bar] = deque(maxlen=window)
        self.now: datetime | None = None
        self.interval: timedelta | None = None
        self.cycles: list[str] = []             # entries sent by this session
        self.counts: dict[str, int] = {"signals": 0, "signal_errors": 0, "advisor_errors": 0, "ignored": 0,
                                        "venue_errors": 0}
        self._equity_peak: float | None = None
        self._start_equity: float | None = None
        self._end_equity: float | None = None
        self._max_dd = (0.0, 0.0)
        self._started = time.perf_counter()
        self._last_progress = 0.0
        self._bars = 0

    # -- candle history for the learning hooks and the candle resolution source ------------------------
    def history_until(self, symbol: str, until: datetime) -> list[Bar]:
        i = bisect.bisect_right(self._ts, until)
        return self.history[max(0, i - 200):i]

    def _remember(self, bar: Bar) -> None:
        self.history.append(bar)
        self._ts.append(bar.ts)
        self.recent.append(bar)

    def clock(self) -> datetime:
        return self.now or utcnow()

    # -- the loop ----------------------------------------------------------------------------------
    def start(self) -> None:
        rep = self.executor.reconcile("start")
        self.events.emit(EventType.SESSION, None, [], stage="start", broker=getattr(self.broker, "name", ""),
                         symbol=self.symbol, reconcile=rep.describe())
        acct = self.executor.account_snapshot()
        self._start_equity = acct.equity if acct else None

    def step(self, bar: Bar, bar_end: datetime | None = None) -> ExecutionResult | None:
        """Process one closed bar; returns what the executor did with this bar's signal (if anything)."""
        if self.history and bar.ts <= self.history[-1].ts:
            return None                         # replays and followed files may repeat rows
        if self.history:
            self.interval = bar.ts - self.history[-1].ts
        end = bar_end or (bar.ts + self.interval if self.interval else bar.ts)
        if isinstance(self.broker, PaperBroker):
            self.broker.on_bar(self.symbol, bar, end)
        self.now = end
        self._remember(bar)
        self._bars += 1
        self.executor.service(end)
        self._track_equity()
        result = self._on_signal(bar, end)
        self._report_progress()
        return result

    def _believed_position(self) -> tuple[float, Any]:
        trade = self.executor.open_trade(self.symbol)
        if trade is not None:
            return trade.side.sign * trade.qty, trade
        if self.executor.journal is None:
            # no journal (unwritable at start): entries are halted, but a live position must still be
            # exitable, so the loop believes the broker
            live = self.executor.snapshot((self.symbol,)).position(self.symbol)
            if live:
                side = Side.BUY if live > 0 else Side.SELL
                return live, _Untracked(side=side, qty=abs(live), trade_cycle_id=f"untracked-{self.symbol}")
        return 0.0, None

    def _on_signal(self, bar: Bar, now: datetime) -> ExecutionResult | None:
        believed, trade = self._believed_position()
        ctx = SignalContext(symbol=self.symbol, now=now, position=believed, interval=self.interval)
        try:
            sig = self.signals(list(self.recent), ctx)
        except Exception as exc:
            self.counts["signal_errors"] += 1
            log.exception("signal source failed at %s", bar.ts)
            self.events.emit(EventType.ERROR, None, [], stage="signal", error=f"{type(exc).__name__}: {exc}",
                             bar_ts=bar.ts.isoformat())
            return None
        if sig is None or sig.side is None:
            return None
        self.counts["signals"] += 1
        if trade is None:
            kind, cycle = IntentKind.ENTRY, new_cycle_id()
        elif getattr(trade, "market_slug", None):
            self.counts["ignored"] += 1          # a binary window's share is held to its resolution
            return None
        elif sig.side is not trade.side:
            kind, cycle = IntentKind.EXIT, trade.trade_cycle_id
            if any(t.role == "exit" for t in self.executor.tracker.working(cycle)):
                self.counts["ignored"] += 1      # an exit for this trade is already working
                return None
        else:
            self.counts["ignored"] += 1          # same direction as the open trade: no pyramiding
            return None
        self.events.emit(EventType.SIGNAL, cycle, [], kind=kind.value, signal=sig.model_dump(mode="json"),
                         believed_position=believed)
        actx = AdvisorContext(symbol=self.symbol, now=now, bars=list(self.recent), position=believed,
                              intent_kind=kind.value, trade_cycle_id=cycle)
        try:
            advisory = self.advisor(sig, actx)
        except Exception as exc:  # fail closed: an advisor that cannot answer blocks entries, not exits
            self.counts["advisor_errors"] += 1
            log.error("advisor failed for trade %s: %s: %s", cycle, type(exc).__name__, exc)
            advisory = Advisory(action=AdvisoryAction.WAIT, confidence=0.0, rationale=f"advisor error: {exc}",
                                source="advisor-error", ts=now, reason_codes=[ReasonCode.LLM_UNAVAILABLE])
        self.events.emit(EventType.ADVISORY, cycle, list(advisory.reason_codes), action=advisory.action.value,
                         confidence=advisory.confidence, source=advisory.source, rationale=advisory.rationale)
        qty = trade.qty if kind is IntentKind.EXIT else self.qty
        symbol, price, stop, target, side = self.symbol, bar.close, sig.stop, sig.target, sig.side
        market: dict[str, Any] = {}
        market_for = getattr(self.broker, "market_for", None)
        if kind is IntentKind.ENTRY and callable(market_for):
            # venues that trade a derived instrument (a Polymarket window's share for a BTC signal) map it here
            try:
                m = market_for(sig, now)
            except BrokerUnavailable as exc:     # the venue could not answer: skip this entry, keep running
                self.counts["venue_errors"] += 1
                log.error("no market for trade %s: %s", cycle, exc)
                self.events.emit(EventType.ERROR, cycle, [], stage="market_for", error=str(exc))
                return None
            if not m:
                self.counts["ignored"] += 1
                self.events.emit(EventType.SIGNAL, cycle, [], note="no tradable market for this signal")
                return None
            symbol, price = m.get("symbol", symbol), m.get("price", price)
            stop, target = m.get("stop", stop), m.get("target", target)
            side = m.get("side", side)           # a SELL view on the asset is a BUY of the Down share
            market = {k: m[k] for k in ("market_slug", "outcome_label", "resolve_by") if m.get(k) is not None}
        intent = OrderIntent(kind=kind, side=side, qty=qty, symbol=symbol, price=price,
                             stop=stop if kind is IntentKind.ENTRY else None,
                             target=target if kind is IntentKind.ENTRY else None,
                             reduce_only=kind is IntentKind.EXIT, trade_cycle_id=cycle,
                             signal_confidence=sig.confidence, created_at=now)
        result = self.executor.submit(intent, advisory, sig, **market)
        if result.sent and kind is IntentKind.ENTRY:
            self.cycles.append(cycle)
        return result

    def _track_equity(self) -> None:
        acct = self.executor.last_account          # read by service() for this bar
        if acct is None:
            return
        eq = acct.equity
        self._end_equity = eq
        if self._start_equity is None:
            self._start_equity = eq
        self._equity_peak = eq if self._equity_peak is None else max(self._equity_peak, eq)
        dd = self._equity_peak - eq
        if dd > self._max_dd[0]:
            self._max_dd = (dd, dd / self._equity_peak * 100 if self._equity_peak > 0 else 0.0)

    def _report_progress(self, force: bool = False) -> None:
        if self.progress is None:
            return
        t = time.perf_counter()
        if not force and t - self._last_progress < self.progress_every_s:
            return
        self._last_progress = t
        st = self.executor.stats
        eq = f"{self._end_equity:,.2f}" if self._end_equity is not None else "?"
        self.progress(f"bar {self._bars} {self.now:%Y-%m-%d %H:%M} equity {eq} entries {st['entries_sent']} "
                      f"closed {st['trades_closed']} blocked {st['blocked']}")

    def flatten(self) -> None:
        """Close the open trade through the executor (reduce-only, guarded); the paper broker fills it at
        the last close. Used at the end of a replay so no paper position outlives its session."""
        believed, trade = self._believed_position()
        if trade is None:
            return
        live = self.executor.snapshot((self.symbol,)).position(self.symbol)
        if not live:
            return
        intent = OrderIntent(kind=IntentKind.EXIT, side=trade.side.opposite, qty=abs(live), symbol=self.symbol,
                             reduce_only=True, trade_cycle_id=trade.trade_cycle_id, price=None, created_at=self.clock())
        self.events.emit(EventType.SIGNAL, trade.trade_cycle_id, [], kind="exit", note="end of replay: flatten")
        res = self.executor.submit(intent, None, None)
        if res.sent and isinstance(self.broker, PaperBroker):
            self.broker.fill_market_at_mark(self.symbol)
        self.executor.service(self.clock())
        self._track_equity()

    def run(self, bars: Iterable[Bar], flatten_at_end: bool = False) -> SessionSummary:
        self.start()
        for bar in bars:
            self.step(bar)
        if flatten_at_end:
            self.flatten()
        self.executor.service(self.clock())
        self._report_progress(force=True)
        summary = self.summary()
        self.events.emit(EventType.SESSION, None, [], stage="end", summary=summary.model_dump(mode="json"))
        return summary

    def summary(self) -> SessionSummary:
        ex = self.executor
        outs = []
        if ex.journal is not None:
            mine = set(self.cycles)
            outs = [o for o in ex.journal.outcomes() if o.trade_cycle_id in mine]
        wins = sum(1 for o in outs if o.won)
        elapsed = time.perf_counter() - self._started
        state = ex.ledger.state(self.clock())
        halts = [c.value for c in state.active_halts] + (["DRAWDOWN_HALT"] if state.halted else [])
        live = None
        try:
            live = ex.snapshot((self.symbol,)).position(self.symbol)
        except Exception:  # snapshot already logs and counts read failures
            live = None
        errors = {k: v for k, v in {**dict(ex.stats), **self.counts}.items()
                  if ("error" in k or "unknown" in k or "failures" in k or "mismatch" in k) and v}
        if ex.resolver is not None and ex.resolver.failures:
            errors["outcome_failures"] = sum(ex.resolver.failures.values())
        return SessionSummary(
            broker=str(getattr(self.broker, "name", "")), symbol=self.symbol, bars=self._bars,
            signals=self.counts["signals"], entries_sent=ex.stats["entries_sent"], exits_sent=ex.stats["exits_sent"],
            trades=len(outs), wins=wins, losses=len(outs) - wins,
            win_rate_pct=round(wins / len(outs) * 100, 2) if outs else None,
            pnl_usd=round(sum(o.pnl for o in outs), 2), fees_usd=round(sum(o.fees for o in outs), 2),
            start_equity=self._start_equity, end_equity=self._end_equity,
            max_drawdown_usd=round(self._max_dd[0], 2), max_drawdown_pct=round(self._max_dd[1], 4),
            blocked_orders=ex.stats["blocked"], blocked_by_reason=dict(sorted(ex.blocked.items())),
            open_position=live, open_trades=len(ex.journal.trades(status=("open", "pending"), account=ex.account))
            if ex.journal is not None else 0,
            outcome_files=(self.hooks.written // 2) if self.hooks else 0, halts=sorted(set(halts)), errors=errors,
            reconcile=ex.last_reconcile.describe() if ex.last_reconcile else "",
            paths={"journal": str(self.files.journal), "events": str(self.files.events),
                   "ledger": str(self.files.ledger), "data_dir": str(self.files.data_dir)} if self.files else {},
            elapsed_s=round(elapsed, 3), bars_per_s=round(self._bars / elapsed, 1) if elapsed > 0 else None)

    # -- live brokers: follow a candle file that the bot's data feed keeps appending to ----------------
    def follow(self, read: Callable[[], Sequence[Bar]], poll_s: float = 5.0,
               stop: Callable[[], bool] = lambda: False, warmup: bool = True) -> SessionSummary:
        """Re-read the candle file every ``poll_s`` seconds and step through bars newer than the last one.
        With ``warmup`` the rows already present only fill the history (no signals on stale bars)."""
        self.start()
        first = True
        pump = getattr(self.broker, "process_events", None)
        while not stop():
            try:
                bars = read()
            except Exception as exc:  # a half-written file: try again next poll, but say so
                log.warning("candle file not readable this poll: %s", exc)
                self.events.emit(EventType.ERROR, None, [], stage="candles", error=str(exc))
                bars = []
            for bar in bars:
                if self.history and bar.ts <= self.history[-1].ts:
                    continue
                if first and warmup:
                    if self.history:
                        self.interval = bar.ts - self.history[-1].ts
                    self._remember(bar)
                    continue
                self.step(bar)
            first = False
            if callable(pump):
                pump(poll_s)
            else:
                time.sleep(poll_s)
            self.executor.service(utcnow())
        self._report_progress(force=True)
        return self.summary()
