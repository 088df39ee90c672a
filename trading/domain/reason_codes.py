"""Reason codes: why a guard blocked, adjusted or flagged an action.

Every blocked action carries at least one of these; telemetry, journals and the RAG store key on them.

Failure contract: data only; ``ReasonCode(value)`` raises ValueError for an unknown code.
"""
from enum import StrEnum


class ReasonCode(StrEnum):
    # advisory gate
    AWS_WAIT = "AWS_WAIT"                        # the advisory said WAIT and block_on_wait is on
    ADVISORY_STALE = "ADVISORY_STALE"            # advisory older than advisory_max_age_s
    ADVISORY_MISSING = "ADVISORY_MISSING"        # no advisory at all for an entry
    ADVISORY_CONFLICT = "ADVISORY_CONFLICT"      # advisory points the other way
    LLM_UNAVAILABLE = "LLM_UNAVAILABLE"          # the LLM errored, timed out or hit its budget
    # entry protection
    MISSING_PROTECTION = "MISSING_PROTECTION"    # stop or target absent / non-positive
    INVALID_STOP_SIDE = "INVALID_STOP_SIDE"      # stop or target on the wrong side of the entry
    MAX_LOSS_CAP = "MAX_LOSS_CAP"                # worst-case loss above max_loss_per_trade
    PRICE_UNKNOWN = "PRICE_UNKNOWN"              # no entry price to measure risk against
    MAX_EXPOSURE = "MAX_EXPOSURE"                # position would exceed max_position_qty
    OPPOSITE_POSITION = "OPPOSITE_POSITION"      # entry against an open opposite position
    # reduce-only exits
    NO_EXPOSURE = "NO_EXPOSURE"                  # exit while the LIVE position is flat
    POSITION_UNKNOWN = "POSITION_UNKNOWN"        # the live position could not be read
    REDUCE_ONLY_VIOLATION = "REDUCE_ONLY_VIOLATION"  # exit would grow or flip the position
    REDUCE_ONLY_CAPPED = "REDUCE_ONLY_CAPPED"    # exit qty was capped to the live position (not a block)
    EXIT_SIDE_CORRECTED = "EXIT_SIDE_CORRECTED"  # exit side derived from the live position (not a block)
    # halts and limits
    DRAWDOWN_HALT = "DRAWDOWN_HALT"
    LOSS_STREAK = "LOSS_STREAK"
    OUTCOME_UNRESOLVED = "OUTCOME_UNRESOLVED"
    COOLDOWN = "COOLDOWN"
    RATE_LIMIT = "RATE_LIMIT"
    OPERATOR_HALT = "OPERATOR_HALT"
    RECONCILE_MISMATCH = "RECONCILE_MISMATCH"
    JOURNAL_UNWRITABLE = "JOURNAL_UNWRITABLE"
    EQUITY_UNKNOWN = "EQUITY_UNKNOWN"
    GUARD_ERROR = "GUARD_ERROR"                  # a guard raised: fail closed
    # issue 10: ways around the guards, closed
    INTENT_CONFLICT = "INTENT_CONFLICT"          # kind and reduce_only disagree (a reduce-only ENTRY): rejected first
    LEDGER_CORRUPT = "LEDGER_CORRUPT"            # a risk ledger line is unreadable: entries blocked until repair
    INPUT_INVALID = "INPUT_INVALID"              # a non-finite / out-of-range number reached a guard
    INTERNAL_ERROR = "INTERNAL_ERROR"            # a code error in a node, tool or offline rules (never a model outage)
    # telemetry / accounting flags
    PNL_MISMATCH = "PNL_MISMATCH"                # broker realized PnL disagrees with fills
    NUMBER_UNGROUNDED = "NUMBER_UNGROUNDED"      # an LLM rationale cites a number no tool produced
    MEMORY_WAIT = "MEMORY_WAIT"                  # WAIT advised by Warden's own memory (similar past cycles lost)
    # entry sizing (trading.domain.instruments.size_position): refused before the guards see an intent
    NOTIONAL_CAP = "NOTIONAL_CAP"                # entry notional above guards.max_notional_x_equity x equity
    SIZE_ROUNDS_TO_ZERO = "SIZE_ROUNDS_TO_ZERO"  # the size rounds to nothing at the instrument's size step
    FX_RATE_MISSING = "FX_RATE_MISSING"          # money in a currency with no [fx] rate into the account currency


# Codes that describe an adjustment or a flag, never a block on their own.
NON_BLOCKING: frozenset[ReasonCode] = frozenset(
    {ReasonCode.REDUCE_ONLY_CAPPED, ReasonCode.EXIT_SIDE_CORRECTED, ReasonCode.PNL_MISMATCH,
     ReasonCode.NUMBER_UNGROUNDED}
)
