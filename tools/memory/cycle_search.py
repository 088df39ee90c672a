"""How a filtered nearest-neighbour query over trade cycles runs: the plans, cheapest exact one first.

Filtered search at 100k cycles: Chroma's pre-filter scans SQLite metadata (~150-300 ms here). When the
outcomes table is available its columns serve as a filter index (tools/memory/cycle_filter.py):
- ``local_exact``: an exact NumPy scan of the table's situation vectors, when they cover every cycle;
- ``planned``: over-fetch nearest neighbours by vector only and keep those that pass the filter; an
  id-restricted query when few cycles match; a wider over-fetch; Chroma's pre-filter last.
Each plan returns its hits with the plan's name (``local-exact``, ``overfetch-N``, ``ids``,
``index-empty``, ``prefilter``); ``local_exact`` returns None when it cannot answer exactly. Chroma
errors propagate to the caller.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tools.memory.cycle_filter import CycleFilter, FilterIndex

# Over-fetch planner knobs (measured in bench/bench_rag.py).
OVERFETCH_SAFETY = 3.0          # fetch ~3x the candidates the filter's selectivity says we need
FIRST_CANDIDATES = 300          # a first over-fetch up to this many (cheap: distances only)
IDS_QUERY_LIMIT = 3000          # id-restricted search when at most this many cycles match
MAX_CANDIDATES = 1000           # the widest over-fetch before Chroma's pre-filter


@dataclass(slots=True)
class Hit:
    id: str
    distance: float
    metadata: dict[str, Any]
    document: str | None = None


def hits_of(res: Mapping[str, Any]) -> list[Hit]:
    """The hits of one Chroma query result (first query only); absent fields become defaults."""
    ids = res["ids"][0] if res["ids"] else []
    dists = (res.get("distances") or [[]])[0] or [0.0] * len(ids)
    metas = (res.get("metadatas") or [[]])[0] or [{}] * len(ids)
    docs = (res.get("documents") or [None])[0] or [None] * len(ids)
    return [Hit(i, float(d), dict(m or {}), doc) for i, d, m, doc in zip(ids, dists, metas, docs, strict=False)]


def fetch_meta(hits: list[Hit], col: Any) -> list[Hit]:
    """Fill each hit's metadata from the collection (one ``get``)."""
    if not hits:
        return hits
    got = col.get(ids=[h.id for h in hits], include=["metadatas"])
    metas = {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)}
    for h in hits:
        h.metadata = metas.get(h.id, {})
    return hits


def _dot(mat: np.ndarray, q: np.ndarray) -> np.ndarray:
    # einsum's own loop, not BLAS: a multi-threaded sgemv on a busy 2-core machine was measured 2x slower
    # at the median and far worse at p99 than this single-threaded pass over 100k x 71 floats
    return np.einsum("ij,j->i", mat, q)


def prefiltered(col: Any, q: list[np.ndarray], k: int, flt: CycleFilter) -> tuple[list[Hit], str]:
    """Chroma's own pre-filtered query: always exact, slowest at scale."""
    return hits_of(col.query(query_embeddings=q, n_results=k, where=flt.where(),
                             include=["metadatas", "distances"])), "prefilter"


def local_exact(col: Any, idx: FilterIndex | None, q: np.ndarray, k: int, flt: CycleFilter | None,
                total: int) -> tuple[list[Hit], str] | None:
    """Exact search over the local vector file when it covers every cycle in the collection (same ids,
    same count): at 100k cycles a NumPy scan of the filtered rows takes a few ms, where Chroma's
    metadata pre-filter takes hundreds. None when the local index cannot answer exactly."""
    if idx is None or idx.vecs is None or idx.has_vec is None or idx.n != total or not bool(idx.has_vec.all()):
        return None
    mask = idx.mask(flt) if flt is not None else None
    n_sub = idx.n if mask is None else int(mask.sum())
    if n_sub == 0:
        return [], "local-exact"
    kk = min(k, n_sub)
    if mask is not None and n_sub * 8 < idx.n:      # few rows: gather them (small copy)
        sub = np.flatnonzero(mask)
        dist = 1.0 - _dot(idx.vecs[sub], q)
        top = np.argpartition(dist, kk - 1)[:kk]
        top = top[np.argsort(dist[top], kind="stable")]
        pairs = [(int(sub[j]), float(dist[j])) for j in top]
    else:                                            # many rows: one pass over all, masked (no copy)
        dist = 1.0 - _dot(idx.vecs, q)
        if mask is not None:
            dist[~mask] = np.inf
        top = np.argpartition(dist, kk - 1)[:kk]
        top = top[np.argsort(dist[top], kind="stable")]
        pairs = [(int(j), float(dist[j])) for j in top]
    return fetch_meta([Hit(idx.ids[j], d, {}) for j, d in pairs], col), "local-exact"


def planned(col: Any, idx: FilterIndex | None, q: list[np.ndarray], k: int, flt: CycleFilter,
            total: int) -> tuple[list[Hit], str]:
    """Cheapest exact plan first: over-fetch by vector and filter in memory; an id-restricted search
    when few cycles match; a wider over-fetch; Chroma's pre-filter last (it scans SQLite metadata)."""
    if idx is None or idx.n == 0:
        return prefiltered(col, q, k, flt)
    mask = idx.mask(flt)
    n_match = int(mask.sum())
    complete = idx.n == total            # table and collection hold the same cycles
    if complete and n_match == 0:
        return [], "index-empty"
    sel = max(n_match, 1) / idx.n
    first = min(total, max(4 * k, math.ceil(k / sel * OVERFETCH_SAFETY)))
    tried = 0
    if first <= FIRST_CANDIDATES:
        got = _overfetch(col, q, k, flt, idx, mask, first, total)
        tried = first
        if got is not None:
            return got
    if complete and n_match <= IDS_QUERY_LIMIT:
        ids = [i for i, p in idx.pos.items() if mask[p]]
        return fetch_meta(hits_of(col.query(query_embeddings=q, ids=ids, n_results=min(k, n_match),
                                            include=["distances"])), col), "ids"
    wide = min(total, MAX_CANDIDATES)
    if wide > tried:
        got = _overfetch(col, q, k, flt, idx, mask, wide, total)
        if got is not None:
            return got
    return prefiltered(col, q, k, flt)


def _overfetch(col: Any, q: list[np.ndarray], k: int, flt: CycleFilter, idx: FilterIndex,
               mask: np.ndarray, n_cand: int, total: int) -> tuple[list[Hit], str] | None:
    """The k nearest passing the filter among the n_cand nearest overall, or None if fewer pass (then
    a closer match may lie beyond the candidates). Exact whenever it returns (up to HNSW recall)."""
    cand = hits_of(col.query(query_embeddings=q, n_results=n_cand, include=["distances"]))
    unknown = [h.id for h in cand if h.id not in idx.pos]
    extra: dict[str, dict[str, Any]] = {}
    if unknown:   # written by someone else since the table was read: check their real metadata
        got = col.get(ids=unknown, include=["metadatas"])
        extra = {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)}
    keep = [h for h in cand if (mask[idx.pos[h.id]] if h.id in idx.pos else flt.matches(extra.get(h.id)))][:k]
    if len(keep) < k and n_cand < total:
        return None
    return fetch_meta(keep, col), f"overfetch-{n_cand}"
