"""Log rule files (tools/logs/rules/*.toml): load, validate and compile them; tell a log's format.

``load_rules`` reads a bundled format by name or any rule file by path; auto-detection lives in
tools/logs/formats.py. Every problem with a rule
file (missing key, bad regex, backreference, unknown zone or type, a noise rule without an anchor)
raises ``LogFormatError`` naming the file and the rule. A cast refuses a non-finite or over-long number
and a JSON payload nested too deeply (ValueError: the reader counts the line, never raises).
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tools.logs.regex_source import strip_anchors, uncaptured

RULES_DIR = Path(__file__).with_name("rules")
_TYPES = ("int", "float", "str", "bool", "json")
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


MAX_NUMBER_CHARS = 64        # a number written with more characters than this is a bad line, not a value


def to_float(s: str) -> float:
    """A finite float: NaN, infinity, a 400-digit price (which float() turns into inf) are bad values."""
    if len(s) > MAX_NUMBER_CHARS:
        raise ValueError(f"number too long ({len(s)} characters)")
    x = float(s)
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {s[:20]!r}")
    return x


def _to_int(s: str) -> int:
    if len(s) > MAX_NUMBER_CHARS:
        raise ValueError(f"number too long ({len(s)} characters)")
    return int(s)


def _to_json(s: str) -> Any:
    """JSON; a payload nested too deeply for the parser is a bad value (ValueError), never a crash."""
    try:
        return json.loads(s, parse_constant=_no_constant, parse_float=to_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not a number")


_CASTS: dict[str, Callable[[str], Any]] = {
    "int": _to_int, "float": to_float, "str": str, "bool": _to_bool, "json": _to_json}


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
    header_src = strip_anchors(header_src)
    if not header_src.endswith("(?P<message>.*)"):
        raise LogFormatError(f"{path}: header must end with (?P<message>.*)")
    header = _compile(header_src, "header", path)
    missing = {"ts", "logger", "level", "message"} - set(header.groupindex)
    if missing:
        raise LogFormatError(f"{path}: header lacks group(s) {sorted(missing)}")
    head_src = header_src[: -len("(?P<message>.*)")]
    prefix = uncaptured(head_src)
    record_start = _compile(strip_anchors(start_src), "record_start", path)
    rules: list[EventRule] = []
    for i, ev in enumerate(doc.get("events", [])):
        where = f"events[{i}] ({ev.get('name', '?')})"
        if "name" not in ev or "regex" not in ev:
            raise LogFormatError(f"{path}: {where}: needs name and regex")
        unknown_keys = set(ev) - {"name", "regex", "anchor", "noise", "logger", "levels", "types", "const"}
        if unknown_keys:
            raise LogFormatError(f"{path}: {where}: unknown key(s) {sorted(unknown_keys)}")
        src = strip_anchors(str(ev["regex"]))
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
