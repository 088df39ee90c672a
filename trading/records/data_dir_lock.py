"""One writer per data dir: an exclusive ``fcntl.flock`` on ``<data_dir>/.warden.lock``.

Every command that writes the journal, the event log or a risk ledger holds the lock for its whole
run (``data_dir_lock(data_dir, "warden run")``). The lock file also records who holds it (PID, command,
start time) so a second writer can name the holder. The kernel releases a flock when its process dies,
so a lock left by a killed run (kill -9, power loss) is stale by construction: the next writer gets the
lock, sees the dead holder's metadata, logs the takeover and rewrites the metadata.

Failure contract: ``acquire`` raises ``DataDirBusy`` at once (never waits) when a live process holds the
lock, with its PID and command in the message; ``DataDirLockError`` when the lock file cannot be
created (read-only or full disk). ``release`` raises nothing.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
LOCK_NAME = ".warden.lock"


class DataDirLockError(RuntimeError):
    """The lock file cannot be created or written."""


class DataDirBusy(DataDirLockError):
    """Another live process writes this data dir."""

    def __init__(self, data_dir: Path, holder: dict[str, Any]) -> None:
        self.holder = holder
        pid = holder.get("pid", "?")
        cmd = holder.get("command") or "unknown command"
        since = holder.get("started", "")
        super().__init__(f"data dir {data_dir} is in use by PID {pid} ({cmd}{', since ' + since if since else ''}); "
                         "wait for it to finish or stop it, or use another --data-dir")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096).decode("utf-8", errors="replace")
        doc = json.loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


class DataDirLock:
    """The exclusive writer lock of one data dir."""

    def __init__(self, data_dir: str | Path, command: str) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self.command = command
        self.took_over: dict[str, Any] | None = None    # metadata of a dead holder whose lock was taken over
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DataDirLockError(f"cannot create the lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirBusy(self.data_dir, holder) from None
        except OSError as exc:
            os.close(fd)
            raise DataDirLockError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        prev = _read_holder(fd)
        if prev.get("pid") and prev.get("pid") != os.getpid():
            alive = isinstance(prev["pid"], int) and _pid_alive(prev["pid"])
            self.took_over = prev
            log.warning("data dir %s: took over the stale lock of PID %s (%s, %s); its flock was released",
                        self.data_dir, prev.get("pid"), prev.get("command", "?"),
                        "process gone" if not alive else "process alive but not holding the lock")
        meta = {"pid": os.getpid(), "command": self.command,
                "started": datetime.now(UTC).replace(microsecond=0).isoformat()}
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(meta) + "\n").encode())
        except OSError as exc:      # a full disk: the flock itself still holds, only the name is missing
            log.warning("data dir %s: lock held, but its holder metadata could not be written: %s",
                        self.data_dir, exc)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)      # no holder: a later reader sees an empty (free) lock
        except OSError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def data_dir_lock(data_dir: str | Path, command: str) -> Iterator[DataDirLock]:
    """Hold the data dir's writer lock for the block (see ``DataDirLock``)."""
    lock = DataDirLock(data_dir, command)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
