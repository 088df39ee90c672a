"""Readers that cannot be broken by their input (issue 12): bounded memory, bad values counted, one clear
error at most, never a traceback; a bounded hypothesis fuzz over mutated logs of every built-in format."""
from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.logs.log_rules import LogFormatError
from tools.logs.reader import read_log
from tools.logs.replay import ReplayError, replay_log
from tools.samples.freqtrade_log import write_freqtrade_log
from tools.samples.hummingbot_log import write_hummingbot_log
from tools.samples.ib_log import write_ib_log
from tools.samples.logs import write_mytrader_log
from trading.guards import GuardConfig

HEAD = "2025-12-12 10:00:00,000 - mytrader.execution.ib_executor - INFO - "


def _blank_log(path: Path, kb: int) -> Path:
    with path.open("w") as fh:      # one record, then KB of continuation (blank) lines under it
        fh.write(HEAD + "Order filled: orderId=1 action=BUY qty=1 avgPrice=6861.25\n")
        fh.write("\n" * (kb << 10))
    return path


def test_blank_lines_keep_memory_bounded(tmp_path: Path) -> None:
    log = _blank_log(tmp_path / "blank.log", 64)
    tracemalloc.start()
    try:
        reader = read_log(log, "mytrader", chunk_size=16 << 10)
        recs = list(reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(recs) == 1 and len(recs[0].extra) == 200
    assert reader.stats.dropped_continuation_lines == (64 << 10) - 200
    assert peak < 1 << 20, f"peak {peak / 1e6:.1f} MB for 64 KB of blank lines"


@pytest.mark.slow
def test_ten_mb_of_blank_lines_stay_under_100_mb_rss(tmp_path: Path) -> None:
    """The issue's case: 10 MB of blank lines reached 780 MB RSS (continuation lines accumulated)."""
    code = ("import resource, sys; from tools.logs.reader import read_log; r = read_log(sys.argv[1], 'mytrader'); "
            "n = sum(1 for _ in r); print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    rss = {}
    for kb in (1, 10 << 10):
        log = _blank_log(tmp_path / f"blank{kb}.log", kb)
        r = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, timeout=900)
        n, rss_kb = r.stdout.split()
        assert n == "1", r.stdout
        rss[kb] = int(rss_kb)
    assert rss[10 << 10] - rss[1] < 48 << 10, f"RSS grew by {(rss[10 << 10] - rss[1]) >> 10} MB"


@pytest.mark.parametrize("message,event", [
    ("Order filled: orderId=1 action=BUY qty=1 avgPrice=" + "9" * 400, "filled"),          # a 400-digit price
    ("Order filled: orderId=1 action=BUY qty=1 avgPrice=1e999", "filled"),                 # inf
    ("EVENT " + "[" * 100_000 + "]" * 100_000, "structured_event"),                          # deeply nested JSON
    ('EVENT {"x": NaN}', "structured_event"),
])
def test_absurd_values_are_counted_bad_lines_not_tracebacks(tmp_path: Path, message: str, event: str) -> None:
    log = tmp_path / "bad.log"
    log.write_text(HEAD + "Position update: ESZ5 position=0 avgCost=0.0\n" + HEAD + message + "\n")
    reader = read_log(log, "mytrader")
    recs = list(reader)
    assert [r.event for r in recs] == ["position"]
    s = reader.stats.summary()
    assert s["unreadable"] + s["unknown"] >= 1 and s["lines_read"] == 2


def test_markup_in_a_file_name_is_printed_as_text(tmp_path: Path) -> None:
    log, _ = write_ib_log(tmp_path / "[bold red]x[/bold red][link=http://e]y.log")
    r = subprocess.run([sys.executable, "-m", "warden.cli", "replay", "--log", str(log), "--trades"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "[bold red]x[/bold" in r.stdout        # shown as text (the title may wrap after it), not styled


def test_a_binary_file_is_one_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.log"
    junk.write_bytes(bytes(range(256)) * 4000)
    r = subprocess.run([sys.executable, "-m", "warden.cli", "replay", "--log", str(junk), "--trades", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- the fuzz ------------------------------------------------------------------------------------------

_BASES: dict[str, list[str]] = {}


def _base(tmp: Path, name: str) -> list[str]:
    if name not in _BASES:
        writer = {"mytrader": lambda p: write_mytrader_log(p, target_bytes=40_000, seed=4),
                  "freqtrade": lambda p: write_freqtrade_log(p, n_trips=2)[0],
                  "hummingbot": lambda p: write_hummingbot_log(p, n_trips=2)[0],
                  "ib_async": lambda p: write_ib_log(p, n_trips=2)[0]}[name]
        _BASES[name] = writer(tmp / f"{name}.base").read_text().splitlines()
    return _BASES[name]


JUNK = st.sampled_from(["", " ", "\x00\xff", "9" * 400, "1e999", "NaN", "[" * 5000, "{\"a\":" * 3000,
                        "Traceback (most recent call last):", "\r", "\t" * 50, "é" * 10, "-" * 2000])
mutation = st.tuples(st.sampled_from(["dup", "swap", "cut", "junk", "inject", "drop"]), st.integers(0, 10_000),
                     st.integers(0, 10_000), JUNK)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["mytrader", "freqtrade", "hummingbot", "ib_async"]),
       muts=st.lists(mutation, min_size=1, max_size=12), auto=st.booleans())
def test_fuzz_mutated_logs_never_traceback(tmp_path: Path, fmt: str, muts: list[tuple[str, int, int, str]],
                                           auto: bool) -> None:
    lines = list(_base(tmp_path, fmt))
    for op, i, j, junk in muts:
        if not lines:
            lines = [junk]
            continue
        i, j = i % len(lines), j % len(lines)
        if op == "dup":
            lines.insert(j, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cut":
            lines[i] = lines[i][: j % (len(lines[i]) + 1)]
        elif op == "junk":
            lines[i] = lines[i] + junk
        elif op == "inject":
            lines.insert(i, junk)
        else:
            del lines[i]
    log = tmp_path / "fuzzed.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    tracemalloc.start()
    try:
        for analysis in ("trades", "orders"):
            try:
                res = replay_log(log, GuardConfig(), "auto" if auto else fmt, analysis=analysis)
            except (LogFormatError, ReplayError) as exc:
                assert "\n" not in str(exc)          # one clear line
                continue
            s = res.stats.summary()
            assert s["lines_read"] >= 1 and s["recognised"] >= 1
            assert s["recognised"] + s["unknown"] + s["unreadable"] <= s["lines_read"] + s["unreadable"]
            json.dumps(s, allow_nan=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
