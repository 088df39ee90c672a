"""User-facing errors, and where diagnostics go instead of the terminal.

``UserError``: bad input the user can fix; warden/cli.py prints it as one line on stderr and exits with
its ``exit_code`` (2). ``diagnostics_to_file(data_dir)`` sends library log records (warnings from the
teams, grounding notes) to ``<data-dir>/logs/warden.log`` for the duration of a command whose terminal
output is its own progress and summary.

Failure contract: defines the errors only; ``diagnostics_to_file`` falls back to leaving logging as it
is when the log file cannot be opened (it never fails the command).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_FILE = Path("logs") / "warden.log"


class UserError(Exception):
    """Bad input the user can fix (missing file, unknown id, unreadable format...)."""

    exit_code = 2


@contextmanager
def diagnostics_to_file(data_dir: Path) -> Iterator[Path | None]:
    """Route WARNING+ log records to ``<data_dir>/logs/warden.log`` (not the terminal) inside the block."""
    root = logging.getLogger()
    path = Path(data_dir) / LOG_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler | None = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        handler = None
    if handler is None:
        yield None
        return
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield path
    finally:
        root.handlers = saved
        handler.close()
