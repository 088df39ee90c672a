"""Risk Management team (seed 001: Risk Manager, Quant Risk Analyst, Portfolio Manager).

Offline policy: the halt time is the replay's (never-reset peak, RiskLedger); a missed halt, a peak
reset, an untracked streak and hidden losses are facts when the tools detect them; the fail-safe replay
(only what the bot recorded, with the unresolved-outcome halt) answers "fail-safes that work even if
tracking fails". Parameter changes are risk_parameter (user approval on the values).

Failure contract: tool failures are handled by ``base.run_team``; no starting balance gives "could not
run" entries for the percentage analyses.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.review.base import ReportBuilder, ReviewContext, run_team, trim
from agents.review.strength import finish
from tools.review import plots as incident_plots
from tools.review import risk as rtool
from tools.review.markdown import currency, money, num, plural
from tools.review.report import ChangeType, NotRun, Recommendation, TeamReport

TEAM = "risk"
PROMPT = """You are the Risk Manager of an incident review. Assume the worst where outcomes are unknown.
From the evidence only (true equity curve, never-reset-peak replay, fail-safe replay, peak resets, loss
streaks, sizing, concentration, guard replays), answer: 1. Why didn't the drawdown protection halt the
bot? 2. Were position sizes appropriate given balance? 3. Did the bot violate correlation or exposure
limits? 4. Should risk thresholds be tightened? Label facts and hypotheses; never invent a number."""


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    fx = ctx.fx
    a = ctx.cached("risk", lambda: rtool.analyze(fx, ctx.guards))
    ev = ctx.evidence(TEAM)
    nr = ctx.not_run(("state-file consistency",))
    nr += [NotRun(analysis=x, lacking=y).model_dump() for x, y in a["not_run"]]
    curve = a["curve"]
    step = max(1, len(curve) // 40)
    blocked = a["replay"]["blocked"]
    fs = a.get("failsafe") or {"blocked": {}, "first_fire": {}}
    tables: dict[str, Any] = {
        "True equity (reconstructed)": [{k: p[k] for k in ("ts", "equity", "peak", "drawdown_pct", "trade_id", "pnl",
                                                           "assumed")} for p in curve[::step]],
        "Peak resets": trim(a["peak_resets"]),
        "Trades the replayed guards would have blocked": trim(
            [{"trade_id": k, "codes": ", ".join(v), "failsafe_codes": ", ".join(fs["blocked"].get(k, []))}
             for k, v in blocked.items()] or
            [{"trade_id": k, "codes": "", "failsafe_codes": ", ".join(v)} for k, v in fs["blocked"].items()]),
        "Position size vs true equity": trim(sorted(a["sizing"]["rows"], key=lambda r: -(r["pct_of_true_equity"] or 0)),
                                             10),
        "Concentration by asset": (a.get("concentration") or {}).get("by_asset", []),
    }
    if "es_replay" in a:
        tables["Guards replayed on each order"] = [
            {k: r[k] for k in ("ts", "kind", "action", "qty", "believed_position", "live_position", "advisory", "stop",
                               "target", "guard_allowed", "guard_codes", "position_after", "ref")}
            for r in a["es_replay"]]
        tables["Unprotected positions"] = a["unprotected"]
    conc = a.get("concentration") or {}
    m = dict(a["metrics"])
    m.update({"hhi": conc.get("hhi"), "top_direction_share": conc.get("top_direction_share"),
              "windows_with_same_direction_across_assets": conc.get("windows_with_same_direction_across_assets"),
              "trades_blocked_by_replay": len(blocked),
              "first_fire": a["replay"]["first_fire"], "failsafe_first_fire": fs["first_fire"]})
    ev.update(metrics=m, detections=[d.model_dump() for d in a["detections"]], not_run=nr, halt=a["replay"]["halt"],
              by_direction=conc.get("by_direction"), tables=tables,
              unprotected=a.get("unprotected", []), es_blocked=[r for r in a.get("es_replay", [])
                                                                if not r["guard_allowed"]])
    return ev, a


def plots(ctx: ReviewContext, full: dict[str, Any]) -> list[str]:
    curve = full["curve"]
    if not curve:
        return []
    fx = ctx.fx
    bot = [(b[0], float(b[1])) for b in fx.balances if b[1] is not None]
    pct = full["start_equity"] is not None
    times = [t for p in fx.positions for t in (p.entry_time, p.exit_time, p.resolved_at) if t is not None]
    halt = full["metrics"].get("halt_should_have_fired_at")
    focus = (min(times + ([halt] if halt else [])), max(times)) if times else None
    path = incident_plots.equity_curve(
        curve, Path(ctx.out) / "plots" / "equity_curve.png", halt_at=halt,
        limit_pct=full["limit_pct"] if pct else None, bot_balance=bot, percent=pct, focus=focus, ccy=currency(fx.kind),
        title="True equity vs the bot's view (zoomed to the trades)" if pct else
        "Cumulative PnL from fills vs the broker's view (no account balance in the bundle)")
    return [str(path.relative_to(ctx.out))]


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    det = b.detections
    g = ev["guard_config"]
    lim = m["drawdown_limit_pct"]
    ccy = currency(ev["bundle_kind"])
    if m.get("starting_balance") is not None and m.get("true_peak_balance") is not None:
        b.fact("True equity", f"Starting balance {money(m['starting_balance'], ccy)}, true peak "
               f"{money(m['true_peak_balance'], ccy)}, final {money(m['final_balance'], ccy)}: maximum drawdown "
               f"{m['max_drawdown_pct']}% ({money(m['max_drawdown_usd'], ccy)}).",
               ["plots/equity_curve.png"])
    elif m.get("max_drawdown_usd") is not None:
        b.fact("Cumulative PnL", f"No account balance in the bundle; the PnL curve from fills drew down "
               f"{money(m['max_drawdown_usd'], ccy)} from its high.", ["plots/equity_curve.png"])
    hm = det.get("DRAWDOWN_HALT_MISSED")
    if hm:
        b.fact("The drawdown halt should have fired", hm["summary"], hm["evidence"])
    elif m.get("halt_should_have_fired_at"):
        b.fact("The halt fired in time", f"The replayed halt at {m['halt_should_have_fired_at']} matches the bot's own "
               "halt; no trade followed it.")
    pr = det.get("DRAWDOWN_PEAK_RESET")
    if pr:
        b.fact("The drawdown peak was reset", pr["summary"], pr["evidence"])
    hl = det.get("UNREALIZED_LOSSES_HIDDEN")
    if hl:
        b.fact("Losses hidden by positions carried at cost", hl["summary"], hl["evidence"])
    ls = det.get("LOSS_STREAK_UNTRACKED")
    if ls:
        b.fact("Loss streak not tracked", ls["summary"], ls["evidence"])
    if m.get("failsafe_first_block_at"):
        b.fact("A fail-safe would have worked without outcome tracking",
               f"Replaying only what the bot recorded, with the never-reset peak over its own balance readings and "
               f"the unresolved-outcome halt (max_unresolved_outcomes={g['max_unresolved_outcomes']}), entries would "
               f"have been blocked from {m['failsafe_first_block_at']} ({', '.join(m['failsafe_first_block_codes'])}); "
               f"{plural(m['failsafe_trades_blocked'], 'trade')} would not have been placed.")
    if m.get("max_position_pct_of_equity") is not None:
        b.fact("Position size against true equity",
               f"Stakes were up to {m['max_position_pct_of_equity']}% of true equity (mean "
               f"{m['mean_position_pct_of_equity']}%); {plural(m['positions_over_10pct'], 'position')} exceeded "
               f"{m['oversize_threshold_pct']}% of it.",
               contributing=bool(m["positions_over_10pct"]))
    if m.get("top_direction_share") is not None and ev.get("by_direction") and ev["bundle_kind"] == "polymarket":
        dirs = ", ".join(f"{k}: {v}" for k, v in ev["by_direction"].items())
        b.fact("Concentration", f"By direction {dirs}; asset HHI {m['hhi']}; "
               f"{plural(m['windows_with_same_direction_across_assets'], 'window')} held the same direction on several "
               "(correlated) assets.", contributing=(m["windows_with_same_direction_across_assets"] or 0) > 0)
    for r in ev.get("es_blocked") or []:
        b.fact("An order the guards would have blocked",
               f"{r['kind']} {r['action']} {r['qty']} {r['symbol']} at {r['ts']}: {', '.join(r['guard_codes'])} "
               f"(believed position {r['believed_position']}, live {r['live_position']}).", [r["ref"], r["fill_ref"]])
    for u in ev.get("unprotected") or []:
        b.fact("Unprotected position", f"order {u['order_id']} open {u['minutes']} minutes without a stop, PnL "
               f"{money(u['pnl'], ccy)}.", [u["ref"]])
    # answers
    if hm or pr:
        why = []
        if pr:
            why.append("the peak was reset on restart, so the drawdown was measured from the current balance")
        if hl:
            why.append("positions were carried at cost, so resolved losses never reached the balance")
        if ls:
            why.append("no outcome was recorded, so no loss was ever counted")
        b.answer("Why didn't the drawdown protection halt the bot?",
                 f"With a never-reset peak the {lim}% halt fires at {m['halt_should_have_fired_at']}; it did not "
                 f"because " + "; ".join(why or ["the bot's drawdown input never showed the losses"]) + ".", "fact")
    else:
        b.answer("Why didn't the drawdown protection halt the bot?",
                 "No missed halt was found in the replay." if m.get("starting_balance") is not None
                 else "Not measurable: no account balance in the bundle.", "fact" if m.get("starting_balance")
                 is not None else "unknown")
    if m.get("max_position_pct_of_equity") is not None:
        b.answer("Were position sizes appropriate given balance?",
                 f"No: up to {m['max_position_pct_of_equity']}% of true equity per trade; with the observed streak of "
                 f"{plural(m['max_loss_streak'], 'loss', 'losses')}, at most {m.get('max_position_pct_for_streak')}% per trade keeps the "
                 f"drawdown within {lim}%." if (m["positions_over_10pct"] or 0) > 0 else
                 f"Sizes stayed at or below {m['max_position_pct_of_equity']}% of true equity.", "fact")
    if ev["bundle_kind"] == "polymarket":
        b.answer("Did the bot violate any correlation or exposure limits?",
                 f"{plural(m.get('windows_with_same_direction_across_assets') or 0, 'window')} held same-direction bets on several "
                 "correlated crypto assets; the bundle states no correlation limit, so none can be shown violated.",
                 "hypothesis")
    elif m.get("orders_replayed"):
        b.answer("Did the bot violate any correlation or exposure limits?",
                 f"{m['orders_guards_would_block']} of {m['orders_replayed']} orders break a guard rule (see the replay "
                 f"table); {plural(m.get('unprotected_positions', 0), 'position')} "
                 f"{'was' if m.get('unprotected_positions', 0) == 1 else 'were'} open without protection.", "fact")
    if hm or pr or ls:
        b.answer("Should risk thresholds be tightened?",
                 f"The {lim}% limit was not the problem (it never saw true equity); add the streak halt "
                 f"(max_consecutive_losses={g['max_consecutive_losses']}) and the unresolved-outcome halt "
                 f"(max_unresolved_outcomes={g['max_unresolved_outcomes']}), and cap size per trade.", "hypothesis")
    elif ev.get("es_blocked"):
        b.answer("Should risk thresholds be tightened?",
                 "No threshold failed: the loss came from an order the guards block by rule (reduce-only, WAIT gate, "
                 f"entry protection); keep the worst-case cap max_loss_per_trade={money(g['max_loss_per_trade'], ccy)}.",
                 "hypothesis")
    halt_at = m.get("halt_should_have_fired_at")
    summary = (f"Max drawdown {num(m.get('max_drawdown_pct'))}% against a {lim}% limit"
               + (f"; the halt should have fired at {halt_at}" if halt_at else "")
               + (f" and {plural(m['trades_after_halt'], 'trade')} followed it" if m.get("trades_after_halt") else "") + "."
               if m.get("starting_balance") is not None else
               f"No account balance in the bundle; PnL drawdown {money(m.get('max_drawdown_usd'), ccy)} from fills; "
               f"{m.get('orders_guards_would_block', 0)} of {m.get('orders_replayed', 0)} orders would have been "
               "blocked by the guards.")
    b.conclusions.append(summary)
    if hm:
        b.recommend("DRAWDOWN_HALT_MISSED", limit=lim, max_unresolved=g["max_unresolved_outcomes"],
                            failsafe_blocked=m.get("failsafe_trades_blocked"), halt_at=halt_at)
    if pr:
        b.recommend("DRAWDOWN_PEAK_RESET", true_peak=money(m.get("true_peak_balance"), ccy))
    if ls:
        st = (ev["metrics"].get("state_consecutive_losses"))
        b.recommend("LOSS_STREAK_UNTRACKED", true_streak=m.get("final_loss_streak"),
                            state_streak=st if st is not None else "a lower number", max_losses=g["max_consecutive_losses"],
                            max_streak=m.get("max_loss_streak"))
    if hl:
        b.recommend("UNREALIZED_LOSSES_HIDDEN", hidden_max=money(m.get("hidden_loss_max_usd"), ccy))
    if (m.get("positions_over_10pct") or 0) > 0 and m.get("max_position_pct_for_streak"):
        b.recs.append(Recommendation(
            id="SIZING-1", title=f"Cap the stake at {m['max_position_pct_for_streak']}% of true equity", team=TEAM,
            change_type=ChangeType.risk_parameter, priority="P1",
            detail=(f"Size each trade from true equity (never a stale or cost-carried balance); "
                    f"{m['max_position_pct_for_streak']}% per trade survives a {m['max_loss_streak']}-loss streak "
                    f"within the {lim}% limit."),
            expected_impact="a losing streak like this one stays inside the drawdown limit"))
    return finish(b.build(summary), int(ev["overview"].get("trades") or 0), "trades")


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy, plots)
