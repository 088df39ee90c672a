"""The instrument registry: what a symbol is (asset class, multiplier, tick, currency, venue, session),
tick rounding in the safe direction, and position sizing that is never absurd for the instrument.

Resolution order for a symbol: a user's ``[instruments.NAME]`` table (``configure``), a CME futures root
(ES) or IB local symbol (ESZ5 -> ES), a Polymarket share (token id, ``POLY:...``, ``...-updown-...``), a
perpetual (BTC-PERP, BTCUSDT.P, BTC-USDT-SWAP, ETH/USDC:USDC), a crypto pair (BTCUSDT, BTC-USD, BTC/USDT, ETHBTC), an
FX pair (EURUSD, EUR/USD), a plain US stock or ETF ticker (SPY, AAPL, BRK.B). The tables are in
``instrument_table``.

Failure contract: ``resolve`` raises ``UnknownInstrument`` (a ValueError whose message starts "no contract
spec for symbol" and names the ``[instruments.NAME]`` table and fields to declare); ``configure`` raises
ValueError naming a bad table; the rounding and sizing functions are pure and raise ValueError for a
non-positive tick or a non-finite price. No I/O.
"""
from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trading.domain import instrument_table as T
from trading.domain.fx import FxRates
from trading.domain.fx import current as current_fx

log = logging.getLogger(__name__)
_WARNED: set[tuple[str, str]] = set()   # (symbol, refusal code) already warned about in this process

AssetClass = Literal["future", "stock", "crypto", "perpetual", "fx", "prediction", "other"]


class InstrumentSpec(BaseModel, frozen=True):
    root: str                     # the registry key: ES for ESZ5, BTCUSDT for BTC/USDT
    multiplier: float             # the instrument's currency per point per unit (contract, share, coin)
    venue: str                    # "ib" | "polymarket" | "crypto" | "paper" | what the user declares
    tick: float = 0.01            # minimum price increment
    bounded_payoff: bool = False  # True for binary shares: worst case is the premium paid
    exchange: str = ""
    currency: str = "USD"
    asset_class: AssetClass = "future"
    qty_step: float = 1.0         # minimum size increment (0.00001 BTC, 1 contract, 1 share)
    session: str = ""             # exchange calendar name where one applies (NYSE, CME_Equity); "" = 24/7
    description: str = ""
    primary_exchange: str = ""    # a stock's listing exchange (ARCA, NASDAQ): disambiguates IB's SMART routing
    # paper commission overrides; None = the asset class's default (trading.domain.commissions)
    commission_per_unit: float | None = None
    commission_bps: float | None = None
    commission_min: float | None = None
    commission_max_pct: float | None = None

    @property
    def quote_precision(self) -> int:
        """Decimals a price of this instrument carries (from its tick)."""
        return max(0, -Decimal(repr(self.tick)).normalize().as_tuple().exponent)  # type: ignore[operator]


class InstrumentDecl(BaseModel):
    """One ``[instruments.NAME]`` table in warden.toml: every field of InstrumentSpec but the key.

    With ``asset_class`` it declares the whole instrument (``multiplier`` and ``tick`` required, the rest
    defaulted). Without it, it overrides only the fields it names on the built-in spec of NAME
    (``[instruments.SPY] commission_per_unit = 0.0035``)."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    asset_class: AssetClass | None = None
    multiplier: float | None = Field(default=None, gt=0)
    tick: float | None = Field(default=None, gt=0)
    currency: str = Field(default="USD", pattern=T.CURRENCY_PATTERN)   # PnL, notional and fees are in it
    venue: str = "paper"
    exchange: str = ""
    qty_step: float = Field(default=1.0, gt=0)
    session: str = ""
    bounded_payoff: bool = False
    description: str = ""
    primary_exchange: str = ""
    commission_per_unit: float | None = Field(default=None, ge=0)
    commission_bps: float | None = Field(default=None, ge=0)
    commission_min: float | None = Field(default=None, ge=0)
    commission_max_pct: float | None = Field(default=None, gt=0)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v     # "eur " is EUR; "US dollar" still fails


DECLARE_HINT = ("declare it in warden.toml as [instruments.{name}] with asset_class "
                "(future|stock|crypto|perpetual|fx|prediction|other), multiplier, tick and optionally currency, "
                "venue, exchange, qty_step, session, commission_per_unit, commission_bps, commission_min")


class UnknownInstrument(ValueError):
    """A symbol the registry cannot resolve; the message says how to declare it."""


_USER: dict[str, InstrumentSpec] = {}
_IB_SYMBOL = re.compile(r"^(?P<root>[A-Z0-9]{1,4}?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,2})$")
_STOCK = re.compile(r"^[A-Z]{1,5}([.\-/][A-Z])?$")
_PERP = re.compile(r"^(?P<pair>[A-Z0-9][A-Z0-9/_-]*?)(?:[-_]?PERP|\.P|-SWAP|_PERPETUAL)$")
_SEP_PAIR = re.compile(r"^(?P<base>[A-Z0-9]{2,12})[-/_](?P<quote>[A-Z0-9]{2,6})$")


def configure(tables: Mapping[str, Any]) -> None:
    """Install the user's ``[instruments.NAME]`` tables (replacing earlier ones); they win over built-ins."""
    merged: dict[str, dict[str, Any]] = {}       # one table per name: WARDEN_INSTRUMENTS__SPY__... and [instruments.SPY]
    for name, table in tables.items():
        try:
            d = table if isinstance(table, InstrumentDecl) else InstrumentDecl.model_validate(table)
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"[instruments.{name}] is invalid: {errs}") from None
        merged.setdefault(name.strip().upper(), {}).update(d.model_dump(exclude_unset=True))   # later tables win
    new = {key: _declared(key, InstrumentDecl.model_validate(fields)) for key, fields in merged.items()}
    _USER.clear()
    _USER.update(new)


def _declared(key: str, d: InstrumentDecl) -> InstrumentSpec:
    """A full declaration (with asset_class), or the named fields laid over the built-in spec of ``key``."""
    if d.asset_class is not None:
        missing = [f for f in ("multiplier", "tick") if getattr(d, f) is None]
        if missing:
            raise ValueError(f"[instruments.{key}] is invalid: {', '.join(missing)}: required with asset_class")
        return InstrumentSpec(root=key, **d.model_dump())
    saved = dict(_USER)
    _USER.clear()            # the built-in spec, not an earlier table of the same name
    try:
        base = resolve(key)
    except UnknownInstrument:
        raise ValueError(f"[instruments.{key}] is invalid: {key} is no built-in instrument, so the table must "
                         "declare asset_class, multiplier and tick") from None
    finally:
        _USER.update(saved)
    return base.model_copy(update={k: v for k, v in d.model_dump(exclude_unset=True).items() if v is not None})


def _future(root: str) -> InstrumentSpec:
    mult, tick, exch, cal, desc = T.FUTURES[root]
    return InstrumentSpec(root=root, multiplier=mult, venue="ib", tick=tick, exchange=exch, asset_class="future",
                          session=cal, description=desc)


def futures_root(symbol: str) -> str | None:
    """ES for ES, ESZ5 or ESZ25; None when the symbol is no futures contract we know."""
    s = symbol.strip().upper()
    if s in _USER and _USER[s].asset_class == "future":
        return s
    if s in T.FUTURES and s not in T.FUTURES_ONLY_WITH_MONTH:
        return s
    m = _IB_SYMBOL.match(s)
    if m and (m.group("root") in T.FUTURES or _USER.get(m.group("root"), None) is not None):
        return m.group("root")
    return None


def _crypto(base: str, quote: str, *, perp: bool, key: str) -> InstrumentSpec:
    # a cent for BTC/ETH in dollars; otherwise 8 decimals, so 0.0000123 BTC or a 0.000012 USD coin never rounds to 0
    tick = 0.01 if base in T.CENT_TICK_BASES and quote not in T.CRYPTO_UNIT_QUOTES else 1e-8
    currency = "USD" if quote in T.USD_STABLES else quote
    return InstrumentSpec(root=key, multiplier=1.0, venue="crypto", tick=tick, currency=currency,
                          asset_class="perpetual" if perp else "crypto", qty_step=1e-8 if base != "SHIB" else 1.0,
                          description=f"{base}/{quote} {'perpetual' if perp else 'spot'}")


def _split_pair(s: str) -> tuple[str, str] | None:
    m = _SEP_PAIR.match(s)
    if m:
        base, quote = m.group("base"), m.group("quote")
        if quote in T.CRYPTO_QUOTES or base in T.CRYPTO_BASES:
            return base, quote
        return None
    splits = [(s[:-len(q)], q) for q in T.CRYPTO_QUOTES if s.endswith(q) and len(s) > len(q) + 1]
    known = [(b, q) for b, q in splits if b in T.CRYPTO_BASES]     # XBTUSD is XBT/USD, not XB/TUSD
    generic = [(b, q) for b, q in splits if len(s) >= 6 and b.isalnum()]
    found = known or generic
    return found[0] if found else None


def crypto_pair(symbol: str) -> tuple[str, str] | None:
    """(base, quote) of a crypto pair symbol: BTCUSDT, BTC-USD, BTC/USDT -> ("BTC", "USDT"); None otherwise."""
    return _split_pair(symbol.strip().upper())


def _fx(s: str) -> InstrumentSpec | None:
    pair = s.replace("/", "").replace(".", "").replace("-", "").replace("_", "")
    if len(pair) != 6 or pair[:3] not in T.FX_CURRENCIES or pair[3:] not in T.FX_CURRENCIES or pair[:3] == pair[3:]:
        return None
    tick = 0.001 if pair[3:] == "JPY" else 0.00001
    return InstrumentSpec(root=pair, multiplier=1.0, venue="fx", tick=tick, currency=pair[3:], asset_class="fx",
                          qty_step=1.0, description=f"{pair[:3]}/{pair[3:]} spot FX (quantity in {pair[:3]})")


def resolve(symbol: str) -> InstrumentSpec:
    """The spec for ``symbol``; raises UnknownInstrument naming the table to declare."""
    s = symbol.strip().upper()
    if s in _USER:
        return _USER[s]
    root = futures_root(s)
    if root is not None:
        return _USER.get(root) or _future(root)
    if s.isdigit() or s.startswith("POLY:") or "-UPDOWN-" in s or s == "POLY":
        return InstrumentSpec(root="POLY", multiplier=1.0, venue="polymarket", tick=0.01, bounded_payoff=True,
                              asset_class="prediction", qty_step=0.01, description="Polymarket share (pays 1 or 0)")
    if s.count(":") == 1 and not s.startswith("POLY:"):      # ccxt/freqtrade futures: ETH/USDC:USDC
        pair = _split_pair(s.split(":")[0])
        if pair is not None:
            return _crypto(pair[0], pair[1], perp=True, key=s)
    perp = _PERP.match(s)
    if perp:
        pair = _split_pair(perp.group("pair")) or (perp.group("pair"), "USD")
        return _crypto(pair[0], pair[1], perp=True, key=s)
    fx = _fx(s)
    if fx is not None:
        return fx
    pair = _split_pair(s)
    if pair is not None:
        return _crypto(pair[0], pair[1], perp=False, key=s)
    if s in T.CRYPTO_BASES:
        raise UnknownInstrument(
            f"no contract spec for symbol {symbol!r}: {s} is a crypto asset, not a tradable pair; name the pair "
            f"({s}USDT, {s}-USD, {s}/USDT, {s}-PERP) or {DECLARE_HINT.format(name=s)}")
    if _STOCK.match(s):
        return InstrumentSpec(root=s, multiplier=1.0, venue="ib", tick=0.01, exchange="SMART", asset_class="stock",
                              session="NYSE", description="US stock / ETF")
    raise UnknownInstrument(f"no contract spec for symbol {symbol!r}; {DECLARE_HINT.format(name=s or 'NAME')}")


# --- rounding in the safe direction -------------------------------------------------------------------------

def _to_tick(price: float, tick: float, mode: str) -> float:
    if not (math.isfinite(price) and math.isfinite(tick)) or tick <= 0:
        raise ValueError(f"cannot round price {price!r} to tick {tick!r}")
    t = Decimal(repr(tick))
    n = (Decimal(repr(price)) / t).to_integral_value(rounding=mode)
    return float(n * t)


def round_price(price: float, tick: float) -> float:
    """Nearest tick (ties to even): for marks and displayed levels, never for protective orders."""
    return _to_tick(price, tick, ROUND_HALF_EVEN)


def round_stop(stop: float, tick: float, *, long: bool) -> float:
    """A long's stop rounds down, a short's up: rounding only ever widens the stop, never crosses the price."""
    return _to_tick(stop, tick, ROUND_FLOOR if long else ROUND_CEILING)


def round_target(target: float, tick: float, *, long: bool) -> float:
    """A target rounds toward the entry (a long's down, a short's up): never promised beyond the level."""
    return _to_tick(target, tick, ROUND_FLOOR if long else ROUND_CEILING)


def round_qty_down(qty: float, step: float) -> float:
    """Size rounds down to the step: rounding never adds risk."""
    return _to_tick(qty, step, ROUND_FLOOR)


# --- position sizing -----------------------------------------------------------------------------------------

class SizeDecision(BaseModel, frozen=True):
    qty: float                    # 0 = do not enter
    reason: str = ""              # why the size is what it is, or why it is refused
    notional: float = 0.0         # in the account currency
    code: str = ""                # a refusal's reason code (trading.domain.reason_codes), "" when sized
    wanted: float = 0.0           # the quantity a refusal would have sent (0 when it rounds to nothing)


def size_position(spec: InstrumentSpec, *, entry: float, stop: float | None, fixed_qty: float,
                  risk_per_trade: float | None, equity: float | None, max_notional_x: float,
                  max_qty: float = math.inf, fx: FxRates | None = None) -> SizeDecision:
    """A fixed quantity, or with ``risk_per_trade`` the quantity whose stop-out loses that much; refused
    (qty 0, a reason and its code) when the notional exceeds ``max_notional_x`` x equity (NOTIONAL_CAP),
    the size rounds to nothing (SIZE_ROUNDS_TO_ZERO) or a risk-based size has no stop (MISSING_PROTECTION).
    A risk-based size is capped at ``max_qty`` (the position guard's limit), never above it.
    ``risk_per_trade`` and ``equity`` are in the account currency: the instrument's money (its currency)
    is converted with ``fx`` (default: the configured rates); no rate is FX_RATE_MISSING, never 1."""
    rates = fx or current_fx()
    rate = rates.rate(spec.currency)
    if rate is None and (risk_per_trade is not None or equity is not None):
        return SizeDecision(qty=0.0, code="FX_RATE_MISSING", reason=rates.missing(spec.currency))
    acct = rates.account
    per_point = spec.multiplier * (rate or 1.0)         # account currency per point per unit
    if risk_per_trade is not None and not spec.bounded_payoff:
        if stop is None or not math.isfinite(stop) or stop == entry:
            return SizeDecision(qty=0.0, code="MISSING_PROTECTION",
                                reason="risk-based sizing needs a protective stop away from the entry")
        raw = risk_per_trade / (abs(entry - stop) * per_point)
        qty = round_qty_down(min(raw, max_qty), spec.qty_step)
        fx_part = f" x {rate:g} {acct}/{spec.currency}" if rate != 1.0 else ""
        why = (f"risk-based: {risk_per_trade:g} {acct} / ({abs(entry - stop):g} x {spec.multiplier:g}{fx_part}) "
               f"= {raw:.8g} -> {qty:g} (step {spec.qty_step:g}, cap {max_qty:g})")
    else:
        qty = round_qty_down(fixed_qty, spec.qty_step) if fixed_qty >= spec.qty_step else fixed_qty
        why = f"fixed: {qty:g}"
    notional = abs(entry) * qty * per_point             # in the account currency
    if qty <= 0:
        return SizeDecision(qty=0.0, code="SIZE_ROUNDS_TO_ZERO",
                            reason=f"{why}: rounds to nothing at a size step of {spec.qty_step:g}")
    if equity is not None and equity > 0 and notional > max_notional_x * equity:
        return SizeDecision(qty=0.0, notional=notional, code="NOTIONAL_CAP", wanted=qty,
                            reason=f"{why}: notional {notional:,.2f} {acct} of {spec.root} exceeds "
                                   f"{max_notional_x:g} x equity {equity:,.2f} (guards.max_notional_x_equity)")
    return SizeDecision(qty=qty, reason=why, notional=notional)


def fx_note(symbol: str) -> str | None:
    """A start-up warning when ``symbol``'s money has no rate into the account currency (every entry on it
    will be blocked FX_RATE_MISSING), else None; None for a symbol the registry does not know."""
    try:
        spec = resolve(symbol)
    except UnknownInstrument:
        return None
    rates = current_fx()
    if rates.rate(spec.currency) is not None:
        return None
    return (f"{spec.root} is quoted in {spec.currency}: every entry will be blocked (FX_RATE_MISSING), exits "
            f"still go out; {rates.missing(spec.currency)}")


def size_entry(symbol: str, entry: float, stop: float | None, fixed_qty: float, guards: Any,
               equity: float | None, trade_cycle_id: str) -> SizeDecision:
    """The entry size for the session loop: ``guards.risk_per_trade`` / ``max_notional_x_equity`` applied
    to the instrument; ``qty`` 0.0 means refused (logged at WARNING with the trade cycle id, the reason and
    its code)."""
    try:
        spec = resolve(symbol)
    except UnknownInstrument:       # the venue refuses the unknown symbol itself, with its own error
        return SizeDecision(qty=fixed_qty, reason="unknown instrument: the venue judges it")
    decision = size_position(spec, entry=entry, stop=stop, fixed_qty=fixed_qty,
                             risk_per_trade=getattr(guards, "risk_per_trade", None), equity=equity,
                             max_notional_x=getattr(guards, "max_notional_x_equity", 10.0),
                             max_qty=getattr(guards, "max_position_qty", math.inf))
    if not decision.qty:
        # the first refusal of each kind per symbol is a warning; the rest are counted in the summary and
        # logged at info (a run without an [fx] rate would otherwise print one warning per signal)
        first = (symbol, str(decision.code)) not in _WARNED
        _WARNED.add((symbol, str(decision.code)))
        log.log(logging.WARNING if first else logging.INFO, "entry %s on %s not sized (%s): %s%s", trade_cycle_id,
                symbol, decision.code, decision.reason, " (further ones are counted in the summary)" if first else "")
    return decision
