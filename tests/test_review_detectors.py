"""Every root cause is detected from what the evidence shows, on at least three variants of its story
(other seeds and orders, fields or files absent, other magnitudes), and is absent where the story is
absent. Generated bundles (tools/samples) plus hand-built forensics for the ways the formats allow."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_review_detection import detect
from tools.logs.bundle import Bundle
from tools.review import ml_calibration as cal
from tools.review import risk as risk_review
from tools.review import strategy as strategy_review
from tools.review.forensics import Forensics, TradeRow
from tools.review.forensics.models import ProcEvent
from tools.samples.demo_bundles import ESScenario, PolyScenario, write_es_bundle, write_polymarket_bundle
from trading.settings import GuardConfig

# story variants of each bundle kind: other seeds (other trade orders), files absent, other magnitudes
POLY_PRESENT: dict[str, dict[str, Any]] = {"seed7": {"seed": 7}, "seed99": {"seed": 99}, "no_state_file": {"state": False},
                "no_journal": {"journal": False}, "no_candles": {"candles": False},
                "larger_account": {"n_trades": 40, "n_wins": 8, "start_balance": 1000.0, "target_final": 80.0},
                "smaller_account": {"n_trades": 20, "n_wins": 4, "start_balance": 100.0, "target_final": 20.0}}
ES_PRESENT: dict[str, dict[str, Any]] = {"seed3": {"seed": 3}, "seed11": {"seed": 11}, "no_candles": {"candles": False},
              "no_events": {"events": False}, "long_gap": {"heartbeat_gap_min": 20}}
POLY_CAUSES = ("OUTCOME_RECORDING_FAILED", "DRAWDOWN_PEAK_RESET", "DRAWDOWN_HALT_MISSED", "LOSS_STREAK_UNTRACKED",
               "SWALLOWED_EXCEPTIONS", "UNREALIZED_LOSSES_HIDDEN", "OVERTRADING", "SERVICE_RESTARTS")
ES_CAUSES = ("EXIT_OPENED_POSITION", "ADVISORY_WAIT_IGNORED", "MISSING_PROTECTION", "STALE_BROKER_PNL", "TELEMETRY_GAP")
# the knob that takes a story away, for each cause
POLY_ABSENT: dict[str, dict[str, Any]] = {"DRAWDOWN_PEAK_RESET": {"peak_reset": False},
               "OUTCOME_RECORDING_FAILED": {"resolver_fails": False, "resolver_stops_at_min": None},
               "LOSS_STREAK_UNTRACKED": {"resolver_fails": False, "resolver_stops_at_min": None},
               "SWALLOWED_EXCEPTIONS": {"swallow": False}, "UNREALIZED_LOSSES_HIDDEN": {"accounting": "cash"},
               "OVERTRADING": {"spread_trades": True},
               "SERVICE_RESTARTS": {"restarts_at_min": (), "final_restart": False}}
ES_ABSENT: dict[str, dict[str, Any]] = {"EXIT_OPENED_POSITION": {"naked_exit": False}, "MISSING_PROTECTION": {"naked_exit": False},
             "STALE_BROKER_PNL": {"stale_pnl": False}, "ADVISORY_WAIT_IGNORED": {"wait_ignored": False},
             "TELEMETRY_GAP": {"wait_ignored": False}}
SEEDS = {"polymarket": (20260115, 7, 99), "es": (20251212, 3, 11)}

_cache: dict[tuple[str, str], set[str]] = {}


def _codes(root: Path, kind: str, kw: dict[str, Any]) -> set[str]:
    key = (kind, repr(sorted(kw.items())))
    if key not in _cache:
        logging.disable(logging.ERROR)          # the replayed halts log at ERROR by design
        try:
            path = root / f"{kind}{len(_cache)}"
            if kind == "polymarket":
                path = write_polymarket_bundle(path, replace(PolyScenario(), **kw))
            else:
                path = write_es_bundle(path, replace(ESScenario(), **kw))
            _cache[key] = detect(path)[0]
        finally:
            logging.disable(logging.NOTSET)
    return _cache[key]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("variants")


@pytest.mark.parametrize("cause", POLY_CAUSES)
def test_polymarket_cause_on_every_variant_of_its_story(root: Path, cause: str) -> None:
    hits = [name for name, kw in POLY_PRESENT.items() if cause in _codes(root, "polymarket", kw)]
    assert len(hits) == len(POLY_PRESENT), f"{cause} missed on {set(POLY_PRESENT) - set(hits)}"


@pytest.mark.parametrize("cause", ES_CAUSES)
def test_es_cause_on_every_variant_of_its_story(root: Path, cause: str) -> None:
    hits = [name for name, kw in ES_PRESENT.items() if cause in _codes(root, "es", kw)]
    assert len(hits) == len(ES_PRESENT), f"{cause} missed on {set(ES_PRESENT) - set(hits)}"


@pytest.mark.slow
@pytest.mark.parametrize("cause", sorted(POLY_ABSENT))
def test_polymarket_cause_absent_without_its_story(root: Path, cause: str) -> None:
    for seed in SEEDS["polymarket"]:
        assert cause not in _codes(root, "polymarket", {**POLY_ABSENT[cause], "seed": seed}), seed


@pytest.mark.slow
@pytest.mark.parametrize("cause", sorted(ES_ABSENT))
def test_es_cause_absent_without_its_story(root: Path, cause: str) -> None:
    for seed in SEEDS["es"]:
        assert cause not in _codes(root, "es", {**ES_ABSENT[cause], "seed": seed}), seed


# ------------------------------------------------------------------------------------------------
# hidden unrealised losses: every way the formats can show them

T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def _fx(n_loss: int = 6, loss: float = 20.0, start: float | None = 200.0) -> Forensics:
    fx = Forensics(bundle=Bundle(root=Path(".")), kind="polymarket", zone="UTC")
    for i in range(n_loss):
        t = T0 + timedelta(minutes=15 * i)
        fx.trades.append(TradeRow(trade_id=str(i), market=f"m{i}", asset="BTC", outcome="Up", entry_time=t,
                                  price=0.4, size=loss / 0.4, cost=loss, window_start=t,
                                  window_end=t + timedelta(minutes=15), won=False, pnl=-loss, source="candles"))
    if start is not None:
        fx.process.append(ProcEvent(ts=T0 - timedelta(minutes=1), source="bot.log", kind="state_loaded",
                                    fields={"balance": start}, ref="bot.log:L1"))
    return fx


def _readings(fx: Forensics, values: Sequence[tuple[float, float | None, float | None]], order: str = "time") -> None:
    """(minutes after T0, balance, drawdown %) readings as a bot's balance lines."""
    rows: list[tuple[datetime, float | None, float | None, float | None, str]] = [
        (T0 + timedelta(minutes=m), b, None, dd, f"bot.log:L{10 + i}") for i, (m, b, dd) in enumerate(values)]
    fx.balances = rows if order == "time" else rows[::-1]
    bal = [(r[0].timestamp(), r[1]) for r in sorted(rows, key=lambda r: r[0]) if r[1] is not None]
    fx.bal_ts = np.array([b[0] for b in bal])
    fx.bal_val = np.array([b[1] for b in bal], float)
    fx.bal_line = np.arange(10, 10 + len(bal), dtype=np.int64)
    fx.bal_src = [(0, "bot.log")]


def _hidden(fx: Forensics) -> bool:
    r = risk_review.analyze(fx, GuardConfig())
    return any(d.code.value == "UNREALIZED_LOSSES_HIDDEN" for d in r["detections"])


LATE = [(m, None, None) for m in (60, 90, 120)]


@pytest.mark.parametrize("story", ["balance_above_truth", "balance_above_truth_reversed", "drawdown_flat_on_checks",
                                   "drawdown_flat_on_balance_lines", "equity_flat_without_start"])
def test_hidden_losses_found_in_every_form(story: str) -> None:
    fx = _fx(start=None if story == "equity_flat_without_start" else 200.0)
    if story.startswith("balance_above_truth"):
        _readings(fx, [(m, 200.0, None) for m, _, _ in LATE], order="reversed" if "reversed" in story else "time")
    elif story == "drawdown_flat_on_checks":
        fx.dd_checks = [(T0 + timedelta(minutes=m), 0.0, 30.0, "OK", f"bot.log:L{m}") for m, _, _ in LATE]
    elif story == "drawdown_flat_on_balance_lines":
        _readings(fx, [(m, None, 1.0) for m, _, _ in LATE])
    else:
        _readings(fx, [(1, 500.0, None)] + [(m, 499.0, None) for m, _, _ in LATE])
    assert _hidden(fx)


@pytest.mark.parametrize("story", ["balance_tracks_truth", "drawdown_tracks_truth", "small_loss_within_noise",
                                   "readings_before_any_loss", "equity_falls_with_truth_without_start"])
def test_hidden_losses_absent_when_the_bot_saw_them(story: str) -> None:
    if story == "small_loss_within_noise":
        fx = _fx(n_loss=1, loss=2.0)
        _readings(fx, [(m, 200.0, 0.0) for m, _, _ in LATE])
    elif story == "readings_before_any_loss":
        fx = _fx()
        _readings(fx, [(m, 200.0, 0.0) for m in (1, 5, 10)])
    elif story == "balance_tracks_truth":
        fx = _fx()
        _readings(fx, [(60, 120.0, None), (90, 80.0, None), (120, 80.0, None)])
    elif story == "drawdown_tracks_truth":
        fx = _fx()
        _readings(fx, [(60, None, 40.0), (90, None, 60.0), (120, None, 60.0)])
    else:
        fx = _fx(start=None)
        _readings(fx, [(1, 500.0, None), (60, 420.0, None), (90, 380.0, None), (120, 380.0, None)])
    assert not _hidden(fx)


# ------------------------------------------------------------------------------------------------
# overtrading counts positions, not fills


def _maker(n_windows: int, fills_per_window: int, source: str) -> Forensics:
    fx = Forensics(bundle=Bundle(root=Path(".")), kind="polymarket", zone="UTC")
    k = 0
    for w in range(n_windows):
        ws = T0 + timedelta(minutes=15 * w)
        for f in range(fills_per_window):
            fx.trades.append(TradeRow(trade_id=str(k), market=f"btc-{w}", asset="BTC", outcome="Up",
                                      entry_time=ws + timedelta(seconds=10 * f), price=0.5, size=5, cost=2.5,
                                      window_start=ws, window_end=ws + timedelta(minutes=15), source=source))
            k += 1
    return fx


@pytest.mark.parametrize("fills_per_window", [1, 5, 40])
def test_a_market_maker_with_many_fills_per_position_is_not_overtrading(fills_per_window: int) -> None:
    out = strategy_review.analyze(_maker(4, fills_per_window, "fills"))
    assert out["metrics"]["trades"] == 4 and out["metrics"]["fills_or_rows"] == 4 * fills_per_window
    assert not out["detections"]


@pytest.mark.parametrize("n_windows", [12, 20, 36])
def test_many_positions_in_an_hour_is_overtrading_whatever_the_fills(n_windows: int) -> None:
    fx = _maker(n_windows, 3, "fills")
    for i, t in enumerate(fx.trades):          # windows every 4 minutes: many positions in one hour
        ws = T0 + timedelta(minutes=4 * (i // 3))
        fx.trades[i] = replace(t, window_start=ws, entry_time=ws + timedelta(seconds=10 * (i % 3)))
    out = strategy_review.analyze(fx)
    assert out["metrics"]["trades"] == n_windows
    assert [d.code.value for d in out["detections"]] == ["OVERTRADING"]


# ------------------------------------------------------------------------------------------------
# model calibration: overconfidence of three sizes found, honest and small samples not


@pytest.mark.parametrize("stated,true_rate,n", [(0.65, 0.18, 28), (0.8, 0.5, 60), (0.9, 0.6, 200)])
def test_overconfident_model_is_miscalibrated(stated: float, true_rate: float, n: int) -> None:
    rng = np.random.default_rng(int(stated * 100) + n)
    p = np.clip(rng.normal(stated, 0.05, n), 0.01, 0.99)
    y = (rng.random(n) < true_rate).astype(float)
    r = cal.calibration_report(y, p)
    assert r["miscalibrated"] and r["miscalibration_strength"] in ("confirmed", "likely")
    assert r["brier_ci_low"] <= r["brier"] <= r["brier_ci_high"]


@pytest.mark.parametrize("n,small", [(200, False), (60, False), (6, True)])
def test_calibrated_or_tiny_samples_are_not_miscalibrated(n: int, small: bool) -> None:
    rng = np.random.default_rng(n)
    p = rng.uniform(0.1, 0.9, n)
    y = (rng.random(n) < (0.2 if small else p)).astype(float)
    if small:
        p = np.full(n, 0.9)
    r = cal.calibration_report(y, p)
    assert not r["miscalibrated"] and r["miscalibration_strength"] == "inconclusive"
