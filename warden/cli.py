"""The ``warden`` command line. Commands live in ``warden/commands/`` and are discovered here. The command
being run is imported alone when its module is named after it (``replay.py`` for ``warden replay``,
``sample_candles.py`` for ``sample-candles``), so it starts without the other commands' imports;
``--help``, an unknown command or another module name imports them all (``build_app``).

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
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer._click import exceptions as cx  # typer >= 0.2x vendors click: its exceptions live here
from typer._click.core import Context, ParameterSource
from typer.core import TyperOption

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


def _version(value: bool) -> None:
    if value:
        print(f"warden {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected failure on the terminal "
                                                     "(it is always written to <data-dir>/logs/warden-errors.log)."),
) -> None:
    """Warden keeps a trading bot honest: deterministic guards have the last word."""


def _new_app() -> typer.Typer:
    app = typer.Typer(
        name="warden",
        help="Warden: guards, replay, execution, incident review and learning memory for trading bots.",
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    return app


def _command_modules() -> list[str]:
    here = Path(commands.__file__).parent
    return sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI. With ``command``, only the module named after it (``warden/commands/replay.py`` for
    ``replay``, ``sample_candles.py`` for ``sample-candles``) when that module registers it: a command
    then starts without importing every other command's dependencies. Otherwise every command."""
    if command is not None and command.replace("-", "_") in _command_modules():
        app = _new_app()
        importlib.import_module(f"warden.commands.{command.replace('-', '_')}").register(app)
        names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
        if command in names:
            return app
    app = _new_app()
    for name in _command_modules():
        importlib.import_module(f"warden.commands.{name}").register(app)
    return app


_APP: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """``warden.cli.app``: the CLI with every command, built on first use (PEP 562)."""
    global _APP
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _APP is None:
        _APP = build_app()
    return _APP


def _command_of(argv: list[str]) -> str | None:
    """The command named on the line (its first word), or None (``--help``, ``--version``, nothing)."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _config_error() -> type[Exception]:
    """trading.settings.ConfigError, once the settings module is loaded (only then can it have been raised).
    Not imported up front: a command that never reads settings does not pay for pydantic-settings."""
    mod = sys.modules.get("trading.settings")
    return UserError if mod is None else mod.ConfigError  # type: ignore[no-any-return]


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
    import tempfile
    import traceback

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
    import traceback

    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    argv = [a for a in args if a != "--debug"] if debug else args
    try:
        cli = _APP if _APP is not None else build_app(_command_of(argv))
        rv = cli(args=argv, prog_name="warden", standalone_mode=False)
    except cx.NoArgsIsHelpError as exc:
        # building this error rendered the help: with Rich it is already printed (the message is then
        # empty); without Rich the message is the help text. Print it once.
        if exc.format_message().strip():
            print(exc.format_message())
        return 0
    except cx.UsageError as exc:
        printer.error(_usage_message(exc), _help_hint(exc))
        return 2
    except typer.Abort:
        printer.error("interrupted")
        return 130
    except (UserError, _config_error()) as exc:
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
