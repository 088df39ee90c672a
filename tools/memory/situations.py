"""Situation vectors: a deterministic numeric picture of a trade cycle at entry, for similarity search.

No model is involved: the vector is built from the cycle's own numbers (returns, volatility, regime,
signal, advisory, side, asset, venue, time of day, protection, reason codes), each group scaled to a
comparable range, then L2-normalised so Chroma's cosine space compares situations, not magnitudes.
The outcome (won, PnL, exit) is deliberately left out: a live situation has no outcome yet.

The layout is pinned by ``SITUATION_VERSION``; any change to it must bump the version, and a store
built with another version refuses to mix the two (see tools/memory/store.py).

Failure contract: pure functions; a missing or non-finite feature contributes 0 to its slot, an
unknown asset, venue or reason code goes to its group's "other" slot; nothing here raises on a valid
``TradeOutcome`` / ``HistorySnapshot``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from trading.domain.slugs import parse_updown_slug
from trading.records.outcome_schema import HistorySnapshot, TradeOutcome

SITUATION_VERSION = "situation-v1"
SNAPSHOT_VERSION = "snapshot-v1"

# Returns are fractions (0.001 = 10 bp); each horizon gets its own scale so a typical move maps near 0.5.
# Each slot takes the first key present: the bots' own names and trading.records.learning_hooks.regime_of's
# (``ret_pct`` is a percent over the ~60-bar stack, hence the /100).
RETURN_SLOTS: tuple[tuple[tuple[tuple[str, float], ...], float], ...] = (
    ((("ret_1", 1.0),), 0.002),
    ((("ret_5", 1.0),), 0.004),
    ((("ret_15", 1.0), ("ret_window", 1.0)), 0.007),
    ((("ret_60", 1.0), ("ret_pct", 0.01)), 0.015),
)
VOL_KEYS = (("volatility", 1.0), ("vol_pct", 0.01))
VOL_REFERENCE = 0.002            # per-bar stdev of returns that maps to 0
ASSETS = ("ES", "MES", "NQ", "MNQ", "BTC", "ETH", "SOL", "XRP")     # + one "other" slot
VENUES = ("ib", "polymarket", "paper")
TREND_LABELS = ("trend_up", "trend_down", "range")     # mean_revert counts as range
VOL_LABELS = ("low_vol", "normal_vol", "high_vol")
ADVISORY_ACTIONS = ("BUY", "SELL", "WAIT")
# Pinned at v1 so a new ReasonCode elsewhere never changes the dimension; unknown codes share "other".
REASON_SLOTS = (
    "AWS_WAIT", "ADVISORY_STALE", "ADVISORY_MISSING", "ADVISORY_CONFLICT", "LLM_UNAVAILABLE",
    "MISSING_PROTECTION", "INVALID_STOP_SIDE", "MAX_LOSS_CAP", "PRICE_UNKNOWN", "MAX_EXPOSURE",
    "OPPOSITE_POSITION", "NO_EXPOSURE", "POSITION_UNKNOWN", "REDUCE_ONLY_VIOLATION", "REDUCE_ONLY_CAPPED",
    "EXIT_SIDE_CORRECTED", "DRAWDOWN_HALT", "LOSS_STREAK", "OUTCOME_UNRESOLVED", "COOLDOWN", "RATE_LIMIT",
    "OPERATOR_HALT", "RECONCILE_MISMATCH", "JOURNAL_UNWRITABLE", "EQUITY_UNKNOWN", "GUARD_ERROR",
    "PNL_MISMATCH", "NUMBER_UNGROUNDED",
)
CRYPTO_PREFIXES = {"btc": "BTC", "eth": "ETH", "sol": "SOL", "xrp": "XRP", "bitcoin": "BTC", "ethereum": "ETH",
                   "solana": "SOL"}
VENUE_ZONES = {"ib": "America/Chicago"}   # time of day in the exchange's zone; everything else UTC


def asset_of(symbol: str) -> str:
    """ESZ5 -> ES, MESH6 -> MES, btc-updown-15m-1768437900 -> BTC; unknown -> the symbol upper-cased."""
    s = symbol.strip()
    updown = parse_updown_slug(s)           # the one slug grammar (trading/domain/slugs.py)
    if updown is not None:
        return updown[0]
    head = s.lower().split("-", 1)[0]      # other Polymarket slugs: bitcoin-above-..., eth-...
    if head in CRYPTO_PREFIXES:
        return CRYPTO_PREFIXES[head]
    up = s.upper()
    for root in sorted(("ES", "MES", "NQ", "MNQ"), key=len, reverse=True):
        rest = up[len(root):]
        if up.startswith(root) and (rest == "" or (len(rest) in (2, 3) and rest[0] in "FGHJKMNQUVXZ"
                                                    and rest[1:].isdigit())):
            return root
    return up


def regime_labels(regime: str | Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """(trend label, vol label) from 'trend_low_vol' / 'mean_revert_high_vol' or a regime dict."""
    if isinstance(regime, Mapping):
        text = " ".join(str(v) for v in regime.values() if isinstance(v, str))
        text += " " + str(regime.get("label", ""))
    else:
        text = regime or ""
    text = text.lower()
    trend = next((t for t in ("trend_up", "trend_down", "range") if t in text), None)
    if trend is None and ("mean_revert" in text or "mean-revert" in text):
        trend = "range"
    vol = next((v for v in VOL_LABELS if v in text), None)
    return trend, vol


@dataclass(slots=True)
class Situation:
    """What is known at entry. Build it from a closed TradeOutcome or from live objects."""
    symbol: str
    venue: str
    side: str                                   # BUY | SELL
    opened_at: datetime
    features: Mapping[str, float] = field(default_factory=dict)
    regime: str = ""
    signal_side: str | None = None
    signal_label: str = ""
    signal_confidence: float | None = None
    advisory_action: str | None = None
    advisory_confidence: float | None = None
    entry_price: float | None = None
    stop: float | None = None
    target: float | None = None
    reason_codes: Sequence[str] = ()

    @classmethod
    def from_outcome(cls, o: TradeOutcome) -> Situation:
        stop = o.risk.stop if o.risk and o.risk.stop is not None else (o.signal.stop if o.signal else None)
        target = o.risk.target if o.risk and o.risk.target is not None else (o.signal.target if o.signal else None)
        feats = dict(o.signal.features) if o.signal else {}
        feats.update(o.features)
        return cls(
            symbol=o.symbol, venue=o.venue, side=o.side, opened_at=o.opened_at, features=feats,
            regime=o.regime,
            signal_side=(o.signal.side.value if o.signal and o.signal.side else None),
            signal_label=o.signal.label if o.signal else "",
            signal_confidence=o.signal.confidence if o.signal else None,
            advisory_action=o.advisory.action.value if o.advisory else None,
            advisory_confidence=o.advisory.confidence if o.advisory else None,
            entry_price=o.entry_price, stop=stop, target=target,
            reason_codes=[str(rc) for rc in o.reason_codes],
        )


def _first(f: Mapping[str, float], keys: Sequence[tuple[str, float]]) -> float | None:
    for key, mult in keys:
        x = f.get(key)
        if x is not None and isinstance(x, (int, float)) and math.isfinite(x):
            return float(x) * mult
    return None


def _one_hot(value: str | None, labels: Sequence[str], other: bool = False) -> list[float]:
    out = [1.0 if value == lab else 0.0 for lab in labels]
    if other:
        out.append(1.0 if value is not None and value not in labels else 0.0)
    return out


def _signed(side: str | None) -> float:
    return {"BUY": 1.0, "SELL": -1.0}.get((side or "").upper(), 0.0)


def _local_hour(ts: datetime, venue: str) -> float:
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    local = ts.astimezone(ZoneInfo(VENUE_ZONES.get(venue, "UTC")))
    return local.hour + local.minute / 60.0 + local.second / 3600.0


def _protect(entry: float | None, level: float | None) -> tuple[float, float]:
    """(present flag in {-1, 1}, distance from entry in tanh-scaled percent)."""
    if level is None or level <= 0:
        return -1.0, 0.0
    if not entry:
        return 1.0, 0.0
    return 1.0, math.tanh(abs(level - entry) / entry / 0.005)


def situation_vector(s: Situation) -> list[float]:
    """The v1 layout; dimension ``SITUATION_DIM``."""
    f = s.features
    v: list[float] = []
    for keys, scale in RETURN_SLOTS:                                # 4: recent returns
        r = _first(f, keys)
        v.append(math.tanh(r / scale) if r is not None else 0.0)
    vol = _first(f, VOL_KEYS)                                       # 1: volatility, log-scaled
    v.append(max(-3.0, min(3.0, math.log(vol / VOL_REFERENCE))) / 3.0 if vol and vol > 0 else 0.0)
    z = _first(f, (("trend_z", 1.0), ("zscore", 1.0)))              # 4: trend strength and oscillators
    v.append(math.tanh(z / 2.0) if z is not None else 0.0)
    eff = _first(f, (("efficiency", 1.0),))
    v.append(2.0 * min(1.0, max(0.0, eff)) - 1.0 if eff is not None else 0.0)
    ratio = _first(f, (("recent_vol_ratio", 1.0),))
    v.append(math.tanh(math.log(ratio)) if ratio and ratio > 0 else 0.0)
    rsi = _first(f, (("rsi", 1.0),))
    v.append((rsi - 50.0) / 50.0 if rsi is not None else 0.0)
    trend, vol_lab = regime_labels(s.regime)                        # 5: regime
    v += _one_hot(trend, TREND_LABELS) + _one_hot(vol_lab, VOL_LABELS)
    v.append(_signed(s.signal_side))                                # 3: signal
    v.append(2.0 * s.signal_confidence - 1.0 if s.signal_confidence is not None else 0.0)
    v.append(1.0 if s.signal_label.upper().startswith("SCALP") else 0.0)
    v += _one_hot(s.advisory_action, ADVISORY_ACTIONS)              # 5: advisory
    v.append(2.0 * s.advisory_confidence - 1.0 if s.advisory_confidence is not None else 0.0)
    side = _signed(s.side)
    agree = 0.0 if s.advisory_action is None else (1.0 if _signed(s.advisory_action) == side else -1.0)
    v.append(agree)
    v.append(side)                                                  # 1: side
    v += _one_hot(asset_of(s.symbol), ASSETS, other=True)           # 9: asset
    v += _one_hot(s.venue, VENUES)                                  # 3: venue
    h = _local_hour(s.opened_at, s.venue) / 24.0 * 2.0 * math.pi    # 2: time of day
    v += [math.sin(h), math.cos(h)]
    v += [*_protect(s.entry_price, s.stop), *_protect(s.entry_price, s.target)]  # 4: protection
    codes = {str(c) for c in s.reason_codes}                        # 29: reason codes, multi-hot
    w = 1.0 / math.sqrt(max(1, len(codes)))                         # many codes must not swamp the rest
    v += [w if slot in codes else 0.0 for slot in REASON_SLOTS]
    v.append(w if codes - set(REASON_SLOTS) else 0.0)
    return _normalise(v)


def _normalise(v: Sequence[float]) -> list[float]:
    arr = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(arr))
    return (arr / n).tolist() if n > 0 else arr.tolist()


def outcome_vector(o: TradeOutcome) -> list[float]:
    return situation_vector(Situation.from_outcome(o))


def outcome_vectors(outcomes: Iterable[TradeOutcome]) -> np.ndarray:
    return np.asarray([outcome_vector(o) for o in outcomes], dtype=np.float32)


SITUATION_DIM = len(situation_vector(Situation(symbol="ES", venue="ib", side="BUY",
                                               opened_at=datetime(2025, 1, 1, tzinfo=UTC))))

# --- history snapshots: the recent market shape, for "when did the market last look like this?" ---
SNAPSHOT_POINTS = 16


def snapshot_vector(snap: HistorySnapshot) -> list[float]:
    """Shape of the last closes (z-scored log returns, resampled to 16 points), volatility, trend, range,
    regime labels and asset. Deterministic; an empty candle stack gives a neutral shape."""
    closes = np.asarray([c.close for c in snap.candles if c.close > 0], dtype=np.float64)
    shape = np.zeros(SNAPSHOT_POINTS)
    vol_feat = trend_feat = range_feat = 0.0
    if closes.size >= 3:
        rets = np.diff(np.log(closes))
        sd = float(rets.std())
        if sd > 0:
            z = np.clip(rets / sd, -3, 3) / 3.0
            # resample the return path onto a fixed grid so stacks of any length compare
            grid = np.linspace(0, z.size - 1, SNAPSHOT_POINTS)
            shape = np.interp(grid, np.arange(z.size), np.cumsum(z) / math.sqrt(z.size))
            vol_feat = max(-3.0, min(3.0, math.log(sd / VOL_REFERENCE))) / 3.0
        trend_feat = math.tanh(float(np.log(closes[-1] / closes[0])) / 0.01)
        range_feat = math.tanh(float((closes.max() - closes.min()) / closes.mean()) / 0.01)
    trend, vol_lab = regime_labels(snap.regime)
    v = list(shape) + [vol_feat, trend_feat, range_feat]
    v += _one_hot(trend, TREND_LABELS) + _one_hot(vol_lab, VOL_LABELS)
    v += _one_hot(asset_of(snap.symbol), ASSETS, other=True)
    return _normalise(v)


SNAPSHOT_DIM = SNAPSHOT_POINTS + 3 + len(TREND_LABELS) + len(VOL_LABELS) + len(ASSETS) + 1
