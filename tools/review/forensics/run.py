"""The whole forensics step: read every input of a bundle once and reconstruct what happened.

One streaming pass per log keeps only what the other teams need: trade-related records, the process
lifecycle, error signatures, change-compressed balance and drawdown-check series, compact signal arrays
(for drift), per-minute record counts and logging gaps. A 100+ MB log never becomes a list of Python
records. Missing or unreadable inputs become ``Forensics.could_not_run`` entries, never exceptions;
OSError from a log that vanishes mid-read propagates.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tools.logs.bundle import Bundle, read_events, read_state
from tools.review.forensics.candles import load_candles
from tools.review.forensics.es_trades import build_es_trades
from tools.review.forensics.fills_trades import build_fills_trades, build_log_fills_trades
from tools.review.forensics.log_pass import FULL_PARSE_MAX_BYTES, UNKNOWN_PARSE_MAX_BYTES, LogPass
from tools.review.forensics.models import Forensics
from tools.review.forensics.polymarket_trades import ApiResolver, build_poly_trades
from tools.review.report import NotRun

UNDERSTOOD_MIN = 0.8     # below this share of understood records a log gets a prominent warning


def run_forensics(bundle: Bundle, api_resolver: ApiResolver | None = None) -> Forensics:
    fx = Forensics(bundle=bundle, kind=bundle.kind, zone=bundle.zone)
    missing = bundle.missing()
    for inp, analyses in missing.items():
        for a in analyses:
            fx.could_not_run.append(NotRun(analysis=a, lacking=inp))
    # logs: bot.log first, then the rest in name order (resolver logs refer to the bot's trades)
    intents: dict[str, dict[str, Any]] = {}
    order = sorted(bundle.logs, key=lambda n: (n != "bot.log", n))
    for name in order:
        fmt = bundle.log_formats.get(name, "unknown")
        if fmt == "unknown":
            continue
        p = LogPass(fx, bundle.logs[name], fmt)
        p.run()
        intents.update(p.intents)
        summary = p.digest.stats.get("summary") or {}
        if summary and summary.get("understood_share", 1.0) < UNDERSTOOD_MIN:
            # prominent: a log the review mostly did not understand must never read as a clean bill of health
            fx.could_not_run.append(NotRun(
                analysis=f"the {summary['unknown'] + summary['unreadable']} of {summary['lines_read']} lines of {name} "
                         f"not understood ({summary['understood_share']:.0%} understood as {fmt})",
                lacking="rules for them: --format or a rule file (docs/bring-your-own-bot.md)"))
        if not p.full and fmt == "mytrader":
            fx.could_not_run.append(NotRun(analysis=f"heartbeat gaps and price marks from quotes in {name}",
                                           lacking=f"parsed noise lines (log over {FULL_PARSE_MAX_BYTES >> 20} MB: "
                                                   "heartbeats and quotes are counted, not parsed)"))
        if not p.unknown:
            fx.could_not_run.append(NotRun(analysis=f"unmatched ERROR lines in {name}",
                                           lacking=f"parsed unmatched lines (log over {UNKNOWN_PARSE_MAX_BYTES >> 20} "
                                                   "MB: lines matching no rule are counted by logger and level)"))
    fx.state, fx.state_error = read_state(bundle.state)
    if bundle.state is not None and fx.state is None:
        fx.could_not_run.append(NotRun(analysis="state-file consistency check", lacking=f"readable state file "
                                       f"({fx.state_error})"))
    fx.events, fx.events_bad_lines = read_events(bundle.events)
    load_candles(bundle, fx)
    for asset, err in fx.candle_errors.items():
        fx.could_not_run.append(NotRun(analysis=f"candles for {asset}", lacking=f"readable candles ({err})"))
    others = {n: (bundle.logs[n], f) for n, f in bundle.log_formats.items() if f not in ("unknown", "mytrader",
                                                                                       "momentum")}
    if bundle.fills is not None and not bundle.logs:
        build_fills_trades(fx)              # a fills file alone: one trade row per position
    elif fx.kind not in ("es", "polymarket") and others:
        build_log_fills_trades(fx, others)  # freqtrade, Hummingbot, IB, a user's format: fills as positions
    elif fx.kind == "es":
        build_es_trades(fx)
    else:
        build_poly_trades(fx, intents, api_resolver)
    fx.timeline.sort(key=lambda r: (r["time"] or datetime.min.replace(tzinfo=UTC)))
    fx.counts = {**fx.counts, "log_records": {n: d.records for n, d in fx.logs.items()},
                 "timeline_rows": len(fx.timeline), "timeline_dropped": fx.timeline_dropped,
                 "error_signatures": len(fx.errors), "signals": int(len(fx.sig_ts))}
    return fx
