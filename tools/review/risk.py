"""Risk review: the true equity curve, the drawdown halt replayed with a never-reset peak, peak resets,
losses hidden by positions carried at cost, loss streaks, sizing and concentration, and (ES) the
guards replayed on every order the bot sent.

The replay uses Warden's own controls, not a re-implementation: ``trading.records.risk_ledger.RiskLedger``
(peak = max of every equity mark, lowered only by an explicit operator entry; the halt latches) and
``trading.guards`` (halts, reduce-only, advisory gate, entry protection).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tools.review.forensics import Forensics, TradeRow
from trading.domain.models import Advisory, AdvisoryAction, IntentKind, OrderIntent, Side
from trading.domain.reason_codes import ReasonCode
from trading.guards import BrokerSnapshot, RiskState, evaluate
from trading.guards.halts import check_halts
from trading.records.risk_ledger import RiskLedger
from trading.settings import GuardConfig


class ReplayLedger(RiskLedger):
    """The persisted risk ledger's own fold (peak = max of every mark, latching halt, streak counting
    unresolved outcomes as losses), kept in memory: a replay must not write or fsync anything."""

    def __init__(self, cfg: GuardConfig) -> None:
        super().__init__(Path("/nonexistent/warden-replay-ledger.jsonl"), cfg)

    def _append(self, kind: str, ts: datetime | None = None, **data: Any) -> dict[str, Any]:
        entry = {"ts": (ts or datetime.now(UTC)).isoformat(), "type": kind, **data}
        self._apply(entry)
        return entry


def _resolve_time(t: TradeRow) -> datetime | None:
    return t.exit_time or t.window_end or t.resolved_at


def starting_equity(fx: Forensics) -> tuple[float | None, str]:
    """The account's equity before the first trade, and where it was read."""
    pos = fx.positions
    first = min((t.entry_time for t in pos if t.entry_time), default=None)
    if first is not None:
        before = [p for p in fx.process if p.kind == "state_loaded" and p.ts <= first and p.fields.get("balance")]
        if before:
            p = before[-1]
            return float(p.fields["balance"]), p.ref
        bal = [b for b in fx.balances if b[0] <= first and b[1] is not None]
        if bal:
            return float(bal[-1][1]), bal[-1][4]
    if fx.state and isinstance(fx.state.get("balance"), (int, float)) and pos and all(t.pnl is not None for t in pos):
        net = sum(t.pnl for t in pos)  # type: ignore[misc]
        return round(float(fx.state["balance"]) - net, 2), "state/trading_state.json:balance minus reconstructed PnL"
    return None, ""


def equity_curve(fx: Forensics, start: float | None) -> list[dict[str, Any]]:
    """Equity after each resolution (positions carried at cost until they resolve).

    An unresolved position is assumed lost at its window's end (seed 001: 'assume the worst').
    With no starting balance the curve is cumulative PnL from 0.
    """
    base = start if start is not None else 0.0
    pos = [t for t in fx.positions if _resolve_time(t) is not None or t.entry_time is not None]
    events = []
    for t in pos:
        when = _resolve_time(t) or t.entry_time
        pnl = t.pnl
        assumed = False
        if pnl is None:
            pnl = -(t.cost or 0.0)
            assumed = True
        events.append((when, t.trade_id, float(pnl), assumed))
    events.sort(key=lambda e: e[0])
    first = min((t.entry_time for t in pos if t.entry_time), default=None)
    eq = base
    out = [{"ts": first, "equity": round(eq, 2), "trade_id": "", "pnl": 0.0, "assumed": False}] if first else []
    for when, tid, pnl, assumed in events:
        eq += pnl
        out.append({"ts": when, "equity": round(eq, 2), "trade_id": tid, "pnl": round(pnl, 2), "assumed": assumed})
    peak = None
    for p in out:
        peak = p["equity"] if peak is None else max(peak, p["equity"])
        p["peak"] = peak
        p["drawdown_pct"] = round((peak - p["equity"]) / peak * 100, 2) if start is not None and peak > 0 else None
        p["drawdown_usd"] = round(peak - p["equity"], 2)
    return out


def equity_at(curve: Sequence[dict[str, Any]], ts: datetime) -> float | None:
    val = None
    for p in curve:
        if p["ts"] is not None and p["ts"] <= ts:
            val = p["equity"]
        else:
            break
    return val


def replay_halts(fx: Forensics, curve: Sequence[dict[str, Any]], cfg: GuardConfig, recorded_only: bool = False,
                 marks: Sequence[tuple[datetime, float]] | None = None) -> dict[str, Any]:
    """Replay the persisted risk ledger and the halt checks over the incident.

    ``recorded_only=False``: outcomes at their true resolution time (what the guard should have seen).
    ``recorded_only=True``: only the outcomes the bot recorded, equity from ``marks`` (the bot's own
    balance readings): what a never-reset peak and the unresolved-outcome fail-safe would have done
    with the bot's broken tracking.
    Returns the first time each halt code fires and, per trade, the codes that would have blocked it.
    """
    trades = sorted(fx.positions, key=lambda t: t.entry_time or datetime.min)
    events: list[tuple[datetime, int, str, Any]] = []
    for t in trades:
        if t.entry_time:
            events.append((t.entry_time, 2, "entry", t))
        rt = _resolve_time(t)
        if rt and t.pnl is not None and (not recorded_only or t.recorded):
            events.append((rt, 0, "outcome", t))
    if recorded_only:
        for ts, eq in marks or []:
            events.append((ts, 1, "mark", eq))
    else:
        for p in curve:
            if p["ts"] is not None:
                events.append((p["ts"], 1, "mark", p["equity"]))
    events.sort(key=lambda e: (e[0], e[1]))
    first_fire: dict[str, datetime] = {}
    blocked: dict[str, list[str]] = {}
    halt_detail: dict[str, Any] = {}
    led = ReplayLedger(cfg)
    for ts, _, kind, obj in events:
        if kind == "mark":
            led.mark_equity(float(obj), ts=ts)
            st = led.state(now=ts)
            if st.halted and "DRAWDOWN_HALT" not in first_fire:
                first_fire["DRAWDOWN_HALT"] = ts
                halt_detail = {"equity": st.equity, "peak": st.peak_equity,
                               "drawdown_pct": round(st.drawdown_pct or 0.0, 2)}
        elif kind == "outcome":
            led.record_outcome(obj.trade_id, float(obj.pnl), ts=ts, source=obj.source)
        else:
            st = led.state(now=ts)
            res = check_halts(st, cfg)
            codes = [c.value for c in res.codes if c is not ReasonCode.EQUITY_UNKNOWN]
            for c in codes:
                first_fire.setdefault(c, ts)
            if codes:
                blocked[obj.trade_id] = codes
            rb = _resolve_time(obj) if obj.window_end else None
            led.record_entry(obj.trade_id, resolve_by=rb, ts=ts)
    return {"first_fire": first_fire, "blocked": blocked, "halt": halt_detail}


def peak_resets(fx: Forensics, true_peak: float | None) -> list[dict[str, Any]]:
    """Every lowering of the drawdown peak: a logged reset and/or a peak loaded below what the bot had
    already seen (one instance per restart), and a state file whose peak is below the true peak."""
    found: list[dict[str, Any]] = []
    for p in fx.process:
        if p.kind == "peak_reset":
            found.append({"ts": p.ts, "kind": "logged_reset", "ref": p.ref,
                          "detail": f"bot reset its peak to the current balance {p.fields.get('balance')}"})
    seen_max: float | None = None
    obs: list[tuple[datetime, str, float, str]] = []
    for b in fx.balances:
        for v in (b[1], b[2]):
            if v is not None:
                obs.append((b[0], "balance", float(v), b[4]))
    for p in fx.process:
        if p.kind == "state_loaded" and p.fields.get("peak_balance") is not None:
            obs.append((p.ts, "state_loaded", float(p.fields["peak_balance"]), p.ref))
    obs.sort(key=lambda o: o[0])
    for ts, kind, v, r in obs:
        if kind == "state_loaded" and seen_max is not None and v < seen_max * 0.995:
            same = next((f for f in found if f["kind"] == "logged_reset" and abs((f["ts"] - ts).total_seconds()) < 30),
                        None)
            detail = f"peak_balance loaded as {v:.2f} after the bot had logged {seen_max:.2f}"
            if same:
                same["detail"] += f"; {detail}"
                same["refs"] = [same["ref"], r]
            else:
                found.append({"ts": ts, "kind": "peak_lowered_on_load", "ref": r, "detail": detail})
        seen_max = v if seen_max is None else max(seen_max, v)
    # the state file's peak below a peak the bot itself had already logged (a peak it never saw, e.g.
    # gains it never booked, is a tracking gap reported by the software team, not a reset)
    if fx.state and seen_max is not None and isinstance(fx.state.get("peak_balance"), (int, float)):
        sp = float(fx.state["peak_balance"])
        if sp < seen_max * 0.995:
            found.append({"ts": None, "kind": "state_file_peak_below_logged_peak", "ref": "state/trading_state.json",
                          "detail": f"state peak_balance {sp:.2f} vs {seen_max:.2f} the bot had logged"})
    return found


def hidden_losses(fx: Forensics, start: float | None, grace_s: float) -> dict[str, Any]:
    """Bot balance readings above any equity the resolved trades allow (positions carried at cost).

    At a reading's time the account can hold at most: the start, plus the PnL of every trade resolved
    more than ``grace_s`` earlier, plus the gains (never the losses) of trades resolved within the
    grace period (their outcome may not be booked yet). A reading above that hides losses.
    """
    import numpy as np

    n = len(fx.bal_ts)
    if start is None or not n:
        return {"checked": 0, "hidden": [], "max_excess": 0.0}
    res = sorted((t for t in fx.positions if t.pnl is not None and _resolve_time(t)), key=_resolve_time)  # type: ignore
    rt = np.array([_resolve_time(t).timestamp() for t in res])  # type: ignore[union-attr]
    pnl = np.array([float(t.pnl) for t in res])  # type: ignore[arg-type]
    gains = np.maximum(pnl, 0.0)
    cum_pnl = np.concatenate([[0.0], np.cumsum(pnl)])
    cum_gain = np.concatenate([[0.0], np.cumsum(gains)])
    cum_loss_n = np.concatenate([[0], np.cumsum(pnl < 0)])
    ts = fx.bal_ts
    k_cut = np.searchsorted(rt, ts - grace_s, side="right")
    k_now = np.searchsorted(rt, ts, side="right")
    upper = start + cum_pnl[k_cut] + (cum_gain[k_now] - cum_gain[k_cut])
    excess = fx.bal_val - upper
    lost = cum_loss_n[k_cut]
    bad = np.nonzero((excess > max(1.0, 0.02 * start)) & (lost > 0))[0]
    hidden = [{"ts": datetime.fromtimestamp(float(ts[i]), UTC),
               "ref": fx.balance_ref(int(i)), "logged": round(float(fx.bal_val[i]), 2),
               "true_max": round(float(upper[i]), 2), "excess": round(float(excess[i]), 2),
               "losing_trades_resolved": int(lost[i])} for i in bad[:200]]
    return {"checked": int(n), "hidden": hidden, "hidden_count": int(len(bad)),
            "max_excess": round(float(excess[bad].max()), 2) if len(bad) else 0.0}


def streaks(fx: Forensics, grace_s: float) -> dict[str, Any]:
    res = sorted((t for t in fx.positions if t.won is not None and _resolve_time(t)), key=_resolve_time)  # type: ignore
    cur = best = 0
    best_end = None
    seq = []
    for t in res:
        cur = cur + 1 if not t.won else 0
        seq.append((_resolve_time(t), cur, t.trade_id))
        if cur > best:
            best, best_end = cur, _resolve_time(t)
    out: dict[str, Any] = {"max_streak": best, "max_streak_ended": best_end, "final_streak": cur,
                           "contradictions": []}

    def streak_at(ts: datetime) -> int:
        v = 0
        for when, s, _ in seq:
            if when <= ts - timedelta(seconds=grace_s):
                v = s
        return v

    for p in fx.process:
        if p.kind == "state_loaded" and p.fields.get("consecutive_losses") is not None:
            true = streak_at(p.ts)
            if int(p.fields["consecutive_losses"]) < true:
                out["contradictions"].append({"ts": p.ts, "ref": p.ref, "state": int(p.fields["consecutive_losses"]),
                                              "true": true})
    if fx.state and isinstance(fx.state.get("consecutive_losses"), int):
        last = fx.state.get("last_updated")
        from tools.logs.bundle import parse_time

        lu = parse_time(last)
        true = streak_at(lu) if lu else cur
        out["state_file"] = {"state": int(fx.state["consecutive_losses"]), "true": true}
        if int(fx.state["consecutive_losses"]) < true:
            out["contradictions"].append({"ts": lu, "ref": "state/trading_state.json:consecutive_losses",
                                          "state": int(fx.state["consecutive_losses"]), "true": true})
    return out


def sizing(fx: Forensics, curve: Sequence[dict[str, Any]], start: float | None) -> dict[str, Any]:
    rows = []
    for t in fx.positions:
        if t.cost is None or t.entry_time is None or start is None:
            continue
        eq = equity_at(curve, t.entry_time)
        believed = None
        for b in fx.balances:
            if b[0] <= t.entry_time:
                believed = b[1]
        rows.append({"trade_id": t.trade_id, "cost": t.cost, "true_equity": eq,
                     "pct_of_true_equity": round(t.cost / eq * 100, 2) if eq else None,
                     "pct_of_bot_balance": round(t.cost / believed * 100, 2) if believed else None})
    pct = [r["pct_of_true_equity"] for r in rows if r["pct_of_true_equity"] is not None]
    return {"rows": rows, "max_pct": max(pct, default=None), "mean_pct": round(sum(pct) / len(pct), 2) if pct else None,
            "over_10pct": sum(1 for x in pct if x > 10)}


def concentration(trades: Sequence[TradeRow]) -> dict[str, Any]:
    cost_by_asset: Counter = Counter()
    by_dir: Counter = Counter()
    pnl_asset: dict[str, float] = defaultdict(float)
    n_asset: Counter = Counter()
    for t in trades:
        cost_by_asset[t.asset] += t.cost or 0.0
        n_asset[t.asset] += 1
        by_dir[t.outcome] += 1
        pnl_asset[t.asset] += t.pnl or 0.0
    total = sum(cost_by_asset.values())
    hhi = sum((v / total) ** 2 for v in cost_by_asset.values()) if total else None
    windows: dict[Any, set[tuple[str, str]]] = defaultdict(set)
    for t in trades:
        if t.window_start is not None:
            windows[t.window_start].add((t.asset, t.outcome))
    stacked = 0
    for s in windows.values():
        dirs = Counter(d for _, d in s)
        if dirs and max(dirs.values()) >= 2:
            stacked += 1
    return {"by_asset": [{"asset": a, "trades": n_asset[a], "cost": round(cost_by_asset[a], 2),
                          "cost_share": round(cost_by_asset[a] / total, 4) if total else None,
                          "pnl": round(pnl_asset[a], 2)} for a in sorted(n_asset)],
            "by_direction": dict(by_dir), "hhi": None if hhi is None else round(hhi, 4),
            "windows": len(windows), "windows_with_same_direction_across_assets": stacked,
            "top_direction_share": round(max(by_dir.values()) / sum(by_dir.values()), 4) if by_dir else None}


# ------------------------------------------------------------------------------------------------
# ES: the guards replayed on every order intent


def replay_es_intents(fx: Forensics, cfg: GuardConfig) -> list[dict[str, Any]]:
    """What Warden's guards would have said about each order the bot sent, with what happened next."""
    es = fx.es
    if es is None:
        return []
    out = []
    for it in es.intents:
        side = Side(it.action)
        signal_conf = None
        if it.signal and it.signal.get("confidence") is not None:
            signal_conf = max(0.0, min(1.0, float(it.signal["confidence"])))
        intent = OrderIntent(kind=IntentKind.EXIT if it.kind == "exit" else IntentKind.ENTRY, side=side, qty=it.qty,
                             symbol=it.symbol, price=it.price or it.mark, stop=it.stop, target=it.target,
                             signal_confidence=signal_conf, created_at=it.ts)
        adv = None
        if it.advisory:
            adv = Advisory(action=AdvisoryAction(it.advisory["action"]),
                           confidence=max(0.0, min(1.0, float(it.advisory.get("pct") or 0) / 100)),
                           advisory_only=True, ts=it.advisory["ts"], source="bot log")
        snap = BrokerSnapshot(positions={it.symbol: float(it.live_position or 0.0)},
                              marks={it.symbol: it.mark} if it.mark else {}, taken_at=it.ts)
        # account equity is not in a mytrader log: a nominal, non-halting state so only the order's
        # own faults are judged (halts are replayed separately where equity is known)
        risk = RiskState(equity=1.0, peak_equity=1.0)
        v = evaluate(intent, snap, risk, cfg, advisory=adv, now=it.ts)
        order = es.orders.get(it.order_id) if it.order_id else None
        children = [o for o in es.orders.values() if order and o.parent_id == order.order_id]
        pos_after = None
        if order and order.filled_ts:
            for ts, sym, q, _ in es.positions:
                if sym == it.symbol and ts >= order.filled_ts:
                    pos_after = q
                    break
        before = float(it.live_position or 0.0)
        opened = pos_after is not None and pos_after != 0 and (before == 0 or (before > 0) != (pos_after > 0))
        out.append({
            "ts": it.ts, "ref": it.ref, "kind": it.kind, "action": it.action, "qty": it.qty, "symbol": it.symbol,
            "believed_position": it.believed_position, "live_position": before,
            "stop": it.stop, "target": it.target,
            "advisory": (f"{it.advisory['action']} ({it.advisory.get('pct')}%)" if it.advisory else None),
            "advisory_ignored": it.advisory_ignored,
            "order_id": it.order_id, "filled": bool(order and order.filled_ts),
            "fill_price": order.fill_price if order else None, "fill_ref": order.fill_ref if order else "",
            "position_after": pos_after, "opened_exposure": opened,
            "protective_children": len([c for c in children if c.order_type == "STP"]),
            "trade_cycle_id": order.trade_cycle_id if order else None,
            "guard_allowed": v.allowed, "guard_codes": [c.value for c in v.reason_codes],
            "judged_as": v.judged_as.value,
        })
    return out


def unprotected_exposure(fx: Forensics, replay: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Positions opened without a protective stop, how long they stayed open and what they cost."""
    out = []
    es = fx.es
    if es is None:
        return out
    for r in replay:
        if not (r["opened_exposure"] and r["protective_children"] == 0):
            continue
        start = None
        for o in es.orders.values():
            if o.order_id == r["order_id"]:
                start = o.filled_ts
        end = None
        for ts, sym, q, ref in es.positions:
            if start and sym == r["symbol"] and ts > start and q == 0:
                end = ts
                break
        trade = next((t for t in fx.trades if t.order_id == r["order_id"]), None)
        out.append({"order_id": r["order_id"], "opened": start, "closed": end,
                    "minutes": round((end - start).total_seconds() / 60, 1) if start and end else None,
                    "pnl": trade.pnl if trade else None, "trade_id": trade.trade_id if trade else None,
                    "ref": r["fill_ref"]})
    return out


# ------------------------------------------------------------------------------------------------
# the risk team's whole analysis


def bot_drawdown_limit(fx: Forensics) -> float | None:
    lims = [c[2] for c in fx.dd_checks if c[2] is not None]
    if lims:
        return float(lims[-1])
    if fx.state and isinstance(fx.state.get("max_drawdown_pct"), (int, float)):
        return float(fx.state["max_drawdown_pct"])
    return None


def analyze(fx: Forensics, cfg: GuardConfig) -> dict[str, Any]:
    from tools.review.report import RootCause
    from tools.review.report import RootCauseCode as C

    limit = bot_drawdown_limit(fx)
    gcfg = cfg.model_copy(update={"max_drawdown_pct": limit}) if limit else cfg
    start, start_ref = starting_equity(fx)
    curve = equity_curve(fx, start)
    out: dict[str, Any] = {"start_equity": start, "start_ref": start_ref, "curve": curve, "limit_pct": gcfg.max_drawdown_pct,
                           "detections": [], "not_run": []}
    m: dict[str, Any] = {"drawdown_limit_pct": gcfg.max_drawdown_pct, "starting_balance": start}
    if curve:
        peak_pt = max(curve, key=lambda p: p["equity"])
        m["true_peak_balance"] = peak_pt["equity"] if start is not None else None
        m["final_balance"] = curve[-1]["equity"] if start is not None else None
        dds = [p["drawdown_pct"] for p in curve if p["drawdown_pct"] is not None]
        m["max_drawdown_pct"] = max(dds) if dds else None
        m["max_drawdown_usd"] = max(p["drawdown_usd"] for p in curve)
        m["assumed_losses"] = sum(1 for p in curve if p["assumed"])
    if start is None:
        out["not_run"].append(("drawdown percentage and halt replay", "starting balance (no state_loaded/Balance line "
                               "before the first trade and no state file)"))
    truth = replay_halts(fx, curve, gcfg) if start is not None else {"first_fire": {}, "blocked": {}, "halt": {}}
    out["replay"] = truth
    halt_at = truth["first_fire"].get("DRAWDOWN_HALT")
    m["halt_should_have_fired_at"] = halt_at
    # the bot's own view with a never-reset peak and the unresolved-outcome fail-safe
    marks = [(b[0], float(b[1])) for b in fx.balances if b[1] is not None]
    for p in fx.process:
        if p.kind == "state_loaded" and p.fields.get("balance") is not None:
            marks.append((p.ts, float(p.fields["balance"])))
    marks.sort(key=lambda x: x[0])
    failsafe = replay_halts(fx, curve, gcfg, recorded_only=True, marks=marks) if marks or fx.positions else None
    out["failsafe"] = failsafe
    if failsafe:
        ff = failsafe["first_fire"]
        m["failsafe_first_block_at"] = min(ff.values()) if ff else None
        m["failsafe_first_block_codes"] = sorted(k for k, v in ff.items() if v == min(ff.values())) if ff else []
        m["failsafe_trades_blocked"] = len(failsafe["blocked"])
    pos = sorted(fx.positions, key=lambda t: t.entry_time or datetime.min)
    if halt_at is not None:
        bot_halts = [p.ts for p in fx.process if p.kind == "halt"]
        after = [t for t in pos if t.entry_time and t.entry_time > halt_at
                 and not any(h <= t.entry_time for h in bot_halts)]
        later = fx.dd_check_ts > halt_at.timestamp()
        ok_after = int((later & ~fx.dd_check_halt).sum())
        m["trades_after_halt"] = len(after)
        m["cost_after_halt"] = round(sum(t.cost or 0.0 for t in after), 2)
        m["pnl_after_halt"] = round(sum(t.pnl or 0.0 for t in after), 2)
        m["bot_ok_checks_after_halt"] = ok_after
        if after:
            out["detections"].append(RootCause(
                code=C.DRAWDOWN_HALT_MISSED, teams=["risk"],
                summary=(f"The true equity fell {truth['halt'].get('drawdown_pct')}% below its never-reset peak "
                         f"{truth['halt'].get('peak')} at {fx.fmt(halt_at)}, past the {gcfg.max_drawdown_pct}% "
                         f"limit, yet the bot placed {len(after)} more trades (cost {m['cost_after_halt']}, "
                         f"PnL {m['pnl_after_halt']}); its own drawdown check said OK {ok_after} times after that."),
                evidence=[t.log_ref or f"trade {t.trade_id}" for t in after[:3]]
                + [c[4] for c in fx.dd_checks if c[0] > halt_at and c[3] == "OK"][:2]))
    true_peak = m.get("true_peak_balance")
    resets = peak_resets(fx, true_peak)
    out["peak_resets"] = resets
    m["peak_resets"] = len(resets)
    if resets:
        kinds = Counter(r["kind"] for r in resets)
        out["detections"].append(RootCause(
            code=C.DRAWDOWN_PEAK_RESET, teams=["risk"],
            summary=(f"The drawdown peak was lowered {len(resets)} time(s) ("
                     + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in kinds.items())
                     + "): each reset restarted the drawdown from the current balance, so the "
                       f"{gcfg.max_drawdown_pct}% limit measured from a moving floor, not from the true peak."),
            evidence=[x for r in resets for x in r.get("refs", [r["ref"]])][:8]))
    hid = hidden_losses(fx, start, gcfg.outcome_grace_s)
    out["hidden"] = hid
    m["hidden_loss_readings"] = hid.get("hidden_count", 0)
    m["hidden_loss_max_usd"] = hid.get("max_excess")
    if hid["hidden"]:
        h0 = max(hid["hidden"], key=lambda h: h["excess"])
        out["detections"].append(RootCause(
            code=C.UNREALIZED_LOSSES_HIDDEN, teams=["risk"],
            summary=(f"{hid['hidden_count']} of the bot's {hid['checked']} balance readings exceed any equity its resolved "
                     "trades allow, "
                     f"by up to {h0['excess']} (logged {h0['logged']} vs at most {h0['true_max']} at "
                     f"{fx.fmt(h0['ts'])}): positions were carried at cost after they had lost."),
            evidence=[h["ref"] for h in hid["hidden"]][:4]))
    st = streaks(fx, gcfg.outcome_grace_s)
    out["streaks"] = st
    m["max_loss_streak"] = st["max_streak"]
    m["final_loss_streak"] = st["final_streak"]
    if st.get("state_file"):
        m["state_consecutive_losses"] = st["state_file"]["state"]
    if st["contradictions"] and st["max_streak"] >= 2:
        c0 = st["contradictions"][-1]
        out["detections"].append(RootCause(
            code=C.LOSS_STREAK_UNTRACKED, teams=["risk"],
            summary=(f"The bot recorded consecutive_losses={c0['state']} while the reconstructed outcomes show a "
                     f"streak of {c0['true']} losses at that point (longest streak {st['max_streak']}, limit "
                     f"{gcfg.max_consecutive_losses}); {len(st['contradictions'])} state reading(s) understate it."),
            evidence=[c["ref"] for c in st["contradictions"]][:5]))
    sz = sizing(fx, curve, start)
    out["sizing"] = sz
    m["max_position_pct_of_equity"] = sz["max_pct"]
    m["mean_position_pct_of_equity"] = sz["mean_pct"]
    m["positions_over_10pct"] = sz["over_10pct"]
    m["oversize_threshold_pct"] = 10.0
    if st["max_streak"] >= 1 and gcfg.max_drawdown_pct:
        # the largest fixed fraction per trade that survives the observed losing streak inside the limit
        frac = 1 - (1 - gcfg.max_drawdown_pct / 100) ** (1 / st["max_streak"])
        m["max_position_pct_for_streak"] = round(frac * 100, 2)
    out["concentration"] = concentration(pos) if pos else {}
    if fx.kind == "es":
        rep = replay_es_intents(fx, cfg)
        out["es_replay"] = rep
        out["unprotected"] = unprotected_exposure(fx, rep)
        m["orders_replayed"] = len(rep)
        m["orders_guards_would_block"] = sum(1 for r in rep if not r["guard_allowed"])
        m["unprotected_positions"] = len(out["unprotected"])
    out["metrics"] = m
    return out
