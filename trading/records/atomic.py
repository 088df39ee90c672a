"""Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder.

A crash mid-write leaves either the old file or the new one, never a partial file.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_writer(path: Path, mode: str = "wb", **open_kw: Any) -> Iterator[IO[Any]]:
    """Stream into a temp file beside ``path``; on success fsync and rename it into place, on any
    error remove it. Readers see the old file or the whole new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_writer(path) as fh:
        fh.write(data)


def canonical_json(obj: Any) -> bytes:
    """Stable bytes for the same content: sorted keys, fixed separators, trailing newline."""
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def atomic_write_json(path: Path, obj: Any) -> bool:
    """Write ``obj`` as canonical JSON; return False (and write nothing) if identical content exists."""
    data = canonical_json(obj)
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def append_line(path: Path, line: str, fsync: bool = False) -> None:
    """Append one line with a single write (O_APPEND), so concurrent writers never interleave a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
