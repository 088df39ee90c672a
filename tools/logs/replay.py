"""Guardrail replay: rebuild what a bot knew at each order and run the SAME guards; round trips from fills.

Any log format works that maps the events an analysis needs (tools/logs/events.py): orders need
``submitted``, round trips need ``filled``; the mytrader format maps the whole vocabulary. Advice
belongs to the signal it answers: a new signal clears the previous advisory, so an order whose own
advisory call failed (``advisory_failed``) or never happened is judged without advice
(ADVISORY_MISSING, plus LLM_UNAVAILABLE when the log shows the call failed), never with another
cycle's WAIT.

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
unknown or ambiguous format and ``ReplayError`` for a format that lacks the events the analysis needs
or a log in which nothing was recognised; lines it cannot classify or read are counted in the stats,
never fatal.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tools.logs.events import counted, missing_events, normalize
from tools.logs.fills import fills_from_records
from tools.logs.fills import round_trips as any_round_trips
from tools.logs.formats import pick_format, resolve
from tools.logs.log_rules import LogRules
from tools.logs.reader import read_log
from tools.logs.records import LogRecord, ReadStats
from tools.logs.replay_json import order_json, trip_json
from trading.domain.contracts import multiplier_for
from trading.domain.models import Advisory, AdvisoryAction, Fill, IntentKind, OrderIntent, OrderType, Side
from trading.domain.pnl import RoundTrip, round_trips
from trading.domain.reason_codes import ReasonCode
from trading.guards import BrokerSnapshot, GuardConfig, GuardVerdict, RiskState, evaluate

log = logging.getLogger(__name__)
__all__ = ["ReplayError", "ReplayResult", "order_json", "replay_log", "trip_json"]


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
    advisory_failed: str | None = None        # "L<n>: <error>" when this cycle's advisory call failed
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
    format: str = ""
    round_trips: list[RoundTrip] = field(default_factory=list)

    def order(self, order_id: str) -> OrderContext:
        return self.orders[str(order_id)]

    def trips(self) -> list[RoundTrip]:
        return self.round_trips


class _Replayer:
    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        self.signal: SignalSeen | None = None
        self.advisory: AdvisorySeen | None = None
        self.advisory_failed: str | None = None               # this signal's advisory call failed
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
            self.signal = SignalSeen(str(f["signal"]), f.get("confidence") or 0.0, f.get("price"), f.get("stop"),
                                     f.get("target"), ts, rec.line_no)
            # a new signal opens a new cycle: advice given to an earlier signal is never carried over
            self.advisory, self.advisory_failed = None, None
            if f.get("price") is not None and f["price"] > 0:
                self.last_px = f["price"]
        elif ev == "advisory":
            self.advisory = AdvisorySeen(f["action"], min(max(f["pct"] / 100.0, 0.0), 1.0),
                                         f.get("rationale") or "", ts, rec.line_no)
            self.advisory_failed = None
        elif ev == "advisory_failed":
            self.advisory, self.advisory_failed = None, f"L{rec.line_no}: {str(f.get('error', ''))[:300]}"
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
            o = self.orders.get(str(f.get("order_id")))
            if o is not None:
                o.cancelled = f.get("reason") or "cancelled"
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
            o.signal, o.advisory, o.advisory_failed = self.signal, self.advisory, self.advisory_failed
            if o.advisory_failed is not None:
                o.notes.append(f"this cycle's advisory call failed ({o.advisory_failed})")
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
    v = evaluate(intent, snap, risk, cfg, adv, now=o.ts)
    if adv is None and o.advisory_failed is not None and ReasonCode.ADVISORY_MISSING in v.reason_codes:
        # the log shows this cycle's call failed: say so (the advisory is missing because the model was down)
        v = v.model_copy(update={"reason_codes": [*v.reason_codes, ReasonCode.LLM_UNAVAILABLE],
                                 "evidence": {**v.evidence, "advisory_call_failed": o.advisory_failed}})
    return v


def _canonical(rec: LogRecord, native: bool) -> LogRecord | None:
    """The record with canonical fields for the replayer (mytrader's are canonical already)."""
    if native:
        return rec
    if rec.event == "commission":          # fees of other formats are matched in tools/logs/fills.py
        return None
    if rec.event not in ("submitted", "filled", "position"):
        return rec
    f = normalize(rec)
    if rec.event == "filled":
        f["action"], f["avg_price"] = f["side"], f["price"]
    rec.fields = f
    return rec


def replay_log(path: str | Path, cfg: GuardConfig, fmt: str | Path | LogRules = "auto", tz: str | None = None,
               nominal_equity: float = 100_000.0, analysis: str | None = None,
               user_dirs: list[Path] | None = None) -> ReplayResult:
    """Stream the log once, rebuild each order's context and judge every order.

    Any format works that maps the events the analysis needs (``analysis``: "trades" or "orders");
    otherwise ReplayError names the missing events. A log in which nothing was recognised is a
    ReplayError too, never an empty report."""
    fmt = pick_format(path, user_dirs) if isinstance(fmt, str) and fmt == "auto" else resolve(fmt, user_dirs)
    reader = read_log(path, fmt, tz=tz, noise_by_rule=False)      # the replay reports noise as a total only
    rules = reader.rules
    need = {"trades": "round trips and PnL (replay --trades)",
            "orders": "guard replay of orders (replay --all / --order-id)"}.get(analysis or "")
    if need is not None:
        lacking = missing_events(rules, [need]).get(need)
        if lacking:
            works = [f"replay {flag}" for flag, a in (("--trades", "round trips and PnL (replay --trades)"),)
                     if a != need and a not in missing_events(rules, [a])]
            raise ReplayError(f"format {rules.name!r} maps no {' / '.join(lacking)} event, which the {need} needs"
                              + (f"; {', '.join(works)} works on this log" if works else "")
                              + " (the event vocabulary: docs/bring-your-own-bot.md)")
    native = rules.name == "mytrader"
    rp = _Replayer(reader.tz)
    fill_recs: list[LogRecord] = []
    for rec in counted(reader):
        if rec.event in ("filled", "commission"):
            fill_recs.append(rec)
        try:
            c = _canonical(rec, native)
            if c is not None:
                rp.feed(c)
        except (ValueError, KeyError, TypeError) as exc:
            reader.stats.field_errors[rec.event] += 1
            log.debug("L%s %s unreadable: %s", rec.line_no, rec.event, exc)
    if reader.stats.summary()["recognised"] == 0:
        raise ReplayError(f"nothing in {path} was recognised as format {rules.name!r} "
                          f"({reader.stats.lines} lines read, none matched a rule); pass --format NAME or a rule file")
    bad: list[str] = []
    if native:
        fills = []
        for f in rp.fills:                  # a fill whose symbol the registry cannot price is a bad fill, counted
            try:
                multiplier_for(f.symbol)
            except ValueError as exc:
                reader.stats.field_errors["filled"] += 1
                log.debug("fill %s: %s", f.exec_id, exc)
                continue
            fills.append(f)
        trips = round_trips(fills)
    else:
        fs = fills_from_records(fill_recs)
        fills, bad = fs.fills, fs.bad
        reader.stats.duplicate_records += fs.duplicates
        for b in bad:
            reader.stats.field_errors["filled"] += 1
            log.debug("unreadable fill %s", b)
        trips = any_round_trips(fills)
    closed = sorted((datetime.fromisoformat(t.exit_ts), t.net_pnl) for t in trips if t.exit_ts)
    orders = list(rp.orders.values())
    for o in orders:
        if o.intent is IntentKind.PROTECTIVE and o.parent_id in rp.orders:
            continue
        o.verdict = judge(o, cfg, _risk_state(o, orders, closed, nominal_equity))
    for o in orders:                        # children inherit the parent's verdict
        if o.intent is IntentKind.PROTECTIVE and o.parent_id in rp.orders:
            o.verdict = rp.orders[o.parent_id].verdict
            o.inherited_from = o.parent_id
    return ReplayResult(source=str(path), tz=reader.tz, orders=rp.orders, fills=fills, stats=reader.stats,
                        config=cfg, nominal_equity=nominal_equity, format=rules.name, round_trips=trips)


