"""Econophysics team (seed 001: Econophysicist, Market Microstructure Analyst, Statistical Physicist).

Offline policy: the incident window is the first to the last trade plus a declared margin; it is
compared with a baseline window of the same length right before it. A regime change is a fact only
when the tools measure it (volatility ratio >= 1.5 or <= 1/1.5 and a Brown-Forsythe test at 5%);
whether it invalidated the strategy is a hypothesis. Trend labels come from the robust variance ratio
only. Anomalies inside the incident window are contributing factors; every replaced bad print is
listed. A regime filter is proposed (strategy change: user approval + backtest) only when a regime
change was measured.

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
from agents.review.strength import finish, last
from tools.review import anomalies as anom
from tools.review import econophysics as econ
from tools.review import plots as incident_plots
from tools.review import stats
from tools.review.markdown import plural
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
    times = [t.entry_time.timestamp() for t in pos if t.entry_time is not None]
    times += [t.exit_time.timestamp() for t in pos if t.exit_time is not None]
    window = econ.incident_window(times, econ.INCIDENT_MARGIN_S)
    ppy = 252 * 23 * 3600 if fx.kind == "es" else None
    per = {a: econ.analyze_series(s, window, periods_per_year=(ppy / s.interval_s) if ppy else None,
                                  peers=anom.peers_of(a, series)) for a, s in series.items()}
    entries = econ.entries_vs_market(pos, series) if fx.kind == "polymarket" and series else None
    return {"per_asset": per, "entries": entries, "window": window, "margin_min": econ.INCIDENT_MARGIN_S / 60,
            "quote_breaks": anom.quote_breaks(series), "from_quotes": bool(series) and not fx.candles}


def _vol(p: dict[str, Any] | None) -> Any:
    return (p or {}).get("volatility", {}).get("cc_annualized_pct")


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    a = ctx.cached("econ", lambda: analyze(ctx))
    ev = ctx.evidence(TEAM)
    nr = ctx.not_run(("market regime", "entry prices against", "candles for"))
    if not a["per_asset"] and not any(n["lacking"] == "candles" for n in nr):
        nr.append(NotRun(analysis="volatility, regime and anomaly analysis", lacking="candles (or quotes in the log)")
                  .model_dump())
    w = a["window"]
    rows, found, replaced = [], [], []
    m: dict[str, Any] = {"assets": len(a["per_asset"]), "candles_from_log_quotes": a["from_quotes"],
                         "incident_margin_min": a["margin_min"]}
    for asset, r in a["per_asset"].items():
        i, b = r.get("incident"), r.get("baseline")
        vr = r["variance_ratio"] or {}
        vt = r.get("vol_test") or {}
        rows.append({"asset": asset, "bars": r["bars"], "cc_ann_pct": r["volatility"]["cc_annualized_pct"],
                     "parkinson_ann_pct": r["volatility"]["parkinson_annualized_pct"],
                     "garman_klass_ann_pct": r["volatility"]["garman_klass_annualized_pct"], "hurst": r["hurst"],
                     "variance_ratio": vr.get("vr"), "vr_z_robust": vr.get("z_robust"), "vr_p_robust": vr.get("p_robust"),
                     "vr_z_homoskedastic": vr.get("z_homoskedastic"), "returns": vr.get("n", max(r["bars"] - 1, 0)),
                     "trend": r["trend"], "trend_strength": r["trend_strength"],
                     "baseline_bars": b["bars"] if b else 0, "incident_bars": i["bars"] if i else 0,
                     "baseline_vol_ann_pct": _vol(b), "incident_vol_ann_pct": _vol(i),
                     "vol_ratio": r.get("vol_ratio"), "vol_test_p": vt.get("pvalue"),
                     "vol_test_n": vt.get("n", 0), "vol_test_strength": vt.get("strength", "inconclusive"),
                     "regime_change": r.get("regime_change", False),
                     "incident_return_pct": i["return_pct"] if i else None,
                     "incident_ljung_box_p": ((i or {}).get("ljung_box") or {}).get("pvalue"),
                     "incident_returns_stationary": ((i or {}).get("stationarity") or {}).get("stationary"),
                     "anomalies": len(r["anomalies"]), "outliers_replaced": r["outliers_replaced"]})
        for x in r["anomalies"]:
            found.append({"asset": asset, **{k: v for k, v in x.items() if k != "ts"},
                          "during_incident": bool(w and w[0] <= x["ts"] < w[1])})
        replaced += [{"asset": asset, **x} for x in r["replaced"]]
    for q in a["quote_breaks"]:
        found.append({**{k: v for k, v in q.items() if k != "ts"}, "during_incident": bool(w and w[0] <= q["ts"] < w[1])})
    found.sort(key=lambda x: (not x["during_incident"], x["kind"] == "volatility_shift", x["at"]))
    m.update(assets_with_regime_change=sum(1 for r in rows if r["regime_change"]), anomalies=len(found),
             anomalies_during_incident=sum(1 for x in found if x["during_incident"]), bars_replaced=len(replaced),
             quote_breaks=len(a["quote_breaks"]))
    ratios = [r["vol_ratio"] for r in rows if r["vol_ratio"]]
    m["max_vol_ratio"] = max(ratios) if ratios else None
    if a["entries"]:
        en = a["entries"]
        m.update({f"entries_{k}": v for k, v in en.items() if k not in ("rows", "win_rate_difference")})
        d = en["win_rate_difference"]
        m.update(entries_diff_ci_low=d["ci_low"], entries_diff_ci_high=d["ci_high"], entries_diff_n=d["n"],
                 entries_diff_strength=d["strength"])
    ev.update(metrics=m, detections=[], not_run=nr, assets=rows, anomalies=trim(found, 20), replaced=replaced,
              quote_breaks=a["quote_breaks"],
              incident_window=[datetime.fromtimestamp(w[0], UTC), datetime.fromtimestamp(w[1], UTC)] if w else None,
              baseline_window=[datetime.fromtimestamp(2 * w[0] - w[1], UTC), datetime.fromtimestamp(w[0], UTC)]
              if w else None,
              tables={"Volatility and regime by asset (incident vs baseline)": rows, "Anomalies": trim(found, 20),
                      "Bars replaced as bad prints": replaced,
                      "Entries against the market": trim((a["entries"] or {}).get("rows"), 40)})
    return ev, a


def plots(ctx: ReviewContext, full: dict[str, Any]) -> list[str]:
    if not full["per_asset"]:
        return []
    per = {asset: {"baseline": _vol(r.get("baseline")), "incident": _vol(r.get("incident")),
                   "baseline_bars": (r.get("baseline") or {}).get("bars", 0),
                   "incident_bars": (r.get("incident") or {}).get("bars", 0)}
           for asset, r in full["per_asset"].items()}
    w = full["window"]
    sub = (f"incident {anom.iso(w[0])} to {anom.iso(w[1])} vs the same length before" if w else "")
    path = incident_plots.volatility_by_asset(per, Path(ctx.out) / "plots" / "volatility_by_asset.png", subtitle=sub)
    return [str(path.relative_to(ctx.out))]


def _windows_text(ev: Mapping[str, Any]) -> str:
    w, b = ev.get("incident_window"), ev.get("baseline_window")
    if not w or not b:
        return "no trades, so no incident window"
    return (f"incident window {w[0]} to {w[1]} (first to last trade, {ev['metrics']['incident_margin_min']:g} min "
            f"margin each side) vs baseline {b[0]} to {b[1]}")


def _claim(n: int, strength: str, test: str) -> dict[str, Any]:
    return {"n": n, "strength": strength, "test": test}


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    rows = ev.get("assets") or []
    if not rows:
        summary = "No market data in the bundle: volatility, regime and anomaly analyses could not run."
        b.answer("Were market conditions unsuitable for the strategy?", "Unknown: no candles.", "unknown")
        return finish(b.build(summary), 0, "bars")
    changed = [r for r in rows if r["regime_change"]]
    windows = _windows_text(ev)
    for r in rows:
        b.fact(f"{r['asset']}: volatility and memory",
               f"close-to-close {r['cc_ann_pct']}% annualized (Parkinson {r['parkinson_ann_pct']}%, Garman-Klass "
               f"{r['garman_klass_ann_pct']}%) over {r['bars']} bars; robust variance ratio {r['variance_ratio']} "
               f"(z* {r['vr_z_robust']}, p {r['vr_p_robust']}) -> {r['trend'].replace('_', ' ')}; Hurst {r['hurst']}.")
        last(b, _claim(r["returns"], r["trend_strength"], "Lo-MacKinlay VR(4), heteroskedasticity-robust z*"))
        if r["incident_bars"] and r["baseline_bars"]:
            b.fact(f"{r['asset']}: incident vs baseline",
                   f"{windows}: volatility {r['incident_vol_ann_pct']}% vs {r['baseline_vol_ann_pct']}% annualized "
                   f"(ratio {r['vol_ratio']}, Brown-Forsythe p {r['vol_test_p']}); return in the incident window "
                   f"{r['incident_return_pct']}%"
                   + {True: "; incident returns stationary (ADF and KPSS agree)",
                      False: "; incident returns not shown stationary (ADF and KPSS disagree or reject)"}
                   .get(r["incident_returns_stationary"], "") + ".", contributing=bool(r["regime_change"]))
            last(b, _claim(r["vol_test_n"], r["vol_test_strength"], "Brown-Forsythe test of equal variance"))
    if changed:
        names = ", ".join(r["asset"] for r in changed)
        b.fact("Volatility regime change at the incident",
               f"{len(changed)} of {len(rows)} assets were significantly more (or less) volatile in the incident window "
               f"than in the baseline ({names}); the largest ratio was {m['max_vol_ratio']}.", contributing=True)
        last(b, _claim(min(r["vol_test_n"] for r in changed),
                       "confirmed" if all(r["vol_test_strength"] == "confirmed" for r in changed) else "likely",
                       "Brown-Forsythe test per asset"))
        b.hypothesis("The strategy met a regime it was not built for",
                     "A model fitted in calmer conditions is unlikely to hold in a faster market; this is consistent "
                     "with the losses but not proven by them.")
    for x in (ev.get("anomalies") or [])[:8]:
        where = ("" if not ev.get("incident_window") else
                 " (inside the incident window)" if x["during_incident"] else " (outside the incident window)")
        b.fact(f"{x.get('asset', '')} {x['kind'].replace('_', ' ')}", f"{x['detail']}; starts {x['at']}{where}.",
               contributing=bool(x["during_incident"]))
        last(b, _claim(int(x.get("n") or 1), "confirmed" if x["kind"] != "volatility_shift" else
                       stats.label(x.get("pvalue"), int(x.get("n") or 0)),
                       {"volatility_shift": "Brown-Forsythe test", "quote_break": "close vs the USD pair, every bar"}
                       .get(x["kind"], "read from the bars")))
    for x in (ev.get("replaced") or [])[:10]:
        b.fact(f"{x['asset']} bad print replaced", f"{x['detail']} at {x['at']}: {x['field']} {x['value']:g} "
               f"replaced by {x['replacement']:g} before the statistics.")
        last(b, _claim(1, "confirmed", "contradicted by the next bars or by the other venues"))
    if m.get("entries_trades"):
        b.fact("Entries against the market",
               f"{m['entries_with_move']} of {m['entries_trades']} entries bought the side the underlying was already "
               f"moving towards (win rate {m['entries_win_rate_with_move']}), {m['entries_against_move']} bet on a "
               f"reversal (win rate {m['entries_win_rate_against_move']}); 95% CI of the difference "
               f"{m['entries_diff_ci_low']} to {m['entries_diff_ci_high']}; mean entry price "
               f"{m['entries_mean_entry_price']}.")
        last(b, _claim(m["entries_diff_n"], m["entries_diff_strength"], "bootstrap 95% CI of the win-rate difference"))
    tested = [r for r in rows if r["incident_bars"] and r["baseline_bars"] and r["vol_test_n"]]
    n_tested = min((r["vol_test_n"] for r in tested), default=0)
    calm = {"n": n_tested, "strength": "likely" if n_tested >= 200 else "inconclusive",
            "test": "Brown-Forsythe test per asset, not rejected"}
    if changed:
        b.answer("Were market conditions unsuitable for the strategy?",
                 f"Conditions changed: {len(changed)} of {len(rows)} assets shifted volatility regime (max ratio "
                 f"{m['max_vol_ratio']}). Whether that made them unsuitable is a hypothesis the ML team's calibration "
                 "test supports or refutes.", "hypothesis")
        b.answer("Did a regime change occur that invalidated the model?",
                 "A regime change occurred (measured); that it invalidated the model is a hypothesis.", "hypothesis")
    elif tested:
        for q in ("Were market conditions unsuitable for the strategy?",
                  "Did a regime change occur that invalidated the model?"):
            b.answer(q, "No significant volatility change between the baseline and the incident window.", "fact")
            last(b, calm, on="answer")
    else:
        for q in ("Were market conditions unsuitable for the strategy?",
                  "Did a regime change occur that invalidated the model?"):
            b.answer(q, f"Not measurable: the candles do not cover both windows ({windows}).", "unknown")
    if m.get("entries_trades"):
        b.answer("Were entry prices rational given market conditions?",
                 f"Mean entry price {m['entries_mean_entry_price']} is the win rate the bot needed to break even; "
                 f"entries with the move won at {m['entries_win_rate_with_move']}, against it at "
                 f"{m['entries_win_rate_against_move']}"
                 + (": the difference is within noise." if m["entries_diff_strength"] == "inconclusive" else "."),
                 "fact")
        last(b, _claim(m["entries_diff_n"], m["entries_diff_strength"], "bootstrap 95% CI"), on="answer")
    b.answer("Should the bot have halted due to market conditions?",
             "A volatility-regime filter would have paused entries at the regime change; the decisive failure was "
             "nonetheless the risk controls (see the risk team)." if changed else
             "Market conditions alone do not call for a halt here.", "hypothesis")
    summary = (f"{plural(len(rows), 'asset')} analysed, {windows}; {len(changed)} changed volatility regime"
               + (f" (max ratio {m['max_vol_ratio']})" if m["max_vol_ratio"] is not None else "")
               + f"; {plural(m['anomalies'], 'anomaly', 'anomalies')}, {m['anomalies_during_incident']} inside the "
               f"incident window; {plural(m['bars_replaced'], 'bad print')} replaced.")
    b.conclusions.append(summary)
    if changed:
        b.recs.append(Recommendation(
            id="REGIME-1", title="Regime filter: pause entries when volatility regime shifts", team=TEAM,
            change_type=ChangeType.strategy, priority="P2",
            detail=(f"Pause new entries while short-window realized volatility exceeds the reference period's by the "
                    f"measured factor (here up to {m['max_vol_ratio']}); backtest on this bundle's candles."),
            expected_impact="fewer entries in regimes the model was not fitted on"))
    return finish(b.build(summary), sum(r["bars"] for r in rows), "bars")


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy, plots)
