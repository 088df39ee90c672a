"""A fills file into memory records: each closed position becomes one ``TradeOutcome`` (``warden ingest``).

The file is read by tools/logs/fills_import.py (Hummingbot trades CSV, Polymarket wallet-fills CSV or
data-API trades JSON, freqtrade trades database or orders CSV, the generic ``time,symbol,side,qty,price``
CSV); every fill keeps its side and repeated executions are already dropped. Fills are then cut into
positions per key (a symbol; a Polymarket share is ``market:outcome``), in time order: a position opens
when the key is flat and closes when its net quantity is back at zero, so a maker that buys and sells
the same share many times is ONE position with many fills. A fill that crosses zero closes the position
with part of its quantity (and fee) and opens the next one with the rest. A position still open at the
end of the file closes at the settlement price when the reader knows it (a resolved Polymarket share
pays 1 or 0; closed at the window end of an up/down market, else at the last fill), otherwise it is
only counted (``open_positions``), never recorded as a trade. A Polymarket position whose first fill is
a SELL began before the file (shares cannot be sold short): counted in ``incomplete``, not recorded.

A record: symbol (a Polymarket share's market slug; the outcome rides in the id and in the fills),
side of the opening fills, qty = quantity opened, entry / exit = volume-weighted prices of the opening
and closing quantity (settlement included), PnL = the fills' cash flows x the instrument's multiplier
+ settlement value - fees (never a broker's figure), fees, every fill. The id is ``fills-<key>-<hash>``
where the hash covers the key and the execution ids of the position's fills: re-ingesting the same
file, or a later export that repeats it, yields the same ids, so the memory adds nothing twice.

Failure contract: ``read_fills_file`` raises ``FillsFormatError`` (one line naming the file and the
layouts accepted) for an empty, unreadable or unrecognised file, or one that is not the ``layout`` the
caller named; a bad row is counted with its row number in ``FillsFile.bad``, never raised. No writes.
"""
from __future__ import annotations

import csv
import hashlib
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tools.logs.fills import default_multiplier
from tools.logs.fills_import import MAX_ROWS, FillsFormatError, read_fills
from trading.domain.instruments import resolve
from trading.domain.models import Fill, Side
from trading.domain.slugs import parse_updown_slug
from trading.records.outcome_schema import TradeOutcome

LAYOUTS = {
    "hummingbot": "Hummingbot trades CSV (exchange_trade_id,...,trade_type,price,amount,trade_fee)",
    "polymarket": "Polymarket wallet-fills CSV (market_slug,outcome,side,shares,price,...)",
    "polymarket-api": "Polymarket data-API trades JSON (a list of {side,size,price,timestamp,slug,outcome,...})",
    "freqtrade": "freqtrade trades database (*.sqlite) or its orders CSV export",
    "generic": "generic CSV: time,symbol,side,qty,price[,fee,order_id,exec_id]",
}
ACCEPTED = "; ".join(LAYOUTS.values())
GENERIC_COLS = ("time", "symbol", "side", "qty", "price")
PREDICTION = ("polymarket", "polymarket-api")
REL_EPS = 1e-9                      # flat when |net| <= 1e-9 x the quantity opened (float sums of sizes)


class FillsLayoutError(FillsFormatError):
    """A file that is not the fills layout the caller named, or no fills layout at all."""


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        row = next(csv.reader(fh), [])
    return [h.strip() for h in row]


def layout_of(path: Path) -> str | None:
    """The fills layout of ``path`` from its suffix and header (the names of ``LAYOUTS``), else None."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "polymarket-api"
    if suffix in (".sqlite", ".db"):
        return "freqtrade"
    if suffix != ".csv":
        return None
    cols = set(_header(path))
    if {"exchange_trade_id", "trade_type", "trade_fee", "amount"} <= cols:
        return "hummingbot"
    if {"market_slug", "outcome", "side", "shares", "price"} <= cols:
        return "polymarket"
    if {"ft_order_side", "ft_trade_id", "status", "filled"} <= cols:
        return "freqtrade"
    if set(GENERIC_COLS) <= cols:
        return "generic"
    return None


def label(layout: str, path: str | Path) -> str:
    """A layout's short name for a report line: "Hummingbot trades CSV", "freqtrade orders CSV"..."""
    if layout == "freqtrade":
        return "freqtrade orders CSV" if str(path).lower().endswith(".csv") else "freqtrade trades database"
    return LAYOUTS[layout].split(" (")[0].split(":")[0]


def _unrecognised(path: Path) -> FillsLayoutError:
    if path.stat().st_size == 0:
        return FillsLayoutError(f"{path}: the file is empty; expected a fills file: {ACCEPTED}")
    if path.suffix.lower() == ".csv":
        cols = set(_header(path))
        missing = [c for c in GENERIC_COLS if c not in cols]
        if len(missing) < len(GENERIC_COLS) - 1:      # most of the generic layout: name what is missing
            return FillsLayoutError(f"{path}: the generic fills CSV lacks column(s) {', '.join(missing)} "
                                    f"(needs {','.join(GENERIC_COLS)})")
        if {"close_profit_abs", "fee_open_cost"} <= cols:
            return FillsLayoutError(f"{path}: a freqtrade trades CSV holds no fills; ingest its orders CSV "
                                    "(tradesv3_orders.csv) or the trades database (*.sqlite)")
    return FillsLayoutError(f"{path}: not a fills file Warden knows; accepted: {ACCEPTED}")


@dataclass
class Position:
    """One position: from flat back to flat (or to settlement) in one key."""
    key: str
    side: Side
    fills: list[Fill] = field(default_factory=list)
    opened_qty: float = 0.0
    opened_value: float = 0.0           # sum of qty x price of the opening quantity
    closed_qty: float = 0.0
    closed_value: float = 0.0
    settlement_price: float | None = None
    settled_at: datetime | None = None

    @property
    def net(self) -> float:
        return self.opened_qty - self.closed_qty

    def flat(self) -> bool:
        return abs(self.net) <= REL_EPS * max(1.0, self.opened_qty)

    def settlement_value(self) -> float:
        """What the quantity held at settlement paid (negative for a short); 0 without a settlement."""
        if self.settlement_price is None:
            return 0.0
        return sum(f.side.sign * f.qty for f in self.fills) * self.settlement_price

    def add(self, f: Fill) -> None:
        self.fills.append(f)
        if f.side is self.side:
            self.opened_qty += f.qty
            self.opened_value += f.qty * f.price
        else:
            self.closed_qty += f.qty
            self.closed_value += f.qty * f.price


def _part(f: Fill, qty: float) -> Fill:
    return f.model_copy(update={"qty": qty, "commission": f.commission * qty / f.qty})


def split_positions(fills: Iterable[Fill]) -> tuple[list[Position], list[Position]]:
    """(closed positions, positions still open at the end) over time-ordered, de-duplicated fills."""
    open_: dict[str, Position] = {}
    closed: list[Position] = []
    for f in fills:
        cur = open_.get(f.symbol)
        if cur is None:
            cur = open_[f.symbol] = Position(f.symbol, f.side)
        room = cur.net
        if f.side is not cur.side and f.qty - room > REL_EPS * max(1.0, cur.opened_qty):
            cur.add(_part(f, room))                     # crosses zero: close with part, open with the rest
            closed.append(open_.pop(f.symbol))
            nxt = open_[f.symbol] = Position(f.symbol, f.side)
            nxt.add(_part(f, f.qty - room))
            continue
        cur.add(f)
        if cur.flat():
            closed.append(open_.pop(f.symbol))
    return closed, list(open_.values())


def settle(positions: list[Position], prices: dict[str, float]) -> tuple[list[Position], list[Position]]:
    """(positions the settlement closes, positions left open): a known price closes the open quantity."""
    done, still = [], []
    for p in positions:
        px = prices.get(p.key)
        if px is None:
            still.append(p)
            continue
        last = max(f.ts for f in p.fills)
        window = parse_updown_slug(p.key.partition(":")[0])
        p.settlement_price, p.settled_at = px, window[2] if window and window[2] >= last else last
        p.closed_value += p.net * px
        p.closed_qty = p.opened_qty
        done.append(p)
    return done, still


def _instrument(symbol: str, prediction: bool, mult: float) -> dict[str, Any]:
    """asset_class / currency / multiplier from the instrument registry; a Polymarket share: prediction in
    USDC. A symbol the registry does not know gets nothing here (the record's own defaults apply)."""
    if prediction:
        return {"asset_class": "prediction", "currency": "USDC", "multiplier": mult}
    try:
        spec = resolve(symbol)
    except ValueError:
        return {}
    return {"asset_class": spec.asset_class, "currency": spec.currency.upper(), "multiplier": mult}


def _venue(layout: str, symbol: str) -> str:
    if layout in PREDICTION:
        return "polymarket"
    if layout in ("hummingbot", "freqtrade"):
        return layout
    try:
        return resolve(symbol).venue
    except ValueError:
        return "other"


def position_id(p: Position) -> str:
    """``fills-<key>-<hash of key + execution ids>``: the same fills give the same id in every export."""
    digest = hashlib.sha256("\n".join([p.key, *sorted({f.exec_id for f in p.fills})]).encode()).hexdigest()
    return f"fills-{re.sub(r'[^A-Za-z0-9._-]+', '-', p.key).strip('-')[:60]}-{digest[:12]}"


def to_outcome(p: Position, layout: str) -> TradeOutcome:
    prediction = layout in PREDICTION
    symbol = p.key.partition(":")[0] if prediction else p.key
    mult = default_multiplier(p.key)
    fees = sum(f.commission for f in p.fills)
    cash = sum(-f.side.sign * f.qty * f.price for f in p.fills)
    gross = (cash + p.settlement_value()) * mult
    extra = {k: v for k, v in _instrument(p.key, prediction, mult).items() if k in TradeOutcome.model_fields}
    return TradeOutcome(
        trade_cycle_id=position_id(p), venue=_venue(layout, p.key), symbol=symbol, side=p.side.value,
        qty=p.opened_qty, opened_at=p.fills[0].ts, closed_at=p.settled_at or p.fills[-1].ts,
        entry_price=p.opened_value / p.opened_qty, exit_price=p.closed_value / p.closed_qty,
        pnl_usd=gross - fees, gross_pnl_usd=gross, fees_usd=fees, won=gross - fees > 0,
        outcome_source="resolution" if p.settlement_price is not None else "fills",
        exit_reason="resolution" if p.settlement_price is not None else "", fills=p.fills, **extra)


@dataclass
class FillsFile:
    """What one fills file gave: counts for the report and the closed positions as records."""
    path: str
    layout: str
    rows: int = 0
    fills: int = 0
    duplicates: int = 0
    bad: list[str] = field(default_factory=list)
    truncated: bool = False
    records: list[TradeOutcome] = field(default_factory=list)
    open_positions: int = 0
    incomplete: int = 0                 # Polymarket positions that began before the file (a SELL first)
    net_pnl: dict[str, float] = field(default_factory=dict)    # of the records, per currency (never summed across)


def _count_rows(path: Path, layout: str, fallback: int) -> int:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            return max(0, sum(1 for _ in csv.reader(fh)) - 1)
    if layout == "freqtrade":
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return int(con.execute("SELECT COUNT(*) FROM orders").fetchone()[0])
            finally:
                con.close()
        except sqlite3.Error:
            return fallback
    return fallback


def read_fills_file(path: Path, layout: str | None = None) -> FillsFile:
    """Read, group and turn into records. ``layout`` (a name of ``LAYOUTS``) insists on that layout."""
    path = Path(path)
    if not path.is_file():
        raise FillsLayoutError(f"fills file {path} does not exist or is not a file")
    try:
        found = layout_of(path)
        if found is None:
            raise _unrecognised(path)
        if layout is not None and layout != found:
            raise FillsLayoutError(f"{path}: --format {layout} expects a {LAYOUTS[layout]}, but the file reads as "
                                   f"{LAYOUTS[found]}")
        fs, prices = read_fills(path)
        out = FillsFile(path=str(path), layout=found, fills=len(fs.fills), duplicates=fs.duplicates, bad=fs.bad)
        out.rows = _count_rows(path, found, len(fs.fills) + fs.duplicates + len(fs.bad))
    except (OSError, UnicodeError) as exc:
        raise FillsLayoutError(f"{path}: unreadable: {exc}") from None
    out.truncated = out.rows > MAX_ROWS
    closed, still = split_positions(fs.fills)
    settled, still = settle(still, prices)
    out.open_positions = len(still)
    for p in closed + settled:
        if found in PREDICTION and p.side is Side.SELL:
            out.incomplete += 1
            continue
        out.records.append(to_outcome(p, found))
    out.records.sort(key=lambda o: (o.closed_at, o.trade_cycle_id))
    for o in out.records:
        ccy = str(getattr(o, "currency", "") or "")
        out.net_pnl[ccy] = out.net_pnl.get(ccy, 0.0) + o.pnl_usd
    return out


def store_fills(store: Any, files: list[FillsFile], batch: int = 2000) -> dict[str, int]:
    """The files' records into the store and the outcomes table (idempotent: same id + content is skipped)."""
    from tools.memory.ingest import IngestCounts, ingest_outcomes

    counts = IngestCounts()
    pairs = [(o, ff.path) for ff in files for o in ff.records]
    for i in range(0, len(pairs), batch):
        part = pairs[i:i + batch]
        counts.merge(ingest_outcomes(store, [o for o, _ in part], [src for _, src in part]))
    return counts.as_dict()
