"""PnL is never added across currencies: a money question over trades in several currencies is answered
once per currency.

Each outcomes-table row carries the ``currency`` its ``pnl_usd`` is counted in (USD for futures, stocks
and USD/stablecoin-quoted crypto; USDC for Polymarket; BTC for ETHBTC; JPY for USDJPY; what a user's
``[instruments.NAME]`` table declares). USD stablecoins count as USD (the registry's rule), so a
Polymarket share and an ES trade are added; BTC and USD never are. ``run_in_currencies`` wraps the query executor
(tools/memory/questions.py):
- a money metric (total/average PnL, average win/loss, expectancy, drawdown, profit factor, payoff ratio,
  MAE/MFE, best/worst) over trades in more than one currency runs once per currency: one figure per
  currency (groups, ranked rows and comparison sides labelled ``[CCY]``), the overall value None and a
  note naming the currencies and their trade counts;
- counts, win rates, R-multiples, streaks and holding times mix currencies safely and run as usual; a
  group's PnL is shown only when its trades share one currency (else it is None, currency "BTC, USD");
- every group, ranked row and comparison side says its ``currency``; a coin's amounts keep 8 decimals
  (the executor rounds to cents, so they run scaled by ``COIN_SCALE``) and a non-USD amount is written
  ``0.0123 BTC`` / ``1,750 JPY``, never ``$``.

Failure contract: pure; never raises on a valid ``Query`` over a conformed outcomes frame (a frame with
no ``currency`` column counts as USD).
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from tools.memory.metrics import money
from tools.memory.query import SMALL_SAMPLE, Query, QueryResult
from trading.records.outcome_schema import money_decimals, same_money

MONEY_METRICS = frozenset({"pnl", "avg_pnl", "avg_win", "avg_loss", "expectancy", "max_drawdown", "profit_factor",
                           "payoff_ratio", "mae", "mfe", "best", "worst"})
AMOUNT_METRICS = MONEY_METRICS - {"profit_factor", "payoff_ratio"}     # values written as money
DEFAULT_CURRENCY = "USD"
COIN_SCALE = 1e6
_AMOUNT_COLUMNS = ("pnl_usd", "gross_pnl_usd", "fees_usd", "worst_case_loss", "max_loss_per_trade", "mae_usd",
                   "mfe_usd")
RunOne = Callable[[pd.DataFrame, Query], QueryResult]
_SEEN: dict[int, tuple[weakref.ref[pd.DataFrame], Any]] = {}      # frame -> its currencies
_SPLIT: dict[int, tuple[weakref.ref[pd.DataFrame], Any]] = {}     # frame -> its rows per currency


def money_in(x: float | None, currency: str | None = DEFAULT_CURRENCY) -> str:
    """$1,234.50 for USD; 0.0123 BTC, 1,750 JPY otherwise; "not added (BTC, USD)" for a mixed group."""
    ccy = (currency or DEFAULT_CURRENCY).upper()
    if x is None:
        return f"not added ({ccy})" if "," in ccy else "n/a"
    ccy = same_money(ccy)
    return money(x) if ccy == DEFAULT_CURRENCY else f"{x:,.8g} {ccy}"


def _per_frame(cache: dict[int, tuple[weakref.ref[pd.DataFrame], Any]], df: pd.DataFrame,
               build: Callable[[pd.DataFrame], Any]) -> Any:
    """``build(df)``, kept while this very frame object lives (the outcomes table hands out one frame per
    file version), so repeated questions over it pay once."""
    hit = cache.get(id(df))
    if hit is None or hit[0]() is not df:
        if len(cache) > 4:
            cache.clear()
        hit = (weakref.ref(df), build(df))
        cache[id(df)] = hit
    return hit[1]


def currencies(df: pd.DataFrame) -> list[str]:
    """The distinct currencies of a frame's rows, sorted."""
    if df.empty:
        return []
    if "currency" not in df.columns:
        return [DEFAULT_CURRENCY]
    found: list[str] = _per_frame(_SEEN, df, lambda d: sorted({same_money(str(c))
                                                                for c in d["currency"].dropna().unique()}))
    return found or [DEFAULT_CURRENCY]


def _split(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The frame's rows per currency, a coin's amounts already scaled (kept per frame object, so the
    executor's own per-frame cache holds across questions)."""
    def build(d: pd.DataFrame) -> dict[str, pd.DataFrame]:
        out = {}
        raw = d["currency"].astype(object).where(d["currency"].notna(), DEFAULT_CURRENCY)
        family = raw.map({c: same_money(str(c)) for c in raw.unique()}).to_numpy(dtype=object)
        for ccy in currencies(d):
            sub = d[family == ccy]
            k = _scale_of(ccy)
            out[ccy] = sub if k == 1.0 else sub.assign(**{c: sub[c] * k for c in _AMOUNT_COLUMNS if c in sub.columns})
        return out

    split: dict[str, pd.DataFrame] = _per_frame(_SPLIT, df, build)
    return split


def _scale_of(ccy: str) -> float:
    return 1.0 if money_decimals(ccy) == 2 else COIN_SCALE


def _ids_mask(df: pd.DataFrame, ids: list[str]) -> np.ndarray:
    """Rows whose trade_cycle_id is in ``ids`` (a set lookup: Series.isin on Arrow strings is ~50x slower)."""
    want = set(ids)
    col = df["trade_cycle_id"].to_numpy(dtype=object)
    return np.fromiter((x in want for x in col), dtype=bool, count=len(col))


def _run_in(df: pd.DataFrame, q: Query, run_one: RunOne, ccy: str, scaled: bool = False) -> QueryResult:
    """``run_one`` over trades in one currency (a coin's amounts scaled up for the run, unless ``scaled``
    says they are, and back after); every group, row and side is labelled ``ccy``, money written in it."""
    k = _scale_of(ccy)
    amounts = q.metric in AMOUNT_METRICS
    if k != 1.0 and not scaled:
        df = df.assign(**{c: df[c] * k for c in _AMOUNT_COLUMNS if c in df.columns})
    res = run_one(df, q)

    def back(v: Any) -> Any:
        return round(v / k, 10) if k != 1.0 and isinstance(v, (int, float)) and not isinstance(v, bool) else v

    if amounts:
        res.value = back(res.value)
        if res.value is not None:
            res.value_text = money_in(res.value, ccy)
    for g in res.groups:
        g["currency"], g["pnl_usd"] = ccy, back(g.get("pnl_usd"))
        if amounts and g.get("value") is not None:
            g["value"] = back(g["value"])
            g["value_text"] = money_in(g["value"], ccy)
    for r in res.rows:
        r["currency"], r["pnl_usd"] = ccy, back(r.get("pnl_usd"))
    for side in res.comparison:
        side["currency"] = ccy
        if amounts and side.get("value") is not None:
            side["value"] = back(side["value"])
            side["value_text"] = money_in(side["value"], ccy)
    return res


def run_in_currencies(df: pd.DataFrame, q: Query, run_one: RunOne) -> QueryResult:
    """``run_one(df, q)`` with every amount in its own currency; never a sum across currencies."""
    have = currencies(df)
    if len(have) <= 1:
        return _run_in(df, q, run_one, have[0] if have else DEFAULT_CURRENCY)
    if q.metric not in MONEY_METRICS and not q.group_by:
        return _mixed_groups(run_one(df, q), df, [])
    parts = [(ccy, _run_in(sub, q, run_one, ccy, scaled=True)) for ccy, sub in _split(df).items()]
    parts = [(ccy, p) for ccy, p in parts if p.n or any(side["n"] for side in p.comparison)]
    if q.metric not in MONEY_METRICS:
        return _mixed_groups(run_one(df, q), df, parts)
    if len(parts) <= 1:                    # the filter leaves one currency: that run is the answer
        if not parts:
            return run_one(df, q)
        parts[0][1].table_rows = len(df)
        return parts[0][1]
    n = sum(p.n for _, p in parts)
    wins = sum(p.wins for _, p in parts)
    groups: list[dict[str, Any]] = []
    for ccy, p in parts:
        for g in p.groups:
            g["key"] = f"{g['key']} [{ccy}]"
        for side in p.comparison:
            side["side"] = f"{side['side']} [{ccy}]"
        p.code = f"# the trades in {ccy} only: outcomes = outcomes[outcomes['currency'] == {ccy!r}]\n" + p.code
        if q.group_by:
            groups += p.groups
        elif p.n and q.top is None:
            groups.append({"key": ccy, "currency": ccy, "n": p.n, "wins": p.wins,
                           "pnl_usd": p.value if q.metric == "pnl" else _pnl(_split(df)[ccy], p.cited, ccy),
                           "value": p.value, "value_text": p.value_text, "small_sample": p.small_sample})
    listed = ", ".join(f"{p.n} in {ccy}" for ccy, p in parts)
    note = (f"the matching trades are in {len(parts)} currencies ({listed}); PnL is never added across "
            + ("currencies, so the trades are ranked within each currency" if q.top is not None
               else "currencies, so each figure is for one currency"))
    return QueryResult(query=q, code="\n".join(p.code for _, p in parts), n=n, wins=wins, losses=n - wins,
                       value=None, value_text="", groups=groups, rows=[r for _, p in parts for r in p.rows],
                       comparison=[s for _, p in parts for s in p.comparison],
                       cited=[c for _, p in parts for c in p.cited], table_rows=len(df), small_sample=n < SMALL_SAMPLE,
                       note="; ".join(x for x in [note] + [p.note for _, p in parts] if x))


def _mixed_groups(res: QueryResult, df: pd.DataFrame, parts: list[tuple[str, QueryResult]]) -> QueryResult:
    """A currency-safe metric over several currencies: its value stands; each group's PnL is the one of
    its currency, or None when its trades are in several; ranked rows carry their own currency."""
    for g in res.groups:
        found = [(ccy, pg) for ccy, p in parts for pg in p.groups if pg["key"] == g["key"]]
        if len(found) == 1:
            g["currency"], g["pnl_usd"] = found[0][0], found[0][1]["pnl_usd"]
        else:
            g["currency"], g["pnl_usd"] = ", ".join(ccy for ccy, _ in found), None
    by_id = df.loc[_ids_mask(df, [r["trade_cycle_id"] for r in res.rows]), ["trade_cycle_id", "currency", "pnl_usd"]] \
        .set_index("trade_cycle_id") if res.rows else None
    for r in res.rows:
        if by_id is not None and r["trade_cycle_id"] in by_id.index:
            ccy = same_money(str(by_id.at[r["trade_cycle_id"], "currency"]))
            r["currency"] = ccy
            r["pnl_usd"] = round(float(by_id.at[r["trade_cycle_id"], "pnl_usd"]), 2 if _scale_of(ccy) == 1.0 else 8)
    return res


def _pnl(sub: pd.DataFrame, ids: list[str], ccy: str) -> float:
    """The PnL of these trades of one currency's (scaled) frame, in that currency."""
    k = _scale_of(ccy)
    return round(float(sub.loc[_ids_mask(sub, ids), "pnl_usd"].sum()) / k, 2 if k == 1.0 else 8)
