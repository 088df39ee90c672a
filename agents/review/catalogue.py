"""The change catalogue (seed 001's decision framework): what each detected root cause calls for.

``recommend(code, team, **vals)`` fills a code's templates with the team's numbers; a value that is
missing renders as "n/a" and an unknown code gives no recommendation (never raises).
"""
from __future__ import annotations

from typing import Any

from tools.review.report import ChangeType, Recommendation


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "n/a"


CATALOGUE: dict[str, list[dict[str, str]]] = {
    "OUTCOME_RECORDING_FAILED": [
        {"title": "Fail loudly when an outcome cannot be written", "type": "code_bug_fix", "priority": "P0",
         "detail": "The resolver must not carry on after a failed journal write: probe the journal's writability at "
                   "start, retry with backoff, alert, and halt new entries (JOURNAL_UNWRITABLE) while any write fails. "
                   "Fix the cause first: {cause}.",
         "impact": "every trade past its window gets an outcome, or trading stops within one resolver pass"},
        {"title": "Backfill the missing outcomes from the reconstruction", "type": "code_bug_fix", "priority": "P0",
         "detail": "Write the {reconstructed} reconstructed outcomes of outcomes.csv into the journal, each tagged "
                   "with its source (resolution_log, candles, api), so the learning and risk state see them.",
         "impact": "the journal's win/loss record matches what happened"},
    ],
    "SWALLOWED_EXCEPTIONS": [
        {"title": "Stop swallowing resolver exceptions", "type": "code_bug_fix", "priority": "P0",
         "detail": "Replace the catch-all that logs '(ignored)' with counted errors keyed by trade id, an alert on "
                   "the first occurrence and a halt of new entries after repeated failures; add a unit test that "
                   "a read-only journal fails the resolver loudly.",
         "impact": "a failure like this one is visible within minutes instead of after a drawdown"},
    ],
    "DRAWDOWN_PEAK_RESET": [
        {"title": "Never reset the drawdown peak on restart", "type": "code_bug_fix", "priority": "P0",
         "detail": "Keep the peak in an append-only risk ledger (the maximum of every equity mark); a missing or "
                   "invalid state file must fail closed (halt), not reset the peak; only an explicit, logged "
                   "operator command may lower it (warden risk reset-peak).",
         "impact": "the drawdown is always measured from the true peak ({true_peak})"},
    ],
    "DRAWDOWN_HALT_MISSED": [
        {"title": "Drawdown halt on true equity with the {limit}% limit and an unresolved-outcome fail-safe",
         "type": "risk_parameter", "priority": "P1",
         "detail": "Measure drawdown on wallet balance plus open positions valued at 0 once their window has ended; "
                   "halt at max_drawdown_pct={limit} and latch; halt entries when more than "
                   "max_unresolved_outcomes={max_unresolved} trades are past resolution without an outcome (replayed "
                   "here, the fail-safe would have blocked {failsafe_blocked} trades).",
         "impact": "the halt would have fired at {halt_at} instead of never"},
        {"title": "Put the deterministic guards in front of the bot's order path", "type": "architecture",
         "priority": "P3",
         "detail": "Route every order through an external guard process (Warden) that holds its own risk ledger, so "
                   "a halt cannot be bypassed by the bot's own state or a restart.",
         "impact": "risk controls survive bot bugs and restarts"},
    ],
    "LOSS_STREAK_UNTRACKED": [
        {"title": "Count unresolved outcomes as losses in the streak", "type": "code_bug_fix", "priority": "P0",
         "detail": "consecutive_losses must be derived from recorded outcomes plus every trade past its resolution "
                   "time without one (worst case), never reset by a restart.",
         "impact": "the streak would have read {true_streak} instead of {state_streak}"},
        {"title": "Loss-streak halt at max_consecutive_losses={max_losses}", "type": "risk_parameter",
         "priority": "P1",
         "detail": "Halt new entries after {max_losses} consecutive losses (the longest streak here was "
                   "{max_streak}).",
         "impact": "caps a losing cascade at {max_losses} trades"},
    ],
    "UNREALIZED_LOSSES_HIDDEN": [
        {"title": "Mark expired positions at their resolved value", "type": "code_bug_fix", "priority": "P0",
         "detail": "A position whose window has ended is worth its payout (0 when lost), not its cost; the balance "
                   "used for drawdown must include that mark.",
         "impact": "the balance never hides resolved losses (up to {hidden_max} hidden here)"},
    ],
    "OVERTRADING": [
        {"title": "Cap entry frequency and add a cooldown after losses", "type": "strategy", "priority": "P2",
         "detail": "At most {max_per_hour} entries per hour (one per 15-minute window) and no new entry within one "
                   "window after a loss; backtest against this bundle's period ({per_hour} per hour observed).",
         "impact": "fewer correlated bets in a losing regime"},
    ],
    "MODEL_MISCALIBRATED": [
        {"title": "Recalibrate or replace the model before trading on its probabilities", "type": "model",
         "priority": "P2",
         "detail": "The stated probabilities (mean {mean_prob}) far exceed the realized win rate ({win_rate}); Brier "
                   "{brier} vs {brier_base} for the base rate. Recalibrate (isotonic/Platt) on recent resolved "
                   "outcomes or retrain, and A/B test against the current model before switching.",
         "impact": "stated edge matches realized edge"},
    ],
    "SERVICE_RESTARTS": [
        {"title": "Make restarts safe and visible", "type": "architecture", "priority": "P3",
         "detail": "Supervise the bot with alerts on every unclean exit and on memory above 90%; restarts must "
                   "restore risk state from the ledger, never from a fresh default ({restarts} restarts here, "
                   "{unclean} unclean).",
         "impact": "a crash loop cannot silently reset risk state"},
    ],
    "EXIT_OPENED_POSITION": [
        {"title": "Reduce-only exits judged against the live position", "type": "code_bug_fix", "priority": "P0",
         "detail": "An exit re-reads the live position, derives its side from it, and is refused when flat "
                   "(NO_EXPOSURE) or when it would flip the position (REDUCE_ONLY_VIOLATION).",
         "impact": "an exit can never open exposure (order {order_id} would have been blocked)"},
    ],
    "ADVISORY_WAIT_IGNORED": [
        {"title": "A WAIT advisory blocks entries (block_on_wait=true)", "type": "risk_parameter", "priority": "P1",
         "detail": "Treat WAIT as a block for anything that opens exposure; allow an override only for an "
                   "advisory-only WAIT above an explicit confidence (wait_override_confidence), never by default.",
         "impact": "orders against a WAIT are blocked with AWS_WAIT"},
    ],
    "MISSING_PROTECTION": [
        {"title": "Reject entries without a valid stop and target", "type": "code_bug_fix", "priority": "P0",
         "detail": "The entry guard (and any exit that would open exposure) requires positive stop and target on the "
                   "correct side and a worst-case loss under max_loss_per_trade={max_loss}.",
         "impact": "no naked position (one was open {minutes} minutes here)"},
    ],
    "STALE_BROKER_PNL": [
        {"title": "Compute PnL from fills, flag broker mismatches", "type": "code_bug_fix", "priority": "P0",
         "detail": "Realized PnL = price delta x quantity x multiplier - fees from the fills; IB's realizedPNL is kept "
                   "only as a cross-check and a mismatch is flagged (PNL_MISMATCH).",
         "impact": "reported PnL matches the account ({broker} reported vs {true} true here)"},
    ],
    "TELEMETRY_GAP": [
        {"title": "One trade_cycle_id from signal to PnL; never drop a trade record", "type": "code_bug_fix",
         "priority": "P0",
         "detail": "Generate the id at the signal, carry it on every order, fill and event, and write the trade "
                   "record on close even when the id is missing (with a flag) rather than skipping it.",
         "impact": "every loss is visible to dashboards and learning"},
    ],
}


def recommend(code: str, team: str, **vals: Any) -> list[Recommendation]:
    out = []
    safe = _Safe({k: ("n/a" if v is None else v) for k, v in vals.items()})
    for i, t in enumerate(CATALOGUE.get(code, [])):
        out.append(Recommendation(
            id=f"{code}-{i + 1}", title=t["title"].format_map(safe), detail=t["detail"].format_map(safe),
            change_type=ChangeType(t["type"]), priority=t["priority"],  # type: ignore[arg-type]
            expected_impact=t["impact"].format_map(safe), team=team, addresses=[code]))  # type: ignore[list-item]
    return out
