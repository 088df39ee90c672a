"""The decision agent's memory: similar past cycles from the real (embedded) RAG store."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agents.data_ingestion import compute_features
from agents.decision import RagSimilarCycles, decision_evidence, decision_policy
from agents.grounding import ungrounded_numbers
from graphs.advisory_session import open_memory
from tools.memory.ingest import ingest_outcomes
from tools.memory.situations import asset_of
from tools.memory.store import RagStore
from tools.samples.outcomes import generate
from trading.domain.models import Side, Signal
from trading.market.candles import Bar
from trading.settings import load_settings


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[RagStore, list]:
    d = tmp_path_factory.mktemp("rag")
    outs = [o for o, _ in generate(80, seed=11, snapshots=False)]
    s = RagStore.open(d)
    ingest_outcomes(s, outs)
    return s, outs


def _bars(ts, n: int = 60) -> list[Bar]:
    return [Bar(ts - timedelta(minutes=n - i), 6850.0 + i * 0.5, 6851.0 + i * 0.5, 6849.0 + i * 0.5, 6850.0 + i * 0.5)
            for i in range(n)]


def test_similar_cycles_come_from_the_store_without_look_ahead(store) -> None:
    s, outs = store
    mid = sorted(outs, key=lambda o: o.closed_at)[len(outs) // 2].closed_at
    sig = Signal(symbol="ESZ5", side=Side.BUY, label="SCALP_BUY", confidence=0.6, price=6880.0, stop=6875.0,
                 target=6890.0, ts=mid)
    f = compute_features("ESZ5", _bars(mid), live_position=0.0)
    lookup = RagSimilarCycles(s, venue="ib", k=5)
    got = lookup(f, sig)
    assert 0 < len(got) <= 5
    by_id = {o.trade_cycle_id: o for o in outs}
    for c in got:
        o = by_id[c["trade_cycle_id"]]
        assert o.closed_at <= mid                                  # as_of: nothing from the cycle's future
        assert asset_of(o.symbol) == "ES"                          # same asset
        assert c["won"] == o.won and c["pnl_usd"] == pytest.approx(o.pnl_usd)
        assert 0.0 <= c["similarity"] <= 1.0 + 1e-6
    # the memory is evidence: the policy cites its counts without inventing numbers
    ev = decision_evidence(sig, f, "entry", got)
    out = decision_policy(ev)
    assert ungrounded_numbers(out.rationale, ev) == []
    early = lookup(f, sig.model_copy(update={"ts": min(o.closed_at for o in outs) - timedelta(hours=1)}))
    assert early == []


def test_open_memory_wires_lookup_and_idempotent_ingest(tmp_path: Path) -> None:
    similar, ingest = open_memory(tmp_path, load_settings(data_dir=tmp_path), "paper")
    assert similar is not None and ingest is not None
    o, _ = next(iter(generate(1, seed=3, snapshots=False)))
    first, again = ingest(o, None), ingest(o)
    assert (first.added, again.added, again.skipped) == (1, 0, 1)
