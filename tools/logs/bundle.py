"""An incident bundle: find its parts, tell their formats, and say which inputs are missing.

Layout (formats/README.md, "An incident bundle"): every part but one log is optional::

    bot.log  auto_resolve.log  trade_journal.db  state/trading_state.json
    events.jsonl  candles/*.csv  system/ (journalctl export, metrics CSV, cron log)

A single log file can be handed over as a bundle of its own. Nothing here parses a log: formats are
told apart by the ``header`` regex of each rule file in ``tools/logs/rules`` (data, not code).

Failure contract: ``load_bundle`` raises ``BundleError`` (one line naming the path) when the path does
not exist, cannot be read, or holds no log in a known format; ``read_state`` / ``read_events`` return
the reason (or count bad lines) instead of raising, and an unusable rule file is logged and skipped.
"""
from __future__ import annotations

import json
import logging
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RULES_DIR = Path(__file__).with_name("rules")
CANDLE_SUFFIXES = (".csv", ".parquet", ".pq", ".feather")

# input -> the analyses that cannot run without it (named in every report that lacks it)
NEEDS: dict[str, list[str]] = {
    "trade_journal.db": ["journal/log correlation", "recorded outcomes", "telemetry gap check (journal vs log)"],
    "auto_resolve.log": ["resolution-log outcomes", "resolver error analysis"],
    "state/trading_state.json": ["state-file consistency check"],
    "candles": ["candle-based outcome reconstruction", "market regime and volatility analysis",
                "entry prices against the market"],
    "events.jsonl": ["structured-event correlation"],
    "system/": ["system metrics", "systemd restarts", "cron job check"],
}


class BundleError(ValueError):
    """The path is not a usable incident bundle; the message says why."""


@dataclass
class Bundle:
    root: Path
    logs: dict[str, Path] = field(default_factory=dict)          # file name -> path
    log_formats: dict[str, str] = field(default_factory=dict)    # file name -> rule-file name
    journal: Path | None = None
    state: Path | None = None
    events: Path | None = None
    candles: dict[str, Path] = field(default_factory=dict)       # asset (BTC, ES) -> file
    fills: Path | None = None                                     # a fills file (tools/logs/fills_import.py)
    system: dict[str, Path] = field(default_factory=dict)        # journal | metrics | cron -> file
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """polymarket | es | unknown, from the formats of its logs."""
        fmts = set(self.log_formats.values())
        if not fmts and self.fills is not None:
            from tools.logs.fills_import import looks_like_prediction_market

            return "polymarket" if looks_like_prediction_market(self.fills) else "fills"
        if "momentum" in fmts:
            return "polymarket"
        if "mytrader" in fmts:
            return "es"
        return "unknown"

    @property
    def zone(self) -> str:
        """The zone times are displayed in: the zone of the first log's format."""
        for fmt in self.log_formats.values():
            z = rule_zones().get(fmt)
            if z:
                return z
        return "UTC"

    def missing(self) -> dict[str, list[str]]:
        """Missing input -> the analyses it prevents."""
        out: dict[str, list[str]] = {}
        if self.kind == "polymarket":
            if self.journal is None:
                out["trade_journal.db"] = NEEDS["trade_journal.db"]
            if "auto_resolve.log" not in self.logs:
                out["auto_resolve.log"] = NEEDS["auto_resolve.log"]
        if self.state is None:
            out["state/trading_state.json"] = NEEDS["state/trading_state.json"]
        if not self.candles:
            out["candles"] = NEEDS["candles"]
        if self.events is None and self.kind == "es":
            out["events.jsonl"] = NEEDS["events.jsonl"]
        if not self.system:
            out["system/"] = NEEDS["system/"]
        return out

    def describe(self) -> dict[str, Any]:
        return {"root": str(self.root), "kind": self.kind, "zone": self.zone,
                "logs": {k: {"path": str(v), "format": self.log_formats.get(k, "unknown"),
                             "bytes": v.stat().st_size} for k, v in self.logs.items()},
                "journal": str(self.journal) if self.journal else None,
                "fills": str(self.fills) if self.fills else None,
                "state": str(self.state) if self.state else None,
                "events": str(self.events) if self.events else None,
                "candles": {k: str(v) for k, v in self.candles.items()},
                "system": {k: str(v) for k, v in self.system.items()},
                "missing": self.missing(), "notes": self.notes}


_RULES_CACHE: dict[str, dict[str, Any]] = {}


def _rules() -> dict[str, dict[str, Any]]:
    if not _RULES_CACHE:
        for p in sorted(RULES_DIR.glob("*.toml")):
            try:
                doc = tomllib.loads(p.read_text(encoding="utf-8"))
                _RULES_CACHE[doc.get("name", p.stem)] = {
                    "header": re.compile(doc["header"]), "zone": doc.get("zone", "UTC")}
            except (OSError, KeyError, tomllib.TOMLDecodeError, re.error) as exc:
                log.error("log rule file %s unusable for format sniffing: %s", p, exc)
    return _RULES_CACHE


def rule_zones() -> dict[str, str]:
    return {k: v["zone"] for k, v in _rules().items()}


def sniff_format(path: Path, max_lines: int = 200) -> str:
    """The rule-file name that clearly recognises the most of the first lines, or ``unknown``.

    Scored by recognised events, not by the header alone (freqtrade and mytrader share a header);
    an ambiguous or unrecognised log is ``unknown`` (the review notes it, never guesses)."""
    from tools.logs.formats import pick_format
    from tools.logs.log_rules import LogFormatError

    try:
        return pick_format(path).name
    except LogFormatError as exc:
        log.info("%s: %s", path, exc)
        return "unknown"
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc})") from None


def _asset_of(p: Path) -> str:
    stem = p.name.split(".")[0]
    return re.split(r"[-_ ]", stem)[0].upper()


def load_bundle(path: str | Path) -> Bundle:
    """Find the parts of a bundle folder (or take one log file as a bundle)."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"{path}: no such file or folder")
    from tools.logs.fills_import import looks_like_fills

    if path.is_file() and looks_like_fills(path):
        return Bundle(root=path.parent, fills=path)
    if path.is_file():
        b = Bundle(root=path.parent, logs={path.name: path})
    else:
        b = Bundle(root=path)
        for p in sorted(path.glob("*.log")):
            if p.is_file():
                b.logs[p.name] = p
        for name in ("trade_journal.db", "simulation/trade_journal.db", "journal.db"):
            if (path / name).is_file():
                b.journal = path / name
                break
        for name in ("state/trading_state.json", "trading_state.json"):
            if (path / name).is_file():
                b.state = path / name
                break
        for p in sorted(path.iterdir()):
            if b.fills is None and p.is_file() and ("fill" in p.name.lower() or "trades" in p.name.lower()) \
                    and looks_like_fills(p):
                b.fills = p
        if (path / "events.jsonl").is_file():
            b.events = path / "events.jsonl"
        cdir = path / "candles"
        if cdir.is_dir():
            for p in sorted(cdir.iterdir()):
                if p.suffix.lower() in CANDLE_SUFFIXES and p.is_file():
                    b.candles.setdefault(_asset_of(p), p)
        sdir = path / "system"
        if sdir.is_dir():
            for p in sorted(sdir.iterdir()):
                n = p.name.lower()
                if not p.is_file():
                    continue
                if "cron" in n:
                    b.system.setdefault("cron", p)
                elif n.endswith(".csv") and ("metric" in n or "resource" in n or "sys" in n):
                    b.system.setdefault("metrics", p)
                elif "journal" in n or "systemd" in n or "syslog" in n:
                    b.system.setdefault("journal", p)
                else:
                    b.notes.append(f"system/{p.name}: not recognised (expected journalctl, metrics CSV or cron log)")
    if not b.logs and b.fills is not None:
        return b
    if not b.logs:
        raise BundleError(f"{path}: no log file (*.log) and no fills file in the bundle; at least bot.log or a "
                          "fills file (CSV, Polymarket trades JSON, freqtrade trades database) is needed")
    for name, p in b.logs.items():
        b.log_formats[name] = sniff_format(p)
    known = [n for n, f in b.log_formats.items() if f != "unknown"]
    if not known:
        raise BundleError(f"{path}: no log in a known format ({', '.join(b.logs)}); known formats: "
                          f"{', '.join(_rules()) or 'none (no rule files)'}")
    for n, f in b.log_formats.items():
        if f == "unknown":
            b.notes.append(f"{n}: format not recognised, not read")
    return b


def read_state(path: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """The bot's state file as a dict, or (None, reason)."""
    if path is None:
        return None, "no state file"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{path.name}: unreadable ({exc})"
    if not isinstance(doc, dict):
        return None, f"{path.name}: not a JSON object"
    return doc, None


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (naive = UTC) or Unix seconds/ms to an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        v = float(value)
        return datetime.fromtimestamp(v / 1000 if v > 1e11 else v, UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_time(float(text))
        except ValueError:
            return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def read_events(path: Path | None) -> tuple[list[dict[str, Any]], int]:
    """Structured events (one JSON object per line); returns (events, unreadable line count)."""
    if path is None:
        return [], 0
    out, bad = [], 0
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                bad += 1
                log.error("events %s line %d unreadable: %s", path, n, exc)
                continue
            d["_line"] = n
            d["_ts"] = parse_time(d.get("ts") or d.get("timestamp") or d.get("time"))
            out.append(d)
    return out, bad
