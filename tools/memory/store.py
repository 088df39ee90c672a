"""The RAG store: Chroma collections for trade cycles, history snapshots and documents.

- Embedded ``chromadb.PersistentClient`` under ``<data_dir>/chroma`` by default; a Chroma server through
  ``HttpClient`` when ``settings.rag.mode == "http"`` (the way past one machine, and past one process).
- Trade cycles and snapshots are searched by situation vectors (tools/memory/situations.py) passed as
  explicit embeddings; documents by a pluggable text embedding (tools/memory/embeddings.py). Nothing here
  ever lets Chroma's default embedding function run (it would download a model).
- Each collection records the embedding that built it (``warden_embedding`` in its metadata) and refuses
  to be queried or extended with another one (``EmbeddingMismatch``).
- Metadata filters: symbol, asset, venue, side, advisory, outcome, reason codes (one boolean key per
  code, ``rc_<CODE>``, as Chroma metadata holds no lists), closed-date range and ``as_of``. Every result
  is re-checked against its stored metadata, so ``as_of`` never lets a later cycle through.

Filtered search at 100k cycles: Chroma's pre-filter scans SQLite metadata (~150-300 ms here). When the
outcomes table is available its columns serve as a filter index: the store over-fetches nearest
neighbours by vector only, keeps those that pass the filter, and falls back to an id-restricted or
pre-filtered Chroma query when too few pass (see ``query_cycles``).

Ingestion helpers at the bottom (``ingest_outcomes``, ``ingest_outcome``) are idempotent: keyed by
``trade_cycle_id`` plus a content hash (kept in the outcomes table), they add nothing on a second run
and repair a half-written one.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function
from pydantic import BaseModel, Field

from tools.memory.embeddings import HashingEmbedding, make_text_embedding
from tools.memory.outcomes_table import RC_PREFIX, VECTOR_KEY, OutcomesTable, outcome_row, outcome_sha
from tools.memory.situations import (
    SITUATION_DIM,
    SITUATION_VERSION,
    SNAPSHOT_DIM,
    SNAPSHOT_VERSION,
    asset_of,
    outcome_vector,
    regime_labels,
    snapshot_vector,
)
from trading.records.outcome_schema import HistorySnapshot, TradeOutcome

log = logging.getLogger(__name__)

CYCLES = "trade_cycles"
SNAPSHOTS = "history_snapshots"
DOCUMENTS = "documents"
EMBEDDING_KEY = "warden_embedding"
# Over-fetch planner knobs (measured in bench/bench_rag.py).
OVERFETCH_SAFETY = 3.0          # fetch ~3x the candidates the filter's selectivity says we need
FIRST_CANDIDATES = 300          # a first over-fetch up to this many (cheap: distances only)
IDS_QUERY_LIMIT = 3000          # id-restricted search when at most this many cycles match
MAX_CANDIDATES = 1000           # the widest over-fetch before Chroma's pre-filter
COUNT_TTL_S = 2.0               # how long a collection count is trusted (see RagStore._cycle_count)


class StoreError(RuntimeError):
    """The store cannot do what was asked (bad configuration, unreachable server...)."""


class EmbeddingMismatch(StoreError):
    """A collection built with one embedding was asked to mix with another."""


@register_embedding_function
class ExplicitVectors(EmbeddingFunction[Documents]):
    """Placeholder embedding for collections searched by numeric vectors: records the vector layout in the
    collection's configuration and refuses to embed text (so Chroma never falls back to its default)."""

    def __init__(self, layout: str = SITUATION_VERSION, dim: int = SITUATION_DIM) -> None:
        self.layout = layout
        self.dim = dim

    def __call__(self, input: Documents) -> Embeddings:
        raise StoreError(f"collection vectors are {self.layout} computed from numbers; pass embeddings, not text")

    @staticmethod
    def name() -> str:
        return "warden_explicit_vectors"

    def default_space(self) -> Space:
        return "cosine"

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ExplicitVectors:
        return ExplicitVectors(layout=config.get("layout", SITUATION_VERSION), dim=int(config.get("dim", SITUATION_DIM)))

    def get_config(self) -> dict[str, Any]:
        return {"layout": self.layout, "dim": self.dim}

    def identity(self) -> str:
        return f"{self.layout}-{self.dim}"


def _dot(mat: np.ndarray, q: np.ndarray) -> np.ndarray:
    # einsum's own loop, not BLAS: a multi-threaded sgemv on a busy 2-core machine was measured 2x slower
    # at the median and far worse at p99 than this single-threaded pass over 100k x 71 floats
    return np.einsum("ij,j->i", mat, q)


def _ts(d: datetime | None) -> float | None:
    if d is None:
        return None
    return (d.replace(tzinfo=UTC) if d.tzinfo is None else d).timestamp()


class CycleFilter(BaseModel):
    """Metadata filter over trade cycles. ``since`` <= closed < ``until``; closed <= ``as_of``."""
    symbol: str | None = None
    asset: str | None = None
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
        eq = {k: getattr(self, k) for k in ("symbol", "asset", "venue", "side", "advisory", "won")
              if getattr(self, k) is not None}
        for c in self.reason_codes:
            eq[RC_PREFIX + c] = True
        return eq

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = [{k: v} for k, v in self._eq().items()]
        if self.since is not None:
            clauses.append({"closed_ts": {"$gte": _ts(self.since)}})
        if self.until is not None:
            clauses.append({"closed_ts": {"$lt": _ts(self.until)}})
        if self.as_of is not None:
            clauses.append({"closed_ts": {"$lte": _ts(self.as_of)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def matches(self, meta: Mapping[str, Any] | None) -> bool:
        if meta is None:
            return False
        for k, v in self._eq().items():
            if meta.get(k) != v:
                return False
        ts = meta.get("closed_ts")
        if any(b is not None for b in (self.since, self.until, self.as_of)) and not isinstance(ts, (int, float)):
            return False
        if self.since is not None and ts < _ts(self.since):
            return False
        if self.until is not None and ts >= _ts(self.until):
            return False
        return not (self.as_of is not None and ts > _ts(self.as_of))


@dataclass(slots=True)
class Hit:
    id: str
    distance: float
    metadata: dict[str, Any]
    document: str | None = None


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
        cols = {"symbol": "symbol", "asset": "asset", "venue": "venue", "side": "side",
                "advisory": "advisory_action", "won": "won"}
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
        for key in ("symbol", "asset", "venue", "side", "advisory", "won"):
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
            m &= self.closed_ts >= _ts(f.since)
        if f.until is not None:
            m &= self.closed_ts < _ts(f.until)
        if f.as_of is not None:
            m &= self.closed_ts <= _ts(f.as_of)
        return m


def cycle_metadata(o: TradeOutcome, sha: str = "") -> dict[str, Any]:
    """Only what filters need: every metadata key costs ingestion time in Chroma (measured ~2x between 3
    and 10 keys), so display data and the content hash live in the outcomes table instead."""
    meta: dict[str, Any] = {
        "symbol": o.symbol, "asset": asset_of(o.symbol), "venue": o.venue, "side": o.side.upper(),
        "advisory": o.advisory.action.value if o.advisory else "NONE", "won": bool(o.won),
        "closed_ts": _ts(o.closed_at),
    }
    for rc in o.reason_codes:
        meta[RC_PREFIX + str(rc)] = True
    return meta


def snapshot_metadata(s: HistorySnapshot, sha: str) -> dict[str, Any]:
    trend, vol = regime_labels(s.regime)
    return {"symbol": s.symbol, "asset": asset_of(s.symbol), "taken_ts": _ts(s.taken_at), "sha": sha,
            "trade_cycle_id": s.trade_cycle_id, "regime_trend": trend or "", "regime_vol": vol or "",
            "n_candles": len(s.candles)}


@dataclass
class IngestCounts:
    added: int = 0
    updated: int = 0
    repaired: int = 0           # present in one of store/table only: the other side was completed
    skipped: int = 0            # same id and same content already in both
    duplicates: int = 0         # the same id twice in one batch (last one kept)
    skipped_ids: list[str] = field(default_factory=list, repr=False)

    def merge(self, other: IngestCounts) -> None:
        self.added += other.added
        self.updated += other.updated
        self.repaired += other.repaired
        self.skipped += other.skipped
        self.duplicates += other.duplicates
        self.skipped_ids += other.skipped_ids

    def as_dict(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "repaired": self.repaired,
                "skipped": self.skipped, "duplicates": self.duplicates}


class RagStore:
    """Three collections behind one client; ``data_dir`` also holds the outcomes table."""

    def __init__(self, client: Any, data_dir: Path, text_embedding: Any = None, local_index: bool = True) -> None:
        self.client = client
        self.local_index = local_index      # exact NumPy search over the table's vectors when complete
        self.data_dir = Path(data_dir)
        self.text_ef = text_embedding or HashingEmbedding()
        self.table = OutcomesTable.in_data_dir(self.data_dir)
        self._cols: dict[str, Any] = {}
        self._index: tuple[int | None, FilterIndex] | None = None
        self.last_plan = ""                 # how the last cycle query ran (for benches and --json)
        self._count: tuple[int, int | None, float] | None = None
        try:
            self.max_batch = int(client.get_max_batch_size())
        except Exception:  # noqa: BLE001 - older servers: a conservative batch
            self.max_batch = 1000

    # --- opening -------------------------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: Path | str, settings: Any = None, *, mode: str | None = None, host: str | None = None,
             port: int | None = None, text_embedding: Any = None) -> RagStore:
        """Embedded under ``data_dir/chroma`` unless ``settings.rag.mode`` (or ``mode``) is ``http``."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        rag = getattr(settings, "rag", None)
        mode = mode or (rag.mode if rag else "embedded")
        host = host or (rag.host if rag else "127.0.0.1")
        port = port or (rag.port if rag else 8000)
        if text_embedding is None:
            text_embedding = make_text_embedding(settings=settings) if settings is not None else HashingEmbedding()
        csettings = ChromaSettings(anonymized_telemetry=False)
        data_dir = Path(data_dir)
        if mode == "http":
            try:
                client = chromadb.HttpClient(host=host, port=port, settings=csettings)
                client.heartbeat()
            except Exception as exc:  # noqa: BLE001 - one clear line for the CLI
                raise StoreError(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
        elif mode == "embedded":
            (data_dir / "chroma").mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=csettings)
        else:
            raise StoreError(f"unknown rag.mode {mode!r}; expected embedded or http")
        return cls(client, data_dir, text_embedding)

    def _collection(self, name: str, ef: Any) -> Any:
        if name in self._cols:
            return self._cols[name]
        identity = ef.identity()
        existing = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        if name in existing:
            # ef=None: we always pass vectors ourselves; the check below is ours and names both sides
            col = self.client.get_collection(name, embedding_function=None)
            stored = (col.metadata or {}).get(EMBEDDING_KEY)
            if stored != identity:
                raise EmbeddingMismatch(
                    f"collection {name!r} was built with embedding {stored or 'unknown (not made by Warden)'}; "
                    f"refusing to query or extend it with {identity}. Use the embedding it was built with "
                    "(rag.text_embedding) or a fresh --data-dir")
        else:
            col = self.client.get_or_create_collection(
                name, embedding_function=ef, metadata={EMBEDDING_KEY: identity},
                configuration={"hnsw": {"space": "cosine"}})
            col = self.client.get_collection(name, embedding_function=None)
        self._cols[name] = col
        return col

    def cycles(self) -> Any:
        return self._collection(CYCLES, ExplicitVectors(SITUATION_VERSION, SITUATION_DIM))

    def snapshots(self) -> Any:
        return self._collection(SNAPSHOTS, ExplicitVectors(SNAPSHOT_VERSION, SNAPSHOT_DIM))

    def documents(self) -> Any:
        return self._collection(DOCUMENTS, self.text_ef)

    def counts(self) -> dict[str, int]:
        return {CYCLES: self.cycles().count(), SNAPSHOTS: self.snapshots().count(),
                DOCUMENTS: self.documents().count(), "outcomes_table": len(self.table.load())}

    # --- writing ---------------------------------------------------------------------------------------
    def _batches(self, n: int) -> Iterable[slice]:
        step = max(1, self.max_batch)
        for s in range(0, n, step):
            yield slice(s, min(n, s + step))

    def stored_ids(self, col: Any, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        ids = list(ids)
        for sl in self._batches(len(ids)):
            out.update(col.get(ids=ids[sl], include=[])["ids"])
        return out

    def stored_shas(self, col: Any, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        ids = list(ids)
        for sl in self._batches(len(ids)):
            got = col.get(ids=ids[sl], include=["metadatas"])
            for i, m in zip(got["ids"], got["metadatas"] or [], strict=False):
                out[i] = (m or {}).get("sha", "")
        return out

    def write(self, col: Any, ids: list[str], vectors: Any, metas: list[dict[str, Any]],
              docs: list[str] | None = None, update: bool = False) -> None:
        fn = col.upsert if update else col.add
        self._count = None                  # our own write: recount before trusting the local index
        vecs = np.asarray(vectors, dtype=np.float32)
        for sl in self._batches(len(ids)):
            kw: dict[str, Any] = {"ids": ids[sl], "embeddings": vecs[sl], "metadatas": metas[sl]}
            if docs is not None:
                kw["documents"] = docs[sl]
            fn(**kw)

    # --- cycles: filtered nearest neighbours ------------------------------------------------------------
    def _filter_index(self) -> FilterIndex | None:
        mtime = self._filter_key()
        if mtime is None:
            return None
        if self._index is None or self._index[0] != mtime:
            idx = FilterIndex.from_frame(self.table.load())
            if self.local_index:
                idx.attach_vectors(self.table.vectors.load())
            self._index = (mtime, idx)
        return self._index[1]

    def _hits(self, res: Mapping[str, Any]) -> list[Hit]:
        ids = res["ids"][0] if res["ids"] else []
        dists = (res.get("distances") or [[]])[0] or [0.0] * len(ids)
        metas = (res.get("metadatas") or [[]])[0] or [{}] * len(ids)
        docs = (res.get("documents") or [None])[0] or [None] * len(ids)
        return [Hit(i, float(d), dict(m or {}), doc) for i, d, m, doc in zip(ids, dists, metas, docs, strict=False)]

    def _cycle_count(self, col: Any) -> int:
        """Chroma's count, re-read after our own writes, a table change, or COUNT_TTL_S seconds (another
        process may be adding cycles: it is at most that long before the local index stops answering)."""
        key = self._filter_key()
        now = time.monotonic()
        if self._count is None or self._count[1] != key or now - self._count[2] > COUNT_TTL_S:
            self._count = (col.count(), key, now)
        return self._count[0]

    def _filter_key(self) -> int | None:
        path = self.table.path
        return path.stat().st_mtime_ns if path.is_file() else None

    def query_cycles(self, vector: Sequence[float], k: int = 5, flt: CycleFilter | None = None) -> list[Hit]:
        """The ``k`` nearest trade cycles passing ``flt``; each hit's metadata is verified against it."""
        col = self.cycles()
        total = self._cycle_count(col)
        if total == 0 or k <= 0:
            self.last_plan = "empty"
            return []
        q = [np.asarray(vector, dtype=np.float32)]
        flt = flt if flt is not None and not flt.is_empty() else None
        local = self._local(col, q[0], k, flt, total)
        if local is not None:
            hits = local
        elif flt is None:
            self.last_plan = "ann"
            return self._hits(col.query(query_embeddings=q, n_results=min(k, total),
                                        include=["metadatas", "distances"]))
        else:
            hits = self._planned(col, q, k, flt, total)
        if flt is None:
            return hits
        bad = [h.id for h in hits if not flt.matches(h.metadata)]
        if bad:   # stale filter index (another process re-ingested): answer exactly instead
            log.warning("filter index stale for %s; pre-filtering", bad)
            hits = self._prefiltered(col, q, k, flt)
        return hits

    def _local(self, col: Any, q: np.ndarray, k: int, flt: CycleFilter | None, total: int) -> list[Hit] | None:
        """Exact search over the local vector file when it covers every cycle in the collection (same ids,
        same count): at 100k cycles a NumPy scan of the filtered rows takes a few ms, where Chroma's
        metadata pre-filter takes hundreds. None when the local index cannot answer exactly."""
        if not self.local_index:
            return None
        idx = self._filter_index()
        if idx is None or idx.vecs is None or idx.n != total or not bool(idx.has_vec.all()):
            return None
        mask = idx.mask(flt) if flt is not None else None
        n_sub = idx.n if mask is None else int(mask.sum())
        self.last_plan = "local-exact"
        if n_sub == 0:
            return []
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
        return self._fetch_meta([Hit(idx.ids[j], d, {}) for j, d in pairs], col)

    def _prefiltered(self, col: Any, q: list[np.ndarray], k: int, flt: CycleFilter) -> list[Hit]:
        self.last_plan = "prefilter"
        return self._hits(col.query(query_embeddings=q, n_results=k, where=flt.where(),
                                    include=["metadatas", "distances"]))

    def _planned(self, col: Any, q: list[np.ndarray], k: int, flt: CycleFilter, total: int) -> list[Hit]:
        """Cheapest exact plan first: over-fetch by vector and filter in memory; an id-restricted search
        when few cycles match; a wider over-fetch; Chroma's pre-filter last (it scans SQLite metadata)."""
        idx = self._filter_index()
        if idx is None or idx.n == 0:
            return self._prefiltered(col, q, k, flt)
        mask = idx.mask(flt)
        n_match = int(mask.sum())
        complete = idx.n == total            # table and collection hold the same cycles
        if complete and n_match == 0:
            self.last_plan = "index-empty"
            return []
        sel = max(n_match, 1) / idx.n
        first = min(total, max(4 * k, math.ceil(k / sel * OVERFETCH_SAFETY)))
        tried = 0
        if first <= FIRST_CANDIDATES:
            hits = self._overfetch(col, q, k, flt, idx, mask, first, total)
            tried = first
            if hits is not None:
                return hits
        if complete and n_match <= IDS_QUERY_LIMIT:
            self.last_plan = "ids"
            ids = [i for i, p in idx.pos.items() if mask[p]]
            return self._fetch_meta(self._hits(col.query(query_embeddings=q, ids=ids, n_results=min(k, n_match),
                                                         include=["distances"])), col)
        wide = min(total, MAX_CANDIDATES)
        if wide > tried:
            hits = self._overfetch(col, q, k, flt, idx, mask, wide, total)
            if hits is not None:
                return hits
        return self._prefiltered(col, q, k, flt)

    def _overfetch(self, col: Any, q: list[np.ndarray], k: int, flt: CycleFilter, idx: FilterIndex,
                   mask: np.ndarray, n_cand: int, total: int) -> list[Hit] | None:
        """The k nearest passing the filter among the n_cand nearest overall, or None if fewer pass (then
        a closer match may lie beyond the candidates). Exact whenever it returns (up to HNSW recall)."""
        cand = self._hits(col.query(query_embeddings=q, n_results=n_cand, include=["distances"]))
        unknown = [h.id for h in cand if h.id not in idx.pos]
        extra: dict[str, dict[str, Any]] = {}
        if unknown:   # written by someone else since the table was read: check their real metadata
            got = col.get(ids=unknown, include=["metadatas"])
            extra = {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)}
        keep = [h for h in cand if (mask[idx.pos[h.id]] if h.id in idx.pos else flt.matches(extra.get(h.id)))][:k]
        if len(keep) < k and n_cand < total:
            return None
        self.last_plan = f"overfetch-{n_cand}"
        return self._fetch_meta(keep, col)

    @staticmethod
    def _fetch_meta(hits: list[Hit], col: Any) -> list[Hit]:
        if not hits:
            return hits
        got = col.get(ids=[h.id for h in hits], include=["metadatas"])
        metas = {i: dict(m or {}) for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)}
        for h in hits:
            h.metadata = metas.get(h.id, {})
        return hits

    def similar_to_outcome(self, outcome: TradeOutcome, k: int = 5, flt: CycleFilter | None = None) -> list[Hit]:
        """Past cycles most like this one (excluding itself)."""
        hits = self.query_cycles(outcome_vector(outcome), k + 1, flt)
        return [h for h in hits if h.id != outcome.trade_cycle_id][:k]

    # --- snapshots -------------------------------------------------------------------------------------
    def query_snapshots(self, vector: Sequence[float], k: int = 5, as_of: datetime | None = None,
                        asset: str | None = None) -> list[Hit]:
        col = self.snapshots()
        n = col.count()
        if n == 0:
            return []
        clauses: list[dict[str, Any]] = []
        if as_of is not None:
            clauses.append({"taken_ts": {"$lte": _ts(as_of)}})
        if asset:
            clauses.append({"asset": asset})
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        hits = self._hits(col.query(query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=min(k, n),
                                    where=where, include=["metadatas", "distances"]))
        return [h for h in hits if as_of is None or h.metadata.get("taken_ts", math.inf) <= _ts(as_of)]

    # --- documents ------------------------------------------------------------------------------------
    def has_document(self, doc_sha: str) -> bool:
        got = self.documents().get(where={"doc_sha": doc_sha}, limit=1, include=[])
        return bool(got["ids"])

    def add_document_chunks(self, ids: list[str], texts: list[str], metas: list[dict[str, Any]]) -> None:
        col = self.documents()
        vecs = np.asarray(self.text_ef(texts), dtype=np.float32)
        self.write(col, ids, vecs, metas, docs=texts, update=True)

    def query_documents(self, text: str, k: int = 5, as_of: datetime | None = None,
                        kind: str | None = None) -> list[Hit]:
        col = self.documents()
        n = col.count()
        if n == 0:
            return []
        clauses: list[dict[str, Any]] = []
        if as_of is not None:
            clauses.append({"doc_ts": {"$lte": _ts(as_of)}})
        if kind:
            clauses.append({"kind": kind})
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        qv = np.asarray(self.text_ef([text]), dtype=np.float32)
        hits = self._hits(col.query(query_embeddings=list(qv), n_results=min(k, n), where=where,
                                    include=["metadatas", "distances", "documents"]))
        return [h for h in hits if as_of is None or h.metadata.get("doc_ts", math.inf) <= _ts(as_of)]


# --- ingestion (idempotent) ---------------------------------------------------------------------------
def ingest_outcomes(store: RagStore, outcomes: Sequence[TradeOutcome], sources: Sequence[str] | None = None,
                    table_shas: dict[str, str] | None = None, table_sink: list[dict[str, Any]] | None = None,
                    ) -> IngestCounts:
    """Add/refresh cycles in the store and the outcomes table. Same id + same content: skipped.

    Batch callers pass ``table_shas`` (read once) and ``table_sink`` (rows to upsert once at the end)
    so the Parquet file is rewritten once per run, not once per batch; a crash in between is repaired
    by the next run (the store has the cycle, the table does not: ``repaired``).
    """
    counts = IngestCounts()
    latest: dict[str, tuple[TradeOutcome, str, str]] = {}
    for i, o in enumerate(outcomes):
        if o.trade_cycle_id in latest:
            counts.duplicates += 1
        latest[o.trade_cycle_id] = (o, outcome_sha(o), sources[i] if sources else "")
    if not latest:
        return counts
    col = store.cycles()
    ids = list(latest)
    in_store = store.stored_ids(col, ids)
    in_table = table_shas if table_shas is not None else store.table.shas()
    new_ids, upd_ids, rows = [], [], []
    vectors: dict[str, list[float]] = {}
    for cid in ids:
        o, sha, src = latest[cid]
        table_ok = in_table.get(cid) == sha
        # the table holds the content hash; the store is written before the table, so a table row with
        # this hash means the store got this content too (a crash in between leaves the table behind)
        if table_ok and cid in in_store:
            counts.skipped += 1
            counts.skipped_ids.append(cid)
            continue
        if cid not in in_store and cid not in in_table:
            counts.added += 1
        elif table_ok or cid not in in_table:   # one side missing: a half-finished earlier run
            counts.repaired += 1
        else:                                   # known with other content: a corrected outcome
            counts.updated += 1
        vec = outcome_vector(o)
        vectors[cid] = vec
        if not table_ok:
            rows.append(outcome_row(o, sha, src) | {VECTOR_KEY: vec})
        (upd_ids if cid in in_store else new_ids).append(cid)
    for group, update in ((new_ids, False), (upd_ids, True)):
        if group:
            vecs = np.asarray([vectors[c] for c in group], dtype=np.float32)
            metas = [cycle_metadata(latest[c][0]) for c in group]
            store.write(col, group, vecs, metas, update=update)
    if table_sink is not None:
        table_sink.extend(rows)
        if table_shas is not None:
            table_shas.update({r["trade_cycle_id"]: r["content_sha"] for r in rows})
    elif rows:
        store.table.upsert(rows)
    return counts


def ingest_snapshots(store: RagStore, snaps: Sequence[HistorySnapshot]) -> IngestCounts:
    counts = IngestCounts()
    latest: dict[str, tuple[HistorySnapshot, str]] = {}
    for s in snaps:
        if s.trade_cycle_id in latest:
            counts.duplicates += 1
        latest[s.trade_cycle_id] = (s, outcome_sha(s))
    if not latest:
        return counts
    col = store.snapshots()
    have = store.stored_shas(col, list(latest))
    new, upd = [], []
    for cid, (_s, sha) in latest.items():
        if have.get(cid) == sha:
            counts.skipped += 1
            counts.skipped_ids.append(cid)
        elif cid in have:
            upd.append(cid)
            counts.updated += 1
        else:
            new.append(cid)
            counts.added += 1
    for group, update in ((new, False), (upd, True)):
        if group:
            vecs = [snapshot_vector(latest[c][0]) for c in group]
            metas = [snapshot_metadata(latest[c][0], latest[c][1]) for c in group]
            store.write(col, group, vecs, metas, update=update)
    return counts


class OutcomeIngestBuffer:
    """Per-trade ingestion for a live loop. Each closed trade reaches the vector store at once; its
    outcomes-table row is buffered and upserted every ``flush_every`` trades and on ``flush()``,
    because one upsert rewrites the Parquet file. Rows not yet flushed are never lost: the store holds
    the cycle, and the next ingestion repairs the table (``repaired``)."""

    def __init__(self, store: RagStore, flush_every: int = 50) -> None:
        self.store = store
        self.flush_every = flush_every
        self._shas: dict[str, str] | None = None
        self._rows: list[dict[str, Any]] = []

    def __call__(self, outcome: TradeOutcome, snapshot: HistorySnapshot | None = None) -> IngestCounts:
        if self._shas is None:
            self._shas = self.store.table.shas()
        counts = ingest_outcomes(self.store, [outcome], table_shas=self._shas, table_sink=self._rows)
        if snapshot is not None:
            counts.merge(ingest_snapshots(self.store, [snapshot]))
        if len(self._rows) >= self.flush_every:
            self.flush()
        return counts

    def flush(self) -> None:
        if self._rows:
            self.store.table.upsert(self._rows)
            self._rows = []


def ingest_outcome(store: RagStore, outcome: TradeOutcome, snapshot: HistorySnapshot | None = None) -> IngestCounts:
    """For the execution loop: call once per closed trade (idempotent; safe to call again on retry)."""
    counts = ingest_outcomes(store, [outcome])
    if snapshot is not None:
        counts.merge(ingest_snapshots(store, [snapshot]))
    return counts
