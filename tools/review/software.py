"""Software review: swallowed exceptions, state-file fields that contradict the reconstructed history,
telemetry gaps, outcome-resolution failures and, for the ES bot, the code paths seed 000 names (exit
orders without reduce-only semantics, WAIT treated as advisory, exits without SL/TP, PnL from IB's
average cost).

Failure contract: a pure function over a ``Forensics``; a check whose input is missing (no state file,
no ES data) is skipped, never raised.
"""
from __future__ import annotations

from typing import Any

from tools.review.forensics import Forensics, error_rows
from tools.review.report import RootCause
from tools.review.report import RootCauseCode as C


def state_contradictions(fx: Forensics, risk: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields of the bot's state file against the reconstruction."""
    st = fx.state
    if not st:
        return []
    m = risk.get("metrics", {})
    out = []

    def add(fieldname: str, state_value: Any, true_value: Any, why: str) -> None:
        out.append({"field": fieldname, "state": state_value, "reconstructed": true_value, "why": why,
                    "ref": f"state/trading_state.json:{fieldname}"})

    bal, peak = st.get("balance"), st.get("peak_balance")
    final, tpeak = m.get("final_balance"), m.get("true_peak_balance")
    if isinstance(bal, (int, float)) and final is not None and abs(bal - final) > max(0.05, 0.01 * abs(final)):
        add("balance", bal, final, "differs from the starting balance plus the reconstructed PnL")
    if isinstance(peak, (int, float)) and tpeak is not None and peak < tpeak * 0.995:
        add("peak_balance", peak, tpeak, "below the highest equity the account reached: the peak was reset")
    cl = st.get("consecutive_losses")
    streak = risk.get("streaks", {}).get("state_file", {}).get("true")
    if isinstance(cl, int) and streak is not None and cl < streak:
        add("consecutive_losses", cl, streak, "the losing streak was never counted (outcomes never recorded)")
    halted = st.get("halted")
    if halted is False and m.get("halt_should_have_fired_at") is not None:
        add("halted", False, True, "a drawdown halt with a never-reset peak would have latched")
    return out


def analyze(fx: Forensics, risk: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"detections": [], "metrics": {}}
    m = out["metrics"]
    errs = error_rows(fx)
    out["errors"] = errs
    swallowed = [e for e in errs if e["swallowed"]]
    m["error_signatures"] = len(errs)
    m["swallowed_signatures"] = len(swallowed)
    m["swallowed_occurrences"] = sum(e["swallowed"] for e in swallowed)
    if swallowed:
        e = max(swallowed, key=lambda x: x["swallowed"])
        out["detections"].append(RootCause(
            code=C.SWALLOWED_EXCEPTIONS, teams=["software"],
            summary=(f"{m['swallowed_occurrences']} exception(s) were caught and logged as ignored or below ERROR "
                     f"instead of stopping or alerting; the main one, '{e['signature']}' in {e['source']}, recurred "
                     f"{e['count']} times from {fx.fmt(e['first'])} to {fx.fmt(e['last'])} and hit "
                     f"{e['trades_hit']} trades." + (f" Likely cause: {e['likely_cause']}." if e["likely_cause"] else "")),
            evidence=e["refs"][:4]))
    sc = state_contradictions(fx, risk)
    out["state_contradictions"] = sc
    m["state_contradictions"] = len(sc)
    if fx.kind == "es" and fx.es is not None:
        es = fx.es
        rep = risk.get("es_replay", [])
        opened = [r for r in rep if r["kind"] == "exit" and r["opened_exposure"]]
        m["exit_orders"] = sum(1 for r in rep if r["kind"] == "exit")
        m["exits_that_opened_positions"] = len(opened)
        m["exit_opened_order_id"] = opened[0]["order_id"] if opened else None
        if opened:
            r = opened[0]
            out["detections"].append(RootCause(
                code=C.EXIT_OPENED_POSITION, teams=["software"],
                summary=(f"{len(opened)} exit order(s) opened a position: order {r['order_id']} was sent as an exit "
                         f"{r['action']} {r['qty']:g} {r['symbol']} while the bot believed position="
                         f"{r['believed_position']} but the live position was {r['live_position']:g}; it filled at "
                         f"{r['fill_price']} and left position={r['position_after']:g}. The guards (reduce-only) would "
                         f"have blocked it: {', '.join(r['guard_codes'])}."),
                evidence=[r["ref"], r["fill_ref"]]))
        waits = [r for r in rep if r["advisory"] and r["advisory"].startswith("WAIT") and r["filled"]
                 and (r["opened_exposure"] or r["kind"] == "entry")]
        m["ignored_wait_lines"] = len(es.ignored_advisories)
        m["orders_against_wait"] = len(waits)
        if waits:
            r = waits[0]
            out["detections"].append(RootCause(
                code=C.ADVISORY_WAIT_IGNORED, teams=["software"],
                summary=(f"{len(waits)} order(s) that opened exposure went out while the latest advisory said "
                         f"{r['advisory']}; the bot logged 'WAIT advisory only - not blocking trade' "
                         f"{len(es.ignored_advisories)} time(s). The advisory gate would have returned AWS_WAIT."),
                evidence=[r["ref"]] + [a["ref"] for a in es.ignored_advisories][:2]))
        naked = risk.get("unprotected", [])
        m["unprotected_positions"] = len(naked)
        m["unprotected_minutes"] = max((u["minutes"] or 0.0 for u in naked), default=None)
        m["non_positive_level_warnings"] = len(es.bad_levels)
        if naked:
            u = naked[0]
            alerts = [a["ref"] for a in es.alerts if a.get("stop") is None and a.get("target") is None]
            out["detections"].append(RootCause(
                code=C.MISSING_PROTECTION, teams=["software"],
                summary=(f"{len(naked)} position(s) opened without a protective stop or target: order {u['order_id']} "
                         f"stayed unprotected {u['minutes']} minutes and lost {u['pnl']}; the pipeline logged "
                         f"{len(es.bad_levels)} non-positive protective level warnings."),
                evidence=[u["ref"]] + alerts[:1] + es.bad_levels[:1]))
        stale = [t for t in fx.trades if any(c.startswith("broker realizedPNL") for c in t.conflicts)]
        m["broker_pnl_mismatches"] = len(stale)
        if stale:
            m["broker_reported_pnl"], m["fills_pnl"] = stale[0].broker_pnl, stale[0].pnl
        if stale:
            t = stale[0]
            out["detections"].append(RootCause(
                code=C.STALE_BROKER_PNL, teams=["software"],
                summary=(f"IB's realizedPNL disagrees with the fills on {len(stale)} round trip(s): trade "
                         f"{t.trade_id} reports {t.broker_pnl} while the fills give {t.pnl} "
                         f"(({t.exit_price} - {t.price}) x {t.size:g} x multiplier, net of fees): the broker figure "
                         "rests on a stale average cost."),
                evidence=[x for x in t.evidence][:2]))
        no_id = [o for o in es.orders.values() if o.filled_ts and not o.trade_cycle_id]
        tagged = [o for o in es.orders.values() if o.trade_cycle_id]
        untracked = [t for t in fx.trades if not t.recorded]
        m["fills_without_trade_cycle_id"] = len(no_id)
        m["lost_trade_id_warnings"] = len(es.lost_telemetry)
        m["round_trips_without_record"] = len(untracked)
        if es.lost_telemetry or (no_id and tagged) or (untracked and fx.trades and len(untracked) < len(fx.trades)):
            out["detections"].append(RootCause(
                code=C.TELEMETRY_GAP, teams=["software"],
                summary=(f"{len(no_id)} fill(s) carry no trade_cycle_id while {len(tagged)} order(s) do; "
                         f"{len(untracked)} round trip(s) have no trade record; the bot warned 'No current trade ID "
                         f"for exit logging' {len(es.lost_telemetry)} time(s): the loss was invisible to dashboards."),
                evidence=es.lost_telemetry[:2] + [o.fill_ref for o in no_id][:2]))
    return out
