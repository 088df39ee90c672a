"""ML Strategy team (seed 001: Machine Learning Strategist, Model Validator, Feature Engineer).

Offline policy: the model is called miscalibrated only when the tool says so (>= 10 resolved trades,
Brier worse than the base rate, ECE > 0.1 and a binomial test p < 0.05); drift is a fact when PSI >= 0.25
or KS rejects at 1% with a statistic > 0.1; "overfitting" is only ever a hypothesis here (no training
data in a bundle). Recommends recalibration/retraining as a model change (user approval + A/B test).

Failure contract: tool failures are handled by ``base.run_team``; too few resolved trades or signals
give "could not run" entries, not a verdict.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents.review.base import ReportBuilder, ReviewContext, run_team
from agents.review.strength import finish, last
from tools.review import ml_calibration as cal
from tools.review import plots as incident_plots
from tools.review.markdown import currency, money
from tools.review.report import NotRun, RootCause, RootCauseCode, TeamReport

TEAM = "ml_strategy"
PROMPT = """You are the Machine Learning Strategist of an incident review. From the evidence only (Brier score,
log loss, reliability curve, expected calibration error, base-rate baseline, threshold table, PSI/KS drift),
answer: 1. Is the model broken or performing as designed? 2. Are confidence thresholds set correctly?
3. Has the market changed such that the model is no longer valid? 4. Should we switch model or strategy?
Label facts and hypotheses; never invent a number."""


def analyze(ctx: ReviewContext) -> dict[str, Any]:
    fx = ctx.fx
    res = [t for t in fx.positions if t.won is not None]
    stated = [(t, t.prob if t.prob is not None else t.confidence) for t in res]
    with_p = [t for t, q in stated if q is not None]
    y = [1.0 if t.won else 0.0 for t in with_p]
    p = [float(np.clip(q, 0, 1)) for _, q in stated if q is not None]
    prob_field = "prob" if with_p and all(t.prob is not None for t in with_p) else "confidence"
    report = cal.calibration_report(y, p, pnl=[t.pnl or 0.0 for t in with_p],
                                    prices=[t.price for t in with_p] if fx.kind == "polymarket" else None) if with_p \
        else {"n": 0}
    pos = [t.entry_time for t in fx.positions if t.entry_time is not None]
    split = min(pos).timestamp() - 1800 if pos else None
    drift = []
    if split is not None and len(fx.sig_ts):
        before = fx.sig_ts < split
        feats = {"prob": fx.sig_prob, "confidence": fx.sig_conf}
        ref = {k: v[before] for k, v in feats.items() if np.isfinite(v).any()}
        cur = {k: v[~before] for k, v in feats.items() if np.isfinite(v).any()}
        if ref and all(np.isfinite(v).sum() >= 10 for v in ref.values()):
            drift = cal.drift_report(ref, cur)
    return {"report": report, "drift": drift, "prob_field": prob_field, "split_at": split,
            "n_resolved": len(res), "n_with_prob": len(with_p),
            "ref_signals": int((fx.sig_ts < split).sum()) if split is not None and len(fx.sig_ts) else 0}


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    a = ctx.cached("ml", lambda: analyze(ctx))
    r = a["report"]
    ev = ctx.evidence(TEAM)
    nr: list[NotRun] = []
    dets: list[RootCause] = []
    if r.get("n", 0) < cal.MIN_TRADES:
        nr.append(NotRun(analysis="calibration verdict (Brier, ECE, reliability)",
                         lacking=f"at least {cal.MIN_TRADES} resolved trades with a stated probability "
                                 f"(have {r.get('n', 0)})"))
    if not a["drift"]:
        nr.append(NotRun(analysis="feature drift (PSI, KS)",
                         lacking="model signals in a reference window before the trading period"))
    if r.get("miscalibrated"):
        dets.append(RootCause(
            code=RootCauseCode.MODEL_MISCALIBRATED, teams=[TEAM],
            summary=(f"Over {r['n']} resolved trades the model's stated {a['prob_field']} averaged {r['mean_prob']} "
                     f"but the win rate was {r['win_rate']}; Brier {r['brier']} vs {r['brier_base_rate']} for the base "
                     f"rate (95% CI {r['brier_ci_low']} to {r['brier_ci_high']}), ECE {r['ece']} (binomial "
                     f"p={r['win_rate_vs_stated_pvalue']:.2g}; n={r['n']}, {r['miscalibration_strength']})."),
            evidence=["outcomes.csv", "plots/reliability.png"]))
    metrics = {k: v for k, v in r.items() if not isinstance(v, (list, dict))}
    metrics.update(probability_field=a["prob_field"], resolved_trades=a["n_resolved"],
                   reference_signals=a["ref_signals"],
                   drifted_features=sum(1 for d in a["drift"] if d["drifted"]))
    ev.update(metrics=metrics, detections=[d.model_dump() for d in dets], not_run=[n.model_dump() for n in nr],
              reliability=r.get("reliability", []), thresholds=r.get("thresholds", []), drift=a["drift"],
              split_at=datetime.fromtimestamp(a["split_at"], UTC) if a["split_at"] else None,
              tables={"Reliability (stated probability vs win rate)": r.get("reliability", []),
                      "Confidence thresholds": r.get("thresholds", []), "Drift (reference vs incident)": a["drift"]})
    return ev, a


def plots(ctx: ReviewContext, full: dict[str, Any]) -> list[str]:
    rows = full["report"].get("reliability")
    if not rows:
        return []
    path = incident_plots.reliability(rows, Path(ctx.out) / "plots" / "reliability.png",
                                      title=f"Reliability of the model's stated {full['prob_field']}")
    return [str(path.relative_to(ctx.out))]


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    det = b.detections
    n = m.get("n", 0)
    if not n:
        summary = "No resolved trade carries a stated probability: calibration could not be measured."
        b.answer("Is the model broken or performing as designed?", "Unknown: no probabilities to test.", "unknown")
        return finish(b.build(summary), 0, "resolved trades")
    pf = m["probability_field"]
    b.fact("Stated probability vs outcome",
           f"{n} resolved trades: mean stated {pf} {m['mean_prob']}, win rate {m['win_rate']} (overconfidence "
           f"{m['overconfidence']}); Brier {m['brier']} vs {m['brier_base_rate']} for the base rate and "
           f"{m['brier_coin']} for a coin (Brier 95% CI {m['brier_ci_low']} to {m['brier_ci_high']}; reliability "
           f"{m['brier_reliability']}, resolution {m['brier_resolution']}, uncertainty {m['brier_uncertainty']}); "
           f"win rate 95% CI {m['win_rate_ci_low']} to {m['win_rate_ci_high']}; log loss {m['log_loss']} vs "
           f"{m['log_loss_base_rate']}; ECE {m['ece']}.", ["outcomes.csv"])
    last(b, {"n": n, "strength": m["brier_strength"],
             "test": "Brier vs base rate, bootstrap; Wilson CI of the win rate"})
    if m.get("mean_price") is not None:
        b.fact("Edge: stated vs realized",
               f"Mean price paid {m['mean_price']}: stated edge {m['edge_stated']} per share, realized edge "
               f"{m['edge_realized']}.", contributing=True)
        last(b, {"n": n, "strength": m["win_rate_strength"], "test": "binomial test of the win rate vs the mean stated probability"})
    th = [t for t in (ev.get("thresholds") or []) if t["trades"]]
    beats = None
    if th:
        best = max(th, key=lambda t: (t["win_rate"] or 0.0))
        text = (f"At {pf} >= {best['threshold']} there were {best['trades']} trades with win rate {best['win_rate']}"
                + (f" and PnL {money(best['pnl'], currency(ev['bundle_kind']))}" if best.get("pnl") is not None else "")
                + ".")
        if m.get("mean_price") is not None:
            beats = (best["win_rate"] or 0.0) > m["mean_price"]
            text += (" Even the best threshold stays below the break-even win rate (the mean price paid, "
                     f"{m['mean_price']})." if not beats else
                     f" That threshold beats the break-even win rate (mean price {m['mean_price']}).")
        b.fact("Confidence thresholds", text)
        last(b, {"n": best["trades"], "strength": "confirmed" if best["trades"] >= 20 else "inconclusive",
                 "test": "win rate per threshold (a tally; no test)"})
    drifted = [d for d in ev.get("drift") or [] if d["drifted"]]
    for d in ev.get("drift") or []:
        b.fact(f"Drift of {d['feature']}",
               f"reference mean {d['mean_reference']} (n={d['n_reference']}) vs incident {d['mean_current']} "
               f"(n={d['n_current']}): PSI {d['psi']} ({d['psi_label']}), KS {d['ks_stat']} (p={d['ks_pvalue']}).",
               contributing=d["drifted"])
        last(b, {"n": d["n_reference"] + d["n_current"], "strength": "confirmed" if d["drifted"] else "inconclusive",
                 "test": "two-sample Kolmogorov-Smirnov and PSI"})
    mc = det.get("MODEL_MISCALIBRATED")
    b.answer("Is the model broken or performing as designed?",
             (mc["summary"] + " Its probabilities cannot be trusted as stated.") if mc else
             (f"Not shown to be miscalibrated on {n} trades (Brier {m['brier']} vs base rate {m['brier_base_rate']})."
              if m.get("enough_data") else f"Too few resolved trades ({n}) for a verdict."),
             "fact" if mc or m.get("enough_data") else "unknown")
    last(b, {"n": n, "strength": m.get("miscalibration_strength", "inconclusive") if mc else
             ("likely" if m.get("enough_data") else "inconclusive"), "test": "binomial test, Brier vs base rate"},
         on="answer")
    b.answer("Are confidence thresholds set correctly?",
             "No threshold in the table gives a win rate above the price paid: raising it alone does not restore an "
             "edge." if beats is False else ("A stricter threshold improves the win rate in the table; a backtest "
                                             "must confirm it." if beats else "No price to compare against."),
             "fact" if beats is False else "hypothesis")
    if th:
        last(b, {"n": best["trades"], "strength": "confirmed" if best["trades"] >= 20 else "inconclusive",
                 "test": "win rate at the best threshold (a tally; no test)"}, on="answer")
    b.answer("Has the market changed such that the model is no longer valid?",
             (f"The model's own inputs drifted ({', '.join(d['feature'] for d in drifted)}); with the econophysics "
              "team's regime change this points to a model fitted on a different regime (hypothesis).") if drifted
             else "No drift measured in the model's outputs.", "hypothesis" if drifted else "fact")
    b.answer("Should we switch to a different strategy or model?",
             "Stop trading on the current probabilities; recalibrate or retrain and A/B test before any switch."
             if mc else "Not on this evidence.", "hypothesis")
    b.hypothesis("Overfitting cannot be tested from a bundle",
                 "The bundle holds no training data; overfitting vs regime change cannot be separated here.",
                 contributing=False)
    summary = (f"{n} resolved trades: win rate {m['win_rate']} against a mean stated {pf} of {m['mean_prob']}; "
               f"Brier {m['brier']} (base rate {m['brier_base_rate']}), ECE {m['ece']}"
               + ("; the model is miscalibrated." if mc else "."))
    b.conclusions.append(summary)
    if mc:
        b.recommend("MODEL_MISCALIBRATED", mean_prob=m["mean_prob"], win_rate=m["win_rate"],
                            brier=m["brier"], brier_base=m["brier_base_rate"])
    return finish(b.build(summary), n, "resolved trades")


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy, plots)
