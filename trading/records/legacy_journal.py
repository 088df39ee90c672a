"""Read-only access to the legacy ``trade_journal.db`` written by the users' Polymarket bot.

Schema (see the formats page): ``trades`` (id, timestamp, strategy, market_slug, asset, outcome, side,
price, size, cost, confidence, order_id, status) and ``outcomes`` (trade_id, resolved_at, winner, won,
payout, pnl). The file is opened with ``mode=ro``: reading an incident's database never changes it.
"""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel


class LegacyJournalError(ValueError):
    """The file is not a readable legacy journal; the message says which table or column is missing."""


class LegacyOutcome(BaseModel):
    resolved_at: datetime | None = None
    winner: str | None = None
    won: bool | None = None
    payout: float | None = None
    pnl: float | None = None


class LegacyTrade(BaseModel):
    id: int
    timestamp: datetime
    strategy: str | None = None
    market_slug: str | None = None
    asset: str | None = None
    outcome: str | None = None        # the share bought: Up / Down
    side: str | None = None
    price: float | None = None
    size: float | None = None
    cost: float | None = None
    confidence: float | None = None
    order_id: str | None = None
    status: str | None = None
    result: LegacyOutcome | None = None   # None: no outcome was ever recorded (seed 001)

    @property
    def asset_class(self) -> str:
        """Every legacy trade is a Polymarket share (trading.records.outcome_schema.instrument_facts)."""
        return "prediction"

    @property
    def currency(self) -> str:
        """Its cost, payout and PnL are in USDC."""
        return "USDC"

    def expected_pnl(self, winner: str) -> float | None:
        """A share pays 1 USD when its outcome wins: size x (1 - price) on a win, -cost on a loss."""
        if self.size is None or self.price is None or self.outcome is None:
            return None
        if winner.strip().lower() == self.outcome.strip().lower():
            return round(self.size * (1.0 - self.price), 6)
        cost = self.cost if self.cost is not None else self.size * self.price
        return round(-cost, 6)


_TRADE_COLS = ("id", "timestamp", "strategy", "market_slug", "asset", "outcome", "side", "price", "size", "cost",
               "confidence", "order_id", "status")
_OUTCOME_COLS = ("trade_id", "resolved_at", "winner", "won", "payout", "pnl")


def _parse_ts(s: str | None, tz: str = "UTC") -> datetime | None:
    if s is None or str(s).strip() == "":
        return None
    text = str(s).strip().replace("Z", "+00:00")
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        try:
            d = datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            raise LegacyJournalError(f"unreadable timestamp {s!r}") from None
    if d.tzinfo is None:
        from zoneinfo import ZoneInfo

        d = d.replace(tzinfo=ZoneInfo(tz))
    return d.astimezone(UTC)


def read_legacy_journal(path: str | Path, tz: str = "UTC") -> list[LegacyTrade]:
    """Every trade with its outcome (or None). Naive timestamps are read in ``tz``."""
    path = Path(path)
    if not path.is_file():
        raise LegacyJournalError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LegacyJournalError(f"{path}: cannot open read-only ({exc})") from None
    try:
        conn.row_factory = sqlite3.Row
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise LegacyJournalError(f"{path}: not an SQLite database ({exc})") from None
        if "trades" not in tables:
            raise LegacyJournalError(f"{path}: no 'trades' table (tables: {', '.join(sorted(tables)) or 'none'})")
        tcols = {r[1] for r in conn.execute("PRAGMA table_info(trades)")}
        for need in ("id", "timestamp"):
            if need not in tcols:
                raise LegacyJournalError(f"{path}: table 'trades' has no {need!r} column")
        sel = ", ".join(c if c in tcols else f"NULL AS {c}" for c in _TRADE_COLS)
        outcomes: dict[int, LegacyOutcome] = {}
        if "outcomes" in tables:
            ocols = {r[1] for r in conn.execute("PRAGMA table_info(outcomes)")}
            if "trade_id" not in ocols:
                raise LegacyJournalError(f"{path}: table 'outcomes' has no 'trade_id' column")
            osel = ", ".join(c if c in ocols else f"NULL AS {c}" for c in _OUTCOME_COLS)
            for r in conn.execute(f"SELECT {osel} FROM outcomes"):
                outcomes[int(r["trade_id"])] = LegacyOutcome(
                    resolved_at=_parse_ts(r["resolved_at"], tz), winner=r["winner"],
                    won=None if r["won"] is None else bool(r["won"]), payout=r["payout"], pnl=r["pnl"])
        trades = []
        for r in conn.execute(f"SELECT {sel} FROM trades ORDER BY id"):
            d = dict(r)
            d["timestamp"] = _parse_ts(d["timestamp"], tz)
            d["order_id"] = None if d["order_id"] is None else str(d["order_id"])
            trades.append(LegacyTrade(**d, result=outcomes.get(int(d["id"]))))
        return trades
    finally:
        conn.close()


def unresolved(trades: list[LegacyTrade]) -> list[LegacyTrade]:
    """Trades with no recorded outcome: the seed-001 blind spot."""
    return [t for t in trades if t.result is None]
