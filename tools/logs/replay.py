"""Guardrail replay: rebuild what a `mytrader` bot knew at each order and run the SAME guards.

One streaming pass over the log keeps the bot's context (last signal, last advisory, its believed
position, the LIVE position from IB's "Position update" lines and fills, protective levels from
the "Placing ..." line) and snapshots it at every "Order submitted". Each order then goes through
``trading.guards.evaluate`` at its own (zone-aware) time. Protective bracket children inherit their
parent's verdict. Fills and commission reports become ``Fill`` objects for ``trading.domain.pnl``.

What the log cannot tell is made explicit, never guessed:
- the live position before the first "Position update" / fill is UNKNOWN (the guard fails closed
  with POSITION_UNKNOWN);
- the reference price of an order without one (a market exit) is the last price the bot itself
  logged before it: the signal's price, else the last fill; never a later price;
- there is no equity history in a bot log: the risk state uses ``equity = peak = nominal_equity``
  (default: settings.broker.starting_cash), so EQUITY_UNKNOWN and the drawdown halt do not fire;
  order pace (orders in the last minute) and the losing streak ARE rebuilt from the log.

Failure contract: ``replay_log`` raises FileNotFoundError for a missing log, ``LogFormatError`` for an
unknown format and ``ReplayError`` for a log that is not ``mytrader``; lines it cannot classify are
counted in the stats, never fatal.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tools.logs.log_rules import LogRules
from tools.logs.reader import read_log
from tools.logs.records import LogRecord, ReadStats
from trading.domain.models import Advisory, AdvisoryAction, Fill, IntentKind, OrderIntent, OrderType, Side
from trading.domain.pnl import RoundTrip, round_trips
from trading.guards import BrokerSnapshot, GuardConfig, GuardVerdict, RiskState, evaluate


class ReplayError(ValueError):
    """The log cannot be replayed (wrong format, no orders...)."""


@dataclass(slots=True)
class SignalSeen:
    label: str
    confidence: float
    price: float | None
    stop: float | None
    target: float | None
    ts: datetime
    line_no: int


@dataclass(slots=True)
class AdvisorySeen:
    action: str
    confidence: float            # 0..1 (the log says a percentage)
    rationale: str
    ts: datetime
    line_no: int
    ignored: bool = False        # the bot logged "WAIT advisory only - not blocking trade"


@dataclass(slots=True)
class OrderContext:
    """One submitted order and what the bot knew when it sent it."""
    order_id: str
    symbol: str
    action: Side
    qty: float
    order_type: str
    intent: IntentKind
    ts: datetime                              # decision time: the "Placing" line, else the submission
    submitted_at: datetime
    line_no: int
    parent_id: str | None = None
    price: float | None = None                # entry price from the Placing line / limit / stop price
    stop: float | None = None
    target: float | None = None
    mark: float | None = None                 # reference price known before the order
    signal: SignalSeen | None = None
    advisory: AdvisorySeen | None = None
    believed_position: float | None = None
    believed_source: str = ""                 # where the belief comes from (see _Replayer.belief)
    live_position_before: float | None = None
    live_source: str = "unknown"              # "Position update" | "Position update + fills" | "unknown"
    trade_cycle_id: str | None = None
    placing_line: int | None = None
    fill_price: float | None = None
    filled_qty: float = 0.0
    cancelled: str | None = None
    notes: list[str] = field(default_factory=list)
    verdict: GuardVerdict | None = None
    inherited_from: str | None = None


@dataclass(slots=True)
class ReplayResult:
    source: str
    tz: str
    orders: dict[str, OrderContext]           # by order id, in submission order
    fills: list[Fill]
    stats: ReadStats
    config: GuardConfig
    nominal_equity: float

    def order(self, order_id: str) -> OrderContext:
        return self.orders[str(order_id)]

    def trips(self) -> list[RoundTrip]:
        return round_trips(self.fills)


def _num(x: float | None) -> float | int | None:
    """Quantities print as integers when they are whole."""
    if x is None:
        return None
    return int(x) if float(x).is_integer() else x


class _Replayer:
    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self.signal: SignalSeen | None = None
        self.advisory: AdvisorySeen | None = None
        self.exit_belief: tuple[float, str] | None = None     # (position, symbol) from HYBRID EXIT
        # the bot's belief: its last explicit "position=" statement, carried forward by its logged fills
        self.belief: dict[str, float] = {}
        self.placing: dict[str, Any] | None = None
        self.live: dict[str, float] = {}
        self.live_src: dict[str, str] = {}
        self.fills_net: dict[str, float] = {}                 # net of every fill the bot logged
        self.last_px: float | None = None                      # last price the bot itself logged
        self.orders: dict[str, OrderContext] = {}
        self.fills: list[Fill] = []
        self.last_order: OrderContext | None = None

    def at(self, rec: LogRecord) -> datetime:
        return rec.ts.replace(tzinfo=self.zone)

    def feed(self, rec: LogRecord) -> None:
        f, ev, ts = rec.fields, rec.event, self.at(rec)
        if ev == "signal":
            self.signal = SignalSeen(f["signal"], f["confidence"], f["price"], f["stop"], f["target"], ts,
                                     rec.line_no)
            if f["price"] is not None and f["price"] > 0:
                self.last_px = f["price"]
        elif ev == "advisory":
            self.advisory = AdvisorySeen(f["action"], min(max(f["pct"] / 100.0, 0.0), 1.0),
                                         f.get("rationale") or "", ts, rec.line_no)
        elif ev == "advisory_ignored" and self.advisory is not None:
            self.advisory.ignored = True
        elif ev == "exit_decision":
            self.exit_belief = (float(f["position"]), f["symbol"])
            self.belief[f["symbol"]] = float(f["position"])
        elif ev == "order_intent":
            self.placing = {**f, "ts": ts, "line_no": rec.line_no}
        elif ev == "submitted":
            self._submitted(rec, ts)
        elif ev == "filled":
            self._filled(rec, ts)
        elif ev == "position":
            self.live[f["symbol"]] = float(f["position"])
            self.live_src[f["symbol"]] = "Position update"
        elif ev == "commission":
            self._commission(rec)
        elif ev == "cancelled":
            o = self.orders.get(str(f["order_id"]))
            if o is not None:
                o.cancelled = f["reason"]
        elif ev in ("alert", "lost_telemetry") and self.last_order is not None:
            self.last_order.notes.append(f"L{rec.line_no} {rec.level}: {rec.message}")

    def _default_symbol(self) -> str:
        if self.last_order is not None:
            return self.last_order.symbol
        return next(iter(self.live), "")

    def _submitted(self, rec: LogRecord, ts: datetime) -> None:
        f = rec.fields
        oid, sym, side = str(f["order_id"]), f["symbol"], Side(f["action"])
        parent = str(f["parent_id"]) if f.get("parent_id") is not None else None
        o = OrderContext(order_id=oid, symbol=sym, action=side, qty=float(f["qty"]), order_type=f["order_type"],
                         intent=IntentKind.PROTECTIVE, ts=ts, submitted_at=ts, line_no=rec.line_no,
                         parent_id=parent, trade_cycle_id=f.get("trade_cycle_id"),
                         live_position_before=self.live.get(sym), live_source=self.live_src.get(sym, "unknown"))
        if parent is not None:
            o.price = f.get("lmt_price") if f.get("lmt_price") is not None else f.get("aux_price")
            o.notes.append(f"bracket child of {parent}")
        else:
            pl = self.placing
            if pl is not None and pl["action"] == side.value and pl["symbol"] == sym:
                o.intent = IntentKind.EXIT if pl["kind"] == "exit" else IntentKind.ENTRY
                o.ts, o.placing_line = pl["ts"], pl["line_no"]
                o.price, o.stop, o.target = pl.get("price"), pl.get("stop"), pl.get("target")
            else:
                o.intent = IntentKind.ENTRY       # no "Placing" line: judged as what opens exposure
                o.notes.append("no 'Placing ... order' line before it: judged as an entry")
            if o.price is None:
                o.price = f.get("lmt_price") if f.get("lmt_price") is not None else None
            self.placing = None
            if o.intent is IntentKind.EXIT and self.exit_belief is not None and self.exit_belief[1] == sym:
                o.believed_position, o.believed_source = self.exit_belief[0], "HYBRID EXIT line"
            elif sym in self.belief:
                o.believed_position = self.belief[sym]
                o.believed_source = "last HYBRID EXIT statement + fills logged since"
            else:
                o.believed_position, o.believed_source = self.fills_net.get(sym, 0.0), "fills logged so far"
            self.exit_belief = None
            o.signal, o.advisory = self.signal, self.advisory
        o.mark = o.price if o.price else self.last_px
        if o.live_position_before is None and sym in self.live:
            o.live_position_before = self.live[sym]
        self.orders[oid] = o
        self.last_order = o

    def _filled(self, rec: LogRecord, ts: datetime) -> None:
        f = rec.fields
        oid = str(f["order_id"])
        o = self.orders.get(oid)
        sym = o.symbol if o is not None else self._default_symbol()
        side, qty, px = Side(f["action"]), float(f["qty"]), float(f["avg_price"])
        self.fills.append(Fill(exec_id=f"{oid}@L{rec.line_no}", order_id=oid, symbol=sym, side=side, qty=qty,
                               price=px, ts=ts, trade_cycle_id=f.get("trade_cycle_id")
                               or (o.trade_cycle_id if o else None)))
        if sym in self.live:              # a fill moves a known book; it cannot reveal an unknown one
            self.live[sym] += side.sign * qty
            self.live_src[sym] = "Position update + fills"
        self.fills_net[sym] = self.fills_net.get(sym, 0.0) + side.sign * qty
        if sym in self.belief:
            self.belief[sym] += side.sign * qty
        self.last_px = px
        if o is not None:
            total = o.filled_qty + qty
            o.fill_price = px if o.fill_price is None else (o.fill_price * o.filled_qty + px * qty) / total
            o.filled_qty = total

    def _commission(self, rec: LogRecord) -> None:
        f = rec.fields
        oid = str(f["order_id"])
        for i in range(len(self.fills) - 1, -1, -1):
            fl = self.fills[i]
            if fl.order_id == oid:
                self.fills[i] = fl.model_copy(update={
                    "commission": fl.commission + float(f["commission"]),
                    "broker_realized_pnl": f["realized_pnl"] if f["realized_pnl"] is not None
                    else fl.broker_realized_pnl})
                return


def _risk_state(o: OrderContext, orders: Iterable[OrderContext], closed: list[tuple[datetime, float]],
                nominal: float) -> RiskState:
    """Nominal equity (no history in a log); order pace and losing streak rebuilt from the log."""
    earlier = [p.submitted_at for p in orders if p.submitted_at < o.ts and p.order_id != o.order_id]
    streak = 0
    for exit_ts, net in closed:                 # sorted by exit time
        if exit_ts > o.ts:
            break
        streak = streak + 1 if net < 0 else 0
    return RiskState(equity=nominal, peak_equity=nominal, recent_order_times=earlier, consecutive_losses=streak)


def judge(o: OrderContext, cfg: GuardConfig, risk: RiskState) -> GuardVerdict:
    sig_conf = o.signal.confidence if o.signal is not None else None
    cycle: dict[str, Any] = {"trade_cycle_id": o.trade_cycle_id} if o.trade_cycle_id else {}
    intent = OrderIntent(kind=o.intent, side=o.action, qty=o.qty, symbol=o.symbol, price=o.price or None,
                         stop=o.stop, target=o.target, signal_confidence=sig_conf,
                         order_type=OrderType(o.order_type), created_at=o.ts,
                         **cycle)
    live = o.live_position_before
    snap = BrokerSnapshot(
        positions=None if live is None else {o.symbol: live},
        position_error=None if live is not None else "no position update or fill seen in the log before this order",
        marks={o.symbol: o.mark} if o.mark else {}, taken_at=o.ts)
    adv = None
    if o.advisory is not None:
        adv = Advisory(action=AdvisoryAction(o.advisory.action), confidence=o.advisory.confidence,
                       advisory_only=True, rationale=o.advisory.rationale, source="log", ts=o.advisory.ts)
    return evaluate(intent, snap, risk, cfg, adv, now=o.ts)


def replay_log(path: str | Path, cfg: GuardConfig, fmt: str | Path | LogRules = "auto", tz: str | None = None,
               nominal_equity: float = 100_000.0) -> ReplayResult:
    """Stream the log once, rebuild each order's context and judge every order."""
    reader = read_log(path, fmt, tz=tz)
    if reader.rules.name != "mytrader":
        raise ReplayError(f"replay rebuilds IB orders from the 'mytrader' format; {path} reads as "
                          f"{reader.rules.name!r} (use the incident review for that bot)")
    rp = _Replayer(reader.tz)
    for rec in reader:
        rp.feed(rec)
    closed = sorted((datetime.fromisoformat(t.exit_ts), t.net_pnl) for t in round_trips(rp.fills) if t.exit_ts)
    orders = list(rp.orders.values())
    for o in orders:
        if o.intent is IntentKind.PROTECTIVE and o.parent_id in rp.orders:
            continue
        o.verdict = judge(o, cfg, _risk_state(o, orders, closed, nominal_equity))
    for o in orders:                        # children inherit the parent's verdict
        if o.intent is IntentKind.PROTECTIVE and o.parent_id in rp.orders:
            o.verdict = rp.orders[o.parent_id].verdict
            o.inherited_from = o.parent_id
    return ReplayResult(source=str(path), tz=reader.tz, orders=rp.orders, fills=rp.fills, stats=reader.stats,
                        config=cfg, nominal_equity=nominal_equity)


# -- JSON shapes ---------------------------------------------------------------------------------

def order_json(o: OrderContext) -> dict[str, Any]:
    v = o.verdict
    assert v is not None
    doc: dict[str, Any] = {
        "order_id": o.order_id, "symbol": o.symbol, "action": o.action.value, "qty": _num(o.qty),
        "intent": o.intent.value, "live_position_before": _num(o.live_position_before),
        "believed_position": _num(o.believed_position),
        "advisory": None if o.advisory is None else {"action": o.advisory.action,
                                                     "confidence": o.advisory.confidence},
        "would_block": not v.allowed, "reason_codes": [c.value for c in v.reason_codes],
        "fill_price": o.fill_price,
    }
    doc.update({
        "time": o.ts.isoformat(), "submitted_at": o.submitted_at.isoformat(), "order_type": o.order_type,
        "parent_id": o.parent_id, "inherited_from": o.inherited_from, "judged_as": v.judged_as.value,
        "price": o.price, "stop": o.stop, "target": o.target, "reference_price": o.mark,
        "signal": None if o.signal is None else {
            "label": o.signal.label, "confidence": o.signal.confidence, "price": o.signal.price,
            "stop": o.signal.stop, "target": o.signal.target, "time": o.signal.ts.isoformat()},
        "advisory_time": None if o.advisory is None else o.advisory.ts.isoformat(),
        "advisory_ignored_by_bot": None if o.advisory is None else o.advisory.ignored,
        "believed_source": o.believed_source or None, "live_source": o.live_source,
        "trade_cycle_id": o.trade_cycle_id, "cancelled": o.cancelled, "notes": o.notes,
        "line_no": o.line_no, "evidence": v.evidence,
    })
    return doc


def trip_json(t: RoundTrip) -> dict[str, Any]:
    return {
        "entry_order_id": t.entry_order_id, "exit_order_id": t.exit_order_id, "symbol": t.symbol,
        "side": t.side.value, "qty": _num(t.qty), "entry_price": t.entry_price, "exit_price": t.exit_price,
        "pnl_usd": t.gross_pnl, "broker_realized_pnl": t.broker_realized_pnl, "pnl_mismatch": t.pnl_mismatch,
        "fees_usd": t.fees, "net_pnl_usd": t.net_pnl, "multiplier": t.multiplier,
        "entry_time": t.entry_ts, "exit_time": t.exit_ts, "trade_cycle_id": t.trade_cycle_id,
    }
