"""RAG store benchmark: ingestion rate and k=5 query latency at 10,000 and 100,000 trade cycles.

    python bench/bench_rag.py [--sizes 10000 100000] [--queries 300] [--json out.json]

For each size, generated trade outcomes (tools/samples/outcomes.py) are ingested through the same path
as `warden ingest` (situation vectors, idempotency check, batched Chroma adds, one outcomes-table
write), then queried with the situation vectors of held-out outcomes:
- without a filter, and with metadata filters (asset, advisory, reason code, venue + outcome, as-of,
  a combination), through ``RagStore.query_cycles`` (the planner: over-fetch / id-restricted search);
- the same filters through Chroma's own pre-filter (``where=``), for reference;
- the baseline: brute-force NumPy cosine search over the same vectors (filters as boolean masks).
The store answers from its local exact index (the outcomes table's situation vectors) when that index
covers the collection; the same queries are also timed without it (Chroma's HNSW with over-fetch /
id-restricted search / pre-filter). Figures are medians/99th percentiles measured in this process;
ratios are against the NumPy baseline run in the same process.
Goal (issue 5): p99 < 50 ms at 100k with a filter; ingestion > 1,000 cycles/s.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from tools.memory.cycle_filter import CycleFilter  # noqa: E402
from tools.memory.ingest import cycle_metadata, ingest_outcomes  # noqa: E402
from tools.memory.situations import asset_of, outcome_vector  # noqa: E402
from tools.memory.store import RagStore  # noqa: E402
from tools.samples.outcomes import generate  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def filters(outs: list, rng: np.random.Generator) -> dict[str, callable]:
    """Filters per query (``held`` outcome ``h``): the ones the agents use, and one adversarial case."""
    t0, t1 = outs[0].closed_at, outs[-1].closed_at
    span = (t1 - t0).total_seconds()

    def as_of():  # noqa: ANN202
        return t0 + timedelta(seconds=float(rng.uniform(0.05, 1.0)) * span)

    return {
        "same asset+as_of": lambda h: CycleFilter(asset=asset_of(h.symbol), as_of=as_of()),
        "symbol": lambda h: CycleFilter(symbol=outs[int(rng.integers(len(outs)))].symbol),
        "advisory=WAIT": lambda h: CycleFilter(advisory="WAIT"),
        "lost": lambda h: CycleFilter(won=False),
        "rc=MISSING_PROTECTION": lambda h: CycleFilter(reason_codes=["MISSING_PROTECTION"]),
        "venue+lost+as_of": lambda h: CycleFilter(venue=h.venue, won=False, as_of=as_of()),
        "date range (1/10)": lambda h: (lambda a: CycleFilter(since=a, until=a + timedelta(seconds=span / 10)))(
            t0 + timedelta(seconds=float(rng.uniform(0, 0.9)) * span)),
        "other asset (adversarial)": lambda h: CycleFilter(asset="ES" if asset_of(h.symbol) != "ES" else "BTC"),
    }


def run(n: int, n_queries: int, work: Path, prefilter_queries: int, planner_queries: int) -> dict:
    rng = np.random.default_rng(n)
    t = time.perf_counter()
    outs = [o for o, _ in generate(n, seed=1, snapshots=False)]
    held = [o for o, _ in generate(n_queries, seed=2, snapshots=False)]
    gen_s = time.perf_counter() - t

    d = work / f"n{n}"
    shutil.rmtree(d, ignore_errors=True)
    store = RagStore.open(d)
    t = time.perf_counter()
    sink: list[dict] = []
    shas: dict[str, str] = {}
    batch = 5000
    for s in range(0, n, batch):
        ingest_outcomes(store, outs[s:s + batch], table_shas=shas, table_sink=sink)
    store.table.upsert(sink)
    ingest_s = time.perf_counter() - t
    t = time.perf_counter()
    again = ingest_outcomes(store, outs[: min(n, 5000)])
    skip_rate = min(n, 5000) / (time.perf_counter() - t)
    assert again.skipped == min(n, 5000) and again.added == 0

    t = time.perf_counter()
    V = np.asarray([outcome_vector(o) for o in outs], dtype=np.float32)
    vec_rate = n / (time.perf_counter() - t)
    Q = np.asarray([outcome_vector(o) for o in held], dtype=np.float32)
    metas = [cycle_metadata(o) for o in outs]
    ids = np.array([o.trade_cycle_id for o in outs])
    # the baseline's own filter columns (plain NumPy arrays, independent of the store's filter index)
    cols = {k: np.array([m[k] for m in metas]) for k in ("symbol", "asset", "venue", "side", "advisory", "won")}
    closed = np.array([m["closed_ts"] for m in metas], dtype=np.float64)
    rcs = {k[3:] for m in metas for k in m if k.startswith("rc_")}
    rc = {c: np.array([bool(m.get("rc_" + c)) for m in metas]) for c in rcs}

    def np_mask(f: CycleFilter) -> np.ndarray:
        m = np.ones(n, dtype=bool)
        for key in cols:
            v = getattr(f, key)
            if v is not None:
                m &= cols[key] == v
        for c in f.reason_codes:
            m &= rc.get(c, np.zeros(n, dtype=bool))
        for bound, op in ((f.since, np.greater_equal), (f.until, np.less), (f.as_of, np.less_equal)):
            if bound is not None:
                m &= op(closed, bound.timestamp())
        return m

    def brute(q: np.ndarray, mask: np.ndarray | None) -> list[str]:
        sub = np.flatnonzero(mask) if mask is not None else None
        M = V[sub] if sub is not None else V
        if len(M) == 0:
            return []
        dist = 1.0 - M @ q
        k = min(5, len(M))
        top = np.argpartition(dist, k - 1)[:k]
        top = top[np.argsort(dist[top])]
        return list(ids[sub[top]] if sub is not None else ids[top])

    res: dict = {"n": n, "generate_s": round(gen_s, 1), "ingest_s": round(ingest_s, 2),
                 "ingest_cycles_per_s": round(n / ingest_s), "reingest_skip_per_s": round(skip_rate),
                 "vectors_per_s": round(vec_rate), "queries": {}}
    cases = {"none": lambda h: None} | filters(outs, rng)
    chroma_only = RagStore(store.client, store.data_dir, local_index=False)   # same collections, Chroma planner
    for name, make in cases.items():
        lat, base, pre, recall, plans = [], [], [], [], {}
        clat, crecall, cplans = [], [], {}
        for i, q in enumerate(Q):
            flt = make(held[i])
            t = time.perf_counter()
            hits = store.query_cycles(q, 5, flt)
            lat.append(time.perf_counter() - t)
            plans[store.last_plan.split("-")[0]] = plans.get(store.last_plan.split("-")[0], 0) + 1
            if i < planner_queries:
                t = time.perf_counter()
                chits = chroma_only.query_cycles(q, 5, flt)
                clat.append(time.perf_counter() - t)
                p = chroma_only.last_plan.split("-")[0]
                cplans[p] = cplans.get(p, 0) + 1
            t = time.perf_counter()
            want = brute(q, None if flt is None else np_mask(flt))     # mask + search: the whole baseline
            base.append(time.perf_counter() - t)
            recall.append(len({h.id for h in hits} & set(want)) / max(1, len(want)))
            if i < planner_queries:
                crecall.append(len({h.id for h in chits} & set(want)) / max(1, len(want)))
            if flt is not None and i < prefilter_queries:
                col = store.cycles()
                t = time.perf_counter()
                col.query(query_embeddings=[q], n_results=5, where=flt.where(), include=["metadatas", "distances"])
                pre.append(time.perf_counter() - t)
        row = {"p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
               "numpy_p50_ms": round(pct(base, 50), 2), "numpy_p99_ms": round(pct(base, 99), 2),
               "recall_at_5": round(float(np.mean(recall)), 3), "plans": plans,
               "chroma_planner_p50_ms": round(pct(clat, 50), 2), "chroma_planner_p99_ms": round(pct(clat, 99), 2),
               "chroma_planner_recall_at_5": round(float(np.mean(crecall)), 3), "chroma_planner_plans": cplans}
        row["p50_vs_numpy"] = round(row["p50_ms"] / row["numpy_p50_ms"], 2) if row["numpy_p50_ms"] else None
        if pre:
            row["chroma_prefilter_p50_ms"] = round(pct(pre, 50), 2)
            row["chroma_prefilter_p99_ms"] = round(pct(pre, 99), 2)
        res["queries"][name] = row
    res["filtered_worst_p99_ms"] = max(r["p99_ms"] for k, r in res["queries"].items() if k != "none")
    return res


def show(r: dict) -> None:
    print(f"\n== {r['n']:,} trade cycles ==")
    print(f"ingestion: {r['ingest_cycles_per_s']:,} cycles/s ({r['ingest_s']} s; vectors alone "
          f"{r['vectors_per_s']:,}/s; re-ingest skip check {r['reingest_skip_per_s']:,}/s)")
    print("latency ms as p50/p99; store = RagStore.query_cycles (local exact index), chroma planner = the same "
          "store without it (HNSW over-fetch / ids / where), chroma where = Chroma's own pre-filter")
    print(f"{'filter':26} {'store':>13} {'numpy':>11} {'x numpy':>7} {'recall':>6} {'chroma planner':>15} "
          f"{'recall':>6} {'chroma where':>14}  planner plans")
    for name, q in r["queries"].items():
        cw = f"{q['chroma_prefilter_p50_ms']:.1f}/{q['chroma_prefilter_p99_ms']:.1f}" \
            if "chroma_prefilter_p50_ms" in q else "-"
        print(f"{name:26} {q['p50_ms']:6.2f}/{q['p99_ms']:<6.2f} {q['numpy_p50_ms']:5.2f}/{q['numpy_p99_ms']:<5.2f} "
              f"{q['p50_vs_numpy'] or 0:7.2f} {q['recall_at_5']:6.3f} "
              f"{q['chroma_planner_p50_ms']:7.1f}/{q['chroma_planner_p99_ms']:<7.1f} {q['chroma_planner_recall_at_5']:6.3f} "
              f"{cw:>14}  {q['chroma_planner_plans']}")
    print(f"worst store p99 with a filter: {r['filtered_worst_p99_ms']} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--prefilter-queries", type=int, default=30, help="queries also run through Chroma's where=")
    ap.add_argument("--planner-queries", type=int, default=100,
                    help="queries also run through the store without its local index (Chroma HNSW planner)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="keep the stores in this folder")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="bench_rag_"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in a.sizes:
            r = run(n, a.queries, work, a.prefilter_queries, a.planner_queries)
            show(r)
            results.append(r)
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
