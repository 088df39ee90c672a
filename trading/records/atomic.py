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
def atomic_writer(path: Path, mode: str = "wb", fsync: bool = True, **open_kw: Any) -> Iterator[IO[Any]]:
    """Stream into a temp file beside ``path``; on success fsync and rename it into place, on any
    error remove it. Readers see the old file or the whole new one, never a partial one.
    ``fsync=False`` keeps the rename's atomicity against a killed process but not against power loss."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if not fsync:
        return
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
    """Append one line with a single O_APPEND write, so concurrent writers never interleave a line.

    All or nothing: a write that stops part-way (a full disk, a file-size limit) is cut back to where
    the line began and the OSError raised, so the file never ends in a half-written line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        done = 0
        try:
            while done < len(data):
                n = os.write(fd, data[done:])
                if n <= 0:
                    raise OSError(28, "No space left on device (short write)", str(path))
                done += n
        except OSError:
            if done:
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass          # cut back on the next open (repair_jsonl_tail)
            raise
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def repair_jsonl_tail(path: Path) -> int:
    """Cut a torn last line (no trailing newline: a writer died mid-line) back to the last full line.
    Returns the number of bytes removed (0 when the file is whole or absent). Raises OSError when the
    file cannot be truncated."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        pos, keep = size, 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = pos + i + 1
                break
        fh.truncate(keep)
    return size - keep
