"""`warden replay`: the seed-000 order is blocked by the same guards, PnL comes from fills."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.logs.replay import replay_log
from tools.samples.logs import write_momentum_log, write_mytrader_log
from trading.settings import GuardConfig
from warden.cli import app, main
from warden.errors import UserError

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "formats/samples/mytrader-bot.log"
ORDER_KEYS = ["order_id", "symbol", "action", "qty", "intent", "live_position_before", "believed_position",
              "advisory", "would_block", "reason_codes", "fill_price"]
TRIP_KEYS = ["entry_order_id", "exit_order_id", "symbol", "side", "qty", "entry_price", "exit_price", "pnl_usd",
             "broker_realized_pnl", "pnl_mismatch"]


@pytest.fixture(scope="module")
def day_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a realistic day: the incident plus normal trades, padded with noise and tracebacks
    return write_mytrader_log(tmp_path_factory.mktemp("replay") / "bot.log", target_bytes=400_000, seed=11)


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["replay", *args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, (r.stdout if r.exit_code == 0 else r.output)   # stderr carries the reading summary


def test_order_14812_is_blocked_with_the_seed_reasons(day_log: Path) -> None:
    code, out = _run("--log", str(day_log), "--order-id", "14812", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert list(doc)[: len(ORDER_KEYS)] == ORDER_KEYS
    assert doc["order_id"] == "14812" and doc["symbol"] == "ESZ5" and doc["action"] == "BUY" and doc["qty"] == 1
    assert doc["intent"] == "exit" and doc["judged_as"] == "entry"
    assert doc["live_position_before"] == 0 and doc["believed_position"] == -1
    assert doc["advisory"] == {"action": "WAIT", "confidence": 0.5} and doc["advisory_ignored_by_bot"] is True
    assert doc["would_block"] is True
    assert doc["reason_codes"] == ["NO_EXPOSURE", "AWS_WAIT", "MISSING_PROTECTION"]
    assert doc["fill_price"] == 6890.5
    assert doc["time"] == "2025-12-12T08:53:13.224000-06:00"        # America/Chicago, zone-aware
    assert doc["signal"]["label"] == "SCALP_BUY" and doc["signal"]["confidence"] == 0.36


def test_human_output_ends_with_the_verdict_line(day_log: Path) -> None:
    code, out = _run("--log", str(day_log), "--order-id", "14812")
    assert code == 0
    lines = out.rstrip("\n").splitlines()
    assert lines[-2] == "Guardrails would block trade: ✅"
    assert lines[-1] == "Reason codes: NO_EXPOSURE, AWS_WAIT, MISSING_PROTECTION"
    assert "believed position" in out and "LIVE position before" in out
    code, out = _run("--log", str(day_log), "--order-id", "15638")
    assert out.rstrip("\n").splitlines()[-2] == "Guardrails would block trade: ❌"


def test_round_trip_pnl_from_fills_flags_the_broker(day_log: Path) -> None:
    code, out = _run("--log", str(day_log), "--trades", "--json")
    assert code == 0, out
    trips = json.loads(out)
    for t in trips:
        assert list(t)[: len(TRIP_KEYS)] == TRIP_KEYS and "fees_usd" in t and "net_pnl_usd" in t
    bad = next(t for t in trips if t["entry_order_id"] == "14812")
    assert bad["exit_order_id"] == "15638" and bad["side"] == "BUY" and bad["qty"] == 1
    assert (bad["entry_price"], bad["exit_price"]) == (6890.5, 6856.5)
    assert bad["pnl_usd"] == -1700.0 and bad["broker_realized_pnl"] == -592.0 and bad["pnl_mismatch"] is True
    assert bad["fees_usd"] == 2.25 and bad["net_pnl_usd"] == -1702.25
    good = next(t for t in trips if t["entry_order_id"] == "16001")
    assert good["pnl_usd"] == 600.0 and good["broker_realized_pnl"] == 595.5 and good["pnl_mismatch"] is False
    assert [t["entry_order_id"] for t in trips] == ["14731", "14812", "16001", "17101"]
    code, out = _run("--log", str(day_log), "--trades")
    assert "-1,700.00" in out and "-592.00" in out


def test_all_orders_and_protective_children_inherit(day_log: Path) -> None:
    code, out = _run("--log", str(day_log), "--all", "--json", "--max-loss", "100")
    assert code == 0, out
    docs = {d["order_id"]: d for d in json.loads(out)}
    assert docs["15638"]["would_block"] is False and docs["15638"]["reason_codes"] == []   # genuine exit
    # a 6-point stop on ES is 300 USD: over a 100 USD cap; the bracket children share the verdict
    assert docs["16001"]["would_block"] and docs["16001"]["reason_codes"] == ["MAX_LOSS_CAP"]
    for child in ("16002", "16003"):
        assert docs[child]["intent"] == "protective" and docs[child]["inherited_from"] == "16001"
        assert docs[child]["would_block"] and docs[child]["reason_codes"] == ["MAX_LOSS_CAP"]
    code, out = _run("--log", str(day_log), "--all", "--json")
    docs = {d["order_id"]: d for d in json.loads(out)}
    assert [k for k, d in docs.items() if d["would_block"]] == ["14812"]
    code, out = _run("--log", str(day_log), "--all")
    assert "1 of 11 orders would have been blocked" in out


def test_timezone_override(day_log: Path) -> None:
    code, out = _run("--log", str(day_log), "--order-id", "14812", "--json", "--tz", "UTC")
    doc = json.loads(out)
    assert doc["time"] == "2025-12-12T08:53:13.224000+00:00" and doc["would_block"] is True


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "hand.log"
    p.write_text("\n".join(f"2025-12-12 {ln}" for ln in lines) + "\n")
    return p


def test_stale_advisory_and_unknown_position(tmp_path: Path) -> None:
    ltm, ib = "mytrader.execution.live_trading_manager", "mytrader.execution.ib_executor"
    log = _write(tmp_path, [
        "10:00:00,000 - mytrader.aws.decision_agent - INFO - AWS Decision Agent returned BUY (80%)",
        f"10:10:00,000 - {ltm} - INFO - Placing entry order: BUY 1 MESZ5 @ 6861.25 (SL=6855.25, TP=6873.25)",
        f"10:10:00,100 - {ib} - INFO - Order submitted: orderId=1 action=BUY qty=1 symbol=MESZ5 type=LMT lmtPrice=6861.25",
        f"10:10:00,200 - {ib} - INFO - Order filled: orderId=1 action=BUY qty=1 avgPrice=6861.25",
        f"10:10:00,300 - {ib} - INFO - Position update: MESZ5 position=1 avgCost=34306.25",
        "10:10:30,000 - mytrader.aws.decision_agent - INFO - AWS Decision Agent returned BUY (80%)",
        f"10:10:31,000 - {ltm} - INFO - Placing entry order: BUY 1 MESZ5 @ 6862.00 (SL=6856.00, TP=6874.00)",
        f"10:10:31,100 - {ib} - INFO - Order submitted: orderId=2 action=BUY qty=1 symbol=MESZ5 type=LMT lmtPrice=6862.00",
        f"10:11:00,000 - {ltm} - INFO - Placing exit order: SELL 5 MESZ5 (SL=None, TP=None)",
        f"10:11:00,100 - {ib} - INFO - Order submitted: orderId=3 action=SELL qty=5 symbol=MESZ5 type=MKT",
    ])
    res = replay_log(log, GuardConfig())
    first, second, third = (res.order(i).verdict for i in ("1", "2", "3"))
    assert first is not None and second is not None and third is not None
    # no position seen before the first order: fail closed; the advisory is 10 minutes old
    assert first.reason_codes == ["POSITION_UNKNOWN", "ADVISORY_STALE"]
    assert second.allowed and res.order("2").live_position_before == 1
    # an oversized exit (5 against a live 1: order 2 never filled) is capped to the live position by
    # default (issue 10, hole 6)
    assert "REDUCE_ONLY_CAPPED" in third.reason_codes and third.intent.qty == 1
    # with the cap switched off it would flip the book: blocked
    strict = replay_log(log, GuardConfig(cap_reduce_only_qty=False)).order("3").verdict
    assert strict is not None and not strict.allowed and "REDUCE_ONLY_VIOLATION" in strict.reason_codes


def test_momentum_log_is_refused_clearly(tmp_path: Path) -> None:
    log = write_momentum_log(tmp_path / "bot.log")
    # the momentum format maps no order submissions: the message names the missing event
    with pytest.raises(UserError, match="maps no submitted event"):
        _run("--log", str(log), "--all")


@pytest.mark.parametrize("args, needle", [
    (["--order-id", "99999"], "order 99999 not found"),
    (["--all", "--trades"], "exactly one of"),
    ([], "exactly one of"),
    (["--all", "--format", "momentum"], "maps no submitted event"),
    (["--all", "--tz", "Mars/Base"], "time zone"),
    (["--all", "--max-loss", "-5"], "--max-loss"),
])
def test_user_errors_are_one_line(day_log: Path, args: list[str], needle: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["warden", "replay", "--log", str(day_log), *args])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code not in (0, None)
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_unreadable_inputs_exit_non_zero_without_traceback(tmp_path: Path) -> None:
    junk = tmp_path / "junk.log"
    junk.write_text("not a log line\nnor this\n")
    for target, needle in ((tmp_path / "missing.log", "does not exist"), (junk, "cannot detect")):
        r = subprocess.run([sys.executable, "-m", "warden.cli", "replay", "--log", str(target), "--all"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0
        assert needle in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not SAMPLE.is_file(), reason="shared sample not present")
def test_acceptance_on_the_shared_sample() -> None:
    code, out = _run("--log", str(SAMPLE), "--order-id", "14812", "--json")
    doc = json.loads(out)
    assert doc["would_block"] and {"NO_EXPOSURE", "AWS_WAIT", "MISSING_PROTECTION"} <= set(doc["reason_codes"])
    code, out = _run("--log", str(SAMPLE), "--trades", "--json")
    trip = next(t for t in json.loads(out) if t["entry_order_id"] == "14812")
    assert trip["exit_order_id"] == "15638" and trip["pnl_usd"] == -1700.0
    assert trip["broker_realized_pnl"] == -592.0 and trip["pnl_mismatch"] is True


def test_sample_log_command_feeds_replay(tmp_path: Path) -> None:
    out = tmp_path / "sample.log"
    r = CliRunner().invoke(app, ["sample-log", "--out", str(out), "--seed", "2"])
    assert r.exit_code == 0, r.output
    res = replay_log(out, GuardConfig())
    v = res.order("14812").verdict
    assert v is not None and not v.allowed
    r = CliRunner().invoke(app, ["sample-log", "--out", str(tmp_path / "m.log"), "--format", "momentum"])
    assert r.exit_code == 0 and (tmp_path / "m.log").read_text().count("Placing order:") == 6
