"""The risk team's whole analysis: true equity, the halt replayed with a never-reset peak, peak resets,
hidden losses, loss streaks, sizing and concentration, and (ES) the guards replayed on every order;
with the root causes they detect (DRAWDOWN_HALT_MISSED, DRAWDOWN_PEAK_RESET, UNREALIZED_LOSSES_HIDDEN,
LOSS_STREAK_UNTRACKED).

An analysis whose input is missing (no starting balance) is listed in ``not_run``, never raised.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from tools.review.forensics import Forensics
from tools.review.markdown import currency, money, plural
from tools.review.report import RootCause
from tools.review.report import RootCauseCode as C
from tools.review.risk.equity import bot_drawdown_limit, equity_curve, starting_equity
from tools.review.risk.es_guard_replay import replay_es_intents, unprotected_exposure
from tools.review.risk.exposure import concentration, sizing
from tools.review.risk.halt_replay import replay_halts
from tools.review.risk.losses import flat_bot_view, hidden_losses, streaks
from tools.review.risk.peak_resets import peak_resets
from trading.settings import GuardConfig


def analyze(fx: Forensics, cfg: GuardConfig) -> dict[str, Any]:
    limit = bot_drawdown_limit(fx)
    gcfg = cfg.model_copy(update={"max_drawdown_pct": limit}) if limit else cfg
    start, start_ref = starting_equity(fx)
    curve = equity_curve(fx, start)
    out: dict[str, Any] = {"start_equity": start, "start_ref": start_ref, "curve": curve, "limit_pct": gcfg.max_drawdown_pct,
                           "detections": [], "not_run": []}
    ccy = currency(fx.kind)
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
                         f"{money(truth['halt'].get('peak'), ccy)} at {fx.fmt(halt_at)}, past the "
                         f"{gcfg.max_drawdown_pct}% limit, yet the bot placed {plural(len(after), 'more trade')} (cost "
                         f"{money(m['cost_after_halt'], ccy)}, PnL {money(m['pnl_after_halt'], ccy)}); its own drawdown "
                         f"check said OK {plural(ok_after, 'time')} after that."),
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
    flat = flat_bot_view(fx, curve, start, gcfg.outcome_grace_s, gcfg.max_drawdown_pct)
    out["hidden"], out["flat_view"] = hid, flat
    m["hidden_loss_readings"] = hid.get("hidden_count", 0)
    m["hidden_loss_max_usd"] = hid.get("max_excess")
    m["flat_bot_view_readings"] = len(flat["flat"])
    why: list[str] = []
    refs: list[str] = []
    if hid["hidden"]:
        h0 = max(hid["hidden"], key=lambda h: h["excess"])
        why.append(f"{hid['hidden_count']} of the bot's {hid['checked']} balance readings exceed any equity its resolved "
                   f"trades allow, by up to {money(h0['excess'], ccy)} (logged {money(h0['logged'], ccy)} vs at most "
                   f"{money(h0['true_max'], ccy)} at {fx.fmt(h0['ts'])})")
        refs += [h["ref"] for h in hid["hidden"]][:4]
    if flat["flat"]:
        f0 = max(flat["flat"], key=lambda h: h["gap"])
        what = ("drawdown readings stayed flat while the true drawdown deepened" if flat["kind"] == "drawdown"
                else "equity readings stayed flat while the true equity fell")
        why.append(f"{len(flat['flat'])} of {flat['checked']} of the bot's own {what} (bot {f0['bot']} vs true "
                   f"{f0['true']} {f0['unit']} at {fx.fmt(f0['ts'])})")
        refs += [h["ref"] for h in flat["flat"]][:4]
    if why:
        out["detections"].append(RootCause(
            code=C.UNREALIZED_LOSSES_HIDDEN, teams=["risk"],
            summary="; ".join(why) + ": positions were carried at cost after they had lost.",
            evidence=list(dict.fromkeys(refs))[:6]))
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
