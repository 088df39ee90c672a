"""The halt replay: Warden's own risk ledger and halt checks run over the incident's equity and outcomes.

The replay uses Warden's own controls, not a re-implementation: ``trading.records.risk_ledger.RiskLedger``
(peak = max of every equity mark, lowered only by an explicit operator entry; the halt latches) and
``trading.guards.halts``. Nothing is written to disk. Pure over its inputs; raises only what the ledger
raises on a non-finite mark (ValueError).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.review.forensics import Forensics
from tools.review.risk.equity import resolve_time
from trading.domain.reason_codes import ReasonCode
from trading.guards.halts import check_halts
from trading.records.risk_ledger import RiskLedger
from trading.settings import GuardConfig


class ReplayLedger(RiskLedger):
    """The persisted risk ledger's own fold (peak = max of every mark, latching halt, streak counting
    unresolved outcomes as losses), kept in memory: a replay must not write or fsync anything."""

    def __init__(self, cfg: GuardConfig) -> None:
        super().__init__(Path("/nonexistent/warden-replay-ledger.jsonl"), cfg)

    def _append(self, kind: str, ts: datetime | None = None, **data: Any) -> dict[str, Any]:
        entry = {"ts": (ts or datetime.now(UTC)).isoformat(), "type": kind, **data}
        self._apply(entry)
        return entry


def replay_halts(fx: Forensics, curve: Sequence[dict[str, Any]], cfg: GuardConfig, recorded_only: bool = False,
                 marks: Sequence[tuple[datetime, float]] | None = None) -> dict[str, Any]:
    """Replay the persisted risk ledger and the halt checks over the incident.

    ``recorded_only=False``: outcomes at their true resolution time (what the guard should have seen).
    ``recorded_only=True``: only the outcomes the bot recorded, equity from ``marks`` (the bot's own
    balance readings): what a never-reset peak and the unresolved-outcome fail-safe would have done
    with the bot's broken tracking.
    Returns the first time each halt code fires and, per trade, the codes that would have blocked it.
    """
    trades = sorted(fx.positions, key=lambda t: t.entry_time or datetime.min)
    events: list[tuple[datetime, int, str, Any]] = []
    for t in trades:
        if t.entry_time:
            events.append((t.entry_time, 2, "entry", t))
        rt = resolve_time(t)
        if rt and t.pnl is not None and (not recorded_only or t.recorded):
            events.append((rt, 0, "outcome", t))
    if recorded_only:
        for ts, eq in marks or []:
            events.append((ts, 1, "mark", eq))
    else:
        for p in curve:
            if p["ts"] is not None:
                events.append((p["ts"], 1, "mark", p["equity"]))
    events.sort(key=lambda e: (e[0], e[1]))
    first_fire: dict[str, datetime] = {}
    blocked: dict[str, list[str]] = {}
    halt_detail: dict[str, Any] = {}
    led = ReplayLedger(cfg)
    for ts, _, kind, obj in events:
        if kind == "mark":
            led.mark_equity(float(obj), ts=ts)
            st = led.state(now=ts)
            if st.halted and "DRAWDOWN_HALT" not in first_fire:
                first_fire["DRAWDOWN_HALT"] = ts
                halt_detail = {"equity": st.equity, "peak": st.peak_equity,
                               "drawdown_pct": round(st.drawdown_pct or 0.0, 2)}
        elif kind == "outcome":
            led.record_outcome(obj.trade_id, float(obj.pnl), ts=ts, source=obj.source)
        else:
            st = led.state(now=ts)
            res = check_halts(st, cfg)
            codes = [c.value for c in res.codes if c is not ReasonCode.EQUITY_UNKNOWN]
            for c in codes:
                first_fire.setdefault(c, ts)
            if codes:
                blocked[obj.trade_id] = codes
            rb = resolve_time(obj) if obj.window_end else None
            led.record_entry(obj.trade_id, resolve_by=rb, ts=ts)
    return {"first_fire": first_fire, "blocked": blocked, "halt": halt_detail}

