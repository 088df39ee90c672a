"""``warden risk``: read the persisted risk ledger; the only way to reset the peak or clear a halt.

Failure contract: an unknown reason code is a ``UserError`` (exit 2); reads never modify the ledger.
"""
from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from warden.options import DEFAULT_DATA_DIR, DataDir, Json

risk_app = typer.Typer(help="Inspect the risk ledger; operator-only peak reset and halt clearing.",
                       no_args_is_help=True)
Operator = Annotated[str, typer.Option("--operator", help="Who is doing this (recorded in the ledger).")]
Note = Annotated[str, typer.Option("--note", help="Why (recorded in the ledger).")]


def _ledger(data_dir):  # noqa: ANN001, ANN202
    from trading.records.risk_ledger import RiskLedger
    from trading.settings import load_settings

    return RiskLedger(data_dir / "risk" / "ledger.jsonl", load_settings().guards)


@risk_app.command("status")
def status(data_dir: DataDir = DEFAULT_DATA_DIR, json_out: Json = False) -> None:
    """Show equity, the never-reset peak, drawdown, halts, streak and unresolved outcomes."""
    led = _ledger(data_dir)
    st = led.state()
    doc = st.model_dump(mode="json") | {"drawdown_pct": st.drawdown_pct, "corrupt_lines": led.corrupt_lines}
    if json_out:
        print(json.dumps(doc, indent=2))
        return
    t = Table(title=f"risk ledger {led.path}", show_header=False)
    for k, v in doc.items():
        t.add_row(k, str(v))
    Console().print(t)


@risk_app.command("reset-peak")
def reset_peak(operator: Operator, note: Note, data_dir: DataDir = DEFAULT_DATA_DIR,
               new_peak: Annotated[float | None, typer.Option(help="Defaults to current equity.")] = None) -> None:
    """Explicitly reset the drawdown peak (logged with operator and note)."""
    _ledger(data_dir).reset_peak(operator, note, new_peak)
    print("peak reset recorded")


@risk_app.command("clear-halt")
def clear_halt(operator: Operator, note: Note, data_dir: DataDir = DEFAULT_DATA_DIR,
               code: Annotated[str | None, typer.Option(help="Clear only this reason code.")] = None) -> None:
    """Clear a latched halt (drawdown, reconcile, journal, operator); logged with operator and note."""
    from trading.domain.reason_codes import ReasonCode
    from warden.errors import UserError

    try:
        rc = ReasonCode(code) if code else None
    except ValueError:
        raise UserError(f"unknown reason code {code!r}") from None
    _ledger(data_dir).clear_halt(operator, note, rc)
    print("halt cleared")


def register(app: typer.Typer) -> None:
    app.add_typer(risk_app, name="risk")
