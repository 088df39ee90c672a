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


def test_review_es_bundle_with_approve_all(tmp_path: Path) -> None:
    es = write_es_bundle(tmp_path / "es")
    r = runner.invoke(app, ["review", str(es), "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "d"),
                            "--approve", "all", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout[r.stdout.index("{"):])
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
