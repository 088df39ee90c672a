"""The RAG store over real Chroma (embedded, and a real `chroma run` server on 127.0.0.1): idempotent
ingestion, metadata filters checked against a brute-force NumPy search, as-of never leaking the future,
and collections refusing an embedding they were not built with."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import chromadb
import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tools.memory.cycle_search as cs
from tools.memory.cycle_filter import CycleFilter
from tools.memory.embeddings import HashingEmbedding
from tools.memory.ingest import cycle_metadata, ingest_outcome, ingest_outcomes
from tools.memory.outcomes_table import OutcomesTable
from tools.memory.situations import outcome_vector
from tools.memory.store import EmbeddingMismatch, ExplicitVectors, RagStore, StoreError
from tools.samples.outcomes import generate

N = 300
_ONNX_CACHE = Path.home() / ".cache" / "chroma" / "onnx_models"
_ONNX_CACHE_EXISTED = _ONNX_CACHE.exists()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("store")
    outs = [o for o, _ in generate(N, seed=11)]
    store = RagStore.open(d)
    counts = ingest_outcomes(store, outs)
    assert counts.added == N
    vecs = np.array([outcome_vector(o) for o in outs], dtype=np.float64)
    return store, outs, vecs


def _brute(outs, vecs, q, flt: CycleFilter, k: int) -> list[float]:
    """Cosine distances of the k nearest outcomes passing the filter (the NumPy baseline)."""
    keep = [i for i, o in enumerate(outs) if flt.matches(cycle_metadata(o, ""))]
    if not keep:
        return []
    d = 1.0 - vecs[keep] @ q
    return sorted(d.tolist())[:k]


FILTERS = {
    "symbol": lambda outs: CycleFilter(symbol=outs[0].symbol),
    "venue": lambda outs: CycleFilter(venue="polymarket"),
    "asset+side": lambda outs: CycleFilter(asset="ES", side="SELL"),
    "lost": lambda outs: CycleFilter(won=False),
    "reason code": lambda outs: CycleFilter(reason_codes=["AWS_WAIT"]),
    "two codes": lambda outs: CycleFilter(reason_codes=["MISSING_PROTECTION", "ADVISORY_CONFLICT"]),
    "advisory": lambda outs: CycleFilter(advisory="WAIT"),
    "date range": lambda outs: CycleFilter(since=outs[50].closed_at, until=outs[120].closed_at),
    "as_of": lambda outs: CycleFilter(as_of=outs[40].closed_at),
    "nothing": lambda outs: CycleFilter(symbol="NOPE"),
}


@pytest.mark.parametrize("plan", ["local", "ids", "overfetch", "wide", "prefilter"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_filtered_search_matches_brute_force(built, name: str, plan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store, outs, vecs = built
    if plan != "local":                      # the Chroma-side planner, without the local exact index
        monkeypatch.setattr(store, "local_index", False)
    if plan == "ids":
        monkeypatch.setattr(cs, "FIRST_CANDIDATES", 0)
    if plan in ("overfetch", "wide"):
        monkeypatch.setattr(cs, "IDS_QUERY_LIMIT", 0)
    if plan == "wide":                       # no first pass, a narrow widest pass: escalation and fallback
        monkeypatch.setattr(cs, "FIRST_CANDIDATES", 0)
        monkeypatch.setattr(cs, "MAX_CANDIDATES", 40)
    if plan == "prefilter":
        monkeypatch.setattr(store, "_filter_index", lambda: None)
    flt = FILTERS[name](outs)
    for qi in (3, 77, 250):
        q = vecs[qi]
        hits = store.query_cycles(q, 5, flt)
        want = _brute(outs, vecs, q, flt, 5)
        assert [round(h.distance, 4) for h in hits] == [round(x, 4) for x in want], (name, plan, store.last_plan)
        assert all(flt.matches(h.metadata) for h in hits)
        expect = {"local": ("local-exact",), "ids": ("ids", "overfetch-300", "index-empty"), "overfetch": ("overfetch", "prefilter", "index-empty"),
                  "wide": ("overfetch-40", "prefilter", "index-empty"), "prefilter": ("prefilter",)}[plan]
        assert store.last_plan.startswith(expect), (plan, store.last_plan)


def test_unfiltered_search_finds_itself(built, monkeypatch: pytest.MonkeyPatch) -> None:
    store, outs, vecs = built
    hits = store.query_cycles(vecs[9], 3)
    assert hits[0].id == outs[9].trade_cycle_id and hits[0].distance < 1e-5 and store.last_plan == "local-exact"
    monkeypatch.setattr(store, "local_index", False)
    ann = store.query_cycles(vecs[9], 3)
    assert store.last_plan == "ann" and [h.id for h in ann] == [h.id for h in hits]
    assert store.similar_to_outcome(outs[9], 3)[0].id != outs[9].trade_cycle_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, N - 1), qi=st.integers(0, N - 1), shift=st.integers(-90, 90))
def test_as_of_never_returns_a_later_cycle(built, cut: int, qi: int, shift: int) -> None:
    store, outs, vecs = built
    as_of = outs[cut].closed_at + timedelta(seconds=shift)
    hits = store.query_cycles(vecs[qi], 5, CycleFilter(as_of=as_of))
    by_id = {o.trade_cycle_id: o for o in outs}
    assert all(by_id[h.id].closed_at <= as_of for h in hits)
    want = _brute(outs, vecs, vecs[qi], CycleFilter(as_of=as_of), 5)
    assert len(hits) == len(want)


def test_ingestion_is_idempotent_and_tracks_changes(tmp_path: Path) -> None:
    outs = [o for o, _ in generate(40, seed=5)]
    store = RagStore.open(tmp_path)
    first = ingest_outcomes(store, outs + outs[:3])
    assert (first.added, first.duplicates) == (40, 3)
    again = ingest_outcomes(store, outs)
    assert (again.added, again.updated, again.skipped) == (0, 0, 40)
    assert sorted(again.skipped_ids) == sorted(o.trade_cycle_id for o in outs)
    fixed = outs[7].model_copy(update={"pnl_usd": outs[7].pnl_usd - 1.0})
    upd = ingest_outcome(store, fixed)
    assert (upd.updated, upd.added) == (1, 0)
    assert store.cycles().count() == 40
    row = store.table.load().set_index("trade_cycle_id").loc[fixed.trade_cycle_id]
    assert row["pnl_usd"] == pytest.approx(fixed.pnl_usd)
    # a half-finished run (table lost after the store was written) is repaired, not duplicated
    store.table.path.unlink()
    rep = ingest_outcomes(store, [fixed] + outs[8:])
    assert rep.repaired == len(outs) - 7 and rep.added == 0
    assert len(store.table.load()) == len(outs) - 7
    assert store.cycles().count() == 40


def test_cycles_written_by_someone_else_are_still_found(tmp_path: Path) -> None:
    """The filter index (outcomes table) misses cycles another writer added: they are checked directly."""
    outs = [o for o, _ in generate(60, seed=8)]
    store = RagStore.open(tmp_path)
    ingest_outcomes(store, outs[:50])
    # complete: the local exact index answers, and stale metadata in it never lets a wrong cycle through
    first = outs[1]
    store.cycles().update(ids=[first.trade_cycle_id], metadatas=[{"venue": "elsewhere"}])
    hits = store.query_cycles(outcome_vector(first), 3, CycleFilter(venue=first.venue))
    assert store.last_plan == "prefilter" and first.trade_cycle_id not in [h.id for h in hits]
    late = outs[50:]
    col = store.cycles()
    store.write(col, [o.trade_cycle_id for o in late], [outcome_vector(o) for o in late],
                [cycle_metadata(o, "x") for o in late])
    target = late[4]
    flt = CycleFilter(venue=target.venue)
    hits = store.query_cycles(outcome_vector(target), 3, flt)
    assert hits[0].id == target.trade_cycle_id
    # and stale metadata in the index never lets a non-matching cycle through
    other = outs[0]
    col.update(ids=[other.trade_cycle_id], metadatas=[{"venue": "elsewhere"}])
    hits = store.query_cycles(outcome_vector(other), 3, CycleFilter(venue=other.venue))
    assert other.trade_cycle_id not in [h.id for h in hits]
    assert all(h.metadata["venue"] == other.venue for h in hits)


def test_documents_refuse_another_embedding(tmp_path: Path) -> None:
    store = RagStore.open(tmp_path, text_embedding=HashingEmbedding(dim=384))
    store.add_document_chunks(["d-1"], ["exit order reversed a short"],
                              [{"doc_sha": "abc", "title": "t", "kind": "other", "source": "x", "doc_ts": 1.0}])
    assert store.query_documents("reversed short", 1)[0].id == "d-1"
    other = RagStore.open(tmp_path, text_embedding=HashingEmbedding(dim=256))
    with pytest.raises(EmbeddingMismatch, match="hashing-v2-384.*hashing-v2-256"):
        other.query_documents("reversed short", 1)
    with pytest.raises(EmbeddingMismatch):
        other.add_document_chunks(["d-2"], ["x"], [{"doc_sha": "def"}])


def test_a_foreign_collection_is_refused(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    client.create_collection("trade_cycles", embedding_function=None)
    with pytest.raises(EmbeddingMismatch, match="not made by Warden"):
        RagStore(client, tmp_path).cycles()


def test_numeric_collections_never_embed_text() -> None:
    with pytest.raises(StoreError, match="pass embeddings"):
        ExplicitVectors()(["some text"])


def test_table_upsert_is_atomic_and_keyed(tmp_path: Path) -> None:
    from tools.memory.outcomes_table import outcome_row

    outs = [o for o, _ in generate(5, seed=2)]
    t = OutcomesTable(tmp_path / "t.parquet")
    assert t.upsert([outcome_row(o) for o in outs]) == (5, 0)
    assert t.upsert([outcome_row(o) for o in outs]) == (0, 0)
    changed = outs[0].model_copy(update={"won": not outs[0].won})
    assert t.upsert([outcome_row(changed)]) == (0, 1)
    df = OutcomesTable(tmp_path / "t.parquet").load()
    assert len(df) == 5 and df.set_index("trade_cycle_id").loc[changed.trade_cycle_id, "won"] == changed.won
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]      # no temp files left behind


# --- a real Chroma server on loopback -----------------------------------------------------------------
def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(exe).exists():
        pytest.skip("the chroma CLI is not installed")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("chroma server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_http_mode_against_a_real_server(chroma_server: int, tmp_path: Path) -> None:
    outs = [o for o, _ in generate(50, seed=4)]
    store = RagStore.open(tmp_path, mode="http", host="127.0.0.1", port=chroma_server)
    assert ingest_outcomes(store, outs).added == 50
    assert ingest_outcomes(store, outs).skipped == 50
    q = outcome_vector(outs[10])
    hits = store.query_cycles(q, 3, CycleFilter(as_of=outs[10].closed_at))
    assert hits[0].id == outs[10].trade_cycle_id
    assert all(h.metadata["closed_ts"] <= outs[10].closed_at.timestamp() for h in hits)


def test_http_mode_unreachable_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot reach the Chroma server at 127\.0\.0\.1"):
        RagStore.open(tmp_path, mode="http", host="127.0.0.1", port=_free_port())


def test_no_model_download_happened() -> None:
    # everything above ran with explicit vectors / the hashing embedding: Chroma's ONNX cache stays absent
    if _ONNX_CACHE_EXISTED:
        pytest.skip("Chroma's model cache existed before the tests: cannot tell")
    assert not _ONNX_CACHE.exists()


def test_vector_file_upserts_by_id_and_ignores_another_layout(tmp_path: Path) -> None:
    from tools.memory.outcomes_table import VectorFile

    vf = VectorFile(tmp_path / "v.parquet", layout="test-v1-3", dim=3)
    assert vf.load() is None
    vf.upsert({"a": [1, 0, 0], "b": [0, 1, 0]})
    vf.upsert({"b": [0, 0, 1], "c": [0.5, 0.5, 0]})
    ids, mat = vf.load()
    got = dict(zip(ids, mat.tolist(), strict=True))
    assert got == {"a": [1, 0, 0], "b": [0, 0, 1], "c": [0.5, 0.5, 0]}
    assert VectorFile(tmp_path / "v.parquet", layout="test-v2-3", dim=3).load() is None


def test_local_index_steps_aside_when_it_does_not_cover_the_collection(built, monkeypatch: pytest.MonkeyPatch) -> None:
    store, outs, vecs = built
    store.query_cycles(vecs[0], 5, CycleFilter(won=True))
    assert store.last_plan == "local-exact"
    idx = store._filter_index()
    monkeypatch.setattr(idx, "has_vec", np.r_[idx.has_vec[:-1], False])     # one row without its vector
    hits = store.query_cycles(vecs[0], 5, CycleFilter(won=True))
    assert store.last_plan != "local-exact"
    assert [round(h.distance, 4) for h in hits] == [round(x, 4) for x in _brute(outs, vecs, vecs[0],
                                                                                  CycleFilter(won=True), 5)]
