"""The persisted risk ledger: append-only JSONL whose entries alone make the ``RiskState``.

Seed 001: the bot's drawdown halt never fired because a restart reset ``peak_balance`` to the current
balance. Here:
- the peak is the maximum of every equity mark ever appended (each ``equity`` entry also records the
  peak it leaves); it survives restarts and is lowered only by an explicit, logged ``peak_reset``;
- the drawdown latch is itself an entry (``halt_latched``), appended by the mark that crossed the limit:
  reading the ledger never recomputes it from today's config, so a looser ``max_drawdown_pct`` cannot
  unlatch it; only ``halt_cleared`` (``warden risk clear-halt``, operator and note) does;
- every operator action (peak reset, halt clear, repair) is an entry with its operator and note;
- a corrupt, torn or unparseable line (NaN included: see ``ledger_lines``) makes the ledger unreadable for
  entries: the state carries LEDGER_CORRUPT naming the file and line (exits are never blocked by it)
  until an operator's ``repair`` entry acknowledges exactly those lines (``warden risk repair``).
Unknown entry types are kept and ignored (forward compatible).

Failure contract: the constructor raises OSError only when the file cannot be read; writers raise
ValueError for a non-finite or out-of-range number or an empty operator/note (nothing is appended then)
and OSError when the append fails; ``state`` never raises.
"""
from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from trading.domain.models import utcnow
from trading.domain.reason_codes import ReasonCode
from trading.guards.inputs import RiskState
from trading.records.atomic import append_line
from trading.records.ledger_lines import BadLine, read_lines
from trading.settings import GuardConfig

log = logging.getLogger(__name__)


def _finite(name: str, v: float, positive: bool = False) -> float:
    x = float(v)
    if not math.isfinite(x) or (positive and x <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}, got {v!r}")
    return x


def _operator(operator: str, note: str, what: str) -> None:
    if not operator.strip():
        raise ValueError(f"{what} needs an operator name (--operator)")
    if not note.strip():
        raise ValueError(f"{what} needs a note saying why (--note)")


class RiskLedger:
    def __init__(self, path: Path, cfg: GuardConfig | None = None, *, broker: str | None = None,
                 account: str | None = None) -> None:
        self.path = Path(path)
        self.cfg = cfg or GuardConfig()
        self.broker, self.account = broker, account
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
        self.last_ts: datetime | None = None
        self.entries = 0
        self.bad_lines: list[BadLine] = []         # unreadable lines not yet acknowledged by a repair
        self._load()

    # -- persistence -------------------------------------------------------------------------------
    def _load(self) -> None:
        good, bad = read_lines(self.path)
        acked = {(int(x.get("line", 0)), str(x.get("sha256", "")))
                 for _, e in good if e["type"] == "repair" for x in e.get("lines") or [] if isinstance(x, dict)}
        self.bad_lines = [b for b in bad if (b.line, b.digest) not in acked]
        for b in self.bad_lines:
            log.error("risk ledger %s", b.describe())
        for _, e in good:
            self._apply(e)
        if self.broker is None and self.account is None:
            ident = next((e for _, e in reversed(good) if e["type"] == "ledger_opened"), None)
            if ident is not None:
                self.broker, self.account = ident.get("broker"), ident.get("account")

    @property
    def corrupt_lines(self) -> int:
        return len(self.bad_lines)

    def describe_owner(self) -> None:
        """Record which broker/account writes this ledger (once, when it is new or changed)."""
        if self.broker is None and self.account is None:
            return
        good, _ = read_lines(self.path)
        last = next((e for _, e in reversed(good) if e["type"] == "ledger_opened"), None)
        if last is None or (last.get("broker"), last.get("account")) != (self.broker, self.account):
            try:
                self._append("ledger_opened", None, broker=self.broker, account=self.account)
            except OSError as exc:   # informational only: the first real write reports the storage failure
                log.warning("risk ledger %s: cannot record its owner: %s", self.path, exc)

    def _append(self, kind: str, ts: datetime | None = None, **data: Any) -> dict[str, Any]:
        entry = {"ts": (ts or utcnow()).isoformat(), "type": kind, **data}
        append_line(self.path, json.dumps(entry, sort_keys=True, default=str, allow_nan=False), fsync=True)
        self._apply(entry)
        return entry

    def _apply(self, e: dict[str, Any]) -> None:
        kind = e["type"]
        ts = datetime.fromisoformat(e["ts"])
        self.entries += 1
        self.last_ts = ts                # the last entry appended (file order), whatever clock wrote it
        if kind == "equity":
            self._equity = float(e["equity"])
            self._peak = self._equity if self._peak is None else max(self._peak, self._equity)
        elif kind == "peak_reset":
            self._peak = float(e["new_peak"])
        elif kind == "halt_latched":
            self._halted = True
            self._halt_reason = str(e.get("detail") or "drawdown halt latched")
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

    @property
    def drawdown_pct(self) -> float | None:
        if self._equity is None or not self._peak or self._peak <= 0:
            return None
        return max(0.0, (self._peak - self._equity) / self._peak * 100)

    # -- writers -----------------------------------------------------------------------------------
    def mark_equity(self, equity: float, ts: datetime | None = None, **detail: Any) -> None:
        """Append an equity mark (with the peak it leaves); latch the drawdown halt as its own entry when
        the mark crosses ``max_drawdown_pct``. A non-finite equity is refused (ValueError), never written."""
        eq = _finite("equity", equity)
        peak = eq if self._peak is None else max(self._peak, eq)
        self._append("equity", ts, equity=eq, peak=peak, **detail)
        dd = self.drawdown_pct
        if dd is not None and dd >= self.cfg.max_drawdown_pct and not self._halted:
            reason = f"drawdown {dd:.2f}% >= {self.cfg.max_drawdown_pct}% (peak {peak:.2f})"
            log.error("risk ledger %s: %s: entries halted until `warden risk clear-halt`", self.path, reason)
            self._append("halt_latched", ts, code=ReasonCode.DRAWDOWN_HALT.value, detail=reason, equity=eq,
                         peak=peak, drawdown_pct=round(dd, 6), max_drawdown_pct=self.cfg.max_drawdown_pct)

    def record_entry(self, trade_id: str, resolve_by: datetime | None = None, ts: datetime | None = None) -> None:
        self._append("entry", ts, trade_id=trade_id, resolve_by=resolve_by.isoformat() if resolve_by else None)

    def record_outcome(self, trade_id: str, pnl: float, ts: datetime | None = None, source: str = "") -> None:
        self._append("outcome", ts, trade_id=trade_id, pnl=_finite("pnl", pnl), source=source)

    def void_entry(self, trade_id: str, reason: str, ts: datetime | None = None) -> None:
        """An entry that never filled: close it without counting a win or a loss."""
        self._append("entry_void", ts, trade_id=trade_id, reason=reason)

    def halt(self, code: ReasonCode, detail: str, ts: datetime | None = None) -> None:
        self._append("halt", ts, code=code.value, detail=detail)

    def clear_halt(self, operator: str, note: str, code: ReasonCode | None = None) -> None:
        _operator(operator, note, "clearing a halt")
        log.warning("operator %s cleared %s on %s: %s", operator, code or "every halt", self.path, note)
        self._append("halt_cleared", None, operator=operator, note=note, code=code.value if code else None)

    def reset_peak(self, operator: str, note: str, new_peak: float | None = None) -> None:
        """The only way the peak ever goes down: explicit, attributed and logged."""
        _operator(operator, note, "resetting the peak")
        value = self._equity if new_peak is None else new_peak
        if value is None:
            raise ValueError("no equity recorded yet in this ledger: give the peak with --new-peak")
        target = _finite("--new-peak", value, positive=True)
        log.warning("operator %s reset drawdown peak %s -> %s: %s", operator, self._peak, target, note)
        self._append("peak_reset", None, operator=operator, note=note, old_peak=self._peak, new_peak=target)

    def repair(self, operator: str, note: str) -> list[BadLine]:
        """Acknowledge every unreadable line (by number and digest; the text stays in the file, nothing is
        deleted) so entries are no longer blocked by LEDGER_CORRUPT. Returns the lines acknowledged."""
        _operator(operator, note, "repairing the ledger")
        fixed = list(self.bad_lines)
        if not fixed:
            return []
        log.warning("operator %s acknowledged %d unreadable line(s) of %s: %s", operator, len(fixed), self.path,
                    note)
        self._append("repair", None, operator=operator, note=note, peak_after=self._peak,
                     lines=[{"line": b.line, "sha256": b.digest, "error": b.error, "text": b.text} for b in fixed])
        self.bad_lines = []
        return fixed

    # -- reader ------------------------------------------------------------------------------------
    def state(self, now: datetime | None = None) -> RiskState:
        now = now or utcnow()
        grace = timedelta(seconds=self.cfg.outcome_grace_s)
        unresolved = sum(1 for rb in self._open.values() if rb is not None and rb + grace < now)
        # a halt code this version does not know still blocks entries (as an operator halt)
        active = [ReasonCode(c) if c in ReasonCode.__members__ else ReasonCode.OPERATOR_HALT for c in self._active]
        errors = [b.describe() for b in self.bad_lines]
        if errors:
            active.append(ReasonCode.LEDGER_CORRUPT)
        # an unresolved outcome counts as a loss for the streak: tracking failures never look like wins
        return RiskState(
            equity=self._equity, peak_equity=self._peak, halted=self._halted,
            halt_reason="; ".join([r for r in [self._halt_reason] if r] + errors),
            active_halts=active, consecutive_losses=self._streak + unresolved, ledger_errors=errors,
            unresolved_outcomes=unresolved, last_entry_at=self._last_entry, last_loss_at=self._last_loss,
            recent_order_times=list(self._orders))

    def state_with_mark(self, equity: float | None, now: datetime | None = None) -> RiskState:
        """The state as if ``equity`` were marked now, without writing it (a reader's view of the live
        equity, e.g. the served graph): the peak still comes from the ledger. A non-finite equity is
        passed through for the guards to refuse (INPUT_INVALID)."""
        st = self.state(now)
        if equity is None:
            return st
        eq = float(equity)
        peak = st.peak_equity
        if math.isfinite(eq):
            peak = eq if peak is None else max(peak, eq)
        return st.model_copy(update={"equity": eq, "peak_equity": peak})

    @property
    def open_trades(self) -> dict[str, datetime | None]:
        return dict(self._open)
