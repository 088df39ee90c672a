"""The seed-001 Polymarket bot, simulated: its scenario knobs, its trades and its own (wrong) accounting.

``PolyScenario`` holds every knob of the incident; ``schedule`` draws the trades, ``simulate`` runs the
bot's balance, peak, streak and drawdown check over them (no I/O), and ``solve_stake_fraction`` finds
the stake that ends at ``target_final``. The bot is simulated honestly: if its own drawdown check says
HALT, it halts. Deterministic for a given generator; nothing here raises on a valid scenario.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tools.samples.polymarket_market import ASSET_WEIGHTS, ASSETS, WINDOW, momentum_ts


@dataclass(frozen=True)
class PolyScenario:
    seed: int = 20260115
    day: str = "2026-01-15"
    trading_start: str = "07:50"          # UTC
    trading_minutes: int = 120
    earlier_hours: float = 10.0           # signals-only period before trading (drift reference)
    n_trades: int = 28
    n_wins: int = 5
    start_balance: float = 251.0
    target_final: float | None = 14.91    # stake fraction is solved to end here (None: use stake_frac)
    stake_frac: float = 0.05
    max_drawdown_pct: float = 30.0
    accounting: str = "cost"              # cost: open positions carried at cost until an outcome is recorded
    peak_reset: bool = True               # restarts reset peak_balance to the current balance
    restarts_at_min: tuple[int, ...] = (46, 84)   # minutes after trading start; first is a crash (OOM)
    final_restart: bool = True            # operator restart after the incident (state file written then)
    resolver_fails: bool = True           # outcome writes fail: readonly database
    swallow: bool = True                  # the resolver's outer loop logs "(ignored)" and carries on
    resolver_stops_at_min: int | None = 84  # the resolver cron job stops (deploy) -> later trades only via candles
    candles: bool = True
    journal: bool = True
    state: bool = True
    system: bool = True
    resolve_log: bool = True
    noise_mb: float = 0.0                 # pad bot.log with DEBUG order-book lines / extra signals (benchmarks)
    spread_trades: bool = False           # True: spread trades over 4x the window (no overtrading)


@dataclass
class Trade:
    id: int
    ts: float
    asset: str
    window: int
    direction: str          # Up / Down bought
    winner: str
    price: float
    prob: float
    conf: float
    cost: float = 0.0
    size: float = 0.0
    order_id: str = ""
    placed: bool = False

    @property
    def won(self) -> bool:
        return self.direction == self.winner

    @property
    def pnl(self) -> float:
        return round(self.size * (1 - self.price), 2) if self.won else -self.cost

    @property
    def slug(self) -> str:
        return f"{self.asset.lower()}-updown-15m-{self.window}"

    @property
    def end(self) -> int:
        return self.window + WINDOW


@dataclass
class LogLines:
    lines: list[tuple[float, int, str]] = field(default_factory=list)    # (ts, seq, line)
    seq: int = 0

    def log(self, ts: float, level: str, logger: str, msg: str, extra: list[str] | None = None) -> None:
        self.seq += 1
        text = f"{momentum_ts(ts)} [{level}] {logger}: {msg}"
        if extra:
            text += "\n" + "\n".join(extra)
        self.lines.append((ts, self.seq, text))


def schedule(sc: PolyScenario, rng: np.random.Generator, t_start: int, ohlc: dict[str, np.ndarray],
              c0: int) -> list[Trade]:
    span = sc.trading_minutes * 60 * (4 if sc.spread_trades else 1)
    gap = span / max(sc.n_trades, 1)
    trades: list[Trade] = []
    used: set[tuple[str, int]] = set()
    n_w = min(sc.n_wins, sc.n_trades)
    # wins early, a long losing streak at the end (the seed's cascade)
    head = max(1, int(sc.n_trades * 0.6))
    win_idx = set(rng.choice(head, size=min(n_w, head), replace=False).tolist()) if n_w else set()
    times = []
    for i in range(sc.n_trades):
        ts = t_start + i * gap + float(rng.uniform(0, gap * 0.6))
        window = int(ts // WINDOW * WINDOW)
        if ts - window > WINDOW - 120:          # never within 2 minutes of the window's end: next window
            ts = window + WINDOW + float(rng.uniform(30, 120))
        times.append(ts)
    times.sort()
    for i, ts in enumerate(times):
        window = int(ts // WINDOW * WINDOW)
        for _ in range(8):
            asset = str(rng.choice(ASSETS, p=ASSET_WEIGHTS))
            if (asset, window) not in used:
                break
        used.add((asset, window))
        a = ohlc[asset]
        i0 = (window - c0) // 60
        start_px, end_px = a[i0, 0], a[i0 + 14, 3]
        winner = "Up" if end_px >= start_px else "Down"
        won = i in win_idx
        direction = winner if won else ("Down" if winner == "Up" else "Up")
        price = round(float(rng.uniform(0.20, 0.48)), 2)
        prob = round(float(rng.uniform(0.58, 0.74)), 2)
        conf = round(prob - float(rng.uniform(0.01, 0.05)), 2)
        trades.append(Trade(id=101 + i, ts=ts, asset=asset, window=window, direction=direction, winner=winner,
                             price=price, prob=prob, conf=conf,
                             order_id="0x" + "".join(f"{int(b):02x}" for b in rng.integers(0, 256, 8))))
    return trades


def simulate(sc: PolyScenario, trades: list[Trade], t_start: int, frac: float) -> dict[str, Any]:
    """Run the bot's accounting over the trades; returns the event plan (no I/O)."""
    restarts = [t_start + 60 * m for m in sc.restarts_at_min]
    t_end = t_start + sc.trading_minutes * 60 * (4 if sc.spread_trades else 1)
    events: list[tuple[float, str, Trade | int]] = [(t.ts, "trade", t) for t in trades]
    events += [(float(t.end) + 1, "resolve", t) for t in trades]
    events += [(float(r), "restart", i) for i, r in enumerate(restarts)]
    events.sort(key=lambda e: (e[0], {"resolve": 0, "restart": 1, "trade": 2}[e[1]]))
    cash = sc.start_balance
    believed = sc.start_balance
    peak = sc.start_balance
    streak = 0
    halted_at: float | None = None
    plan: list[tuple[float, str, dict[str, Any]]] = []
    recorded: set[int] = set()
    for ts, kind, obj in events:
        if isinstance(obj, Trade) and kind == "resolve":
            t = obj
            if not t.placed:
                continue
            if t.won:
                cash += t.size
            if not sc.resolver_fails:
                recorded.add(t.id)
                streak = streak + 1 if not t.won else 0
                if sc.accounting == "cost":
                    believed += t.pnl        # the position leaves the book at its payout instead of its cost
            if sc.accounting == "cash" and t.won:
                believed = cash
        elif kind == "restart":
            if halted_at is not None:
                continue
            believed = round(cash, 2)
            peak = believed if sc.peak_reset else max(peak, believed)
            plan.append((ts, "restart", {"i": obj, "balance": believed, "peak": peak, "streak": streak}))
            dd = (peak - believed) / peak * 100 if peak > 0 else 0.0
            plan.append((ts + 1.5, "check", {"balance": believed, "peak": peak, "dd": dd}))
            if dd >= sc.max_drawdown_pct:
                halted_at = ts + 1.5
        elif isinstance(obj, Trade):
            t = obj
            if halted_at is not None:
                continue
            stake = round(max(1.0, min(frac * believed, 0.9 * cash)), 2)
            t.cost = stake
            t.size = round(stake / t.price, 2)
            t.placed = True
            cash -= stake
            if sc.accounting == "cash":
                believed = cash
            peak = max(peak, believed)
            dd = (peak - believed) / peak * 100 if peak > 0 else 0.0
            plan.append((ts, "trade", {"t": t, "balance": believed, "peak": peak, "dd": dd}))
            if dd >= sc.max_drawdown_pct:
                halted_at = ts + 1.1
    final_cash = round(cash, 2)
    return {"plan": plan, "final_cash": final_cash, "believed": round(believed, 2), "peak": round(peak, 2),
            "streak": streak, "halted_at": halted_at, "recorded": recorded, "t_end": t_end, "restarts": restarts}


def solve_stake_fraction(sc: PolyScenario, trades: list[Trade], t_start: int) -> float:
    if sc.target_final is None:
        return sc.stake_frac
    lo, hi = 0.005, 0.6
    for _ in range(40):
        mid = (lo + hi) / 2
        for t in trades:
            t.placed = False
        final = simulate(sc, trades, t_start, mid)["final_cash"]
        if final > sc.target_final:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
