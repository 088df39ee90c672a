"""Signals that did not become trades (blocked orders, WAIT-advised entries) and what the price did next.

Warden's own records are read into signal records: ``events.jsonl`` (telemetry: the entry signal, the
advisory and the guard verdict of each trade_cycle_id) and ``journal.db`` (its ``verdicts`` table). An
entry that was advised WAIT becomes kind ``wait``; any other entry the guards blocked becomes kind
``blocked``; both keep their reason codes and the advisory's action and source. ``counterfactual``
computes what the order would have made over the next N bars of a candle frame: entry at the signal's
price, exit at the stop or target if a bar touched it (the stop first when one bar touched both: the
pessimistic reading), else at the close of bar N; PnL in USD = price move x side x qty x multiplier.
``SignalsTable`` keeps the records in ``<data_dir>/tables/signals.parquet`` with the outcomes table's
column names (``pnl_usd``/``won`` are the counterfactual ones, ``closed_at`` the horizon's end), so
the query executor (tools/memory/questions.py) runs the same metrics on them.

Failure contract: a malformed event line is counted in ``bad_lines`` and skipped; a journal without a
``verdicts`` table yields no records; a signal whose bars are missing gets no counterfactual (NaN PnL,
``exit_reason`` "no_bars"); writes are atomic and upserts idempotent by ``trade_cycle_id``.
"""
from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tools.memory.outcomes_table import RC_PREFIX, conform
from tools.memory.situations import asset_of
from trading.records.atomic import atomic_write_bytes

SIGNALS_RELPATH = Path("tables") / "signals.parquet"
DEFAULT_HORIZON = 60
WAIT_CODES = {"AWS_WAIT", "MEMORY_WAIT"}


@dataclass
class SignalRecord:
    trade_cycle_id: str
    kind: str                          # wait | blocked
    ts: datetime
    symbol: str
    side: str
    qty: float
    price: float | None
    stop: float | None
    target: float | None
    reason_codes: list[str] = field(default_factory=list)
    advisory_action: str = "NONE"
    advisory_source: str = ""
    source: str = ""


def _utc(raw: str) -> datetime:
    d = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _kind(action: str, codes: list[str]) -> str:
    return "wait" if action == "WAIT" or WAIT_CODES & set(codes) else "blocked"


def signals_from_events(path: Path) -> tuple[list[SignalRecord], int]:
    """(records, bad_lines) from a telemetry JSONL: entries that were advised WAIT or blocked, not sent."""
    by: dict[str, dict[str, Any]] = {}
    bad = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                ev = json.loads(line)
                cid, kind = ev.get("trade_cycle_id"), ev["event"]
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                bad += 1
                continue
            if not cid or kind not in ("signal", "advisory", "guard_verdict", "order_sent"):
                continue
            by.setdefault(cid, {})[kind] = ev
    out = []
    for cid, evs in by.items():
        sig, verdict = evs.get("signal"), evs.get("guard_verdict")
        if sig is None or verdict is None or "order_sent" in evs:
            continue
        try:
            s = sig["payload"]["signal"]
            intent = verdict["payload"].get("intent") or {}
            if sig["payload"].get("kind", "entry") != "entry" or verdict["payload"].get("allowed", True):
                continue
            adv = (evs.get("advisory") or {}).get("payload") or {}
            codes = [str(c) for c in verdict.get("reason_codes", [])]
            action = str(adv.get("action") or "NONE")
            out.append(SignalRecord(
                trade_cycle_id=cid, kind=_kind(action, codes), ts=_utc(s.get("ts") or sig["ts"]),
                symbol=str(intent.get("symbol") or s.get("symbol") or ""), side=str(s.get("side") or ""),
                qty=float(intent.get("qty") or 1.0), price=s.get("price"), stop=s.get("stop"), target=s.get("target"),
                reason_codes=codes, advisory_action=action, advisory_source=str(adv.get("source") or ""),
                source="events"))
        except (KeyError, TypeError, ValueError, AttributeError):
            bad += 1
    return out, bad


def is_warden_journal(path: Path) -> bool:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False
    return {"verdicts", "trades", "fills"} <= names


def signals_from_journal(path: Path) -> list[SignalRecord]:
    """Blocked entry verdicts of Warden's own ``journal.db`` (read-only)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT v.trade_cycle_id, v.ts, v.side, v.qty, v.reason_codes, v.evidence_json, t.symbol "
            "FROM verdicts v LEFT JOIN trades t ON t.trade_cycle_id = v.trade_cycle_id "
            "WHERE v.allowed = 0 AND v.judged_as = 'entry' ORDER BY v.id").fetchall()
    finally:
        con.close()
    out = []
    for cid, ts, side, qty, codes_json, ev_json, symbol in rows:
        codes = [str(c) for c in json.loads(codes_json or "[]")]
        ev = json.loads(ev_json or "{}")
        adv = ev.get("advisory") or {}
        action = str(adv.get("action") or "NONE")
        out.append(SignalRecord(trade_cycle_id=cid, kind=_kind(action, codes), ts=_utc(ts), symbol=symbol or "",
                                side=side, qty=float(qty), price=ev.get("entry_price"), stop=ev.get("stop"),
                                target=ev.get("target"), reason_codes=codes, advisory_action=action,
                                advisory_source=str(adv.get("source") or ""), source="journal"))
    return out


def counterfactual(bars: pd.DataFrame, rec: SignalRecord, horizon: int, multiplier: float) -> dict[str, Any]:
    """What the order would have made over the ``horizon`` bars after ``rec.ts`` (``bars``: a UTC
    DatetimeIndex with high/low/close, sorted). Entry at the signal price (else the first bar's open)."""
    after = bars[bars.index > rec.ts].iloc[:horizon]
    if after.empty:
        return {"exit_price": None, "exit_reason": "no_bars", "closed_at": rec.ts, "pnl_usd": float("nan")}
    entry = float(rec.price) if rec.price else float(after["open"].iloc[0])
    sign = 1.0 if rec.side == "BUY" else -1.0
    hi, lo = after["high"].to_numpy(), after["low"].to_numpy()
    stop_hit = np.zeros(len(after), bool) if not rec.stop else (lo <= rec.stop if sign > 0 else hi >= rec.stop)
    tgt_hit = np.zeros(len(after), bool) if not rec.target else (hi >= rec.target if sign > 0 else lo <= rec.target)
    i_stop = int(np.argmax(stop_hit)) if stop_hit.any() else len(after)
    i_tgt = int(np.argmax(tgt_hit)) if tgt_hit.any() else len(after)
    if i_stop < len(after) and i_stop <= i_tgt:
        i, px, why = i_stop, float(rec.stop or 0.0), "stop"
    elif i_tgt < len(after):
        i, px, why = i_tgt, float(rec.target or 0.0), "target"
    else:
        i, px, why = len(after) - 1, float(after["close"].iloc[-1]), f"horizon_{horizon}"
    return {"exit_price": px, "exit_reason": why, "closed_at": after.index[i].to_pydatetime(),
            "pnl_usd": round((px - entry) * sign * rec.qty * multiplier, 2), "entry_price": entry}


def signal_row(rec: SignalRecord, cf: dict[str, Any], horizon: int) -> dict[str, Any]:
    pnl = cf["pnl_usd"]
    row: dict[str, Any] = {
        "trade_cycle_id": rec.trade_cycle_id, "signal_kind": rec.kind, "venue": "", "symbol": rec.symbol,
        "asset": asset_of(rec.symbol) if rec.symbol else "", "side": rec.side, "qty": rec.qty,
        "opened_at": rec.ts, "closed_at": cf["closed_at"], "closed_date": cf["closed_at"].date().isoformat(),
        "entry_price": cf.get("entry_price", rec.price), "exit_price": cf["exit_price"], "pnl_usd": pnl,
        "won": bool(pnl == pnl and pnl > 0), "exit_reason": cf["exit_reason"], "stop": rec.stop,
        "target": rec.target, "advisory_action": rec.advisory_action, "advisory_source": rec.advisory_source,
        "reason_codes": "|".join(rec.reason_codes), "n_reason_codes": len(rec.reason_codes),
        "blocked_verdicts": 1, "n_fills": 0, "gross_pnl_usd": pnl, "fees_usd": 0.0,
        "horizon_bars": horizon, "source": rec.source, "outcome_source": "counterfactual"}
    for c in rec.reason_codes:
        row[RC_PREFIX + c] = True
    row["content_sha"] = hashlib.sha256(json.dumps(row, default=str, sort_keys=True).encode()).hexdigest()[:32]
    return row


class SignalsTable:
    """Parquet table of signal records with counterfactual PnL; upsert by ``trade_cycle_id``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SignalsTable:
        return cls(Path(data_dir) / SIGNALS_RELPATH)

    def load(self) -> pd.DataFrame:
        df = conform(pd.read_parquet(self.path)) if self.path.is_file() else conform(pd.DataFrame())
        for col, dtype in (("signal_kind", "string"), ("horizon_bars", "float64")):
            if col not in df.columns:
                df[col] = pd.Series(dtype=dtype, index=df.index)
        return df

    def upsert(self, rows: list[dict[str, Any]]) -> tuple[int, int]:
        if not rows:
            return 0, 0
        cur = self.load() if self.path.is_file() else None
        known = dict(zip(cur["trade_cycle_id"], cur["content_sha"], strict=True)) if cur is not None else {}
        fresh = {r["trade_cycle_id"]: r for r in rows if known.get(r["trade_cycle_id"]) != r["content_sha"]}
        if not fresh:
            return 0, 0
        new = conform(pd.DataFrame(list(fresh.values())))
        frames = [new] if cur is None else [cur[~cur["trade_cycle_id"].isin(list(fresh))], new]
        merged = conform(pd.concat([f for f in frames if not f.empty], ignore_index=True))
        merged = merged.sort_values(["opened_at", "trade_cycle_id"], kind="stable").reset_index(drop=True)
        buf = io.BytesIO()
        merged.to_parquet(buf, index=False)
        atomic_write_bytes(self.path, buf.getvalue())
        added = sum(1 for i in fresh if i not in known)
        return added, len(fresh) - added


def bars_frame(candles: Any) -> pd.DataFrame:
    """A candle series (trading.market.candles) as a UTC-indexed frame for ``counterfactual``."""
    from trading.market.candles import bars_to_frame

    df = bars_to_frame(list(candles))
    return df.set_index(pd.DatetimeIndex(pd.to_datetime(df.pop("timestamp"), utc=True))).sort_index()


def multiplier_of(symbol: str) -> float:
    """USD per point of the symbol (the contract spec), 1.0 when the symbol has none (spot, unknown)."""
    from trading.domain.contracts import spec_for

    try:
        return float(spec_for(symbol).multiplier) if symbol else 1.0
    except ValueError:
        return 1.0


def ingest_signals(records: list[SignalRecord], table: SignalsTable, bars: pd.DataFrame | None,
                   horizon: int = DEFAULT_HORIZON) -> dict[str, int]:
    """Counterfactual PnL for each record (NaN without bars) and an idempotent upsert; returns counts."""
    empty = pd.DataFrame({"open": [], "high": [], "low": [], "close": []},
                         index=pd.DatetimeIndex([], tz="UTC"))
    rows = [signal_row(r, counterfactual(bars if bars is not None else empty, r, horizon, multiplier_of(r.symbol)),
                       horizon) for r in records]
    added, updated = table.upsert(rows)
    return {"records": len(rows), "added": added, "updated": updated,
            "without_bars": sum(1 for r in rows if r["exit_reason"] == "no_bars"),
            "wait": sum(1 for r in rows if r["signal_kind"] == "wait"),
            "blocked": sum(1 for r in rows if r["signal_kind"] == "blocked")}


def is_events_file(path: Path) -> bool:
    """A telemetry JSONL (its first line is an event with ``event`` and ``trade_cycle_id``)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(65536)
        ev = json.loads(first)
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(ev, dict) and "event" in ev and "trade_cycle_id" in ev
