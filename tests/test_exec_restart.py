"""Issue 11, holes 1 and 2: `warden run` restarted on the same data dir, run twice at once, killed with -9.

Expected after the fix:
- the paper account (cash, positions, working orders, order-id and exec-id counters) lives in the data
  dir; a second `warden run` on that dir resumes it (bars already processed only warm up history),
  `--fresh-account` starts a new one explicitly; order ids and exec ids are unique across runs and no
  journal row written by an earlier run is overwritten;
- a second concurrent `warden run` on a data dir in use refuses in under 2 s (beyond interpreter start-up)
  with exit 2 and one stderr line naming the holder's PID; a lock left by a killed process is taken over;
- after kill -9 at any point and a restart: one outcome JSON and one history snapshot per closed trade,
  nothing duplicated, the ledger peak never decreases, no open position without a working stop, and the
  final realised PnL equals an uninterrupted run's on the same candles.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.exec_fault_helpers import (
    ROOT,
    SLOW_SIGNALS,
    artefacts,
    clean_env,
    head_candles,
    journal_rows,
    run_args,
    sample_candles,
    summary_of,
    warden,
    warden_cmd,
)

FULL_BARS = 400
CUT = 321          # with seed 5 the rule advisor holds a trade (opened at bar 317) over this cut
WORKING = ("pending", "submitted", "partial")
FINAL = ("filled", "cancelled", "rejected")


@pytest.fixture(scope="module")
def candles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("candles")
    full = sample_candles(d / "full.csv", bars=FULL_BARS, seed=5)
    return {"full": full, "part": head_candles(full, d / "part.csv", CUT)}


def _realised(data_dir: Path) -> float:
    return round(sum(r["pnl"] for r in journal_rows(data_dir, "SELECT pnl FROM outcomes")), 6)


def _snapshot_rows(data_dir: Path) -> dict[str, dict]:
    """Rows of run 1 that a later run must never rewrite: every fill, final orders, closed trades."""
    rows: dict[str, dict] = {}
    for r in journal_rows(data_dir, "SELECT * FROM fills"):
        rows[f"fill:{r['exec_id']}"] = r
    for r in journal_rows(data_dir, "SELECT * FROM orders"):
        if str(r["status"]).lower() in FINAL:
            rows[f"order:{r['order_id']}"] = r
    for r in journal_rows(data_dir, "SELECT * FROM trades WHERE status IN ('closed','cancelled','rejected')"):
        rows[f"trade:{r['trade_cycle_id']}"] = r
    return rows


def _current_rows(data_dir: Path) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for r in journal_rows(data_dir, "SELECT * FROM fills"):
        rows[f"fill:{r['exec_id']}"] = r
    for r in journal_rows(data_dir, "SELECT * FROM orders"):
        rows[f"order:{r['order_id']}"] = r
    for r in journal_rows(data_dir, "SELECT * FROM trades"):
        rows[f"trade:{r['trade_cycle_id']}"] = r
    return rows


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "ERROR" in ln or "Traceback" in ln]


def test_two_runs_in_a_row_resume_the_paper_account(tmp_path: Path, candles: dict[str, Path]) -> None:
    """Hole 1: a second `warden run` on the same data dir restarted the paper broker's order ids and exec
    ids (1, 2, ... / paper-00000001, ...): run 2's entry fill was dropped as a duplicate, run 1's order
    rows were overwritten as cancelled, run 2 halted on RECONCILE_MISMATCH (ERROR lines) and exited 3
    holding a contract. Expected: run 1 (--no-flatten, ends holding a bracketed trade) and run 2 (the
    longer file, same data dir) both exit 0 with no ERROR line; run 2 resumes run 1's paper account (its
    open trade is closed by run 2, not orphaned); no row run 1 finalised is rewritten; and the realised
    PnL of the two runs equals one uninterrupted run over the full file."""
    d = tmp_path / "data"
    r1 = warden(*run_args(candles["part"], d, "--no-flatten"))
    assert r1.returncode == 0, r1.stderr[-2000:]
    s1 = summary_of(r1)
    assert s1["open_position"], "precondition: run 1 must end holding a position (pick another CUT)"
    before = _snapshot_rows(d)
    fills1 = {k for k in before if k.startswith("fill:")}

    r2 = warden(*run_args(candles["full"], d))
    errors = _error_lines(r2.stderr)
    assert r2.returncode == 0 and not errors, \
        f"second run on the same data dir: exit {r2.returncode}, {len(errors)} ERROR lines, e.g. {errors[:2]}"
    s2 = summary_of(r2)
    assert not s2["halts"], s2["halts"]
    after = _current_rows(d)
    rewritten = [k for k, row in before.items() if after.get(k) != row]
    assert not rewritten, f"run 2 rewrote {len(rewritten)} journal rows of run 1, e.g. {rewritten[:3]}"
    new_fills = {k for k in after if k.startswith("fill:")} - fills1
    assert new_fills, "run 2 recorded no fill of its own (its fills were dropped as duplicates of run 1's ids)"
    open_left = journal_rows(d, "SELECT trade_cycle_id FROM trades WHERE status IN ('open','pending')")
    assert not open_left, f"trades left open after the resumed run flattened: {open_left}"

    ref = tmp_path / "ref"
    r = warden(*run_args(candles["full"], ref))
    assert r.returncode == 0, r.stderr[-2000:]
    assert _realised(d) == pytest.approx(_realised(ref), abs=0.01), \
        "run 1 + resumed run 2 must realise what one uninterrupted run realises"


def test_fresh_account_flag_starts_a_new_account_explicitly(tmp_path: Path, candles: dict[str, Path]) -> None:
    """Hole 1: the choice between resuming and starting over must be explicit. Expected: `warden run
    --fresh-account` on a data dir that already holds a paper account exits 0, uses a new account (its
    ledger path differs from run 1's) and leaves every row of run 1 untouched (unique ids across runs)."""
    d = tmp_path / "data"
    r1 = warden(*run_args(candles["part"], d, "--no-flatten"))
    assert r1.returncode == 0, r1.stderr[-2000:]
    s1 = summary_of(r1)
    before = _snapshot_rows(d)
    r2 = warden(*run_args(candles["full"], d, "--fresh-account"))
    assert r2.returncode == 0, f"--fresh-account: exit {r2.returncode}: {r2.stderr.strip()[-500:]}"
    s2 = summary_of(r2)
    assert s2["paths"].get("ledger") != s1["paths"].get("ledger")
    after = _current_rows(d)
    rewritten = [k for k, row in before.items() if after.get(k) != row]
    assert not rewritten, f"a fresh account rewrote {len(rewritten)} rows of run 1, e.g. {rewritten[:3]}"
    assert not _error_lines(r2.stderr)


def _slow_args(candles: Path, data_dir: Path) -> list[str]:
    return [*run_args(candles, data_dir), "--signals", SLOW_SIGNALS]


def _start_paced(candles: Path, data_dir: Path, delay: float) -> subprocess.Popen:
    """Start a paced run in the background; its stderr goes to a file beside the data dir (a pipe nobody
    reads could fill up and block it)."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    err = (data_dir.parent / f"{data_dir.name}.stderr").open("a")
    p = subprocess.Popen(warden_cmd(*_slow_args(candles, data_dir)), cwd=ROOT,
                         env=clean_env(EXEC_TEST_BAR_DELAY=str(delay)), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    p.err_path = data_dir.parent / f"{data_dir.name}.stderr"  # type: ignore[attr-defined]
    return p


def _wait_started(p: subprocess.Popen, data_dir: Path, timeout: float = 30) -> None:
    """Wait until the run has opened its data dir (the event log exists and has a line)."""
    events = data_dir / "telemetry" / "events.jsonl"
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if p.poll() is not None:
            raise AssertionError(f"the first run ended early (exit {p.returncode}): "
                                 f"{p.err_path.read_text()[-2000:]}")  # type: ignore[attr-defined]
        if events.exists() and events.stat().st_size > 0:
            return
        time.sleep(0.05)
    raise AssertionError("the first run never started writing its data dir")


def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)


@pytest.mark.slow
def test_concurrent_second_run_refuses_fast_naming_the_holder(tmp_path: Path, candles: dict[str, Path]) -> None:
    """Hole 1: two `warden run` on one data dir at the same time both wrote the journal and the event log.
    Expected: the second refuses within 2 s (beyond interpreter start-up, measured on a run that fails on
    a missing candle file), exit 2, exactly one stderr line, and that line names the first run's PID."""
    d = tmp_path / "data"
    t = time.monotonic()
    base = warden("run", "--candles", str(tmp_path / "missing.csv"), "--data-dir", str(tmp_path / "other"))
    startup = time.monotonic() - t
    assert base.returncode == 2
    holder = _start_paced(candles["full"], d, delay=0.05)        # ~20 s of bars
    try:
        _wait_started(holder, d)
        t = time.monotonic()
        try:
            r = warden(*run_args(candles["full"], d), timeout=startup + 20)
        except subprocess.TimeoutExpired:
            pytest.fail("the second run on a data dir in use neither refused nor finished in time")
        took = time.monotonic() - t
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2, f"second run on a busy data dir: exit {r.returncode} (expected 2), " \
                                  f"{len(lines)} stderr lines, e.g. {lines[:2]}"
        assert len(lines) == 1 and str(holder.pid) in lines[0], lines
        assert took < startup + 2.0, f"refusal took {took:.2f} s (start-up {startup:.2f} s)"
        assert holder.poll() is None, "the holder must keep running"
    finally:
        _kill(holder)


@pytest.mark.slow
def test_stale_lock_of_a_killed_run_is_taken_over(tmp_path: Path, candles: dict[str, Path]) -> None:
    """Hole 1/2: a run killed with SIGKILL leaves its lock behind. Expected: the next run on the data dir
    takes the stale lock over (its holder PID is dead), resumes the account and exits 0 with no ERROR
    line and no 'in use' refusal."""
    d = tmp_path / "data"
    first = _start_paced(candles["full"], d, delay=0.02)
    try:
        _wait_started(first, d)
        time.sleep(1.5)
    finally:
        _kill(first)
    r = warden(*run_args(candles["full"], d))
    assert r.returncode == 0, f"restart after kill -9: exit {r.returncode}: {r.stderr.strip()[-800:]}"
    assert not _error_lines(r.stderr), _error_lines(r.stderr)[:3]


# -- kill -9 fault injection ---------------------------------------------------------------------------

def _ledger_peak(data_dir: Path) -> float | None:
    """Peak equity of the ledger the latest run wrote (the most recently modified ledger file)."""
    import json

    files = sorted((data_dir / "risk").rglob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    peak = None
    for line in files[-1].read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("type") == "equity" and e.get("equity") is not None:
            peak = e["equity"] if peak is None else max(peak, e["equity"])
    return peak


def _check_invariants(data_dir: Path, final: bool) -> list[str]:
    problems: list[str] = []
    outs, snaps = artefacts(data_dir)
    closed = journal_rows(data_dir, "SELECT t.trade_cycle_id AS id, t.closed_at FROM trades t JOIN outcomes o "
                                    "ON o.trade_cycle_id = t.trade_cycle_id ORDER BY t.closed_at")
    # a kill between the outcome's commit and its files may leave the latest closed trade without files
    # until the next start repairs it; every earlier one must be complete, and at the end all of them
    must = closed if final else closed[:-1]
    for t in must:
        if len(outs.get(t["id"], [])) != 1:
            problems.append(f"trade {t['id']}: {len(outs.get(t['id'], []))} outcome files")
        if len(snaps.get(t["id"], [])) != 1:
            problems.append(f"trade {t['id']}: {len(snaps.get(t['id'], []))} history snapshots")
    for tid, ps in {**outs, **snaps}.items():
        if len(ps) > 1:
            problems.append(f"trade {tid}: duplicated artefacts {[str(p) for p in ps]}")
    ids = {t["id"] for t in closed}
    stray = sorted(set(outs) - ids)
    if stray:
        problems.append(f"outcome files for trades without a journal outcome: {stray[:3]}")
    over = journal_rows(data_dir, "SELECT o.order_id, o.qty, SUM(f.qty) AS filled FROM orders o JOIN fills f "
                                  "ON f.order_id = o.order_id GROUP BY o.order_id HAVING SUM(f.qty) > o.qty + 1e-9")
    if over:
        problems.append(f"orders filled more than their size (duplicated fills): {over[:3]}")
    for t in journal_rows(data_dir, "SELECT trade_cycle_id AS id FROM trades WHERE status='open'"):
        net = journal_rows(data_dir, "SELECT COALESCE(SUM(CASE side WHEN 'BUY' THEN qty ELSE -qty END), 0) AS q "
                                     "FROM fills WHERE trade_cycle_id=?", (t["id"],))[0]["q"]
        if abs(net) > 1e-9:
            stops = journal_rows(data_dir, "SELECT qty FROM orders WHERE trade_cycle_id=? AND role='stop' AND "
                                           "lower(status) IN ('pending','submitted','partial')", (t["id"],))
            if not stops or sum(s["qty"] for s in stops) < abs(net) - 1e-9:
                problems.append(f"open trade {t['id']} holds {net} without a working protective stop")
    return problems


@pytest.mark.slow
def test_kill9_at_several_points_then_restart_repairs_everything(tmp_path: Path, candles: dict[str, Path]) -> None:
    """Hole 2: kill -9 left things unrepaired and a restart started a new account over the same journal.
    Fault injection: a paced paper run (tests.exec_fault_helpers:SlowBreakout, ~10 ms per bar, because
    `warden run` has no --bar-delay) is SIGKILLed at 4 different delays, restarted on the same data dir
    each time, then run to completion. Expected after every kill and at the end: one outcome JSON and one
    history snapshot per closed trade, nothing duplicated, no order over-filled, the ledger peak never
    decreasing, no open position without a working stop; the last run exits 0 and the journal's realised
    PnL equals an uninterrupted run's on the same candles."""
    ref = tmp_path / "ref"
    r = warden(*run_args(candles["full"], ref))
    assert r.returncode == 0, r.stderr[-2000:]
    expected = _realised(ref)

    d = tmp_path / "data"
    peak = None
    deadline = time.monotonic() + 55
    for kill_after in (1.3, 1.9, 2.6, 3.4):
        p = _start_paced(candles["full"], d, delay=0.01)
        try:
            time.sleep(kill_after)
        finally:
            _kill(p)
        problems = _check_invariants(d, final=False)
        assert not problems, f"after kill -9 at {kill_after} s: {problems[:5]}"
        new_peak = _ledger_peak(d)
        if peak is not None:
            assert new_peak is not None and new_peak >= peak - 1e-9, \
                f"ledger peak went down across a restart: {peak} -> {new_peak}"
        peak = new_peak if new_peak is not None else peak
        assert time.monotonic() < deadline, "fault-injection loop over its time budget"

    last = warden(*run_args(candles["full"], d), timeout=60)
    assert last.returncode == 0, f"final restart: exit {last.returncode}: {last.stderr.strip()[-800:]}"
    problems = _check_invariants(d, final=True)
    assert not problems, problems[:5]
    final_peak = _ledger_peak(d)
    assert peak is None or (final_peak is not None and final_peak >= peak - 1e-9)
    assert not journal_rows(d, "SELECT 1 FROM trades WHERE status IN ('open','pending')")
    assert _realised(d) == pytest.approx(expected, abs=0.01), \
        f"realised PnL after kills and restarts {_realised(d)} != uninterrupted run {expected}"


def test_helper_slow_signals_is_loadable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a hole: the paced signal source used above loads through --signals (guards the harness)."""
    monkeypatch.setenv("EXEC_TEST_BAR_DELAY", "0")
    from trading.market.signals import load_signal_source

    assert callable(load_signal_source(SLOW_SIGNALS))


# -- the parts, in process --------------------------------------------------------------------------------

def test_data_dir_lock_refuses_a_second_writer_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    """One writer per data dir: a second lock on the same dir fails at once naming the holder's PID and
    command; a lock file left by a dead process (its flock gone) is taken over and the takeover recorded."""
    import json
    import os

    from trading.records.data_dir_lock import DataDirBusy, DataDirLock, data_dir_lock

    with data_dir_lock(tmp_path, "warden run --candles a.csv"):
        t = time.monotonic()
        with pytest.raises(DataDirBusy, match=rf"PID {os.getpid()} \(warden run --candles a.csv"):
            DataDirLock(tmp_path, "warden run").acquire()
        assert time.monotonic() - t < 0.5
    (tmp_path / ".warden.lock").write_text(json.dumps({"pid": 999_999_999, "command": "warden run (killed)"}))
    lock = DataDirLock(tmp_path, "warden run").acquire()
    try:
        assert lock.took_over is not None and lock.took_over["pid"] == 999_999_999
        assert json.loads((tmp_path / ".warden.lock").read_text())["pid"] == os.getpid()
    finally:
        lock.release()


def test_jsonl_appends_are_all_or_nothing_and_a_torn_tail_is_cut_on_open(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hole 3: a write that stops part-way (full disk) must not leave half a line; a line torn by a killed
    writer is cut when the event log is opened, and counted."""
    import errno
    import os

    from trading.records.atomic import append_line
    from trading.records.telemetry import EventLog, EventType

    p = tmp_path / "events.jsonl"
    log = EventLog(p)
    log.emit(EventType.SIGNAL, "t-1", [], n=1)
    real_write = os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    failures: list[OSError] = []
    log.on_failure = lambda path, exc: failures.append(exc)
    log.emit(EventType.SIGNAL, "t-2", [], n=2)          # never raises; the failure is handed over
    with pytest.raises(OSError):
        append_line(p, '{"n": 3}')
    monkeypatch.setattr(os, "write", real_write)
    assert len(failures) == 1 and log.failures == 1
    lines = p.read_text().split("\n")
    assert lines[-1] == "" and len(lines) == 2, f"a partial line was left: {lines!r}"
    with p.open("a") as fh:                              # a writer killed mid-line
        fh.write('{"ts": "2026-01-01T00:00:00+00:00", "trade_cy')
    reopened = EventLog(p)
    assert reopened.torn_tails == 1 and p.read_text().endswith("}\n")
    assert [e.trade_cycle_id for e in reopened.read()] == ["t-1"]
