"""Pandas tools for numeric questions over the outcomes table (tools/memory/outcomes_table.py).

A ``NumericQuery`` (metric, filters, optional grouping, as-of) becomes ONE ``DataFrame.query`` expression
plus one aggregation. The expression string that runs is the one returned in ``QueryResult.code``, so an
answer can show exactly what it computed. Every number an answer may quote is in ``QueryResult``.

Failure contract: ``run_query`` is pure and never raises on a valid ``NumericQuery``: no matching
row gives n == 0 (the answer then says the data cannot answer), an unknown reason code matches nothing.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from tools.memory.outcomes_table import RC_PREFIX

Metric = Literal["win_rate", "pnl", "avg_pnl", "count", "best", "worst"]
GroupBy = Literal["reason_code", "symbol", "asset", "venue", "advisory_action", "side", "regime", "exit_reason",
                  "day", "week", "has_stop", "won"]
MAX_CITED_TEXT = 12          # ids written into an answer's text; the JSON carries them all

METRIC_LABEL = {"win_rate": "win rate", "pnl": "total PnL", "avg_pnl": "average PnL per trade",
                "count": "number of trades", "best": "best trades", "worst": "worst trades"}


class QueryFilter(BaseModel):
    advisory: str | None = None            # WAIT | BUY | SELL | NONE (no advisory at all)
    side: str | None = None                # BUY (long) | SELL (short)
    asset: str | None = None               # ES, MES, NQ, BTC, ...
    symbol: str | None = None
    venue: str | None = None               # ib | polymarket | paper
    reason_codes: list[str] = Field(default_factory=list)
    has_stop: bool | None = None
    won: bool | None = None
    regime_trend: str | None = None        # trend_up | trend_down | range
    regime_vol: str | None = None          # low_vol | normal_vol | high_vol
    exit_reason: str | None = None
    since: datetime | None = None          # closed_at >= since
    until: datetime | None = None          # closed_at < until

    def describe(self) -> str:
        """Plain words for the filters, for the answer's first line."""
        bits = []
        if self.advisory == "NONE":
            bits.append("with no advisory")
        elif self.advisory:
            bits.append(f"placed against a {self.advisory} advisory" if self.advisory == "WAIT"
                        else f"when the advisory said {self.advisory}")
        if self.side:
            bits.append("long" if self.side == "BUY" else "short")
        if self.asset:
            bits.append(f"in {self.asset}")
        if self.symbol:
            bits.append(f"in {self.symbol}")
        if self.venue:
            bits.append(f"on {self.venue}")
        if self.reason_codes:
            bits.append("flagged " + " and ".join(self.reason_codes))
        if self.has_stop is False:
            bits.append("with no protective stop")
        elif self.has_stop:
            bits.append("with a protective stop")
        if self.won is not None:
            bits.append("that won" if self.won else "that lost")
        if self.regime_trend or self.regime_vol:
            bits.append("in a " + " ".join(x for x in (self.regime_trend, self.regime_vol) if x) + " regime")
        if self.exit_reason:
            bits.append(f"exited by {self.exit_reason}")
        if self.since or self.until:
            lo = self.since.date().isoformat() if self.since else "the start"
            hi = self.until.date().isoformat() if self.until else "now"
            bits.append(f"closed from {lo} to before {hi}" if self.until else f"closed since {lo}")
        return ", ".join(bits)


class NumericQuery(BaseModel):
    metric: Metric
    filter: QueryFilter = Field(default_factory=QueryFilter)
    group_by: GroupBy | None = None
    as_of: datetime | None = None          # never count a trade closed after this


class QueryResult(BaseModel):
    query: NumericQuery
    code: str                               # the pandas that ran, verbatim
    n: int                                  # trades matching the filter
    wins: int = 0
    losses: int = 0
    value: float | None = None              # the metric (percent for win_rate, USD for PnL)
    value_text: str = ""                    # the metric as the answer writes it
    groups: list[dict[str, Any]] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list)   # best/worst trades
    cited: list[str] = Field(default_factory=list)             # trade_cycle_ids behind the number
    table_rows: int = 0                     # size of the table the query ran on
    note: str = ""


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, datetime):
        v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        return f'"{v.isoformat()}"'
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def expression(q: NumericQuery) -> str:
    f = q.filter
    parts = []
    for key, col in (("advisory", "advisory_action"), ("side", "side"), ("asset", "asset"), ("symbol", "symbol"),
                     ("venue", "venue"), ("has_stop", "has_stop"), ("won", "won"), ("regime_trend", "regime_trend"),
                     ("regime_vol", "regime_vol"), ("exit_reason", "exit_reason")):
        v = getattr(f, key)
        if v is not None:
            parts.append(f"{col} == {_lit(v)}")
    parts += [f"`{RC_PREFIX}{c}` == True" for c in f.reason_codes]
    if f.since is not None:
        parts.append(f"closed_at >= {_lit(f.since)}")
    if f.until is not None:
        parts.append(f"closed_at < {_lit(f.until)}")
    if q.as_of is not None:
        parts.append(f"closed_at <= {_lit(q.as_of)}")
    return " and ".join(parts)


def money(x: float) -> str:
    return f"-${abs(x):,.2f}" if x < 0 else f"${x:,.2f}"


def pct(x: float) -> str:
    return f"{x:.1f}%"


def _group_frame(t: pd.DataFrame, by: str) -> tuple[pd.DataFrame, str, str]:
    """(frame with a 'key' column, pandas shown for it, caveat)."""
    if by == "reason_code":
        g = t.assign(key=t["reason_codes"].where(t["reason_codes"] != "", "(none)").str.split("|")).explode("key")
        return g, 't.assign(key=t["reason_codes"].where(t["reason_codes"] != "", "(none)").str.split("|")).explode("key")', \
            "a trade flagged with several reason codes counts under each of them"
    if by == "day":
        return t.assign(key=t["closed_date"]), 't.assign(key=t["closed_date"])', ""
    if by == "week":
        return t.assign(key=t["closed_at"].dt.strftime("%G-W%V")), 't.assign(key=t["closed_at"].dt.strftime("%G-W%V"))', ""
    col = {"advisory_action": "advisory_action", "regime": "regime"}.get(by, by)
    return t.assign(key=t[col].astype("string").fillna("(none)")), f't.assign(key=t["{col}"])', ""


def run_query(df: pd.DataFrame, q: NumericQuery) -> QueryResult:
    """Run ``q`` on the outcomes table ``df``. Pure: same table, same query, same result."""
    df = df.copy()
    for c in q.filter.reason_codes:                  # a code never seen is a column of False, not an error
        if RC_PREFIX + c not in df.columns:
            df[RC_PREFIX + c] = False
    expr = expression(q)
    t = df.query(expr) if expr else df
    lines = [f"t = outcomes.query('{expr}')" if expr else "t = outcomes"]
    t = t.sort_values(["closed_at", "trade_cycle_id"], kind="stable")
    n = len(t)
    wins = int(t["won"].sum()) if n else 0
    res = QueryResult(query=q, code="", n=n, wins=wins, losses=n - wins, table_rows=len(df),
                      cited=t["trade_cycle_id"].astype(str).tolist())
    if n == 0:
        res.code = "\n".join(lines + ["len(t)  # 0: nothing to compute"])
        res.note = "no trade in the table matches these filters"
        return res
    m = q.metric
    if q.group_by:
        g, shown, caveat = _group_frame(t, q.group_by)
        agg = g.groupby("key", dropna=False).agg(n=("won", "size"), wins=("won", "sum"), pnl_usd=("pnl_usd", "sum"))
        agg["win_rate_pct"] = agg["wins"] / agg["n"] * 100
        agg["avg_pnl_usd"] = agg["pnl_usd"] / agg["n"]
        sort_col = {"win_rate": "win_rate_pct", "pnl": "pnl_usd", "avg_pnl": "avg_pnl_usd"}.get(m, "n")
        agg = agg.sort_values([sort_col, "n"], ascending=False, kind="stable")
        lines.append(f"g = {shown}")
        lines.append('g.groupby("key").agg(n=("won", "size"), wins=("won", "sum"), pnl_usd=("pnl_usd", "sum"))'
                     ".assign(win_rate_pct=lambda a: a.wins / a.n * 100, avg_pnl_usd=lambda a: a.pnl_usd / a.n)")
        for key, r in agg.iterrows():
            res.groups.append({"key": str(key), "n": int(r["n"]), "wins": int(r["wins"]),
                               "win_rate_pct": round(float(r["win_rate_pct"]), 1),
                               "pnl_usd": round(float(r["pnl_usd"]), 2), "avg_pnl_usd": round(float(r["avg_pnl_usd"]), 2)})
        res.note = caveat
    if m == "win_rate":
        res.value = round(wins / n * 100, 1)
        res.value_text = pct(res.value)
        lines.append('t["won"].mean() * 100')
    elif m == "pnl":
        res.value = round(float(t["pnl_usd"].sum()), 2)
        res.value_text = money(res.value)
        lines.append('t["pnl_usd"].sum()')
    elif m == "avg_pnl":
        res.value = round(float(t["pnl_usd"].mean()), 2)
        res.value_text = money(res.value)
        lines.append('t["pnl_usd"].mean()')
    elif m == "count":
        res.value = float(n)
        res.value_text = str(n)
        lines.append("len(t)")
    else:
        pick = t.nsmallest(5, "pnl_usd") if m == "worst" else t.nlargest(5, "pnl_usd")
        lines.append(f't.{"nsmallest" if m == "worst" else "nlargest"}(5, "pnl_usd")')
        res.rows = [{"trade_cycle_id": str(r["trade_cycle_id"]), "symbol": str(r["symbol"]),
                     "closed_at": r["closed_at"].isoformat(), "pnl_usd": round(float(r["pnl_usd"]), 2),
                     "advisory_action": str(r["advisory_action"]), "reason_codes": str(r["reason_codes"])}
                    for _, r in pick.iterrows()]
        res.value = res.rows[0]["pnl_usd"]
        res.value_text = money(res.value)
        res.cited = [r["trade_cycle_id"] for r in res.rows]
    res.code = "\n".join(lines)
    return res
