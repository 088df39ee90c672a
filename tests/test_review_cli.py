"""`warden review` and `warden demo` on the command line: outputs, approvals, and one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tools.samples.demo_bundles import write_es_bundle
from warden.cli import app
from warden.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_review_needs_a_bundle_and_an_out_dir(tmp_path: Path) -> None:
    r = runner.invoke(app, ["review", "--data-dir", str(tmp_path)])
    assert isinstance(r.exception, UserError) and "bundle" in str(r.exception)
    es = write_es_bundle(tmp_path / "es")
    r = runner.invoke(app, ["review", str(es), "--data-dir", str(tmp_path)])
    assert isinstance(r.exception, UserError) and "--out" in str(r.exception)
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["review", str(empty), "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path)])
    assert isinstance(r.exception, UserError) and "no log file" in str(r.exception)
    r = runner.invoke(app, ["review", "--resume", "no-such-run", "--data-dir", str(tmp_path)])
    assert isinstance(r.exception, UserError) and "no-such-run" in str(r.exception)


def test_a_bad_bundle_is_one_line_on_stderr(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    p = subprocess.run([sys.executable, "-m", "warden", "review", str(tmp_path / "missing"), "--out",
                        str(tmp_path / "o"), "--data-dir", str(tmp_path / "d")], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "no such file or folder" in p.stderr
    assert "Traceback" not in p.stderr


def _review_json(bundle: Path, tmp_path: Path, approve: str) -> dict:
    r = runner.invoke(app, ["review", str(bundle), "--out", str(tmp_path / "out"), "--data-dir",
                            str(tmp_path / "d"), "--approve", approve, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout[r.stdout.index("{"):])


def test_review_es_bundle_with_approve_all(tmp_path: Path) -> None:
    doc = _review_json(write_es_bundle(tmp_path / "es"), tmp_path, "all")
    assert doc["status"] == "complete" and not doc["pending"]
    assert set(doc["root_causes"]) == {"EXIT_OPENED_POSITION", "ADVISORY_WAIT_IGNORED", "MISSING_PROTECTION",
                                       "STALE_BROKER_PNL", "TELEMETRY_GAP"}
    assert {c["status"] for c in doc["changes"]} == {"approved"}
    assert (tmp_path / "out" / "INCIDENT_ANALYSIS_FINAL.md").is_file()
    # the ES times are shown in the bot's zone (America/Chicago), as in the seed's postmortem
    assert "2025-12-12T08:53:20.450-06:00" in (tmp_path / "out" / "outcomes.csv").read_text()


def test_demo_builds_and_reviews_both_bundles(tmp_path: Path) -> None:
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--data-dir", str(tmp_path / "d"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout[r.stdout.index("{"):])
    poly, es = doc["reviews"]["polymarket"], doc["reviews"]["es"]
    assert {"OUTCOME_RECORDING_FAILED", "DRAWDOWN_PEAK_RESET", "DRAWDOWN_HALT_MISSED", "LOSS_STREAK_UNTRACKED",
            "SWALLOWED_EXCEPTIONS", "OVERTRADING"} <= set(poly["root_causes"])
    assert "EXIT_OPENED_POSITION" in es["root_causes"] and "STALE_BROKER_PNL" in es["root_causes"]
    assert poly["status"] == "awaiting_approval" and poly["pending"]
    for name in ("polymarket", "es"):
        out = tmp_path / "demo" / "reviews" / name
        assert (out / "findings.json").is_file() and len(list((out / "teams").glob("*.md"))) == 7
    # reproducible: the same bundles again are byte-identical
    write_es_bundle(tmp_path / "again")
    assert (tmp_path / "again" / "bot.log").read_bytes() == (tmp_path / "demo" / "bundles" / "es" / "bot.log").read_bytes()


# ------------------------------------------------------------------------------------------------
# issue 16: approvals policy, recorded answers, failures that resume, outcomes for the memory


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_approve_policy_is_parsed_per_change_type() -> None:
    import pytest

    from graphs.review_approvals import answers_for, parse_policy

    assert parse_policy("risk_parameter=yes, strategy=ask")["strategy"] == "ask"
    assert parse_policy("*=no")["model"] == "no" and set(parse_policy("all").values()) == {"yes"}
    for bad, named in (("riskparam=yes", "riskparam"), ("risk_parameter=maybe", "maybe"), ("yes", "yes")):
        with pytest.raises(ValueError, match=named):
            parse_policy(bad)
    pending = [{"id": "A", "change_type": "risk_parameter", "approval": "user_approval"},
               {"id": "B", "change_type": "strategy", "approval": "user_approval_and_backtest"},
               {"id": "C", "change_type": "architecture", "approval": "full_design_review"}]
    ans = answers_for(pending, parse_policy("all"), None, operator="amy", why="desk")
    assert ans is not None
    assert ans["A"]["status"] == "approved" and ans["A"]["by"] == "amy" and ans["A"]["why"] == "desk"
    # a flag alone never approves a change that needs a backtest or a design review
    assert ans["B"]["status"] == ans["C"]["status"] == "tracked_task"
    assert any("backtest" in p for p in ans["B"]["preconditions"])
    assert any("design review" in p for p in ans["C"]["preconditions"])
    asked: list[str] = []
    ans = answers_for(pending, parse_policy("risk_parameter=ask,*=later"),
                      lambda p: asked.extend(c["id"] for c in p) or {}, operator="amy")
    assert asked == ["A"] and ans is None


def test_bad_approve_and_empty_operator_are_one_line(tmp_path: Path) -> None:
    es = write_es_bundle(tmp_path / "es")
    for args, named in ((["--approve", "risk=yes"], "risk"), (["--operator", ""], "--operator")):
        r = _cli(["review", str(es), "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path / "d"), *args], tmp_path)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and named in lines[0], r.stderr


def test_a_review_that_fails_names_its_run_and_resumes_to_every_output(tmp_path: Path) -> None:
    """The report cannot be written (its path is a folder): one line with the real run id, the traceback in the
    error log; after fixing the cause, --resume writes every output (never success without the report)."""
    es, out, data = write_es_bundle(tmp_path / "es"), tmp_path / "out", tmp_path / "d"
    (out / "INCIDENT_ANALYSIS_FINAL.md").mkdir(parents=True)
    r = _cli(["review", str(es), "--out", str(out), "--data-dir", str(data), "--approve", "none"], tmp_path)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("[review ")]
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "RUN_ID" not in r.stderr and "Traceback" not in r.stderr
    run_id = lines[0].split("warden review --resume ")[1].split()[0]
    assert run_id in lines[0] and str(data / "logs" / "warden-errors.log") in lines[0]
    assert "Traceback" in (data / "logs" / "warden-errors.log").read_text()
    (out / "INCIDENT_ANALYSIS_FINAL.md").rmdir()
    r = _cli(["review", "--resume", run_id, "--data-dir", str(data), "--approve", "risk_parameter=yes",
              "--operator", "amy", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["status"] == "complete" and (out / "INCIDENT_ANALYSIS_FINAL.md").is_file()
    findings = json.loads((out / "findings.json").read_text())
    approved = [x for x in findings["recommendations"] if x["approval"] == "user_approval"]
    assert approved and all(x["status"] == "approved" and x["approved_by"] == "amy" and x["decided_at"]
                            for x in approved)
    assert "| amy |" in (out / "INCIDENT_ANALYSIS_FINAL.md").read_text()
    # a complete run whose outputs were deleted writes them again, approvals included
    (out / "INCIDENT_ANALYSIS_FINAL.md").unlink()
    (out / "findings.json").unlink()
    r = _cli(["review", "--resume", run_id, "--data-dir", str(data)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| amy |" in (out / "INCIDENT_ANALYSIS_FINAL.md").read_text()
    assert json.loads((out / "findings.json").read_text())["approvals"]


def test_reconstructed_outcomes_are_outcome_json_marked_review(tmp_path: Path) -> None:
    from tools.samples.demo_bundles import write_polymarket_bundle
    from trading.records.outcome_schema import TradeOutcome

    doc = _review_json(write_polymarket_bundle(tmp_path / "pm"), tmp_path, "none")
    rec = doc["reconstructed_outcomes"]
    files = sorted(Path(rec["folder"]).glob("*.json"))
    assert rec["written"] == len(files) == doc["metrics"]["outcomes_reconstructed"] == 28
    outs = [TradeOutcome.model_validate_json(p.read_text()) for p in files]
    assert {o.outcome_source for o in outs} == {"review"} and {o.venue for o in outs} == {"polymarket"}
    assert round(sum(o.pnl_usd for o in outs), 2) == doc["metrics"]["net_pnl"]


def test_printer_prints_markup_and_control_characters_literally() -> None:
    from warden.printer import clean, strip_control

    assert strip_control("a\x1b[31mred\x1b[0m\x07b") == "aredb"
    from rich.console import Console

    con = Console(record=True, width=200)
    con.print(clean("pip install 'warden[ib]' and [/x] and [bold]x[/bold]\r"))
    assert "pip install 'warden[ib]' and [/x] and [bold]x[/bold]" in con.export_text()


def test_a_full_disk_is_one_line_with_the_path_and_the_run_id(tmp_path: Path) -> None:
    import errno

    from warden.commands.review import failure

    exc = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "findings.json"))
    msg = str(failure(exc, "20261207-010203-abcdef", tmp_path / "d"))
    assert "\n" not in msg and "disk is full" in msg and str(tmp_path / "out" / "findings.json") in msg
    assert "warden review --resume 20261207-010203-abcdef" in msg and "RUN_ID" not in msg
