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
from typing import Any

from trading.brokers.base import Broker, BrokerUnavailable
from trading.brokers.paper import PaperBroker
from trading.domain.models import (
    Advisory,
    AdvisoryAction,
    IntentKind,
    OrderIntent,
    Side,
    Signal,
    ViewMapping,
    new_cycle_id,
    utcnow,
)
from trading.domain.reason_codes import ReasonCode
from trading.execution import session_report as report
from trading.execution.advisor import Advisor, AdvisorContext, rule_advisor
from trading.execution.executor import ExecutionResult, GuardedExecutor
from trading.execution.session_report import SessionFiles, SessionSummary, files_on_disk, progress_line, summarize
from trading.market.candles import Bar
from trading.market.clock import BarClock
from trading.market.signals import BreakoutSignals, SignalContext
from trading.records.learning_hooks import LearningHooks
from trading.records.telemetry import EventType

log = logging.getLogger(__name__)
__all__ = ["SessionFiles", "SessionSummary", "TradingSession"]


@dataclass(frozen=True, slots=True)
class _Untracked:
    """A live position the journal cannot describe (the journal is down): enough to exit it."""
    side: Side
    qty: float
    trade_cycle_id: str


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
        self.bar_clock = BarClock()             # bar ends from the data's interval, never the gap (run(): declared)
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
        self.total: int | None = None            # bars this run will step through (for progress), if known
        self.bar_delay_s = 0.0                   # pacing per stepped bar (demos, fault-injection tests)
        self.interrupted = False
        self.skipped = 0                         # bars the resumed account had already processed
        self.repaired = 0                        # outcome / snapshot files rewritten on start
        self._resume_key = f"last_bar:{executor.account}:{symbol}"

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
        end = bar_end or self.bar_clock.step(bar)
        self.interval = self.bar_clock.interval
        if isinstance(self.broker, PaperBroker):
            try:
                self.broker.on_bar(self.symbol, bar, end)
            except OSError as exc:      # the paper account could not be saved: a storage halt, keep going
                self.executor.storage_failed("paper account", None, exc)
        self.now = end
        self._remember(bar)
        self._bars += 1
        self.executor.service(end)
        self._track_equity()
        result = self._on_signal(bar, end)
        if self.executor.journal is not None:     # this bar is done: a restart resumes after it
            self.executor._j(None, self.executor.journal.set_meta, self._resume_key, bar.ts.isoformat())
        self._report_progress()
        if self.bar_delay_s > 0:
            time.sleep(self.bar_delay_s)
        return result

    # -- restarts: skip what the resumed account already processed, repair what a crash left ------------
    def resume_point(self) -> datetime | None:
        """The last bar a previous session finished for this account and symbol (None: a new account)."""
        j = self.executor.journal
        raw = j.meta(self._resume_key) if j is not None else None
        return datetime.fromisoformat(raw) if raw else None

    def warm(self, bar: Bar) -> None:
        """A bar the resumed account already processed: history (signals, snapshots) only."""
        if self.history and bar.ts <= self.history[-1].ts:
            return
        self.now = self.bar_clock.step(bar)
        self.interval = self.bar_clock.interval
        self._remember(bar)

    def repair_artifacts(self) -> int:
        """Closed trades whose outcome file or snapshot is missing (a crash between the journal's commit and
        the files) get them, with the bytes the live run would have written. Needs the candle history of
        the trade's decision; a trade outside it is left for a later start (logged)."""
        ex = self.executor
        if ex.journal is None or ex.resolver is None or self.hooks is None or self.files is None:
            return 0
        first = self.history[0].ts if self.history else None
        n = 0
        for o in ex.journal.outcomes():
            if files_on_disk(self.files.data_dir, [o]):
                continue
            trade = ex.journal.trade(o.trade_cycle_id)
            if trade is None or first is None or trade.opened_at <= first:
                log.warning("trade %s: outcome files missing and its candles are not loaded; not rewritten",
                            o.trade_cycle_id)
                continue
            try:
                ex.resolver.rewrite_artifacts(o.trade_cycle_id)
            except OSError as exc:
                ex.storage_failed("outcome files", o.trade_cycle_id, exc)
                break
            n += 1
            self.events.emit(EventType.OUTCOME, o.trade_cycle_id, [], note="outcome files rewritten on restart")
        if n:
            log.info("restart: rewrote the outcome files of %d closed trades", n)
        self.repaired += n
        return n

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
        except Exception as exc:  # noqa: BLE001 - the user's plug-in: any failure skips this bar's signal, counted
            self.counts["signal_errors"] += 1
            log.error("signal source failed at %s: %s: %s", bar.ts, type(exc).__name__, exc)
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
        except Exception as exc:  # noqa: BLE001 - a plug-in or model advisor: fail closed (WAIT blocks entries, not exits)
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
        if kind is IntentKind.ENTRY and not (qty := report.size_or_refuse(
                self.executor, symbol, side, price, stop, target, self.qty, self._end_equity or self._start_equity,
                cycle, now)):
            return None      # refused by its size: recorded and counted like a guard block (session_report)
        intent = OrderIntent(kind=kind, side=side, qty=qty, symbol=symbol, price=price,
                             stop=stop if kind is IntentKind.ENTRY else None,
                             target=target if kind is IntentKind.ENTRY else None,
                             reduce_only=kind is IntentKind.EXIT, trade_cycle_id=cycle,
                             signal_confidence=sig.confidence, created_at=now,
                             # the advice is judged against the view (sig.side), not the mapped share's side
                             view=ViewMapping(symbol=sig.symbol, side=sig.side, outcome=market.get("outcome_label"))
                             if symbol != sig.symbol else None)
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
        self.progress(progress_line(self._bars, self.total, t - self._started, self.now, self._end_equity,
                                    st["entries_sent"], st["trades_closed"], st["blocked"]))

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
        """Step through ``bars``; those up to the resumed account's last finished bar only warm the history.
        A KeyboardInterrupt ends the loop (``interrupted``); the summary is still written."""
        bars = list(bars)
        if not self.bar_clock.declared and bars:
            self.bar_clock = BarClock.for_bars(bars)     # the whole file's interval and calendar
        resume = self.resume_point()
        todo = bars
        if resume is not None:
            k = bisect.bisect_right([b.ts for b in bars], resume)
            for bar in bars[:k]:
                self.warm(bar)
            self.skipped, todo = k, bars[k:]
            if k:
                log.info("resuming account %s after %s: %d bars already processed (history only)",
                         self.executor.account, resume.isoformat(), k)
        self.total = len(todo)
        try:
            self.start()
            self.repair_artifacts()
            for bar in todo:
                self.step(bar)
            if flatten_at_end:
                self.flatten()
            self.executor.service(self.clock())
        except KeyboardInterrupt:
            self.interrupted = True
        return self.finish()

    def finish(self) -> SessionSummary:
        """The closing progress line, the summary, the session's end event."""
        self._report_progress(force=True)
        summary = self.summary()
        self.events.emit(EventType.SESSION, None, [], stage="end", summary=summary.model_dump(mode="json"))
        return summary

    def summary(self) -> SessionSummary:
        """Computed from the journal and the files it describes (``session_report.summarize``)."""
        return summarize(self)

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
            except (OSError, ValueError) as exc:  # a half-written file: try again next poll, but say so
                log.warning("candle file not readable this poll: %s", exc)
                self.events.emit(EventType.ERROR, None, [], stage="candles", error=str(exc))
                bars = []
            for bar in bars:
                if self.history and bar.ts <= self.history[-1].ts:
                    continue
                if first and warmup:
                    self.bar_clock.observe(bar)
                    self.interval = self.bar_clock.interval
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
