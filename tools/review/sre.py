"""System reliability: starts, stops and restarts, gaps in logging, error rates per minute, and the
system exports a bundle may carry (journalctl, a metrics CSV, a cron log).

Failure contract: missing exports are skipped (listed by forensics as could-not-run); an unreadable
export file raises OSError, reported by the team runner.
"""
from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tools.logs.bundle import parse_time
from tools.review.forensics import Forensics
from tools.review.report import RootCause
from tools.review.report import RootCauseCode as C

RESOURCE_PRESSURE_PCT = 90.0
_ISO_LINE = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+(?P<host>\S+)\s+"
                       r"(?P<unit>[^:\s]+):\s+(?P<msg>.*)$")
_SYSLOG_LINE = re.compile(r"^(?P<ts>[A-Z][a-z]{2}\s+\d{1,2} \d{2}:\d{2}:\d{2})\s+(?P<host>\S+)\s+(?P<unit>[^:\s]+):\s+"
                          r"(?P<msg>.*)$")
_CRON_CMD = re.compile(r"CRON\[\d+\]:\s+\((?P<user>[^)]*)\)\s+CMD\s+\((?P<cmd>.*)\)\s*$")


def _line_time(m: re.Match[str], year: int) -> datetime | None:
    ts = m.group("ts")
    if ts[:4].isdigit():
        t = ts if ts.endswith("Z") or re.search(r"[+-]\d{2}:?\d{2}$", ts) else ts + "Z"
        t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t)
        return parse_time(t)
    try:
        return datetime.strptime(f"{year} {' '.join(ts.split())}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def read_syslog(path: Path, year: int) -> list[dict[str, Any]]:
    """journalctl (short or short-iso) / syslog lines: ts, unit, message, line."""
    out = []
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            m = _ISO_LINE.match(line) or _SYSLOG_LINE.match(line)
            if not m:
                continue
            ts = _line_time(m, year)
            if ts is None:
                continue
            out.append({"ts": ts, "unit": m.group("unit"), "msg": m.group("msg"), "ref": f"{path.name}:L{n}"})
    return out


def systemd_events(lines: list[dict[str, Any]]) -> dict[str, Any]:
    ev = []
    for r in lines:
        msg = r["msg"]
        kind = None
        if msg.startswith("Started "):
            kind = "started"
        elif msg.startswith("Stopped "):
            kind = "stopped"
        elif "Main process exited" in msg:
            kind = "exited"
        elif "Failed with result" in msg:
            kind = "failed"
        elif "Scheduled restart job" in msg:
            kind = "auto_restart"
        elif "Out of memory" in msg or "oom-kill" in msg.lower():
            kind = "oom_kill"
        if kind:
            ev.append({**r, "kind": kind})
    counts = Counter(e["kind"] for e in ev)
    return {"events": ev, "counts": dict(counts)}


def read_metrics(path: Path) -> dict[str, Any]:
    rows = []
    with Path(path).open(encoding="utf-8", errors="replace", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(r)
    if not rows:
        return {"rows": 0, "columns": {}}
    tcol = next((c for c in rows[0] if c.lower() in ("timestamp", "time", "ts", "date")), None)
    cols: dict[str, Any] = {}
    for c in rows[0]:
        if c == tcol:
            continue
        vals = []
        for r in rows:
            try:
                vals.append(float(r[c]))
            except (TypeError, ValueError):
                vals.append(np.nan)
        a = np.array(vals)
        if not np.isfinite(a).any():
            continue
        i = int(np.nanargmax(a))
        high = a >= RESOURCE_PRESSURE_PCT if c.endswith("pct") or "percent" in c or c.endswith("%") else np.zeros(len(a), bool)
        cols[c] = {"max": round(float(a[i]), 2), "mean": round(float(np.nanmean(a)), 2),
                   "max_at": parse_time(rows[i][tcol]) if tcol else None,
                   "minutes_over_threshold": int(high.sum()),
                   "first_over": parse_time(rows[int(np.argmax(high))][tcol]) if tcol and high.any() else None}
    return {"rows": len(rows), "columns": cols}


def read_cron(path: Path, year: int) -> dict[str, Any]:
    runs: dict[str, list[datetime]] = defaultdict(list)
    errors = []
    for r in read_syslog(path, year):
        m = _CRON_CMD.search(f"{r['unit']}: {r['msg']}")
        if m:
            runs[m.group("cmd")].append(r["ts"])
        elif re.search(r"error|failed|exit status", r["msg"], re.I):
            errors.append(r)
    jobs = []
    for cmd, ts in runs.items():
        ts.sort()
        gaps = np.diff([t.timestamp() for t in ts]) if len(ts) > 1 else np.zeros(0)
        jobs.append({"command": cmd, "runs": len(ts), "first": ts[0], "last": ts[-1],
                     "median_interval_min": round(float(np.median(gaps)) / 60, 2) if len(gaps) else None,
                     "max_gap_min": round(float(gaps.max()) / 60, 2) if len(gaps) else None})
    return {"jobs": jobs, "errors": errors}


def unknown_lines(st: dict[str, Any]) -> int:
    """Unknown record lines from a log's read stats (a count, or counts per logger|level)."""
    u = st.get("unknown", 0)
    return int(u) if isinstance(u, (int, float)) else int(sum(u.values()))


def analyze(fx: Forensics) -> dict[str, Any]:
    out: dict[str, Any] = {"detections": [], "metrics": {}}
    m = out["metrics"]
    first, last = fx.span
    year = (first or datetime.now(UTC)).year
    # lifecycle from the logs
    lifecycle = []
    by_src: dict[str, list[Any]] = defaultdict(list)
    for p in fx.process:
        if p.kind in ("start", "stop"):
            by_src[p.source].append(p)
    restarts = []
    for src, evs in by_src.items():
        started = False
        stopped_since = False
        for p in sorted(evs, key=lambda e: e.ts):
            if p.kind == "start":
                if started:
                    restarts.append({"ts": p.ts, "source": src, "clean": stopped_since, "ref": p.ref,
                                     "pid": p.fields.get("pid")})
                started, stopped_since = True, False
            else:
                stopped_since = True
                lifecycle.append({"ts": p.ts, "source": src, "event": "stop", "reason": p.fields.get("reason"),
                                  "ref": p.ref})
    m["starts"] = sum(1 for p in fx.process if p.kind == "start")
    m["restarts"] = len(restarts)
    m["unclean_restarts"] = sum(1 for r in restarts if not r["clean"])
    out["restarts"] = restarts
    out["stops"] = lifecycle
    # logging gaps and log coverage
    gaps: list[dict[str, Any]] = []
    for name, d in fx.logs.items():
        lens = [s for _, _, s in d.gaps]
        # a log written on a schedule (a cron job every 5 minutes) has regular idle periods: only a gap
        # well beyond its usual one is news
        usual = float(np.median(lens)) if len(lens) >= 5 else 0.0
        for a, b, s in d.gaps:
            if s >= max(2 * usual, 0.0) or usual == 0.0:
                gaps.append({"source": name, "from": a, "to": b, "minutes": round(s / 60, 1),
                             "usual_gap_minutes": round(usual / 60, 1) if usual else None})
    out["gaps"] = sorted(gaps, key=lambda g: -g["minutes"])
    coverage: list[dict[str, Any]] = [
        {"source": n, "first": d.first, "last": d.last, "records": d.records, "bytes": d.stats.get("bytes_read"),
         "unknown_lines": unknown_lines(d.stats)} for n, d in fx.logs.items()]
    out["coverage"] = coverage
    if last:
        silent = [c for c in coverage if c["last"] and (last - c["last"]).total_seconds() > 1800]
        out["silent_at_end"] = [{"source": c["source"], "last": c["last"],
                                 "minutes_before_end": round((last - c["last"]).total_seconds() / 60, 1)} for c in silent]
    # error rates per minute
    err: Counter[int] = Counter()
    warn: Counter[int] = Counter()
    for d in fx.logs.values():
        for (minute, level), n in d.per_minute.items():
            if level in ("ERROR", "CRITICAL"):
                err[minute] += n
            elif level == "WARNING":
                warn[minute] += n
    m["error_lines"] = sum(err.values())
    m["warning_lines"] = sum(warn.values())
    m["minutes_with_errors"] = len(err)
    if err:
        peak_min, peak_n = max(err.items(), key=lambda kv: kv[1])
        m["max_errors_per_minute"] = peak_n
        m["max_errors_minute"] = datetime.fromtimestamp(peak_min * 60, UTC)
    if first and last and last > first:
        m["errors_per_hour"] = round(sum(err.values()) / ((last - first).total_seconds() / 3600), 2)
    m["max_log_gap_minutes"] = max((g["minutes"] for g in gaps), default=0.0)
    m["pressure_threshold_pct"] = RESOURCE_PRESSURE_PCT
    if fx.es is not None:
        m["heartbeats"] = fx.es.heartbeats
    # system exports
    sysd = fx.bundle.system
    if "journal" in sysd:
        sd = systemd_events(read_syslog(sysd["journal"], year))
        out["systemd"] = sd
        m.update({f"systemd_{k}": v for k, v in sd["counts"].items()})
    if "metrics" in sysd:
        met = read_metrics(sysd["metrics"])
        out["resources"] = met
        for c, v in met["columns"].items():
            m[f"{c}_max"] = v["max"]
    if "cron" in sysd:
        cr = read_cron(sysd["cron"], year)
        out["cron"] = cr
        m["cron_jobs"] = len(cr["jobs"])
        m["cron_errors"] = len(cr["errors"])
        for j in cr["jobs"]:
            if last and (last - j["last"]).total_seconds() > 3 * 60 * max(j["median_interval_min"] or 5, 1):
                j["stopped_before_end_min"] = round((last - j["last"]).total_seconds() / 60, 1)
    crashes = [r for r in restarts if not r["clean"]]
    if crashes or len(restarts) >= 3:
        oom = [e for e in out.get("systemd", {}).get("events", []) if e["kind"] in ("oom_kill", "exited")]
        out["detections"].append(RootCause(
            code=C.SERVICE_RESTARTS, teams=["sre"],
            summary=(f"The bot restarted {len(restarts)} time(s) during the bundle, {len(crashes)} without a clean "
                     "shutdown" + (f" (systemd: {', '.join(e['msg'] for e in oom[:2])})" if oom else "")
                     + "; every restart reloaded its state file."),
            evidence=[r["ref"] for r in restarts][:4] + [e["ref"] for e in oom][:2]))
    return out
