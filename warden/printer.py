"""The one printer for user-facing text: every message the CLI shows goes through here.

Text from outside (paths, log lines, model output, exception messages) is *data*: ``clean`` removes
control characters (ANSI escapes, carriage returns, bells) and escapes Rich markup, so ``[ib]`` or
``[/x]`` prints literally and can never restyle or break the terminal. ``error`` prints one line on
stderr; ``say`` one line on stdout; ``markup`` is for Warden's own fixed styling around cleaned text.

Failure contract: nothing here raises for the content of a message (a message that cannot be encoded
is printed with replacement characters); a closed stdout/stderr (a pipe to ``head``) is ignored.
"""
from __future__ import annotations

import re
import sys
from typing import Any

_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_cache: dict[bool, Any] = {}


def strip_control(text: object, *, keep_newlines: bool = True) -> str:
    """``text`` without terminal control sequences (newlines and tabs kept unless ``keep_newlines`` is False)."""
    s = _CONTROL.sub("", str(text))
    return s if keep_newlines else " ".join(s.split("\n"))


def clean(text: object, *, one_line: bool = False) -> str:
    """Untrusted text made safe for a Rich console: control characters removed, markup escaped."""
    from rich.markup import escape

    return escape(strip_control(text, keep_newlines=not one_line))


def console(stderr: bool = False) -> Any:
    """The shared Rich console (stdout or stderr); highlighting off so numbers keep the colour they were given."""
    con = _cache.get(stderr)
    if con is None:
        from rich.console import Console

        con = _cache[stderr] = Console(stderr=stderr, highlight=False)
    return con


def _emit(stderr: bool, rich_text: str) -> None:
    try:
        console(stderr).print(rich_text, soft_wrap=True, highlight=False)
    except (BrokenPipeError, ValueError):      # closed pipe / closed file: nothing to show it on
        pass


def say(text: object, *, stderr: bool = False) -> None:
    """Print untrusted or plain ``text`` literally (markup escaped, control characters removed)."""
    _emit(stderr, clean(text))


def markup(template: str, *values: object, stderr: bool = False) -> None:
    """Print Warden's own Rich ``template`` with each ``{}`` filled by a cleaned value."""
    _emit(stderr, template.format(*(clean(v) for v in values)))


def error(message: object, hint: str = "") -> None:
    """One red line on stderr: ``error: message`` (+ ``; hint``), whatever the message contains."""
    text = clean(message, one_line=True).strip()
    tail = f" [dim]({clean(hint, one_line=True)})[/]" if hint else ""
    _emit(True, f"[bold red]error:[/] {text}{tail}")


def warn(message: object) -> None:
    """One yellow line on stderr."""
    _emit(True, f"[yellow]warning:[/] {clean(message, one_line=True)}")


def plain_stderr(line: str) -> None:
    """A raw line on stderr without Rich (used where a Live display owns the Rich console)."""
    try:
        print(strip_control(line, keep_newlines=False), file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        pass
