"""The data team's detections: outcomes never recorded (OUTCOME_RECORDING_FAILED) and trade records
missing from the journal or the log (TELEMETRY_GAP), with the metrics behind them.

Pure function over a ``Forensics``; a check whose input is missing (no journal, no log span) is skipped
and its metric left None, never raised.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from tools.review.forensics.errors import error_rows
from tools.review.forensics.models import Forensics
from tools.review.report import RootCause
from tools.review.report import RootCauseCode as C


def analyze(fx: Forensics, grace_s: float = 900.0) -> dict[str, Any]:
    m = fx.metrics()
    out: dict[str, Any] = {"metrics": m, "detections": [], "errors": error_rows(fx)}
    _, end = fx.span
    pos = fx.positions
    m["journal_trades"] = fx.journal_trades
    m["journal_outcomes"] = fx.journal_outcomes
    m["error_signatures"] = len(fx.errors)
    m["errors_total"] = sum(s.count for s in fx.errors.values())
    m["errors_swallowed"] = sum(s.swallowed for s in fx.errors.values())
    m["resolution_passes"] = len(fx.resolution_passes)
    m["markets_resolved_in_log"] = len(fx.resolved_markets)
    conflicts = [(t.trade_id, c) for t in pos for c in t.conflicts]
    m["source_conflicts"] = len(conflicts)
    out["conflicts"] = conflicts
    # the resolver's own failures (outside the bot's log) and the trades they name
    rec_errs = [r for r in out["errors"] if r["source"] != "bot.log" and r["trades_hit"]]
    hit = {tid for r in rec_errs for tid in r["trade_ids"]}
    if fx.kind == "polymarket" and fx.bundle.journal is not None and fx.journal_error is None and end is not None:
        due = [t for t in pos if (t.window_end or t.entry_time) and
               (t.window_end or t.entry_time) + timedelta(seconds=grace_s) <= end]  # type: ignore[operator]
        missing = [t for t in due if not t.recorded]
        m["outcomes_due"] = len(due)
        m["outcomes_missing"] = len(missing)
        if missing:
            never = [t for t in missing if t.trade_id not in hit]
            parts = [f"{len(due) - len(missing)} of {len(due)} trades past their resolution time have a recorded "
                     "outcome"]
            ev = [f"trade_journal.db:outcomes ({fx.journal_outcomes} rows)"]
            if rec_errs:
                top = rec_errs[0]
                parts.append(f"the resolver failed {top['count']} times with '{top['signature']}' from "
                             f"{fx.fmt(top['first'])} to {fx.fmt(top['last'])}, hitting {top['trades_hit']} "
                             "trades")
                ev += top["refs"][:3]
            if fx.resolved_markets:
                parts.append(f"it did find the winners of {len(fx.resolved_markets)} markets")
            if never:
                parts.append(f"{len(never)} trades were never attempted (no resolver activity for them in the bundle)")
            out["detections"].append(RootCause(code=C.OUTCOME_RECORDING_FAILED, teams=["forensics"],
                                               summary="; ".join(parts) + ".", evidence=ev))
        # trades the bot logged but did not journal (and journal rows the log never mentions)
        first, last = fx.span
        not_journaled = [t for t in pos if t.in_log and not t.in_journal]
        not_logged = [t for t in pos if t.in_journal and not t.in_log and first and last and t.entry_time
                      and first <= t.entry_time <= last and "bot.log" in fx.bundle.logs]
        m["trades_not_journaled"] = len(not_journaled)
        m["journal_rows_not_in_log"] = len(not_logged)
        if not_journaled or not_logged:
            out["detections"].append(RootCause(
                code=C.TELEMETRY_GAP, teams=["forensics"],
                summary=(f"{len(not_journaled)} trade(s) placed in the log have no journal row and "
                         f"{len(not_logged)} journal row(s) have no order in the log over the same period: the trade "
                         "record is incomplete."),
                evidence=[t.log_ref or t.trade_id for t in not_journaled][:3]
                + [f"trade_journal.db:trades.id={t.trade_id}" for t in not_logged][:3]))
    elif fx.kind == "polymarket" and fx.bundle.journal is None:
        m["outcomes_missing"] = None
        # no journal to count from: the resolver's own failures on named trades still show it
        failed = [t for t in pos if t.trade_id in hit and not t.recorded]
        m["outcome_writes_failed_trades"] = len(failed)
        if failed:
            top = rec_errs[0]
            out["detections"].append(RootCause(
                code=C.OUTCOME_RECORDING_FAILED, teams=["forensics"],
                summary=(f"No journal in the bundle; the resolver failed {top['count']} times with "
                         f"'{top['signature']}' from {fx.fmt(top['first'])} to {fx.fmt(top['last'])}, and "
                         f"{len(failed)} of {len(pos)} trades it tried have no recorded outcome anywhere in the bundle."),
                evidence=top["refs"][:3]))
    # outcome timeline rows (for outcomes.csv / timeline.csv)
    out["outcomes"] = [t.as_outcome_row() for t in fx.trades]
    return out
