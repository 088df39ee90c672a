"""Currencies: the account's currency and the configured rates that turn an instrument's money into it.

An instrument's PnL, worst-case loss and notional are in its own currency (``InstrumentSpec.currency``:
BTC for ETHBTC, JPY for EURJPY). The account (``[broker] account_currency``, default USD) keeps cash,
equity, drawdown and every guard limit in one currency. A rate is "account-currency units per 1 unit of
the currency" and comes only from configuration (``[fx] BTC = 40000.0`` or ``WARDEN_FX__BTC``): there is
no implicit rate, and no rate is never 1. USD stablecoins count as USD on both sides.

``FxRates`` is the table; ``configure`` installs the one ``load_settings`` read (beside the instrument
registry's ``[instruments.NAME]`` tables) and ``current`` returns it, so the guards, the sizing and the
paper account judge with the same rates.

Failure contract: pure, no I/O. ``FxRates`` (and so ``configure``) raises ValueError for a bad currency
code or a non-finite / non-positive rate; ``rate`` and ``to_account`` return None when no rate is
known (the caller fails closed: FX_RATE_MISSING), never a default.
"""
from __future__ import annotations

import math
import re

from pydantic import BaseModel, ConfigDict, field_validator

from trading.domain.instrument_table import CURRENCY_PATTERN, USD_STABLES

DEFAULT_ACCOUNT_CURRENCY = "USD"
_CODE = re.compile(CURRENCY_PATTERN)


def canonical(currency: str | None) -> str:
    """The currency money is added in: upper case, USD stablecoins as USD (the registry's rule)."""
    c = (currency or DEFAULT_ACCOUNT_CURRENCY).strip().upper()
    return DEFAULT_ACCOUNT_CURRENCY if c in USD_STABLES else c


def _code(value: str, what: str) -> str:
    c = str(value).strip().upper()
    if not _CODE.match(c):
        raise ValueError(f"{what} {value!r} is not a currency code (2-12 letters or digits: USD, BTC, JPY)")
    return c


class FxRates(BaseModel, frozen=True):
    """The account currency and the rates into it (account units per 1 unit of each key)."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    account_currency: str = DEFAULT_ACCOUNT_CURRENCY
    rates: dict[str, float] = {}

    @field_validator("account_currency")
    @classmethod
    def _account(cls, v: str) -> str:
        return _code(v, "account currency")

    @field_validator("rates")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, rate in v.items():
            c = canonical(_code(key, "[fx] currency"))
            if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
                raise ValueError(f"[fx] {key} = {rate!r}: a rate must be a finite number > 0")
            out[c] = float(rate)
        return out

    @property
    def account(self) -> str:
        """The account currency as money is added in (USDT -> USD)."""
        return canonical(self.account_currency)

    def rate(self, currency: str | None) -> float | None:
        """Account units per 1 unit of ``currency``: 1.0 for the account's own, None when not configured."""
        c = canonical(currency)
        return 1.0 if c == self.account else self.rates.get(c)

    def to_account(self, amount: float, currency: str | None) -> float | None:
        """``amount`` of ``currency`` in the account currency, or None when no rate is configured."""
        r = self.rate(currency)
        return None if r is None else amount * r

    def missing(self, currency: str | None) -> str:
        """The one-line explanation for a missing rate, naming the setting to add."""
        c = canonical(currency)
        return (f"no rate from {c} into the account currency {self.account}: add [fx] {c} = <{self.account} per "
                f"1 {c}> to warden.toml (or WARDEN_FX__{c})")


_CURRENT = FxRates()


def configure(account_currency: str = DEFAULT_ACCOUNT_CURRENCY, rates: dict[str, float] | None = None) -> FxRates:
    """Install the rates every judge reads (``load_settings`` does, from ``[broker]`` and ``[fx]``)."""
    global _CURRENT
    _CURRENT = FxRates(account_currency=account_currency, rates=dict(rates or {}))
    return _CURRENT


def current() -> FxRates:
    """The installed rates (USD and none when nothing was configured)."""
    return _CURRENT
