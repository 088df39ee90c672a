"""Entry guard: protective levels present, on the right side, and a worst-case loss under the cap.

The worst case is in the instrument's currency (BTC for ETHBTC); the cap is in the account currency, so
the loss is converted with the configured ``[fx]`` rate (``trading.domain.fx``) before the comparison.
No rate for the instrument's currency blocks the entry with FX_RATE_MISSING (never a rate of 1).

Failure contract: pure; it adds reason codes to the verdict and never raises for a well-formed intent.
"""
from __future__ import annotations

import math

from trading.domain.contracts import spec_for
from trading.domain.fx import FxRates
from trading.domain.fx import current as current_fx
from trading.domain.models import OrderIntent, Side
from trading.domain.reason_codes import ReasonCode
from trading.guards.verdict import CheckResult


def worst_case_loss(intent: OrderIntent, entry_price: float, qty: float | None = None) -> float:
    """In the instrument's currency: |entry - stop| x qty x multiplier; for a binary share the full premium (price x qty x multiplier)
    whatever stop is given: no stop order exists on the venue and a losing share resolves to 0."""
    spec = spec_for(intent.symbol)
    q = intent.qty if qty is None else qty
    if spec.bounded_payoff:
        return abs(entry_price) * q * spec.multiplier
    if intent.stop is None:
        raise ValueError("a futures entry needs a stop to bound its loss")
    return abs(entry_price - intent.stop) * q * spec.multiplier


def check_entry_protection(intent: OrderIntent, entry_price: float | None, max_loss: float,
                           qty: float | None = None, fx: FxRates | None = None) -> CheckResult:
    """``qty`` overrides the intent's quantity (the part of an exit that would open exposure); ``max_loss``
    is in the account currency of ``fx`` (default: the configured rates)."""
    res = CheckResult()
    spec = spec_for(intent.symbol)
    res.evidence.update(stop=intent.stop, target=intent.target, entry_price=entry_price)
    if entry_price is None or entry_price <= 0:
        res.add(ReasonCode.PRICE_UNKNOWN)
        return res
    if spec.bounded_payoff:
        # a binary share cannot lose more than its premium: the payoff itself is the protection, and the
        # premium is the worst case (a "stop" is never placed on the venue, so it is given no credit)
        if intent.stop is not None and intent.stop >= entry_price:
            res.add(ReasonCode.INVALID_STOP_SIDE)
        if intent.stop:
            res.evidence["stop_ignored"] = "binary share: no stop order exists; worst case = full premium"
    else:
        stop, target = intent.stop, intent.target
        if stop is None or target is None or stop <= 0 or target <= 0:
            res.add(ReasonCode.MISSING_PROTECTION)
            return res
        ok = stop < entry_price < target if intent.side is Side.BUY else target < entry_price < stop
        if not ok:
            res.add(ReasonCode.INVALID_STOP_SIDE)
            return res
    rates = fx or current_fx()
    native = worst_case_loss(intent, entry_price, qty)
    rate = rates.rate(spec.currency)
    loss = native * rate if rate is not None else math.nan
    res.evidence.update(worst_case_loss=round(loss, 2) if math.isfinite(loss) else None,
                        max_loss_per_trade=max_loss, account_currency=rates.account)
    if rate != 1.0:      # the instrument's own money and the rate that converted it
        res.evidence.update(currency=spec.currency, fx_rate=rate,
                            worst_case_loss_native=round(native, 8) if math.isfinite(native) else None)
    if rate is None:
        res.add(ReasonCode.FX_RATE_MISSING, fx_rate_missing=rates.missing(spec.currency))
    elif not math.isfinite(loss):
        res.add(ReasonCode.INPUT_INVALID, invalid_inputs={"worst_case_loss": f"{loss!r}: overflow"})
    elif loss > max_loss + 1e-9:
        res.add(ReasonCode.MAX_LOSS_CAP)
    return res
