"""Reader speed (issue 12) without a changed result: the counts and trades of a generated log are pinned
(a prefilter that drops a needed line fails here), the regex rewrites are exact, the unsplit noise total
equals the split one, and `warden replay` starts without importing other commands' dependencies."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_log_reader import assert_same
from tools.logs.log_rules import available_formats, load_rules
from tools.logs.reader import read_log
from tools.logs.regex_source import ascii_fast, single_way, uncaptured
from tools.logs.replay import replay_log
from tools.samples.logs import write_mytrader_log
from trading.guards import GuardConfig

DATA = Path("/work/shared/data")
H = "2025-12-12 23:00:{s:02d},000 - {lg} - {lv} - {msg}"
EXEC, STREAM = "mytrader.execution.ib_executor", "mytrader.data.stream"
# Lines a too-eager prefilter would get wrong, appended after the generated day (in time order).
TRAPS = [
    H.format(s=0, lg=STREAM, lv="DEBUG", msg="Order submitted: orderId=90001 action=BUY qty=1 symbol=ESZ5 type=MKT"),
    H.format(s=1, lg=STREAM, lv="DEBUG", msg="Market data: ESZ5 bid=1 ask=2 last=1 volume=1 Order filled: orderId=1"),
    H.format(s=2, lg=EXEC, lv="INFO", msg="Order filled: orderId=90001 action=BUY qty=1 avgPrice=6900.00") + "\r",
    H.format(s=3, lg=STREAM, lv="DEBUG", msg="Bar closed: Market data: ESZ5 bid=1 ask=2 last=1 volume=1"),
    "2025-12-12 23:00:04,00 - mytrader.data.stream - DEBUG - Market data: ESZ5 bid=1 ask=2 last=1 volume=1",
    H.format(s=5, lg=STREAM, lv="DEBUG", msg="Market data: ESZé bid=1 ask=2 last=1 volume=1"),
    H.format(s=6, lg=EXEC, lv="INFO", msg="Order submitted: orderId=90002 action=SELL qty=1 symbol=ESZ5 type=MKT"),
    H.format(s=7, lg=EXEC, lv="INFO", msg="Order filled: orderId=90002 action=SELL qty=1 avgPrice=6910.00"),
]


@pytest.fixture(scope="module")
def trap_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("speed") / "mytrader-2mb.log"
    write_mytrader_log(p, target_bytes=2_000_000, seed=1)
    with p.open("ab") as fh:
        fh.write(("\n".join(TRAPS) + "\n").encode())
    return p


def test_generated_log_counts_and_trades_are_pinned(trap_log: Path) -> None:
    res = replay_log(trap_log, GuardConfig(), "mytrader")
    s = res.stats
    assert s.summary() == {"lines_read": 16713, "recognised": 16026, "unknown": 670, "unreadable": 0,
                           "continuation": 17, "understood_share": 0.9599}
    assert (s.out_of_order, s.duplicate_records, s.noise_unsplit) == (0, 0, 15945)
    assert s.unknown == {(f"{STREAM}", "DEBUG"): 1, ("mytrader.features.engine", "DEBUG"): 504,
                         ("mytrader.strategies.hybrid", "INFO"): 161, (STREAM, "ERROR"): 4}
    assert [(o.order_id, o.line_no, o.verdict is not None and o.verdict.allowed) for o in res.orders.values()] == [
        ("14731", 1626, True), ("14732", 1627, True), ("14733", 1628, True), ("14812", 3186, False),
        ("15638", 4807, True), ("16001", 5949, True), ("16002", 5950, True), ("16003", 5951, True),
        ("17101", 13400, True), ("17102", 13401, True), ("17103", 13402, True), ("90001", 16706, False),
        ("90002", 16712, False)]
    assert [(t.entry_order_id, t.exit_order_id, t.gross_pnl) for t in res.trips()] == [
        ("14731", "14733", -512.5), ("14812", "15638", -1700.0), ("16001", "16002", 600.0),
        ("17101", "17103", -212.5), ("90001", "90002", 500.0)]
    assert [f.exec_id for f in res.fills][-2:] == ["90001@L16708", "90002@L16713"]


def test_noise_as_one_total_changes_nothing_else(trap_log: Path) -> None:
    logs = [trap_log, DATA / "C1_freqtrade_dryrun_log_hyperliquid_eth" / "freqtrade.log"]
    for log in (p for p in logs if p.is_file()):
        split, total = read_log(log, "auto"), read_log(log, "auto", noise_by_rule=False)
        recs = [(r.line_no, r.event, r.fields, r.extra) for r in split]
        assert recs == [(r.line_no, r.event, r.fields, r.extra) for r in total]
        assert split.stats.summary() == total.stats.summary()
        noise = {r.name for r in split.rules.noise_events}
        n = sum(v for k, v in split.stats.matched.items() if k in noise)
        assert total.stats.noise_unsplit == (n if len(noise) > 1 else 0)
        assert "noise_unsplit" not in split.stats.as_dict()


def test_the_fast_path_equals_the_per_line_reference_on_the_traps(trap_log: Path) -> None:
    assert_same(trap_log, load_rules("mytrader"), chunk_sizes=(61, 4096, 8 << 20))


# -- the regex rewrites are exact ------------------------------------------------------------------

@pytest.mark.parametrize("src,fast", [
    (r"\d{4}-\d{2}", "[0-9][0-9][0-9][0-9]-[0-9][0-9]"),
    (r"(?P<lg>[^ ]+) - (?P<lv>[A-Z]+) - ", r"(?P<lg>[^ ]++) - (?P<lv>[A-Z]++) - "),
    (r"[\d.]{2}x{2,3}(?:ab){3}", "[0-9.][0-9.]x{2,3}(?:ab){3}"),
    (r"a+a", "a+a"), (r"a+b", "a++b"), (r"[^ ]+ ?x", "[^ ]+ ?x"), (r"(?:[^ ]+)* x", "(?:[^ ]+)* x"),
    (r"a+|b", "a+|b"), (r"\w+ ", r"\w+ "), (r".+ ", ".+ "), (r"\x41{2}", r"\x41{2}"), (r"(?i)x{2}", "(?i)x{2}"),
    (r"x{3}?", "x{3}?"),
])
def test_ascii_fast_rewrites(src: str, fast: str) -> None:
    assert ascii_fast(src) == fast


@pytest.mark.parametrize("src,one", [("a++b", True), ("(?:[0-9][0-9]) - [^ ]++ - ", True), ("a+b", False),
                                     ("a|b", False), ("(?:x|y)z", False), ("a{2,3}", False), ("a*+b?+", True)])
def test_single_way(src: str, one: bool) -> None:
    assert single_way(src) is one


def _patterns() -> list[str]:
    out = [r"a+a", r"a+b", r"(?:a|[^ ]+) x", r"[^ ]+\ x", r"(?=[^ ]+)\S", r"x{3}?y", r"[A-Z_]+:\d+", r" *\[\d{2}\]"]
    for name in available_formats():
        rules = load_rules(name)
        out += [rules.header.pattern, rules.record_start.pattern, rules.header_prefix,
                uncaptured(rules.header_source, frozenset({"ts", "logger", "level"}))]
        out += [r.source for r in rules.events]
    return out


PATTERNS = [(p, re.compile(p, re.ASCII), re.compile(ascii_fast(p), re.ASCII)) for p in _patterns()]
TEXT = st.text(alphabet="0123456789- :,.[]abAZ_xyi \tEDG", max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(PATTERNS))), TEXT, st.sampled_from(["", "2025-12-12 08:00:01,123 - a.b - INFO - "]))
def test_ascii_fast_matches_exactly_what_the_original_matches(i: int, text: str, head: str) -> None:
    _, orig, fast = PATTERNS[i]
    for s in (text, head + text):
        a, b = orig.match(s), fast.match(s)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert a.span() == b.span() and a.groupdict() == b.groupdict()


# -- start-up: `warden replay` imports replay's dependencies only --------------------------------------

def test_replay_starts_without_other_commands_dependencies(trap_log: Path) -> None:
    code = ("import io, json, sys, contextlib\nfrom warden.cli import run\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = run(['replay', '--log', {str(trap_log)!r}, '--all', '--json'])\n"
            "print(json.dumps([rc, sorted(sys.modules)]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    rc, mods = json.loads(r.stdout.strip().splitlines()[-1])
    assert rc == 0, r.stderr
    heavy = ("warden.commands.review", "warden.review_display", "graphs", "agents", "tools.review", "tools.memory",
             "langgraph", "pandas", "numpy", "chromadb", "rich.markdown", "rich.console")
    assert not [m for m in mods if m.startswith(heavy)]


def test_every_command_is_still_there() -> None:
    from warden.cli import app

    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert {"replay", "review", "ask", "risk", "sample-log", "sample-candles", "embeddings"} <= names
    r = subprocess.run([sys.executable, "-m", "warden.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and all(n in r.stdout for n in ("replay", "review", "sample-log", "risk"))
    for cmd in (["sample-log", "--help"], ["risk", "status", "--help"], ["replay", "--help"]):
        r = subprocess.run([sys.executable, "-m", "warden.cli", *cmd], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "Usage: warden " + cmd[0] in " ".join(r.stdout.split()), r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "warden.cli", "no-such-command"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "No such command" in r.stderr


def test_no_arguments_print_the_help_once() -> None:
    r = subprocess.run([sys.executable, "-m", "warden.cli"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.count("Usage: warden") == 1 and "replay" in r.stdout
