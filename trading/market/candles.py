"""Candle reader: CSV, Parquet or Feather exports with the header variants real tools write.

Time column: ``timestamp``, ``open_time``, ``date``, ``datetime``, ``time`` (or ``ts``), or a ``date`` +
``time`` pair; ISO 8601 (with or without zone), US-style dates, or Unix seconds / milliseconds /
microseconds (told apart by magnitude). OHLC columns are matched case-insensitively, ``volume`` is
optional. A file with a ``symbol`` / ``pair`` column holding several instruments needs ``symbol=``.
Naive timestamps are read in ``tz`` (UTC unless told otherwise). Rows with a missing or unparseable
value are dropped and counted (``CandleSeries.dropped``), never silently.
"""
from __future__ import annotations

import logging
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

TIME_COLUMNS = ("timestamp", "open_time", "datetime", "date", "time", "ts", "date_time", "opentime")
PRICE_COLUMNS = ("open", "high", "low", "close")
SYMBOL_COLUMNS = ("symbol", "pair", "ticker", "instrument")
_ALIASES = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "vol": "volume"}


class CandleFormatError(ValueError):
    """The file cannot be read as candles; the message names the missing column or bad value."""


@dataclass(frozen=True, slots=True)
class Bar:
    ts: datetime          # bar open time, UTC
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


@dataclass(slots=True)
class CandleSeries:
    bars: list[Bar]
    source: str
    time_column: str
    interval: timedelta | None                 # typical spacing (``infer_interval``); None with fewer than 2 bars
    dropped: dict[str, int] = field(default_factory=dict)   # reason -> rows dropped

    def __len__(self) -> int:
        return len(self.bars)

    def __iter__(self) -> Iterator[Bar]:
        return iter(self.bars)


def _norm(name: str) -> str:
    n = str(name).strip().lower().replace(" ", "_")
    return _ALIASES.get(n, n)


def _read_frame(path: Path) -> pd.DataFrame:
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if suffixes.endswith((".feather", ".arrow")):
            return pd.read_feather(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise CandleFormatError(f"{path}: no such file") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise CandleFormatError(f"{path}: not a readable candle file ({type(exc).__name__}: {exc})") from None


def _parse_times(col: pd.Series, tz: str, name: str, path: Path) -> pd.Series:
    """Parse a time column to tz-aware UTC; unparseable values become NaT (dropped and counted)."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    if pd.api.types.is_numeric_dtype(col):
        v = pd.to_numeric(col, errors="coerce")
        mag = float(np.nanmedian(np.abs(v.to_numpy(dtype=float)))) if v.notna().any() else 0.0
        unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
        return pd.to_datetime(v, unit=unit, utc=True, errors="coerce")
    s = col.astype("string").str.strip()
    if s.str.fullmatch(r"\d{9,19}(\.\d+)?").fillna(False).all():
        return _parse_times(pd.to_numeric(s, errors="coerce"), tz, name, path)
    for fmt in ("ISO8601", "mixed"):
        try:
            parsed = pd.to_datetime(s, format=fmt, errors="coerce")
        except ValueError:          # mixed UTC offsets in one column
            return pd.to_datetime(s, format=fmt, utc=True, errors="coerce")
        if parsed.notna().sum() >= max(1, int(0.9 * s.notna().sum())):
            break
    else:
        raise CandleFormatError(f"{path}: time column {name!r} holds no recognisable timestamps "
                                f"(first value {s.iloc[0]!r})")
    if parsed.dt.tz is None:
        return parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    return parsed.dt.tz_convert("UTC")


def read_candles(path: str | Path, symbol: str | None = None, tz: str = "UTC") -> CandleSeries:
    """Read candles from ``path`` (CSV / Parquet / Feather), sorted by time, duplicates removed."""
    path = Path(path)
    df = _read_frame(path)
    cols = {_norm(c): c for c in df.columns}
    dropped: dict[str, int] = {}

    sym_col = next((cols[c] for c in SYMBOL_COLUMNS if c in cols), None)
    if sym_col is not None:
        values = df[sym_col].astype("string")
        if symbol is not None:
            key = symbol.replace("/", "").replace("-", "").upper()
            mask = values.str.replace(r"[/\-]", "", regex=True).str.upper() == key
            if not mask.any():
                raise CandleFormatError(f"{path}: no rows for symbol {symbol!r} in column {sym_col!r} "
                                        f"(found: {', '.join(sorted(values.dropna().unique())[:10])})")
            df = df[mask.fillna(False)]
        elif values.nunique() > 1:
            raise CandleFormatError(f"{path}: column {sym_col!r} holds several instruments "
                                    f"({', '.join(sorted(values.dropna().unique())[:10])}); pass a symbol")

    missing = [c for c in PRICE_COLUMNS if c not in cols]
    if missing:
        raise CandleFormatError(f"{path}: no {missing[0]!r} column (columns found: {', '.join(map(str, df.columns))})")
    if "date" in cols and "time" in cols and not pd.api.types.is_numeric_dtype(df[cols["time"]]):
        time_name = f"{cols['date']}+{cols['time']}"
        raw = df[cols["date"]].astype("string") + " " + df[cols["time"]].astype("string")
    else:
        tcol = next((cols[c] for c in TIME_COLUMNS if c in cols), None)
        if tcol is None:
            if isinstance(df.index, pd.DatetimeIndex):
                tcol, raw = "index", df.index.to_series(index=df.index)
            else:
                raise CandleFormatError(
                    f"{path}: no time column (looked for {', '.join(TIME_COLUMNS)}, case-insensitive; "
                    f"columns found: {', '.join(map(str, df.columns))})")
        else:
            raw = df[tcol]
        time_name = str(tcol)
    ts = _parse_times(raw, tz, time_name, path)

    out = pd.DataFrame({"ts": ts.to_numpy()}, index=df.index)
    for c in (*PRICE_COLUMNS, "volume"):
        if c in cols:
            out[c] = pd.to_numeric(df[cols[c]], errors="coerce")
        else:
            out[c] = 0.0
    bad = out["ts"].isna()
    if bad.any():
        dropped["unparseable_time"] = int(bad.sum())
    bad_px = out[list(PRICE_COLUMNS)].isna().any(axis=1) & ~bad
    if bad_px.any():
        dropped["missing_price"] = int(bad_px.sum())
    out = out[~bad & ~bad_px]
    inverted = out["high"] < out["low"]
    if inverted.any():
        dropped["high_below_low"] = int(inverted.sum())
        out = out[~inverted]
    out = out.sort_values("ts", kind="stable")
    dup = out["ts"].duplicated(keep="last")
    if dup.any():
        dropped["duplicate_time"] = int(dup.sum())
        out = out[~dup]
    if dropped:
        log.warning("candles %s: dropped rows %s", path, dropped)
    if out.empty:
        raise CandleFormatError(f"{path}: no usable candle rows (dropped: {dropped or 'file is empty'})")

    tss = pd.DatetimeIndex(out["ts"]).to_pydatetime()
    o, h, lo, c, v = (out[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close", "volume"))
    v = np.nan_to_num(v, nan=0.0)
    bars = [Bar(t, float(a), float(b), float(x), float(y), float(z)) for t, a, b, x, y, z in zip(tss, o, h, lo, c, v)]
    interval = infer_interval(list(tss))
    return CandleSeries(bars=bars, source=str(path), time_column=time_name, interval=interval, dropped=dropped)


def infer_interval(times: Sequence[datetime]) -> timedelta | None:
    """The typical spacing of sorted bar opens: the low median of the positive gaps, so weekend, holiday
    and overnight gaps (the long tail) never set it. None with fewer than two distinct times."""
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return statistics.median_low(gaps) if gaps else None


def bars_to_frame(bars: Sequence[Bar]) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": [b.ts for b in bars], "open": [b.open for b in bars],
                         "high": [b.high for b in bars], "low": [b.low for b in bars],
                         "close": [b.close for b in bars], "volume": [b.volume for b in bars]})
