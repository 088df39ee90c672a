"""Acceptance on real data (skipped when ../shared/data is absent): a 21-day paper run over Binance.US
BTC 1-minute candles with the default advisor (the graph). Before the memory rule was bounded, five
early losses locked trading out for 21 days (5 trades, then 2,068 blocks reported as AWS_WAIT). Now the
loop keeps trading, Warden's own WAITs say MEMORY_WAIT with source memory, and after ingesting its own
telemetry `ask "what happened after WAIT advisories?"` answers with counts and counterfactual PnL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from warden.cli import app

CANDLES = Path(__file__).resolve().parents[2] / "shared" / "data/A1_binanceus_btc_1m_2023-03_svb_usdc_depeg/BTCUSD_1m_20230301_20230321.csv"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CANDLES.is_file(), reason="real BTC candles (../shared/data A1) absent")]


def test_paper_run_keeps_trading_and_ask_explains_the_waits(tmp_path: Path) -> None:
    data = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", "--broker", "paper", "--symbol", "BTCUSD", "--candles", str(CANDLES),
                                 "--data-dir", str(data), "--advisor", "graph"])
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in (data / "telemetry" / "events.jsonl").open()]
    sent = [e for e in events if e["event"] == "order_sent" and e["payload"].get("role") == "entry"]
    assert len(sent) > 20                                    # far beyond the 5 trades of the lock-out
    verdicts = [e for e in events if e["event"] == "guard_verdict" and not e["payload"]["allowed"]]
    memory = [e for e in verdicts if "MEMORY_WAIT" in e["reason_codes"]]
    assert memory and not any("AWS_WAIT" in e["reason_codes"] for e in memory)
    advised = {e["trade_cycle_id"]: e["payload"] for e in events if e["event"] == "advisory"}
    assert all(advised[e["trade_cycle_id"]]["source"] == "memory" for e in memory)
    r = CliRunner().invoke(app, ["ingest", str(data / "telemetry" / "events.jsonl"), "--data-dir", str(data),
                                 "--candles", str(CANDLES)])
    assert r.exit_code == 0 and "advised WAIT" in r.output, r.output
    r = CliRunner().invoke(app, ["ask", "what happened after WAIT advisories?", "--data-dir", str(data), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    res = doc["result"]
    waits = {e["trade_cycle_id"] for e in verdicts if advised.get(e["trade_cycle_id"], {}).get("action") == "WAIT"}
    assert doc["intent"]["query"]["dataset"] == "signals" and res["n"] == len(waits) > 0
    assert res["value"] is not None and "counterfactual" in doc["answer"]["text"]
    assert f"{res['n']} signals" in doc["answer"]["text"]
