"""The guarded executor: the one entry point through which every order passes.

``submit(intent, advisory)``:
1. takes a LIVE snapshot from the broker (positions, open orders, equity). A read that raises or
   times out makes the position unknown (``positions=None``), which the guards turn into
   POSITION_UNKNOWN: never flat;
2. evaluates the guards (``trading.guards.evaluate``) against it and the persisted risk ledger;
3. writes the verdict to the event log (and the journal) BEFORE anything is sent;
4. only then sends: an entry as a bracket (entry + stop + target, OCA) so a fill is never left
   unprotected; an exit reduce-only, with the side and size the guards derived from the live position.

Fills and status changes come back through broker callbacks into the order tracker and the journal
(idempotent on exec_id); a trade whose fills net to zero gets its outcome recorded, its leftover
orders cancelled and its learning artefacts written. ``reconcile()`` compares the broker with the
journal on start, after reconnects and on a timer (``service()``).

The parts: ``executor_base`` (state, reads, journal wrapper), ``fill_intake`` (callbacks),
``reconciler`` (broker vs journal); this module judges and sends.
Failure contract: ``submit`` raises ValueError for a PROTECTIVE intent (those go out as bracket
children); otherwise it never raises for a broker or journal failure: a refused send comes back as an
``ExecutionResult`` with ``error`` set (logged, emitted), a journal failure halts new entries.

Seed 000 is the reason for every step: an "exit" judged against the bot's belief instead of the live
position opened a naked long with no stop, against a WAIT advisory, and left no trade record.
"""
from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel, Field

from trading.brokers.base import BracketRequest, PreparesExits
from trading.domain.contracts import spec_for
from trading.domain.models import Advisory, IntentKind, Order, OrderIntent, OrderType, Signal
from trading.domain.reason_codes import ReasonCode
from trading.execution.executor_base import BROKER_ERRORS, EPS
from trading.execution.reconciler import Reconciling
from trading.guards import BrokerSnapshot, GuardVerdict, evaluate
from trading.records.journal import JournalUnwritable
from trading.records.journal_records import TradeRecord
from trading.records.telemetry import EventType

log = logging.getLogger(__name__)


class ExecutionResult(BaseModel):
    """What ``submit`` did. ``sent`` is True only when the broker accepted the order(s)."""

    trade_cycle_id: str
    verdict: GuardVerdict
    sent: bool = False
    orders: list[Order] = Field(default_factory=list)
    error: str | None = None
    snapshot: BrokerSnapshot

    @property
    def allowed(self) -> bool:
        return self.verdict.allowed

    @property
    def reason_codes(self) -> list[ReasonCode]:
        return self.verdict.reason_codes


class GuardedExecutor(Reconciling):
    """Guards, then telemetry, then the broker. Construct one per broker connection.

    ``venue`` defaults to the broker's name. ``resolve_by`` maps an entry intent to the time its
    market resolves (Polymarket windows) for the unresolved-outcomes guard. ``read_timeout_s`` bounds
    each broker read on a worker thread when the broker declares ``thread_safe_reads = True``; other
    adapters (ib_async's loop is single-threaded) bound their own reads and raise BrokerUnavailable.
    ``read_timeout_s=None`` reads inline (an in-memory paper broker in a replay cannot hang).
    """

    # -- submit ------------------------------------------------------------------------------------
    def submit(self, intent: OrderIntent, advisory: Advisory | None = None, signal: Signal | None = None, *,
               market_slug: str | None = None, outcome_label: str | None = None,
               resolve_by: datetime | None = None) -> ExecutionResult:
        """Judge ``intent`` against the live book and send it if (and only if) the guards allow it."""
        if intent.kind is IntentKind.PROTECTIVE:
            raise ValueError("protective orders are sent as bracket children of an entry, not on their own")
        with self._lock:
            now = self.clock()
            if intent.kind is IntentKind.EXIT:   # a reduce-only ENTRY is not an exit: evaluate rejects it first
                intent = self._attach_exit(intent)
            cycle = intent.trade_cycle_id
            snap = self.snapshot((intent.symbol,))
            if snap.equity is not None:
                self._mark_equity(snap.equity, now)
            verdict = evaluate(intent, snap, self.risk_state(now), self.guards, advisory, now)
            # at the send, once more: an entry is never reduce-only (INTENT_CONFLICT, judged first by evaluate)
            opening = (verdict.allowed and verdict.judged_as is IntentKind.ENTRY and intent.kind is IntentKind.ENTRY
                       and not intent.reduce_only)
            if resolve_by is None and opening and self.resolve_by is not None:
                resolve_by = self.resolve_by(verdict.intent)
            trade = self._trade_record(verdict, snap, now, advisory, signal, market_slug, outcome_label,
                                       resolve_by) if opening else None
            if not self._log_verdict(verdict, now, trade) and verdict.allowed:
                # the journal refused the verdict and the ledger is now halted: judge again so the block
                # (JOURNAL_UNWRITABLE for an entry; an exit still goes out) is explicit in the log
                verdict = evaluate(intent, snap, self.risk_state(now), self.guards, advisory, now)
                self._log_verdict(verdict, now)
            self.stats["submitted"] += 1
            if not verdict.allowed:
                self.stats["blocked"] += 1
                codes = [c.value for c in verdict.blocking_codes] or ["UNSPECIFIED"]
                self.blocked[codes[0]] += 1     # one blocked order counts once, under its first code
                for c in codes[1:]:
                    self.blocked_also[c] += 1
                return ExecutionResult(trade_cycle_id=cycle, verdict=verdict, snapshot=snap)
            if opening:
                return self._send_entry(verdict, snap, now, resolve_by)
            return self._send_exit(verdict, snap, now)

    def _log_verdict(self, v: GuardVerdict, now: datetime, trade: TradeRecord | None = None) -> bool:
        """Event log first (always), then the journal (with the trade row an allowed entry opens, in the
        same transaction); False when the journal refused the write."""
        i = v.intent
        self.events.emit(EventType.GUARD_VERDICT, i.trade_cycle_id, v.reason_codes, allowed=v.allowed,
                         summary=v.summary(), judged_as=v.judged_as.value, intent=i.model_dump(mode="json"),
                         original_side=v.original_intent.side.value, original_qty=v.original_intent.qty,
                         evidence=v.evidence)
        if self.journal is None:
            return True
        try:
            with self.journal.batch():
                self.journal.record_verdict(i.trade_cycle_id, now, i.kind.value, i.side.value, i.qty, v.allowed,
                                            [c.value for c in v.reason_codes], v.judged_as.value, v.evidence)
                if trade is not None:
                    self.journal.open_trade(trade)
        except JournalUnwritable as exc:
            self._journal_down(i.trade_cycle_id, exc)
            return False
        return True

    def _attach_exit(self, intent: OrderIntent) -> OrderIntent:
        """An exit belongs to the trade it closes: use that trade's id so one id spans the whole cycle."""
        if self.journal is None:
            return intent
        known = self.journal.trade(intent.trade_cycle_id)
        if known is not None:
            return intent
        open_trades = self.journal.trades(status=("open", "pending"), symbol=intent.symbol, account=self.account)
        if len(open_trades) == 1:
            self.events.emit(EventType.SIGNAL, open_trades[0].trade_cycle_id, [], note="exit attached to open trade",
                             requested_cycle=intent.trade_cycle_id)
            return intent.model_copy(update={"trade_cycle_id": open_trades[0].trade_cycle_id})
        return intent

    def _trade_record(self, v: GuardVerdict, snap: BrokerSnapshot, now: datetime, advisory: Advisory | None,
                      signal: Signal | None, market_slug: str | None, outcome_label: str | None,
                      resolve_by: datetime | None) -> TradeRecord:
        i = v.intent
        return TradeRecord(
            trade_cycle_id=i.trade_cycle_id, venue=self.venue, account=self.account, symbol=i.symbol, side=i.side,
            qty=i.qty, status="pending", opened_at=now, stop=i.stop, target=i.target,
            ref_price=i.price if i.price is not None else snap.marks.get(i.symbol), resolve_by=resolve_by,
            market_slug=market_slug, outcome_label=outcome_label,
            signal=signal.model_dump(mode="json") if signal else None,
            advisory=advisory.model_dump(mode="json") if advisory else None,
            # in the instrument's currency, like the outcome's PnL (the guard compared it converted)
            risk={"worst_case_loss": v.evidence.get("worst_case_loss_native", v.evidence.get("worst_case_loss")),
                  "max_loss_per_trade": self.guards.max_loss_per_trade})

    def _send_entry(self, v: GuardVerdict, snap: BrokerSnapshot, now: datetime,
                    resolve_by: datetime | None) -> ExecutionResult:
        """The trade row was written with the verdict: nothing is sent that the journal cannot follow."""
        i = v.intent
        cycle = i.trade_cycle_id
        spec = spec_for(i.symbol)
        # a binary share's payoff is its own protection: its bracket levels default to 0 and 1
        stop = i.stop if i.stop is not None else (0.0 if spec.bounded_payoff else None)
        target = i.target if i.target is not None else (1.0 if spec.bounded_payoff else None)
        try:
            if i.order_type is OrderType.STP:
                raise ValueError("a bracket entry is MKT or LMT; stop entries are not supported")
            if stop is None or target is None:      # the guards block such an entry first
                raise ValueError("a bracket entry needs a stop and a target")
            req = BracketRequest(trade_cycle_id=cycle, symbol=i.symbol, side=i.side, qty=i.qty,
                                 entry_type=i.order_type.value,
                                 limit_price=i.price if i.order_type is OrderType.LMT else None,
                                 stop_price=stop, target_price=target)
            bracket = self.broker.place_bracket(req)
        except BROKER_ERRORS as exc:
            return self._send_failed(v, snap, exc, now)
        sent = [(bracket.parent, "entry"), (bracket.stop, "stop"), (bracket.target, "target")]
        for o, role in sent:
            self.tracker.register(o, role)
        if self.journal is not None:
            try:
                with self.journal.batch():
                    self.journal.record_orders(sent)
                    self.journal.set_trade_status(cycle, "open")
            except JournalUnwritable as exc:   # the orders are live: keep tracking them; reconcile adopts them
                self._journal_down(cycle, exc)
        for o, role in sent:
            self.events.emit(EventType.ORDER_SENT, cycle, [], order_id=o.order_id, role=role, side=o.side.value,
                             qty=o.qty, order_type=o.order_type.value, limit_price=o.limit_price,
                             stop_price=o.stop_price, parent_id=o.parent_id, oca_group=o.oca_group)
        self._ledger_write(cycle, self.ledger.record_entry, cycle, resolve_by=resolve_by, ts=now)
        self.stats["entries_sent"] += 1
        return ExecutionResult(trade_cycle_id=cycle, verdict=v, sent=True, orders=[o for o, _ in sent], snapshot=snap)

    def _send_exit(self, v: GuardVerdict, snap: BrokerSnapshot, now: datetime) -> ExecutionResult:
        i = v.intent                         # side and size derived from the live position by the guards
        cycle = i.trade_cycle_id
        qty = i.qty
        if isinstance(self.broker, PreparesExits):
            # IB: the bracket children are GTC orders that could still fill after the exit: cancel them and
            # wait for the acknowledgement first; a child that filled meanwhile resizes (or removes) the exit
            try:
                ready = self.broker.prepare_exit(cycle, i.symbol)
            except BROKER_ERRORS as exc:
                return self._send_failed(v, snap, exc, now)
            if ready.position * i.side.sign >= -EPS:
                return ExecutionResult(trade_cycle_id=cycle, verdict=v, sent=False, snapshot=snap,
                                       error="nothing left to exit: the position closed before the exit was sent")
            qty = min(qty, abs(ready.position))
        try:
            o = self.broker.place_reduce_only(cycle, i.symbol, i.side, qty,
                                              order_type="LMT" if i.order_type is OrderType.LMT else "MKT",
                                              limit_price=i.price if i.order_type is OrderType.LMT else None)
        except BROKER_ERRORS as exc:
            return self._send_failed(v, snap, exc, now)
        self.tracker.register(o, "exit")
        self._j(cycle, self.journal.record_order if self.journal else None, o, "exit")
        self.events.emit(EventType.ORDER_SENT, cycle, [], order_id=o.order_id, role="exit", side=o.side.value,
                         qty=o.qty, order_type=o.order_type.value, reduce_only=True)
        self.stats["exits_sent"] += 1
        return ExecutionResult(trade_cycle_id=cycle, verdict=v, sent=True, orders=[o], snapshot=snap)

    def _send_failed(self, v: GuardVerdict, snap: BrokerSnapshot, exc: Exception, now: datetime) -> ExecutionResult:
        cycle = v.intent.trade_cycle_id
        err = f"{type(exc).__name__}: {exc}"
        self.stats["send_errors"] += 1
        log.error("trade %s: broker refused the order: %s", cycle, err)
        self.events.emit(EventType.ERROR, cycle, [], stage="send", error=err)
        if v.judged_as is IntentKind.ENTRY and self.journal is not None:
            self._j(cycle, self.journal.set_trade_status, cycle, "rejected")
        return ExecutionResult(trade_cycle_id=cycle, verdict=v, snapshot=snap, error=err)

    # -- housekeeping ------------------------------------------------------------------------------
    def service(self, now: datetime | None = None) -> None:
        """Run follow-ups the callbacks queued, the reconcile timer, outcome resolution and equity marks.

        Call it regularly (the loop does, once per bar): callbacks only record; anything that needs a
        broker read or a new order happens here, outside the broker's event delivery.
        """
        with self._lock:
            now = now or self.clock()
            for symbol, cycle in list(self._pending_exits.items()):
                self._pending_exits.pop(symbol, None)
                trade = self.journal.trade(cycle) if self.journal is not None else None
                if trade is not None and trade.status == "closed":
                    continue
                if trade is None:
                    continue
                live = self.snapshot((symbol,)).position(symbol)
                if live is not None and abs(live) <= EPS:
                    continue
                # sized from the live book; if it cannot be read the guards block it (POSITION_UNKNOWN)
                self.submit(OrderIntent(kind=IntentKind.EXIT, side=trade.side.opposite,
                                        qty=abs(live) if live else trade.qty, symbol=symbol,
                                        trade_cycle_id=cycle, reduce_only=True))
            last = self._last_reconcile_at
            # a replay clock may start behind the wall-clock time of the start-up reconcile: re-base then
            due = last is None or now < last or now - last >= self.reconcile_interval
            if due or self._need_reconcile:
                self.reconcile("timer" if not self._need_reconcile else "reconnect")
            else:
                self._resolve_pass(now)
            acct = self._account()
            if acct is not None:
                self._mark_equity(acct.equity, now)
