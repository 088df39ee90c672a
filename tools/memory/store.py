"""The RAG store: Chroma collections for trade cycles, history snapshots and documents.

- Embedded ``chromadb.PersistentClient`` under ``<data_dir>/chroma`` by default; a Chroma server through
  ``HttpClient`` when ``settings.rag.mode == "http"`` (the way past one machine, and past one process).
- Trade cycles and snapshots are searched by situation vectors (tools/memory/situations.py) passed as
  explicit embeddings; documents by a pluggable text embedding (tools/memory/embeddings.py). Nothing here
  ever lets Chroma's default embedding function run (it would download a model).
- Each collection records the embedding that built it (``warden_embedding`` in its metadata) and refuses
  to be queried or extended with another one (``EmbeddingMismatch``).
- Cycle queries take a ``CycleFilter`` (tools/memory/cycle_filter.py) and run the cheapest exact plan
  (tools/memory/cycle_search.py); every result is re-checked against its stored metadata, so ``as_of``
  never lets a later cycle through. Idempotent ingestion lives in tools/memory/ingest.py.

Failure contract: ``StoreError`` for a bad configuration or an unreachable server (one line, for the CLI),
``EmbeddingMismatch`` for a collection built with another embedding; an empty collection answers [].
Other Chroma errors propagate.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from tools.memory.cycle_filter import CycleFilter, FilterIndex, ts_of
from tools.memory.cycle_search import Hit, hits_of, local_exact, planned, prefiltered
from tools.memory.embeddings import HashingEmbedding, WardenEmbedding, make_text_embedding
from tools.memory.outcomes_table import OutcomesTable
from tools.memory.situations import SITUATION_DIM, SITUATION_VERSION, SNAPSHOT_DIM, SNAPSHOT_VERSION, outcome_vector
from trading.records.outcome_schema import TradeOutcome

log = logging.getLogger(__name__)

CYCLES = "trade_cycles"
SNAPSHOTS = "history_snapshots"
DOCUMENTS = "documents"
EMBEDDING_KEY = "warden_embedding"
COUNT_TTL_S = 2.0               # how long a collection count is trusted (see RagStore._cycle_count)


class StoreError(RuntimeError):
    """The store cannot do what was asked (bad configuration, unreachable server...)."""


class EmbeddingMismatch(StoreError):
    """A collection built with one embedding was asked to mix with another."""


@register_embedding_function
class ExplicitVectors(WardenEmbedding):
    """Placeholder embedding for collections searched by numeric vectors: records the vector layout in the
    collection's configuration and refuses to embed text (so Chroma never falls back to its default)."""

    NAME = "warden_explicit_vectors"

    def __init__(self, layout: str = SITUATION_VERSION, dim: int = SITUATION_DIM) -> None:
        self.layout = layout
        self.dim = dim

    def __call__(self, input: Documents) -> Embeddings:
        raise StoreError(f"collection vectors are {self.layout} computed from numbers; pass embeddings, not text")

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ExplicitVectors:
        return ExplicitVectors(layout=config.get("layout", SITUATION_VERSION), dim=int(config.get("dim", SITUATION_DIM)))

    def get_config(self) -> dict[str, Any]:
        return {"layout": self.layout, "dim": self.dim}

    def identity(self) -> str:
        return f"{self.layout}-{self.dim}"


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
        local = local_exact(col, self._filter_index(), q[0], k, flt, total) if self.local_index else None
        if local is not None:
            hits, self.last_plan = local
        elif flt is None:
            self.last_plan = "ann"
            return hits_of(col.query(query_embeddings=q, n_results=min(k, total), include=["metadatas", "distances"]))
        else:
            hits, self.last_plan = planned(col, self._filter_index(), q, k, flt, total)
        if flt is None:
            return hits
        bad = [h.id for h in hits if not flt.matches(h.metadata)]
        if bad:   # stale filter index (another process re-ingested): answer exactly instead
            log.warning("filter index stale for %s; pre-filtering", bad)
            hits, self.last_plan = prefiltered(col, q, k, flt)
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
        return _dated_query(col, n, [np.asarray(vector, dtype=np.float32)], k, "taken_ts", as_of, {"asset": asset},
                            ["metadatas", "distances"])

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
        qv = np.asarray(self.text_ef([text]), dtype=np.float32)
        return _dated_query(col, n, list(qv), k, "doc_ts", as_of, {"kind": kind}, ["metadatas", "distances", "documents"])


def _dated_query(col: Any, n: int, query: list[np.ndarray], k: int, ts_key: str, as_of: datetime | None,
                 equal: dict[str, str | None], include: list[str]) -> list[Hit]:
    """The ``k`` nearest of ``n`` entries dated (metadata ``ts_key``) no later than ``as_of`` and equal to each
    non-empty value of ``equal``; the date is checked again on every hit."""
    clauses: list[dict[str, Any]] = []
    if as_of is not None:
        clauses.append({ts_key: {"$lte": ts_of(as_of)}})
    clauses += [{key: value} for key, value in equal.items() if value]
    where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
    hits = hits_of(col.query(query_embeddings=query, n_results=min(k, n), where=where, include=include))
    return [h for h in hits if as_of is None or h.metadata.get(ts_key, math.inf) <= ts_of(as_of)]
