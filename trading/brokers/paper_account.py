"""The paper account: what a real broker keeps for you between connections, kept in the data dir.

``PaperAccount`` holds the book (cash components, positions, marks, working orders, id counters, recent
fills, settled binary shares, each symbol's last bar). ``PaperAccountStore`` keeps accounts under
``<data dir>/paper/``: ``accounts/<account id>.json`` (one file per account, rewritten atomically: temp
file then rename, so a kill leaves the old state or the new one) and ``current.json`` naming the account a
new run resumes. Cash is in the account's ``currency`` (``[broker] account_currency``): a fill in another
currency is converted at its ``[fx]`` rate (``trading.domain.fx``); money with no rate is kept per currency
in ``unvalued`` (never dropped, never counted at 1). Order ids (``<account>-o<n>``) and exec ids (``<account>-x<n>``) come from counters saved
with the account, so they are unique across runs and across accounts.

Failure contract: ``load`` raises ``PaperAccountError`` for an unreadable or malformed account file
(never a silent fresh start over a broken one); ``save`` raises OSError when the disk refuses the write.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trading.domain.models import Fill, Order
from trading.records.atomic import atomic_writer

log = logging.getLogger(__name__)
VERSION = 1
KEEP_FILLS = 500          # recent executions a restarted run can still read (reconcile looks back a little)
KEEP_FINAL = 500          # recent final orders, so cancelling one after a restart stays idempotent


class PaperAccountError(RuntimeError):
    """A saved paper account cannot be read."""


def new_account_id() -> str:
    return f"paper-{uuid.uuid4().hex[:12]}"


@dataclass(slots=True)
class Working:
    """One order on the paper book, with what the fill model needs beside the order itself."""
    order: Order
    role: str                              # entry | stop | target | exit
    seq: int                               # the account's order counter: the book's time priority
    eligible_from: int                     # the symbol's bar number from which it may fill (no look-ahead)
    active: bool                           # bracket children wait for their parent's fill
    armed_price: float | None = None       # the parent's fill price that armed this child
    armed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"order": self.order.model_dump(mode="json"), "role": self.role, "seq": self.seq,
                "eligible_from": self.eligible_from, "active": self.active, "armed_price": self.armed_price,
                "armed_at": self.armed_at.isoformat() if self.armed_at else None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Working:
        return cls(order=Order.model_validate(d["order"]), role=d["role"], seq=int(d["seq"]),
                   eligible_from=int(d["eligible_from"]), active=bool(d["active"]), armed_price=d.get("armed_price"),
                   armed_at=datetime.fromisoformat(d["armed_at"]) if d.get("armed_at") else None)


@dataclass
class PaperAccount:
    account_id: str
    starting_cash: float
    realized: float = 0.0                  # in the account currency
    fees: float = 0.0                      # in the account currency
    currency: str = "USD"                  # the account currency its cash is kept in
    unvalued: dict[str, float] = field(default_factory=dict)   # net realized money per currency with no rate
    next_order: int = 1
    next_exec: int = 1
    now: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    positions: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0]))
    marks: dict[str, float] = field(default_factory=dict)
    last_bar: dict[str, datetime] = field(default_factory=dict)
    bars: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    orders: dict[str, Working] = field(default_factory=dict)       # live orders and recent final ones
    fills: list[Fill] = field(default_factory=list)
    settled: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cash(self) -> float:
        return self.starting_cash + self.realized - self.fees

    def order_id(self) -> tuple[str, int]:
        n = self.next_order
        self.next_order += 1
        return f"{self.account_id}-o{n}", n

    def exec_id(self) -> str:
        n = self.next_exec
        self.next_exec += 1
        return f"{self.account_id}-x{n:08d}"

    def to_json(self, live: set[str]) -> dict[str, Any]:
        final = [w for oid, w in self.orders.items() if oid not in live][-KEEP_FINAL:]
        keep = [w for oid, w in self.orders.items() if oid in live] + final
        return {"version": VERSION, "account_id": self.account_id, "starting_cash": self.starting_cash,
                "realized": self.realized, "fees": self.fees, "currency": self.currency, "unvalued": self.unvalued, "next_order": self.next_order,
                "next_exec": self.next_exec, "now": self.now.isoformat(),
                "positions": {s: p for s, p in self.positions.items() if abs(p[0]) > 1e-12},
                "marks": self.marks, "last_bar": {s: t.isoformat() for s, t in self.last_bar.items()},
                "bars": dict(self.bars), "orders": [w.to_json() for w in sorted(keep, key=lambda w: w.seq)],
                "live": sorted(live), "fills": [f.model_dump(mode="json") for f in self.fills[-KEEP_FILLS:]],
                "settled": self.settled, "saved_at": datetime.now(UTC).isoformat()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> tuple[PaperAccount, set[str]]:
        if d.get("version") != VERSION:
            raise PaperAccountError(f"paper account version {d.get('version')!r}, expected {VERSION}")
        acct = cls(account_id=str(d["account_id"]), starting_cash=float(d["starting_cash"]),
                   realized=float(d["realized"]), fees=float(d["fees"]), next_order=int(d["next_order"]),
                   next_exec=int(d["next_exec"]), now=datetime.fromisoformat(d["now"]),
                   currency=str(d.get("currency", "USD")),      # accounts saved before currencies were USD
                   unvalued={str(c): float(v) for c, v in d.get("unvalued", {}).items()})
        for s, p in d.get("positions", {}).items():
            acct.positions[s] = [float(p[0]), float(p[1])]
        acct.marks = {s: float(v) for s, v in d.get("marks", {}).items()}
        acct.last_bar = {s: datetime.fromisoformat(t) for s, t in d.get("last_bar", {}).items()}
        for s, n in d.get("bars", {}).items():
            acct.bars[s] = int(n)
        for w in d.get("orders", []):
            wk = Working.from_json(w)
            acct.orders[wk.order.order_id] = wk
        acct.fills = [Fill.model_validate(f) for f in d.get("fills", [])]
        acct.settled = list(d.get("settled", []))
        return acct, set(d.get("live", []))


class PaperAccountStore:
    """Paper accounts under ``root`` (``<data dir>/paper``). ``fsync`` off by default: a paper replay
    survives a killed process (rename is atomic) like the journal's synchronous=NORMAL; not power loss."""

    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.saves = 0

    def path(self, account_id: str) -> Path:
        return self.root / "accounts" / f"{account_id}.json"

    @property
    def current_path(self) -> Path:
        return self.root / "current.json"

    def current(self) -> str | None:
        """The account a new run resumes, or None when the data dir has none yet."""
        p = self.current_path
        if not p.exists():
            return None
        try:
            return str(json.loads(p.read_text(encoding="utf-8"))["account_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PaperAccountError(f"{p}: unreadable ({type(exc).__name__}: {exc}); move it away to start a "
                                    "fresh paper account") from None

    def load(self, account_id: str) -> tuple[PaperAccount, set[str]] | None:
        p = self.path(account_id)
        if not p.exists():
            return None
        try:
            return PaperAccount.from_json(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PaperAccountError(f"{p}: not a readable paper account ({type(exc).__name__}: {exc}); "
                                    "use a fresh account (--fresh-account) or move the file away") from None

    def save(self, acct: PaperAccount, live: set[str]) -> None:
        self._write(self.path(acct.account_id), json.dumps(acct.to_json(live), separators=(",", ":")))
        self.saves += 1

    def set_current(self, account_id: str) -> None:
        self._write(self.current_path, json.dumps({"account_id": account_id,
                                                   "since": datetime.now(UTC).isoformat()}))

    def _write(self, path: Path, text: str) -> None:
        with atomic_writer(path, "w", fsync=self.fsync, encoding="utf-8") as fh:
            fh.write(text)
