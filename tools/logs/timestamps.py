"""A log's timestamp text read exactly as ``datetime.strptime`` would, but fast for the common formats.

``timestamp_parser(fmt)`` returns a function from the timestamp text to a naive ``datetime``, or None
where strptime would refuse the text (it never raises on bad text). The three common formats are read
without strptime (~10 us a call); any other format goes through strptime itself.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

# strptime formats read without strptime (~10 us a call): the exact shape with the field ranges
# strptime + datetime allow; what the shape lets through, fromisoformat (3.11+: "," and 1-6 digit
# fractions) reads the same way and rejects the same days (Feb 30, year 0). Hour 24, which newer
# fromisoformat may accept, never gets past the shape. tests/test_log_reader.py checks against strptime.
_DATE_TIME = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]) (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
_FAST_TS: dict[str, re.Pattern[str]] = {
    "%Y-%m-%d %H:%M:%S,%f": re.compile(_DATE_TIME + r",\d{1,6}", re.ASCII),
    "%Y-%m-%d %H:%M:%S.%f": re.compile(_DATE_TIME + r"\.\d{1,6}", re.ASCII),
    "%Y-%m-%d %H:%M:%S": re.compile(_DATE_TIME, re.ASCII),
}


def timestamp_parser(fmt: str) -> Callable[[str], datetime | None]:
    """The parser for ``fmt``: the fast shape check + fromisoformat where one exists, else strptime."""
    shape = _FAST_TS.get(fmt)

    def parse(text: str) -> datetime | None:
        try:
            if shape is None:
                return datetime.strptime(text, fmt)
            return None if shape.fullmatch(text) is None else datetime.fromisoformat(text)
        except ValueError:
            return None

    return parse
