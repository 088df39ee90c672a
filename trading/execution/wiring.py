"""Wiring a trading session: the broker adapter by name, the data files, and every part around the loop.

``make_broker`` builds ``paper`` | ``ib`` | ``polymarket`` (the live adapters are imported only when asked
for); ``open_session`` wires ledger, event log, journal, outcome resolver, learning hooks and the
guarded executor around a ``TradingSession``.
Failure contract: ``make_broker`` raises ``BrokerSetupError`` for an unknown kind, an adapter that is not
installed or settings it refuses; ``open_session`` raises ``BrokerSetupError`` for a journal it cannot use
(wrong schema) and, for a journal it cannot write, returns the problem in its list and halts new entries.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from trading.brokers.base import Broker, SupportsSettlement
from trading.brokers.paper import PaperBroker
from trading.brokers.paper_account import PaperAccountError, PaperAccountStore
from trading.domain.models import Signal, utcnow
from trading.domain.reason_codes import ReasonCode
from trading.execution.advisor import Advisor
from trading.execution.executor import GuardedExecutor
from trading.execution.outcome_resolver import CandleResolutionSource, OutcomeResolver, ResolutionSource
from trading.execution.session import SessionFiles, TradingSession
from trading.market.candles import Bar
from trading.market.signals import SignalContext
from trading.records.journal import Journal, JournalError, JournalUnwritable
from trading.records.learning_hooks import LearningHooks
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventLog, EventType
from trading.settings import Settings

log = logging.getLogger(__name__)



class BrokerSetupError(RuntimeError):
    """The broker adapter cannot be built (not installed, bad settings)."""


def paper_store(data_dir: Path) -> PaperAccountStore:
    """Where a data dir keeps its paper accounts."""
    return PaperAccountStore(Path(data_dir) / "paper")


def make_broker(kind: str, settings: Settings, *, fresh_account: bool = False) -> Broker:
    """``paper`` | ``ib`` | ``polymarket``. The live adapters are imported only when asked for.

    ``paper`` is the persistent paper account of ``settings.data_dir``: resumed by default (its cash,
    positions, working orders and id counters are there, as a real broker's are when you reconnect);
    ``fresh_account=True`` starts a new account there (the old one's file is kept)."""
    b = settings.broker
    if kind == "paper":
        try:
            return PaperBroker(starting_cash=b.starting_cash, commission_per_contract=b.commission_per_contract,
                               slippage_ticks=b.slippage_ticks, store=paper_store(settings.data_dir),
                               fresh_account=fresh_account)
        except (PaperAccountError, OSError) as exc:
            raise BrokerSetupError(f"paper account in {settings.data_dir}: {exc}") from None
    modules = {"ib": ("trading.brokers.ib", "IBBroker", "warden[ib]"),
               "polymarket": ("trading.brokers.polymarket", "PolymarketBroker", "warden[polymarket]")}
    if kind not in modules:
        raise BrokerSetupError(f"unknown broker {kind!r}; expected paper, ib or polymarket")
    mod_name, cls_name, extra = modules[kind]
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise BrokerSetupError(f"the {kind} adapter is not available ({exc}); install it with pip install '{extra}'") \
            from None
    cls = getattr(mod, cls_name, None)
    if cls is None:
        raise BrokerSetupError(f"{mod_name} has no {cls_name}")
    factory = getattr(cls, "from_settings", None)
    try:
        return factory(settings) if callable(factory) else cls(b)
    except Exception as exc:  # noqa: BLE001 - third-party constructors raise undocumented types; one line
        raise BrokerSetupError(f"cannot set up the {kind} broker: {type(exc).__name__}: {exc}") from None


def open_session(settings: Settings, broker: Broker, *, symbol: str, data_dir: Path | None = None,
                 signals: Callable[[Sequence[Bar], SignalContext], Signal | None] | None = None,
                 advisor: Advisor | None = None, qty: float = 1.0, replay: bool = True,
                 resolution_sources: Sequence[ResolutionSource] = (), candle_asset: str | None = None,
                 progress: Callable[[str], None] | None = None,
                 journal_synchronous: str | None = None,
                 fresh_account: bool = False) -> tuple[TradingSession, list[str]]:
    """Wire a session: ledger, event log, journal, resolver, learning hooks, executor. Returns the session
    and the loud problems found while wiring (e.g. an unwritable journal, which halts new entries).

    A ``PaperBroker`` not yet kept anywhere is attached to the data dir's paper account: resumed, or a new
    one with ``fresh_account=True`` (``make_broker('paper', ...)`` has already done this)."""
    if isinstance(broker, PaperBroker) and broker.store is None:
        try:
            broker.attach(paper_store(Path(data_dir or settings.data_dir)), fresh=fresh_account)
        except (PaperAccountError, OSError) as exc:
            raise BrokerSetupError(f"paper account in {data_dir or settings.data_dir}: {exc}") from None
    files = SessionFiles(Path(data_dir or settings.data_dir),
                         paper_account=broker.account_id if isinstance(broker, PaperBroker) else None)
    problems: list[str] = []
    events = EventLog(files.events)
    who = (getattr(broker, "name", None),
           str(getattr(broker, "account_id", "") or getattr(broker, "name", "")) or None)
    if not isinstance(broker, PaperBroker) and files.ledger.is_file():
        # one live ledger per data dir: another broker's or account's equity marks would share its peak
        prev = RiskLedger(files.ledger, settings.guards)
        if (prev.broker and who[0] and prev.broker != who[0]) or (prev.account and who[1] and prev.account != who[1]):
            raise BrokerSetupError(
                f"{files.ledger} is the risk ledger of {prev.broker} account {prev.account}; a {who[0]} run for "
                f"account {who[1]} would mix their equity and peak: use its own --data-dir")
    ledger = RiskLedger(files.ledger, settings.guards, broker=who[0], account=who[1])
    ledger.describe_owner()     # `warden risk status` names the broker and account of every ledger
    journal: Journal | None
    try:
        # a paper replay commits with synchronous=NORMAL (WAL: safe against a process crash, which is what
        # reconciliation covers); a live broker's journal fsyncs every commit (FULL)
        sync = journal_synchronous or ("NORMAL" if isinstance(broker, PaperBroker) and replay else "FULL")
        journal = Journal(files.journal, synchronous=sync)
    except JournalUnwritable as exc:
        journal = None
        msg = f"JOURNAL UNWRITABLE: {exc}; new entries are halted (exits still go out)"
        log.error(msg)
        problems.append(msg)
        ledger.halt(ReasonCode.JOURNAL_UNWRITABLE, str(exc))
        events.emit(EventType.HALT, None, [ReasonCode.JOURNAL_UNWRITABLE], detail=str(exc))
    except JournalError as exc:
        raise BrokerSetupError(str(exc)) from None
    holder: dict[str, TradingSession] = {}

    def clock() -> datetime:
        s = holder.get("s")
        return s.clock() if (s is not None and replay) else utcnow()

    def history(sym: str, until: datetime) -> list[Bar]:
        s = holder.get("s")
        return s.history_until(sym, until) if s is not None else []

    hooks = LearningHooks(files.data_dir, settings.guards, history=history)
    sources = list(resolution_sources)
    src_fn = getattr(broker, "resolution_source", None)
    if callable(src_fn):
        sources.append(src_fn())
    elif getattr(broker, "name", "") == "polymarket" and (data := getattr(broker, "data", None)) is not None:
        from trading.brokers.polymarket_data import PolymarketResolutionSource  # the market's own answer first

        sources.append(PolymarketResolutionSource(data))
    asset = (candle_asset or symbol).upper()
    sources.append(CandleResolutionSource(
        lambda a: holder["s"].history if "s" in holder and a.upper() == asset else None))
    resolver = OutcomeResolver(journal, ledger, events, sources=sources, hooks=hooks, clock=clock)
    if isinstance(broker, SupportsSettlement):
        resolver.settle = broker.settle      # a resolved binary share settles at 1 or 0 in the paper account
    executor = GuardedExecutor(broker, ledger, events, journal, settings.guards, resolver=resolver,
                               read_timeout_s=None if isinstance(broker, PaperBroker) and replay
                               else settings.broker.position_timeout_s, clock=clock,
                               reconcile_interval_s=settings.broker.reconcile_interval_s)
    session = TradingSession(broker, executor, symbol=symbol, signals=signals, advisor=advisor, qty=qty,
                             hooks=hooks, progress=progress)
    holder["s"] = session
    session.files = files
    return session, problems
