"""A duplicate fill never double-counts PnL: shuffled, duplicated and dropped fills (property test)."""
from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_exec_guarded import T0, Clock, agree, bar, entry, make_stack
from trading.brokers.paper import PaperBroker
from trading.domain.models import Fill, Position, Side


class FlakyFeed(PaperBroker):
    """A broker whose fill feed repeats, reorders and loses messages; ``executions()`` is the truth."""

    def __init__(self) -> None:
        super().__init__()
        self.truth: list[Fill] = []

    def deliver(self, fills: list[Fill]) -> None:
        self._dispatch([("fill", f) for f in fills])

    def executions(self, since=None):  # noqa: ANN001, ANN201
        return list(self.truth)

    def positions(self):  # noqa: ANN201
        net = sum(f.signed_qty for f in self.truth)
        return [Position(symbol="ES", qty=net)] if net else []


def _parts(total: int, cuts: list[int]) -> list[int]:
    points = sorted({c for c in cuts if 0 < c < total})
    edges = [0, *points, total]
    return [b - a for a, b in zip(edges, edges[1:])]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    qty=st.integers(1, 6),
    entry_cuts=st.lists(st.integers(1, 5), max_size=3),
    exit_cuts=st.lists(st.integers(1, 5), max_size=3),
    entry_px=st.lists(st.integers(-8, 8), min_size=4, max_size=4),
    exit_px=st.lists(st.integers(-40, 40), min_size=4, max_size=4),
    delivery=st.lists(st.integers(0, 7), max_size=24),
)
def test_shuffled_duplicated_dropped_fills_never_double_count(qty, entry_cuts, exit_cuts, entry_px, exit_px,
                                                              delivery) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        broker = FlakyFeed()
        clock = Clock()
        s = make_stack(root, broker=broker, clock=clock, cfg=None)
        broker.on_bar("ES", bar(T0, 5000, 5001, 4999, 5000))
        res = s.executor.submit(entry(Side.BUY, 5000, 4997, 5050, qty=qty), agree(Side.BUY, clock))
        assert res.sent
        parent, _stop, target = res.orders
        cycle = res.trade_cycle_id
        # the truth: the entry in parts, then the target in parts (a fully closed long)
        truth: list[Fill] = []
        for i, q in enumerate(_parts(qty, entry_cuts)):
            truth.append(Fill(exec_id=f"e{i}", order_id=parent.order_id, symbol="ES", side=Side.BUY, qty=q,
                              price=5000 + entry_px[i % 4] * 0.25, ts=T0 + timedelta(seconds=10 + i),
                              commission=2.25 * q, trade_cycle_id=cycle))
        for i, q in enumerate(_parts(qty, exit_cuts)):
            truth.append(Fill(exec_id=f"x{i}", order_id=target.order_id, symbol="ES", side=Side.SELL, qty=q,
                              price=5050 + exit_px[i % 4] * 0.25, ts=T0 + timedelta(seconds=100 + i),
                              commission=2.25 * q, trade_cycle_id=cycle))
        broker.truth = truth
        # independent oracle: a fully closed long earns sells - buys, times the multiplier, minus fees
        gross = sum(f.qty * f.price for f in truth if f.side is Side.SELL) - \
            sum(f.qty * f.price for f in truth if f.side is Side.BUY)
        oracle = round(gross * 50 - sum(f.commission for f in truth), 2)

        stream = [truth[i % len(truth)] for i in delivery]
        broker.deliver(stream)
        delivered = {f.exec_id for f in stream}
        assert len(s.journal.fills(cycle)) == len(delivered)
        assert s.executor.stats["duplicate_fills"] == len(stream) - len(delivered)
        out = s.journal.outcome(cycle)
        if delivered == {f.exec_id for f in truth}:
            assert out is not None and out.pnl == oracle
        else:
            assert out is None                # a trade is never closed on a partial picture

        rep = s.executor.reconcile("manual")    # the broker's executions fill the gaps
        assert rep.ok, rep.describe()
        out = s.journal.outcome(cycle)
        assert out is not None and out.pnl == oracle
        assert len(s.journal.fills(cycle)) == len(truth)
        broker.deliver(truth + truth[::-1])     # late repeats change nothing
        assert s.journal.outcome(cycle).pnl == oracle
        assert len(s.journal.outcomes()) == 1
        ledger_outcomes = [ln for ln in s.ledger.path.read_text().splitlines() if '"type": "outcome"' in ln]
        assert len(ledger_outcomes) == 1
        files = list((root / "training" / "trade_outcomes").rglob("*.json"))
        assert len(files) == 1
        s.journal.close()
