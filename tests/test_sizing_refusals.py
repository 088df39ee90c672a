"""Entries refused by their size (issue 12) are recorded and counted like guard blocks: a BLOCK verdict with
its reason code in the event log and the journal, and the summary's blocked orders = the sum of its
per-reason counts."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tools.samples.candles import candle_rows
from trading.execution.session_report import SessionSummary
from trading.execution.wiring import make_broker, open_session
from trading.market.candles import read_candles
from trading.settings import Settings


def _run(tmp_path: Path, **guards: float) -> tuple[SessionSummary, Path]:
    csv = tmp_path / "ES-1m.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [",".join(str(x) for x in (ts.isoformat(), *vals)) for ts, *vals in candle_rows(400, 5, 5000.0)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", guards=guards)  # type: ignore[arg-type]
    session, problems = open_session(settings, make_broker("paper", settings), symbol="ES")
    assert problems == []
    return session.run(read_candles(csv).bars, flatten_at_end=True), tmp_path / "data"


def _sizing_verdicts(data: Path) -> tuple[list[dict], list[tuple]]:
    evs = [json.loads(x) for x in (data / "telemetry" / "events.jsonl").read_text().splitlines()]
    blocks = [e for e in evs if e["event"] == "guard_verdict" and e["payload"].get("evidence", {}).get("stage")
              == "sizing"]
    con = sqlite3.connect(data / "journal" / "journal.db")
    rows = con.execute("SELECT trade_cycle_id, allowed, reason_codes, judged_as FROM verdicts").fetchall()
    con.close()
    return blocks, rows


def test_notional_refusals_are_counted_by_reason(tmp_path: Path) -> None:
    # an ES contract at ~5000 is ~250,000 of notional: above 1 x a 100,000 account, so every entry is refused
    summary, data = _run(tmp_path, max_notional_x_equity=1.0)
    blocks, rows = _sizing_verdicts(data)
    n = summary.blocked_by_reason.get("NOTIONAL_CAP", 0)
    assert n >= 3 and n == len(blocks)
    assert summary.entries_sent == 0 and summary.trades == 0
    assert summary.blocked_orders == sum(summary.blocked_by_reason.values())
    e = blocks[0]
    assert e["reason_codes"] == ["NOTIONAL_CAP"] and e["payload"]["allowed"] is False
    assert "exceeds 1 x equity 100,000.00 (guards.max_notional_x_equity)" in e["payload"]["evidence"]["sizing"]
    assert e["payload"]["intent"]["symbol"] == "ES" and e["payload"]["intent"]["qty"] == 1
    refused = {cid for cid, allowed, codes, kind in rows if not allowed and json.loads(codes) == ["NOTIONAL_CAP"]}
    assert refused == {b["trade_cycle_id"] for b in blocks} and all(
        kind == "entry" for cid, _, _, kind in rows if cid in refused)


def test_risk_sizes_that_round_to_nothing_are_counted(tmp_path: Path) -> None:
    # risking 1 USD on an ES stop a few points away is a fraction of a contract: rounds to 0
    summary, data = _run(tmp_path, risk_per_trade=1.0)
    blocks, _ = _sizing_verdicts(data)
    assert summary.blocked_by_reason.get("SIZE_ROUNDS_TO_ZERO", 0) == len(blocks) >= 3
    assert summary.blocked_orders == sum(summary.blocked_by_reason.values())
    assert summary.entries_sent == 0
    assert "rounds to nothing at a size step of 1" in blocks[0]["payload"]["evidence"]["sizing"]


def test_a_sized_run_has_no_sizing_blocks(tmp_path: Path) -> None:
    summary, data = _run(tmp_path)
    blocks, _ = _sizing_verdicts(data)
    assert blocks == [] and summary.entries_sent > 0
    assert not {"NOTIONAL_CAP", "SIZE_ROUNDS_TO_ZERO"} & set(summary.blocked_by_reason)


@pytest.mark.parametrize("code", ["NOTIONAL_CAP", "SIZE_ROUNDS_TO_ZERO"])
def test_sizing_codes_are_reason_codes(code: str) -> None:
    from trading.domain.reason_codes import NON_BLOCKING, ReasonCode

    assert ReasonCode(code) not in NON_BLOCKING
