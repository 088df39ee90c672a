"""The operator commands are the only way to move the peak down, clear a halt or repair a ledger; status
lists every ledger of the data dir (live and paper accounts)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from trading.records.risk_ledger import RiskLedger
from warden.cli import app
from warden.cli import run as main


def test_risk_status_reset_and_clear(tmp_path: Path) -> None:
    led = RiskLedger(tmp_path / "risk" / "ledger.jsonl")
    led.mark_equity(251.0, ts=datetime(2026, 1, 14, tzinfo=UTC))
    led.mark_equity(14.91, ts=datetime(2026, 1, 15, tzinfo=UTC))
    r = CliRunner().invoke(app, ["risk", "status", "--data-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    [doc] = json.loads(r.output)["ledgers"]
    assert doc["peak_equity"] == 251.0 and doc["halted"] is True and round(doc["drawdown_pct"], 1) == 94.1
    assert doc["halts"] == ["DRAWDOWN_HALT"] and doc["last_entry"].startswith("2026-01-15")
    r = CliRunner().invoke(app, ["risk", "clear-halt", "--data-dir", str(tmp_path), "--operator", "amy",
                                 "--note", "post-mortem done"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["risk", "reset-peak", "--data-dir", str(tmp_path), "--operator", "amy",
                                 "--note", "restart with new capital"])
    assert r.exit_code == 0, r.output
    st = RiskLedger(tmp_path / "risk" / "ledger.jsonl").state()
    assert not st.halted and st.peak_equity == 14.91


def _two_ledgers(root: Path) -> Path:
    live = RiskLedger(root / "risk" / "ledger.jsonl", broker="ib", account="DU123")
    live.describe_owner()
    live.mark_equity(100_000.0, ts=datetime(2026, 1, 14, tzinfo=UTC))
    paper = RiskLedger(root / "risk" / "paper" / "paper-7.jsonl")
    paper.mark_equity(100_000.0, ts=datetime(2026, 1, 14, tzinfo=UTC))
    paper.mark_equity(50_000.0, ts=datetime(2026, 1, 15, tzinfo=UTC))      # the paper run halted
    return root / "risk" / "paper" / "paper-7.jsonl"


def test_status_lists_every_ledger_and_writers_need_a_choice(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    paper = _two_ledgers(tmp_path)
    r = CliRunner().invoke(app, ["risk", "status", "--data-dir", str(tmp_path), "--json"])
    docs = {d["account"]: d for d in json.loads(r.output)["ledgers"]}
    assert docs["DU123"]["broker"] == "ib" and not docs["DU123"]["halted"]
    assert docs["paper-7"]["broker"] == "paper" and docs["paper-7"]["halted"]
    # two ledgers: a writer without --ledger is one clear line, exit 2, nothing appended
    before = paper.read_text()
    assert main(["risk", "clear-halt", "--data-dir", str(tmp_path), "--operator", "amy", "--note", "x"]) == 2
    err = capsys.readouterr().err
    assert "--ledger" in err and len(err.strip().splitlines()) == 1 and paper.read_text() == before
    assert main(["risk", "clear-halt", "--data-dir", str(tmp_path), "--ledger", "paper-7", "--operator", "amy",
                 "--note", "paper reviewed"]) == 0
    assert not RiskLedger(paper).state().halted


def test_reset_peak_refuses_what_it_cannot_record(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    base = ["risk", "reset-peak", "--data-dir", str(tmp_path)]
    for args, flag in ((["--operator", "amy", "--note", "x"], "--new-peak"),          # fresh ledger
                       (["--operator", "", "--note", "x", "--new-peak", "5"], "--operator"),
                       (["--operator", "amy", "--note", " ", "--new-peak", "5"], "--note"),
                       (["--operator", "amy", "--note", "x", "--new-peak", "nan"], "--new-peak"),
                       (["--operator", "amy", "--note", "x", "--new-peak", "0"], "--new-peak")):
        assert main([*base, *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and flag in err[0], (args, err)
    assert not (tmp_path / "risk" / "ledger.jsonl").exists()


def test_help_reads_well() -> None:
    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "risk" in r.output
