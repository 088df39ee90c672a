"""Bring-your-own log formats (issue 12): built-in freqtrade / Hummingbot / ib_async grammars, user rule
files, auto-detection by recognised events, and what a report says about what it could not read.

Generated logs come from tools/samples/*_log.py (planted round trips); the real logs in
/work/shared/data are optional (skipped when absent)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tools.logs.formats import pick_format, tws_code
from tools.logs.log_rules import LogFormatError
from tools.samples.freqtrade_log import write_freqtrade_log
from tools.samples.hummingbot_log import write_hummingbot_log
from tools.samples.ib_log import write_ib_log
from tools.samples.logs import write_mytrader_log
from warden.cli import app

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GENERATORS = {"freqtrade": write_freqtrade_log, "hummingbot": write_hummingbot_log, "ib_async": write_ib_log}


def replay(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["replay", *args], env=env)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("fmt", sorted(GENERATORS))
def test_replay_trades_returns_the_planted_round_trips(tmp_path: Path, fmt: str) -> None:
    log, planted = GENERATORS[fmt](tmp_path / f"{fmt}.log")
    code, out, err = replay("--log", str(log), "--trades", "--json")   # auto-detected
    assert code == 0, err
    trips = json.loads(out)
    assert len(trips) == len(planted), (trips, planted)
    for got, want in zip(trips, planted):
        assert (got["symbol"], got["side"]) == (want.symbol, want.side)
        assert got["qty"] == pytest.approx(want.qty) and got["entry_price"] == pytest.approx(want.entry_price)
        assert got["exit_price"] == pytest.approx(want.exit_price)
        assert got["net_pnl_usd"] == pytest.approx(want.net_pnl, abs=1e-6), (got, want)
    assert f"as {fmt}:" in err and "recognised" in err and "unreadable" in err


@pytest.mark.parametrize("fmt", sorted(GENERATORS))
def test_auto_detection_picks_each_format(tmp_path: Path, fmt: str) -> None:
    log, _ = GENERATORS[fmt](tmp_path / "bot.log")
    assert pick_format(log).name == fmt


def test_mytrader_and_freqtrade_share_a_header_but_are_told_apart(tmp_path: Path) -> None:
    es = write_mytrader_log(tmp_path / "es.log", target_bytes=60_000, seed=1)
    ft, _ = write_freqtrade_log(tmp_path / "ft.log")
    assert pick_format(es).name == "mytrader" and pick_format(ft).name == "freqtrade"


def test_duplicated_lines_do_not_double_trades(tmp_path: Path) -> None:
    log, planted = write_ib_log(tmp_path / "ib.log")
    lines = log.read_text().splitlines()
    doubled = tmp_path / "doubled.log"
    doubled.write_text("\n".join(ln for ln in lines for _ in (0, 1)) + "\n")
    code, out, err = replay("--log", str(doubled), "--trades", "--json")
    assert code == 0 and len(json.loads(out)) == len(planted)
    assert "duplicated order/fill lines were ignored" in err


def test_out_of_order_timestamps_are_counted(tmp_path: Path) -> None:
    log, _ = write_hummingbot_log(tmp_path / "hb.log")
    lines = log.read_text().splitlines()
    lines[10], lines[30] = lines[30], lines[10]
    log.write_text("\n".join(lines) + "\n")
    code, _, err = replay("--log", str(log), "--trades", "--json")
    assert code == 0 and "timestamp earlier than a record before them" in err


def test_a_user_rule_file_by_path_and_in_the_data_dir(tmp_path: Path) -> None:
    rules = tmp_path / "tiny.toml"
    rules.write_text('''name = "tiny"
zone = "UTC"
timestamp_format = "%Y-%m-%dT%H:%M:%S"
record_start = '\\d{4}-\\d\\d-\\d\\dT'
header = '(?P<ts>[^ ]+) (?P<level>[A-Z]+) (?P<logger>[^:]+): (?P<message>.*)'

[[events]]
name = "filled"
anchor = "fill "
regex = 'fill (?P<side>buy|sell) (?P<qty>[0-9.]+) (?P<symbol>[A-Z]+) @ (?P<price>[0-9.]+) id=(?P<exec_id>[0-9]+)'
types = { qty = "float", price = "float" }
''')
    log = tmp_path / "tiny.log"
    log.write_text("2026-01-02T10:00:00 INFO bot: fill buy 2 SOL @ 100.5 id=1\n"
                   "2026-01-02T10:05:00 INFO bot: thinking\n"
                   "2026-01-02T10:09:00 INFO bot: fill sell 2 SOL @ 103 id=2\n")
    code, out, err = replay("--log", str(log), "--trades", "--json", "--format", str(rules))
    assert code == 0, err
    assert [(t["entry_price"], t["exit_price"], t["net_pnl_usd"]) for t in json.loads(out)] == [(100.5, 103.0, 5.0)]
    # the same file dropped into <data-dir>/rules: found by name and by auto-detection
    data = tmp_path / "data"
    (data / "rules").mkdir(parents=True)
    shutil.copy(rules, data / "rules" / "tiny.toml")
    env = {"WARDEN_DATA_DIR": str(data)}
    assert replay("--log", str(log), "--trades", "--json", "--format", "tiny", env=env)[0] == 0
    code, out, err = replay("--log", str(log), "--trades", "--json", env=env)
    assert code == 0 and len(json.loads(out)) == 1, err


def test_a_copy_of_a_format_makes_detection_ambiguous_and_names_the_candidates(tmp_path: Path) -> None:
    users = tmp_path / "rules"
    users.mkdir()
    shutil.copy(Path("tools/logs/rules/freqtrade.toml"), users / "myft.toml")
    ft, _ = write_freqtrade_log(tmp_path / "ft.log")
    with pytest.raises(LogFormatError, match=r"ambiguous.*freqtrade.*--format|ambiguous.*myft.*--format"):
        pick_format(ft, [users])
    es = write_mytrader_log(tmp_path / "es.log", target_bytes=30_000, seed=2)
    assert pick_format(es, [users]).name == "mytrader"      # the ES bot's detection is unaffected


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_log_nothing_recognises_is_an_error_not_a_clean_report(tmp_path: Path) -> None:
    log = tmp_path / "strategy.log"   # the mytrader/freqtrade header, but no line any rule knows
    log.write_text("".join(f"2025-12-12 22:38:{i:02d},168 - Market_Making - INFO - kappa={i}\n" for i in range(40)))
    for fmt in ("auto", "freqtrade"):
        r = _cli("replay", "--log", str(log), "--trades", "--json", "--format", fmt)
        assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert "recognised" in r.stderr


def test_missing_events_are_named_per_analysis(tmp_path: Path) -> None:
    ft, _ = write_freqtrade_log(tmp_path / "ft.log")
    r = _cli("replay", "--log", str(ft), "--all")
    assert r.returncode == 2 and "maps no submitted event" in r.stderr and "--trades works" in r.stderr


def test_tws_codes() -> None:
    assert tws_code(2104)[0] == "notice" and tws_code(504)[0] == "connection" and tws_code(201)[0] == "order"
    assert tws_code(2199)[0] == "notice" and tws_code(9999)[0] == "error"


# -- the real logs (optional) --------------------------------------------------------------------------

def _need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


def test_real_freqtrade_log_gives_one_closed_trade() -> None:
    log = _need(DATA / "C1_freqtrade_dryrun_log_hyperliquid_eth" / "freqtrade.log")
    code, out, err = replay("--log", str(log), "--trades", "--json")
    assert code == 0, err
    trips = json.loads(out)
    # 30 rpc "exit" attempts and 29 cancelled sells are not trades: one round trip, -1.4508 USDC after fees
    assert len(trips) == 1 and trips[0]["net_pnl_usd"] == pytest.approx(-1.45080875, abs=1e-6)
    assert trips[0]["broker_realized_pnl"] == pytest.approx(-1.45080875) and not trips[0]["pnl_mismatch"]
    assert "WARNING: only" in err and "Market_Making" in err      # the strategy's own lines are not understood


@pytest.mark.parametrize("name,fills", [("logs_conf_pure_mm_4.log.2022-12-21", 134),
                                        ("logs_conf_pure_mm_4.log.2022-12-22", 60)])
def test_real_hummingbot_logs_count_each_fill_once(name: str, fills: int) -> None:
    from tools.logs.fills import fills_from_records
    from tools.logs.reader import read_log

    log = _need(DATA / "C2_hummingbot_kucoin_pure_mm_logs" / name)
    reader = read_log(log)
    assert reader.rules.name == "hummingbot"
    fs = fills_from_records(reader)
    assert len(fs.fills) == fills and not fs.bad
    assert reader.stats.continuation_lines > 0          # the tracebacks stay under their ERROR line


def test_real_ib_excerpts_read_tws_codes() -> None:
    from tools.logs.reader import read_log

    log = _need(DATA / "C5_ib_api_log_excerpts" / "ib_log_excerpts_from_github_issues.txt")
    recs: list[Any] = list(read_log(log, "ib_zipline"))
    errors = [r.fields["code"] for r in recs if r.event == "error"]
    notices = {r.fields["code"] for r in recs if r.event == "tws_notice"}
    assert errors == [504] and {2104, 2106} <= notices
