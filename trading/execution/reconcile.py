"""Reconciliation: the broker's positions, open orders and executions against our journal.

Run on start, after every reconnect and on a timer (``GuardedExecutor.reconcile``). Executions the
journal missed (a crash between "order sent" and "fill recorded") are ingested first, idempotently on
exec_id; only what still differs afterwards is a mismatch. A mismatch halts new entries with
RECONCILE_MISMATCH and a detail that says exactly what differs; the halt latches until an operator
clears it (``warden risk clear-halt --code RECONCILE_MISMATCH``). A broker that cannot be read is
reported as an error, not a mismatch: the guards already block entries on POSITION_UNKNOWN.

This module holds the report and the position diff; ``trading.execution.reconciler`` runs the pass.
Failure contract: ``diff_positions`` and ``ReconcileReport`` are pure and raise nothing.
"""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

EPS = 1e-9


class PositionDiff(BaseModel):
    symbol: str
    broker: float
    journal: float

    @property
    def delta(self) -> float:
        return self.broker - self.journal


class ReconcileReport(BaseModel):
    ts: datetime
    trigger: str                                   # start | reconnect | timer | manual
    error: str | None = None                       # the broker could not be read
    broker_positions: dict[str, float] | None = None
    journal_positions: dict[str, float] = Field(default_factory=dict)
    position_diffs: list[PositionDiff] = Field(default_factory=list)
    unknown_broker_orders: list[str] = Field(default_factory=list)   # working at the broker, unknown to us
    recovered_fills: list[str] = Field(default_factory=list)         # exec ids the journal had missed
    adopted_orders: list[str] = Field(default_factory=list)          # sent before a crash, now tracked
    closed_orders: list[str] = Field(default_factory=list)           # we thought working; broker says not
    voided_trades: list[str] = Field(default_factory=list)           # judged, never sent (stopped in between)
    settled_shares: list[str] = Field(default_factory=list)          # resolved in the journal, paid out at start

    @property
    def mismatch(self) -> bool:
        return bool(self.position_diffs or self.unknown_broker_orders)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatch

    def describe(self) -> str:
        if self.error:
            return f"reconcile ({self.trigger}) could not read the broker: {self.error}"
        parts = [f"{d.symbol}: broker {d.broker:g} vs journal {d.journal:g}" for d in self.position_diffs]
        if self.unknown_broker_orders:
            parts.append("open orders unknown to the journal: " + ", ".join(self.unknown_broker_orders))
        head = "positions differ: " if self.position_diffs else ""
        if not parts:
            voided = f", {len(self.voided_trades)} unsent trades voided" if self.voided_trades else ""
            if self.settled_shares:
                voided += f", {len(self.settled_shares)} resolved shares settled"
            return (f"reconcile ({self.trigger}) ok: {len(self.recovered_fills)} fills recovered, "
                    f"{len(self.adopted_orders)} orders adopted, {len(self.closed_orders)} orders closed{voided}")
        return f"reconcile ({self.trigger}) mismatch: {head}" + "; ".join(parts)


def diff_positions(broker: dict[str, float], journal: dict[str, float], tol: float = EPS) -> list[PositionDiff]:
    """Every symbol whose signed quantity differs (a symbol missing on one side counts as 0 there)."""
    out = []
    for sym in sorted(set(broker) | set(journal)):
        b, j = float(broker.get(sym, 0.0)), float(journal.get(sym, 0.0))
        if abs(b - j) > tol:
            out.append(PositionDiff(symbol=sym, broker=b, journal=j))
    return out
