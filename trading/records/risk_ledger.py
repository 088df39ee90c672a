"""The persisted risk ledger: append-only JSONL folded into a ``RiskState``.

Seed 001: the bot's drawdown halt never fired because a restart reset ``peak_balance`` to the current
balance. Here the peak is the maximum of every equity mark ever appended; it survives restarts and is
lowered only by an explicit, logged ``peak_reset`` entry. A drawdown halt latches until an operator
appends ``halt_cleared``. Unknown entry types are kept and ignored (forward compatible), a corrupt
line is counted and skipped, never silently dropped.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from trading.domain.models import utcnow
from trading.domain.reason_codes import ReasonCode
from trading.guards.inputs import RiskState
from trading.records.atomic import append_line
from trading.settings import GuardConfig

log = logging.getLogger(__name__)


class RiskLedger:
    def __init__(self, path: Path, cfg: GuardConfig | None = None) -> None:
        self.path = Path(path)
        self.cfg = cfg or GuardConfig()
        self.corrupt_lines = 0
        self._equity: float | None = None
        self._peak: float | None = None
        self._halted = False
        self._halt_reason = ""
        self._active: dict[str, str] = {}          # system halts by reason code
        self._streak = 0
        self._open: dict[str, datetime | None] = {}  # trade id -> resolve_by
        self._last_entry: datetime | None = None
        self._last_loss: datetime | None = None
        self._orders: list[datetime] = []
        self._load()

    # -- persistence -------------------------------------------------------------------------------
    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    self._apply(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    self.corrupt_lines += 1
                    log.error("risk ledger %s line %d unreadable: %s", self.path, n, exc)

    def _append(self, kind: str, ts: datetime | None = None, **data: Any) -> dict[str, Any]:
        entry = {"ts": (ts or utcnow()).isoformat(), "type": kind, **data}
        append_line(self.path, json.dumps(entry, sort_keys=True, default=str), fsync=True)
        self._apply(entry)
        return entry

    def _apply(self, e: dict[str, Any]) -> None:
        kind = e["type"]
        ts = datetime.fromisoformat(e["ts"])
        if kind == "equity":
            self._equity = float(e["equity"])
            self._peak = self._equity if self._peak is None else max(self._peak, self._equity)
            dd = (self._peak - self._equity) / self._peak * 100 if self._peak > 0 else 0.0
            if dd >= self.cfg.max_drawdown_pct and not self._halted:
                self._halted = True
                self._halt_reason = f"drawdown {dd:.2f}% >= {self.cfg.max_drawdown_pct}% (peak {self._peak:.2f})"
        elif kind == "peak_reset":
            self._peak = float(e["new_peak"])
        elif kind == "halt":
            self._active[e["code"]] = e.get("detail", "")
        elif kind == "halt_cleared":
            code = e.get("code")
            if code in (None, ReasonCode.DRAWDOWN_HALT.value):
                self._halted = False
                self._halt_reason = ""
            if code in (None, ReasonCode.LOSS_STREAK.value):
                self._streak = 0          # an operator's clearance ends a loss streak
            if code is None:
                self._active.clear()
            else:
                self._active.pop(code, None)
        elif kind == "entry":
            self._last_entry = ts
            self._orders.append(ts)
            self._orders = [t for t in self._orders if t > ts - timedelta(minutes=5)]
            resolve_by = e.get("resolve_by")
            self._open[str(e["trade_id"])] = datetime.fromisoformat(resolve_by) if resolve_by else None
        elif kind == "entry_void":
            # an entry that never filled (cancelled / rejected): no outcome to wait for, no win or loss
            self._open.pop(str(e["trade_id"]), None)
        elif kind == "outcome":
            self._open.pop(str(e["trade_id"]), None)
            if float(e["pnl"]) < 0:
                self._streak += 1
                self._last_loss = ts
            else:
                self._streak = 0

    # -- writers -----------------------------------------------------------------------------------
    def mark_equity(self, equity: float, ts: datetime | None = None, **detail: Any) -> None:
        self._append("equity", ts, equity=float(equity), **detail)

    def record_entry(self, trade_id: str, resolve_by: datetime | None = None, ts: datetime | None = None) -> None:
        self._append("entry", ts, trade_id=trade_id, resolve_by=resolve_by.isoformat() if resolve_by else None)

    def record_outcome(self, trade_id: str, pnl: float, ts: datetime | None = None, source: str = "") -> None:
        self._append("outcome", ts, trade_id=trade_id, pnl=float(pnl), source=source)

    def void_entry(self, trade_id: str, reason: str, ts: datetime | None = None) -> None:
        """An entry that never filled: close it without counting a win or a loss."""
        self._append("entry_void", ts, trade_id=trade_id, reason=reason)

    def halt(self, code: ReasonCode, detail: str, ts: datetime | None = None) -> None:
        self._append("halt", ts, code=code.value, detail=detail)

    def clear_halt(self, operator: str, note: str, code: ReasonCode | None = None) -> None:
        if not operator.strip():
            raise ValueError("clearing a halt needs an operator name")
        self._append("halt_cleared", None, operator=operator, note=note, code=code.value if code else None)

    def reset_peak(self, operator: str, note: str, new_peak: float | None = None) -> None:
        """The only way the peak ever goes down: explicit, attributed and logged."""
        if not operator.strip():
            raise ValueError("resetting the peak needs an operator name")
        target = self._equity if new_peak is None else float(new_peak)
        if target is None:
            raise ValueError("no equity recorded yet; pass new_peak")
        log.warning("operator %s reset drawdown peak %s -> %s: %s", operator, self._peak, target, note)
        self._append("peak_reset", None, operator=operator, note=note, old_peak=self._peak, new_peak=target)

    # -- reader ------------------------------------------------------------------------------------
    def state(self, now: datetime | None = None) -> RiskState:
        now = now or utcnow()
        grace = timedelta(seconds=self.cfg.outcome_grace_s)
        unresolved = sum(1 for rb in self._open.values() if rb is not None and rb + grace < now)
        # an unresolved outcome counts as a loss for the streak: tracking failures never look like wins
        return RiskState(
            equity=self._equity, peak_equity=self._peak, halted=self._halted, halt_reason=self._halt_reason,
            active_halts=[ReasonCode(c) for c in self._active], consecutive_losses=self._streak + unresolved,
            unresolved_outcomes=unresolved, last_entry_at=self._last_entry, last_loss_at=self._last_loss,
            recent_order_times=list(self._orders))

    @property
    def open_trades(self) -> dict[str, datetime | None]:
        return dict(self._open)
