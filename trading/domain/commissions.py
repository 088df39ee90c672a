"""Paper commissions per asset class: what a simulated fill costs, in the instrument's currency.

An order's commission is ``per_unit x qty + bps / 10,000 x notional`` (notional = |price| x qty x
multiplier), at least ``minimum`` and at most ``max_pct`` % of the notional, charged once per ORDER: a fill
pays the order's commission after it minus the commission before it, so partial fills never pay the
minimum twice. Defaults by asset class are in ``instrument_table.COMMISSIONS`` (documented in
docs/bring-your-own-bot.md, "Instruments"); an ``[instruments.NAME]`` table overrides any of them with
``commission_per_unit``, ``commission_bps``, ``commission_min`` and ``commission_max_pct``.

Failure contract: pure arithmetic, no I/O; ``order_commission`` raises ValueError for a negative or
non-finite quantity or price (a fill that cannot be priced must not be charged silently).
"""
from __future__ import annotations

import math

from pydantic import BaseModel

from trading.domain import instrument_table as T
from trading.domain.instruments import InstrumentSpec


class CommissionModel(BaseModel, frozen=True):
    per_unit: float = 0.0             # per contract / share / coin
    bps: float = 0.0                  # basis points of notional
    minimum: float = 0.0              # per order
    max_pct: float | None = None      # cap, % of notional (IBKR fixed stocks: 1 %)

    def order_commission(self, qty: float, price: float, multiplier: float) -> float:
        """The commission of an order that filled ``qty`` at the average ``price``."""
        if not (math.isfinite(qty) and math.isfinite(price)) or qty < 0:
            raise ValueError(f"cannot price a commission for qty {qty!r} at {price!r}")
        if qty == 0:
            return 0.0
        notional = abs(price) * qty * multiplier
        fee = max(self.per_unit * qty + self.bps / 10_000 * notional, self.minimum)
        if self.max_pct is not None:
            fee = min(fee, self.max_pct / 100 * notional)
        return fee

    def describe(self) -> str:
        parts = [f"{self.per_unit:g}/unit" if self.per_unit else "", f"{self.bps:g} bps" if self.bps else "",
                 f"min {self.minimum:g}" if self.minimum else "",
                 f"max {self.max_pct:g}%" if self.max_pct is not None else ""]
        return ", ".join(p for p in parts if p) or "free"


def commission_model(spec: InstrumentSpec, per_contract: float = T.FUTURES_PER_CONTRACT) -> CommissionModel:
    """The paper commission of ``spec``: its asset class's default (futures and ``other`` pay
    ``per_contract``, the broker's ``commission_per_contract``) with the spec's overrides laid over it."""
    per_unit, bps, minimum, max_pct = T.COMMISSIONS.get(spec.asset_class, (None, 0.0, 0.0, None))
    model = CommissionModel(per_unit=per_contract if per_unit is None else per_unit, bps=bps, minimum=minimum,
                            max_pct=max_pct)
    over = {"per_unit": spec.commission_per_unit, "bps": spec.commission_bps, "minimum": spec.commission_min,
            "max_pct": spec.commission_max_pct}
    return model.model_copy(update={k: v for k, v in over.items() if v is not None})


def fill_commission(model: CommissionModel, multiplier: float, filled_before: float, avg_before: float,
                    qty: float, price: float) -> float:
    """What one fill of an order pays: the order's commission after it minus the commission before it."""
    filled_after = filled_before + qty
    avg_after = (avg_before * filled_before + price * qty) / filled_after if filled_after > 0 else price
    before = model.order_commission(filled_before, avg_before, multiplier) if filled_before > 0 else 0.0
    return max(0.0, model.order_commission(filled_after, avg_after, multiplier) - before)
