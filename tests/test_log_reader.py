"""Log readers: the chunked fast path must give exactly what a simple per-line reader gives."""
from __future__ import annotations

import itertools
import json
import tracemalloc
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.logs.reader import LogFormatError, LogRules, detect_format, load_rules, read_log
from tools.samples.logs import write_momentum_log, write_mytrader_log

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "formats/samples"


# --------------------------------------------------------------------------------------------
# A deliberately simple per-line reference reader, written from the rule-file contract.
# --------------------------------------------------------------------------------------------
def reference_read(path: Path, rules: LogRules, include_noise: bool = False,
                   include_unknown: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()                      # the newline ended the last line; no empty line after it
    out: list[dict[str, Any]] = []
    stats: dict[str, Any] = {"lines": len(lines), "matched": Counter(), "unknown": Counter(),
                             "continuation": 0, "orphan": 0, "skipped": 0, "field_errors": Counter(),
                             "bad_ts": 0}
    pending: Any = None                  # None | "skip" | record dict

    def parse_ts(s: str) -> datetime | None:
        try:
            return datetime.strptime(s, rules.timestamp_format)
        except ValueError:
            return None

    def classify(text: str, no: int) -> dict[str, Any] | None:
        h = rules.header.fullmatch(text)
        if not h:
            stats["unknown"][("?", "?")] += 1
            return None
        logger, level, msg = h["logger"], h["level"], h["message"]
        for r in rules.events:
            if r.noise:
                if msg.startswith(r.anchor):
                    stats["matched"][r.name] += 1
                    if not include_noise:
                        return None
                    m = r.regex.fullmatch(msg)
                    fields = r.cast(m) if m else {}
                    if not m:
                        stats["field_errors"][r.name] += 1
                    ts = parse_ts(h["ts"])
                    if ts is None:
                        stats["bad_ts"] += 1
                        return None
                    return dict(ts=ts, logger=logger, level=level, event=r.name, fields=fields,
                                message=msg, line_no=no, extra=[])
                continue
            if r.anchor and r.anchor not in msg:
                continue
            if r.levels and level not in r.levels:
                continue
            if r.logger and not r.logger.fullmatch(logger):
                continue
            m = r.regex.fullmatch(msg)
            if not m:
                continue
            try:
                fields = r.cast(m)
            except ValueError:
                stats["field_errors"][r.name] += 1
                continue
            ts = parse_ts(h["ts"])
            if ts is None:
                stats["bad_ts"] += 1
                break
            stats["matched"][r.name] += 1
            return dict(ts=ts, logger=logger, level=level, event=r.name, fields=fields, message=msg,
                        line_no=no, extra=[])
        stats["unknown"][(logger, level)] += 1
        if include_unknown:
            ts = parse_ts(h["ts"])
            if ts is not None:
                return dict(ts=ts, logger=logger, level=level, event="unknown", fields={}, message=msg,
                            line_no=no, extra=[])
        return None

    for no, b in enumerate(lines, start=1):
        text = b.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        if not rules.record_start.match(text):
            if pending is None:
                stats["orphan"] += 1
            else:
                stats["continuation"] += 1
                if pending == "skip":
                    stats["skipped"] += 1
                else:
                    pending["extra"].append(text)
            continue
        if isinstance(pending, dict):
            out.append(pending)
        rec = classify(text, no)
        pending = "skip" if rec is None else rec
    if isinstance(pending, dict):
        out.append(pending)
    return out, stats


def fast_read(path: Path, rules: LogRules, chunk_size: int, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    reader = read_log(path, rules, chunk_size=chunk_size, **kw)
    recs = [dict(ts=r.ts, logger=r.logger, level=r.level, event=r.event, fields=r.fields, message=r.message,
                 line_no=r.line_no, extra=r.extra) for r in reader]
    s = reader.stats
    return recs, {"lines": s.lines, "matched": s.matched, "unknown": s.unknown,
                  "continuation": s.continuation_lines, "orphan": s.orphan_continuation_lines,
                  "skipped": s.skipped_continuation_lines, "field_errors": s.field_errors,
                  "bad_ts": s.bad_timestamps}


def assert_same(path: Path, rules: LogRules, chunk_sizes: tuple[int, ...] = (7, 61, 4096, 8 << 20),
                **kw: Any) -> list[dict[str, Any]]:
    want = reference_read(path, rules, **kw)
    for cs in chunk_sizes:
        got = fast_read(path, rules, cs, **kw)
        assert got[0] == want[0], f"records differ at chunk_size={cs}"
        assert got[1] == want[1], f"stats differ at chunk_size={cs}"
    return want[0]


MYT = "2025-12-12 08:{m:02d}:{s:02d},{ms:03d} - {lg} - {lv} - {msg}"
EDGE_LINES = [
    "Traceback (most recent call last):",                              # orphan continuation at top
    MYT.format(m=0, s=1, ms=0, lg="mytrader.data.stream", lv="DEBUG",
               msg="Market data: ESZ5 bid=6890.25 ask=6890.50 last=6890.25 volume=412"),
    "  a continuation under a noise line",
    MYT.format(m=0, s=2, ms=5, lg="mytrader.execution.ib_executor", lv="INFO",
               msg="Order filled: orderId=14812 action=BUY qty=1 avgPrice=6890.50") + "\r",   # CRLF
    "Traceback (most recent call last):\r",
    '  File "x.py", line 1, in <module>',
    "",                                                                # blank line continues too
    "ValueError: boom é",
    MYT.format(m=0, s=3, ms=0, lg="mytrader.features.engine", lv="DEBUG", msg="Computed 42 features"),
    "    continuation of an unknown line",
    MYT.format(m=0, s=4, ms=0, lg="mytrader.execution.ib_executor", lv="INFO",
               msg="Order filled: orderId=oops action=BUY qty=1 avgPrice=1"),       # anchor, no match
    MYT.format(m=0, s=5, ms=0, lg="mytrader.ltm", lv="INFO", msg='EVENT {"event": "x", bad json}'),
    MYT.format(m=0, s=6, ms=0, lg="mytrader.ltm", lv="INFO",
               msg='EVENT {"event": "fill", "trade_cycle_id": "abc", "px": 6890.5}'),
    "2025-12-12 08:00:07,000 - broken header without level",          # record start, bad header
    MYT.format(m=0, s=8, ms=0, lg="mytrader.execution.ib_executor", lv="INFO",
               msg="Heartbeat: connected=maybe latency_ms=?"),           # noise by anchor, bad fields
    MYT.format(m=0, s=9, ms=0, lg="mytrader.aws.decision_agent", lv="INFO",
               msg="AWS Decision Agent returned WAIT (50%)"),
    MYT.format(m=0, s=10, ms=0, lg="mytrader.strategies.hybrid", lv="INFO",
               msg="Bar closed: Heartbeat: connected=True latency_ms=3"),  # noise anchor mid-message
    MYT.format(m=0, s=11, ms=0, lg="mytrader.rag.pipeline_integration", lv="WARNING",
               msg="No current trade ID for exit logging"),
    MYT.format(m=0, s=12, ms=0, lg="mytrader.other", lv="WARNING",
               msg="No current trade ID for exit logging"),              # wrong logger: unknown
    "2025-13-12 08:00:13,000 - mytrader.x - INFO - Order cancelled: orderId=1 reason=bad month",
    MYT.format(m=0, s=14, ms=0, lg="mytrader.execution.ib_executor", lv="INFO",
               msg="Position update: ESZ5 position=0 avgCost=0.0"),       # last line, no newline
]


def _edge_file(tmp_path: Path) -> Path:
    p = tmp_path / "edge.log"
    p.write_bytes("\n".join(EDGE_LINES).encode("utf-8"))
    return p


def test_fast_path_matches_reference_on_generated_log(tmp_path: Path) -> None:
    log = write_mytrader_log(tmp_path / "bot.log", target_bytes=300_000, seed=3)
    rules = load_rules("mytrader")
    recs = assert_same(log, rules, chunk_sizes=(97, 4096, 65536, 8 << 20))
    assert any(r["event"] == "filled" and r["fields"]["order_id"] == 14812 for r in recs)
    # noise is most of the file and is never yielded
    reader = read_log(log, "mytrader")
    list(reader)
    noise = reader.stats.matched["market_data"] + reader.stats.matched["heartbeat"]
    assert noise > 0.9 * reader.stats.lines
    assert reader.stats.skipped_continuation_lines > 0     # tracebacks under ERROR lines of no rule


def test_fast_path_matches_reference_on_edge_cases(tmp_path: Path) -> None:
    p = _edge_file(tmp_path)
    rules = load_rules("mytrader")
    recs = assert_same(p, rules, chunk_sizes=(1, 5, 33, 200, 8 << 20))
    assert_same(p, rules, chunk_sizes=(3, 8 << 20), include_noise=True, include_unknown=True)
    by_event = Counter(r["event"] for r in recs)
    assert by_event == {"filled": 1, "structured_event": 1, "advisory": 1, "lost_telemetry": 1, "position": 1}
    filled = next(r for r in recs if r["event"] == "filled")
    assert filled["extra"] == ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
                               "", "ValueError: boom é"]
    assert filled["fields"]["avg_price"] == 6890.5 and filled["line_no"] == 4
    assert recs[-1]["event"] == "position" and recs[-1]["line_no"] == len(EDGE_LINES)
    ev = next(r for r in recs if r["event"] == "structured_event")
    assert ev["fields"]["data"] == {"event": "fill", "trade_cycle_id": "abc", "px": 6890.5}


def test_edge_case_stats(tmp_path: Path) -> None:
    reader = read_log(_edge_file(tmp_path), "mytrader")
    list(reader)
    s = reader.stats
    assert s.lines == len(EDGE_LINES)
    assert s.orphan_continuation_lines == 1
    assert s.continuation_lines == 6 and s.skipped_continuation_lines == 2
    assert s.matched["market_data"] == 1 and s.matched["heartbeat"] == 1
    assert s.field_errors["structured_event"] == 1
    assert s.bad_timestamps == 1                       # month 13
    assert s.unknown[("mytrader.features.engine", "DEBUG")] == 1
    assert s.unknown[("mytrader.other", "WARNING")] == 1
    assert s.unknown[("?", "?")] == 1
    assert s.unknown[("mytrader.strategies.hybrid", "INFO")] == 1
    assert s.bytes_read == len("\n".join(EDGE_LINES).encode())
    assert s.as_dict()["unknown"]["mytrader.other|WARNING"] == 1


def test_include_noise_and_unknown(tmp_path: Path) -> None:
    reader = read_log(_edge_file(tmp_path), "mytrader", include_noise=True, include_unknown=True)
    recs = list(reader)
    hb = [r for r in recs if r.event == "heartbeat"]
    assert len(hb) == 1 and hb[0].fields == {}         # recognised by anchor, fields did not parse
    assert reader.stats.field_errors["heartbeat"] == 1
    md = next(r for r in recs if r.event == "market_data")
    assert md.fields["bid"] == 6890.25 and md.extra == ["  a continuation under a noise line"]
    unk = [r for r in recs if r.event == "unknown"]
    assert {r.logger for r in unk} >= {"mytrader.features.engine", "mytrader.other"}


_POOL = [
    MYT.format(m=1, s=0, ms=0, lg="mytrader.data.stream", lv="DEBUG",
               msg="Market data: ESZ5 bid=1.00 ask=1.25 last=1.00 volume=3"),
    MYT.format(m=1, s=0, ms=1, lg="mytrader.execution.ib_executor", lv="INFO",
               msg="Heartbeat: connected=True latency_ms=9"),
    MYT.format(m=1, s=0, ms=2, lg="mytrader.execution.ib_executor", lv="INFO",
               msg="Order submitted: orderId=7 action=SELL qty=2 symbol=ESZ5 type=STP auxPrice=6800.25 parentId=6"),
    MYT.format(m=1, s=0, ms=3, lg="mytrader.execution.ib_executor", lv="INFO",
               msg="Commission report: execId=a.b orderId=7 commission=2.25 realizedPNL=None"),
    MYT.format(m=1, s=0, ms=4, lg="mytrader.features.engine", lv="DEBUG", msg="Computed features"),
    MYT.format(m=1, s=0, ms=5, lg="mytrader.ltm", lv="ERROR", msg="Heartbeat: lost"),
    "Traceback (most recent call last):",
    "  File \"y.py\", line 2",
    "KeyError: 'ESZ5'",
    "",
    "2025-12-12 09:00:00,000 -",
    MYT.format(m=1, s=0, ms=6, lg="mytrader.strategies.hybrid", lv="INFO",
               msg="Hybrid pipeline emitted HOLD @ 0.10 confidence (price=None, stop=None, target=None)"),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(0, len(_POOL) - 1), st.booleans()), min_size=0, max_size=40),
       final_newline=st.booleans(), chunk=st.integers(1, 300))
def test_property_fast_equals_reference(tmp_path: Path, picks: list[tuple[int, bool]], final_newline: bool,
                                        chunk: int) -> None:
    body = "\n".join(_POOL[i] + ("\r" if crlf else "") for i, crlf in picks)
    if picks and final_newline:
        body += "\n"
    p = tmp_path / "prop.log"
    p.write_bytes(body.encode())
    rules = load_rules("mytrader")
    assert fast_read(p, rules, chunk) == reference_read(p, rules)
    assert fast_read(p, rules, chunk, include_noise=True, include_unknown=True) == \
        reference_read(p, rules, include_noise=True, include_unknown=True)


def test_momentum_format_and_traceback(tmp_path: Path) -> None:
    p = tmp_path / "auto_resolve.log"
    p.write_text(
        "2026-01-15 00:30:05,331 [INFO] auto_resolve: Resolving 1 pending trades\n"
        "2026-01-15 00:30:05,902 [INFO] auto_resolve: Market btc-updown-15m-1768436100 resolved: winner=Down\n"
        "2026-01-15 00:30:05,910 [ERROR] auto_resolve: Failed to record outcome for trade_id=17: "
        "sqlite3.OperationalError: attempt to write a readonly database\n"
        "Traceback (most recent call last):\n"
        '  File "/opt/bot/auto_resolve.py", line 88, in record_outcome\n'
        "sqlite3.OperationalError: attempt to write a readonly database\n"
        "2026-01-15 00:31:00,000 [WARNING] auto_resolve: Resolution error (ignored): TimeoutError()\n"
        "2026-01-15 00:31:01,000 [INFO] auto_resolve: something else\n")
    rules = detect_format(p)
    assert rules.name == "momentum" and rules.zone == "UTC"
    recs = assert_same(p, rules, chunk_sizes=(9, 8 << 20))
    assert [r["event"] for r in recs] == ["resolution_pass", "market_resolved", "resolution_error",
                                          "resolution_error"]
    err = recs[2]
    assert err["fields"] == {"trade_id": 17, "error": "sqlite3.OperationalError: attempt to write a readonly database",
                             "ignored": False}
    assert len(err["extra"]) == 3 and err["extra"][0].startswith("Traceback")
    assert recs[3]["fields"] == {"error": "TimeoutError()", "ignored": True}


def test_generated_momentum_log(tmp_path: Path) -> None:
    p = write_momentum_log(tmp_path / "bot.log", seed=1, trades=4)
    reader = read_log(p)
    recs = list(reader)
    assert reader.stats.format == "momentum" and not reader.stats.unknown
    ev = Counter(r.event for r in recs)
    assert ev["order_intent"] == 4 and ev["placed"] == 4 and ev["peak_reset"] == 1 and ev["start"] == 1
    intent = next(r for r in recs if r.event == "order_intent")
    assert intent.fields["cost"] == 5.0 and intent.fields["trade_id"] == 17
    assert write_momentum_log(tmp_path / "b2.log", seed=1, trades=4).read_bytes() == p.read_bytes()


def test_detect_format_and_errors(tmp_path: Path) -> None:
    myt = write_mytrader_log(tmp_path / "m.log")
    assert detect_format(myt).name == "mytrader"
    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    with pytest.raises(LogFormatError, match="cannot detect"):
        read_log(junk)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    with pytest.raises(LogFormatError, match="empty"):
        read_log(empty)
    assert list(read_log(empty, "mytrader")) == []
    with pytest.raises(LogFormatError, match="unknown log format"):
        read_log(myt, "nosuchformat")
    with pytest.raises(FileNotFoundError):
        read_log(tmp_path / "missing.log")
    with pytest.raises(ValueError, match="time zone"):
        read_log(myt, "mytrader", tz="Mars/Olympus")
    assert issubclass(LogFormatError, ValueError)


def test_timezone_and_utc(tmp_path: Path) -> None:
    log = write_mytrader_log(tmp_path / "m.log")
    rec = next(r for r in read_log(log) if r.event == "filled" and r.fields["order_id"] == 14812)
    assert rec.tz == "America/Chicago" and rec.ts == datetime(2025, 12, 12, 8, 53, 20, 450000)
    assert rec.ts_utc.isoformat() == "2025-12-12T14:53:20.450000+00:00"
    rec2 = next(r for r in read_log(log, tz="UTC") if r.event == "filled" and r.fields["order_id"] == 14812)
    assert rec2.tz == "UTC" and rec2.ts_utc.hour == 8


def test_new_format_is_a_rule_file(tmp_path: Path) -> None:
    rule = tmp_path / "tiny.toml"
    rule.write_text(r"""
name = "tiny"
zone = "Europe/Paris"
timestamp_format = "%Y-%m-%dT%H:%M:%S"
record_start = '\d{4}-\d\d-\d\dT'
header = '(?P<ts>\S+) (?P<level>[A-Z]+) (?P<logger>[^:]+): (?P<message>.*)'

[[events]]
name = "tick"
noise = true
anchor = "tick "
regex = 'tick (?P<n>\d+)'
types = { n = "int" }

[[events]]
name = "trade"
anchor = "trade "
regex = 'trade (?P<qty>-?\d+) @ (?P<px>\d+\.\d+)(?: tag=(?P<tag>\w+))?'
types = { qty = "int", px = "float", tag = "str?" }
levels = ["INFO"]
const = { venue = "paper" }
""")
    log = tmp_path / "tiny.log"
    log.write_text("2026-02-01T10:00:00 INFO app: tick 1\n2026-02-01T10:00:01 INFO app: trade -2 @ 101.50\n"
                   "2026-02-01T10:00:02 DEBUG app: trade 1 @ 1.00\n2026-02-01T10:00:03 INFO app: tick 2\n")
    rules = load_rules(rule)
    recs = assert_same(log, rules, chunk_sizes=(4, 8 << 20))
    assert [r["fields"] for r in recs] == [{"qty": -2, "px": 101.5, "tag": None, "venue": "paper"}]
    reader = read_log(log, rule)
    list(reader)
    assert reader.stats.matched == {"tick": 2, "trade": 1}
    assert reader.stats.unknown == {("app", "DEBUG"): 1}
    assert reader.rules.zone == "Europe/Paris"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("header"), "missing key"),
    (lambda d: d.update(header="(?P<ts>\\S+) (?P<message>.*)"), "lacks group"),
    (lambda d: d.update(header="(?P<message>.*) (?P<ts>\\S+)"), "must end with"),
    (lambda d: d["events"][0]["types"].update(n="decimal"), "type"),
    (lambda d: d["events"][0].pop("anchor"), "noise rule needs an anchor"),
    (lambda d: d["events"][0].update(regex="tick (?P<n>(\\d)\\1)"), "backreferences"),
    (lambda d: d["events"][0].update(regex="tick (?P<n>[)"), "invalid regex"),
    (lambda d: d.update(zone="Nowhere/Land"), "unknown zone"),
    (lambda d: d["events"][0].update(colour="blue"), "unknown key"),
])
def test_invalid_rule_files(tmp_path: Path, mutate: Any, message: str) -> None:
    import tomllib

    doc = {"name": "t", "zone": "UTC", "timestamp_format": "%Y", "record_start": "\\d",
           "header": "(?P<ts>\\S+) (?P<level>\\S+) (?P<logger>\\S+) (?P<message>.*)",
           "events": [{"name": "tick", "noise": True, "anchor": "tick ", "regex": "tick (?P<n>\\d+)",
                       "types": {"n": "int"}}]}
    mutate(doc)
    path = tmp_path / "bad.toml"
    path.write_text(_to_toml(doc))
    assert tomllib.loads(path.read_text())            # the file itself is valid TOML
    with pytest.raises(LogFormatError, match=message):
        load_rules(path)


def _to_toml(doc: dict[str, Any]) -> str:
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)
    out = [f"{k} = {val(v)}" for k, v in doc.items() if k != "events"]
    for ev in doc.get("events", []):
        out.append("[[events]]")
        out += [f"{k} = {val(v)}" for k, v in ev.items()]
    return "\n".join(out) + "\n"


def test_bounded_memory_on_a_large_file(tmp_path: Path) -> None:
    log = write_mytrader_log(tmp_path / "big.log", target_bytes=6_000_000, seed=5)
    tracemalloc.start()
    try:
        reader = read_log(log, "mytrader", chunk_size=256 << 10)
        n = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n > 50 and reader.stats.bytes_read == log.stat().st_size
    assert peak < 3 * (256 << 10) + (1 << 20), f"peak {peak} bytes for a {log.stat().st_size} byte file"


def test_line_longer_than_a_chunk(tmp_path: Path) -> None:
    long_msg = "Telegram alert: " + "x" * 5000 + " SL=None, TP=None"
    p = tmp_path / "long.log"
    p.write_text(MYT.format(m=2, s=0, ms=0, lg="a.b", lv="INFO", msg=long_msg) + "\n" + EDGE_LINES[3] + "\n")
    recs = assert_same(p, load_rules("mytrader"), chunk_sizes=(64, 1000))
    assert recs[0]["event"] == "alert" and recs[0]["fields"]["text"] == "x" * 5000


def test_generator_is_deterministic_and_sized(tmp_path: Path) -> None:
    a = write_mytrader_log(tmp_path / "a.log", target_bytes=200_000, seed=7)
    b = write_mytrader_log(tmp_path / "b.log", target_bytes=200_000, seed=7)
    assert a.read_bytes() == b.read_bytes()
    assert abs(a.stat().st_size - 200_000) < 2_000
    times = [ln[:23] for ln in a.read_text().splitlines() if ln[:4] == "2025"]
    assert times == sorted(times)                       # monotonic timestamps


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples not present")
def test_shared_samples_parse_without_unknown_lines() -> None:
    for name, fmt, n in (("mytrader-bot.log", "mytrader", 29), ("momentum-bot.log", "momentum", 8),
                         ("auto_resolve.log", "momentum", 3)):
        reader = read_log(SAMPLES / name)
        assert reader.rules.name == fmt
        assert len(list(reader)) == n and not reader.stats.unknown
        assert_same(SAMPLES / name, reader.rules, chunk_sizes=(17, 8 << 20))


@settings(max_examples=300, deadline=None)
@given(st.tuples(st.integers(0, 10000), st.integers(0, 14), st.integers(0, 32), st.integers(0, 25),
                 st.integers(0, 61), st.integers(0, 62)),
       st.sampled_from([",", ".", ""]), st.text(alphabet="0123456789x٣", max_size=8))
def test_hand_timestamp_parser_agrees_with_strptime(parts: tuple[int, ...], sep: str, frac: str) -> None:
    from tools.logs.reader import LogReader

    y, mo, d, h, mi, s = parts
    text = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}{sep}{frac}"
    reader = LogReader(Path(__file__), load_rules("mytrader"))
    for _ in range(2):                                   # second call goes through the cache
        try:
            want: datetime | None = datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")
        except ValueError:
            want = None
        assert reader._parse_ts(text) == want, text


# --------------------------------------------------------------------------------------------
# The prefix dispatch (plain ASCII lines): rules sharing a first byte, an anchor outside the
# literal prefix, levels / logger filters, cast errors, an unnamed group, a rule without a
# literal prefix (dispatch off), non-ASCII heads and messages, CRLF, bad timestamps.
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("src, prefix", [
    (r"Order filled: orderId=(?P<id>\d+)", "Order filled: orderId="),
    (r"Bot started \(pid=(?P<pid>\d+)\)", "Bot started (pid="),
    (r"Resolving (?P<n>\d+) pending trades?", "Resolving "),
    (r"ab*c", "a"), (r"ab{2}", "a"), (r"ab?", "a"), (r"zz* mid", "z"),
    (r"\d+ x", ""), (r"(?P<a>x)y", ""), (r"(?i)abc", ""), (r".x", ""), (r"[ab]c", ""),
    (r"alpha (?P<a>\d+)|beta (?P<b>\d+)", ""), (r"x[|]y", "x"), (r"x\|y", "x|y"), (r"x(?:a|b)", "x"),
])
def test_literal_prefix(src: str, prefix: str) -> None:
    from tools.logs.regex_source import literal_prefix as _literal_prefix

    assert _literal_prefix(src) == prefix


_TRICKY = r"""
name = "tricky"
zone = "UTC"
timestamp_format = "%Y-%m-%d %H:%M:%S.%f"
record_start = '\d{4}-\d\d-\d\d \d'
header = '(?P<ts>\S+ \S+) (?P<thread>\[[^\]]*\]) (?P<level>[A-Z]+) (?P<logger>[^:]+): (?P<message>.*)'

[[events]]
name = "tick"
noise = true
anchor = "tick "
regex = 'tick (?P<n>\d+)'
types = { n = "int" }

[[events]]
name = "tock"
noise = true
anchor = "tock"
regex = 'tock(?P<n>\d*)'

[[events]]
name = "tickx"
anchor = "tick"
regex = 'tickx (?P<n>\d+)'
types = { n = "int" }

[[events]]
name = "a_foo"
anchor = "foo"
regex = 'bar (?P<n>\d+) foo'
types = { n = "int" }

[[events]]
name = "b_bar"
anchor = "bar "
regex = 'bar (?P<n>\d+)(?: (?P<tag>\w+))?'
types = { n = "int", tag = "str?" }

[[events]]
name = "c_err"
anchor = "bar "
regex = 'bar (?P<x>.*)'
levels = ["ERROR"]

[[events]]
name = "d_json"
anchor = "baz "
regex = 'baz (?P<j>\{.*\})'
logger = 'app\.x'
types = { j = "json" }
const = { k = 1 }

[[events]]
name = "e_unnamed"
anchor = "qux "
regex = 'qux (\d+) (?P<v>-?\d+(?:\.\d+)?|None) (?P<b>\w+)'
types = { v = "float?", b = "bool" }

[[events]]
name = "g_mid"
anchor = " mid "
regex = 'zz* mid (?P<s>\w*)'

[[events]]
name = "i_sneaky"
anchor = "!!"
regex = 'sneaky (?P<n>\d+)(?P<bang>!!)?'

[[events]]
name = "k_qux"
anchor = "qux "
regex = 'qux (?P<rest>.*)'
"""
_NO_PREFIX_RULE = '''
[[events]]
name = "h_any"
regex = 'any (?P<all>.*)'
'''
_T_TS = ["2026-01-14 21:50:00.123456", "2026-01-14 21:50:00.1234567", "2026-01-14 21:50:00", "2026-01-14 24:00:00.5",
         "2026-02-30 21:50:00.5", "2026-01-14 21:50:00,5"]
_T_MSG = ["tick 1", "tick x", "tickx 5", "tock", "tock12", "bar 5 foo", "bar 5", "bar 5 tag", "bar 5 None", "bar x",
          "bar 99999999999999999999 foo", 'baz {"a": 1}', "baz {bad}", "qux 1 2.5 True", "qux 1 None no",
          "qux 1 2 maybe", "zz mid q", "z mid", "mid", "foo bar 5", "something tick 2", "any thing", "é bar 5", "b",
          "sneaky 5", "sneaky 5!!"]
_T_EXTRA = ["Traceback (most recent call last):", "", "ValueError: é", "2026-01-14 21:50:00.5 [x] INFO"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(0, len(_T_TS) - 1), st.sampled_from(["1", "é"]),
                                st.sampled_from(["INFO", "ERROR"]), st.sampled_from(["app.x", "app.y"]),
                                st.integers(0, len(_T_MSG) + len(_T_EXTRA) - 1), st.booleans()), max_size=30),
       chunk=st.integers(1, 200), no_prefix=st.booleans())
def test_property_dispatch_equals_reference(tmp_path: Path, picks: list[tuple[Any, ...]], chunk: int,
                                            no_prefix: bool) -> None:
    rule = tmp_path / "tricky.toml"
    rule.write_text(_TRICKY + (_NO_PREFIX_RULE if no_prefix else ""))
    rules = load_rules(rule)
    lines = []
    for ts, thread, level, logger, i, crlf in picks:
        line = (f"{_T_TS[ts]} [{thread}] {level} {logger}: {_T_MSG[i]}" if i < len(_T_MSG)
                else _T_EXTRA[i - len(_T_MSG)])
        lines.append(line + ("\r" if crlf else ""))
    p = tmp_path / "tricky.log"
    p.write_bytes("\n".join(lines).encode())
    assert fast_read(p, rules, chunk) == reference_read(p, rules)
    assert fast_read(p, rules, chunk, include_noise=True, include_unknown=True) == \
        reference_read(p, rules, include_noise=True, include_unknown=True)


@pytest.mark.parametrize("no_prefix", [False, True])
def test_dispatch_equals_reference_on_every_combination(tmp_path: Path, no_prefix: bool) -> None:
    rule = tmp_path / "tricky.toml"
    rule.write_text(_TRICKY + (_NO_PREFIX_RULE if no_prefix else ""))
    rules = load_rules(rule)
    lines = []
    for i, (ts, thread, level, logger, msg, crlf) in enumerate(itertools.product(
            _T_TS, ["1", "é"], ["INFO", "ERROR"], ["app.x", "app.y"], _T_MSG, ["", "\r"])):
        lines.append(f"{ts} [{thread}] {level} {logger}: {msg}{crlf}")
        if i % 97 == 0:
            lines.append(_T_EXTRA[i % len(_T_EXTRA)])
    p = tmp_path / "tricky.log"
    p.write_bytes("\n".join(lines).encode())
    recs = assert_same(p, rules, chunk_sizes=(333, 8 << 20))
    assert_same(p, rules, chunk_sizes=(8 << 20,), include_noise=True, include_unknown=True)
    events = Counter(r["event"] for r in recs)
    assert {"tickx", "a_foo", "b_bar", "c_err", "d_json", "e_unnamed", "g_mid", "i_sneaky", "k_qux"} <= set(events)
    assert ("h_any" in events) == no_prefix


_MOM = "2026-01-14 21:50:{s:02d},{ms:03d} [{lv}] {lg}: {msg}"
_MOM_MSG = [
    "ML signal: asset=BTC direction=UP prob=0.50 confidence=0.47 model=ml_rf market=btc-1",
    "Orderbook eth-updown-15m: best_bid=0.42 best_ask=0.44 depth=1537.5 levels=12",
    "Orderbook btc with Balance: usdc=1 peak=2 drawdown=3%",
    "State loaded: balance=251.00 peak_balance=None consecutive_losses=0",
    "Order failed: trade_id=5 error=Placing order: trade_id=1 market=m outcome=Up side=BUY price=1 size=1 cost=1",
    "Order placed: trade_id=17 order_id=0xabc status=live", "Market btc-1 resolved: winner=Down",
    "Market data resolved: winner=Maybe", "Recorded outcome: trade_id=3 won=True pnl=-5.0", "Bot", "",
    "Resolution error (ignored): TimeoutError()",
    "ML signal: asset=BTé direction=UP prob=0.5 confidence=0.4 model=m market=b",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(0, 61), st.sampled_from(["INFO", "ERROR"]),
                                st.sampled_from(["momentum_bot_v12", "møm"]),
                                st.integers(0, len(_MOM_MSG) - 1), st.booleans()), max_size=30),
       chunk=st.integers(1, 200))
def test_property_momentum_equals_reference(tmp_path: Path, picks: list[tuple[Any, ...]], chunk: int) -> None:
    lines = [_MOM.format(s=s, ms=7, lv=lv, lg=lg, msg=_MOM_MSG[i]) + ("\r" if crlf else "")
             for s, lv, lg, i, crlf in picks]
    p = tmp_path / "mom.log"
    p.write_bytes("\n".join(lines).encode())
    rules = load_rules("momentum")
    assert fast_read(p, rules, chunk) == reference_read(p, rules)
    assert fast_read(p, rules, chunk, include_unknown=True) == reference_read(p, rules, include_unknown=True)


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M:%S,%f", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"])
def test_timestamp_formats_agree_with_strptime_on_edges(fmt: str) -> None:
    from dataclasses import replace

    from tools.logs.reader import LogReader

    reader = LogReader(Path(__file__), replace(load_rules("mytrader"), timestamp_format=fmt))
    # fixed-width fields only: strptime also takes "7:05:09", the reader (like before) does not
    days = ("2024-02-29", "2023-02-29", "2026-04-31", "2026-12-31", "0000-01-01", "0001-01-01", "2026-00-10",
            "2026-13-01", "20260105")
    times = ("00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "12:00:61")
    tails = ("", ",5", ".5", ",123456", ".1234567", ",", ".x", "+00:00", ".12+01:00", "Z")
    for day, tm, tail in itertools.product(days, times, tails):
        for sep in (" ", "T"):
            text = f"{day}{sep}{tm}{tail}"
            try:
                want: datetime | None = datetime.strptime(text, fmt)
            except ValueError:
                want = None
            assert reader._parse_ts(text) == want, text
