"""The review graph resumes from its checkpoint alone: no module globals, no side pickles.

A run stopped at its approval step is resumed by ``warden review --resume`` in a new process; a run
stopped right after forensics has its teams run in a new process, each loading the reconstruction from
the file its state names.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools.samples.demo_bundles import write_polymarket_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_polymarket_bundle(tmp_path_factory.mktemp("bundle"))


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_run_stopped_at_approval_completes_in_a_new_process(bundle: Path, tmp_path: Path) -> None:
    from graphs.review_runner import run_review

    data, out = tmp_path / "data", tmp_path / "out"
    res = run_review(bundle, out, data_dir=data, approve=None, decide=None)
    assert res.status == "awaiting_approval" and res.pending
    findings = out / "findings.json"
    assert {r["status"] for r in json.loads(findings.read_text())["recommendations"]} >= {"pending_approval"}
    findings.unlink()   # the resumed process must write the report again
    proc = subprocess.run([sys.executable, "-m", "warden", "review", "--resume", res.run_id, "--approve",
                           "risk_parameter=yes,*=no", "--operator", "amy", "--data-dir", str(data), "--json"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(findings.read_text())
    assert doc["recommendations"] and "pending_approval" not in {r["status"] for r in doc["recommendations"]}
    assert (out / "INCIDENT_ANALYSIS_FINAL.md").is_file()
    assert not list(data.rglob("*.pkl")) and not list(data.rglob("forensics.json"))


def test_teams_run_in_a_new_process_from_the_reconstruction_file(bundle: Path, tmp_path: Path) -> None:
    """Stop after forensics in one process; a second process runs the six teams from the checkpoint."""
    data, out = tmp_path / "data", tmp_path / "out"
    first = _python(f"""
        from graphs.review_runner import _compiled
        cfg = {{"configurable": {{"thread_id": "r1"}}}}
        inp = {{"run_id": "r1", "bundle": {str(bundle)!r}, "out": {str(out)!r}, "data_dir": {str(data)!r},
               "llm": "offline", "api": None}}
        with _compiled({str(data)!r}) as app:
            for _ in app.stream(inp, cfg, interrupt_after=["forensics"]):
                pass
            st = app.get_state(cfg)
            print(st.values["forensics_path"], "|", ",".join(st.next))
    """, tmp_path)
    assert first.returncode == 0, first.stderr
    path, _, nxt = first.stdout.strip().rpartition("\n")[-1].partition(" | ")
    assert Path(path).is_file() and path.startswith(str(data)) and "risk" in nxt
    second = _python(f"""
        from graphs.review_runner import _compiled, _result
        cfg = {{"configurable": {{"thread_id": "r1"}}}}
        with _compiled({str(data)!r}) as app:
            for _ in app.stream(None, cfg):     # no run-time context: every team loads the file itself
                pass
            res = _result(app, cfg)
            print(res.status, len(res.teams))
    """, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "awaiting_approval 7"
    assert (out / "INCIDENT_ANALYSIS_FINAL.md").is_file() and not Path(path).exists()
