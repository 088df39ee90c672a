"""The log reader's byte work outside its scan: whole-line chunks of a file, and noise lines split by rule.

``line_chunks`` reads a file in chunks cut at line ends, straight into one reused bytearray (memory
stays about two chunks plus the longest line). ``split_noise`` tells how many of a chunk's skipped
noise lines belong to each noise rule. Used by tools/logs/reader.py.

Failure contract: ``line_chunks`` raises OSError when the file cannot be opened or read; ``split_noise``
is pure and never raises.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from tools.logs.records import ReadStats


def line_chunks(path: Path, size: int, stats: ReadStats) -> Iterator[tuple[bytearray, int]]:
    """Yield (buf, end): buf[:end] is b"\\n" + whole lines (no final newline). One bytearray is refilled
    in place (read straight into it, no copies); a buffer is only valid until the next one is requested.
    ``stats.bytes_read`` grows by the bytes read."""
    buf = bytearray(size + 1)
    carry = 0                            # bytes of an unfinished line kept at buf[1:1+carry]
    with open(path, "rb") as fh:
        buf[0] = 10
        while True:
            if len(buf) < 1 + carry + size:          # a line longer than a chunk: grow
                buf.extend(bytes(1 + carry + size - len(buf)))
            n = fh.readinto(memoryview(buf)[1 + carry:1 + carry + size])
            if not n:
                break
            stats.bytes_read += n
            end = 1 + carry + n
            cut = buf.rfind(b"\n", 1 + carry, end)
            if cut < 0:                              # no line ends in this read: keep reading
                carry += n
                continue
            yield buf, cut
            tail = bytes(buf[cut + 1:end])
            buf[1:1 + len(tail)] = tail
            carry = len(tail)
    if carry:
        yield buf, 1 + carry                         # last line without a newline


def split_noise(buf: bytearray, end: int, n: int, visited: Sequence[bytes | bytearray], anchors: Sequence[bytes],
                exact: re.Pattern[bytes]) -> list[int]:
    """How many of the ``n`` noise lines in buf[:end] belong to each noise rule (in rule order).

    ``visited``: the lines the scan returned (they may hold anchors too); ``exact``: a regex whose
    group i matches at the start of a noise line of rule i (the per-line fallback).
    """
    # Every noise line holds its rule's anchor. If the anchors' occurrences outside the visited
    # lines add up to exactly n, each noise line holds exactly one anchor: the split is exact.
    seen = b"\n".join(visited)    # anchors hold no newline: joining adds no occurrence
    occ = [buf.count(a, 0, end) - seen.count(a) for a in anchors]
    if sum(occ) == n:
        return occ
    per = Counter(m.lastindex for m in exact.finditer(buf, 0, end) if m.lastindex is not None)
    return [per.get(i + 1, 0) for i in range(len(anchors))]
