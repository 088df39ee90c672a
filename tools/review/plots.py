"""Incident plots (matplotlib, Agg backend, no pyplot state: safe from parallel team threads).

- equity curve: true equity, its never-reset peak, the drawdown limit line, the bot's own balance
  readings, and the point where the halt should have fired; drawdown below;
- reliability curve: stated probability against realized win rate per bin;
- volatility by asset: annualized close-to-close volatility, earlier period vs incident.
Each function writes a PNG atomically and returns its path.

Failure contract: an unwritable folder raises OSError and bad input ValueError (the team runner reports
either as a plot failure); a half-written PNG is never left behind.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
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


def equity_curve(curve: Sequence[Mapping[str, Any]], path: Path, *, halt_at: datetime | None = None,
                 limit_pct: float | None = None, bot_balance: Sequence[tuple[datetime, float]] = (),
                 title: str = "Equity", percent: bool = True) -> Path:
    ts = [p["ts"] for p in curve]
    eq = [p["equity"] for p in curve]
    peak = [p["peak"] for p in curve]
    fig = Figure(figsize=(10, 6.5))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    ax.step(ts, eq, where="post", label="true equity (reconstructed)", color="#1f4e79", lw=2)
    ax.step(ts, peak, where="post", label="never-reset peak", color="#888888", ls="--", lw=1)
    if limit_pct and percent:
        ax.step(ts, [p * (1 - limit_pct / 100) for p in peak], where="post", color="#c00000", ls=":", lw=1.2,
                label=f"halt level ({limit_pct:g}% below peak)")
    if bot_balance:
        bts, bv = zip(*bot_balance)
        ax.step(bts, bv, where="post", color="#e69500", lw=1.2, alpha=0.9, label="bot's own balance")
    if halt_at is not None:
        for a in (ax, ax2):
            a.axvline(halt_at, color="#c00000", lw=1.5)
        y = next((p["equity"] for p in curve if p["ts"] is not None and p["ts"] >= halt_at), eq[-1] if eq else 0)
        ax.annotate(f"halt should have fired\n{halt_at:%Y-%m-%d %H:%M} UTC", xy=(halt_at, y),
                    xytext=(12, 30), textcoords="offset points", color="#c00000",
                    arrowprops={"arrowstyle": "->", "color": "#c00000"})
    ax.set_title(title)
    ax.set_ylabel("USD")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if percent:
        dd = [p["drawdown_pct"] or 0.0 for p in curve]
        ax2.fill_between(ts, [-d for d in dd], step="post", color="#c00000", alpha=0.35)
        ax2.set_ylabel("drawdown %")
    else:
        dd = [p["drawdown_usd"] for p in curve]
        ax2.fill_between(ts, [-d for d in dd], step="post", color="#c00000", alpha=0.35)
        ax2.set_ylabel("drawdown USD")
    ax2.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _save(fig, path)


def reliability(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str = "Reliability") -> Path:
    fig = Figure(figsize=(5.5, 5.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", color="#888888", label="perfect calibration")
    if rows:
        x = [r["mean_prob"] for r in rows]
        y = [r["win_rate"] for r in rows]
        n = [r["trades"] for r in rows]
        ax.plot(x, y, marker="o", color="#1f4e79", label="model")
        for xi, yi, ni in zip(x, y, n):
            ax.annotate(str(ni), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("stated probability (bin mean)")
    ax.set_ylabel("realized win rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def volatility_by_asset(per_asset: Mapping[str, Mapping[str, float | None]], path: Path, *,
                        title: str = "Realized volatility (annualized, close-to-close)") -> Path:
    assets = list(per_asset)
    keys = [k for k in ("earlier", "incident", "overall") if any(per_asset[a].get(k) is not None for a in assets)]
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    w = 0.8 / max(len(keys), 1)
    colors = {"earlier": "#7fa7d1", "incident": "#c00000", "overall": "#1f4e79"}
    for i, k in enumerate(keys):
        vals = [per_asset[a].get(k) or 0.0 for a in assets]
        ax.bar([j + i * w for j in range(len(assets))], vals, width=w, label=k, color=colors.get(k))
    ax.set_xticks([j + w * (len(keys) - 1) / 2 for j in range(len(assets))], assets)
    ax.set_ylabel("% annualized")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return _save(fig, path)
