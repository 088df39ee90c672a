"""Polymarket CLOB answers -> domain objects: timestamps, order states, fees, books, orders and fills.

Pure functions of what the venue sent (no I/O). Failure contract: a row not in the documented shape
raises KeyError, TypeError or ValueError out of ``order_from_row`` / ``fills_from_trade`` /
``book_from_answer`` (the adapter turns that into ``BrokerUnavailable`` for the whole read, since
skipping a row could hide a fill); ``parse_ts`` falls back to now for an empty value and raises
ValueError on text that is no timestamp; ``fee`` is 0 for a missing or unreadable rate.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from trading.brokers.polymarket_data import token_id_str
from trading.domain.models import Fill, Order, OrderStatus, OrderType, Side

EPS = 1e-9
TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


class BookLevel(BaseModel):
    price: float
    size: float


class OrderBook(BaseModel):
    """A CLOB book with levels sorted best first (the API sends bids ascending, asks descending)."""
    token_id: str
    market: str = ""
    bids: list[BookLevel]
    asks: list[BookLevel]
    tick_size: float | None = None
    min_order_size: float | None = None
    neg_risk: bool = False
    timestamp: str = ""

    @property
    def best_bid(self) -> float | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2


def book_from_answer(raw: dict[str, Any], tid: str) -> OrderBook:
    """The book of token ``tid`` from a /book answer, each side sorted best first."""
    def levels(key: str, best_first_desc: bool) -> list[BookLevel]:
        out = [BookLevel(price=float(lv["price"]), size=float(lv["size"])) for lv in raw.get(key) or []]
        return sorted(out, key=lambda lv: lv.price, reverse=best_first_desc)

    return OrderBook(token_id=token_id_str(raw.get("asset_id") or tid), market=raw.get("market") or "",
                     bids=levels("bids", True), asks=levels("asks", False),
                     tick_size=float(raw["tick_size"]) if raw.get("tick_size") else None,
                     min_order_size=float(raw["min_order_size"]) if raw.get("min_order_size") else None,
                     neg_risk=bool(raw.get("neg_risk", False)), timestamp=str(raw.get("timestamp") or ""))


def parse_ts(v: object) -> datetime:
    """A CLOB timestamp (unix seconds or ms, as int or string, or ISO 8601) as aware UTC."""
    if isinstance(v, int | float) or (isinstance(v, str) and v.strip().isdigit()):
        x = float(v)
        return datetime.fromtimestamp(x / 1000 if x > 1e11 else x, UTC)
    if isinstance(v, str) and v:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    return datetime.now(UTC)


def same_time(iso: str, want: datetime, tolerance_s: float = 60.0) -> bool:
    """Whether timestamp ``iso`` is within ``tolerance_s`` of ``want`` (False for unreadable text)."""
    try:
        return abs((parse_ts(iso) - want).total_seconds()) <= tolerance_s
    except ValueError:
        return False


def order_status(api_status: str, filled: float, size: float) -> OrderStatus:
    s = (api_status or "").lower()
    if s in ("matched", "filled") or (size > 0 and filled >= size - EPS):
        return OrderStatus.FILLED if filled >= size - EPS or s == "filled" else OrderStatus.PARTIAL
    if s in ("canceled", "cancelled", "unmatched", "expired", "canceled_market_resolved"):
        return OrderStatus.CANCELLED
    if s in ("invalid", "rejected"):
        return OrderStatus.REJECTED
    if s in ("delayed", "pending"):
        return OrderStatus.PENDING
    return OrderStatus.PARTIAL if filled > EPS else OrderStatus.SUBMITTED


def fee(bps: str | float | None, price: float, size: float) -> float:
    """Polymarket's fee: rate x min(price, 1 - price) x shares (0 on fee-free markets)."""
    try:
        rate = float(bps or 0) / 10_000
    except (TypeError, ValueError):
        rate = 0.0
    return round(rate * min(price, 1 - price) * size, 6)


def order_from_row(r: dict[str, Any], cycle: str, known: Order | None) -> Order:
    """An order row of /data/orders; ``known`` is what the adapter placed under that id, if anything."""
    oid = str(r["id"])
    size = float(r.get("original_size") or r.get("size") or 0)
    filled = float(r.get("size_matched") or 0)
    return Order(order_id=oid, trade_cycle_id=cycle,
                 symbol=token_id_str(r["asset_id"]), side=Side(str(r["side"]).upper()),
                 qty=size if size > 0 else max(filled, EPS),
                 order_type=OrderType.LMT, limit_price=float(r["price"]) if r.get("price") else None,
                 reduce_only=known.reduce_only if known else str(r["side"]).upper() == "SELL",
                 status=order_status(str(r.get("status", "")), filled, size), filled_qty=filled,
                 created_at=parse_ts(r.get("created_at")), reason=str(r.get("status", "")))


def fills_from_trade(t: dict[str, Any], cycles: Mapping[str, str],
                     is_mine: Callable[[dict[str, Any]], bool]) -> list[Fill]:
    """Our fills in one trade: the taker side whole, or each maker order ``is_mine`` accepts."""
    if str(t.get("status", "")).upper() == "FAILED":
        return []     # the settlement transaction failed: nothing changed hands
    ts = parse_ts(t.get("match_time") or t.get("last_update"))
    tid = t.get("id", "")
    if str(t.get("trader_side", "TAKER")).upper() == "TAKER":
        oid = str(t.get("taker_order_id", ""))
        price, size = float(t["price"]), float(t["size"])
        return [Fill(exec_id=str(tid), order_id=oid, symbol=token_id_str(t["asset_id"]),
                     side=Side(str(t["side"]).upper()), qty=size, price=price, ts=ts,
                     commission=fee(t.get("fee_rate_bps"), price, size),
                     trade_cycle_id=cycles.get(oid))]
    out = []
    for mo in t.get("maker_orders") or []:
        if not is_mine(mo):
            continue
        oid = str(mo.get("order_id", ""))
        price, size = float(mo["price"]), float(mo["matched_amount"])
        out.append(Fill(exec_id=f"{tid}:{oid}", order_id=oid,
                        symbol=token_id_str(mo.get("asset_id") or t["asset_id"]),
                        side=Side(str(mo["side"]).upper()), qty=size, price=price, ts=ts,
                        commission=fee(mo.get("fee_rate_bps"), price, size),
                        trade_cycle_id=cycles.get(oid)))
    return out


def error_detail(status_code: int | None) -> str:
    return "no answer (timeout or socket error)" if status_code is None else f"HTTP {status_code}"


def error_text(msg: object) -> str:
    if isinstance(msg, dict):
        return str(msg.get("error") or msg.get("errorMsg") or msg)
    return str(msg or "")
