"""Reproducible synthetic incident bundles modelled on the two seed postmortems.

``write_polymarket_bundle`` simulates the seed-001 bot: a momentum bot buying 15-minute Up/Down
shares, an ``auto_resolve`` cron job that finds the winners but cannot write them
("attempt to write a readonly database") and swallows the error, positions carried at cost until an
outcome is recorded (so the bot's balance never shows the losses), restarts that reset the drawdown
peak to the current balance, and a state file with peak_balance == balance and consecutive_losses=0.
Every knob is a field of ``PolyScenario`` so tests can build variations (no peak reset, a working
resolver, cash accounting, no candles...) and check that the review detects what is there and only
that. The bot is simulated honestly: if its own drawdown check says HALT, it halts.

``write_es_bundle`` writes seed 000's ES morning in the ``mytrader`` format: a normal bracketed trade,
a short whose stop fills while the bot still believes it is short, a SCALP_BUY with non-positive
levels, a WAIT advisory treated as advisory-only, the "exit" BUY that opens a naked long without
SL/TP, the SELL 41 minutes later, IB's stale realizedPNL and the missing trade id.

Nothing here is read by the review tools; they must find all of it in the files.
"""
from __future__ import annotations

import json
import math
import sqlite3
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from trading.records.atomic import atomic_write_bytes, atomic_write_json

ASSETS = ("BTC", "ETH", "SOL", "XRP")
BASE_PRICE = {"BTC": 96_480.0, "ETH": 3_352.0, "SOL": 146.2, "XRP": 2.07}
ASSET_WEIGHTS = (0.4, 0.25, 0.2, 0.15)
WINDOW = 900


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mom(ts: float) -> str:
    """momentum-format timestamp (UTC, comma milliseconds)."""
    d = datetime.fromtimestamp(ts, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S,") + f"{d.microsecond // 1000:03d}"


# ------------------------------------------------------------------------------------------------
# candles

def _price_paths(rng: np.random.Generator, t0: int, minutes: int, regime_at: int, *, flash_crash_at: int | None,
                 outlier_at: int | None) -> dict[str, np.ndarray]:
    """Per asset, (minutes, 4) OHLC from a 4-step-per-minute log path.

    Before ``regime_at`` (minute index): low volatility with mean reversion; after: ~2.5x the volatility
    with momentum (positively autocorrelated returns): the regime change the econophysics team should see.
    """
    out = {}
    sub = 4
    common = rng.standard_normal(minutes)
    for k, asset in enumerate(ASSETS):
        eps = 0.6 * common + 0.8 * rng.standard_normal(minutes)      # correlated assets
        before = np.arange(minutes) < regime_at
        sig = np.where(before, 0.0006, 0.0015) * (1.0 + 0.25 * k)
        phi = np.where(before, -0.3, 0.3)
        rm = np.empty(minutes)
        prev = 0.0
        for i in range(minutes):
            prev = phi[i] * prev + sig[i] * eps[i]
            rm[i] = prev
        # four sub-steps per minute that add up to the minute's return (for highs and lows)
        wiggle = rng.standard_normal((minutes, sub)) * (sig[:, None] * 0.35)
        wiggle -= wiggle.mean(axis=1, keepdims=True)
        r = (rm[:, None] / sub + wiggle).reshape(-1)
        if asset == "SOL" and flash_crash_at is not None:
            i0 = flash_crash_at * sub
            r[i0:i0 + 8] -= 0.0055          # about -4.5% in two minutes ...
            r[i0 + 8:i0 + 20] += 0.0034     # ... mostly recovered over the next three
        logp = math.log(BASE_PRICE[asset]) + np.cumsum(r)
        px = np.exp(logp).reshape(minutes, sub)
        opens = np.concatenate([[BASE_PRICE[asset]], px[:-1, -1]])
        ohlc = np.column_stack([opens, np.maximum(px.max(axis=1), opens), np.minimum(px.min(axis=1), opens), px[:, -1]])
        if asset == "XRP" and outlier_at is not None:
            ohlc[outlier_at, 1] = ohlc[outlier_at, 3] * 1.07      # one print far above its peers
            ohlc[outlier_at, 3] = ohlc[outlier_at, 3] * 1.065
            ohlc[outlier_at + 1, 0] = ohlc[outlier_at, 3]
            ohlc[outlier_at + 1, 2] = min(ohlc[outlier_at + 1, 2], ohlc[outlier_at + 1, 3])
        out[asset] = ohlc
    return out


def _write_candles(path: Path, t0: int, ohlc: np.ndarray, skip: set[int] = frozenset()) -> None:
    lines = ["timestamp,open,high,low,close,volume"]
    dec = 2 if ohlc[0, 0] > 50 else 5
    for i, (o, h, lo, c) in enumerate(ohlc):
        if i in skip:
            continue
        vol = 10 + (i * 7919) % 90
        lines.append(f"{_iso(t0 + 60 * i)},{o:.{dec}f},{h:.{dec}f},{lo:.{dec}f},{c:.{dec}f},{vol}")
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


# ------------------------------------------------------------------------------------------------
# Polymarket bundle (seed 001)

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
class _Trade:
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
class _Sim:
    lines: list[tuple[float, int, str]] = field(default_factory=list)    # (ts, seq, line)
    seq: int = 0

    def log(self, ts: float, level: str, logger: str, msg: str, extra: list[str] | None = None) -> None:
        self.seq += 1
        text = f"{_mom(ts)} [{level}] {logger}: {msg}"
        if extra:
            text += "\n" + "\n".join(extra)
        self.lines.append((ts, self.seq, text))


def _schedule(sc: PolyScenario, rng: np.random.Generator, t_start: int, ohlc: dict[str, np.ndarray],
              c0: int) -> list[_Trade]:
    span = sc.trading_minutes * 60 * (4 if sc.spread_trades else 1)
    gap = span / max(sc.n_trades, 1)
    trades: list[_Trade] = []
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
        trades.append(_Trade(id=101 + i, ts=ts, asset=asset, window=window, direction=direction, winner=winner,
                             price=price, prob=prob, conf=conf,
                             order_id="0x" + "".join(f"{int(b):02x}" for b in rng.integers(0, 256, 8))))
    return trades


def _simulate(sc: PolyScenario, trades: list[_Trade], t_start: int, frac: float) -> dict:
    """Run the bot's accounting over the trades; returns the event plan (no I/O)."""
    restarts = [t_start + 60 * m for m in sc.restarts_at_min]
    t_end = t_start + sc.trading_minutes * 60 * (4 if sc.spread_trades else 1)
    events: list[tuple[float, str, object]] = [(t.ts, "trade", t) for t in trades]
    events += [(float(t.end) + 1, "resolve", t) for t in trades]
    events += [(float(r), "restart", i) for i, r in enumerate(restarts)]
    events.sort(key=lambda e: (e[0], {"resolve": 0, "restart": 1, "trade": 2}[e[1]]))
    cash = sc.start_balance
    believed = sc.start_balance
    peak = sc.start_balance
    streak = 0
    halted_at: float | None = None
    plan: list[tuple[float, str, dict]] = []
    recorded: set[int] = set()
    for ts, kind, obj in events:
        if kind == "resolve":
            t = obj  # type: ignore[assignment]
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
        else:
            t = obj  # type: ignore[assignment]
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


def _solve_frac(sc: PolyScenario, trades: list[_Trade], t_start: int) -> float:
    if sc.target_final is None:
        return sc.stake_frac
    lo, hi = 0.005, 0.6
    for _ in range(40):
        mid = (lo + hi) / 2
        for t in trades:
            t.placed = False
        final = _simulate(sc, trades, t_start, mid)["final_cash"]
        if final > sc.target_final:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def write_polymarket_bundle(root: str | Path, sc: PolyScenario | None = None) -> Path:
    """Write the seed-001-like bundle under ``root``; returns ``root``."""
    sc = sc or PolyScenario()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sc.seed)
    t_start = int(datetime.fromisoformat(f"{sc.day}T{sc.trading_start}:00+00:00").timestamp())
    t_begin = int(t_start - sc.earlier_hours * 3600) // 60 * 60
    span_min = sc.trading_minutes * (4 if sc.spread_trades else 1)
    c0 = t_begin - 1800
    minutes = int((t_start + span_min * 60 + 3600 - c0) // 60)
    regime_at = (t_start - 1800 - c0) // 60
    ohlc = _price_paths(rng, c0, minutes, regime_at, flash_crash_at=(t_start + 50 * 60 - c0) // 60,
                        outlier_at=(t_start - 3 * 3600 - c0) // 60)
    trades = _schedule(sc, rng, t_start, ohlc, c0)
    frac = _solve_frac(sc, trades, t_start)
    for t in trades:
        t.placed = False
    sim = _simulate(sc, trades, t_start, frac)
    placed = [t for t in trades if t.placed]

    bot, res = _Sim(), _Sim()
    L = "momentum_bot_v12"
    pid = 48211
    bot.log(t_begin + 2.114, "INFO", L, f"Bot started (pid={pid}, version=v12)")
    bot.log(t_begin + 2.141, "INFO", L, f"State loaded: balance={sc.start_balance:.2f} "
            f"peak_balance={sc.start_balance:.2f} consecutive_losses=0")
    # signals every minute per asset; the model grows more confident in the incident window (drift)
    t = t_begin + 30
    trade_minutes = {int(x.ts // 60) for x in placed}
    t_stop = sim["t_end"] + 600
    while t < t_stop:
        incident = t >= t_start - 1800
        if int(t // 60) not in trade_minutes:
            for a in ASSETS:
                p = float(np.clip(rng.normal(0.565 if incident else 0.52, 0.03 if incident else 0.022), 0.3, 0.575))
                w = int(t // WINDOW * WINDOW)
                bot.log(t + rng.uniform(0, 0.9), "INFO", L,
                        f"ML signal: asset={a} direction={'UP' if rng.random() < 0.5 else 'DOWN'} prob={p:.2f} "
                        f"confidence={p - 0.03:.2f} model=ml_random_forest market={a.lower()}-updown-15m-{w}")
        t += 60
    # periodic status lines every 5 minutes (the bot's own view)
    believed, peak = sc.start_balance, sc.start_balance
    status_points = []
    for ts, kind, d in sim["plan"]:
        status_points.append((ts, d.get("balance", believed), d.get("peak", peak)))
    sp_i = 0
    halted_at = sim["halted_at"]
    t = t_begin + 300
    while t < t_stop:
        while sp_i < len(status_points) and status_points[sp_i][0] <= t:
            believed, peak = status_points[sp_i][1], status_points[sp_i][2]
            sp_i += 1
        if halted_at is None or t < halted_at:
            dd = (peak - believed) / peak * 100 if peak else 0.0
            bot.log(t + 0.5, "INFO", L, f"Balance: usdc={believed:.2f} peak={peak:.2f} drawdown={dd:.1f}%")
            bot.log(t + 0.51, "INFO", L, f"Drawdown check: dd={dd:.1f}% limit={sc.max_drawdown_pct:.1f}% -> "
                    f"{'HALT' if dd >= sc.max_drawdown_pct else 'OK'}")
        t += 300
    for ts, kind, d in sim["plan"]:
        if kind == "trade":
            x: _Trade = d["t"]
            bot.log(ts, "INFO", L, f"ML signal: asset={x.asset} direction={x.direction.upper()} prob={x.prob:.2f} "
                    f"confidence={x.conf:.2f} model=ml_random_forest market={x.slug}")
            bot.log(ts + 0.108, "INFO", L, f"Placing order: trade_id={x.id} market={x.slug} outcome={x.direction} "
                    f"side=BUY price={x.price:.2f} size={x.size:.2f} cost={x.cost:.2f}")
            bot.log(ts + 0.831, "INFO", L, f"Order placed: trade_id={x.id} order_id={x.order_id} status=matched")
            bot.log(ts + 1.099, "INFO", L, f"Balance: usdc={d['balance']:.2f} peak={d['peak']:.2f} "
                    f"drawdown={d['dd']:.1f}%")
            verdict = "HALT" if d["dd"] >= sc.max_drawdown_pct else "OK"
            bot.log(ts + 1.1, "INFO", L, f"Drawdown check: dd={d['dd']:.1f}% limit={sc.max_drawdown_pct:.1f}% -> "
                    f"{verdict}")
            if verdict == "HALT":
                bot.log(ts + 1.2, "WARNING", L, "Shutting down (reason=drawdown halt)")
        elif kind == "check" and d["dd"] >= sc.max_drawdown_pct:
            bot.log(ts, "INFO", L, f"Drawdown check: dd={d['dd']:.1f}% limit={sc.max_drawdown_pct:.1f}% -> HALT")
            bot.log(ts + 0.1, "WARNING", L, "Shutting down (reason=drawdown halt)")
        elif kind == "restart":
            i = d["i"]
            crash = i == 0
            if not crash:
                bot.log(ts - 9.0, "INFO", L, "Shutting down (reason=SIGTERM)")
            pid += 1377
            bot.log(ts, "INFO", L, f"Bot started (pid={pid}, version=v12)")
            if sc.peak_reset:
                bot.log(ts + 0.026, "WARNING", L, "peak_balance missing or invalid in state file; resetting peak to "
                        f"current balance {d['balance']:.2f}")
            bot.log(ts + 0.027, "INFO", L, f"State loaded: balance={d['balance']:.2f} peak_balance={d['peak']:.2f} "
                    f"consecutive_losses={d['streak']}")
    final_ts = sim["t_end"] + 480
    final_balance = sim["final_cash"]
    final_peak = final_balance if sc.peak_reset else max(sim["peak"], final_balance)
    if sc.final_restart and halted_at is None:
        bot.log(final_ts - 12, "INFO", L, "Shutting down (reason=operator restart)")
        bot.log(final_ts, "INFO", L, f"Bot started (pid={pid + 977}, version=v12)")
        if sc.peak_reset:
            bot.log(final_ts + 0.03, "WARNING", L, "peak_balance missing or invalid in state file; resetting peak to "
                    f"current balance {final_balance:.2f}")
        bot.log(final_ts + 0.031, "INFO", L, f"State loaded: balance={final_balance:.2f} "
                f"peak_balance={final_peak:.2f} consecutive_losses={sim['streak']}")

    # the resolver (cron, every 5 minutes)
    R = "auto_resolve"
    exc = "sqlite3.OperationalError: attempt to write a readonly database"
    tb = ["Traceback (most recent call last):", '  File "/opt/bot/auto_resolve.py", line 88, in record_outcome',
          "    conn.execute(INSERT_OUTCOME, row)", exc]
    recorded_at: dict[int, float] = {}
    cron_times = []
    stop_at = t_start + 60 * sc.resolver_stops_at_min if sc.resolver_stops_at_min is not None else t_stop
    t = (t_start // 300 + 1) * 300
    while t < min(stop_at, t_stop):
        cron_times.append(t)
        due = [x for x in placed if x.end <= t and x.id not in recorded_at]
        if due:
            res.log(t + 5.331, "INFO", R, f"Resolving {len(due)} pending trades")
        k = t + 5.9
        for x in due:
            res.log(k, "INFO", R, f"Market {x.slug} resolved: winner={x.winner}")
            if sc.resolver_fails:
                res.log(k + 0.008, "ERROR", R, f"Failed to record outcome for trade_id={x.id}: {exc}", tb)
                if not sc.swallow:
                    break           # the exception ends the pass: logged loudly, nothing ignored
                res.log(k + 0.009, "WARNING", R, f"Resolution error (ignored): {exc}")
            else:
                res.log(k + 0.008, "INFO", R, f"Recorded outcome: trade_id={x.id} won={x.won} pnl={x.pnl:.2f}")
                recorded_at[x.id] = k
            k += 0.6
        t += 300

    _write_log(root / "bot.log", bot, sc, rng, t_begin, t_stop)
    if sc.resolve_log:
        atomic_write_bytes(root / "auto_resolve.log",
                           ("\n".join(s for _, _, s in sorted(res.lines)) + ("\n" if res.lines else "")).encode())
    if sc.journal:
        _write_journal(root / "trade_journal.db", placed, recorded_at)
    if sc.state:
        atomic_write_json(root / "state" / "trading_state.json", {
            "balance": final_balance if sc.final_restart and halted_at is None else sim["believed"],
            "peak_balance": final_peak if sc.final_restart and halted_at is None else sim["peak"],
            "consecutive_losses": sim["streak"], "max_drawdown_pct": sc.max_drawdown_pct,
            "halted": halted_at is not None, "last_updated": _iso(final_ts + 2)})
    if sc.candles:
        for a in ASSETS:
            skip = set(range((t_start - 5 * 3600 - c0) // 60, (t_start - 5 * 3600 - c0) // 60 + 4)) if a == "ETH" else set()
            _write_candles(root / "candles" / f"{a}-1m.csv", c0, ohlc[a], skip)
    if sc.system:
        _write_system(root / "system", sc, t_begin, t_start, sim["restarts"], cron_times, final_ts, t_stop)
    return root


def _write_log(path: Path, sim: _Sim, sc: PolyScenario, rng: np.random.Generator, t0: float, t1: float) -> None:
    lines = sorted(sim.lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        if sc.noise_mb <= 0:
            fh.write("\n".join(s for _, _, s in lines) + "\n")
            return
        # bulk: DEBUG order-book lines (no rule: counted and skipped) and extra signals (parsed)
        target = sc.noise_mb * 1e6
        per_line = 140.0
        n_noise = int(target / per_line)
        step = (t1 - t0) / max(n_noise, 1)
        j = 0
        buf: list[str] = []
        books = [f"Orderbook {a.lower()}-updown-15m: best_bid=0.{41 + k} best_ask=0.{43 + k} depth={1500 + 37 * k}.5 "
                 f"levels=12" for k, a in enumerate(ASSETS)]
        t = t0
        for i in range(n_noise):
            while j < len(lines) and lines[j][0] <= t:
                buf.append(lines[j][2])
                j += 1
            a = ASSETS[i % 4]
            if i % 3 == 0:
                p = 0.50 + (i * 37 % 70) / 1000
                buf.append(f"{_mom(t)} [INFO] momentum_bot_v12: ML signal: asset={a} direction=UP prob={p:.2f} "
                           f"confidence={p - 0.03:.2f} model=ml_random_forest market={a.lower()}-updown-15m-"
                           f"{int(t // WINDOW * WINDOW)}")
            else:
                buf.append(f"{_mom(t)} [DEBUG] momentum_bot_v12: {books[i % 4]}")
            t += step
            if len(buf) >= 20000:
                fh.write("\n".join(buf) + "\n")
                buf.clear()
        buf.extend(s for _, _, s in lines[j:])
        if buf:
            fh.write("\n".join(buf) + "\n")


def _write_journal(path: Path, trades: list[_Trade], recorded_at: dict[int, float]) -> None:
    if path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.executescript("""
            CREATE TABLE trades (
              id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, strategy TEXT, market_slug TEXT,
              asset TEXT, outcome TEXT, side TEXT, price REAL, size REAL, cost REAL,
              confidence REAL, order_id TEXT, status TEXT);
            CREATE TABLE outcomes (
              trade_id INTEGER PRIMARY KEY REFERENCES trades(id), resolved_at TEXT,
              winner TEXT, won INTEGER, payout REAL, pnl REAL);""")
        for t in trades:
            conn.execute("INSERT INTO trades VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (t.id, datetime.fromtimestamp(t.ts, UTC).isoformat(timespec="milliseconds"),
                          "ml_live_ml_random_forest", t.slug, t.asset, t.direction, "BUY", t.price, t.size, t.cost,
                          t.conf, t.order_id, "matched"))
            if t.id in recorded_at:
                conn.execute("INSERT INTO outcomes VALUES (?,?,?,?,?,?)",
                             (t.id, _iso(recorded_at[t.id]), t.winner, int(t.won), t.size if t.won else 0.0, t.pnl))
        conn.commit()
    finally:
        conn.close()


def _write_system(d: Path, sc: PolyScenario, t_begin: float, t_start: float, restarts: list[float],
                  cron_times: list[float], final_ts: float, t_stop: float) -> None:
    def jl(ts: float, unit: str, msg: str) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000") + f" vps {unit}: {msg}"

    j = [jl(t_begin + 1, "systemd[1]", "Started momentum-bot.service - Momentum bot v12.")]
    for i, r in enumerate(restarts):
        if i == 0:
            j += [jl(r - 10, "kernel", "Out of memory: Killed process 48211 (python3) total-vm:3921456kB, "
                     "anon-rss:3522120kB"),
                  jl(r - 10, "systemd[1]", "momentum-bot.service: Main process exited, code=killed, status=9/KILL"),
                  jl(r - 10, "systemd[1]", "momentum-bot.service: Failed with result 'signal'."),
                  jl(r - 1, "systemd[1]", "momentum-bot.service: Scheduled restart job, restart counter is at 1.")]
        else:
            j += [jl(r - 10, "systemd[1]", "Stopping momentum-bot.service - Momentum bot v12..."),
                  jl(r - 8, "systemd[1]", "momentum-bot.service: Deactivated successfully."),
                  jl(r - 8, "systemd[1]", "Stopped momentum-bot.service - Momentum bot v12.")]
        j.append(jl(r, "systemd[1]", "Started momentum-bot.service - Momentum bot v12."))
    if sc.final_restart:
        j += [jl(final_ts - 12, "systemd[1]", "Stopping momentum-bot.service - Momentum bot v12..."),
              jl(final_ts - 1, "systemd[1]", "Stopped momentum-bot.service - Momentum bot v12."),
              jl(final_ts, "systemd[1]", "Started momentum-bot.service - Momentum bot v12.")]
    atomic_write_bytes(d / "journalctl.txt", ("\n".join(sorted(j)) + "\n").encode())
    cron = [datetime.fromtimestamp(t, UTC).strftime("%b %d %H:%M:%S") + f" vps CRON[{51000 + i}]: (bot) CMD "
            "(cd /opt/bot && /usr/bin/python3 auto_resolve.py >> logs/auto_resolve.log 2>&1)"
            for i, t in enumerate(cron_times)]
    atomic_write_bytes(d / "cron.log", ("\n".join(cron) + "\n").encode())
    rows = ["timestamp,cpu_pct,mem_pct,disk_pct,load1"]
    crash = restarts[0] if restarts else None
    t = (t_begin // 60) * 60
    while t < t_stop:
        mem = 48.0
        if crash is not None and crash - 3600 <= t < crash:
            mem = 48.0 + 49.0 * (t - (crash - 3600)) / 3600     # a leak climbing to the OOM kill
        cpu = 22.0 + 15.0 * (t_start <= t < t_stop)
        rows.append(f"{_iso(t)},{cpu:.1f},{mem:.1f},71.0,{cpu / 40:.2f}")
        t += 60
    atomic_write_bytes(d / "metrics.csv", ("\n".join(rows) + "\n").encode())


# ------------------------------------------------------------------------------------------------
# ES bundle (seed 000), mytrader format

@dataclass(frozen=True)
class ESScenario:
    seed: int = 20251212
    naked_exit: bool = True          # the stop fills first, then the "exit" BUY opens a naked long
    wait_ignored: bool = True
    stale_pnl: bool = True
    lost_trade_id: bool = True
    heartbeat_gap_min: int = 6
    candles: bool = True
    events: bool = True
    noise_mb: float = 0.0            # benchmarks: quotes dense enough for a log of about this size


def write_es_bundle(root: str | Path, sc: ESScenario | None = None) -> Path:
    sc = sc or ESScenario()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sc.seed)
    zone = ZoneInfo("America/Chicago")
    day = datetime(2025, 12, 12, tzinfo=zone)

    def T(hms: str) -> float:
        h, m, s = hms.split(":")
        return (day + timedelta(hours=int(h), minutes=int(m), seconds=float(s))).timestamp()

    # price path through the seed's anchors (CST)
    anchors = [("06:55:00", 6868.0), ("07:05:00", 6871.25), ("07:38:00", 6887.5), ("08:12:00", 6880.0),
               ("08:49:50", 6889.5), ("08:53:00", 6890.25), ("09:10:00", 6874.0), ("09:35:00", 6857.0),
               ("10:05:00", 6861.0)]
    at = np.array([T(a) for a, _ in anchors])
    av = np.array([v for _, v in anchors])
    t0, t1 = at[0], at[-1]
    step = 2.0 if sc.noise_mb <= 0 else max(0.002, (t1 - t0) * 118 / (sc.noise_mb * 1e6))
    grid = np.arange(t0, t1, step)
    hb_every = max(1, int(round(10.0 / step)))
    noise = np.cumsum(rng.normal(0, 0.35 * math.sqrt(step / 2.0), len(grid)))
    noise -= np.interp(grid, at, np.interp(at, grid, noise))        # pin the noise to zero at the anchors
    px = np.round((np.interp(grid, at, av) + noise) * 4) / 4

    lines: list[tuple[float, int, str]] = []
    seq = [0]

    def log(ts: float, logger: str, level: str, msg: str) -> None:
        seq[0] += 1
        d = datetime.fromtimestamp(ts, zone)
        lines.append((ts, seq[0], d.strftime("%Y-%m-%d %H:%M:%S,") + f"{d.microsecond // 1000:03d} - {logger} - "
                      f"{level} - {msg}"))

    S, A, M, X, AL, RAG = ("mytrader.strategies.hybrid", "mytrader.aws.decision_agent",
                           "mytrader.execution.live_trading_manager", "mytrader.execution.ib_executor",
                           "mytrader.monitoring.alerts", "mytrader.rag.pipeline_integration")
    gap0 = T("09:50:00")
    for i, (ts, p) in enumerate(zip(grid, px)):
        if sc.heartbeat_gap_min and gap0 <= ts < gap0 + 60 * sc.heartbeat_gap_min:
            continue                      # the bot's process stalls: no quotes, no heartbeats
        log(ts + 0.87 * step / 2, "mytrader.data.stream", "DEBUG",
            f"Market data: ESZ5 bid={p - 0.25:.2f} ask={p:.2f} last={p:.2f} volume={300 + (i * 37) % 400}")
        if i % hb_every == 0:
            log(ts + 0.1 * step / 2, X, "INFO", f"Heartbeat: connected=True latency_ms={9 + (i // hb_every) % 7}")
    events: list[dict] = []

    def ev(ts: float, name: str, cyc: str | None, **payload: object) -> None:
        d = {"ts": datetime.fromtimestamp(ts, UTC).isoformat(), "event": name, "trade_cycle_id": cyc, **payload}
        events.append(d)
        log(ts, M, "INFO", "EVENT " + json.dumps(d, separators=(",", ":")))

    # trade A: a normal bracketed long that hits its target
    ca = str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | 0xA))
    log(T("07:05:00.870"), S, "INFO", "Hybrid pipeline emitted SCALP_BUY @ 0.64 confidence (price=6871.25, "
        "stop=6863.25, target=6887.25)")
    log(T("07:05:01.002"), A, "INFO", "AWS Decision Agent returned BUY (71%) - higher lows, volume confirming")
    ev(T("07:05:01.004"), "signal", ca, signal="SCALP_BUY", confidence=0.64)
    log(T("07:05:01.010"), M, "INFO", "Placing entry order: BUY 1 ESZ5 @ 6871.25 (SL=6863.25, TP=6887.25)")
    log(T("07:05:01.101"), X, "INFO", f"Order submitted: orderId=14601 action=BUY qty=1 symbol=ESZ5 type=LMT "
        f"lmtPrice=6871.25 trade_cycle_id={ca}")
    log(T("07:05:01.102"), X, "INFO", f"Order submitted: orderId=14602 action=SELL qty=1 symbol=ESZ5 type=LMT "
        f"lmtPrice=6887.25 parentId=14601 trade_cycle_id={ca}")
    log(T("07:05:01.103"), X, "INFO", f"Order submitted: orderId=14603 action=SELL qty=1 symbol=ESZ5 type=STP "
        f"auxPrice=6863.25 parentId=14601 trade_cycle_id={ca}")
    log(T("07:05:02.554"), X, "INFO", f"Order filled: orderId=14601 action=BUY qty=1 avgPrice=6871.25 "
        f"trade_cycle_id={ca}")
    log(T("07:05:02.560"), X, "INFO", "Commission report: execId=0000e0d5.6575a001.01.01 orderId=14601 "
        "commission=2.25 realizedPNL=None")
    log(T("07:05:02.610"), X, "INFO", "Position update: ESZ5 position=1 avgCost=343562.5")
    ev(T("07:05:02.620"), "fill", ca, order_id=14601, price=6871.25)
    log(T("07:38:00.208"), X, "INFO", f"Order filled: orderId=14602 action=SELL qty=1 avgPrice=6887.25 "
        f"trade_cycle_id={ca}")
    log(T("07:38:00.215"), X, "INFO", "Commission report: execId=0000e0d5.6575a002.01.01 orderId=14602 "
        "commission=2.25 realizedPNL=795.50")
    log(T("07:38:00.260"), X, "INFO", "Position update: ESZ5 position=0 avgCost=0.0")
    log(T("07:38:00.301"), X, "INFO", "Order cancelled: orderId=14603 reason=OCA group filled")
    ev(T("07:38:00.320"), "trade_closed", ca, pnl=795.5, exit_order_id=14602)

    # trade B: the seed's short, stopped out at 08:49
    cb = str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | 0xB))
    log(T("08:12:39.870"), S, "INFO", "Hybrid pipeline emitted SCALP_SELL @ 0.52 confidence (price=6880.00, "
        "stop=6889.75, target=6859.75)")
    log(T("08:12:40.002"), A, "INFO", "AWS Decision Agent returned SELL (64%) - lower highs into the open")
    ev(T("08:12:40.004"), "signal", cb, signal="SCALP_SELL", confidence=0.52)
    log(T("08:12:40.010"), M, "INFO", "Placing entry order: SELL 1 ESZ5 @ 6879.75 (SL=6889.75, TP=6859.75)")
    log(T("08:12:40.101"), X, "INFO", f"Order submitted: orderId=14731 action=SELL qty=1 symbol=ESZ5 type=LMT "
        f"lmtPrice=6879.75 trade_cycle_id={cb}")
    log(T("08:12:40.102"), X, "INFO", f"Order submitted: orderId=14732 action=BUY qty=1 symbol=ESZ5 type=LMT "
        f"lmtPrice=6859.75 parentId=14731 trade_cycle_id={cb}")
    log(T("08:12:40.103"), X, "INFO", f"Order submitted: orderId=14733 action=BUY qty=1 symbol=ESZ5 type=STP "
        f"auxPrice=6889.75 parentId=14731 trade_cycle_id={cb}")
    log(T("08:12:41.554"), X, "INFO", f"Order filled: orderId=14731 action=SELL qty=1 avgPrice=6879.75 "
        f"trade_cycle_id={cb}")
    log(T("08:12:41.560"), X, "INFO", "Commission report: execId=0000e0d5.6575b001.01.01 orderId=14731 "
        "commission=2.25 realizedPNL=None")
    log(T("08:12:41.610"), X, "INFO", "Position update: ESZ5 position=-1 avgCost=343987.5")
    believed = 0
    if sc.naked_exit:
        log(T("08:49:57.208"), X, "INFO", f"Order filled: orderId=14733 action=BUY qty=1 avgPrice=6890.00 "
            f"trade_cycle_id={cb}")
        log(T("08:49:57.215"), X, "INFO", "Commission report: execId=0000e0d5.6575b003.01.01 orderId=14733 "
            "commission=2.25 realizedPNL=-517.00")
        log(T("08:49:57.260"), X, "INFO", "Position update: ESZ5 position=0 avgCost=0.0")
        log(T("08:49:57.301"), X, "INFO", "Order cancelled: orderId=14732 reason=OCA group filled")
        ev(T("08:49:57.320"), "trade_closed", cb, pnl=-517.0, exit_order_id=14733)
        believed = -1               # the bot never noticed the stop fill
    log(T("08:53:01.004"), S, "INFO", "Hybrid pipeline emitted SCALP_BUY @ 0.36 confidence (price=6890.25, "
        "stop=0.00, target=0.00)")
    log(T("08:53:01.006"), S, "WARNING", "Hybrid pipeline produced non-positive protective levels (stop=0.00, "
        "target=0.00)")
    log(T("08:53:13.220"), A, "INFO", "AWS Decision Agent returned WAIT (50%) - momentum fading, no edge")
    if sc.wait_ignored:
        log(T("08:53:13.221"), M, "INFO", "WAIT advisory only - not blocking trade (confidence 0.36 -> 0.18)")
        log(T("08:53:13.222"), M, "INFO", f"HYBRID EXIT: SCALP_BUY signal while position={believed or -1} ESZ5")
        log(T("08:53:13.224"), M, "INFO", "Placing exit order: BUY 1 ESZ5 (SL=None, TP=None)")
        log(T("08:53:13.301"), X, "INFO", "Order submitted: orderId=14812 action=BUY qty=1 symbol=ESZ5 type=MKT")
        log(T("08:53:20.450"), X, "INFO", "Order filled: orderId=14812 action=BUY qty=1 avgPrice=6890.50")
        log(T("08:53:20.456"), X, "INFO", "Commission report: execId=0000e0d5.6575c001.01.01 orderId=14812 "
            "commission=2.25 realizedPNL=None" if sc.naked_exit else
            "Commission report: execId=0000e0d5.6575c001.01.01 orderId=14812 commission=2.25 realizedPNL=-542.00")
        if sc.naked_exit:
            log(T("08:53:20.512"), AL, "INFO", "Telegram alert: Position opened LONG 1 ESZ5 @ 6890.50 SL=None, TP=None")
            log(T("08:53:20.640"), X, "INFO", "Position update: ESZ5 position=1 avgCost=344525.0")
        else:
            log(T("08:53:20.640"), X, "INFO", "Position update: ESZ5 position=0 avgCost=0.0")
        # 08:53-09:34: the pipeline keeps producing bad levels and WAITs, the bot keeps going
        t = T("08:56:00")
        while t < T("09:34:00"):
            log(t + 0.9, S, "INFO", "Hybrid pipeline emitted HOLD @ 0.22 confidence (price=None, stop=0.00, "
                "target=0.00)")
            log(t + 0.91, S, "WARNING", "Hybrid pipeline produced non-positive protective levels (stop=0.00, "
                "target=0.00)")
            log(t + 2.4, A, "INFO", "AWS Decision Agent returned WAIT (55%) - no edge")
            t += 180
        if sc.naked_exit:
            log(T("09:35:04.118"), S, "INFO", "Hybrid pipeline emitted SCALP_SELL @ 0.41 confidence (price=6857.00, "
                "stop=6866.00, target=6840.00)")
            log(T("09:35:04.120"), M, "INFO", "HYBRID EXIT: SCALP_SELL signal while position=1 ESZ5")
            log(T("09:35:04.121"), M, "INFO", "Placing exit order: SELL 1 ESZ5 (SL=None, TP=None)")
            log(T("09:35:10.002"), X, "INFO", "Order submitted: orderId=15638 action=SELL qty=1 symbol=ESZ5 type=MKT")
            log(T("09:35:22.310"), X, "INFO", "Order filled: orderId=15638 action=SELL qty=1 avgPrice=6856.50")
            pnl = "-592.00" if sc.stale_pnl else "-1704.50"
            log(T("09:35:22.355"), X, "INFO", f"Commission report: execId=0000e0d5.6575f1a2.01.01 orderId=15638 "
                f"commission=2.25 realizedPNL={pnl}")
            if sc.lost_trade_id:
                log(T("09:35:22.401"), RAG, "WARNING", "No current trade ID for exit logging")
            log(T("09:35:22.402"), X, "INFO", "Position update: ESZ5 position=0 avgCost=0.0")
    else:
        log(T("08:53:13.221"), M, "INFO", "Signal skipped: WAIT advisory blocks entries")

    lines.sort()
    atomic_write_bytes(root / "bot.log", ("\n".join(s for _, _, s in lines) + "\n").encode())
    if sc.events:
        atomic_write_bytes(root / "events.jsonl", ("\n".join(json.dumps(e) for e in events) + "\n").encode())
    if sc.candles:
        n = int((t1 - t0) // 60)
        rows = ["timestamp,open,high,low,close,volume"]
        for k in range(n):
            seg = px[(grid >= t0 + 60 * k) & (grid < t0 + 60 * (k + 1))]
            if len(seg) == 0:
                continue
            rows.append(f"{_iso(t0 + 60 * k)},{seg[0]:.2f},{seg.max():.2f},{seg.min():.2f},{seg[-1]:.2f},{len(seg) * 40}")
        atomic_write_bytes(root / "candles" / "ES-1m.csv", ("\n".join(rows) + "\n").encode())
    return root


def write_demo_bundles(root: str | Path) -> dict[str, Path]:
    """Both demo bundles under ``root``: {'polymarket': ..., 'es': ...}."""
    root = Path(root)
    return {"polymarket": write_polymarket_bundle(root / "polymarket"), "es": write_es_bundle(root / "es")}


__all__ = ["PolyScenario", "ESScenario", "write_polymarket_bundle", "write_es_bundle", "write_demo_bundles",
           "replace"]
