"""Progress with a horizon for long reads: done / total, percentage, rate and time left.

``horizon(done, total, elapsed, unit)`` formats one such line. ``FileProgress`` watches how far this
process has read into the given files (the read offset of each open file, from /proc/self/fdinfo, so
the reader itself needs no hook) and reports it on stderr every ``interval`` seconds: a Rich status
line on a terminal, a plain line otherwise. It stays silent for inputs below ``min_bytes`` (small files
finish before progress helps) and where /proc is not available.

Failure contract: progress never fails the work it watches: any error reading /proc stops the reports.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from warden.printer import plain_stderr

MB = 1_000_000


def horizon(done: float, total: float, elapsed: float, unit: str = "MB", scale: float = MB) -> str:
    """``"12.0/40.0 MB (30%), 8.1 MB/s, ~3 s left"`` (rate and time left once something is done)."""
    pct = 100.0 * done / total if total else 100.0
    line = f"{done / scale:,.1f}/{total / scale:,.1f} {unit} ({pct:.0f}%)"
    if done > 0 and elapsed > 0:
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else 0.0
        line += f", {rate / scale:,.1f} {unit}/s, ~{left:,.0f} s left"
    return line


class FileProgress:
    """Report how far the current process has read into ``paths`` (see the module docstring)."""

    def __init__(self, paths: Iterable[Path], label: str, *, min_bytes: int = 20 * MB, interval: float = 1.0) -> None:
        self.paths = {str(Path(p).resolve()) for p in paths if Path(p).is_file()}
        self.total = sum(os.path.getsize(p) for p in self.paths)
        self.label = label
        self.interval = interval
        self.enabled = self.total >= min_bytes and Path("/proc/self/fdinfo").is_dir()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._best: dict[str, int] = {}
        self.t0 = time.monotonic()

    def _positions(self) -> int:
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target not in self.paths:
                    continue
                with open(f"/proc/self/fdinfo/{fd}") as fh:
                    pos = int(fh.readline().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            self._best[target] = max(self._best.get(target, 0), min(pos, os.path.getsize(target)))
        return sum(self._best.values())

    def _loop(self) -> None:
        tty = sys.stderr.isatty()
        while not self._stop.wait(self.interval):
            try:
                line = f"{self.label}: read {horizon(self._positions(), self.total, time.monotonic() - self.t0)}"
            except OSError:
                return
            if tty:
                sys.stderr.write("\r\x1b[2K" + line)
                sys.stderr.flush()
            else:
                plain_stderr(line)
        if tty:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()

    def __enter__(self) -> FileProgress:
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, name="warden-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
