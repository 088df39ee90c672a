"""Incident plots (matplotlib, Agg backend, no pyplot state: safe from parallel team threads).

- equity curve: zoomed to the incident (the trades, plus a margin), the true view (reconstructed equity,
  or cumulative PnL from fills when the bundle has no balance: the labels say which) against the bot's
  own readings, the never-reset peak, the halt level and the point where the halt should have fired;
- reliability diagram: stated probability against realized win rate per bin, with a Wilson 95% band
  and the trades per bin;
- volatility by asset: annualized close-to-close volatility, baseline window vs incident window.
``*_figure`` builds the matplotlib Figure (tests inspect its axes, lines and labels); the plain function
writes it as a PNG atomically and returns its path.

Failure contract: an unwritable folder raises OSError and bad input ValueError (the team runner reports
either as a plot failure); a half-written PNG is never left behind.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from trading.records.atomic import atomic_write_bytes  # noqa: E402


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def _zoom(ts: Sequence[datetime], focus: tuple[datetime, datetime] | None) -> tuple[datetime, datetime] | None:
    if focus is None or not ts:
        return None
    a, b = focus
    pad = max((b - a) * 0.1, timedelta(minutes=5))
    return max(a - pad, min(ts)), min(b + pad, max(ts))


def equity_curve_figure(curve: Sequence[Mapping[str, Any]], *, halt_at: datetime | None = None,
                        limit_pct: float | None = None, bot_balance: Sequence[tuple[datetime, float]] = (),
                        title: str = "Equity", percent: bool = True,
                        focus: tuple[datetime, datetime] | None = None, ccy: str = "USD") -> Figure:
    """``percent``: the curve is account equity (drawdown in %); otherwise cumulative PnL (drawdown in USD).
    ``focus``: the incident (first to last trade); the x axis zooms to it, the run-up stays out of view."""
    ts = [p["ts"] for p in curve]
    eq = [p["equity"] for p in curve]
    peak = [p["peak"] for p in curve]
    what = "equity" if percent else "cumulative PnL"
    fig = Figure(figsize=(10, 6.5))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ax.step(ts, eq, where="post", label=f"true {what} (reconstructed from fills and outcomes)", color="#1f4e79", lw=2)
    ax.step(ts, peak, where="post", label=f"never-reset peak of {what}", color="#888888", ls="--", lw=1)
    if limit_pct and percent:
        ax.step(ts, [p * (1 - limit_pct / 100) for p in peak], where="post", color="#c00000", ls=":", lw=1.2,
                label=f"halt level ({limit_pct:g}% below peak)")
    if bot_balance:
        bts, bv = zip(*bot_balance)
        ax.step(bts, bv, where="post", color="#e69500", lw=1.2, alpha=0.9, label=f"bot's own view ({what} it logged)")
    if halt_at is not None:
        for a in (ax, ax2):
            a.axvline(halt_at, color="#c00000", lw=1.5)
        y = next((p["equity"] for p in curve if p["ts"] is not None and p["ts"] >= halt_at), eq[-1] if eq else 0)
        ax.annotate(f"halt should have fired\n{halt_at:%Y-%m-%d %H:%M} UTC", xy=(halt_at, y),
                    xytext=(12, 30), textcoords="offset points", color="#c00000",
                    arrowprops={"arrowstyle": "->", "color": "#c00000"})
    ax.set_title(title)
    ax.set_ylabel(f"{what} ({ccy})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if percent:
        dd = [-(p["drawdown_pct"] or 0.0) for p in curve]
        ax2.set_ylabel("drawdown from peak (%)")
    else:
        dd = [-(p["drawdown_usd"] or 0.0) for p in curve]
        ax2.set_ylabel(f"drawdown from peak ({ccy})")
    ax2.fill_between(ts, dd, step="post", color="#c00000", alpha=0.35)
    ax2.set_xlabel("time (UTC)")
    ax2.grid(alpha=0.3)
    z = _zoom(ts, focus)
    if z is not None:
        ax.set_xlim(*z)
        inside = [v for t, v in zip(ts, eq) if z[0] <= t <= z[1]] + \
                 [v for t, v in bot_balance if z[0] <= t <= z[1]]
        if inside:
            lo, hi = min(inside), max(inside)
            pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
            ax.set_ylim(lo - pad, hi + pad)
    fig.autofmt_xdate()
    return fig


def equity_curve(curve: Sequence[Mapping[str, Any]], path: Path, **kw: Any) -> Path:
    return _save(equity_curve_figure(curve, **kw), path)


def reliability_figure(rows: Sequence[Mapping[str, Any]], *, title: str = "Reliability") -> Figure:
    """Bins with ``mean_prob``, ``win_rate``, ``trades`` and optionally ``ci_low``/``ci_high`` (Wilson 95%)."""
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", color="#888888", label="perfect calibration")
    if rows:
        x = [r["mean_prob"] for r in rows]
        y = [r["win_rate"] for r in rows]
        n = [r["trades"] for r in rows]
        if all(r.get("ci_low") is not None for r in rows):
            ax.fill_between(x, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows], color="#1f4e79", alpha=0.18,
                            label="95% interval of the win rate (Wilson)")
        ax.plot(x, y, marker="o", color="#1f4e79", label="model: realized win rate per bin")
        for xi, yi, ni in zip(x, y, n):
            ax.annotate(f"n={ni}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("stated probability (bin mean)")
    ax.set_ylabel("realized win rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def reliability(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str = "Reliability") -> Path:
    return _save(reliability_figure(rows, title=title), path)


def volatility_figure(per_asset: Mapping[str, Mapping[str, Any]], *, subtitle: str = "",
                      title: str = "Realized volatility, baseline vs incident (annualized, close-to-close)") -> Figure:
    """``per_asset``: {asset: {"baseline": %, "incident": %, "baseline_bars": n, "incident_bars": n}}."""
    assets = list(per_asset)
    keys = ("baseline", "incident")
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    w = 0.38
    colors = {"baseline": "#7fa7d1", "incident": "#c00000"}
    for i, k in enumerate(keys):
        vals = [per_asset[a].get(k) for a in assets]
        bars = ax.bar([j + i * w for j in range(len(assets))], [v or 0.0 for v in vals], width=w,
                      label=f"{k} window", color=colors[k])
        for rect, v, a in zip(bars, vals, assets):
            nb = per_asset[a].get(f"{k}_bars")
            ax.annotate("n/a" if v is None else f"{v:.0f}%" + (f"\n{nb} bars" if nb else ""),
                        (rect.get_x() + rect.get_width() / 2, rect.get_height()), ha="center", va="bottom", fontsize=7)
    ax.set_xticks([j + w / 2 for j in range(len(assets))], assets)
    ax.set_ylabel("volatility, % annualized")
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


def volatility_by_asset(per_asset: Mapping[str, Mapping[str, Any]], path: Path, *, subtitle: str = "") -> Path:
    return _save(volatility_figure(per_asset, subtitle=subtitle), path)
