"""Market anomalies a trader needs named, each with its time and size, and bad prints told from real moves.

- gaps: missing bars (exchange outage or feed loss) and price jumps between a close and the next open;
- flash crashes: a fall over at most 5 bars beyond ``crash_sigma`` local sigmas, with how much recovered;
- quote-currency breaks: a pair quoted in a stablecoin diverging from the same base quoted in USD
  (closes compared, never highs: one fat-finger wick is not a de-peg);
- volatility regime shifts: the bars after a point are at least ``shift_ratio`` times as volatile as
  the same number of bars before it, with a Brown-Forsythe (Levene, median) test;
- outlier prints: a bar is a bad print only when the next bars contradict it: its close jumps away and
  the next bar opens and closes back where the price was (it "returns at once"), or a wick reaches far
  beyond every neighbour while the closes barely move, on no more than usual volume. A real move (the
  next bar opens where the print closed, or the volume surges) is kept. Only these bars are replaced.
Pure functions over ``Series``; no I/O.

Failure contract: series too short for a detector give no anomalies (never raise); NaN bars are skipped.
"""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import levene

from tools.review.series import Series

STABLE_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USDP")
FIAT_QUOTES = ("USD",)
DEPEG_PCT = 2.0


def iso(ep: float) -> str:
    return datetime.fromtimestamp(float(ep), UTC).strftime("%Y-%m-%d %H:%M UTC")


def robust_sigma(r: np.ndarray) -> float:
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return 0.0
    mad = float(np.median(np.abs(r - np.median(r))))
    return 1.4826 * mad if mad > 0 else float(np.std(r)) or 1e-12


def gaps(s: Series, jump_sigma: float = 8.0, jump_min_pct: float = 2.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if len(s) < 3:
        return out
    dt = np.diff(s.t)
    if s.interval_s <= 0:
        return out
    for i in np.nonzero(dt > 1.5 * s.interval_s)[0].tolist():
        k = int(dt[i] // s.interval_s - 1)
        out.append({"kind": "gap", "at": iso(s.t[i] + s.interval_s), "ts": float(s.t[i] + s.interval_s),
                    "missing_bars": k, "size": f"{k} bar(s) missing", "detail": f"{k} bar(s) missing after {iso(s.t[i])}"})
    sig = robust_sigma(np.diff(np.log(s.c)))
    jump = np.abs(np.log(s.o[1:] / s.c[:-1]))
    for i in np.nonzero(jump > max(jump_sigma * sig, jump_min_pct / 100))[0].tolist():
        out.append({"kind": "price_gap", "at": iso(s.t[i + 1]), "ts": float(s.t[i + 1]),
                    "pct": round(float(jump[i]) * 100, 3),
                    "detail": f"open {s.o[i + 1]:g} vs previous close {s.c[i]:g} ({float(jump[i]) * 100:.2f}%)"})
    return out


def outlier_prints(s: Series, sigma: float = 8.0, min_pct: float = 2.0, back: float = 0.25,
                   volume_surge: float = 3.0) -> list[dict[str, Any]]:
    """Bars the next bars contradict (see the module doc); each with what replaces it."""
    n = len(s)
    out: list[dict[str, Any]] = []
    if n < 20:
        return out
    lc = np.log(s.c)
    sig = robust_sigma(np.diff(lc))
    thr = max(sigma * sig, min_pct / 100)
    vol = s.v if s.v is not None and len(s.v) == n else None
    vmed = float(np.nanmedian(vol)) if vol is not None else None

    def normal_volume(i: int) -> bool:
        return vol is None or not vmed or not math.isfinite(vol[i]) or vol[i] <= volume_surge * vmed

    for i in range(1, n - 1):
        prev = lc[i - 1]
        dev = lc[i] - prev
        # a close that jumps away and is undone by the very next bar's open and close
        nxt_open_back = abs(math.log(s.o[i + 1]) - prev) < back * abs(dev)
        nxt_open_carried = not (s.low[i + 1] <= s.o[i + 1] <= s.h[i + 1])   # the print leaked into the next open
        if abs(dev) > thr and abs(lc[i + 1] - prev) < back * abs(dev) and (nxt_open_back or nxt_open_carried) \
                and normal_volume(i):
            rep = float(s.c[i - 1])
            out.append({"kind": "outlier_print", "at": iso(s.t[i]), "ts": float(s.t[i]), "index": i, "field": "close",
                        "pct": round((math.exp(dev) - 1) * 100, 3), "value": float(s.c[i]), "replacement": rep,
                        "detail": f"close {s.c[i]:g} vs {rep:g} before and {s.c[i + 1]:g} after"
                                  + (" (the next bar's open repeats the print outside its own range)"
                                     if nxt_open_carried else "")})
            continue
        # a wick far beyond the bar's body and both neighbours while the closes barely move
        body_hi, body_lo = max(s.o[i], s.c[i]), min(s.o[i], s.c[i])
        near_hi = max(s.h[i - 1], s.h[i + 1], body_hi)
        near_lo = min(s.low[i - 1], s.low[i + 1], body_lo)
        moves = abs(lc[i] - prev) + abs(lc[i + 1] - lc[i])
        for field, val, ref in (("high", s.h[i], near_hi), ("low", s.low[i], near_lo)):
            ext = math.log(val / ref) * (1 if field == "high" else -1)     # how far the wick sticks out
            if ext > thr and moves < back * ext and normal_volume(i):
                out.append({"kind": "outlier_print", "at": iso(s.t[i]), "ts": float(s.t[i]), "index": i,
                            "field": field, "pct": round((val / ref - 1) * 100, 3), "value": float(val),
                            "replacement": float(body_hi if field == "high" else body_lo),
                            "detail": f"{field} {val:g} vs {ref:g} on the bar and its neighbours"})
    return out


def venue_prints(s: Series, peers: list[Series], min_pct: float = 2.0, back: float = 0.25) -> list[dict[str, Any]]:
    """Wicks every neighbouring venue (the same base, another quote) contradicts while the closes agree."""
    out: list[dict[str, Any]] = []
    votes: dict[tuple[int, str], int] = {}
    for p in peers:
        common, ia, ip = np.intersect1d(s.t, p.t, return_indices=True)
        if len(common) < 10:
            continue
        cdiv = np.abs(np.log(s.c[ia] / p.c[ip]))
        for field, mine, theirs, sign in (("high", s.h[ia], p.h[ip], 1), ("low", s.low[ia], p.low[ip], -1)):
            ext = sign * np.log(mine / theirs)
            for k in np.nonzero((ext > min_pct / 100) & (cdiv < back * ext))[0].tolist():
                i = int(ia[k])
                votes[(i, field)] = votes.get((i, field), 0) + 1
                if votes[(i, field)] > 1:
                    continue
                rep = float(max(s.o[i], s.c[i]) if field == "high" else min(s.o[i], s.c[i]))
                out.append({"kind": "outlier_print", "at": iso(s.t[i]), "ts": float(s.t[i]), "index": i, "field": field,
                            "pct": round(float(np.expm1(sign * ext[k])) * 100, 3), "value": float(mine[k]),
                            "replacement": rep, "detail": f"{field} {mine[k]:g} while {p.asset} traded at most "
                                                          f"{theirs[k]:g} in the same bar and the closes agree"})
    return [o for o in out if votes[(o["index"], o["field"])] == len(peers)]


def flash_crashes(s: Series, crash_sigma: float = 8.0, min_pct: float = 2.0,
                  skip: set[int] | None = None) -> list[dict[str, Any]]:
    n = len(s)
    out: list[dict[str, Any]] = []
    if n < 20:
        return out
    r = np.diff(np.log(s.c))
    sig = robust_sigma(r)
    local = pd.Series(r).rolling(120, min_periods=30).std().shift(1).to_numpy()
    local = np.where(np.isfinite(local) & (local > 0), local, sig)
    logc = np.log(s.c)
    skip = skip or set()
    i = 0
    while i < n - 1:
        hit = False
        for span in range(1, 6):
            j = i + span
            if j >= n:
                break
            fall = logc[j] - logc[i]
            sd = float(local[min(i, len(local) - 1)])
            if fall < -max(crash_sigma * sd * math.sqrt(span), min_pct / 100) and i not in skip and j not in skip:
                low_j = j + int(np.argmin(logc[j:min(j + 3, n)]))
                fall = logc[low_j] - logc[i]
                rec_end = min(low_j + 16, n)
                rec = float(np.max(logc[low_j:rec_end]) - logc[low_j]) / -fall
                pct = (math.exp(fall) - 1) * 100
                out.append({"kind": "flash_crash" if rec >= 0.5 else "crash", "at": iso(s.t[i + 1]),
                            "ts": float(s.t[i + 1]), "pct": round(pct, 3), "bars": int(low_j - i),
                            "low_at": iso(s.t[low_j]),
                            "sigmas": round(-fall / (sd * math.sqrt(max(low_j - i, 1))), 1),
                            "recovered_pct": round(rec * 100, 1),
                            "detail": f"{pct:.2f}% in {low_j - i} bar(s) from close {s.c[i]:g} to {s.c[low_j]:g} "
                                      f"(low close at {iso(s.t[low_j])}), "
                                      f"{rec * 100:.0f}% recovered within 15 bars"})
                i, hit = rec_end, True
                break
        if not hit:
            i += 1
    return out


def volatility_shifts(s: Series, window: int = 96, ratio: float = 2.0, alpha: float = 0.01,
                      top: int = 5) -> list[dict[str, Any]]:
    """Points where the next ``window`` bars are ``ratio`` times as (or 1/ratio as) volatile as the previous ones."""
    r = np.diff(np.log(s.c))
    if len(r) < 2 * window:
        return []

    sd = pd.Series(r).rolling(window).std().to_numpy()
    before, after = sd[window - 1:len(r) - window], sd[2 * window - 1:]
    k = min(len(before), len(after))
    rat = after[:k] / np.where(before[:k] > 0, before[:k], np.nan)
    score = np.abs(np.log(rat))
    cand = np.argsort(-np.nan_to_num(score, nan=0.0))
    out: list[dict[str, Any]] = []
    taken: list[int] = []
    for c in cand.tolist():
        if len(out) >= top or not math.isfinite(score[c]) or score[c] < math.log(ratio):
            break
        if any(abs(c - t) < 2 * window for t in taken):
            continue
        split = c + window                          # first return of the "after" window
        a, b = r[split - window:split], r[split:split + window]
        p = float(levene(a, b, center="median").pvalue)
        if p >= alpha:
            continue
        taken.append(c)
        out.append({"kind": "volatility_shift", "at": iso(s.t[split]), "ts": float(s.t[split]),
                    "ratio": round(float(rat[c]), 3), "pvalue": p, "n": 2 * window,
                    "detail": f"volatility x{float(rat[c]):.2f} over the next {window} bars vs the previous {window} "
                              f"(Brown-Forsythe p={p:.2g})"})
    return sorted(out, key=lambda x: x["ts"])


def split_pair(name: str) -> tuple[str, str] | None:
    """("BTC", "USDC") from "BTCUSDC", "BTC/USDC", "BTC-USDC_1m_2023..."; None when no known quote."""
    head = re.split(r"[_\s]", name.upper())[0]
    parts = re.split(r"[/:-]", head)
    if len(parts) >= 2 and parts[1]:
        return parts[0], parts[1]
    for q in sorted(STABLE_QUOTES + FIAT_QUOTES, key=len, reverse=True):
        if head.endswith(q) and len(head) > len(q):
            return head[: -len(q)], q
    return None


def quote_breaks(series: dict[str, Series], threshold_pct: float = DEPEG_PCT) -> list[dict[str, Any]]:
    """Stablecoin-quoted pairs whose close diverges from the same base's USD close beyond ``threshold_pct``."""
    pairs = {a: p for a in series if (p := split_pair(a)) is not None}
    out: list[dict[str, Any]] = []
    for a, (base, quote) in pairs.items():
        if quote not in STABLE_QUOTES:
            continue
        ref = next((b for b, (bb, qq) in pairs.items() if bb == base and qq in FIAT_QUOTES), None)
        if ref is None:
            continue
        sa, sr = series[a], series[ref]
        common, ia, ir = np.intersect1d(sa.t, sr.t, return_indices=True)
        if len(common) < 10:
            continue
        div = (sa.c[ia] / sr.c[ir] - 1) * 100
        above = np.nonzero(np.abs(div) > threshold_pct)[0]
        if not len(above):
            continue
        pk = int(above[np.argmax(np.abs(div[above]))])
        first, last = int(above[0]), int(above[-1])
        out.append({"kind": "quote_break", "asset": a, "reference": ref, "at": iso(common[first]),
                    "ts": float(common[first]), "pct": round(float(div[first]), 3),
                    "peak_at": iso(common[pk]), "peak_pct": round(float(div[pk]), 3), "last_at": iso(common[last]),
                    "bars_beyond": int(len(above)), "n": int(len(common)),
                    "detail": f"{a} close diverged from {ref} by more than {threshold_pct:g}% first at "
                              f"{iso(common[first])} ({float(div[first]):+.2f}%), peak {float(div[pk]):+.2f}% at "
                              f"{iso(common[pk])}, last at {iso(common[last])}; {len(above)} of {len(common)} bars beyond"})
    return out


def clean(s: Series, prints: list[dict[str, Any]]) -> Series:
    """A copy with the listed bad prints replaced (close by the price before it, a wick by the bar's body)."""
    if not prints:
        return s
    o, h, lo, c = s.o.copy(), s.h.copy(), s.low.copy(), s.c.copy()
    for p in prints:
        i = p["index"]
        if p["field"] == "close":
            c[i] = p["replacement"]
            h[i] = max(o[i], c[i], min(h[i], max(h[i - 1], h[i + 1])))
            lo[i] = min(o[i], c[i], max(lo[i], min(lo[i - 1], lo[i + 1])))
            if i + 1 < len(o) and not (lo[i + 1] <= o[i + 1] <= h[i + 1]):
                o[i + 1] = c[i]                   # the next bar opened at the bad print: it opens where the price was
                h[i + 1], lo[i + 1] = max(h[i + 1], o[i + 1]), min(lo[i + 1], o[i + 1])
        elif p["field"] == "high":
            h[i] = p["replacement"]
        else:
            lo[i] = p["replacement"]
    return Series(s.asset, s.t, o, h, lo, c, s.interval_s, s.source, dict(s.dropped), s.v)


def peers_of(asset: str, series: dict[str, Series]) -> list[Series]:
    """The other venues/quotes of the same base asset (BTCUSD for BTCUSDC)."""
    me = split_pair(asset)
    if me is None:
        return []
    return [v for k, v in series.items() if k != asset and (p := split_pair(k)) is not None and p[0] == me[0]]


def detect(s: Series, peers: list[Series] | None = None) -> tuple[list[dict[str, Any]], Series]:
    """All single-series anomalies (sorted by time) and the series with the bad prints replaced."""
    prints = outlier_prints(s)
    seen = {(p["index"], p["field"]) for p in prints}
    prints += [p for p in venue_prints(s, peers or []) if (p["index"], p["field"]) not in seen]
    fixed = clean(s, prints)
    found = gaps(s) + prints + flash_crashes(fixed, skip={p["index"] for p in prints})
    window = max(30, min(96, len(s) // 8))
    found += volatility_shifts(fixed, window=window)
    return sorted(found, key=lambda a: a["ts"]), fixed
