"""Learning role (advisory loop): when a trade closes, write its learning artefacts and ingest the outcome.

Trades close asynchronously (a stop or target fills on some later bar), so every cycle the recorder
looks at every trade the journal has had open, or closed, since the recorder started and, for each
one the journal now shows an outcome for:
1. calls the learning hook (``trading.records.learning_hooks.LearningHooks.on_trade_close``), which writes
   ``training/trade_outcomes/<date>/<id>.json`` and the history snapshot (atomic, idempotent: the
   resolver may already have written the same bytes);
2. hands the ``TradeOutcome`` and its ``HistorySnapshot`` to the memory (``ingest``, e.g.
   ``tools.memory.ingest.ingest_outcome``), idempotent on trade_cycle_id and content.
A failure is logged with the trade id, counted, emitted as an ``error`` event, and retried next cycle:
an outcome is never dropped because one step failed once.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from trading.domain.pnl import dedupe_fills
from trading.records.journal import Journal
from trading.records.learning_hooks import LearningHooks
from trading.records.outcome_schema import HistorySnapshot, TradeOutcome
from trading.records.telemetry import EventLog, EventType

log = logging.getLogger(__name__)

Ingest = Callable[[TradeOutcome, HistorySnapshot | None], Any]   # e.g. tools.memory.ingest.ingest_outcome
MAX_ATTEMPTS = 5     # then the trade stays listed in ``failed`` for an operator (and `warden` re-runs)


class OutcomeRecorder:
    def __init__(self, journal: Journal, hooks: LearningHooks, ingest: Ingest | None = None,
                 events: EventLog | None = None, closed_count: Callable[[], int] | None = None) -> None:
        self.journal = journal
        self.hooks = hooks
        self.ingest = ingest
        self.events = events
        # a cheap "trades closed so far" counter (the executor's stats); without one every call rescans
        self.closed_count = closed_count
        self._last_closed: int | None = None
        # outcomes already in the journal at start are the bulk ingestion's business, not this loop's
        self._done: set[str] = {o.trade_cycle_id for o in journal.outcomes()}
        self.watching: set[str] = {t.trade_cycle_id for t in journal.trades(status=("open", "pending"))}
        self.recorded: list[str] = []
        self.failures: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()

    def watch(self, trade_cycle_ids: Iterable[str]) -> None:
        self.watching.update(t for t in trade_cycle_ids if t)

    def record_closed(self, cycle_id: str | None = None) -> list[str]:
        """Record every watched trade that now has an outcome; returns their ids."""
        done: list[str] = []
        # trades opened by anyone since the last call (the session may submit outside the graph), and
        # trades that opened and closed between two calls (only rescanned when something closed)
        self.watching.update(t.trade_cycle_id for t in self.journal.trades(status=("open", "pending")))
        n = self.closed_count() if self.closed_count is not None else None
        if n is None or n != self._last_closed:
            self._last_closed = n
            self.watching.update(o.trade_cycle_id for o in self.journal.outcomes()
                                 if o.trade_cycle_id not in self._done)
        for tid in sorted(self.watching):
            trade = self.journal.trade(tid)
            if trade is None or trade.status in ("cancelled", "rejected"):
                self.watching.discard(tid)          # never opened: nothing to learn from
                continue
            outcome = self.journal.outcome(tid)
            if outcome is None:
                continue
            try:
                fills = dedupe_fills(self.journal.fills(tid))
                p_out, p_snap = self.hooks.on_trade_close(trade, outcome, fills, self.journal.verdicts(tid))
                if self.ingest is not None:
                    snap = Path(p_snap)
                    self.ingest(TradeOutcome.model_validate_json(Path(p_out).read_text(encoding="utf-8")),
                                HistorySnapshot.model_validate_json(snap.read_text(encoding="utf-8"))
                                if snap.is_file() else None)
            except Exception as exc:  # noqa: BLE001 - by design: logged with the id, counted, retried next cycle
                self.failures[tid] += 1
                self.stats["failures"] += 1
                log.error("trade %s: recording the outcome failed (attempt %d): %s: %s",
                          tid, self.failures[tid], type(exc).__name__, exc)
                if self.events is not None:
                    self.events.emit(EventType.ERROR, tid, [], stage="outcome_recorder", cycle=cycle_id,
                                     error=f"{type(exc).__name__}: {exc}", attempt=self.failures[tid])
                if self.failures[tid] >= MAX_ATTEMPTS:
                    self.watching.discard(tid)
                continue
            self.watching.discard(tid)
            self._done.add(tid)
            self.stats["recorded"] += 1
            self.recorded.append(tid)
            done.append(tid)
        return done

    @property
    def failed(self) -> list[str]:
        return sorted(t for t, n in self.failures.items() if n >= MAX_ATTEMPTS)
