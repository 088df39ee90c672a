"""The ``warden`` command line. Commands live in ``warden/commands/`` and are discovered here.

Failure contract (the CLI's conventions, docs/cli.md):
- a user error (``UserError``, ``ConfigError``, a bad option, an unknown command) is ONE line on stderr
  naming the file, setting, variable or flag at fault, exit 2 (a ``UserError`` may carry another code);
- any other failure is one line naming the error and the log file its traceback was appended to
  (``<data-dir>/logs/warden-errors.log``), exit 1; ``--debug`` (anywhere on the line) prints the
  traceback as well;
- Ctrl-C ends with ``interrupted`` and exit 130;
- every message goes through ``warden.printer``, so markup or control characters in it print literally.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import tempfile
import tomllib
import traceback
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer._click import exceptions as cx  # typer >= 0.2x vendors click: its exceptions live here
from typer._click.core import Context, ParameterSource
from typer.core import TyperOption

from trading.settings import ConfigError
from warden import __version__, commands, printer
from warden.errors import UserError

ERROR_LOG = Path("logs") / "warden-errors.log"


def _no_bool_metavar() -> None:
    """Flags take no value: typer's help shows ``--json <bool>``, which reads as if they did. Show none."""
    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Context) -> str | None:
        if self.is_flag and not self.count:
            return None
        return original(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_no_bool_metavar()

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
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected failure on the terminal "
                                                     "(it is always written to <data-dir>/logs/warden-errors.log)."),
) -> None:
    """Warden keeps a trading bot honest: deterministic guards have the last word."""


for _mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"warden.commands.{_mod.name}").register(app)


# ------------------------------------------------------------------------------------------------
# the boundary


def _data_dir(args: list[str]) -> Path:
    for i, a in enumerate(args):
        if a == "--data-dir" and i + 1 < len(args):
            return Path(args[i + 1])
        if a.startswith("--data-dir="):
            return Path(a.split("=", 1)[1])
    return Path(os.environ.get("WARDEN_DATA_DIR") or "rag_data")


def write_error_log(args: list[str], exc: BaseException) -> Path:
    """Append ``exc``'s traceback to the data dir's error log (or the temp dir's); return the file."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    text = (f"--- {stamp} warden {' '.join(args)}\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for path in (_data_dir(args) / ERROR_LOG, Path(tempfile.gettempdir()) / "warden-errors.log"):
        try:
            if path.parent.exists() and not path.parent.is_dir():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return Path("(no writable log location)")


def config_file() -> Path:
    """The settings file Warden reads (the rule of trading/settings.py: WARDEN_CONFIG, else ./warden.toml)."""
    return Path(os.environ.get("WARDEN_CONFIG") or "warden.toml")


def _decode_reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not a UTF-8 text file (byte {exc.start}): not valid TOML"
    return f"not valid TOML: {exc}"


def _usage_message(exc: cx.UsageError) -> str:
    """Click's message, naming the environment variable when the bad value came from one."""
    msg = exc.format_message().replace("Value error, ", "")
    param, ctx = getattr(exc, "param", None), exc.ctx
    if isinstance(exc, cx.BadParameter) and param is not None and ctx is not None and param.name:
        src = ctx.get_parameter_source(param.name)
        envvar = getattr(param, "envvar", None)
        if src is ParameterSource.ENVIRONMENT and isinstance(envvar, str) and envvar not in msg:
            msg = f"{msg} (from the environment variable {envvar}={os.environ.get(envvar, '')!r})"
    return msg


def _help_hint(exc: cx.UsageError) -> str:
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "warden"
    return f"see: {path} --help"


def run(args: list[str]) -> int:
    """Run the CLI on ``args``; return the exit code (every error already printed as one line)."""
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    argv = [a for a in args if a != "--debug"] if debug else args
    try:
        rv = app(args=argv, prog_name="warden", standalone_mode=False)
    except cx.NoArgsIsHelpError as exc:
        if exc.ctx is not None:
            print(exc.ctx.get_help())
        return 0
    except cx.UsageError as exc:
        printer.error(_usage_message(exc), _help_hint(exc))
        return 2
    except typer.Abort:
        printer.error("interrupted")
        return 130
    except (UserError, ConfigError) as exc:
        code = int(getattr(exc, "exit_code", 2))
        if code != 2:     # a failure reported as one line: keep its traceback (and its cause) in the log
            log = write_error_log(args, exc)
            if debug:
                traceback.print_exception(type(exc), exc, exc.__traceback__)
            printer.error(exc, f"details in {log}")
        else:
            printer.error(exc)
        return code
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # settings loading (trading/settings.py) reads the TOML file; name it and what is wrong with it
        printer.error(f"{config_file()}: {_decode_reason(exc)}",
                      "fix the file, or point WARDEN_CONFIG at a valid one")
        return 2
    except KeyboardInterrupt:
        printer.error("interrupted")
        return 130
    except cx.ClickException as exc:
        printer.error(exc.format_message())
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: every unexpected failure becomes one line + a log
        log = write_error_log(args, exc)
        if debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__)
        printer.error(f"{type(exc).__name__}: {exc}", f"traceback in {log}; --debug shows it")
        return 1
    if rv == 130:
        printer.error("interrupted")
    return rv if isinstance(rv, int) else 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
