"""The executor of the learning agent's query language (tools/memory/query.py) over the outcomes table.

A ``Query`` becomes ONE ``DataFrame.query`` filter expression over the derived frame
(tools/memory/metrics.py) plus one metric, ranking, grouping or comparison. The code that ran is
returned in ``QueryResult.code`` so an answer can show exactly what it computed; every number an
answer may quote is in the ``QueryResult``; the trade_cycle_ids behind it are in ``cited``.

Failure contract: ``run_query`` is pure and never raises on a valid ``Query``: no matching row gives
n == 0 (the answer then says the data cannot answer), an unknown reason code or value matches nothing.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from tools.memory.currencies import run_in_currencies
from tools.memory.metrics import CODE, compute, derive, group_table, money, pct
from tools.memory.outcomes_table import RC_PREFIX
from tools.memory.query import (
    METRIC_LABEL,
    SMALL_SAMPLE,
    GroupBy,
    Metric,
    NumericQuery,
    Query,
    QueryFilter,
    QueryResult,
)

__all__ = ["METRIC_LABEL", "MAX_CITED_TEXT", "GroupBy", "Metric", "NumericQuery", "Query", "QueryFilter",
           "QueryResult", "expression", "money", "pct", "run_query"]
MAX_CITED_TEXT = 12          # ids written into an answer's text; the JSON carries them all
_EQ = (("advisory", "advisory_action"), ("advisory_source", "advisory_source"), ("side", "side"),
       ("asset", "asset"), ("asset_class", "asset_class"), ("symbol", "symbol"), ("venue", "venue"),
       ("has_stop", "has_stop"), ("won", "won"), ("regime_trend", "regime_trend"), ("regime_vol", "regime_vol"),
       ("exit_reason", "exit_reason"), ("hour", "hour"), ("weekday", "weekday"), ("session", "session"),
       ("advice_followed", "advice_followed"), ("signal_kind", "signal_kind"), ("outcome_source", "outcome_source"))


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime):
        v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        return f'"{v.isoformat()}"'
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def expression(q: Query, f: QueryFilter | None = None) -> str:
    f = f or q.filter
    parts = [f"{col} == {_lit(getattr(f, key))}" for key, col in _EQ if getattr(f, key) is not None]
    parts += [f"`{RC_PREFIX}{c}` == True" for c in f.reason_codes]
    if f.since is not None:
        parts.append(f"closed_at >= {_lit(f.since)}")
    if f.until is not None:
        parts.append(f"closed_at < {_lit(f.until)}")
    if q.as_of is not None:
        parts.append(f"closed_at <= {_lit(q.as_of)}")
    return " and ".join(parts)


def _select(df: pd.DataFrame, expr: str) -> pd.DataFrame:
    t = df.query(expr) if expr else df
    if t["closed_at"].is_monotonic_increasing:      # the table is stored in closing order
        return t
    return t.sort_values(["closed_at", "trade_cycle_id"], kind="stable")


def _ids(t: pd.DataFrame) -> list[str]:
    return t["trade_cycle_id"].astype(object).to_numpy().tolist()   # already strings: no per-id conversion


def _row(r: Any) -> dict[str, Any]:
    hold = r["holding_min"]
    rm = r["r_multiple"]
    return {"trade_cycle_id": str(r["trade_cycle_id"]), "symbol": str(r["symbol"]),
            "closed_at": r["closed_at"].isoformat(), "pnl_usd": round(float(r["pnl_usd"]), 2),
            "holding_min": None if pd.isna(hold) else round(float(hold), 1),
            "r_multiple": None if pd.isna(rm) else round(float(rm), 2),
            "advisory_action": str(r["advisory_action"]), "reason_codes": str(r["reason_codes"] or "")}


def _side(name: str, t: pd.DataFrame, metric: Metric, expr: str) -> dict[str, Any]:
    v, text, note = compute(t, metric)
    return {"side": name, "n": len(t), "wins": int(t["won"].sum()) if len(t) else 0, "value": v,
            "value_text": text, "note": note, "filter": expr, "small_sample": len(t) < SMALL_SAMPLE,
            "cited": _ids(t)}


def _compare(res: QueryResult, d: pd.DataFrame, t: pd.DataFrame, q: Query, lines: list[str]) -> None:
    if q.compare == "advice":
        for name, val in (("followed the advice", True), ("against the advice", False)):
            part = t[t["advice_followed"] == val]
            res.comparison.append(_side(name, part, q.metric, f"advice_followed == {val}"))
        lines.append('for v in (True, False): t[t["advice_followed"] == v]  ->  ' + CODE.get(q.metric, ""))
        return
    f = q.filter
    assert f.since is not None
    until = f.until or q.as_of or datetime.now(UTC)
    span = until - f.since
    prev = f.model_copy(update={"since": f.since - span, "until": f.since})
    pexpr = expression(q, prev)
    res.comparison.append(_side("this period", t, q.metric, expression(q)))
    res.comparison.append(_side("previous period", _select(d, pexpr), q.metric, pexpr))
    lines.append(f"p = outcomes.query('{pexpr}')  # the previous period, same length")


def run_query(df: pd.DataFrame, q: Query) -> QueryResult:
    """Run ``q`` on the outcomes table ``df``. Pure: same table, same query, same result. PnL in several
    currencies is never added: such a question is answered per currency (tools/memory/currencies.py)."""
    return run_in_currencies(df, q, _run_one)


def _run_one(df: pd.DataFrame, q: Query) -> QueryResult:
    d = derive(df)
    for c in q.filter.reason_codes:                  # a code never seen is a column of False, not an error
        if RC_PREFIX + c not in d.columns:
            d[RC_PREFIX + c] = False
    expr = expression(q)
    t = _select(d, expr)
    lines = [f"t = outcomes.query('{expr}')" if expr else "t = outcomes"]
    n = len(t)
    wins = int(t["won"].sum()) if n else 0
    res = QueryResult(query=q, code="", n=n, wins=wins, losses=n - wins, table_rows=len(df),
                      cited=_ids(t), small_sample=n < SMALL_SAMPLE)
    if n == 0 and q.compare != "previous_period":
        res.code = "\n".join(lines + ["len(t)  # 0: nothing to compute"])
        res.note = "no trade in the table matches these filters"
        return res
    m = q.metric
    notes = []
    if q.top is not None:
        col = q.rank_by
        ranked = t.dropna(subset=[col])
        pick = ranked.nsmallest(q.top, col) if q.ascending else ranked.nlargest(q.top, col)
        lines.append(f't.{"nsmallest" if q.ascending else "nlargest"}({q.top}, "{col}")')
        res.rows = [_row(r) for _, r in pick.iterrows()]
        res.cited = [r["trade_cycle_id"] for r in res.rows]
        if m in ("best", "worst"):
            if res.rows:
                res.value = res.rows[0][col]
                res.value_text = money(res.value) if col == "pnl_usd" else str(res.value)
            res.code = "\n".join(lines)
            return res
    if q.group_by:
        res.groups, shown, caveat = group_table(t, q.group_by, m)
        lines.append(shown)
        if caveat:
            notes.append(caveat)
    if q.compare:
        _compare(res, d, t, q, lines)
    value, text, note = compute(t, m)
    res.value, res.value_text = value, text
    if note:
        notes.append(note)
    lines.append(CODE.get(m, m))
    res.note = "; ".join(notes)
    res.code = "\n".join(lines)
    return res
