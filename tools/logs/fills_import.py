"""Fills files into ``Fill``s: Hummingbot's trades CSV, a generic CSV, freqtrade's trades database (or
its CSV export), Polymarket data-API trades JSON and Polymarket wallet-fills CSV.

``read_fills(path)`` tells the layout from the file (suffix, CSV header, JSON shape) and returns a
``FillSet`` plus the settlement prices it knows (a resolved prediction market: the winning outcome's
share pays 1, the other 0). Every fill keeps its side. Prediction-market fills are keyed
``<market>:<outcome>`` so FIFO grouping is per market and outcome. The generic CSV layout
(docs/bring-your-own-bot.md): ``time,symbol,side,qty,price`` required; ``fee,order_id,exec_id`` optional;
time is ISO 8601 (naive = UTC) or epoch seconds / milliseconds.

Failure contract: ``FillsFormatError`` (a ValueError, one line naming the file) for a file that is not a
known fills layout, an unreadable database or a JSON that is not a list of trades; a bad row is counted
in ``FillSet.bad`` with its row number, never raised. Rows are streamed (csv), and at most
``MAX_ROWS`` are read.
"""
from __future__ import annotations

import ast
import csv
import json
import math
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.logs.events import side_of
from tools.logs.fills import FillSet, dedupe
from tools.logs.log_rules import to_float
from trading.domain.models import Fill, Side

MAX_ROWS = 5_000_000
MAX_JSON_BYTES = 512 << 20
FILL_SUFFIXES = (".csv", ".json", ".sqlite", ".db")


class FillsFormatError(ValueError):
    """Not a fills file Warden knows, or unreadable."""


def _num(x: Any, what: str) -> float:
    try:
        return to_float(str(x).strip())
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _time(x: Any) -> datetime:
    s = str(x).strip()
    try:
        v = float(s)
    except ValueError:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    if not math.isfinite(v):
        raise ValueError("time not finite")
    return datetime.fromtimestamp(v / 1000.0 if v > 1e11 else v, UTC)


def _fill(out: FillSet, where: str, **kw: Any) -> None:
    try:
        qty, price = _num(kw.pop("qty"), "qty"), _num(kw.pop("price"), "price")
        if qty <= 0 or price < 0:
            raise ValueError("qty must be positive and price not negative")
        out.fills.append(Fill(qty=qty, price=price, side=Side(side_of(kw.pop("side"))), ts=_time(kw.pop("ts")),
                              commission=_num(kw.pop("fee", 0.0) or 0.0, "fee"), **kw))
    except (ValueError, TypeError, KeyError, OverflowError, SyntaxError) as exc:
        out.bad.append(f"{where}: {str(exc)[:120]}")


def _hb_fee(raw: str, qty: Any, price: Any) -> float:
    """Hummingbot's trade_fee is a Python-repr dict; ``percent`` is a fraction of the notional."""
    if len(raw) > 2000:
        raise ValueError("trade_fee too long")
    fee = ast.literal_eval(raw) if raw.strip() else {}
    pct = float(fee.get("percent") or 0.0) if isinstance(fee, dict) else 0.0
    return pct * _num(qty, "qty") * _num(price, "price")


def _rows(path: Path) -> tuple[list[str], Iterable[dict[str, str]]]:
    fh = path.open(newline="", encoding="utf-8-sig", errors="replace")
    reader = csv.DictReader(fh)
    header = [h.strip() for h in (reader.fieldnames or [])]

    def gen() -> Iterable[dict[str, str]]:
        with fh:
            for i, row in enumerate(reader):
                if i >= MAX_ROWS:
                    break
                yield row
    return header, gen()


def _csv(path: Path) -> tuple[FillSet, dict[str, float]]:
    csv.field_size_limit(1 << 20)
    header, rows = _rows(path)
    cols = set(header)
    out, settle = FillSet(source=str(path)), {}
    if {"exchange_trade_id", "trade_type", "trade_fee", "amount"} <= cols:            # Hummingbot
        for i, r in enumerate(rows, start=2):
            try:
                fee = _hb_fee(r.get("trade_fee") or "", r["amount"], r["price"])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
                out.bad.append(f"row {i}: trade_fee: {str(exc)[:80]}")
                continue
            _fill(out, f"row {i}", exec_id=str(r["exchange_trade_id"]), order_id=r.get("order_id") or f"row{i}",
                  symbol=r.get("symbol") or r.get("market") or "?", side=r["trade_type"], qty=r["amount"],
                  price=r["price"], ts=r["timestamp"], fee=fee)
    elif {"market_slug", "outcome", "side", "shares", "price"} <= cols:                  # Polymarket wallet fills
        for i, r in enumerate(rows, start=2):
            key = f"{r['market_slug']}:{r['outcome']}"
            win = (r.get("winning_outcome") or "").strip().lower()
            if win:
                settle[key] = 1.0 if r["outcome"].strip().lower() == win else 0.0
            # the file's fee column is not a fee (it is shares x 0.1): never used
            _fill(out, f"row {i}", exec_id=r.get("id") or f"row{i}", order_id=r.get("tx_hash") or f"row{i}",
                  symbol=key, side=r["side"], qty=r["shares"], price=r["price"], ts=r["timestamp"])
    elif {"ft_order_side", "ft_trade_id", "status", "filled"} <= cols:                  # freqtrade orders export
        fees = _freqtrade_fee_costs_csv(path.with_name(path.name.replace("orders", "trades")))
        out = _freqtrade_orders(rows, fees, str(path))
    elif {"time", "symbol", "side", "qty", "price"} <= cols:                             # generic layout
        for i, r in enumerate(rows, start=2):
            # without an exec_id the row's content is the id: a repeated row (or a later, overlapping
            # export) is the same execution, never a second one
            eid = r.get("exec_id") or "|".join(str(r.get(k) or "") for k in ("time", "symbol", "side", "qty",
                                                                             "price", "order_id"))
            _fill(out, f"row {i}", exec_id=eid, order_id=r.get("order_id") or f"row{i}",
                  symbol=r["symbol"], side=r["side"], qty=r["qty"], price=r["price"], ts=r["time"],
                  fee=r.get("fee") or 0.0)
    else:
        raise FillsFormatError(f"{path}: not a known fills layout (header: {', '.join(header[:12])}); expected "
                               "Hummingbot's trades CSV, Polymarket wallet fills, freqtrade orders or the generic "
                               "time,symbol,side,qty,price")
    return out, settle


def _freqtrade_fee_costs_csv(trades_csv: Path) -> dict[str, tuple[float, float, bool]]:
    if not trades_csv.is_file() or trades_csv.suffix != ".csv":
        return {}
    _, rows = _rows(trades_csv)
    out = {}
    for r in rows:
        try:
            out[str(r["id"])] = (float(r.get("fee_open_cost") or 0), float(r.get("fee_close_cost") or 0),
                                 str(r.get("is_short")) in ("1", "True", "true"))
        except (KeyError, ValueError):
            continue
    return out


def _freqtrade_orders(rows: Iterable[dict[str, Any]], fees: dict[str, tuple[float, float, bool]],
                      source: str) -> FillSet:
    """Closed (filled) orders; the trade's open / close fee cost goes to its entry / exit orders."""
    out = FillSet(source=source)
    for i, r in enumerate(rows, start=2):
        filled = float(r.get("filled") or 0)
        if str(r.get("status")) != "closed" or filled <= 0:
            continue
        tid = str(r["ft_trade_id"])
        side = str(r["ft_order_side"]).lower()
        fo, fc, short = fees.get(tid, (0.0, 0.0, False))
        entry = (side == "buy") != short
        _fill(out, f"row {i}", exec_id=str(r.get("order_id") or f"row{i}"), order_id=str(r.get("order_id") or tid),
              symbol=str(r.get("ft_pair") or r.get("symbol") or "?"), side=side, qty=filled,
              price=r.get("average") or r.get("price"), ts=r.get("order_filled_date") or r.get("order_date"),
              fee=fo if entry else fc)
    return out


def _freqtrade_db(path: Path) -> FillSet:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            con.row_factory = sqlite3.Row
            fees = {str(r["id"]): (float(r["fee_open_cost"] or 0), float(r["fee_close_cost"] or 0), bool(r["is_short"]))
                    for r in con.execute("SELECT id, fee_open_cost, fee_close_cost, is_short FROM trades")}
            rows = [dict(r) for r in con.execute("SELECT * FROM orders LIMIT ?", (MAX_ROWS,))]
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise FillsFormatError(f"{path}: not a readable freqtrade trades database ({exc})") from None
    return _freqtrade_orders(rows, fees, str(path))


def _polymarket_json(path: Path) -> FillSet:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise FillsFormatError(f"{path}: JSON over {MAX_JSON_BYTES >> 20} MB; export it as CSV")
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig", errors="replace"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FillsFormatError(f"{path}: not valid JSON ({str(exc)[:80]})") from None
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        doc = doc["data"]
    if not isinstance(doc, list):
        raise FillsFormatError(f"{path}: expected a JSON list of Polymarket data-API trades")
    out = FillSet(source=str(path))
    for i, t in enumerate(doc[:MAX_ROWS]):
        if not isinstance(t, dict) or not {"side", "size", "price", "timestamp"} <= set(t):
            out.bad.append(f"item {i}: not a data-API trade")
            continue
        market = str(t.get("slug") or t.get("conditionId") or "?")
        key = f"{market}:{t.get('outcome') or t.get('asset')}"
        txh = str(t.get("transactionHash") or f"item{i}")
        # a transaction can carry several fills: the id is the transaction plus what was traded
        _fill(out, f"item {i}", exec_id=f"{txh}:{t.get('asset')}:{t['side']}:{t['size']}:{t['price']}",
              order_id=txh, symbol=key, side=t["side"], qty=t["size"], price=t["price"], ts=t["timestamp"])
    return out


def read_fills(path: str | Path) -> tuple[FillSet, dict[str, float]]:
    """The fills of a file (deduplicated, time-ordered) and known settlement prices per key."""
    p = Path(path)
    if not p.is_file():
        raise FillsFormatError(f"fills file {p} does not exist or is not a file")
    suffix = p.suffix.lower()
    settle: dict[str, float] = {}
    if suffix == ".json":
        fs = _polymarket_json(p)
    elif suffix in (".sqlite", ".db"):
        fs = _freqtrade_db(p)
    elif suffix == ".csv":
        fs, settle = _csv(p)
    else:
        raise FillsFormatError(f"{p}: fills must be .csv, .json or a freqtrade .sqlite database")
    fs.fills, fs.duplicates = dedupe(fs.fills)
    return fs, settle


def looks_like_fills(path: str | Path) -> bool:
    """A cheap sniff: a file whose layout read_fills knows (the header or the JSON's first bytes)."""
    p = Path(path)
    if not p.is_file() or p.suffix.lower() not in FILL_SUFFIXES:
        return False
    if p.suffix.lower() in (".sqlite", ".db"):
        return "trades" in p.name.lower()
    with p.open("r", encoding="utf-8-sig", errors="replace") as fh:
        head = fh.read(4096)
    if p.suffix.lower() == ".json":
        return head.lstrip().startswith("[") and '"side"' in head
    first = head.splitlines()[0] if head else ""
    return any(k in first for k in ("exchange_trade_id", "market_slug", "ft_order_side")) or \
        all(k in first.split(",") for k in ("time", "symbol", "side", "qty", "price"))


def looks_like_prediction_market(path: str | Path) -> bool:
    """Polymarket fills (wallet CSV or data-API JSON): outcome shares that settle at 0 or 1."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        return True
    with p.open("r", encoding="utf-8", errors="replace") as fh:
        return "market_slug" in fh.readline()
