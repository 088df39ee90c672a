"""Issue 11, hole 3: a full disk (any write failure) must halt entries cleanly, never crash.

Full disk is simulated without root: RLIMIT_FSIZE on the subprocess (writes past the limit fail with
EFBIG; SIGXFSZ is ignored so the write returns the error), or an in-process shim making ``os.write`` raise
ENOSPC for files under the data dir once a byte budget is spent.

Expected after the fix (`warden run`): any write failure (journal, event log, ledger, outcome files)
halts new entries with JOURNAL_UNWRITABLE (or a more precise *_UNWRITABLE / DISK_FULL code), exits keep
being managed (the paper run still flattens), the process exits 3 with one clear error line on stderr
plus the summary on stdout, no "Traceback" anywhere, and every line of telemetry/events.jsonl parses
(no half-written line). `warden review`: one line, non-zero exit; `review --resume` never reports
success without writing the report.
"""
from __future__ import annotations

import errno
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.exec_fault_helpers import event_lines, run_args, sample_candles, summary_of, warden

resource = pytest.importorskip("resource")
STORAGE_CODE = re.compile(r"UNWRITABLE|DISK|SPACE|STORAGE")


def _fsize_limit(n: int):  # noqa: ANN202
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return apply


@pytest.fixture(scope="module")
def candles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_candles(tmp_path_factory.mktemp("candles") / "c.csv", bars=400, seed=5)


def _assert_every_event_line_parses(data_dir: Path) -> None:
    lines = event_lines(data_dir)
    assert lines, "no event log at all"
    assert lines[-1] == "", "events.jsonl does not end with a newline: the last line is half-written"
    bad = []
    for i, ln in enumerate(lines[:-1]):
        try:
            json.loads(ln)
        except ValueError:
            bad.append((i, ln[-80:]))
    assert not bad, f"{len(bad)} unparseable lines in events.jsonl, e.g. line {bad[0][0]}: ...{bad[0][1]!r}"


@pytest.mark.slow
@pytest.mark.parametrize("limit", [60_000, 200_000], ids=["event-log-fills-first", "journal-fills-first"])
def test_full_disk_during_run_halts_entries_and_exits_3_cleanly(tmp_path: Path, candles: Path, limit: int) -> None:
    """Hole 3: with the disk full, the next event-log write raised: traceback, exit 1, no summary and a
    half-written line in events.jsonl (at 60 kB the event log hits the limit first); when the journal hit
    it first the run did halt but flooded stderr with one ERROR line per blocked signal. Expected: exit 3,
    no Traceback, a JSON summary on stdout whose halts name JOURNAL_UNWRITABLE (or a more precise storage
    code), the position flattened (exits still managed), at most two non-empty stderr lines (the clear
    one-line cause + the closing 'system halt' line), and every events.jsonl line parses."""
    d = tmp_path / "data"
    r = warden(*run_args(candles, d), preexec_fn=_fsize_limit(limit), timeout=120)
    assert "Traceback" not in r.stdout + r.stderr, f"traceback on a full disk:\n{r.stderr[-1500:]}"
    assert r.returncode == 3, f"exit {r.returncode} on a full disk (expected 3): {r.stderr.strip()[-500:]}"
    s = summary_of(r)
    assert any(STORAGE_CODE.search(h) for h in s["halts"]), f"no storage halt in the summary: {s['halts']}"
    assert not s["open_position"], f"a position was left open: {s['open_position']}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2, f"{len(lines)} stderr lines on a full disk (want one clear line): {lines[:3]}"
    assert any(re.search(r"unwritable|space|too large|disk", ln, re.I) for ln in lines), lines
    _assert_every_event_line_parses(d)


def test_enospc_from_the_event_log_in_process(tmp_path: Path, candles: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Hole 3 with ENOSPC (a real full disk) instead of EFBIG: ``os.write`` to any file under the data dir
    raises OSError(ENOSPC) once 40 kB have been written there (partial write of the crossing chunk, as a
    filling disk does). Expected: `warden run` ends with SystemExit(3), never an uncaught OSError; stdout
    holds the JSON summary with a storage halt; no partial line in events.jsonl."""
    d = (tmp_path / "data").resolve()
    budget = [40_000]
    real_write = os.write

    def full_disk_write(fd: int, data: bytes) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(d)):
            if budget[0] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
            if len(data) > budget[0]:
                n = real_write(fd, bytes(data[:budget[0]]))
                budget[0] = 0
                return n
            budget[0] -= len(data)
        return real_write(fd, data)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to map descriptors to paths")
    from warden.cli import main

    monkeypatch.setattr(os, "write", full_disk_write)
    monkeypatch.setattr(sys, "argv", ["warden", *run_args(candles, d)])
    with pytest.raises(SystemExit) as exc:
        main()
    monkeypatch.setattr(os, "write", real_write)
    out = capsys.readouterr().out
    assert exc.value.code == 3, f"exit {exc.value.code} on ENOSPC (expected 3)"
    s = json.loads(out[out.index("{"):])
    assert any(STORAGE_CODE.search(h) for h in s["halts"]), s["halts"]
    _assert_every_event_line_parses(d)


@pytest.mark.slow
def test_review_on_a_full_disk_is_one_line_and_resume_never_fakes_success(tmp_path: Path) -> None:
    """Hole 3 for `warden review`: on a full disk it printed a traceback, exit 1, and told the user to run
    `warden review --resume RUN_ID` with the literal placeholder RUN_ID; `review --resume <id>` afterwards
    exited 0 reporting status awaiting_approval with no report written. Expected: the failing review exits
    non-zero with exactly one stderr line, no Traceback, naming the stored run id; a resume on the still
    full disk exits non-zero; a resume once space is back either completes (exit 0, status complete,
    INCIDENT_ANALYSIS_FINAL.md written) or fails non-zero: never exit 0 without the report."""
    from tools.samples.demo_bundles import write_es_bundle

    es = write_es_bundle(tmp_path / "es")
    out, d = tmp_path / "out", tmp_path / "d"
    lim = _fsize_limit(50_000)
    r = warden("review", str(es), "--out", str(out), "--data-dir", str(d), "--approve", "all", "--json",
               preexec_fn=lim, timeout=180)
    assert r.returncode != 0, "review succeeded with a 50 kB file-size limit: the simulation did not bite"
    assert "Traceback" not in r.stderr + r.stdout, f"traceback on a full disk:\n{r.stderr[-1200:]}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("[review")]
    assert len(lines) == 1, f"{len(lines)} stderr lines (want one): {lines[:3]}"
    runs = [p.name for p in (d / "review").iterdir() if p.is_dir()] if (d / "review").is_dir() else []
    assert runs, "the failed review left no resumable run"
    run_id = runs[0]
    assert run_id in lines[0], f"the error line does not name the run to resume ({run_id}): {lines[0]}"

    r2 = warden("review", "--resume", run_id, "--data-dir", str(d), "--approve", "all", "--json",
                preexec_fn=lim, timeout=180)
    report = out / "INCIDENT_ANALYSIS_FINAL.md"
    assert r2.returncode != 0 or report.is_file(), \
        f"resume on a full disk exited 0 without writing the report: {r2.stdout[:300]}"
    r3 = warden("review", "--resume", run_id, "--data-dir", str(d), "--approve", "all", "--json", timeout=180)
    if r3.returncode == 0:
        doc = json.loads(r3.stdout[r3.stdout.index("{"):])
        assert doc.get("status") == "complete" and report.is_file(), \
            f"resume exited 0 with status {doc.get('status')!r}, report written: {report.is_file()}"
    else:
        assert "Traceback" not in r3.stderr and len([ln for ln in r3.stderr.splitlines() if ln.strip()]) >= 1
