"""Helpers for the issue-11 tests (restarts, kill -9, full disk, paper realism).

- ``SlowBreakout``: the built-in breakout signals, sleeping ``EXEC_TEST_BAR_DELAY`` seconds per bar, so a
  subprocess run is slow enough to be killed mid-way (``--signals tests.exec_fault_helpers:SlowBreakout``).
  (``warden run --bar-delay`` paces the loop the same way; this plug-in paces inside the signal call,
  which puts a kill between the broker's bar and the signal's order, the hardest point to resume from.)
- ``warden(...)``: run ``python -m warden`` from the repository root with a clean environment.
- candle writers and read-only journal / data-dir readers that rely only on the on-disk formats.
"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SLOW_SIGNALS = "tests.exec_fault_helpers:SlowBreakout"


class SlowBreakout:
    """Breakout signals that take ``EXEC_TEST_BAR_DELAY`` seconds (default 0.01) per bar."""

    name = "slow-breakout"

    def __init__(self) -> None:
        from trading.market.signals import BreakoutSignals

        self._inner = BreakoutSignals()
        self.delay = float(os.environ.get("EXEC_TEST_BAR_DELAY", "0.01"))

    def __call__(self, bars, ctx):  # noqa: ANN001, ANN204
        time.sleep(self.delay)
        return self._inner(bars, ctx)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(extra)
    return env


def warden_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "warden", *args]


def warden(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
           preexec_fn: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(warden_cmd(*args), capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env=env or clean_env(), stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)


def run_args(candles: Path, data_dir: Path, *extra: str) -> list[str]:
    """``warden run`` on the paper broker with the deterministic rule advisor, quiet, JSON summary."""
    return ["run", "--broker", "paper", "--candles", str(candles), "--data-dir", str(data_dir),
            "--advisor", "rule", "--quiet", "--json", *extra]


def summary_of(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    out = proc.stdout
    assert "{" in out, f"no JSON summary on stdout (rc={proc.returncode}):\n{out}\n{proc.stderr[-3000:]}"
    return json.loads(out[out.index("{"):])


# -- candles -----------------------------------------------------------------------------------------

def sample_candles(path: Path, bars: int = 400, seed: int = 5) -> Path:
    r = warden("sample-candles", str(path), "--bars", str(bars), "--seed", str(seed))
    assert r.returncode == 0, r.stderr
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return path


def head_candles(src: Path, dst: Path, n: int) -> Path:
    return write_rows(dst, read_rows(src)[:n])


def daily_weekday_candles(src: Path, dst: Path, start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
                          holidays: Sequence[int] = (17, 38, 66, 93, 121)) -> Path:
    """Re-stamp ``src`` rows as daily bars at 00:00 UTC on weekdays only (Mon..Fri), skipping the weekday
    numbers in ``holidays`` (counted from 0), so some Fridays follow a missing Thursday."""
    rows = read_rows(src)
    out: list[dict[str, str]] = []
    day, k = start, 0
    while len(out) < len(rows):
        if day.weekday() < 5:
            if k not in holidays:
                r = dict(rows[len(out)])
                r["timestamp"] = day.isoformat()
                out.append(r)
            k += 1
        day += timedelta(days=1)
    return write_rows(dst, out)


# -- reading what a run left in its data dir ------------------------------------------------------------

def journal_rows(data_dir: Path, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
    p = Path(data_dir) / "journal" / "journal.db"
    if not p.exists():
        return []
    conn = sqlite3.connect(p, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args).fetchall()]
    finally:
        conn.close()


def artefacts(data_dir: Path) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """trade_cycle_id -> outcome files, trade_cycle_id -> snapshot files (every date folder)."""
    outs: dict[str, list[Path]] = {}
    snaps: dict[str, list[Path]] = {}
    for p in (Path(data_dir) / "training" / "trade_outcomes").glob("*/*.json"):
        outs.setdefault(p.stem, []).append(p)
    for p in (Path(data_dir) / "history_snapshots").glob("*/*.json"):
        snaps.setdefault(p.stem, []).append(p)
    return outs, snaps


def event_lines(data_dir: Path) -> list[str]:
    p = Path(data_dir) / "telemetry" / "events.jsonl"
    return p.read_text(encoding="utf-8", errors="replace").split("\n") if p.exists() else []
