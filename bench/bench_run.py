"""Benchmark `warden run` end to end on real candles; run as ``python bench/bench_run.py [BARS]``.

The same command twice on the first BARS (default 3,000) one-minute BTC/USD candles of the A1 data set
(Binance.US, March 2023, ``../shared/data``; skipped when absent), paper broker, MES contract specs,
fresh data dir each time: once through the advisory graph (``--advisor graph``, the default: ingest ->
decision -> risk with the offline reasoner and the RAG memory) and once with the deterministic rule
advisor (``--advisor rule``). Reported: the loop's bars/s from the run's own summary, the wall time of
the whole command (start-up, reading, wiring included), and graph/rule as a ratio.

Everything a run does is in the figure: guards, journal (SQLite WAL), event log, risk ledger (fsync per
entry), the persistent paper account, outcome and snapshot files, the per-bar resume marker.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "A1_binanceus_btc_1m_2023-03_svb_usdc_depeg" / "BTCUSD_1m_20230301_20230321.csv"


def run_once(candles: Path, advisor: str, tmp: Path) -> dict:
    data_dir = tmp / f"data-{advisor}"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "warden", "run", "--broker", "paper", "--candles", str(candles),
                        "--symbol", "MES", "--advisor", advisor, "--data-dir", str(data_dir), "--quiet", "--json"],
                       capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"warden run --advisor {advisor} exited {r.returncode}: {r.stderr.strip()[-400:]}")
    s = json.loads(r.stdout[r.stdout.index("{"):])
    return {"advisor": advisor, "bars": s["bars"], "bars_per_s": s["bars_per_s"], "wall_s": round(wall, 2),
            "trades": s["trades"], "pnl_usd": s["pnl_usd"], "blocked": s["blocked_orders"]}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    if not DATA.is_file():
        print(f"skipped: {DATA} not present")
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        candles = tmp / "btcusd_1m.csv"
        with DATA.open(encoding="utf-8") as src:
            candles.write_text("".join(line for _, line in zip(range(n + 1), src)), encoding="utf-8")
        rows = [run_once(candles, adv, tmp) for adv in ("graph", "rule")]
    for r in rows:
        print(f"{r['advisor']:>5}: {r['bars']} bars, {r['bars_per_s']:,.0f} bars/s in the loop, {r['wall_s']} s wall "
              f"(trades {r['trades']}, blocked {r['blocked']}, PnL {r['pnl_usd']:,.2f} USD)")
    g, ru = rows
    print(f"graph / rule: {g['bars_per_s'] / ru['bars_per_s']:.2f}x bars/s, "
          f"{g['wall_s'] / ru['wall_s']:.2f}x wall time")


if __name__ == "__main__":
    main()
