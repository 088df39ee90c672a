"""The Polymarket demo bundle (seed 001), written: bot.log, auto_resolve.log, journal, state, candles, system.

``write_polymarket_bundle`` simulates the seed-001 bot (tools/samples/polymarket_sim.py): a momentum bot
buying 15-minute Up/Down shares, an ``auto_resolve`` cron job that finds the winners but cannot write them
("attempt to write a readonly database") and swallows the error, positions carried at cost until an
outcome is recorded (so the bot's balance never shows the losses), restarts that reset the drawdown
peak to the current balance, and a state file with peak_balance == balance and consecutive_losses=0.
Every knob is a field of ``PolyScenario`` so tests can build variations and check that the review
detects what is there and only that. Same scenario, same bytes; raises only on I/O errors.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tools.samples.polymarket_market import ASSETS, WINDOW, iso, momentum_ts, price_paths, write_candles
from tools.samples.polymarket_sim import LogLines, PolyScenario, Trade, schedule, simulate, solve_stake_fraction
from trading.records.atomic import atomic_write_bytes, atomic_write_json


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
    ohlc = price_paths(rng, c0, minutes, regime_at, flash_crash_at=(t_start + 50 * 60 - c0) // 60,
                        outlier_at=(t_start - 3 * 3600 - c0) // 60)
    trades = schedule(sc, rng, t_start, ohlc, c0)
    frac = solve_stake_fraction(sc, trades, t_start)
    for trade in trades:
        trade.placed = False
    sim = simulate(sc, trades, t_start, frac)
    placed = [t for t in trades if t.placed]

    bot, res = LogLines(), LogLines()
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
    for ts, _kind, d in sim["plan"]:
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
            x: Trade = d["t"]
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
            _bot_started(bot, L, ts, pid, d["balance"], d["peak"], d["streak"], sc.peak_reset, (0.026, 0.027))
    final_ts = sim["t_end"] + 480
    final_balance = sim["final_cash"]
    final_peak = final_balance if sc.peak_reset else max(sim["peak"], final_balance)
    if sc.final_restart and halted_at is None:
        bot.log(final_ts - 12, "INFO", L, "Shutting down (reason=operator restart)")
        _bot_started(bot, L, final_ts, pid + 977, final_balance, final_peak, sim["streak"], sc.peak_reset, (0.03, 0.031))

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
            "halted": halted_at is not None, "last_updated": iso(final_ts + 2)})
    if sc.candles:
        for a in ASSETS:
            skip = set(range((t_start - 5 * 3600 - c0) // 60, (t_start - 5 * 3600 - c0) // 60 + 4)) if a == "ETH" else set()
            write_candles(root / "candles" / f"{a}-1m.csv", c0, ohlc[a], skip)
    if sc.system:
        _write_system(root / "system", sc, t_begin, t_start, sim["restarts"], cron_times, final_ts, t_stop)
    return root


def _bot_started(bot: LogLines, logger: str, ts: float, pid: int, balance: float, peak: float, streak: int,
                 peak_reset: bool, after: tuple[float, float]) -> None:
    """A (re)start of the bot: the start line, the peak-reset warning when it resets, the state it loaded;
    ``after`` holds the seconds from the start to the last two lines."""
    bot.log(ts, "INFO", logger, f"Bot started (pid={pid}, version=v12)")
    if peak_reset:
        bot.log(ts + after[0], "WARNING", logger, "peak_balance missing or invalid in state file; resetting peak to "
                f"current balance {balance:.2f}")
    bot.log(ts + after[1], "INFO", logger, f"State loaded: balance={balance:.2f} peak_balance={peak:.2f} "
            f"consecutive_losses={streak}")


def _write_log(path: Path, sim: LogLines, sc: PolyScenario, rng: np.random.Generator, t0: float, t1: float) -> None:
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
                buf.append(f"{momentum_ts(t)} [INFO] momentum_bot_v12: ML signal: asset={a} direction=UP prob={p:.2f} "
                           f"confidence={p - 0.03:.2f} model=ml_random_forest market={a.lower()}-updown-15m-"
                           f"{int(t // WINDOW * WINDOW)}")
            else:
                buf.append(f"{momentum_ts(t)} [DEBUG] momentum_bot_v12: {books[i % 4]}")
            t += step
            if len(buf) >= 20000:
                fh.write("\n".join(buf) + "\n")
                buf.clear()
        buf.extend(s for _, _, s in lines[j:])
        if buf:
            fh.write("\n".join(buf) + "\n")


def _write_journal(path: Path, trades: list[Trade], recorded_at: dict[int, float]) -> None:
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
                             (t.id, iso(recorded_at[t.id]), t.winner, int(t.won), t.size if t.won else 0.0, t.pnl))
        conn.commit()
    finally:
        conn.close()


def _write_system(d: Path, sc: PolyScenario, t_begin: float, t_start: float, restarts: Sequence[float],
                  cron_times: Sequence[float], final_ts: float, t_stop: float) -> None:
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
        rows.append(f"{iso(t)},{cpu:.1f},{mem:.1f},71.0,{cpu / 40:.2f}")
        t += 60
    atomic_write_bytes(d / "metrics.csv", ("\n".join(rows) + "\n").encode())
