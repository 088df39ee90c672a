"""Advisory cycle latency and the graph's overhead.

    python bench/bench_advisory.py [--cycles 1500] [--outcomes 10000] [--store DIR]

A paper session (guarded executor, SQLite journal, risk ledger, telemetry) replays synthetic ES bars;
after each bar one advisory cycle runs with the offline reasoner and the decision agent's memory: the
RAG store holding ``--outcomes`` past trade outcomes (tools/samples/outcomes.py, built once and reused
from ``--store``). Cycles rotate through the situations the loop meets: a good entry (sent as a
bracket), its exit (reduce-only), a low-confidence entry (WAIT, blocked), the seed-000 stale exit
(blocked) and a HOLD.

Printed: p50 / p99 / mean per cycle for
  direct     the same five node functions called in a plain loop (the baseline),
  graph      the LangGraph StateGraph without a checkpointer,
  sqlite     the graph with the default SQLite checkpointer (durability "exit"),
  sqlite-sync the same, checkpointing after every node,
and the ratios graph/direct and sqlite/direct, the process CPU time per cycle (what a cycle costs,
whatever else the shared machine runs), p50 by cycle kind, and the memory lookup alone. Each variant
runs in a fresh, identical environment in this process, so the ratios compare like with like.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.decision import RagSimilarCycles  # noqa: E402
from agents.llm import OfflineReasoner  # noqa: E402
from agents.outcome_recorder import OutcomeRecorder  # noqa: E402
from graphs.advisory import NODES, decision, execute, ingest, record, risk  # noqa: E402
from graphs.advisory_runner import AdvisoryGraph  # noqa: E402
from graphs.advisory_state import AdvisoryContext  # noqa: E402
from trading.brokers.paper import PaperBroker  # noqa: E402
from trading.domain.models import Side, Signal, new_cycle_id  # noqa: E402
from trading.execution.wiring import open_session  # noqa: E402
from trading.market.candles import Bar  # noqa: E402
from trading.settings import load_settings  # noqa: E402

SYM = "ESZ5"
T0 = datetime(2026, 2, 2, 14, 30, tzinfo=UTC)     # after every sample outcome: the whole store is "past"


def build_store(path: Path, n: int) -> Any:
    from tools.memory.ingest import ingest_outcomes
    from tools.memory.store import RagStore, StoreError
    from tools.samples.outcomes import generate

    try:
        store = RagStore.open(path)
        have = store.cycles().count()
    except StoreError as exc:      # built by an older layout of the store: rebuild the bench's own copy
        print(f"rebuilding {path}: {exc}")
        shutil.rmtree(path)
        store, have = RagStore.open(path), 0
    if have < n:
        t = time.perf_counter()
        outs = [o for o, _ in generate(n, seed=7, snapshots=False)]
        for i in range(0, len(outs), 2000):
            ingest_outcomes(store, outs[i:i + 2000])
        print(f"built RAG store: {n} outcomes in {time.perf_counter() - t:.1f} s ({path})")
    return store


def bar(i: int) -> Bar:
    px = 6850.0 + 8.0 * ((i % 40) - 20) / 20.0
    return Bar(T0 + timedelta(minutes=i), px, px + 1.5, px - 1.5, px + 0.25)


class Env:
    def __init__(self, root: Path, store: Any) -> None:
        settings = load_settings(data_dir=root)
        settings.guards.max_orders_per_minute = 10_000
        self.broker = PaperBroker()
        self.session, _ = open_session(settings, self.broker, symbol=SYM, data_dir=root,
                                       journal_synchronous="NORMAL")
        self.ex = self.session.executor
        self.bars: list[Bar] = []
        self.i = 0
        for _ in range(60):
            self.step()
        self.similar = RagSimilarCycles(store, venue="paper", k=5)
        self.recorder = OutcomeRecorder(self.ex.journal, self.session.hooks, None, self.ex.events,
                                        closed_count=lambda: self.ex.stats["trades_closed"])

    def step(self) -> None:
        b = bar(self.i)
        self.i += 1
        self.bars.append(b)
        self.session.step(b)
        del self.bars[:-120]

    def ctx(self) -> AdvisoryContext:
        bars = list(self.bars)
        now = self.session.clock()
        return AdvisoryContext(reasoner=OfflineReasoner(), guards=self.ex.guards, executor=self.ex,
                               bars=lambda s: bars, similar=self.similar, recorder=self.recorder,
                               clock=lambda: now)

    def next_signal(self, k: int) -> tuple[Signal, dict[str, Any]]:
        sig, extra, _ = self.next_case(k)
        return sig, extra

    def next_case(self, k: int) -> tuple[Signal, dict[str, Any], str]:
        now = self.session.clock()
        px = self.bars[-1].close
        trade = self.ex.open_trade(SYM)
        kind = k % 5
        if kind == 0 and trade is None:        # good entry: sent as a bracket
            return Signal(symbol=SYM, side=Side.BUY, label="BREAKOUT_BUY", confidence=0.7, price=px,
                          stop=px - 6.0, target=px + 12.0, ts=now), {}, "entry sent"
        if kind in (0, 1) and trade is not None:   # exit of the open trade: reduce-only
            return Signal(symbol=SYM, side=trade.side.opposite, label="EXIT", confidence=0.5, price=px,
                          ts=now), {"believed_position": trade.side.sign * trade.qty}, "exit sent"
        if kind == 2:                          # marginal entry: WAIT, blocked
            return Signal(symbol=SYM, side=Side.SELL, label="SCALP_SELL", confidence=0.3, price=px,
                          stop=px + 5.0, target=px - 10.0, ts=now), {"believed_position": 0.0}, "entry WAIT"
        if kind == 3:                          # seed 000: stale short belief, live flat, no levels
            return Signal(symbol=SYM, side=Side.BUY, label="SCALP_BUY", confidence=0.36, price=px, ts=now), \
                {"believed_position": -1.0, "intent_kind": "exit"}, "seed-000 exit"
        return Signal(symbol=SYM, side=None, label="HOLD", confidence=0.0, ts=now), {}, "hold"


class _RT:
    def __init__(self, ctx: AdvisoryContext) -> None:
        self.context = ctx


def run_direct(env: Env, sig: Signal, extra: dict[str, Any]) -> None:
    ctx = env.ctx()
    state: dict[str, Any] = {"trade_cycle_id": new_cycle_id(), "now": ctx.clock().isoformat(),
                             "signal": sig.model_dump(mode="json"), "errors": [], **extra}
    rt = _RT(ctx)
    for fn in (ingest, decision, risk, execute, record):
        upd = fn(state, rt)
        errs = upd.pop("errors", None)
        state.update(upd)
        if errs:
            state["errors"] = state["errors"] + errs


def measure(label: str, store: Any, cycles: int,
            runner: Any) -> tuple[list[float], dict[str, list[float]], list[float]]:
    with tempfile.TemporaryDirectory(prefix=f"bench-adv-{label}-") as d:
        env = Env(Path(d), store)
        times: list[float] = []
        cpu: list[float] = []
        kinds: dict[str, list[float]] = {}
        for k in range(cycles):
            env.step()
            sig, extra, kind = env.next_case(k)
            c, t = time.process_time(), time.perf_counter()
            runner(env, sig, extra)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            kinds.setdefault(kind, []).append(times[-1])
        stats = env.ex.stats
        print(f"  {label:<12} entries sent {stats['entries_sent']}, exits sent {stats['exits_sent']}, "
              f"blocked {stats['blocked']}, closed {stats['trades_closed']}, "
              f"recorded {env.recorder.stats['recorded']}")
        return times, kinds, cpu


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=1500)
    ap.add_argument("--outcomes", type=int, default=10_000)
    ap.add_argument("--store", type=Path, default=Path(__file__).resolve().parent / "out" / "advisory_rag")
    a = ap.parse_args()
    store = build_store(a.store, a.outcomes)

    # the memory lookup alone, on the same store
    with tempfile.TemporaryDirectory() as d:
        env = Env(Path(d), store)
        from agents.data_ingestion import compute_features

        f = compute_features(SYM, env.bars, 0.0)
        sig, _ = env.next_signal(0)
        lk = []
        for _ in range(300):
            t = time.perf_counter()
            env.similar(f, sig)
            lk.append((time.perf_counter() - t) * 1000)
        print(f"memory lookup (k=5 of {a.outcomes}, plan {store.last_plan}): p50 {pct(lk, 50):.2f} ms, "
              f"p99 {pct(lk, 99):.2f} ms")

    graphs = {name: AdvisoryGraph(cp, tempfile.mkdtemp(prefix="bench-cp-"), durability=dur)
              for name, cp, dur in (("graph", "none", "exit"), ("sqlite", "sqlite", "exit"),
                                    ("sqlite-sync", "sqlite", "sync"))}

    def via(g: AdvisoryGraph) -> Any:
        def run(env: Env, sig: Signal, extra: dict[str, Any]) -> None:
            d = g.run(sig, env.ctx(), **extra)
            if d.error and "GUARD_ERROR" in [c.value for c in d.reason_codes]:
                raise RuntimeError(d.error)
        return run

    print(f"{a.cycles} cycles per variant, nodes {' -> '.join(NODES)}, offline reasoner")
    results, by_kind, cpus = {}, {}, {}
    results["direct"], by_kind["direct"], cpus["direct"] = measure("direct", store, a.cycles, run_direct)
    for name, g in graphs.items():
        results[name], by_kind[name], cpus[name] = measure(name, store, a.cycles, via(g))
        g.close()
    base = results["direct"]
    print(f"\n{'variant':<12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
          f"{'x direct (p50)':>15} {'x direct (mean)':>16}")
    for name, xs in results.items():
        print(f"{name:<12} {pct(xs, 50):8.2f} {pct(xs, 99):8.2f} {statistics.fmean(xs):8.2f} "
              f"{pct(xs, 50) / pct(base, 50):15.2f} {statistics.fmean(xs) / statistics.fmean(base):16.2f}")
    # CPU time of this process: what a cycle costs us, whatever else the machine is running
    print(f"\n{'CPU time':<12} {'mean ms':>8} {'x direct':>9}")
    for name, xs in cpus.items():
        print(f"{name:<12} {statistics.fmean(xs):8.2f} {statistics.fmean(xs) / statistics.fmean(cpus['direct']):9.2f}")
    print(f"\np50 ms by cycle kind   {'direct':>8} {'graph':>8} {'sqlite':>8} {'sqlite/direct':>14}")
    for kind in by_kind["direct"]:
        d, g, sq = (pct(by_kind[v][kind], 50) for v in ("direct", "graph", "sqlite"))
        print(f"  {kind:<20} {d:8.2f} {g:8.2f} {sq:8.2f} {sq / d:14.2f}")
    print("\ngoal: p99 < 20 ms per cycle (sqlite), graph overhead < 2x")


if __name__ == "__main__":
    main()
