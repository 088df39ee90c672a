"""Metadata filters over stored trade cycles: one ``CycleFilter``, evaluated three ways.

``CycleFilter.where()`` is Chroma's ``where`` clause, ``CycleFilter.matches()`` re-checks one hit's stored
metadata (a hit without metadata, or without a closing time when a date bound is set, never matches),
and ``FilterIndex.mask()`` evaluates the same filter on the outcomes table's columns in ~1 ms at 100k
rows (a value the table has never seen matches nothing). Nothing here raises on unknown values.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from tools.memory.outcomes_table import RC_PREFIX

_KEYS = ("symbol", "asset", "asset_class", "venue", "side", "advisory", "won")   # equality filters


@overload
def ts_of(d: datetime) -> float: ...
@overload
def ts_of(d: None) -> None: ...
def ts_of(d: datetime | None) -> float | None:
    """Epoch seconds of ``d`` (a naive datetime counts as UTC); None stays None."""
    if d is None:
        return None
    return (d.replace(tzinfo=UTC) if d.tzinfo is None else d).timestamp()


class CycleFilter(BaseModel):
    """Metadata filter over trade cycles. ``since`` <= closed < ``until``; closed <= ``as_of``."""
    symbol: str | None = None
    asset: str | None = None
    asset_class: str | None = None           # future | stock | crypto | perpetual | fx | prediction | other | unknown
    venue: str | None = None
    side: str | None = None                  # BUY | SELL
    advisory: str | None = None              # BUY | SELL | WAIT | NONE
    won: bool | None = None
    reason_codes: list[str] = Field(default_factory=list)   # all of them
    since: datetime | None = None
    until: datetime | None = None
    as_of: datetime | None = None

    def is_empty(self) -> bool:
        return not any(v not in (None, []) for v in self.model_dump().values())

    def _eq(self) -> dict[str, Any]:
        eq = {k: getattr(self, k) for k in _KEYS
              if getattr(self, k) is not None}
        for c in self.reason_codes:
            eq[RC_PREFIX + c] = True
        return eq

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = [{k: v} for k, v in self._eq().items()]
        if self.since is not None:
            clauses.append({"closed_ts": {"$gte": ts_of(self.since)}})
        if self.until is not None:
            clauses.append({"closed_ts": {"$lt": ts_of(self.until)}})
        if self.as_of is not None:
            clauses.append({"closed_ts": {"$lte": ts_of(self.as_of)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, meta: Mapping[str, Any] | None) -> bool:
        if meta is None:
            return False
        for k, v in self._eq().items():
            if meta.get(k) != v:
                return False
        if all(b is None for b in (self.since, self.until, self.as_of)):
            return True
        ts = meta.get("closed_ts")
        if not isinstance(ts, (int, float)):
            return False
        if self.since is not None and ts < ts_of(self.since):
            return False
        if self.until is not None and ts >= ts_of(self.until):
            return False
        return not (self.as_of is not None and ts > ts_of(self.as_of))



@dataclass(slots=True)
class FilterIndex:
    """Columns of the outcomes table as integer codes, to evaluate a CycleFilter on 100k rows in ~1 ms,
    and (when the vector file covers them) the rows' situation vectors for an exact local search."""
    pos: dict[str, int]
    codes: dict[str, tuple[np.ndarray, dict[Any, int]]]
    closed_ts: np.ndarray
    rc: dict[str, np.ndarray]
    n: int = 0
    ids: list[str] = field(default_factory=list)
    vecs: np.ndarray | None = None
    has_vec: np.ndarray | None = None

    def attach_vectors(self, loaded: tuple[list[str], np.ndarray] | None) -> None:
        if loaded is None:
            return
        vids, mat = loaded
        where = {cid: i for i, cid in enumerate(vids)}
        rows = np.fromiter((where.get(cid, -1) for cid in self.ids), dtype=np.int64, count=self.n)
        self.has_vec = rows >= 0
        self.vecs = mat[np.where(self.has_vec, rows, 0)] if self.n else np.zeros((0, mat.shape[1]), np.float32)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> FilterIndex:
        cols = {"symbol": "symbol", "asset": "asset", "asset_class": "asset_class", "venue": "venue",
                "side": "side", "advisory": "advisory_action", "won": "won"}
        codes = {}
        for key, col in cols.items():
            values = df[col].astype(object).where(df[col].notna(), None).tolist()
            arr, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
            codes[key] = (arr, {u: i for i, u in enumerate(uniques)})
        ts = df["closed_at"].astype("int64").to_numpy() / 1e6 if len(df) else np.zeros(0)
        rc = {c[len(RC_PREFIX):]: df[c].to_numpy(dtype=bool) for c in df.columns if c.startswith(RC_PREFIX)}
        ids = df["trade_cycle_id"].tolist()
        return cls(pos={i: p for p, i in enumerate(ids)}, codes=codes, closed_ts=np.asarray(ts, dtype=np.float64),
                   rc=rc, n=len(ids), ids=ids)

    def mask(self, f: CycleFilter) -> np.ndarray:
        m = np.ones(self.n, dtype=bool)
        for key in _KEYS:
            v = getattr(f, key)
            if v is None:
                continue
            arr, lookup = self.codes[key]
            code = lookup.get(v)
            if code is None:
                return np.zeros(self.n, dtype=bool)
            m &= arr == code
        for c in f.reason_codes:
            col = self.rc.get(c)
            if col is None:
                return np.zeros(self.n, dtype=bool)
            m &= col
        if f.since is not None:
            m &= self.closed_ts >= ts_of(f.since)
        if f.until is not None:
            m &= self.closed_ts < ts_of(f.until)
        if f.as_of is not None:
            m &= self.closed_ts <= ts_of(f.as_of)
        return m
