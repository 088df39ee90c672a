"""Streaming, rule-driven log readers: one TOML rule file per format (tools/logs/rules/*.toml).

Speed comes from doing the per-line work in C. Each chunk (a few MB cut at a line end) is scanned
by ONE compiled bytes regex that steps from newline to newline and, in a negative lookahead,
recognises noise lines (heartbeats, quotes: most of a real log) by the header plus the noise
anchor at the start of the message. Only the other lines come back to Python, with ts, logger and
level already split off. Noise lines are counted from the newline gaps between visited lines and
never become Python objects; with several noise rules, one count per rule over the bytes splits
them by rule (``noise_by_rule=False`` skips that pass: one total in ``stats.noise_unsplit``). The
scan's regexes are the rule file's, rewritten exactly for speed (``ascii_fast``). For a plain line
(ASCII, not ending in "\\r": the bytes split is then exactly the str header's), the first bytes of
the message pick the only rules whose regex's literal prefix can start it: none means an unknown
line, counted by (logger, level) without decoding; otherwise those rules are tried in file order on
the decoded message. Anything unusual (a cast error, a bad timestamp, no match, a line that is not
plain) goes the general per-line way, which decides exactly as a per-line reader would.

Semantics (the per-line contract, see tools/logs/rules/mytrader.toml):
- a line matching ``record_start`` starts a record; any other line continues the record above it;
- a record line is split by ``header``; a noise rule matches when the message starts with its
  anchor (its regex then only extracts fields, when noise is yielded); the other rules follow in
  file order: the first whose anchor, logger, levels, ``fullmatch`` and casts all pass wins;
- a record line matching no rule is counted in ``stats.unknown[(logger, level)]`` (``("?", "?")``
  when even the header does not match) and skipped, never fatal;
- lines keep their content without the line ending (``\\n`` and one ``\\r``); bytes that are not
  UTF-8 are replaced, never fatal.

Failure contract: ``read_log`` raises FileNotFoundError for a missing file, ``LogFormatError`` for an
unknown, ambiguous or invalid format (see tools/logs/log_rules.py) and ValueError for an unknown time
zone; once streaming, bad lines are counted in ``stats``, never raised.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tools.logs.chunks import line_chunks, split_noise
from tools.logs.formats import detect_format, pick_format, resolve
from tools.logs.log_rules import EventRule, LogFormatError, LogRules, load_rules
from tools.logs.records import LogRecord, ReadStats
from tools.logs.regex_source import ascii_fast, literal_prefix, single_way, top_level_alternation, uncaptured
from tools.logs.timestamps import timestamp_parser

__all__ = ["DEFAULT_CHUNK", "LogFormatError", "LogReader", "LogRules", "detect_format", "load_rules", "read_log"]

DEFAULT_CHUNK = 8 << 20          # bytes per read; memory stays ~2 chunks + the longest line
MAX_EXTRA_LINES = 200            # continuation lines kept per record (a traceback); the rest are counted
MAX_EXTRA_CHARS = 4000           # characters kept per continuation line
_SKIP = object()   # pending marker: the record above exists but is not yielded (unknown or noise)


class LogReader:
    """Iterable of LogRecord; ``stats`` fills as it streams (reset on each iteration)."""

    def __init__(self, path: str | Path, rules: LogRules, tz: str | None = None,
                 include_unknown: bool = False, include_noise: bool = False,
                 chunk_size: int = DEFAULT_CHUNK, noise_by_rule: bool = True) -> None:
        self.path = Path(path)
        self.rules = rules
        self.tz = tz or rules.zone
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.tz!r}") from None
        self.include_unknown = include_unknown
        self.include_noise = include_noise
        self.chunk_size = max(int(chunk_size), 1)
        self.noise_by_rule = noise_by_rule       # False: skipped noise as one total (see module doc)
        self.stats = ReadStats(format=rules.name)
        # the line's naive timestamp, or None where strptime would refuse it
        self._parse_ts = timestamp_parser(rules.timestamp_format)
        noise = rules.noise_events
        self._skip_noise = bool(noise) and not include_noise
        self._noise_split: re.Pattern[bytes] | None = None
        # A record line comes back with its ts, logger and level already split off (groups "ts",
        # "logger", "level", then the message as group "rest"); any other line comes back whole in "rest".
        # ascii_fast: the same regexes, written so that Python's engine runs them faster (on bytes).
        head = ascii_fast(uncaptured(rules.header_source, frozenset({"ts", "logger", "level"})))
        prefix = ascii_fast(rules.header_prefix)
        if self._skip_noise:
            # atomic prefix: the same header split the str regex picks, never re-split to force a match
            alts = "|".join(re.escape(r.anchor or "") for r in noise)
            atomic = prefix if single_way(prefix) else f"(?>{prefix})"      # (?>..) costs a little
            scan = f"\\n(?!{atomic}(?:{alts}))(?>{head})?(?P<rest>[^\\n]*)"
            if len(noise) > 1:
                groups = "|".join(f"({re.escape(r.anchor or '')})" for r in noise)
                self._noise_split = re.compile(f"\\n(?>{prefix})(?:{groups})".encode(), re.ASCII)
        else:
            scan = f"\\n(?>{head})?(?P<rest>[^\\n]*)"
        self._scan = re.compile(scan.encode(), re.ASCII)
        self._noise_anchors = [(r.anchor or "").encode() for r in noise]
        self._record_start_b = re.compile(ascii_fast(rules.record_start.pattern).encode(), re.ASCII)
        self._source = str(self.path)
        self._noise_rules = noise
        others = [r for r in rules.events if not r.noise]
        self._order = {id(r): i for i, r in enumerate(others)}
        by_anchor: dict[str, list[EventRule]] = {}
        for r in others:
            if r.anchor is not None:
                by_anchor.setdefault(r.anchor, []).append(r)
        self._by_anchor = list(by_anchor.items())
        self._unanchored = [r for r in others if r.anchor is None]
        # Cheap exact pre-test: a message holding none of the anchors can only be an unknown line.
        # Only valid when every rule has an anchor (an anchor is a literal its matches contain).
        anchors = [r.anchor for r in rules.events if r.anchor]
        self._any_anchor = (re.compile("|".join(re.escape(a) for a in anchors).encode())
                            if anchors and len(anchors) == len(rules.events) else None)
        # Dispatch by literal prefix. A rule can only match a message that starts with its regex's
        # literal prefix, so the first K bytes of a message (K: the shortest prefix) name the only
        # rules, in file order, that could match it. This replaces the anchor search and the
        # candidate list for lines that are plain ASCII without "\r" (see __iter__); a message
        # whose first K bytes name no rule is an unknown line. Off when a rule has no prefix.
        prefixes = [literal_prefix(r.source) for r in others]
        self._k = min((len(x) for x in prefixes), default=0)
        self._dispatch: dict[bytes, tuple[tuple[Any, ...], ...]] = {}
        if others and self._k:
            table: dict[bytes, list[tuple[Any, ...]]] = {}
            for r, pre in zip(others, prefixes):
                # an anchor inside the prefix is implied by it; otherwise it is checked
                anchor = None if r.anchor is None or r.anchor in pre else r.anchor
                table.setdefault(pre[:self._k].encode(), []).append((
                    r.name, anchor, r.levels or None, None if r.logger is None else r.logger.fullmatch,
                    r.regex.fullmatch, r.cast))
            self._dispatch = {key: tuple(v) for key, v in table.items()}
        self._noise_starts = tuple((r.anchor or "").encode() for r in noise)
        # the scan's head equals the str header's only if no "|" splits the header as a whole
        self._plain_ok = not top_level_alternation(rules.header_source)

    # -- one record line -------------------------------------------------------------------------
    def _candidates(self, msg: str) -> list[EventRule]:
        """Non-noise rules whose anchor is in the message (or that have none), in file order."""
        hits = [idxs for anchor, idxs in self._by_anchor if anchor in msg]
        if not self._unanchored and len(hits) == 1:
            return hits[0]
        seen = {id(r): r for idxs in hits for r in idxs}
        seen.update((id(r), r) for r in self._unanchored)
        return sorted(seen.values(), key=lambda r: self._order[id(r)])

    def _record(self, text: str, line_no: int) -> LogRecord | None:
        """Classify one record line (without its line ending) exactly as the rule file says."""
        h = self.rules.header.fullmatch(text)
        if h is None:
            self.stats.unknown[("?", "?")] += 1
            return None
        logger, level, msg, ts = h.group("logger", "level", "message", "ts")
        return self._classify(logger, level, msg, ts, line_no)

    def _classify(self, logger: str, level: str, msg: str, ts_text: str, line_no: int) -> LogRecord | None:
        """Classify a record line split by the header (the general path)."""
        st = self.stats
        for rule in self._noise_rules:
            # noise is recognised by its anchor at the start of the message (see module doc)
            if not msg.startswith(rule.anchor):  # type: ignore[arg-type]
                continue
            st.matched[rule.name] += 1
            if not self.include_noise:
                return None
            m = rule.regex.fullmatch(msg)
            fields: dict[str, Any] = {}
            if m is not None:
                try:
                    fields = rule.cast(m)
                except ValueError:
                    m = None
            if m is None:
                st.field_errors[rule.name] += 1
            ts = self._parse_ts(ts_text)
            if ts is None:
                st.bad_timestamps += 1
                return None
            return LogRecord(ts, self.tz, logger, level, rule.name, fields, msg, line_no, self._source)
        for rule in self._candidates(msg):
            if rule.levels and level not in rule.levels:
                continue
            if rule.logger is not None and not rule.logger.fullmatch(logger):
                continue
            m = rule.regex.fullmatch(msg)
            if m is None:
                continue
            try:
                fields = rule.cast(m)
            except ValueError:
                st.field_errors[rule.name] += 1
                continue
            ts = self._parse_ts(ts_text)
            if ts is None:
                st.bad_timestamps += 1
                break
            st.matched[rule.name] += 1
            return LogRecord(ts, self.tz, logger, level, rule.name, fields, msg, line_no, self._source)
        st.unknown[(logger, level)] += 1
        if self.include_unknown:
            ts = self._parse_ts(ts_text)
            if ts is not None:
                return LogRecord(ts, self.tz, logger, level, "unknown", {}, msg, line_no, self._source)
        return None

    # -- noise accounting ------------------------------------------------------------------------
    def _count_noise(self, buf: bytearray, end: int, n: int, visited: list[bytes | bytearray]) -> None:
        rules, matched = self._noise_rules, self.stats.matched
        if n <= 0:
            return
        if len(rules) == 1:
            matched[rules[0].name] += n
        elif not self.noise_by_rule:
            self.stats.noise_unsplit += n
        else:
            assert self._noise_split is not None
            for rule, k in zip(rules, split_noise(buf, end, n, visited, self._noise_anchors, self._noise_split)):
                if k:
                    matched[rule.name] += k

    # -- the stream ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[LogRecord]:
        st = self.stats = ReadStats(format=self.rules.name)
        is_start = self._record_start_b.match
        any_anchor = None if self.include_unknown else self._any_anchor
        record, classify, parse_ts = self._record, self._classify, self._parse_ts
        skip_noise = self._skip_noise
        keep = skip_noise and len(self.rules.noise_events) > 1 and self.noise_by_rule
        include_unknown, k, plain_ok, scan = self.include_unknown, self._k, self._plain_ok, self._scan
        dispatch = self._dispatch.get if self._dispatch else None
        noise_check = () if skip_noise else self._noise_starts   # skipped noise never gets here
        matched, tz, source = st.matched, self.tz, self._source
        g_ts, g_logger, g_level, g_rest = (scan.groupindex[x] for x in ("ts", "logger", "level", "rest"))
        pending: Any = None          # None: no record yet; _SKIP; or a LogRecord awaiting its extras
        base, sparse = 0, False      # lines before the current buffer; few of its lines visited?
        for buf, end in line_chunks(self.path, self.chunk_size, st):
            # "Plain" lines (ASCII, not ending in "\r") are split by the bytes scan exactly where the str
            # header splits them (same regex, one byte per character, atomic head): they reuse that split
            # and the prefix dispatch. Any other line goes the general per-line way (_record). One
            # isascii per chunk, unless few lines are visited: then one per visited line is cheaper.
            plain_chunk = plain_ok and not sparse and buf.isascii()   # (past end too: conservative)
            prev_end = 0             # where the last visited line ended (the next line's newline)
            cpos, counted = 0, 0     # newlines counted so far: lazily, up to the records we build
            visited = 0
            kept: list[bytes | bytearray] = []   # visited lines that may hold a noise anchor (to split noise rules)
            unknown_keys: list[tuple[bytes, bytes]] = []
            for m in scan.finditer(buf, 0, end):
                s, e = m.span()
                if s != prev_end:                   # noise lines above: they end any pending record
                    if pending is not None and pending is not _SKIP:
                        yield pending
                    pending = _SKIP
                prev_end = e
                visited += 1
                logger, level, rest = m.group(g_logger, g_level, g_rest)
                hits: tuple[tuple[Any, ...], ...] = ()
                if logger is None:
                    plain = False
                    if keep:
                        kept.append(rest)
                    if not is_start(rest):
                        if pending is None:
                            st.orphan_continuation_lines += 1
                            continue
                        st.continuation_lines += 1
                        if pending is _SKIP:
                            st.skipped_continuation_lines += 1
                        elif len(pending.extra) < MAX_EXTRA_LINES:
                            text = rest[:MAX_EXTRA_CHARS].decode("utf-8", "replace")
                            pending.extra.append(text.removesuffix("\r"))
                        else:                       # memory stays bounded: a record keeps its first lines
                            st.dropped_continuation_lines += 1
                        continue
                else:
                    plain = ((plain_chunk or (plain_ok and buf[s + 1:e].isascii()))
                             and not rest.endswith(b"\r"))      # (rest ends where the line ends)
                    if plain and noise_check and rest.startswith(noise_check):
                        pass                                # noise, yielded: _classify below
                    elif plain and dispatch is not None:
                        found = dispatch(rest[:k])
                        if found is not None:
                            hits = found
                        elif not include_unknown:
                            # no rule's prefix starts the message: unknown; count it, never decode it
                            if pending is not None and pending is not _SKIP:
                                yield pending
                            pending = _SKIP
                            unknown_keys.append((logger, level))
                            if keep:
                                kept.append(buf[s + 1:e])
                            continue
                    elif any_anchor is not None and any_anchor.search(buf, s + 1, e) is None:
                        # no anchor anywhere on the line: no rule can match; count it, never decode it
                        if pending is not None and pending is not _SKIP:
                            yield pending
                        pending = _SKIP
                        unknown_keys.append((logger, level))
                        continue
                    if keep:
                        kept.append(buf[s + 1:e])
                if pending is not None and pending is not _SKIP:
                    yield pending
                if skip_noise:
                    counted += buf.count(b"\n", cpos, s + 1)
                    cpos = s + 1
                    line_no = base + counted
                else:                               # no line is skipped: the scan visits them all
                    line_no = base + visited
                ts_b = m.group(g_ts)
                if not plain or ts_b is None:
                    text = buf[s + 1:e].decode("utf-8", "replace")
                    rec = record(text.removesuffix("\r"), line_no)
                    pending = _SKIP if rec is None else rec
                    continue
                lg, lv, msg, ts_text = logger.decode(), level.decode(), rest.decode(), ts_b.decode()
                rec = None
                # the rules this message's prefix allows, in file order: the first that passes wins;
                # a cast error, a bad timestamp or no match leave it to _classify (nothing counted yet)
                for name, anchor, levels, logger_ok, fullmatch, cast in hits:
                    if ((anchor is not None and anchor not in msg) or (levels is not None and lv not in levels)
                            or (logger_ok is not None and logger_ok(lg) is None)):
                        continue
                    fm = fullmatch(msg)
                    if fm is None:
                        continue
                    try:
                        fields = cast(fm)
                    except ValueError:
                        break
                    ts = parse_ts(ts_text)
                    if ts is not None:
                        matched[name] += 1
                        rec = LogRecord(ts, tz, lg, lv, name, fields, msg, line_no, source)
                    break
                if rec is None:
                    rec = classify(lg, lv, msg, ts_text, line_no)
                pending = _SKIP if rec is None else rec
            if prev_end != end:                     # noise lines after the last visited one
                if pending is not None and pending is not _SKIP:
                    yield pending
                pending = _SKIP
            n_lines = counted + buf.count(b"\n", cpos, end)   # every newline counted exactly once
            st.lines += n_lines
            base += n_lines
            sparse = visited * 16 < n_lines
            if skip_noise:
                self._count_noise(buf, end, n_lines - visited, kept)
            for key, n in Counter(unknown_keys).items():
                st.unknown[(key[0].decode("utf-8", "replace"), key[1].decode("utf-8", "replace"))] += n
        if pending is not None and pending is not _SKIP:
            yield pending


def read_log(path: str | Path, fmt: str | Path | LogRules = "auto", tz: str | None = None,
             include_unknown: bool = False, include_noise: bool = False,
             chunk_size: int = DEFAULT_CHUNK, noise_by_rule: bool = True) -> LogReader:
    """Open a log for streaming. ``fmt``: "auto", a bundled format name, a rule-file path or LogRules.
    ``noise_by_rule=False``: skipped noise lines are counted as one total (cheaper; see LogReader)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"log file {p} does not exist or is not a file")
    if isinstance(fmt, LogRules):
        rules = fmt
    elif str(fmt) == "auto":
        rules = pick_format(p)
    else:
        rules = resolve(fmt)
    return LogReader(p, rules, tz=tz, include_unknown=include_unknown, include_noise=include_noise,
                     chunk_size=chunk_size, noise_by_rule=noise_by_rule)
