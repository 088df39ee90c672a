"""One streaming pass over one bot log: the loop that turns its records into the ``Forensics`` digests.

Review-specific (it fills the review's result model), so it lives here rather than under tools/logs/,
which only parses lines into ``LogRecord``s. Per-event handlers live in ``momentum_log`` (Polymarket
bot) and ``mytrader_log`` (ES bot). Nothing is dropped silently: records are counted per minute and
level, gaps over ``GAP_MIN_S`` are listed, unmatched ERROR lines become error signatures. Raises
OSError if the log cannot be read; a log over ``FULL_PARSE_MAX_BYTES`` / ``UNKNOWN_PARSE_MAX_BYTES``
has its noise / unmatched lines counted by the reader instead of parsed (the caller reports that).
"""
from __future__ import annotations

from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from tools.logs.reader import read_log
from tools.logs.records import LogRecord
from tools.review.forensics.models import Forensics, LogDigest
from tools.review.forensics.momentum_log import MOMENTUM_HANDLERS, MOMENTUM_HOT_HANDLERS
from tools.review.forensics.mytrader_log import MYTRADER_HANDLERS, MYTRADER_HOT_HANDLERS

# Above these sizes a log's noise lines (heartbeats, quotes) / its lines matching no rule are counted by
# the reader, not turned into records (each record costs a timestamp parse in Python).
FULL_PARSE_MAX_BYTES = 32 << 20
UNKNOWN_PARSE_MAX_BYTES = 8 << 20
GAP_MIN_S = 120.0

_EPOCH = datetime(1970, 1, 1)


class LogPass:
    """State of one streaming pass over one log."""

    def __init__(self, fx: Forensics, path: Path, fmt: str) -> None:
        self.fx = fx
        self.path = path
        self.name = path.name
        self.fmt = fmt
        self.size = path.stat().st_size
        self.full = self.size <= FULL_PARSE_MAX_BYTES
        self.unknown = self.size <= UNKNOWN_PARSE_MAX_BYTES
        self.digest = LogDigest(source=self.name, fmt=fmt, stats={}, full_parse=self.full)
        self.prev_epoch: float | None = None
        self.last_market: str | None = None       # resolver: the market being resolved
        self.believed: int | None = None          # mytrader: the position the bot believes it holds
        self.last_signal: dict[str, tuple[float | None, float | None, float, str, str | None]] = {}  # prob, conf, ep, ref, dir
        self.intents: dict[str, dict[str, Any]] = {}
        self.sig_ts = array("d")
        self.sig_prob = array("d")
        self.sig_conf = array("d")
        self.chk_ts = array("d")
        self.chk_halt = array("b")
        self.bal_ts = array("d")
        self.bal_val = array("d")
        self.bal_line = array("q")
        self.last_balance: tuple[float | None, float | None] | None = None
        self.last_check: tuple[float | None, str] | None = None
        self.pending_link: tuple[float, str] | None = None   # (epoch, trade_id) of the last order

    def run(self) -> None:
        reader = read_log(self.path, self.fmt, include_unknown=self.unknown, include_noise=self.full)
        zone = ZoneInfo(reader.tz)
        offsets: dict[datetime, float] = {}        # naive hour -> UTC offset seconds (DST-aware, cached)
        handlers = MOMENTUM_HANDLERS if self.fmt == "momentum" else MYTRADER_HANDLERS
        hot = MOMENTUM_HOT_HANDLERS if self.fmt == "momentum" else MYTRADER_HOT_HANDLERS
        d = self.digest
        per_minute = d.per_minute
        gap_min = GAP_MIN_S
        first_ep = last_ep = None
        n = 0
        for rec in reader:
            # the epoch straight from the naive time: no aware datetime for the bulk of the records
            naive = rec.ts
            hour = naive.replace(minute=0, second=0, microsecond=0)
            off = offsets.get(hour)
            if off is None:
                uo = naive.replace(tzinfo=zone).utcoffset()
                off = offsets[hour] = uo.total_seconds() if uo else 0.0
            ep = (naive - _EPOCH).total_seconds() - off
            n += 1
            if first_ep is None:
                first_ep = ep
            last_ep = ep
            per_minute[(int(ep // 60), rec.level)] += 1
            pe = self.prev_epoch
            if pe is not None and ep - pe > gap_min:
                d.gaps.append((datetime.fromtimestamp(pe, UTC), datetime.fromtimestamp(ep, UTC), ep - pe))
            self.prev_epoch = ep
            ev = rec.event
            hh = hot.get(ev)
            h = handlers.get(ev) if hh is None else None
            if hh is not None:
                hh(self, rec, ep)
            elif h is not None:
                h(self, rec, datetime.fromtimestamp(ep, UTC), ep)
            elif ev == "unknown" and rec.level in ("ERROR", "CRITICAL"):
                unknown_error(self, rec, datetime.fromtimestamp(ep, UTC), ep)
        d.first = datetime.fromtimestamp(first_ep, UTC) if first_ep is not None else None
        d.last = datetime.fromtimestamp(last_ep, UTC) if last_ep is not None else None
        d.records = n
        d.stats = reader.stats.as_dict()
        fx = self.fx
        if len(self.sig_ts):
            fx.sig_ts = np.concatenate([fx.sig_ts, np.frombuffer(self.sig_ts, dtype=float)])
            fx.sig_prob = np.concatenate([fx.sig_prob, np.frombuffer(self.sig_prob, dtype=float)])
            fx.sig_conf = np.concatenate([fx.sig_conf, np.frombuffer(self.sig_conf, dtype=float)])
        if len(self.bal_ts):
            fx.bal_src.append((len(fx.bal_ts), self.name))
            fx.bal_ts = np.concatenate([fx.bal_ts, np.frombuffer(self.bal_ts, dtype=float)])
            fx.bal_val = np.concatenate([fx.bal_val, np.frombuffer(self.bal_val, dtype=float)])
            fx.bal_line = np.concatenate([fx.bal_line, np.frombuffer(self.bal_line, dtype=np.int64)])
        if len(self.chk_ts):
            fx.dd_check_ts = np.concatenate([fx.dd_check_ts, np.frombuffer(self.chk_ts, dtype=float)])
            fx.dd_check_halt = np.concatenate([fx.dd_check_halt, np.frombuffer(self.chk_halt, dtype=np.int8) > 0])
        fx.logs[self.name] = d

    def r(self, rec: LogRecord) -> str:
        return f"{self.name}:L{rec.line_no}"


def unknown_error(p: LogPass, rec: LogRecord, ts: datetime, ep: float) -> None:
    text = rec.extra[-1].strip() if rec.extra else rec.message
    p.fx.error(p.name, text).add(ts, rec.level, p.r(rec), False, bool(rec.extra))
    p.fx.add_timeline(ts, p.name, "error", None, rec.message[:200])


