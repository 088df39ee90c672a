"""IB contracts for every asset class of the instrument registry, and the pick among IB's answers.

``contract_request`` turns a registry spec into the ib_async contract IB qualifies:
- future: ``ESZ5`` -> ``Future('ES', '202512', 'CME', 'USD')``; a bare root ``ES`` -> ``Future('ES',
  exchange='CME')``, whose listed months IB returns and ``front_month`` picks the nearest not yet expired;
- stock / ETF: ``Stock(symbol, 'SMART', currency, primaryExchange)`` (``BRK.B`` is IB's ``BRK B``;
  ``primary_exchange`` from an ``[instruments.NAME]`` table disambiguates SMART routing);
- fx: ``Forex('EURUSD')`` (IDEALPRO, secType CASH); crypto: ``Crypto(base, 'PAXOS', currency)`` (IB's
  crypto venue; a stablecoin quote is USD there).
Polymarket shares, crypto perpetuals and ``other`` instruments have no IB contract: ``IBContractError``
says what to use instead.

Failure contract: ``contract_request`` raises ``IBContractError`` (a ValueError) naming the symbol and what to
do; ``parse_ib_symbol`` raises ValueError for a malformed local symbol; ``front_month`` returns None when
nothing is listed after ``today``. No I/O.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from trading.brokers.ib_api import ibapi
from trading.domain.contracts import parse_ib_symbol
from trading.domain.instruments import InstrumentSpec, crypto_pair, futures_root


class IBContractError(ValueError):
    """A symbol that has no Interactive Brokers contract, or one IB does not know."""


def contract_request(symbol: str, spec: InstrumentSpec, today: date | None = None) -> Any:
    """The unqualified ib_async contract for ``symbol`` (its registry ``spec``)."""
    key = symbol.strip().upper()
    cls = spec.asset_class
    if cls == "future":
        root = futures_root(key) or spec.root
        if key == root:        # a bare root: IB lists the months, the front one is picked
            return ibapi.Future(symbol=root, exchange=spec.exchange, currency=spec.currency)
        fut = parse_ib_symbol(key, today=today)
        return ibapi.Future(symbol=fut.root, lastTradeDateOrContractMonth=fut.expiry_month, exchange=spec.exchange,
                            currency=spec.currency)
    if cls == "stock":
        ib_symbol = spec.root.replace(".", " ").replace("-", " ").replace("/", " ")   # BRK.B is IB's "BRK B"
        return ibapi.Stock(ib_symbol, "SMART", spec.currency, primaryExchange=spec.primary_exchange)
    if cls == "fx":
        return ibapi.Forex(spec.root)
    if cls == "crypto":
        base = (crypto_pair(key) or (spec.root, spec.currency))[0]
        return ibapi.Crypto(base, "PAXOS", spec.currency)
    if cls == "prediction":
        raise IBContractError(f"{symbol} is a Polymarket share: IB does not trade it; use --broker polymarket")
    if cls == "perpetual":
        raise IBContractError(f"{symbol} is a crypto perpetual: IB has none; trade the spot pair (e.g. BTCUSD, "
                              "PAXOS) or a CME crypto future (e.g. MBTZ5)")
    raise IBContractError(f"{symbol} is declared asset_class {cls!r}: IB contracts exist for future, stock, fx and "
                          f"crypto; declare [instruments.{key}] with one of them")


def describe(contract: Any) -> str:
    """``STK SPY SMART USD (primary ARCA)`` for messages."""
    parts = [contract.secType, contract.symbol, contract.lastTradeDateOrContractMonth, contract.exchange,
             contract.currency]
    text = " ".join(str(p) for p in parts if p)
    return text + (f" (primary {contract.primaryExchange})" if getattr(contract, "primaryExchange", "") else "")


def front_month(contracts: Sequence[Any], today: date) -> Any | None:
    """The listed future expiring first on or after ``today`` (IB's lastTradeDateOrContractMonth)."""
    day = today.strftime("%Y%m%d")

    def expiry(c: Any) -> str:      # a month without a day (202512) counts to the month's end
        v = str(c.lastTradeDateOrContractMonth)[:8]
        return v if len(v) == 8 else v + "31"

    live = [c for c in contracts if c is not None and expiry(c) >= day]
    return min(live, key=expiry) if live else None
