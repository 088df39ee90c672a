"""Econophysics team (seed 001: Econophysicist, Market Microstructure Analyst, Statistical Physicist).

Offline policy: a regime change is a fact when the tools measure it (incident volatility >= 1.5x the
earlier period's, or a trend label flip); whether it invalidated the strategy is a hypothesis. Anomalies
inside the trading span are listed as contributing factors. A regime filter is proposed (strategy
change: user approval + backtest) only when a regime change was measured.

Failure contract: tool failures are handled by ``base.run_team``; no candles and no quotes give a
"could not run" entry, not an error.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents.review.base import ReportBuilder, ReviewContext, run_team, trim
from tools.review import econophysics as econ
from tools.review import plots as incident_plots
from tools.review.report import ChangeType, NotRun, Recommendation, TeamReport

TEAM = "econophysics"
PROMPT = """You are the Econophysicist of an incident review. From the evidence only (volatility estimators,
Hurst exponents, variance ratios, regime labels, anomalies, entries against the market), answer:
1. Were market conditions unsuitable for the strategy? 2. Did a regime change occur that invalidated
the model? 3. Were entry prices rational given market conditions? 4. Should the bot have halted due
to market conditions? Label facts and hypotheses; never invent a number."""


def _series(ctx: ReviewContext) -> dict[str, econ.Series]:
    fx = ctx.fx
    out = {a: c for a, c in fx.candles.items() if len(c) >= 40}
    if not out and fx.es is not None and len(fx.es.marks) > 100:
        # no candle file: 1-minute bars from the log's own quotes
        ep = np.array([m[0] for m in fx.es.marks])
        px = np.array([m[1] for m in fx.es.marks])
        mins = (ep // 60).astype(np.int64)
        starts = np.r_[0, np.nonzero(np.diff(mins))[0] + 1]
        ends = np.r_[starts[1:], len(px)]
        o = px[starts]
        c = px[ends - 1]
        h = np.array([px[s:e].max() for s, e in zip(starts, ends)])
        lo = np.array([px[s:e].min() for s, e in zip(starts, ends)])
        sym = next((t.asset for t in fx.trades), "ES")
        out[sym] = econ.Series(sym, mins[starts] * 60, o, h, lo, c, 60)
    return out


def analyze(ctx: ReviewContext) -> dict[str, Any]:
    fx = ctx.fx
    series = _series(ctx)
    pos = [t for t in fx.positions if t.entry_time]
    entry_times = [t.entry_time for t in pos if t.entry_time is not None]
    split = (min(entry_times).timestamp() - 1800) if entry_times else None
    ppy = 252 * 23 * 3600 if fx.kind == "es" else None
    per = {}
    for a, s in series.items():
        per[a] = econ.analyze_series(s, split, periods_per_year=(ppy / s.interval_s) if ppy else None)
    entries = econ.entries_vs_market(pos, series) if fx.kind == "polymarket" and series else None
    return {"per_asset": per, "entries": entries, "split_at": split, "from_quotes": bool(series) and not fx.candles}


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    fx = ctx.fx
    a = ctx.cached("econ", lambda: analyze(ctx))
    ev = ctx.evidence(TEAM)
    nr = ctx.not_run(("market regime", "entry prices against", "candles for"))
    if not a["per_asset"] and not any(n["lacking"] == "candles" for n in nr):
        nr.append(NotRun(analysis="volatility, regime and anomaly analysis", lacking="candles (or quotes in the log)")
                  .model_dump())
    first, last = fx.span
    rows, anomalies, changes = [], [], []
    m: dict[str, Any] = {"assets": len(a["per_asset"]), "candles_from_log_quotes": a["from_quotes"]}
    span = [t.entry_time for t in fx.positions if t.entry_time]
    t0 = min(span).timestamp() - 1800 if span else None
    t1 = max(span).timestamp() + 1800 if span else None
    for asset, r in a["per_asset"].items():
        p = r.get("periods") or {}
        e, i = p.get("earlier"), p.get("incident")
        rows.append({"asset": asset, "bars": r["bars"], "cc_ann_pct": r["volatility"]["cc_annualized_pct"],
                     "parkinson_ann_pct": r["volatility"]["parkinson_annualized_pct"],
                     "garman_klass_ann_pct": r["volatility"]["garman_klass_annualized_pct"],
                     "hurst": r["hurst"], "variance_ratio": r["variance_ratio"], "trend": r["trend"],
                     "earlier_trend": e["trend"] if e else None, "incident_trend": i["trend"] if i else None,
                     "earlier_vol_ann_pct": e["volatility"]["cc_annualized_pct"] if e else None,
                     "incident_vol_ann_pct": i["volatility"]["cc_annualized_pct"] if i else None,
                     "vol_ratio": r.get("vol_ratio_incident_vs_earlier"), "regime_change": r.get("regime_change"),
                     "incident_return_pct": i["return_pct"] if i else None,
                     "anomalies": len(r["anomalies"]), "outliers_replaced": r["outliers_replaced"]})
        for x in r["anomalies"]:
            at = datetime.fromisoformat(x["at"])
            anomalies.append({"asset": asset, **x, "at": at,
                              "during_trading": bool(t0 and t1 is not None and t0 <= at.timestamp() <= t1)})
        changes += [{"asset": asset, **c, "at": datetime.fromisoformat(c["at"])} for c in r["regime_changes"]]
    m["assets_with_regime_change"] = sum(1 for r in rows if r["regime_change"])
    m["anomalies"] = len(anomalies)
    m["anomalies_during_trading"] = sum(1 for x in anomalies if x["during_trading"])
    ratios = [r["vol_ratio"] for r in rows if r["vol_ratio"]]
    m["max_vol_ratio"] = max(ratios) if ratios else None
    if a["entries"]:
        en = a["entries"]
        m.update({f"entries_{k}": v for k, v in en.items() if k != "rows"})
    ev.update(metrics=m, detections=[], not_run=nr, assets=rows, anomalies=trim(anomalies, 20),
              regime_changes=trim(changes, 20), split_at=datetime.fromtimestamp(a["split_at"], UTC)
              if a["split_at"] else None,
              tables={"Volatility and regime by asset": rows, "Anomalies": trim(anomalies, 20),
                      "Entries against the market": trim((a["entries"] or {}).get("rows"), 40)})
    return ev, a


def plots(ctx: ReviewContext, full: dict[str, Any]) -> list[str]:
    if not full["per_asset"]:
        return []
    per = {}
    for asset, r in full["per_asset"].items():
        p = r.get("periods") or {}
        per[asset] = {"earlier": (p.get("earlier") or {}).get("volatility", {}).get("cc_annualized_pct"),
                      "incident": (p.get("incident") or {}).get("volatility", {}).get("cc_annualized_pct"),
                      "overall": r["volatility"]["cc_annualized_pct"]}
    path = incident_plots.volatility_by_asset(per, Path(ctx.out) / "plots" / "volatility_by_asset.png")
    return [str(path.relative_to(ctx.out))]


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    rows = ev.get("assets") or []
    if not rows:
        summary = "No market data in the bundle: volatility, regime and anomaly analyses could not run."
        b.answer("Were market conditions unsuitable for the strategy?", "Unknown: no candles.", "unknown")
        return b.build(summary)
    changed = [r for r in rows if r["regime_change"]]
    for r in rows:
        b.fact(f"{r['asset']}: volatility and memory",
               f"close-to-close {r['cc_ann_pct']}% annualized (Parkinson {r['parkinson_ann_pct']}%, Garman-Klass "
               f"{r['garman_klass_ann_pct']}%); Hurst {r['hurst']}, variance ratio {r['variance_ratio']} -> "
               f"{r['trend']}." + (f" Earlier period {r['earlier_trend']} at {r['earlier_vol_ann_pct']}%, incident "
                                   f"{r['incident_trend']} at {r['incident_vol_ann_pct']}% (ratio {r['vol_ratio']})."
                                   if r["earlier_trend"] else ""))
    if changed:
        names = ", ".join(r["asset"] for r in changed)
        b.fact("Regime change before the incident",
               f"{len(changed)} of {len(rows)} assets changed regime between the earlier period and the trading "
               f"window ({names}); the largest volatility ratio was {m['max_vol_ratio']}.", contributing=True)
        b.hypothesis("The strategy met a regime it was not built for",
                     "A model fitted on the calmer, mean-reverting earlier period is unlikely to hold in a faster, "
                     "trending market; this is consistent with the losses but not proven by them.")
    for x in (ev.get("anomalies") or [])[:6]:
        b.fact(f"{x['asset']} {x['kind'].replace('_', ' ')}", f"{x['detail']} at {x['at']}"
               + (" (during trading)" if x["during_trading"] else " (outside the trading window)"),
               contributing=bool(x["during_trading"]))
    if m.get("entries_trades"):
        b.fact("Entries against the market",
               f"{m['entries_with_move']} of {m['entries_trades']} entries bought the side the underlying was already "
               f"moving towards (win rate {m['entries_win_rate_with_move']}), {m['entries_against_move']} bet on a "
               f"reversal (win rate {m['entries_win_rate_against_move']}); mean entry price "
               f"{m['entries_mean_entry_price']}.")
    b.answer("Were market conditions unsuitable for the strategy?",
             (f"Conditions changed: {len(changed)} of {len(rows)} assets switched regime (max volatility ratio "
              f"{m['max_vol_ratio']}). Whether that made them unsuitable is a hypothesis the ML team's calibration "
              "test supports or refutes.") if changed else "No regime change was measured between the earlier "
             "period and the trading window.", "hypothesis" if changed else "fact")
    b.answer("Did a regime change occur that invalidated the model?",
             "A regime change occurred (fact); that it invalidated the model is a hypothesis." if changed
             else "No measured regime change.", "hypothesis" if changed else "fact")
    if m.get("entries_trades"):
        b.answer("Were entry prices rational given market conditions?",
                 f"Mean entry price {m['entries_mean_entry_price']} implies the bot needed that win rate to break even; "
                 f"entries with the move won at {m['entries_win_rate_with_move']}, against it at "
                 f"{m['entries_win_rate_against_move']}.", "fact")
    b.answer("Should the bot have halted due to market conditions?",
             "A volatility-regime filter would have paused entries at the regime change; the decisive failure was "
             "nonetheless the risk controls (see the risk team)." if changed else
             "Market conditions alone do not call for a halt here.", "hypothesis")
    summary = (f"{len(rows)} asset(s) analysed; {len(changed)} changed regime before/at the incident (max volatility "
               f"ratio {m['max_vol_ratio']}); {m['anomalies']} anomaly(ies), {m['anomalies_during_trading']} during "
               "trading.")
    b.conclusions.append(summary)
    if changed:
        b.recs.append(Recommendation(
            id="REGIME-1", title="Regime filter: pause entries when volatility regime shifts", team=TEAM,
            change_type=ChangeType.strategy, priority="P2",
            detail=(f"Pause new entries while short-window realized volatility exceeds the reference period's by the "
                    f"measured factor (here up to {m['max_vol_ratio']}) or the variance ratio flips; backtest on this "
                    "bundle's candles."),
            expected_impact="fewer entries in regimes the model was not fitted on"))
    return b.build(summary)


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy, plots)
