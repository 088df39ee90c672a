"""Reconciliation: the broker's orders, executions and positions against the journal.

On start, after a reconnect, on the timer and on demand: open orders sent for a journal trade but never
journaled are adopted; executions the journal missed are ingested (through ``fill_intake``); working
orders the broker no longer has are closed; then the positions are compared, and any difference that
remains halts new entries (RECONCILE_MISMATCH).
Failure contract: ``reconcile`` never raises for a broker that cannot answer: it returns a report with
``error`` set (logged, counted, emitted); a journal write that fails halts entries as everywhere.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from trading.brokers.base import SupportsReconnectEvents
from trading.domain.models import OrderStatus, OrderType
from trading.domain.reason_codes import ReasonCode
from trading.execution.executor_base import BROKER_ERRORS, EPS
from trading.execution.fill_intake import FillIntake
from trading.execution.reconcile import ReconcileReport, diff_positions
from trading.records.telemetry import EventType

log = logging.getLogger(__name__)


class Reconciling(FillIntake):
    """``reconcile()`` on top of the fill intake; a broker that reports reconnects triggers it."""

    def _subscribe(self) -> None:
        super()._subscribe()
        if isinstance(self.broker, SupportsReconnectEvents):
            self.broker.on_reconnect(lambda: self.reconcile("reconnect"))

    def _settle_resolved(self, positions: dict[str, float], rep: ReconcileReport) -> None:
        """A binary share whose window the journal resolved but that a settling (paper) venue still holds: the
        process stopped between the journal's outcome and the venue's settlement. Pay it out now, at the
        journal's payout and resolution time (never twice: a settled share is no longer held)."""
        settle = getattr(self.resolver, "settle", None)
        if settle is None or self.journal is None:
            return
        for sym in sorted(self.journal.settled_symbols(self.account)):
            if abs(positions.get(sym, 0.0)) <= EPS:
                continue
            out = self.journal.last_resolution(sym, self.account)
            if out is None:
                continue
            settle(sym, out.exit_price, out.resolved_at)
            log.warning("reconcile (start): %s was resolved in the journal (trade %s, payout %g) but still held: "
                        "settled now", sym, out.trade_cycle_id, out.exit_price)
            positions[sym] = 0.0
            rep.settled_shares.append(sym)

    def reconcile(self, trigger: str = "manual") -> ReconcileReport:
        """Broker vs journal. Missed fills are ingested first; what still differs halts new entries."""
        with self._lock:
            now = self.clock()
            self._last_reconcile_at = now
            try:
                positions = {p.symbol: p.qty for p in self._read(self.broker.positions, "positions")}
                open_orders = self._read(self.broker.open_orders, "open orders")
                # a routine timer pass asks only for recent executions; start / reconnect / manual ask for all
                since = self._exec_since if trigger == "timer" else None
                executions = self._read(lambda: self.broker.executions(since), "executions")
            except BROKER_ERRORS as exc:
                rep = ReconcileReport(ts=now, trigger=trigger, error=f"{type(exc).__name__}: {exc}")
                self.stats["reconcile_errors"] += 1
                log.error(rep.describe())
                self.events.emit(EventType.RECONCILE, None, [], ok=False, detail=rep.describe())
                self.last_reconcile = rep
                return rep
            self._need_reconcile = False
            self._exec_since = now - timedelta(minutes=10)   # next timer pass: since then (skew margin)
            rep = ReconcileReport(ts=now, trigger=trigger, broker_positions=positions)
            # open orders first: adopt those sent for a journal trade but never journaled (killed after send)
            broker_open = {o.order_id: o for o in open_orders}
            for o in open_orders:
                if self.tracker.get(o.order_id) is not None:
                    continue
                rec = self.journal.order(o.order_id) if self.journal is not None else None
                if rec is not None:
                    self._track_from_journal(rec)
                    continue
                if o.trade_cycle_id and self.journal is not None and self.journal.trade(o.trade_cycle_id):
                    role = ("exit" if o.reduce_only and not o.parent_id else
                            "stop" if o.parent_id and o.order_type is OrderType.STP else
                            "target" if o.parent_id else "entry")
                    self.tracker.register(o, role)
                    self._j(o.trade_cycle_id, self.journal.record_order, o, role)
                    rep.adopted_orders.append(o.order_id)
                else:
                    rep.unknown_broker_orders.append(o.order_id)
            # then the executions the journal missed (orders are known first, so fills attach to them)
            for f in sorted(executions, key=lambda f: (f.ts, f.exec_id)):
                if f.exec_id in self._recorded or self.tracker.seen(f.exec_id):
                    continue
                if self.journal is not None and self.journal.has_fill(f.exec_id):
                    self._recorded.add(f.exec_id)
                    continue
                if self._handle_fill(f, "reconcile"):
                    rep.recovered_fills.append(f.exec_id)
            for t in self.tracker.working():
                if t.order.order_id not in broker_open:
                    # filled orders were settled by the fills above; anything else ended at the broker
                    self.tracker.mark(t.order.order_id, OrderStatus.CANCELLED, "not open at the broker (reconcile)")
                    self._j(t.trade_cycle_id, self.journal.update_order if self.journal else None, t.order.order_id,
                            OrderStatus.CANCELLED, reason="not open at the broker (reconcile)")
                    rep.closed_orders.append(t.order.order_id)
                    if t.role == "entry" and t.filled_qty <= EPS:
                        self._entry_void(t.trade_cycle_id, "entry not open at the broker and never filled")
            if trigger == "start" and self.journal is not None:
                # a trade judged and journaled but never sent (the process stopped in between): void it
                for tr in self.journal.trades(status="pending", account=self.account):
                    c = tr.trade_cycle_id
                    if not self.tracker.for_cycle(c) and not self.journal.orders(c) and not self.journal.fills(c):
                        self._entry_void(c, "never sent: the process stopped between the verdict and the send")
                        rep.voided_trades.append(c)
                self._settle_resolved(positions, rep)
            self._resolve_pass(now)
            ours = self.journal.positions(self.account) if self.journal is not None else {}
            rep.journal_positions = ours
            settled = self.journal.settled_symbols(self.account) if self.journal is not None else set()
            rep.position_diffs = [d for d in diff_positions(positions, ours) if d.symbol not in settled]
            self.last_reconcile = rep
            quiet = trigger == "timer" and rep.ok and not (rep.recovered_fills or rep.adopted_orders
                                                           or rep.closed_orders or rep.voided_trades
                                                           or rep.settled_shares)
            if not quiet:   # a routine clean timer pass is counted, not logged line by line
                self.events.emit(EventType.RECONCILE, None, [ReasonCode.RECONCILE_MISMATCH] if rep.mismatch else [],
                                 ok=rep.ok, detail=rep.describe(), trigger=trigger,
                                 recovered_fills=rep.recovered_fills, adopted_orders=rep.adopted_orders,
                                 closed_orders=rep.closed_orders, voided_trades=rep.voided_trades)
            self.stats["reconciles"] += 1
            if rep.mismatch:
                self.stats["reconcile_mismatches"] += 1
                # with a write already failed the journal is expected to lag the broker: the halt is already on
                log.log(logging.INFO if self.storage_error else logging.ERROR, rep.describe())
                if ReasonCode.RECONCILE_MISMATCH not in self.risk_state().active_halts:
                    self._halt(ReasonCode.RECONCILE_MISMATCH, rep.describe())
                    self.events.emit(EventType.HALT, None, [ReasonCode.RECONCILE_MISMATCH], detail=rep.describe())
            elif rep.recovered_fills:
                log.warning(rep.describe())
            return rep
