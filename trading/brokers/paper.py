"""The paper broker: a persistent paper account filled from candles, so the whole loop runs with no network.

The book lives in ``trading.brokers.paper_account`` (saved in the data dir after every change and resumed
on restart, like a real broker's account when you reconnect); the prices come from the fill model in
``trading.brokers.paper_fills`` (documented in docs/brokers.md). Here: the order book's mechanics.
- An order is eligible from the first bar that starts after it was placed (no look-ahead). A bar not
  after the symbol's last processed bar is ignored (a restarted run replays its candle file).
- The open first (stops, then market orders with exits before entries, then limits; children armed by a
  fill at the open are checked at the open too), then inside the bar stops before limits: if a bracket's
  stop and target are both reachable in one bar, the stop fills (conservative).
- Bracket children become active when the parent fills, sized to the parent's filled quantity, and
  share an OCA group: a full fill cancels the sibling, a partial fill reduces it.
- Reduce-only orders (and bracket children) are capped to the live position at fill time and
  cancelled when there is nothing left to reduce: they never open or flip a position.
- Commission per asset class (``trading.domain.commissions``): futures ``commission_per_contract`` per contract,
  stocks per share with a per-order minimum, crypto and FX bps of notional, Polymarket shares 0; overridable
  per instrument. An optional participation cap (a fraction of bar volume) gives partials.
- A binary share (``bounded_payoff``) settles at 1 or 0 through ``settle`` when its window resolves.
- Cash = starting cash + realized PnL - commissions; equity = cash + open PnL marked to the last close,
  all in the account currency (``[broker] account_currency``): an instrument quoted in another currency
  (ETHBTC: BTC) is converted at its ``[fx]`` rate; with no rate its money is kept aside and the account
  has no equity to state (``Unvalued``, a ``BrokerUnavailable``: entries blocked, exits still go out).

Failure contract: reads raise ``BrokerUnavailable`` when disconnected; unknown instruments and malformed
orders raise ValueError; a failing subscriber is logged and counted, never raised; a failing account save
is logged and counted (``persist_failures``), the book in memory stays authoritative, and the next
``on_bar`` raises the OSError after its fills went out (the session halts entries on it).
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from trading.brokers.base import AccountSnapshot, BracketOrders, BracketRequest, BrokerUnavailable, ExitPreparation
from trading.brokers.callbacks import BrokerCallbacks
from trading.brokers.paper_account import PaperAccount, PaperAccountError, PaperAccountStore, Working, new_account_id
from trading.brokers.paper_book import EPS, FINAL, PaperBook
from trading.brokers.paper_fills import armed_through, at_open, in_bar, inside, midpoint, slipped
from trading.domain.contracts import spec_for
from trading.domain.fx import FxRates
from trading.domain.models import Fill, Order, OrderType, Position, Side
from trading.market.candles import Bar
from trading.market.clock import BarClock

log = logging.getLogger(__name__)
_OPEN_RANK = {OrderType.STP: 0, OrderType.MKT: 1, OrderType.LMT: 2}


class PaperBroker(PaperBook, BrokerCallbacks):
    """Paper account driven by ``on_bar``. Thread-safe; callbacks run outside its lock."""

    name = "paper"
    thread_safe_reads = True      # the executor may bound its reads with a worker-thread timeout

    def __init__(self, starting_cash: float = 100_000.0, commission_per_contract: float = 2.25,
                 slippage_ticks: float = 0.0, max_participation: float | None = None,
                 account_id: str | None = None, store: PaperAccountStore | None = None,
                 fresh_account: bool = False, fx: FxRates | None = None) -> None:
        if max_participation is not None and not 0 < max_participation <= 1:
            raise ValueError("max_participation must be in (0, 1]")
        super().__init__()
        self.commission = float(commission_per_contract)
        self.slippage_ticks = float(slippage_ticks)
        self.max_participation = max_participation
        self.connected = True
        self.callback_errors = 0
        self.persist_failures = 0
        self.resumed = False
        self.store: PaperAccountStore | None = None
        self._lock = threading.RLock()
        self._fx = fx                                # None: the configured rates (trading.domain.fx)
        self.acct = PaperAccount(account_id or new_account_id(), float(starting_cash), currency=self.fx.account)
        self._live: dict[str, Working] = {}         # not yet filled / cancelled: what a bar can touch
        self._clocks: dict[str, BarClock] = {}
        self._last_bars: dict[str, Bar] = {}
        self._saved_at = 0.0
        self._persist_error: OSError | None = None
        self.unsaved = False                         # a change the store has not taken yet (a failed save)
        if store is not None:
            self.attach(store, fresh=fresh_account)

    # -- the persistent account --------------------------------------------------------------------
    @property
    def account_id(self) -> str:
        return self.acct.account_id

    @property
    def starting_cash(self) -> float:
        return self.acct.starting_cash

    def attach(self, store: PaperAccountStore, fresh: bool = False) -> bool:
        """Keep this account in ``store``: resume the store's current account (True), or with ``fresh`` (or
        when the store has none) start a new one there and make it current (False)."""
        with self._lock:
            current = None if fresh else store.current()
            loaded = store.load(current) if current else None
            if loaded is not None and loaded[0].currency != self.fx.account:
                raise PaperAccountError(f"paper account {loaded[0].account_id} keeps its cash in "
                                        f"{loaded[0].currency}, the settings say {self.fx.account} "
                                        "([broker] account_currency): start a fresh account (--fresh-account)")
            if loaded is not None:
                self.acct, live = loaded
                self._live = {oid: self.acct.orders[oid] for oid in sorted(live, key=self._seq_of)
                              if oid in self.acct.orders}
                if self._value_aside():           # money kept aside for want of a rate that is now configured
                    store.save(self.acct, set(self._live))
                log.info("paper account %s resumed from %s: cash %.2f, %d positions, %d working orders",
                         self.account_id, store.path(self.account_id), self.acct.cash,
                         sum(1 for p in self.acct.positions.values() if abs(p[0]) > EPS), len(self._live))
            else:
                if store.path(self.account_id).exists():
                    self.acct.account_id = new_account_id()
                log.info("paper account %s: new (%s)", self.account_id, "fresh by request" if fresh else "none to resume")
            self.store, self.resumed = store, loaded is not None
            if loaded is None:              # a new account: on disk and current before anything trades (raises)
                store.save(self.acct, set(self._live))
                store.set_current(self.account_id)
            return self.resumed

    def _seq_of(self, oid: str) -> int:
        w = self.acct.orders.get(oid)
        return w.seq if w is not None else 0

    def _save(self, force: bool = True) -> None:
        """Persist the account. ``force=False`` (a bar that changed only marks and the clock) is throttled."""
        if self.store is None:
            return
        t = time.monotonic()
        if not force and self._persist_error is None and not self.unsaved and t - self._saved_at < 0.5:
            return
        try:
            self.store.save(self.acct, set(self._live))
            self._saved_at, self.unsaved = t, False
        except OSError as exc:
            self.persist_failures += 1
            self._persist_error, self.unsaved = exc, True
            log.error("paper account %s: save failed (%s); the book in memory is kept", self.account_id, exc)

    def _raise_persist_error(self) -> None:
        """After a bar's events went out: a save that failed during it is raised (a storage fault)."""
        err, self._persist_error = self._persist_error, None
        if err is not None:
            raise err

    def last_bar_ts(self, symbol: str) -> datetime | None:
        """The open of the last bar this account processed for ``symbol`` (a restarted run resumes after it)."""
        return self.acct.last_bar.get(symbol)

    # -- connection --------------------------------------------------------------------------------
    def connect(self) -> None:
        was = self.connected
        self.connected = True
        if not was:
            for cb in list(self._reconnect_cbs):
                self._safe(cb)

    def disconnect(self) -> None:
        self.connected = False
        with self._lock:
            self._save(force=True)

    def _need_connection(self) -> None:
        if not self.connected:
            raise BrokerUnavailable("paper broker disconnected")

    # -- reads -------------------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        self._need_connection()
        with self._lock:
            return [Position(symbol=s, qty=q, avg_price=a) for s, (q, a) in self.acct.positions.items() if abs(q) > EPS]

    def open_orders(self) -> list[Order]:
        self._need_connection()
        with self._lock:
            return [w.order.model_copy() for w in self._live.values()]

    def account(self) -> AccountSnapshot:
        self._need_connection()
        with self._lock:
            cash = self.acct.cash
            return AccountSnapshot(cash=round(cash, 6), equity=round(cash + self._open_pnl(), 6), taken_at=self.now)

    def executions(self, since: datetime | None = None) -> list[Fill]:
        self._need_connection()
        with self._lock:
            return [f.model_copy() for f in self.acct.fills if since is None or f.ts >= since]

    def mark(self, symbol: str) -> float | None:
        return self.acct.marks.get(symbol)

    # -- orders ------------------------------------------------------------------------------------
    def place_bracket(self, req: BracketRequest) -> BracketOrders:
        self._need_connection()
        spec_for(req.symbol)   # unknown instruments are refused here, not at the first fill
        if req.entry_type not in ("MKT", "LMT"):
            raise ValueError(f"entry_type must be MKT or LMT, got {req.entry_type!r}")
        if req.entry_type == "LMT" and req.limit_price is None:
            raise ValueError("a LMT entry needs limit_price")
        with self._lock:
            parent = self._new_order(req.trade_cycle_id, req.symbol, req.side, req.qty, OrderType(req.entry_type),
                                     "entry", limit=req.limit_price)
            oca = f"oca-{parent.order_id}"
            # children only ever close what the parent opened: reduce-only in paper, active on the parent's fill
            stop = self._new_order(req.trade_cycle_id, req.symbol, req.side.opposite, req.qty, OrderType.STP, "stop",
                                   stop=req.stop_price, parent=parent.order_id, oca=oca, reduce_only=True, active=False)
            target = self._new_order(req.trade_cycle_id, req.symbol, req.side.opposite, req.qty, OrderType.LMT,
                                     "target", limit=req.target_price, parent=parent.order_id, oca=oca,
                                     reduce_only=True, active=False)
            self._save()
            return BracketOrders(parent=parent.model_copy(), stop=stop.model_copy(), target=target.model_copy())

    def place_reduce_only(self, trade_cycle_id: str, symbol: str, side: Side, qty: float,
                          order_type: str = "MKT", limit_price: float | None = None) -> Order:
        self._need_connection()
        spec_for(symbol)
        if order_type not in ("MKT", "LMT"):
            raise ValueError(f"order_type must be MKT or LMT, got {order_type!r}")
        with self._lock:
            o = self._new_order(trade_cycle_id, symbol, side, qty, OrderType(order_type), "exit",
                                limit=limit_price, reduce_only=True)
            self._save()
            return o.model_copy()

    def prepare_exit(self, trade_cycle_id: str, symbol: str, timeout_s: float = 5.0) -> ExitPreparation:
        """Paper bracket children are reduce-only and capped to the live position, so an exit and a child can
        never both fill beyond it: nothing to cancel; the live position sizes the exit."""
        self._need_connection()
        with self._lock:
            q = self.acct.positions[symbol][0] if symbol in self.acct.positions else 0.0
            return ExitPreparation(position=q)

    def cancel(self, order_id: str) -> None:
        """Cancel a working order (and a parent's children). Idempotent on final orders."""
        self._need_connection()
        events: list = []
        with self._lock:
            w = self.acct.orders.get(order_id)
            if w is None:
                raise KeyError(f"paper broker: unknown order id {order_id}")
            self._cancel(w, "cancelled by client", events)
            for child in list(self._live.values()):
                if child.order.parent_id == order_id and child.order.filled_qty <= EPS and w.order.filled_qty <= EPS:
                    self._cancel(child, "parent cancelled", events)
            if events:
                self._save()
        self._dispatch(events)

    def settle(self, symbol: str, payout: float, ts: datetime) -> float:
        """Settle a resolved binary share at ``payout`` (1 won, 0 lost): the position closes at that price,
        cash moves, working orders on it are cancelled. Returns the quantity settled (0: nothing held)."""
        events: list = []
        with self._lock:
            q, avg = self.acct.positions.get(symbol, [0.0, 0.0])
            if abs(q) <= EPS:
                return 0.0
            pnl = (payout - avg) * q * spec_for(symbol).multiplier
            self._book(pnl, 0.0, spec_for(symbol).currency, f"settlement of {symbol}")
            self.acct.positions[symbol] = [0.0, 0.0]
            self.acct.marks[symbol] = payout
            self.acct.settled.append({"symbol": symbol, "qty": q, "avg_price": avg, "payout": payout,
                                      "pnl": round(pnl, 6), "ts": ts.isoformat()})
            for w in [w for w in self._live.values() if w.order.symbol == symbol]:
                self._cancel(w, "settled: the window resolved", events)
            self._save()
        log.info("paper account %s: %s settled %s x %.4f at %s (pnl %.2f)", self.account_id, symbol, q, avg, payout, pnl)
        self._dispatch(events)
        return abs(q)

    # -- callbacks ---------------------------------------------------------------------------------
    def clear_callbacks(self) -> None:
        """Forget every subscriber (the subscribing process went away; the broker's book stays)."""
        self._fill_cbs.clear()
        self._status_cbs.clear()
        self._reconnect_cbs.clear()

    def _safe(self, cb: Callable[..., object], *args: object) -> None:
        try:
            cb(*args)
        except Exception:  # noqa: BLE001 - a subscriber's bug must not stop the book; logged and counted
            self.callback_errors += 1
            log.exception("paper broker: callback %r failed for %r", cb, args)

    def _dispatch(self, events: list) -> None:
        for kind, obj in events:
            cbs: Sequence[Callable[..., object]] = self._fill_cbs if kind == "fill" else self._status_cbs
            for cb in list(cbs):
                self._safe(cb, obj)

    # -- the replay clock --------------------------------------------------------------------------
    def on_bar(self, symbol: str, bar: Bar, bar_end: datetime | None = None) -> list[Fill]:
        """Advance ``symbol`` by one bar: fill what the bar reaches, mark to its close, then notify.
        ``bar_end`` defaults to the bar's open plus the interval learnt from the bars seen (never the gap)."""
        events: list = []
        fills: list[Fill] = []
        with self._lock:
            last = self.acct.last_bar.get(symbol)
            if last is not None and bar.ts <= last:
                return []                       # already processed (a restarted run replays its file)
            clock = self._clocks.setdefault(symbol, BarClock())
            clock.observe(bar)
            end = max(bar_end if bar_end is not None else clock.end(bar), bar.ts)
            mid = midpoint(bar, end)
            self.acct.last_bar[symbol] = bar.ts
            self._last_bars[symbol] = bar
            self.acct.bars[symbol] += 1
            n = self.acct.bars[symbol]
            self.acct.now = max(self.now, bar.ts)
            if not any(w.order.symbol == symbol for w in self._live.values()):
                # nothing to fill (e.g. the underlying a Polymarket signal reads): just mark and move on
                self.acct.marks[symbol] = bar.close
                self.acct.now = max(self.now, end)
                self._save(force=False)
                self._raise_persist_error()
                return []
            spec = spec_for(symbol)
            slip = self.slippage_ticks * spec.tick
            budget = [math.inf if self.max_participation is None else bar.volume * self.max_participation]

            def eligible(kind: OrderType | None = None) -> list[Working]:
                return [w for w in self._live.values() if w.order.symbol == symbol and w.active
                        and w.eligible_from <= n and w.order.status not in FINAL
                        and (kind is None or w.order.order_type is kind)]

            def fill(w: Working, price: float | None, ts: datetime) -> bool:
                f = None if price is None else self._fill(w, price, ts, budget, spec.bounded_payoff, events)
                if f is not None:
                    fills.append(f)
                return f is not None

            # 1) the open, until nothing more fills there (a fill at the open may arm a child already through)
            progress = True
            while progress:
                progress = False
                for w in sorted(eligible(), key=lambda w: (_OPEN_RANK[w.order.order_type], not w.order.reduce_only,
                                                           w.seq)):
                    if w.order.status not in FINAL and fill(w, at_open(w.order, bar, slip), bar.ts):
                        progress = True
            # 2) inside the bar: stops before limits, so a bracket that spans the range loses (conservative)
            for w in eligible(OrderType.STP):
                fill(w, inside(w.order, bar, slip), mid)
            for w in eligible(OrderType.LMT):
                if w.role == "target" and w.armed_at == mid:
                    continue   # entry filled inside this bar: assume only the adverse move followed
                fill(w, inside(w.order, bar, slip), mid)
            # children a limit entry armed inside the bar: only their stop may still fill (conservative)
            for w in eligible(OrderType.STP):
                px = armed_through(w.order, w.armed_price, bar, slip) \
                    if w.armed_at == mid and w.armed_price is not None else None
                fill(w, px if px is not None else inside(w.order, bar, slip), mid)
            self.acct.marks[symbol] = bar.close
            self.acct.now = max(self.now, end)
            self._save(force=bool(events))
        self._dispatch(events)
        self._raise_persist_error()
        return fills

    def fill_market_at_mark(self, symbol: str) -> list[Fill]:
        """Fill working market orders on ``symbol`` now, at the last close +/- slippage (end of a replay:
        there is no next bar to open), within the last bar's range."""
        events: list = []
        fills: list[Fill] = []
        with self._lock:
            mark = self.acct.marks.get(symbol)
            if mark is None:
                return []
            spec = spec_for(symbol)
            slip = self.slippage_ticks * spec.tick
            bar = self._last_bars.get(symbol) or Bar(self.now, mark, mark, mark, mark)
            budget = [math.inf]
            for w in sorted(self._live.values(), key=lambda w: (not w.order.reduce_only, w.seq)):
                o = w.order
                if o.symbol == symbol and w.active and o.order_type is OrderType.MKT and o.status not in FINAL:
                    f = self._fill(w, slipped(in_bar(mark, bar), o.side, slip, bar), self.now, budget,
                                   spec.bounded_payoff, events)
                    if f is not None:
                        fills.append(f)
            if events:
                self._save()
        self._dispatch(events)
        return fills
