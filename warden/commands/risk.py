"""``warden risk``: read the persisted risk ledgers; the only way to reset a peak, clear a halt or repair
a ledger with unreadable lines (each an attributed ledger entry: operator and note).

``status`` lists every ledger in the data dir (live, paper accounts, any broker) with broker, account,
equity, peak, drawdown, halts and last entry. The writers act on one ledger: ``--ledger PATH-or-account``
when there are several.
Failure contract: a bad value (unknown reason code, empty operator or note, a non-finite or non-positive
--new-peak, a fresh ledger without --new-peak, an ambiguous or unknown --ledger) is a ``UserError`` (one
line, exit 2) and nothing is appended; reads never modify a ledger; --json is strict JSON (no NaN).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from warden.options import DEFAULT_DATA_DIR, DataDir, Json

risk_app = typer.Typer(help="Inspect the risk ledgers; operator-only peak reset, halt clearing and repair.",
                       no_args_is_help=True)
Operator = Annotated[str, typer.Option("--operator", help="Who is doing this (recorded in the ledger).")]
Note = Annotated[str, typer.Option("--note", help="Why (recorded in the ledger).")]
LedgerOpt = Annotated[str | None, typer.Option(
    "--ledger", help="The ledger to act on (a path, or a paper account / file name) when there are several.")]


def _settings_guards():  # noqa: ANN202
    from trading.settings import load_settings

    return load_settings().guards


def _open(data_dir: Path, ledger: str | None, operator: str, note: str):  # noqa: ANN202
    """The chosen ledger, after checking the operator fields (UserError naming the flag)."""
    from trading.records.ledger_files import LedgerChoiceError, resolve_ledger
    from trading.records.risk_ledger import RiskLedger
    from warden.errors import UserError

    if not operator.strip():
        raise UserError("--operator is empty: say who is doing this")
    if not note.strip():
        raise UserError("--note is empty: say why (it is recorded in the ledger)")
    cfg = _settings_guards()
    try:
        path = resolve_ledger(data_dir, ledger, cfg)
    except LedgerChoiceError as exc:
        raise UserError(str(exc)) from None
    return RiskLedger(path, cfg)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "-"
    return "-" if v is None else str(v)


@risk_app.command("status")
def status(data_dir: DataDir = DEFAULT_DATA_DIR, json_out: Json = False) -> None:
    """Every risk ledger in the data dir: broker, account, equity, never-reset peak, drawdown, halts, last entry."""
    from trading.records.ledger_files import find_ledgers, summary

    cfg = _settings_guards()
    docs = [summary(p, data_dir, cfg) for p in find_ledgers(data_dir)]
    if json_out:
        print(json.dumps({"data_dir": str(data_dir), "ledgers": docs}, indent=2, allow_nan=False))
        return
    con = Console()
    if not docs:
        con.print(f"no risk ledger under {escape(str(data_dir / 'risk'))} yet (a run writes one)")
        return
    t = Table(title=f"risk ledgers under {escape(str(data_dir))}")
    cols = ("account", "equity", "peak_equity", "drawdown_pct", "halts", "last_entry")
    heads = {"peak_equity": "peak", "drawdown_pct": "dd %", "last_entry": "last entry (UTC)"}
    for c in cols:
        t.add_column(heads.get(c, c), overflow="fold", no_wrap=c != "halts")
    for d in docs:
        # the last entry to the minute, UTC: the full timestamp is in --json
        row = {**d, "last_entry": str(d["last_entry"])[:16].replace("T", " ") if d["last_entry"] else None}
        t.add_row(*(escape(_fmt(row[c])) for c in cols))
    con.print(t)
    for d in docs:
        con.print(f"{escape(str(d['account']))} ({escape(str(d['broker']))}): {escape(str(d['ledger']))}")
    for d in docs:
        for err in d["ledger_errors"]:
            con.print(f"[red]LEDGER_CORRUPT[/red] {escape(d['ledger'])}: {escape(err)} "
                      f"(`warden risk repair --ledger {escape(d['account'])} --operator NAME --note WHY`)")


@risk_app.command("reset-peak")
def reset_peak(operator: Operator, note: Note, data_dir: DataDir = DEFAULT_DATA_DIR, ledger: LedgerOpt = None,
               new_peak: Annotated[float | None, typer.Option(
                   "--new-peak", help="The new peak (> 0); defaults to the ledger's current equity.")] = None) -> None:
    """Explicitly reset the drawdown peak (logged with operator and note)."""
    from warden.errors import UserError

    if new_peak is not None and (not math.isfinite(new_peak) or new_peak <= 0):
        raise UserError(f"--new-peak must be a finite number > 0, got {new_peak}")
    led = _open(data_dir, ledger, operator, note)
    if new_peak is None and led.state().equity is None:
        raise UserError(f"{led.path} has no equity recorded yet: give the peak with --new-peak")
    led.reset_peak(operator, note, new_peak)
    print(f"peak reset recorded in {led.path}: peak now {led.state().peak_equity:,.2f}")


@risk_app.command("clear-halt")
def clear_halt(operator: Operator, note: Note, data_dir: DataDir = DEFAULT_DATA_DIR, ledger: LedgerOpt = None,
               code: Annotated[str | None, typer.Option(help="Clear only this reason code.")] = None) -> None:
    """Clear a latched halt (drawdown, reconcile, journal, operator); logged with operator and note."""
    from trading.domain.reason_codes import ReasonCode
    from warden.errors import UserError

    try:
        rc = ReasonCode(code) if code else None
    except ValueError:
        raise UserError(f"unknown reason code {code!r}") from None
    led = _open(data_dir, ledger, operator, note)
    led.clear_halt(operator, note, rc)
    print(f"halt cleared in {led.path}")


@risk_app.command("repair")
def repair(operator: Operator, note: Note, data_dir: DataDir = DEFAULT_DATA_DIR, ledger: LedgerOpt = None) -> None:
    """Acknowledge a ledger's unreadable lines (LEDGER_CORRUPT), logged with operator and note; nothing is deleted."""
    led = _open(data_dir, ledger, operator, note)
    fixed = led.repair(operator, note)
    if not fixed:
        print(f"{led.path}: every line is readable; nothing to repair")
        return
    for b in fixed:
        print(f"acknowledged {b.describe()}: {b.text[:80]!r}")
    st = led.state()
    peak = "none" if st.peak_equity is None else f"{st.peak_equity:,.2f}"
    print(f"{led.path}: entries no longer blocked by LEDGER_CORRUPT; peak now {peak}. If a lost line held a "
          "higher peak, restore it with `warden risk reset-peak --new-peak`.")


def register(app: typer.Typer) -> None:
    app.add_typer(risk_app, name="risk")
