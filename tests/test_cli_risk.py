"""The operator commands are the only way to move the peak down or clear a halt."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from trading.records.risk_ledger import RiskLedger
from warden.cli import app


def test_risk_status_reset_and_clear(tmp_path: Path) -> None:
    led = RiskLedger(tmp_path / "risk" / "ledger.jsonl")
    led.mark_equity(251.0, ts=datetime(2026, 1, 14, tzinfo=UTC))
    led.mark_equity(14.91, ts=datetime(2026, 1, 15, tzinfo=UTC))
    r = CliRunner().invoke(app, ["risk", "status", "--data-dir", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["peak_equity"] == 251.0 and doc["halted"] is True and round(doc["drawdown_pct"], 1) == 94.1
    r = CliRunner().invoke(app, ["risk", "clear-halt", "--data-dir", str(tmp_path), "--operator", "amy",
                                 "--note", "post-mortem done"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["risk", "reset-peak", "--data-dir", str(tmp_path), "--operator", "amy",
                                 "--note", "restart with new capital"])
    assert r.exit_code == 0, r.output
    st = RiskLedger(tmp_path / "risk" / "ledger.jsonl").state()
    assert not st.halted and st.peak_equity == 14.91


def test_help_reads_well() -> None:
    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "risk" in r.output
