"""System Reliability team (seed 001: DevOps Engineer, Site Reliability Engineer, Monitoring Specialist).

Offline policy: restarts, gaps, error rates and resource peaks are facts from the logs and system
exports; a link between resource pressure and a crash is a hypothesis unless systemd names the kill
(OOM). Monitoring changes are architecture changes (full design review).

Failure contract: tool failures are handled by ``base.run_team``; missing system exports are listed as
"could not run".
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.review.base import ReportBuilder, ReviewContext, run_team, trim
from agents.review.strength import finish
from tools.review import sre as sre_review
from tools.review.report import TeamReport

TEAM = "sre"
PROMPT = """You are the Site Reliability Engineer of an incident review. From the evidence only (starts, stops
and restarts, log gaps, error rates per minute, systemd events, resource metrics, cron jobs), answer:
1. Were there any infrastructure failures? 2. Did services crash or restart during trading? 3. Was the
system under resource pressure? 4. Do we need better monitoring/alerting? Label facts and hypotheses;
never invent a number."""


def gather(ctx: ReviewContext) -> tuple[dict[str, Any], dict[str, Any]]:
    fx = ctx.fx
    a = ctx.cached("sre", lambda: sre_review.analyze(fx))
    ev = ctx.evidence(TEAM)
    res = (a.get("resources") or {}).get("columns", {})
    sd = a.get("systemd") or {}
    cron = a.get("cron") or {}
    ev.update(metrics=a["metrics"], detections=[d.model_dump() for d in a["detections"]],
              not_run=ctx.not_run(("system metrics", "systemd restarts", "cron job check",
                                                            "heartbeat gaps")),
              restarts=a["restarts"], stops=a["stops"], gaps=trim(a["gaps"], 10), coverage=a["coverage"],
              silent_at_end=a.get("silent_at_end", []), resources=res,
              systemd=trim([{k: e[k] for k in ("ts", "kind", "msg", "ref")} for e in sd.get("events", [])], 30),
              cron_jobs=cron.get("jobs", []), cron_errors=trim(cron.get("errors", []), 10),
              tables={"Restarts": a["restarts"], "Log coverage": a["coverage"], "Largest logging gaps": trim(a["gaps"], 10),
                      "Resources": [{"metric": k, **v} for k, v in res.items()], "Cron jobs": cron.get("jobs", []),
                      "systemd events": trim([{k: e[k] for k in ("ts", "kind", "msg")} for e in sd.get("events", [])],
                                             30)})
    return ev, a


def policy(ev: Mapping[str, Any]) -> TeamReport:
    b = ReportBuilder(ev, TEAM)
    m = ev["metrics"]
    det = b.detections
    rs = det.get("SERVICE_RESTARTS")
    restarts = ev.get("restarts") or []
    if restarts:
        b.fact("Restarts", f"{m['restarts']} restart(s), {m['unclean_restarts']} without a clean shutdown: "
               + "; ".join(f"{r['ts']} ({'clean' if r['clean'] else 'unclean'})" for r in restarts[:6]) + ".",
               [r["ref"] for r in restarts[:4]], contributing=True)
    oom = [e for e in ev.get("systemd") or [] if e["kind"] in ("oom_kill", "exited", "failed")]
    for e in oom[:3]:
        b.fact(f"systemd: {e['kind'].replace('_', ' ')}", f"{e['msg']} at {e['ts']}.", [e["ref"]], contributing=True)
    res = ev.get("resources") or {}
    hot = {k: v for k, v in res.items() if v.get("minutes_over_threshold")}
    for k, v in hot.items():
        b.fact(f"Resource pressure: {k}", f"{k} peaked at {v['max']} at {v['max_at']}, {v['minutes_over_threshold']} "
               f"minute(s) at or above {m['pressure_threshold_pct']}.", contributing=True)
    if hot and oom:
        b.hypothesis("Memory exhaustion caused the crash",
                     "The memory peak precedes the OOM kill; a leak in the bot is the likely cause.")
    for g in (ev.get("gaps") or [])[:3]:
        b.fact(f"Logging gap in {g['source']}", f"no record from {g['from']} to {g['to']} ({g['minutes']} minutes).")
    for s in ev.get("silent_at_end") or []:
        b.fact(f"{s['source']} went silent", f"its last record is at {s['last']}, {s['minutes_before_end']} minutes "
               "before the end of the bundle.", contributing=True)
    for j in ev.get("cron_jobs") or []:
        b.fact("Cron job", f"'{j['command']}' ran {j['runs']} times from {j['first']} to {j['last']} (every "
               f"{j['median_interval_min']} minutes)" + (f"; it stopped {j['stopped_before_end_min']} minutes before the "
                                                         "end of the bundle" if j.get("stopped_before_end_min") else "")
               + ".", contributing=bool(j.get("stopped_before_end_min")))
    if m.get("error_lines"):
        b.fact("Error rate", f"{m['error_lines']} ERROR lines over {m['minutes_with_errors']} minutes, at most "
               f"{m['max_errors_per_minute']} in one minute ({m.get('max_errors_minute')}).")
    b.answer("Were there any infrastructure failures?",
             (f"Yes: {len(oom)} systemd failure event(s)" + (" including an OOM kill" if any(e['kind'] == 'oom_kill'
                                                                                         for e in oom) else "") + ".")
             if oom else ("No systemd export in the bundle." if not ev.get("systemd") else "None in systemd's log."),
             "fact" if oom or ev.get("systemd") else "unknown")
    b.answer("Did services crash or restart during trading?",
             f"{m['restarts']} restart(s), {m['unclean_restarts']} unclean." if restarts else
             "No restart in the logs.", "fact")
    b.answer("Was the system under resource pressure?",
             ("Yes: " + ", ".join(f"{k} up to {v['max']}" for k, v in hot.items()) + ".") if hot else
             (f"No metric reached {m['pressure_threshold_pct']}." if res else "No metrics in the bundle."), "fact" if res else "unknown")
    b.answer("Do we need better monitoring/alerting?",
             "Yes: nothing alerted on the crash, the resolver's errors or the cron job stopping." if (rs or oom or
                                                                                                     m.get("error_lines"))
             else "Nothing in the bundle shows a monitoring gap.", "hypothesis")
    peaks = ", ".join(f"{k} {v['max']}" for k, v in hot.items())
    summary = (f"{m['restarts']} restart(s) ({m['unclean_restarts']} unclean), {m.get('error_lines', 0)} ERROR lines, "
               f"largest unusual logging gap {m['max_log_gap_minutes']} minutes" + (f"; resource peaks: {peaks}" if hot else "")
               + ".")
    b.conclusions.append(summary)
    if rs:
        b.recommend("SERVICE_RESTARTS", restarts=m["restarts"], unclean=m["unclean_restarts"])
    records = sum((c.get("records") or 0) for c in ev.get("coverage") or [])
    return finish(b.build(summary), int(records), "log records")


def run(ctx: ReviewContext) -> TeamReport:
    return run_team(ctx, TEAM, PROMPT, gather, policy)
