"""Acceptance: a paper session over a candle file runs end to end (signals, guarded orders, fills,
outcome JSON + snapshots, one trade_cycle_id per cycle in the event log, a session summary)."""
from __future__ import annotations

import json
import math
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.samples.candles import candle_rows
from trading.brokers.paper import PaperBroker
from trading.domain.models import Advisory, AdvisoryAction, Side, Signal
from trading.execution.advisor import rule_advisor
from trading.execution.wiring import make_broker, open_session
from trading.market.candles import Bar, read_candles
from trading.market.signals import BreakoutSignals, SignalContext, SignalLoadError, load_signal_source
from trading.records.journal import Journal
from trading.records.outcome_schema import HistorySnapshot, TradeOutcome
from trading.settings import Settings


def make_rows(n: int, seed: int, start: float = 5000.0) -> list[tuple]:
    """Synthetic ES-like 1-minute bars: trending and flat regimes of 100 bars, on the 0.25 tick grid."""
    return candle_rows(n, seed, start)


def write_csv(path: Path, rows: list[tuple], header: str = "timestamp,open,high,low,close,volume",
              unix_ms: bool = False) -> Path:
    with path.open("w") as fh:
        fh.write(header + "\n")
        for ts, *vals in rows:
            t = int(ts.timestamp() * 1000) if unix_ms else ts.isoformat()
            fh.write(",".join(str(x) for x in (t, *vals)) + "\n")
    return path


def events(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_paper_session_end_to_end(tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "ES-1m.csv", make_rows(400, seed=5))
    series = read_candles(csv)
    settings = Settings(data_dir=tmp_path / "data")
    broker = make_broker("paper", settings)
    session, problems = open_session(settings, broker, symbol="ES")
    assert problems == []
    summary = session.run(series.bars, flatten_at_end=True)

    # the summary is consistent with the journal (the source of truth)
    j = Journal(session.files.journal)
    outs = {o.trade_cycle_id: o for o in j.outcomes()}
    assert summary.bars == 400
    assert summary.trades == len(outs) >= 3
    assert summary.wins == sum(o.won for o in outs.values()) >= 1 and summary.losses >= 1
    assert summary.win_rate_pct == pytest.approx(summary.wins / summary.trades * 100, abs=0.01)
    assert summary.pnl_usd == pytest.approx(sum(o.pnl for o in outs.values()), abs=0.01)
    assert summary.end_equity - summary.start_equity == pytest.approx(summary.pnl_usd, abs=0.01)
    assert summary.max_drawdown_usd > 0 and 0 < summary.max_drawdown_pct < 100
    assert summary.open_position in (0, 0.0) and summary.open_trades == 0
    assert sum(summary.blocked_by_reason.values()) >= summary.blocked_orders > 0
    assert summary.blocked_by_reason and all(k.isupper() for k in summary.blocked_by_reason)
    assert summary.halts == [] and summary.errors == {}

    # learning artefacts: one outcome and one snapshot per closed trade, valid against the schema
    data = tmp_path / "data"
    for cycle, o in outs.items():
        [op] = list((data / "training" / "trade_outcomes").rglob(f"{cycle}.json"))
        [sp] = list((data / "history_snapshots").rglob(f"{cycle}.json"))
        doc = TradeOutcome.model_validate_json(op.read_text())
        snap = HistorySnapshot.model_validate_json(sp.read_text())
        assert doc.pnl_usd == o.pnl and doc.won == o.won and doc.venue == "paper"
        assert doc.signal is not None and doc.advisory is not None and doc.verdicts
        assert doc.fills and all(f.trade_cycle_id == cycle for f in doc.fills)
        assert doc.risk.stop is not None and doc.exit_reason in ("stop", "target", "signal")
        assert snap.candles and snap.candles[-1].ts <= doc.opened_at and snap.regime.get("label")
        assert op.parent.name == doc.closed_at.date().isoformat()
    assert summary.outcome_files == len(outs)

    # one trade_cycle_id per cycle: every order, fill and close of a trade carries the trade's own id
    evs = events(session.files.events)
    order_cycle = {e["payload"]["order_id"]: e["trade_cycle_id"] for e in evs if e["event"] == "order_sent"}
    fills = [e for e in evs if e["event"] == "fill"]
    assert fills and all(e["trade_cycle_id"] == order_cycle[e["payload"]["order_id"]] for e in fills)
    by_cycle: dict[str, set[str]] = defaultdict(set)
    for e in evs:
        by_cycle[e["trade_cycle_id"]].add(e["event"])
    for cycle in outs:
        assert {"signal", "advisory", "guard_verdict", "order_sent", "fill", "trade_closed", "pnl",
                "outcome"} <= by_cycle[cycle]
    verdicts = [e for e in evs if e["event"] == "guard_verdict"]
    assert all(e["trade_cycle_id"] for e in verdicts)
    # every guard verdict precedes the orders of its cycle
    first_order = {}
    for n, e in enumerate(evs):
        if e["event"] == "order_sent":
            first_order.setdefault(e["trade_cycle_id"], n)
    first_verdict = {}
    for n, e in enumerate(evs):
        if e["event"] == "guard_verdict":
            first_verdict.setdefault(e["trade_cycle_id"], n)
    assert all(first_verdict[c] < n for c, n in first_order.items())
    assert [e["payload"]["stage"] for e in evs if e["event"] == "session"] == ["start", "end"]


def test_warden_run_cli_paper_json(tmp_path: Path) -> None:
    from warden.cli import app

    csv = write_csv(tmp_path / "es.csv", make_rows(300, seed=9), header="Date,Open,High,Low,Close,Volume",
                    unix_ms=True)
    res = CliRunner().invoke(app, ["run", "--broker", "paper", "--candles", str(csv), "--symbol", "ES",
                                   "--data-dir", str(tmp_path / "d"), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["bars"] == 300 and doc["broker"] == "paper" and doc["trades"] >= 1
    assert set(doc) >= {"trades", "win_rate_pct", "pnl_usd", "max_drawdown_usd", "max_drawdown_pct",
                        "blocked_by_reason"}
    # the table form prints the same figures for a person
    res2 = CliRunner().invoke(app, ["run", "--candles", str(csv), "--data-dir", str(tmp_path / "e"), "--quiet"])
    assert res2.exit_code == 0 and "win rate" in res2.stdout and "max drawdown" in res2.stdout


def test_warden_run_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    import subprocess

    from warden.cli import app
    from warden.errors import UserError

    bad = tmp_path / "bad.csv"
    bad.write_text("when,open,high,low,close\n2025-01-01T00:00:00Z,1,2,0.5,1\n")
    ok = write_csv(tmp_path / "ok.csv", make_rows(30, 1))
    for args, needle in ((["--candles", str(tmp_path / "missing.csv")], "no such file"),
                         (["--candles", str(ok), "--signals", "nosuchmodule_xyz:fn"], "cannot import module"),
                         (["--candles", str(ok), "--symbol", "DOGE"], "no contract spec")):
        res = CliRunner().invoke(app, ["run", *args, "--data-dir", str(tmp_path / "d")])
        assert isinstance(res.exception, UserError) and needle in str(res.exception), (args, res.exception)
    # through the real entry point: one line on stderr, exit 2, no traceback
    r = subprocess.run([sys.executable, "-m", "warden", "run", "--candles", str(bad), "--data-dir",
                        str(tmp_path / "d")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert "no time column" in r.stderr and "when" in r.stderr


def test_a_second_paper_run_resumes_the_account_by_default(tmp_path: Path) -> None:
    """The paper account lives in the data dir: a second run resumes it (position, working bracket, ledger)
    with ids that continue where run 1 stopped."""
    rows = make_rows(250, seed=1)
    settings = Settings(data_dir=tmp_path)
    s1, _ = open_session(settings, make_broker("paper", settings), symbol="ES")
    s1.run([Bar(*r) for r in rows], flatten_at_end=False)
    pos1, orders1 = s1.broker.positions(), s1.broker.open_orders()
    assert pos1 and orders1                                     # run 1 ends short with a live bracket
    s2, problems = open_session(settings, make_broker("paper", settings), symbol="ES")
    s2.start()
    assert problems == [] and s2.executor.last_reconcile.ok
    assert s2.broker.account_id == s1.broker.account_id and s1.files.ledger == s2.files.ledger
    assert s2.broker.positions() == pos1
    assert {o.order_id for o in s2.broker.open_orders()} == {o.order_id for o in orders1}
    assert s2.executor.open_trade("ES") is not None             # run 1's trade is still managed
    known = {f.exec_id for f in s1.broker.executions()}
    nxt = s2.broker.place_reduce_only("x", "ES", Side.BUY, 1)
    assert nxt.order_id not in {o.order_id for o in orders1} and nxt.order_id.startswith(s1.broker.account_id)
    new = s2.broker.on_bar("ES", Bar(rows[-1][0] + timedelta(minutes=1), *rows[-1][1:]))
    assert new and not {f.exec_id for f in new} & known         # exec ids continue, never reused


def test_a_fresh_paper_account_starts_clean(tmp_path: Path) -> None:
    """``fresh_account=True`` is the explicit choice of a new account: run 1's ledger, positions and
    records never leak into it."""
    rows = make_rows(250, seed=1)
    settings = Settings(data_dir=tmp_path)
    s1, _ = open_session(settings, make_broker("paper", settings), symbol="ES")
    s1.run([Bar(*r) for r in rows], flatten_at_end=False)
    assert s1.broker.positions() and s1.broker.open_orders()     # run 1 ends short with a live bracket
    s2, problems = open_session(settings, make_broker("paper", settings, fresh_account=True), symbol="ES")
    s2.start()
    assert problems == [] and s2.executor.last_reconcile.ok
    assert s2.executor.last_reconcile.closed_orders == []       # run 1's records are not touched
    assert s2.executor.open_trade("ES") is None
    assert s1.files.ledger != s2.files.ledger and not (tmp_path / "risk" / "ledger.jsonl").exists()


# -- signals and advisors ----------------------------------------------------------------------------

def _ctx(pos: float = 0.0) -> SignalContext:
    return SignalContext(symbol="ES", now=datetime(2025, 1, 1, tzinfo=UTC), position=pos)


def _trend_bars(n: int = 80, step: float = 0.0, last_jump: float = 0.0) -> list[Bar]:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        c = 5000 + step * i + (last_jump if i == n - 1 else 0)
        out.append(Bar(t + timedelta(minutes=i), c - 0.25, c + 1, c - 1, c, 100))
    return out


def test_breakout_rule_entries_exits_and_levels() -> None:
    rule = BreakoutSignals()
    assert rule(_trend_bars(30), _ctx()) is None                       # not warmed up
    assert rule(_trend_bars(80), _ctx()) is None                       # flat: no breakout
    up = rule(_trend_bars(80, step=0.0, last_jump=6), _ctx())
    assert up.side is Side.BUY and up.label == "BREAKOUT_BUY"
    atr = up.features["atr"]
    # a long's stop and target round DOWN to the 0.25 tick (safe direction: the stop only widens)
    assert up.stop == pytest.approx(math.floor((up.price - 1.5 * atr) * 4) / 4)
    assert up.target == pytest.approx(math.floor((up.price + 3 * atr) * 4) / 4)
    assert up.stop < up.price < up.target and 0.5 <= up.confidence <= 1
    down = rule(_trend_bars(80, last_jump=-6), _ctx())
    assert down.side is Side.SELL and down.target < down.price < down.stop
    # holding a long, a close under the exit channel is an exit signal with no levels
    ex = rule(_trend_bars(80, last_jump=-6), _ctx(pos=1))
    assert ex.side is Side.SELL and ex.label == "EXIT_LONG" and ex.stop is None
    assert rule(_trend_bars(80, last_jump=6), _ctx(pos=1)) is None


def user_signals(bars, ctx):  # noqa: ANN001, ANN201 - a user's plug-in, loaded by name below
    if len(bars) == 3:
        return {"side": "BUY", "confidence": 0.9, "price": bars[-1].close, "stop": bars[-1].close - 2,
                "target": bars[-1].close + 4, "label": "MY_BOT_BUY"}
    return None


class UserSignalClass:
    def __call__(self, bars, ctx):  # noqa: ANN001, ANN204
        return None


def test_user_signal_sources_plug_in_by_name() -> None:
    src = load_signal_source("tests.test_session_loop:user_signals")
    bars = _trend_bars(3)
    sig = src(bars, _ctx())
    assert isinstance(sig, Signal) and sig.label == "MY_BOT_BUY" and sig.symbol == "ES"
    assert load_signal_source("tests.test_session_loop:UserSignalClass")(bars, _ctx()) is None
    assert isinstance(load_signal_source(None), BreakoutSignals)
    with pytest.raises(SignalLoadError, match="no attribute"):
        load_signal_source("tests.test_session_loop:nope")
    with pytest.raises(SignalLoadError, match="warden.signals"):
        load_signal_source("not-an-entry-point")


def test_advisor_failure_fails_closed(tmp_path: Path) -> None:
    def broken(signal, ctx):  # noqa: ANN001, ANN202
        raise TimeoutError("bedrock read timeout")

    calls = []

    def one_shot(bars, ctx):  # noqa: ANN001, ANN202
        if len(bars) == 5 and not calls:
            calls.append(1)
            return Signal(symbol="ES", side=Side.BUY, confidence=0.9, price=bars[-1].close,
                          stop=bars[-1].close - 4, target=bars[-1].close + 8, ts=ctx.now)
        return None

    settings = Settings(data_dir=tmp_path)
    session, _ = open_session(settings, PaperBroker(), symbol="ES", signals=one_shot, advisor=broken)
    summary = session.run([Bar(*r) for r in make_rows(10, 1)])
    assert summary.entries_sent == 0 and summary.blocked_by_reason.get("LLM_UNAVAILABLE") == 1
    assert summary.errors.get("advisor_errors") == 1


def test_rule_advisor_waits_without_levels_or_on_a_spike() -> None:
    from trading.execution.advisor import AdvisorContext

    now = datetime(2025, 1, 1, tzinfo=UTC)
    calm = _trend_bars(60)
    ctx = AdvisorContext(symbol="ES", now=now, bars=calm, position=0, intent_kind="entry", trade_cycle_id="c")
    good = Signal(symbol="ES", side=Side.BUY, confidence=0.8, price=5000, stop=4995, target=5010)
    assert rule_advisor(good, ctx).action is AdvisoryAction.BUY
    assert rule_advisor(good.model_copy(update={"stop": None}), ctx).action is AdvisoryAction.WAIT
    assert rule_advisor(good.model_copy(update={"confidence": 0.5}), ctx).action is AdvisoryAction.WAIT
    spiky = calm[:-5] + [Bar(b.ts, b.open, b.high + 30, b.low - 30, b.close, 1) for b in calm[-5:]]
    spike = rule_advisor(good, AdvisorContext("ES", now, spiky, 0, "entry", "c"))
    assert spike.action is AdvisoryAction.WAIT and "spike" in spike.rationale
    exit_adv = rule_advisor(good.model_copy(update={"side": Side.SELL, "stop": None}),
                            AdvisorContext("ES", now, spiky, 1, "exit", "c"))
    assert exit_adv.action is AdvisoryAction.SELL and isinstance(exit_adv, Advisory)


def test_follow_mode_picks_up_appended_rows(tmp_path: Path) -> None:
    rows = make_rows(120, seed=2)
    csv = write_csv(tmp_path / "live.csv", rows[:100])
    settings = Settings(data_dir=tmp_path / "d")
    seen = []

    def spy(bars, ctx):  # noqa: ANN001, ANN202
        seen.append(bars[-1].ts)
        return None

    session, _ = open_session(settings, PaperBroker(), symbol="ES", signals=spy, replay=False)
    polls = {"n": 0}

    def stop() -> bool:
        polls["n"] += 1
        if polls["n"] == 2:
            write_csv(csv, rows)                      # the feed appended 20 bars
        return polls["n"] > 3

    summary = session.follow(lambda: read_candles(csv).bars, poll_s=0.01, stop=stop)
    assert seen == [r[0] for r in rows[100:]]         # the 100 old rows only warmed the history up
    assert summary.bars == 20


# -- a Polymarket-style window through the loop: the venue maps the signal to a share --------------------

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
WSTART = datetime(2026, 1, 15, 0, 15, tzinfo=UTC)          # btc-updown-15m-1768436100


class ShareVenue(PaperBroker):
    """Paper venue quoting one Up share at 0.42 for the next 15-minute window (the real mapping is the
    Polymarket adapter's job); fills come from its own flat share-price bars."""

    def market_for(self, signal, now):  # noqa: ANN001, ANN201
        if signal.side is not Side.BUY:
            return None
        return {"symbol": TOKEN, "price": 0.42, "stop": 0.0, "target": 1.0,
                "market_slug": f"btc-updown-15m-{int(WSTART.timestamp())}", "outcome_label": "Up",
                "resolve_by": WSTART + timedelta(minutes=15)}

    def on_bar(self, symbol, bar, bar_end=None):  # noqa: ANN001, ANN201
        super().on_bar(TOKEN, Bar(bar.ts, 0.42, 0.42, 0.42, 0.42, 1e6), bar_end)
        return super().on_bar(symbol, bar, bar_end)


def test_binary_window_through_the_loop_is_resolved_from_candles(tmp_path: Path) -> None:
    t0 = WSTART - timedelta(minutes=5)
    closes = [100.0 + 0.1 * i for i in range(30)]                 # BTC rises through the window: Up wins
    bars_ = [Bar(t0 + timedelta(minutes=i), c - 0.05, c + 0.1, c - 0.1, c, 1) for i, c in enumerate(closes)]

    def once(bars, ctx):  # noqa: ANN001, ANN202
        if len(bars) == 3:
            return Signal(symbol="BTC", side=Side.BUY, confidence=0.8, price=bars[-1].close, ts=ctx.now)
        return None

    def agree_adv(signal, ctx):  # noqa: ANN001, ANN202
        return Advisory(action=AdvisoryAction.BUY, confidence=0.8, ts=ctx.now, source="test")

    settings = Settings(data_dir=tmp_path)
    venue = ShareVenue(commission_per_contract=0.0)
    session, _ = open_session(settings, venue, symbol="BTC", signals=once, advisor=agree_adv, qty=10)
    summary = session.run(bars_)
    j = Journal(session.files.journal)
    [trade] = j.trades()
    assert (trade.symbol, trade.market_slug, trade.outcome_label) == (TOKEN, "btc-updown-15m-1768436100", "Up")
    out = j.outcome(trade.trade_cycle_id)
    assert out is not None and out.source == "candles" and out.winner == "Up" and out.won
    assert out.pnl == pytest.approx(10 * (1 - 0.42))
    assert summary.trades == 1 and summary.win_rate_pct == 100.0
    # the paper venue settled the shares at 1 (cash moved); the journal's fills still hold them: no mismatch
    assert venue.positions() == [] and venue.account().cash == pytest.approx(100_000 + 10 * (1 - 0.42))
    rep = session.executor.reconcile("manual")
    assert rep.ok, rep.describe()


def test_make_broker_builds_paper_and_says_clearly_when_an_adapter_is_missing(monkeypatch) -> None:  # noqa: ANN001
    from trading.execution.wiring import BrokerSetupError

    s = Settings(broker={"starting_cash": 5000, "commission_per_contract": 1.5, "slippage_ticks": 2})
    p = make_broker("paper", s)
    assert isinstance(p, PaperBroker) and (p.starting_cash, p.commission, p.slippage_ticks) == (5000, 1.5, 2)
    monkeypatch.setitem(sys.modules, "trading.brokers.polymarket", None)     # not installed
    with pytest.raises(BrokerSetupError, match=r"polymarket adapter is not available.*warden\[polymarket\]"):
        make_broker("polymarket", s)
    with pytest.raises(BrokerSetupError, match="unknown broker"):
        make_broker("binance", s)
    try:
        import trading.brokers.ib  # noqa: F401
    except ImportError:
        return
    ib = make_broker("ib", s)                     # built, not connected (no Gateway here)
    assert type(ib).__name__ == "IBBroker"


# -- a SELL view on the asset buys the Down share; venue errors skip the entry, never stop the loop ---------

class DownVenue(ShareVenue):
    def market_for(self, signal, now):  # noqa: ANN001, ANN201
        if signal.side is Side.BUY:
            from trading.brokers.base import BrokerUnavailable

            raise BrokerUnavailable("gamma timed out")
        return {"symbol": TOKEN, "price": 0.42, "stop": 0.0, "target": 1.0, "side": Side.BUY,
                "market_slug": f"btc-updown-15m-{int(WSTART.timestamp())}", "outcome_label": "Down",
                "resolve_by": WSTART + timedelta(minutes=15)}


def test_sell_signal_buys_down_share_and_venue_errors_are_counted(tmp_path: Path) -> None:
    t0 = WSTART - timedelta(minutes=5)
    bars_ = [Bar(t0 + timedelta(minutes=i), 100.0, 100.1, 99.9, 100.0, 1) for i in range(12)]

    def two(bars, ctx):  # noqa: ANN001, ANN202
        side = {3: Side.BUY, 5: Side.SELL, 7: Side.BUY}.get(len(bars))
        return Signal(symbol="BTC", side=side, confidence=0.8, price=100.0, ts=ctx.now) if side else None

    def agree(signal, ctx):  # noqa: ANN001, ANN202
        # honest: agrees with the view it is asked about (SELL BTC), which the venue maps to BUY Down
        return Advisory(action=AdvisoryAction(signal.side.value), confidence=0.8, ts=ctx.now, source="test")

    venue = DownVenue(commission_per_contract=0.0)
    session, _ = open_session(Settings(data_dir=tmp_path), venue, symbol="BTC", signals=two, advisor=agree, qty=10)
    summary = session.run(bars_)
    assert session.counts["venue_errors"] == 2 and summary.errors == {"venue_errors": 2}
    [trade] = Journal(session.files.journal).trades()
    assert trade.side == "BUY" and trade.outcome_label == "Down"     # bought, never shorted
