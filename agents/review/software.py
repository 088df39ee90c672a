"""Software Engineering team (seed 001: Software Architect, Code Reviewer, QA Engineer).

Offline policy: a swallowed exception, a state field that contradicts the reconstruction, a telemetry
gap and (ES) each unsafe code path found by the guard replay are facts with line references; the cause
of an error signature is a hypothesis unless the signature names it. Every fix here is a code bug fix
(no approval needed, seed 001), except turning WAIT into a block, which is a risk parameter.

Failure contract: tool failures are handled by ``base.run_team``; missing inputs are listed as
"could not run".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.review.base import ReportBuilder, ReviewContext, run_team, trim
from agents.review.strength import finish
from tools.review import risk as risk_review
from tools.review import software as software_review
from tools.review.markdown import currency, money
from tools.review.report import TeamReport

TEAM = "software"
PROMPT = """You are the Software Architect of an incident review. From the evidence only (error signatures,
swallowed exceptions, state-file contradictions, telemetry gaps, guard replays of the bot's orders), answer:
1. Is there a bug preventing outcome recording? 2. Is the auto_resolve service functioning correctly?
3. Are there any silent failures in error handling? 4. Why is state tracking inconsistent? Label facts and
hypotheses; never invent a number."""


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    fx = ctx.fx
    risk = ctx.cached("risk", lambda: risk_review.analyze(fx, ctx.guards))
    a = ctx.cached("software", lambda: software_review.analyze(fx, risk))
    ev = ctx.evidence(TEAM)
    errs = [{k: v for k, v in e.items() if k != "trade_ids"} for e in a["errors"]]
    tables: dict[str, Any] = {"Error signatures": trim([{k: e[k] for k in ("source", "signature", "count", "swallowed",
                                                                          "tracebacks", "first", "last", "trades_hit")}
                                                        for e in errs], 10),
                              "State file vs reconstruction": a["state_contradictions"]}
    if "es_replay" in risk:
        tables["Exit path and guards"] = [{k: r[k] for k in ("ts", "kind", "action", "believed_position",
                                                             "live_position", "stop", "target", "advisory",
                                                             "advisory_ignored", "position_after", "guard_codes",
                                                             "trade_cycle_id", "ref")} for r in risk["es_replay"]]
    ev.update(metrics=a["metrics"], detections=[d.model_dump() for d in a["detections"]],
              not_run=ctx.not_run(("state-file consistency", "resolver error",
                                                            "structured-event")),
              errors=trim(errs, 10), state=fx.state, state_contradictions=a["state_contradictions"],
              resolver_last=(resolver_log.last if (resolver_log := fx.logs.get("auto_resolve.log")) else None),
              tables=tables)
    return ev, a


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    det = b.detections
    sw = det.get("SWALLOWED_EXCEPTIONS")
    if sw:
        b.fact("Exceptions swallowed", sw["summary"], sw["evidence"])
    err = (ev.get("errors") or [None])[0]
    if err and err.get("likely_cause"):
        b.hypothesis("Why the writes fail", f"'{err['signature']}' points to: {err['likely_cause']}.", err["refs"][:1],
                     contributing=False)
    for c in ev.get("state_contradictions") or []:
        b.fact(f"State file: {c['field']}", f"state says {c['state']}, reconstruction says {c['reconstructed']}: "
               f"{c['why']}.", [c["ref"]])
    for code in ("EXIT_OPENED_POSITION", "ADVISORY_WAIT_IGNORED", "MISSING_PROTECTION", "STALE_BROKER_PNL",
                 "TELEMETRY_GAP"):
        d = det.get(code)
        if d:
            b.fact(code.replace("_", " ").capitalize(), d["summary"], d["evidence"])
    if ev["bundle_kind"] == "polymarket":
        b.answer("Is there a bug preventing outcome recording?",
                 (f"Yes: every outcome write failed with '{err['signature']}' ({err['count']} times) and the "
                  "resolver carried on.") if err else "No recording error is logged in the bundle.",
                 "fact" if err else "unknown")
        b.answer("Is auto_resolve service functioning correctly?",
                 (f"No: it finds winners but cannot write them; its log ends at {ev['resolver_last']}.")
                 if err and ev.get("resolver_last") else ("Its log is not in the bundle." if not ev.get("resolver_last")
                                                          else "Its log shows no write failure."),
                 "fact" if ev.get("resolver_last") else "unknown")
    b.answer("Are there any silent failures in error handling?",
             f"Yes: {m['swallowed_occurrences']} exception(s) logged as ignored." if sw else
             "No exception was logged as ignored or below ERROR.", "fact")
    sc = ev.get("state_contradictions") or []
    b.answer("Why is state tracking inconsistent?",
             ("; ".join(f"{c['field']}: {c['why']}" for c in sc) + ".") if sc else
             ("No state file in the bundle." if not ev.get("state") else "The state file agrees with the "
              "reconstruction."), "fact" if sc or ev.get("state") else "unknown")
    codes = [c for c in det]
    summary = (f"{len(codes)} code-level root cause(s) detected ({', '.join(codes) or 'none'}); "
               f"{m.get('state_contradictions', 0)} state-file field(s) contradict the reconstruction.")
    b.conclusions.append(summary)
    for code in codes:
        ccy = currency(ev["bundle_kind"])
        vals = {"order_id": m.get("exit_opened_order_id"),
                "max_loss": money(ev["guard_config"]["max_loss_per_trade"], ccy),
                "minutes": m.get("unprotected_minutes"), "broker": money(m.get("broker_reported_pnl"), ccy),
                "true": money(m.get("fills_pnl"), ccy)}
        b.recommend(code, **vals)
    return finish(b.build(summary), int(ev["overview"].get("trades") or 0), "trades")


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy)
