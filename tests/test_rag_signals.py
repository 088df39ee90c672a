"""Warden's own records into the memory: WAIT-advised and blocked entries from events.jsonl / journal.db become
signal records with the counterfactual PnL a tool computes from the candles; ingestion is idempotent; `ask`
answers "what happened after WAIT advisories?" and "what did the guards block?" from them."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tools.memory.counterfactual import SignalRecord, SignalsTable, counterfactual, ingest_signals, signals_from_events
from warden.cli import app

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _bars(closes: list[float], highs: list[float] | None = None, lows: list[float] | None = None) -> pd.DataFrame:
    idx = pd.DatetimeIndex([T0 + timedelta(minutes=i + 1) for i in range(len(closes))], tz="UTC")
    return pd.DataFrame({"open": closes, "high": highs or closes, "low": lows or closes, "close": closes}, index=idx)


def _rec(side: str = "BUY", stop: float | None = 95.0, target: float | None = 110.0, cid: str = "c1") -> SignalRecord:
    return SignalRecord(trade_cycle_id=cid, kind="wait", ts=T0, symbol="ES", side=side, qty=2.0, price=100.0,
                        stop=stop, target=target, reason_codes=["MEMORY_WAIT"], advisory_action="WAIT")


def test_counterfactual_exits() -> None:
    up = _bars([101, 104, 111, 90])
    assert counterfactual(up, _rec(), 10, 50.0)["pnl_usd"] == (110 - 100) * 2 * 50     # target first
    down = _bars([99, 94, 120])
    assert counterfactual(down, _rec(), 10, 50.0)["exit_reason"] == "stop"
    assert counterfactual(down, _rec(), 10, 50.0)["pnl_usd"] == (95 - 100) * 2 * 50
    both = _bars([100], highs=[111], lows=[94])                 # one bar touched both: the stop (pessimistic)
    assert counterfactual(both, _rec(), 10, 50.0)["exit_reason"] == "stop"
    flat = _bars([101, 102, 103])
    cf = counterfactual(flat, _rec(side="SELL", stop=120, target=80), 2, 1.0)
    assert (cf["exit_reason"], cf["pnl_usd"]) == ("horizon_2", (100 - 102) * 2)
    assert counterfactual(_bars([]), _rec(), 5, 1.0)["exit_reason"] == "no_bars"


def _events(path: Path) -> None:
    lines = []
    for i, (action, allowed, codes) in enumerate([("WAIT", False, ["MEMORY_WAIT"]), ("BUY", False, ["MAX_LOSS_CAP"]),
                                                  ("BUY", True, [])]):
        cid = f"cycle-{i}"
        sig = {"symbol": "ES", "side": "BUY", "label": "B", "confidence": 0.7, "price": 100.0, "stop": 95.0,
               "target": 110.0, "ts": T0.isoformat()}
        lines += [{"ts": T0.isoformat(), "trade_cycle_id": cid, "event": "signal", "reason_codes": [],
                   "payload": {"kind": "entry", "signal": sig}},
                  {"ts": T0.isoformat(), "trade_cycle_id": cid, "event": "advisory", "reason_codes": [],
                   "payload": {"action": action, "source": "memory" if action == "WAIT" else "offline"}},
                  {"ts": T0.isoformat(), "trade_cycle_id": cid, "event": "guard_verdict", "reason_codes": codes,
                   "payload": {"allowed": allowed, "intent": {"symbol": "ES", "qty": 1.0}}}]
        if allowed:
            lines.append({"ts": T0.isoformat(), "trade_cycle_id": cid, "event": "order_sent", "reason_codes": [],
                          "payload": {"role": "entry"}})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n")


def test_events_become_signal_records_idempotently(tmp_path: Path) -> None:
    ev = tmp_path / "events.jsonl"
    _events(ev)
    recs, bad = signals_from_events(ev)
    assert bad == 1 and sorted((r.trade_cycle_id, r.kind) for r in recs) == [("cycle-0", "wait"), ("cycle-1", "blocked")]
    table = SignalsTable(tmp_path / "signals.parquet")
    first = ingest_signals(recs, table, _bars([101, 111]), 10)
    assert (first["added"], first["wait"], first["blocked"]) == (2, 1, 1)
    assert ingest_signals(recs, table, _bars([101, 111]), 10)["added"] == 0           # idempotent
    assert table.load()["pnl_usd"].tolist() == [500.0, 500.0]


@pytest.mark.parametrize("question, n", [("what happened after WAIT advisories?", 1), ("what did the guards block?", 1)])
def test_ask_about_signals(tmp_path: Path, question: str, n: int) -> None:
    data = tmp_path / "data"
    ev = tmp_path / "events.jsonl"
    _events(ev)
    candles = tmp_path / "c.csv"
    candles.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{(T0 + timedelta(minutes=i)).isoformat()},100,{100 + i},{100 - i / 10},{100 + i},1\n" for i in range(20)))
    r = CliRunner().invoke(app, ["ingest", str(ev), "--data-dir", str(data), "--candles", str(candles)])
    assert r.exit_code == 0 and "1 advised WAIT, 1 blocked by the guards" in r.output, r.output
    r = CliRunner().invoke(app, ["ask", question, "--data-dir", str(data), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["result"]["n"] == n and doc["result"]["value"] == 500.0           # target 110 hit, 1 x 50 x 10
    assert "counterfactual" in doc["answer"]["text"] and "Small sample" in doc["answer"]["text"]
