"""Plots a trader reads at a glance: each Figure is inspected (axes, lines, labels, limits) before it is
saved, and drawn from the data given (change the data, the drawing changes)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.dates import num2date

from tools.review import plots

T0 = datetime(2026, 1, 15, tzinfo=UTC)


def _curve(n: int = 40, start: float = 250.0, flat: int = 30) -> list[dict]:
    eq, out, peak = start, [], start
    for i in range(n):
        eq += 0.0 if i < flat else -8.0
        peak = max(peak, eq)
        out.append({"ts": T0 + timedelta(hours=i), "equity": eq, "peak": peak,
                    "drawdown_pct": (peak - eq) / peak * 100, "drawdown_usd": peak - eq})
    return out


def _dt(x: object) -> datetime:
    return x if isinstance(x, datetime) else num2date(float(x))  # type: ignore[arg-type]


def _legend(ax) -> list[str]:  # type: ignore[no-untyped-def]
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def test_equity_chart_zooms_to_the_incident_with_halt_and_both_views(tmp_path: Path) -> None:
    curve = _curve()
    halt = T0 + timedelta(hours=33)
    bot = [(T0 + timedelta(hours=i), 250.0) for i in range(0, 40, 2)]
    focus = (T0 + timedelta(hours=30), T0 + timedelta(hours=39))
    fig = plots.equity_curve_figure(curve, halt_at=halt, limit_pct=30, bot_balance=bot, focus=focus,
                                    title="True equity vs the bot's view", ccy="USDC")
    ax, ax2 = fig.axes
    labels = _legend(ax)
    assert any(t.startswith("true equity") for t in labels) and any(t.startswith("bot's own view") for t in labels)
    assert any("halt level (30% below peak)" == t for t in labels)
    assert ax.get_ylabel() == "equity (USDC)" and ax2.get_ylabel() == "drawdown from peak (%)"
    # zoomed: the flat 30 hours before the incident are mostly out of view
    lo, hi = (_dt(x) for x in ax.get_xlim())
    assert lo >= T0 + timedelta(hours=28) and hi <= T0 + timedelta(hours=40)
    # the true line is the data given
    true_line = next(ln for ln in ax.get_lines() if str(ln.get_label()).startswith("true equity"))
    assert list(np.asarray(true_line.get_ydata())) == [p["equity"] for p in curve]
    # the halt marker sits at the halt time on both axes
    vlines = [ln for a in (ax, ax2) for ln in a.get_lines() if len(set(np.asarray(ln.get_xdata()).tolist())) == 1]
    assert len(vlines) == 2 and all(_dt(np.asarray(ln.get_xdata()).tolist()[0]) == halt for ln in vlines)
    assert any("halt should have fired" in t.get_text() for t in ax.texts)
    assert plots.equity_curve(curve, tmp_path / "e.png", halt_at=halt, focus=focus).stat().st_size > 1000


def test_cumulative_pnl_chart_never_says_equity() -> None:
    curve = [dict(p, equity=p["equity"] - 250.0, peak=p["peak"] - 250.0, drawdown_pct=None) for p in _curve()]
    fig = plots.equity_curve_figure(curve, percent=False, bot_balance=[(T0, 0.0)], title="Cumulative PnL")
    ax, ax2 = fig.axes
    labels = _legend(ax)
    assert labels and all("equity" not in t for t in labels)
    assert any(t.startswith("true cumulative PnL") for t in labels)
    assert ax.get_ylabel() == "cumulative PnL (USD)" and ax2.get_ylabel() == "drawdown from peak (USD)"


def test_volatility_chart_compares_incident_with_baseline_per_asset() -> None:
    per: dict[str, dict[str, Any]] = {"BTC": {"baseline": 45.2, "incident": 106.0, "baseline_bars": 177, "incident_bars": 177},
           "ETH": {"baseline": 60.1, "incident": 152.1, "baseline_bars": 177, "incident_bars": 177},
           "ES": {"baseline": None, "incident": 15.9, "baseline_bars": 0, "incident_bars": 190}}
    fig = plots.volatility_figure(per, subtitle="incident 07:20 to 10:18 vs the same length before")
    ax = fig.axes[0]
    assert _legend(ax) == ["baseline window", "incident window"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["BTC", "ETH", "ES"]
    heights = [round(p.get_height(), 1) for p in ax.patches]  # type: ignore[attr-defined]
    assert heights == [45.2, 60.1, 0.0, 106.0, 152.1, 15.9]
    notes = [t.get_text() for t in ax.texts]
    assert "n/a" in notes and any("177 bars" in t for t in notes)
    assert "baseline vs incident" in ax.get_title() and "07:20" in ax.get_title()
    assert ax.get_ylabel() == "volatility, % annualized"


def test_reliability_diagram_draws_bins_with_their_interval_band() -> None:
    rows = [{"mean_prob": 0.55, "win_rate": 0.2, "trades": 10, "ci_low": 0.06, "ci_high": 0.51},
            {"mean_prob": 0.7, "win_rate": 0.17, "trades": 12, "ci_low": 0.05, "ci_high": 0.45},
            {"mean_prob": 0.85, "win_rate": 0.0, "trades": 6, "ci_low": 0.0, "ci_high": 0.39}]
    fig = plots.reliability_figure(rows, title="Reliability of the model's stated prob")
    ax = fig.axes[0]
    model = next(ln for ln in ax.get_lines() if str(ln.get_label()).startswith("model"))
    assert list(np.asarray(model.get_xdata())) == [0.55, 0.7, 0.85] and list(np.asarray(model.get_ydata())) == [0.2, 0.17, 0.0]
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1 and str(band[0].get_label()).startswith("95% interval")
    verts = np.asarray(band[0].get_paths()[0].vertices)
    assert verts[:, 1].max() == pytest.approx(0.51) and np.isclose(verts[:, 1], 0.39).any()
    assert [t.get_text() for t in ax.texts] == ["n=10", "n=12", "n=6"]
    assert ax.get_xlabel() == "stated probability (bin mean)" and ax.get_ylabel() == "realized win rate"
    # without intervals there is no band (nothing invented)
    plain = plots.reliability_figure([{k: v for k, v in r.items() if not k.startswith("ci")} for r in rows])
    assert not [c for c in plain.axes[0].collections if isinstance(c, PolyCollection)]
