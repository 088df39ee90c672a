"""Contract specifications (a view on the instrument registry) and IB futures symbol parsing.

Failure contract: ``spec_for`` and ``parse_ib_symbol`` raise ValueError naming the symbol they do not
know; nothing here does I/O.
"""
from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel

from trading.domain.instruments import InstrumentSpec, futures_root, resolve

FUTURES_MONTH_CODES = {
    "F": 1, "G": 2, "H": 3, "J": 4, "K": 5, "M": 6, "N": 7, "Q": 8, "U": 9, "V": 10, "X": 11, "Z": 12,
}
MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


# a contract spec is an instrument spec (trading.domain.instruments): the registry holds every asset class
ContractSpec = InstrumentSpec

_IB_SYMBOL = re.compile(r"^(?P<root>[A-Z]{1,4}?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,2})$")


class FuturesSymbol(BaseModel, frozen=True):
    symbol: str
    root: str
    month: int
    year: int

    @property
    def month_name(self) -> str:
        return MONTH_NAMES[self.month - 1]

    @property
    def expiry_month(self) -> str:
        """IB's lastTradeDateOrContractMonth form, e.g. 202512."""
        return f"{self.year:04d}{self.month:02d}"


def parse_ib_symbol(symbol: str, today: date | None = None) -> FuturesSymbol:
    """Parse a local futures symbol like ESZ5 -> ES, December, 2025.

    A one-digit year is resolved to the nearest decade at or after ``today`` (contracts are listed
    at most a few years ahead), so ESZ5 read in 2025 is 2025 and read in 2027 is 2035.
    """
    m = _IB_SYMBOL.match(symbol.strip().upper())
    if not m or futures_root(m.group(0)) != m.group("root"):
        raise ValueError(f"not a known futures symbol: {symbol!r} (expected ROOT+MONTH+YEAR, e.g. ESZ5)")
    today = today or date.today()
    y = int(m.group("year"))
    if len(m.group("year")) == 2:
        year = 2000 + y
    else:
        decade = today.year - today.year % 10
        year = decade + y
        # a contract whose month is already past in this decade belongs to the next one
        if (year, FUTURES_MONTH_CODES[m.group("month")]) < (today.year, today.month) and today.year - year > 1:
            year += 10
    return FuturesSymbol(symbol=symbol.upper(), root=m.group("root"),
                         month=FUTURES_MONTH_CODES[m.group("month")], year=year)


def spec_for(symbol: str) -> ContractSpec:
    """The spec for any symbol: a root (ES), an IB local symbol (ESZ5), a Polymarket token, a crypto pair,
    an FX pair, a stock, or an ``[instruments.NAME]`` table; raises UnknownInstrument (a ValueError)."""
    return resolve(symbol)


def multiplier_for(symbol: str) -> float:
    return spec_for(symbol).multiplier
