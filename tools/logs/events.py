"""The event vocabulary every log format maps onto, and what each analysis needs from it.

A rule file (tools/logs/rules/*.toml, or a user's own) names its events; the names below are the
documented vocabulary (docs/bring-your-own-bot.md). ``normalize`` turns one record's fields into the
canonical shape (sides BUY/SELL from BOT/SLD/Long/buy, a symbol from an IB local symbol, an order id
for bots that only log trade ids), so the analyses never look at a bot's spelling. ``missing_events``
says precisely which events a format lacks for an analysis. ``counted`` wraps a reader and counts
out-of-order timestamps and duplicated records into its stats.

Failure contract: pure functions over records; ``normalize`` raises ValueError for a record whose
canonical fields cannot be made (counted by the caller as an unreadable record), nothing else raises.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from tools.logs.log_rules import LogRules
from tools.logs.records import LogRecord, ReadStats

# event -> (meaning, fields: required ones first; "?" marks an optional field)
VOCABULARY: dict[str, tuple[str, tuple[str, ...]]] = {
    "signal": ("the strategy wants to trade", ("signal", "symbol?", "confidence?", "price?", "stop?", "target?")),
    "advisory": ("an advisor's BUY/SELL/WAIT for the last signal", ("action", "pct", "rationale?")),
    "advisory_failed": ("the advisory call for the last signal failed", ("error",)),
    "order_intent": ("the bot is about to place an order", ("kind", "action", "qty", "symbol", "price?")),
    "submitted": ("an order was sent", ("order_id", "action", "qty", "symbol", "order_type?", "lmt_price?",
                                         "aux_price?", "parent_id?")),
    "filled": ("an execution", ("side|action", "qty", "price|avg_price", "symbol?", "order_id?", "exec_id?",
                                "trade_id?", "fee_pct?", "reported_pnl?")),
    "cancelled": ("an order was cancelled", ("order_id|trade_id", "reason?")),
    "rejected": ("an order was rejected or failed", ("order_id",)),
    "commission": ("fees of an execution or an order", ("commission", "exec_id|order_id|trade_id", "fee_side?")),
    "position": ("the broker's position", ("symbol", "position", "avg_cost?")),
    "balance": ("the account balance", ("usdc|balance?",)),
    "error": ("an error the bot logged", ("text?", "code?")),
    "start": ("the bot (or its connection) started", ()),
    "stop": ("the bot (or its connection) stopped", ()),
}

# analysis -> events it cannot run without (any one of a tuple's names will do)
NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "round trips and PnL (replay --trades)": (("filled",),),
    "guard replay of orders (replay --all / --order-id)": (("submitted",),),
    "advisory gate in the guard replay": (("advisory", "advisory_failed"),),
    "live position before each order": (("position", "filled"),),
    "process lifecycle (restarts)": (("start", "stop"),),
}

_SIDES = {"BUY": "BUY", "BOT": "BUY", "B": "BUY", "LONG": "BUY", "BID": "BUY",
          "SELL": "SELL", "SLD": "SELL", "S": "SELL", "SHORT": "SELL", "ASK": "SELL"}
_ORDER_TYPES = {"LIMIT": "LMT", "LIMIT_MAKER": "LMT", "LIMITORDER": "LMT", "LMT": "LMT", "MARKET": "MKT",
                "MARKETORDER": "MKT", "MKT": "MKT", "STOP": "STP", "STOPORDER": "STP", "STP": "STP",
                "STOPLIMITORDER": "STP LMT", "STP LMT": "STP LMT"}


def side_of(value: Any) -> str:
    """BUY or SELL from any bot's spelling (BOT/SLD, Long/Short, buy/sell, TradeType.BUY...)."""
    s = str(value).strip().upper().rsplit(".", 1)[-1]
    if s not in _SIDES:
        raise ValueError(f"not a side: {str(value)[:20]!r}")
    return _SIDES[s]


def order_type_of(value: Any) -> str:
    return _ORDER_TYPES.get(str(value or "").strip().upper().replace(" ", "").replace("STPLMT", "STP LMT"), "LMT")


def _finite(x: Any, what: str) -> float:
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{what} is not finite")
    return v


def normalize(rec: LogRecord) -> dict[str, Any]:
    """Canonical fields of a ``filled`` / ``submitted`` / ``commission`` / ``position`` record."""
    f = dict(rec.fields)
    if f.get("local_symbol"):
        f["symbol"] = f["local_symbol"]
    elif not f.get("symbol") and f.get("root"):
        f["symbol"] = f["root"]
    ev = rec.event
    if ev == "filled":
        if f.get("side") is None and f.get("direction") is not None:      # freqtrade: Long entry = BUY
            long = side_of(f["direction"]) == "BUY"
            f["side"] = "BUY" if long == (f.get("leg") != "exit") else "SELL"
        f["side"] = side_of(f.get("side") or f.get("action"))
        f["qty"] = _finite(f["qty"], "qty")
        f["price"] = _finite(f.get("price", f.get("avg_price")), "price")
        if f["qty"] <= 0:
            raise ValueError("qty must be positive")
        if f.get("order_id") is None and f.get("trade_id") is not None:
            f["order_id"] = f"trade{f['trade_id']}-{f['side'].lower()}"
    elif ev == "submitted":
        f["action"] = side_of(f["action"])
        f["qty"] = _finite(f["qty"], "qty")
        f["order_type"] = order_type_of(f.get("order_type") or f.get("order_class"))
        f.setdefault("symbol", f.get("symbol") or "?")
    elif ev == "commission":
        f["commission"] = _finite(f["commission"], "commission")
        if f.get("order_id") is None and f.get("trade_id") is not None and f.get("fee_side"):
            f["order_id"] = f"trade{f['trade_id']}-{side_of(f['fee_side']).lower()}"
    elif ev == "position":
        f["position"] = _finite(f["position"], "position")
    return f


def missing_events(rules: LogRules, analyses: Iterable[str] | None = None) -> dict[str, list[str]]:
    """analysis -> the events the format does not map (empty when it can run)."""
    have = set(rules.event_names)
    out: dict[str, list[str]] = {}
    for name in analyses or NEEDS:
        lacking = [" or ".join(alts) for alts in NEEDS[name] if not have.intersection(alts)]
        if lacking:
            out[name] = lacking
    return out


DEDUPE_EVENTS = frozenset({"filled", "submitted", "commission", "cancelled", "rejected"})


def counted(reader: Iterable[LogRecord], dedupe: frozenset[str] = DEDUPE_EVENTS) -> Iterator[LogRecord]:
    """Yield a reader's records, counting timestamps that go back in time into ``reader.stats``; an
    order-event record repeated verbatim (same time, logger and message: a duplicated line) is counted
    and dropped, so it never doubles a trade. (The stats are looked up as they are counted: a reader
    makes fresh stats when iteration starts.)"""
    last = None
    seen: set[tuple[Any, ...]] = set()
    for rec in reader:
        stats: ReadStats = reader.stats  # type: ignore[attr-defined]
        if last is not None and rec.ts < last:
            stats.out_of_order += 1
        else:
            last = rec.ts
        if rec.event in dedupe:
            key = (rec.ts, rec.logger, rec.message)
            if key in seen:
                stats.duplicate_records += 1
                continue
            seen.add(key)
        yield rec
