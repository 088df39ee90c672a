"""Streaming, rule-driven log readers: one TOML rule file per format (tools/logs/rules/*.toml).

Speed comes from doing the per-line work in C. Each chunk (a few MB cut at a line end) is scanned
by ONE compiled bytes regex that steps from newline to newline and, in a negative lookahead,
recognises noise lines (heartbeats, quotes: most of a real log) by the header plus the noise
anchor at the start of the message. Only the other lines come back to Python, with ts, logger and
level already split off. Noise lines are counted from the newline gaps between visited lines and
never become Python objects. For a plain line (ASCII, no "\\r": the bytes split is then exactly the
str header's), the first bytes of the message pick the only rules whose regex's literal prefix can
start it: none means an unknown line, counted by (logger, level) without decoding; otherwise those
rules are tried in file order on the decoded message. Anything unusual (a cast error, a bad
timestamp, no match, a line that is not plain) goes the general per-line way, which decides
exactly as a per-line reader would.

Semantics (the per-line contract, see tools/logs/rules/mytrader.toml):
- a line matching ``record_start`` starts a record; any other line continues the record above it;
- a record line is split by ``header``; a noise rule matches when the message starts with its
  anchor (its regex then only extracts fields, when noise is yielded); the other rules follow in
  file order: the first whose anchor, logger, levels, ``fullmatch`` and casts all pass wins;
- a record line matching no rule is counted in ``stats.unknown[(logger, level)]`` (``("?", "?")``
  when even the header does not match) and skipped, never fatal;
- lines keep their content without the line ending (``\\n`` and one ``\\r``); bytes that are not
  UTF-8 are replaced, never fatal.
"""
from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tools.logs.records import LogRecord, ReadStats

RULES_DIR = Path(__file__).with_name("rules")
DEFAULT_CHUNK = 8 << 20          # bytes per read; memory stays ~2 chunks + the longest line
_DETECT_BYTES = 64 << 10
_DETECT_LINES = 200
_TYPES = ("int", "float", "str", "bool", "json")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>")
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


class LogFormatError(ValueError):
    """The log's format is unknown, or a rule file is invalid."""


def _to_bool(s: str) -> bool:
    low = s.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise ValueError(f"not a bool: {s!r}")


_CASTS: dict[str, Callable[[str], Any]] = {
    "int": int, "float": float, "str": str, "bool": _to_bool, "json": json.loads}


def _strip_anchors(src: str) -> str:
    """Rule regexes match the whole message; a leading ^ / trailing $ is redundant, drop it."""
    if src.startswith("^"):
        src = src[1:]
    if src.endswith("$") and not src.endswith("\\$"):
        src = src[:-1]
    return src


def _uncaptured(src: str, keep: frozenset[str] = frozenset()) -> str:
    """The same regex with named groups (but ``keep``) made non-capturing, so it can be combined."""
    return _NAMED_GROUP.sub(lambda m: m.group(0) if m.group(1) in keep else "(?:", src)


def _top_level_alternation(src: str) -> bool:
    """Does ``src`` hold a ``|`` outside any group (``a|b`` splits the whole regex in two)?"""
    depth, i, n = 0, 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":                                 # skip a class; a ']' first in it is literal
            j = i + 1
            j += src[j:j + 1] == "^"
            j += src[j:j + 1] == "]"
            while j < n and src[j] != "]":
                j += 2 if src[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return True
        i += 1
    return False


def _literal_prefix(src: str) -> str:
    """Literal text every full match of ``src`` starts with; conservative (may be shorter, or "")."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "\\":
            nxt = src[i + 1:i + 2]
            if not nxt or nxt.isalnum() or nxt == "_":   # \d \w \b \1 \x41 ...: not a plain literal
                break
            lit, step = nxt, 2
        elif c in ".^$*+?{}[]()|#" or c.isspace() and c != " ":
            break
        else:
            lit, step = c, 1
        if src[i + step:i + step + 1] in ("*", "+", "?", "{"):   # quantified: optional or repeated
            break
        out.append(lit)
        i += step
    return "".join(out) if out and not _top_level_alternation(src) else ""


@dataclass(frozen=True, slots=True)
class EventRule:
    name: str
    regex: re.Pattern[str]
    source: str                              # regex text without ^ / $
    anchor: str | None = None
    noise: bool = False
    logger: re.Pattern[str] | None = None
    levels: frozenset[str] = frozenset()
    types: dict[str, str] = field(default_factory=dict)   # group -> "int" | "float?" ...
    const: dict[str, Any] = field(default_factory=dict)
    # per capturing group, in group order: (name or None if unnamed, cast or None for str, None-able)
    plan: tuple[tuple[str | None, Callable[[str], Any] | None, bool], ...] = ()
    # the named groups that need work (a cast or the "None" check), in group order: what ``cast`` runs
    conv: tuple[tuple[str, Callable[[str], Any] | None, bool], ...] = ()

    def cast(self, m: re.Match[str]) -> dict[str, Any]:
        """Typed fields of a match; raises ValueError when a value does not cast."""
        # groupdict: every named group in group order, None when it did not take part
        out: dict[str, Any] = m.groupdict()
        for key, fn, nullable in self.conv:
            raw = out[key]
            if raw is None:
                continue
            if nullable and raw == "None":
                out[key] = None
            elif fn is not None:
                out[key] = fn(raw)
        if self.const:
            out.update(self.const)
        return out


@dataclass(frozen=True, slots=True)
class LogRules:
    """A compiled rule file."""
    name: str
    zone: str
    timestamp_format: str
    record_start: re.Pattern[str]
    header: re.Pattern[str]
    header_prefix: str                       # header up to (?P<message>.*), groups uncaptured
    header_source: str                       # header up to (?P<message>.*), named groups kept
    events: tuple[EventRule, ...]            # noise rules first, then the file's order
    description: str = ""
    path: str = ""

    @property
    def noise_events(self) -> tuple[EventRule, ...]:
        return tuple(r for r in self.events if r.noise)

    @property
    def event_names(self) -> list[str]:
        return list(dict.fromkeys(r.name for r in self.events))


def _compile(src: str, what: str, path: str) -> re.Pattern[str]:
    if _BACKREF.search(src):
        raise LogFormatError(f"{path}: {what}: backreferences are not supported")
    try:
        return re.compile(src, re.ASCII)
    except re.error as exc:
        raise LogFormatError(f"{path}: {what}: invalid regex: {exc}") from None


def _parse_rules(doc: dict[str, Any], path: str) -> LogRules:
    try:
        name, zone, header_src = str(doc["name"]), str(doc.get("zone", "UTC")), str(doc["header"])
        ts_format = str(doc["timestamp_format"])
        start_src = str(doc["record_start"])
    except KeyError as exc:
        raise LogFormatError(f"{path}: missing key {exc.args[0]!r}") from None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise LogFormatError(f"{path}: unknown zone {zone!r}") from None
    header_src = _strip_anchors(header_src)
    if not header_src.endswith("(?P<message>.*)"):
        raise LogFormatError(f"{path}: header must end with (?P<message>.*)")
    header = _compile(header_src, "header", path)
    missing = {"ts", "logger", "level", "message"} - set(header.groupindex)
    if missing:
        raise LogFormatError(f"{path}: header lacks group(s) {sorted(missing)}")
    head_src = header_src[: -len("(?P<message>.*)")]
    prefix = _uncaptured(head_src)
    record_start = _compile(_strip_anchors(start_src), "record_start", path)
    rules: list[EventRule] = []
    for i, ev in enumerate(doc.get("events", [])):
        where = f"events[{i}] ({ev.get('name', '?')})"
        if "name" not in ev or "regex" not in ev:
            raise LogFormatError(f"{path}: {where}: needs name and regex")
        unknown_keys = set(ev) - {"name", "regex", "anchor", "noise", "logger", "levels", "types", "const"}
        if unknown_keys:
            raise LogFormatError(f"{path}: {where}: unknown key(s) {sorted(unknown_keys)}")
        src = _strip_anchors(str(ev["regex"]))
        rx = _compile(src, where, path)
        types = {str(k): str(v) for k, v in dict(ev.get("types", {})).items()}
        for k, v in types.items():
            if v.rstrip("?") not in _TYPES:
                raise LogFormatError(f"{path}: {where}: type {v!r} of {k!r} not one of {_TYPES} (+ '?')")
            if k not in rx.groupindex:
                raise LogFormatError(f"{path}: {where}: typed field {k!r} is not a group of the regex")
        anchor = ev.get("anchor")
        if anchor is not None and (not anchor or "\n" in anchor or "\r" in anchor):
            raise LogFormatError(f"{path}: {where}: anchor must be a non-empty single-line literal")
        noise = bool(ev.get("noise", False))
        if noise and ("logger" in ev or "levels" in ev):
            raise LogFormatError(f"{path}: {where}: noise rules cannot restrict logger/levels")
        if noise and not (anchor and (src.startswith(anchor) or src.startswith(re.escape(anchor)))):
            raise LogFormatError(f"{path}: {where}: a noise rule needs an anchor its regex starts with")
        names = {i: n for n, i in rx.groupindex.items()}
        plan = []
        for gi in range(1, rx.groups + 1):
            kind = types.get(names.get(gi, ""), "str")
            base = kind.rstrip("?")
            plan.append((names.get(gi), None if base == "str" else _CASTS[base], kind.endswith("?")))
        conv = tuple((k, fn, nullable) for k, fn, nullable in plan if k is not None and (fn or nullable))
        rules.append(EventRule(
            name=str(ev["name"]), regex=rx, source=src, anchor=anchor, noise=noise, plan=tuple(plan), conv=conv,
            logger=_compile(str(ev["logger"]), where + " logger", path) if "logger" in ev else None,
            levels=frozenset(str(x) for x in ev.get("levels", [])), types=types,
            const=dict(ev.get("const", {}))))
    ordered = tuple([r for r in rules if r.noise] + [r for r in rules if not r.noise])
    return LogRules(name=name, zone=zone, timestamp_format=ts_format, record_start=record_start,
                    header=header, header_prefix=prefix, header_source=head_src, events=ordered,
                    description=str(doc.get("description", "")), path=path)


def available_formats() -> list[str]:
    return sorted(p.stem for p in RULES_DIR.glob("*.toml"))


def load_rules(name_or_path: str | Path) -> LogRules:
    """Load a bundled format by name (``mytrader``) or any rule file by path."""
    p = Path(name_or_path)
    if not (p.suffix == ".toml" or p.is_file()):
        p = RULES_DIR / f"{name_or_path}.toml"
        if not p.is_file():
            raise LogFormatError(
                f"unknown log format {str(name_or_path)!r}; known: {', '.join(available_formats())} "
                "(or a path to a .toml rule file)")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LogFormatError(f"rule file {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise LogFormatError(f"{p}: invalid TOML: {exc}") from None
    return _parse_rules(doc, str(p))


def detect_format(path: str | Path, candidates: list[str] | None = None) -> LogRules:
    """Sniff the first lines: the format whose header matches the most of them wins."""
    with open(path, "rb") as fh:
        head = fh.read(_DETECT_BYTES)
    lines = [ln.rstrip("\r") for ln in head.decode("utf-8", "replace").split("\n")[:_DETECT_LINES]]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise LogFormatError(f"cannot detect the format of {path}: the file is empty")
    scores: list[tuple[int, str, LogRules]] = []
    for name in candidates or available_formats():
        rules = load_rules(name)
        n = sum(1 for ln in lines if rules.record_start.match(ln) and rules.header.fullmatch(ln))
        scores.append((n, name, rules))
    scores.sort(key=lambda s: -s[0])
    if not scores or scores[0][0] == 0:
        raise LogFormatError(
            f"cannot detect the format of {path}: its first lines match none of "
            f"{', '.join(s[1] for s in scores)}; pass a format or a rule file")
    if len(scores) > 1 and scores[1][0] == scores[0][0]:
        raise LogFormatError(f"ambiguous format for {path}: {scores[0][1]} and {scores[1][1]} match equally")
    return scores[0][2]


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
_SKIP = object()   # pending marker: the record above exists but is not yielded (unknown or noise)


class LogReader:
    """Iterable of LogRecord; ``stats`` fills as it streams (reset on each iteration)."""

    def __init__(self, path: str | Path, rules: LogRules, tz: str | None = None,
                 include_unknown: bool = False, include_noise: bool = False,
                 chunk_size: int = DEFAULT_CHUNK) -> None:
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
        self.stats = ReadStats(format=rules.name)
        self._ts_shape = _FAST_TS.get(rules.timestamp_format)   # None: strptime
        noise = rules.noise_events
        prefix = rules.header_prefix
        self._skip_noise = bool(noise) and not include_noise
        self._noise_split: re.Pattern[bytes] | None = None
        # A record line comes back with its ts, logger and level already split off (groups "ts",
        # "logger", "level", then the message as group "rest"); any other line comes back whole in "rest".
        head = _uncaptured(rules.header_source, frozenset({"ts", "logger", "level"}))
        if self._skip_noise:
            # atomic prefix: the same header split the str regex picks, never re-split to force a match
            alts = "|".join(re.escape(r.anchor or "") for r in noise)
            scan = f"\\n(?!(?>{prefix})(?:{alts}))(?>{head})?(?P<rest>[^\\n]*)"
            if len(noise) > 1:
                groups = "|".join(f"({re.escape(r.anchor or '')})" for r in noise)
                self._noise_split = re.compile(f"\\n(?>{prefix})(?:{groups})".encode(), re.ASCII)
        else:
            scan = f"\\n(?>{head})?(?P<rest>[^\\n]*)"
        self._scan = re.compile(scan.encode(), re.ASCII)
        self._noise_anchors = [(r.anchor or "").encode() for r in noise]
        self._record_start_b = re.compile(rules.record_start.pattern.encode(), re.ASCII)
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
        anchors = [r.anchor for r in rules.events]
        self._any_anchor = (re.compile("|".join(re.escape(a) for a in anchors).encode())
                            if anchors and all(anchors) else None)
        # Dispatch by literal prefix. A rule can only match a message that starts with its regex's
        # literal prefix, so the first K bytes of a message (K: the shortest prefix) name the only
        # rules, in file order, that could match it. This replaces the anchor search and the
        # candidate list for lines that are plain ASCII without "\r" (see __iter__); a message
        # whose first K bytes name no rule is an unknown line. Off when a rule has no prefix.
        prefixes = [_literal_prefix(r.source) for r in others]
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
        self._plain_ok = not _top_level_alternation(rules.header_source)

    # -- chunking -------------------------------------------------------------------------------
    def _buffers(self) -> Iterator[tuple[bytearray, int]]:
        """Yield (buf, end): buf[:end] is b"\\n" + whole lines (no final newline).

        One bytearray is refilled in place (read straight into it, no copies); a buffer is only
        valid until the next one is requested.
        """
        size = self.chunk_size
        buf = bytearray(size + 1)
        carry = 0                            # bytes of an unfinished line kept at buf[1:1+carry]
        with open(self.path, "rb") as fh:
            buf[0] = 10
            while True:
                if len(buf) < 1 + carry + size:          # a line longer than a chunk: grow
                    buf.extend(bytes(1 + carry + size - len(buf)))
                n = fh.readinto(memoryview(buf)[1 + carry:1 + carry + size])
                if not n:
                    break
                self.stats.bytes_read += n
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

    # -- one record line -------------------------------------------------------------------------
    def _parse_ts(self, text: str) -> datetime | None:
        """The line's naive timestamp, or None where strptime would refuse it."""
        try:
            if self._ts_shape is None:
                return datetime.strptime(text, self.rules.timestamp_format)
            return None if self._ts_shape.fullmatch(text) is None else datetime.fromisoformat(text)
        except ValueError:
            return None

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
    def _count_noise(self, buf: bytearray, end: int, n: int, visited: list[bytes]) -> None:
        if n <= 0:
            return
        rules = self.rules.noise_events
        matched = self.stats.matched
        if len(rules) == 1:
            matched[rules[0].name] += n
            return
        # Every noise line holds its rule's anchor. If the anchors' occurrences outside the visited
        # lines add up to exactly n, each noise line holds exactly one anchor: the split is exact.
        seen = b"\n".join(visited)    # anchors hold no newline: joining adds no occurrence
        occ = [buf.count(a, 0, end) - seen.count(a) for a in self._noise_anchors]
        if sum(occ) == n:
            for rule, k in zip(rules, occ):
                if k:
                    matched[rule.name] += k
            return
        assert self._noise_split is not None
        per = Counter(m.lastindex for m in self._noise_split.finditer(buf, 0, end))
        for idx, k in per.items():
            matched[rules[idx - 1].name] += k

    # -- the stream ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[LogRecord]:
        st = self.stats = ReadStats(format=self.rules.name)
        is_start = self._record_start_b.match
        any_anchor = None if self.include_unknown else self._any_anchor
        record, classify, parse_ts = self._record, self._classify, self._parse_ts
        skip_noise = self._skip_noise
        keep = skip_noise and len(self.rules.noise_events) > 1
        include_unknown = self.include_unknown
        dispatch = self._dispatch.get if self._dispatch else None
        k = self._k
        noise_check = () if skip_noise else self._noise_starts   # skipped noise never gets here
        plain_ok = self._plain_ok
        matched, tz, source = st.matched, self.tz, self._source
        scan = self._scan
        g_ts, g_logger, g_level, g_rest = (scan.groupindex[x] for x in ("ts", "logger", "level", "rest"))
        pending: Any = None          # None: no record yet; _SKIP; or a LogRecord awaiting its extras
        base = 0                     # lines before the current buffer
        for buf, end in self._buffers():
            # "Plain" lines (ASCII, no "\r") are split by the bytes scan exactly where the str header
            # splits them (same regex, one byte per character, atomic head): they reuse that split
            # and the prefix dispatch. Any other line goes the general per-line way (_record).
            plain_chunk = plain_ok and buf.isascii() and buf.find(b"\r", 0, end) < 0   # (isascii: past end too)
            prev_end = 0             # where the last visited line ended (the next line's newline)
            cpos, counted = 0, 0     # newlines counted so far: lazily, up to the records we build
            visited = 0
            kept: list[bytes] = []   # visited lines that may hold a noise anchor (to split noise rules)
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
                        else:
                            text = rest.decode("utf-8", "replace")
                            pending.extra.append(text.removesuffix("\r"))
                        continue
                else:
                    plain = plain_chunk or (plain_ok and buf[s + 1:e].isascii() and not rest.endswith(b"\r"))
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
            if skip_noise:
                self._count_noise(buf, end, n_lines - visited, kept)
            for key, n in Counter(unknown_keys).items():
                st.unknown[(key[0].decode("utf-8", "replace"), key[1].decode("utf-8", "replace"))] += n
        if pending is not None and pending is not _SKIP:
            yield pending


def read_log(path: str | Path, fmt: str | Path | LogRules = "auto", tz: str | None = None,
             include_unknown: bool = False, include_noise: bool = False,
             chunk_size: int = DEFAULT_CHUNK) -> LogReader:
    """Open a log for streaming. ``fmt``: "auto", a bundled format name, a rule-file path or LogRules."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"log file {p} does not exist or is not a file")
    if isinstance(fmt, LogRules):
        rules = fmt
    elif str(fmt) == "auto":
        rules = detect_format(p)
    else:
        rules = load_rules(fmt)
    return LogReader(p, rules, tz=tz, include_unknown=include_unknown, include_noise=include_noise,
                     chunk_size=chunk_size)
