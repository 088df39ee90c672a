"""Outcome resolution: every trade gets a result with its source, and every failure is loud and counted."""
from __future__ import annotations

import json
import logging
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trading.domain.models import Advisory, AdvisoryAction, Fill, IntentKind, OrderIntent, Side
from trading.domain.reason_codes import ReasonCode
from trading.execution.outcome_resolver import CandleResolutionSource, OutcomeResolver, parse_market_slug
from trading.guards import BrokerSnapshot, evaluate
from trading.market.candles import Bar
from trading.records.journal import Journal
from trading.records.journal_records import TradeRecord
from trading.records.learning_hooks import LearningHooks
from trading.records.outcome_schema import HistorySnapshot, TradeOutcome
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventLog
from trading.settings import GuardConfig

START = 1768436100                       # btc-updown-15m-1768436100 (2026-01-15 00:15 UTC)
T0 = datetime.fromtimestamp(START, UTC)
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"


def minute_bars(start: datetime, closes: list[float], first_open: float) -> list[Bar]:
    out, prev = [], first_open
    for i, c in enumerate(closes):
        out.append(Bar(start + timedelta(minutes=i), prev, max(prev, c) + 1, min(prev, c) - 1, c, 1.0))
        prev = c
    return out


def test_slug_parsing() -> None:
    w = parse_market_slug("btc-updown-15m-1768436100")
    assert (w.asset, w.start, w.end - w.start) == ("BTC", T0, timedelta(minutes=15))
    assert parse_market_slug("ETH-updown-1h-1768436100").end - T0 == timedelta(hours=1)
    with pytest.raises(ValueError, match="not an up/down window slug"):
        parse_market_slug("will-it-rain-tomorrow")


def test_candle_source_up_iff_end_at_or_above_start() -> None:
    slug = f"btc-updown-15m-{START}"
    before = minute_bars(T0 - timedelta(minutes=5), [100.0] * 5, 100.0)
    up = before + minute_bars(T0, [100 + i for i in range(15)] + [90.0], 100.0)
    assert CandleResolutionSource({"BTC": up}).resolve(slug) == "Up"
    flat = before + minute_bars(T0, [101.0] * 14 + [100.0], 100.0)      # end == start -> Up
    assert CandleResolutionSource({"BTC": flat}).resolve(slug) == "Up"
    down = before + minute_bars(T0, [99.0] * 15, 100.0)
    assert CandleResolutionSource({"BTC": down}).resolve(slug) == "Down"
    short = before + minute_bars(T0, [101.0] * 10, 100.0)                # window not finished in the data
    assert CandleResolutionSource({"BTC": short}).resolve(slug) is None
    assert CandleResolutionSource({"ETH": up}).resolve(slug) is None


class FakeAPI:
    """A ResolutionSource with scripted answers (the Polymarket adapter provides the real one)."""

    name = "api"

    def __init__(self, answers: list) -> None:   # noqa: ANN001
        self.answers = answers
        self.calls = 0

    def resolve(self, market_slug: str):  # noqa: ANN201
        a = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(a, Exception):
            raise a
        return a


def _setup(tmp_path: Path, sources: list, cfg: GuardConfig | None = None, n: int = 1,
           slug_start: int = START) -> tuple[Journal, RiskLedger, EventLog, OutcomeResolver, list[str]]:
    cfg = cfg or GuardConfig()
    j = Journal(tmp_path / "j.db", synchronous="NORMAL")
    ledger = RiskLedger(tmp_path / "ledger.jsonl", cfg)
    ledger.mark_equity(118.40, ts=T0 - timedelta(minutes=1))
    events = EventLog(tmp_path / "events.jsonl")
    hooks = LearningHooks(tmp_path, cfg)
    r = OutcomeResolver(j, ledger, events, sources=sources, hooks=hooks, clock=lambda: T0)
    ids = []
    for k in range(n):
        start = slug_start + 900 * k
        slug = f"btc-updown-15m-{start}"
        cycle = f"trade-{k}"
        end = datetime.fromtimestamp(start + 900, UTC)
        j.open_trade(TradeRecord(trade_cycle_id=cycle, venue="polymarket", account="w", symbol=TOKEN, side=Side.BUY,
                                 qty=11.90, status="open", opened_at=datetime.fromtimestamp(start, UTC) -
                                 timedelta(seconds=8), market_slug=slug, outcome_label="Up", resolve_by=end))
        j.record_fill(Fill(exec_id=f"f{k}", order_id=f"o{k}", symbol=TOKEN, side=Side.BUY, qty=11.90, price=0.42,
                           ts=datetime.fromtimestamp(start, UTC) - timedelta(seconds=8), trade_cycle_id=cycle), "w")
        ledger.record_entry(cycle, resolve_by=end, ts=datetime.fromtimestamp(start, UTC) - timedelta(seconds=8))
        ids.append(cycle)
    return j, ledger, events, r, ids


def test_binary_window_resolved_by_the_api_with_its_source(tmp_path: Path) -> None:
    j, ledger, events, r, (tid,) = _setup(tmp_path, [FakeAPI(["Down"])])
    rep = r.resolve_pending(T0 + timedelta(minutes=16))
    assert rep.resolved == [tid]
    out = j.outcome(tid)
    assert (out.winner, out.won, out.source, out.pnl) == ("Down", False, "api", pytest.approx(-11.90 * 0.42))
    assert ledger.state(T0 + timedelta(hours=1)).consecutive_losses == 1
    doc = TradeOutcome.model_validate_json(next((tmp_path / "training").rglob(f"{tid}.json")).read_text())
    assert doc.outcome_source == "api" and doc.exit_reason == "resolution" and doc.won is False
    snap = HistorySnapshot.model_validate_json(next((tmp_path / "history_snapshots").rglob(f"{tid}.json")).read_text())
    assert snap.regime["label"] == "unknown"        # no candle history was available: said so, not invented
    assert j.positions("w") == {}                    # settled shares no longer count as held


def test_a_win_pays_one_per_share(tmp_path: Path) -> None:
    j, _, _, r, (tid,) = _setup(tmp_path, [FakeAPI(["Up"])])
    r.resolve_pending(T0 + timedelta(minutes=16))
    assert j.outcome(tid).pnl == pytest.approx(11.90 * (1 - 0.42))


def test_api_failure_is_counted_and_candles_take_over(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    bars = minute_bars(T0, [101.0] * 15, 100.0)
    j, ledger, events, r, (tid,) = _setup(
        tmp_path, [FakeAPI([TimeoutError("read timed out")]), CandleResolutionSource({"BTC": bars})])
    with caplog.at_level(logging.ERROR):
        rep = r.resolve_pending(T0 + timedelta(minutes=16))
    assert rep.resolved == [tid]
    assert j.outcome(tid).source == "candles" and j.outcome(tid).won is True
    assert r.failures[tid] == 1
    assert any(tid in rec.getMessage() and "read timed out" in rec.getMessage() for rec in caplog.records)
    fails = j.outcome_failures(tid)
    assert len(fails) == 1 and fails[0]["source"] == "api"
    errs = [json.loads(x) for x in events.path.read_text().splitlines() if '"error"' in x]
    assert errs and errs[0]["trade_cycle_id"] == tid and errs[0]["reason_codes"] == ["OUTCOME_UNRESOLVED"]


def test_seed_001_unresolved_outcomes_halt_entries(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    """Four windows, the API down and no candles: each failure is logged with its trade id and counted,
    and past the grace period the unresolved-outcomes guard blocks new entries."""
    cfg = GuardConfig(max_unresolved_outcomes=3, outcome_grace_s=900)
    j, ledger, events, r, ids = _setup(tmp_path, [FakeAPI([RuntimeError("HTTP 503")])], cfg=cfg, n=4)
    late = datetime.fromtimestamp(START + 4 * 900, UTC) + timedelta(seconds=901)
    with caplog.at_level(logging.ERROR):
        rep = r.resolve_pending(late)
    assert sorted(rep.failed) == sorted(ids) and rep.resolved == []
    assert all(r.failures[t] >= 1 for t in ids)
    for t in ids:
        assert any(t in rec.getMessage() for rec in caplog.records)
    state = ledger.state(late)
    assert state.unresolved_outcomes == 4
    intent = OrderIntent(kind=IntentKind.ENTRY, side=Side.BUY, qty=5, symbol=TOKEN, price=0.40, stop=0.0)
    adv = Advisory(action=AdvisoryAction.BUY, confidence=0.7, ts=late)
    v = evaluate(intent, BrokerSnapshot(positions={}, equity=118.4), state, cfg, adv, late)
    assert not v.allowed and ReasonCode.OUTCOME_UNRESOLVED in v.reason_codes


def test_not_yet_resolved_inside_the_grace_period_is_pending_not_a_failure(tmp_path: Path) -> None:
    j, ledger, events, r, (tid,) = _setup(tmp_path, [FakeAPI([None])])
    rep = r.resolve_pending(T0 + timedelta(minutes=20))
    assert rep.pending == [tid] and r.failures[tid] == 0
    rep = r.resolve_pending(T0 + timedelta(minutes=15 + 16))
    assert tid in rep.failed and r.failures[tid] == 1


def test_journal_locked_while_recording_an_outcome_halts_entries(tmp_path: Path) -> None:
    j, ledger, events, r, (tid,) = _setup(tmp_path, [FakeAPI(["Up"])])
    j._conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(j.path, timeout=0.05)
    other.execute("BEGIN EXCLUSIVE")
    try:
        rep = r.resolve_pending(T0 + timedelta(minutes=16))
    finally:
        other.rollback()
        other.close()
    assert rep.resolved == [] and r.failures[tid] >= 1
    assert ReasonCode.JOURNAL_UNWRITABLE in ledger.state().active_halts
    rep = r.resolve_pending(T0 + timedelta(minutes=17))       # the journal is back: resolved, not lost
    assert rep.resolved == [tid]


def test_learning_artefacts_are_idempotent_and_atomic(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    j, ledger, events, r, (tid,) = _setup(tmp_path, [FakeAPI(["Up"])])
    r.resolve_pending(T0 + timedelta(minutes=16))
    files = sorted(p for p in tmp_path.rglob(f"{tid}.json"))
    before = [p.read_bytes() for p in files]
    assert len(files) == 2
    assert r.rewrite_artifacts(tid)
    assert [p.read_bytes() for p in files] == before and r.hooks.unchanged == 2
    # a crash mid-write (rename never happens) leaves the old file and no partial or temp file
    for p in files:
        p.unlink()

    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise OSError("killed mid-write")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        r.rewrite_artifacts(tid)
    assert not any(p.exists() for p in files)
    assert not [p for p in tmp_path.rglob("*.tmp")]
