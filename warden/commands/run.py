"""``warden run``: the guarded trading loop over a candle file (paper replay) or a live broker.

Failure contract: bad input (candle file, signal source, advisor spec, symbol, broker setup) and a
data dir in use by another writer are a ``UserError`` (one line, exit 2); a session that hit a system
halt (a write that failed, reconcile, unknown fills) prints its summary and exits 3 with one line; a
Ctrl-C prints the summary marked interrupted and exits 130; SIGTERM (``kill``, a service manager's stop)
does the same and exits 143.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import re
import signal
import sys
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from warden.errors import UserError
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice, finite_positive, zone_name
from warden.preflight import check_model


class BrokerChoice(StrEnum):
    paper = "paper"
    ib = "ib"
    polymarket = "polymarket"


def _load_advisor(spec: str, llm: LLMChoice, settings: Any) -> Any:
    """``graph`` (default: the agents' advisory graph, wired after the session opens), ``rule`` (the
    session's built-in deterministic advisor) or ``module:callable`` / an entry point in
    ``warden.advisors``. A factory that takes a ``reasoner`` keyword gets the reasoner chosen with --llm."""
    if spec in ("", "rule", "graph"):
        return None
    import importlib
    import importlib.metadata

    if ":" in spec:
        mod, _, attr = spec.partition(":")
        try:
            obj: Any = importlib.import_module(mod)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise UserError(f"--advisor {spec}: {exc}") from None
    else:
        eps = [ep for ep in importlib.metadata.entry_points(group="warden.advisors") if ep.name == spec]
        if not eps:
            raise UserError(f"--advisor {spec}: no such entry point in group 'warden.advisors' "
                            "(use rule or module:callable)")
        obj = eps[0].load()
    params = inspect.signature(obj).parameters if callable(obj) else {}
    if "reasoner" in params:
        from agents.llm import get_reasoner

        try:
            obj = obj(reasoner=get_reasoner(llm.value, settings))
        except Exception as exc:  # noqa: BLE001 - a plug-in's factory: any failure is a one-line user error
            raise UserError(f"--advisor {spec}: cannot build it with --llm {llm.value}: {exc}") from None
    elif isinstance(obj, type):
        obj = obj()
    if not callable(obj):
        raise UserError(f"--advisor {spec}: not callable")
    return obj


def run(
    candles: Annotated[Path, typer.Option("--candles", help="Candle file: CSV, Parquet or Feather.",
                                          dir_okay=False)],
    broker: Annotated[BrokerChoice, typer.Option("--broker", help="paper (replay), ib or polymarket.")] =
    BrokerChoice.paper,
    symbol: Annotated[str, typer.Option("--symbol", help="Instrument traded (ES, MES, NQ, ESZ5, ...).")] = "ES",
    qty: Annotated[float, typer.Option("--qty", min=0.0001, callback=finite_positive,
                                       help="Contracts / shares per entry.")] = 1.0,
    signals: Annotated[str, typer.Option(
        "--signals", help="Signal source: breakout (built-in), module:callable, or a 'warden.signals' "
                          "entry point.")] = "breakout",
    advisor: Annotated[str, typer.Option(
        "--advisor", help="Advisor: graph (the agents' advisory graph: ingest -> decision -> risk), rule "
                          "(built-in, deterministic), module:callable or a 'warden.advisors' entry point.")] = "graph",
    candle_symbol: Annotated[str | None, typer.Option(
        "--candle-symbol", help="Rows to use when the file holds several instruments (symbol/pair column).")] = None,
    tz: Annotated[str, typer.Option("--tz", callback=zone_name, help="Zone of naive candle timestamps.")] = "UTC",
    flatten: Annotated[bool, typer.Option("--flatten/--no-flatten",
                                          help="Paper: close any open trade at the last close.")] = True,
    fresh_account: Annotated[bool, typer.Option(
        "--fresh-account", help="Paper: start a new paper account in the data dir instead of resuming the "
                                "existing one (the old account and its journal rows are kept).")] = False,
    bar_delay: Annotated[float, typer.Option(
        "--bar-delay", min=0.0, help="Seconds to wait after each bar (pacing for demos and tests).")] = 0.0,
    follow: Annotated[bool | None, typer.Option(
        "--follow/--no-follow", help="Keep reading new rows as the file grows (default for ib/polymarket).")] = None,
    poll: Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between reads when following.")] = 5.0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress lines on stderr.")] = False,
    interval: Annotated[str | None, typer.Option(
        "--interval", metavar="N[s|m|h|d]", help="Bar length (30s, 1m, 5m, 1h, 1d); default: inferred from the "
                                                 "candles (the median spacing of bar opens).")] = None,
    calendar: Annotated[str | None, typer.Option(
        "--calendar", metavar="24/7|weekdays", help="Session calendar of daily bars: weekdays (a Friday bar ends "
                                                    "before the weekend) or 24/7; default: inferred.")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    llm: LLM = LLMChoice.offline,
    json_out: Json = False,
) -> None:
    """Run the guarded trading loop: candles -> signals -> advice -> guards -> broker -> journal -> outcomes.

    With --broker paper the candles are replayed as fast as the machine goes and fills come from them;
    the paper account lives in the data dir and a second run resumes it (bars it already processed only
    warm up the history). One run per data dir at a time. The session ends with a summary (trades, win
    rate, PnL, max drawdown, blocked orders by reason). Exit 0, 2 (bad input, data dir in use), 3 (a
    system halt: a write failed, reconcile mismatch) or 130 (interrupted).
    """
    import logging

    from trading.records.data_dir_lock import DataDirLockError, data_dir_lock

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    terminated: list[int] = []

    def on_term(signum: int, _frame: object) -> None:
        """SIGTERM ends the session as Ctrl-C does: the summary is written and printed, marked interrupted."""
        terminated.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if not candles.is_file():
        raise UserError(f"--candles {candles}: no such file")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(data_dir_lock(data_dir, "warden run " + " ".join(sys.argv[2:])[:200]))
        except DataDirLockError as exc:
            raise UserError(str(exc)) from None
        try:
            summary, failed = _run_locked(
                candles=candles, broker=broker, symbol=symbol, qty=qty, signals=signals, advisor=advisor,
                candle_symbol=candle_symbol, tz=tz, flatten=flatten, fresh_account=fresh_account,
                bar_delay=bar_delay, follow=follow, poll=poll, quiet=quiet, data_dir=data_dir, llm=llm,
                interval=parse_interval(interval), calendar=_calendar(calendar),
                json_out=json_out)
        except KeyboardInterrupt:
            print("interrupted before the session started; nothing was traded", file=sys.stderr)
            raise typer.Exit(143 if terminated else 130) from None
    if json_out:
        print(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        _print_summary(summary)
    if summary.interrupted:
        how = "SIGTERM" if terminated else "Ctrl-C"
        print(f"interrupted ({how}): the session stopped early; the summary above covers the bars processed",
              file=sys.stderr)
        raise typer.Exit(143 if terminated else 130)
    if failed:
        print("error: the session hit a system halt (a write failed, reconcile or unknown fills); see the "
              "summary and `warden risk status`", file=sys.stderr)
        raise typer.Exit(3)


INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str | None) -> timedelta | None:
    """``30s`` / ``5m`` / ``1h`` / ``1d`` -> a timedelta; None stays None (inferred); anything else exit 2."""
    if text is None:
        return None
    m = INTERVAL.match(text)
    if not m or float(m.group(1)) <= 0:
        raise UserError(f"--interval {text!r}: expected a positive number and a unit, e.g. 30s, 1m, 5m, 1h, 1d")
    return timedelta(seconds=float(m.group(1)) * UNITS[m.group(2)])


def _calendar(text: str | None) -> str | None:
    from trading.market.clock import CALENDARS

    if text is not None and text not in CALENDARS:
        raise UserError(f"--calendar {text!r}: expected one of {', '.join(CALENDARS)}")
    return text


def _run_locked(*, candles: Path, broker: BrokerChoice, symbol: str, qty: float, signals: str, advisor: str,
                candle_symbol: str | None, tz: str, flatten: bool, fresh_account: bool, bar_delay: float,
                follow: bool | None, poll: float, quiet: bool, data_dir: Path, llm: LLMChoice,
                json_out: bool, interval: timedelta | None = None, calendar: str | None = None) -> tuple[Any, bool]:
    """The run, with the data dir's writer lock held: (summary, hit a system halt)."""
    from trading.brokers.base import BrokerUnavailable
    from trading.domain.instruments import fx_note
    from trading.execution.wiring import BrokerSetupError, make_broker, open_session
    from trading.market.candles import CandleFormatError, read_candles
    from trading.market.signals import SignalLoadError, load_signal_source
    from trading.records.journal import JournalError
    from trading.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    try:
        series = read_candles(candles, symbol=candle_symbol, tz=tz)
    except CandleFormatError as exc:
        raise UserError(str(exc)) from None
    try:
        source = load_signal_source(signals)
    except SignalLoadError as exc:
        raise UserError(str(exc)) from None
    adv = _load_advisor(advisor, llm, settings)
    check_model(settings, llm)          # one cheap call: a model that cannot answer stops here, exit 2
    if broker is not BrokerChoice.polymarket:      # a Polymarket run names the asset; the adapter picks the share
        try:
            from trading.domain.contracts import spec_for

            spec_for(symbol)
        except ValueError as exc:
            raise UserError(f"--symbol {symbol}: {exc}") from None
    err = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    if broker is not BrokerChoice.polymarket and (note := fx_note(symbol)):
        err(f"warning: {note}")     # ETHBTC with no [fx] BTC: said once at start, not only per blocked entry
    try:
        brk = make_broker(broker.value, settings, fresh_account=fresh_account)
        if broker is not BrokerChoice.paper:
            brk.connect()
        if callable(qualify := getattr(brk, "qualify", None)):
            qualify(symbol)     # IB: a contract the Gateway does not know stops here (ValueError naming it, exit 2)
        session, problems = open_session(settings, brk, symbol=symbol, data_dir=data_dir, signals=source,
                                         advisor=adv, qty=qty, replay=broker is BrokerChoice.paper,
                                         candle_asset=Path(candles).name.split("-")[0].split("_")[0],
                                         progress=err, fresh_account=fresh_account)
    except (BrokerSetupError, JournalError) as exc:
        raise UserError(str(exc)) from None
    except (BrokerUnavailable, OSError, ValueError) as exc:  # a live broker that refuses the connection
        raise UserError(f"cannot start the {broker.value} broker: {type(exc).__name__}: {exc}") from None
    session.bar_delay_s = bar_delay
    if interval is not None or calendar is not None:     # declared: the bar clock no longer guesses
        from trading.market.clock import BarClock

        session.bar_clock = BarClock.for_bars(series.bars, interval=interval, calendar=calendar)
    for p in problems:      # already logged as one ERROR line by the wiring; later write failures are counted
        session.executor.storage_error = session.executor.storage_error or p
    if series.dropped:
        err(f"candles: dropped rows {series.dropped}")
    runner, display = None, None
    if advisor in ("", "graph"):
        # every cycle's advice comes from the advisory graph; the session still sends through the guards
        from graphs.advisory_session import GraphCycleRunner
        from warden.live_display import LiveDisplay

        if not quiet and not json_out and sys.stderr.isatty():
            display = LiveDisplay()
        runner = GraphCycleRunner.for_session(session, settings, llm.value,
                                              on_decision=display.update if display is not None else None)
        session.advisor = runner.advisor
    do_follow = follow if follow is not None else broker is not BrokerChoice.paper
    try:
        with display or contextlib.nullcontext():
            if do_follow:
                summary = session.follow(lambda: read_candles(candles, symbol=candle_symbol, tz=tz).bars,
                                         poll_s=poll)
            else:
                summary = session.run(series.bars, flatten_at_end=flatten and broker is BrokerChoice.paper)
    except KeyboardInterrupt:
        session.interrupted = True
        summary = session.finish()
    finally:
        if runner is not None:
            try:
                runner.close()    # records trades closed after the last cycle, closes the checkpointer
            except OSError as exc:    # the checkpointer or the memory could not be written: a storage halt
                session.executor.storage_failed("checkpointer", None, exc)
        if broker is not BrokerChoice.paper:
            try:
                brk.disconnect()
            except (BrokerUnavailable, OSError):  # already gone; nothing left to protect
                pass
    if runner is not None and session.executor.storage_error and not summary.storage_error:
        summary = session.summary()
    ex = session.executor
    failed = bool(problems) or bool(ex.storage_error) or any(
        ex.stats[k] > 0 for k in ("journal_failures", "storage_failures", "reconcile_mismatches", "unknown_fills"))
    return summary, failed


def _money(v: float | None) -> str:
    return f"{v:,.2f}" if v is not None else "?"


def _amount(v: float, currency: str) -> str:
    """Cents for USD, a stablecoin or a fiat currency; up to 8 significant digits for a coin (0.00123 BTC)."""
    from trading.records.outcome_schema import money_decimals

    return f"{v:,.2f}" if money_decimals(currency) == 2 else f"{v:,.8g}"


def _print_summary(s: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from trading.domain.fx import current as current_fx

    acct = current_fx().account      # cash, equity and drawdown are in it; the PnL line in the instrument's
    title = f"session summary: {s.broker} {s.symbol}" + (" (INTERRUPTED)" if s.interrupted else "")
    t = Table(title=title, show_header=False)
    wr = f"{s.win_rate_pct:.1f}%" if s.win_rate_pct is not None else "n/a (no closed trades)"
    bars = f"{s.bars}" + (f" (+{s.bars_skipped} already processed by the resumed account)" if s.bars_skipped else "")
    rows = [
        ("bars", bars), ("signals", f"{s.signals}"),
        ("entries sent / exits sent", f"{s.entries_sent} / {s.exits_sent}"),
        ("trades closed", f"{s.trades} ({s.wins} won, {s.losses} lost)"), ("win rate", wr),
        ("PnL (net, from fills)", f"{_amount(s.pnl_usd, s.currency)} {s.currency} "
                                  f"(fees {_amount(s.fees_usd, s.currency)})"),
        ("equity start -> end", f"{_money(s.start_equity)} -> {_money(s.end_equity)} {acct}"),
        ("max drawdown", f"{s.max_drawdown_usd:,.2f} {acct} ({s.max_drawdown_pct:.2f}%)"),
        ("blocked orders", f"{s.blocked_orders}"),
    ]
    for code, n in s.blocked_by_reason.items():
        rows.append((f"  blocked by {code}", f"{n}"))
    if s.blocked_also:
        rows.append(("  also flagged", ", ".join(f"{k}={v}" for k, v in s.blocked_also.items())))
    rows += [("open position", f"{s.open_position}"), ("open trades", f"{s.open_trades}"),
             ("outcome files written", f"{s.outcome_files}"), ("halts active", ", ".join(s.halts) or "none"),
             ("errors", ", ".join(f"{k}={v}" for k, v in s.errors.items()) or "none"),
             ("reconcile", s.reconcile), ("speed", f"{s.bars_per_s} bars/s ({s.elapsed_s} s)")]
    if s.artefacts_repaired:
        rows.append(("outcome files repaired", f"{s.artefacts_repaired}"))
    if s.storage_error:
        rows.append(("write failure", s.storage_error))
    if s.interrupted:
        rows.append(("status", "interrupted (Ctrl-C or SIGTERM)"))
    for k, v in s.paths.items():
        rows.append((k, v))
    for k, v in rows:
        t.add_row(k, escape(str(v)))
    Console().print(t)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
