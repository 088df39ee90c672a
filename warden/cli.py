"""The ``warden`` command line. Commands live in ``warden/commands/`` and are discovered here.

Failure contract: a ``UserError`` or ``ConfigError`` from any command is printed as one red line on
stderr and exits with its ``exit_code`` (2 by default); anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console

from trading.settings import ConfigError
from warden import __version__, commands
from warden.errors import UserError

app = typer.Typer(
    name="warden",
    help="Warden: guards, replay, execution, incident review and learning memory for trading bots.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"warden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    """Warden keeps a trading bot honest: deterministic guards have the last word."""


for _mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"warden.commands.{_mod.name}").register(app)


def main() -> None:
    err = Console(stderr=True)
    try:
        app(standalone_mode=True)
    except (UserError, ConfigError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))


if __name__ == "__main__":
    main()
