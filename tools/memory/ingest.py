"""Idempotent ingestion into the RAG store: trade outcomes and history snapshots, in batches or one by one.

Keyed by ``trade_cycle_id`` plus a content hash (kept in the outcomes table for cycles, in the snapshot's
metadata for snapshots): a second run adds nothing (``skipped``), new content replaces the old
(``updated``), and a half-written earlier run (store or table only) is completed (``repaired``). The same
id twice in one batch keeps the last one (``duplicates``). Store errors propagate to the caller; nothing
written is ever rolled back, so a crash is repaired by the next run.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tools.memory.cycle_filter import ts_of
from tools.memory.outcomes_table import RC_PREFIX, VECTOR_KEY, outcome_row, outcome_sha
from tools.memory.situations import asset_of, outcome_vector, regime_labels, snapshot_vector
from tools.memory.store import RagStore
from trading.records.outcome_schema import HistorySnapshot, TradeOutcome


def cycle_metadata(o: TradeOutcome, sha: str = "") -> dict[str, Any]:
    """Only what filters need: every metadata key costs ingestion time in Chroma (measured ~2x between 3
    and 10 keys), so display data and the content hash live in the outcomes table instead."""
    meta: dict[str, Any] = {
        "symbol": o.symbol, "asset": asset_of(o.symbol), "asset_class": o.asset_class, "venue": o.venue,
        "side": o.side.upper(),
        "advisory": o.advisory.action.value if o.advisory else "NONE", "won": bool(o.won),
        "closed_ts": ts_of(o.closed_at),
    }
    for rc in o.reason_codes:
        meta[RC_PREFIX + str(rc)] = True
    return meta


def snapshot_metadata(s: HistorySnapshot, sha: str) -> dict[str, Any]:
    trend, vol = regime_labels(s.regime)
    return {"symbol": s.symbol, "asset": asset_of(s.symbol), "taken_ts": ts_of(s.taken_at), "sha": sha,
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
    new_ids: list[str] = []
    upd_ids: list[str] = []
    rows: list[dict[str, Any]] = []
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
