"""The candle reader takes the header variants real exports use and names what it could not find."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from trading.market.candles import CandleFormatError, read_candles

T0 = datetime(2025, 12, 12, 14, 0, tzinfo=UTC)


def _write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


@pytest.mark.parametrize("header,t1,t2", [
    ("timestamp,open,high,low,close,volume", "2025-12-12T14:00:00Z", "2025-12-12T14:01:00Z"),
    ("open_time,open,high,low,close,volume", "2025-12-12 14:00:00+00:00", "2025-12-12 14:01:00+00:00"),
    ("Date,Open,High,Low,Close,Volume", "2025-12-12T08:00:00-06:00", "2025-12-12T08:01:00-06:00"),
    ("DateTime,OPEN,HIGH,LOW,CLOSE,VOLUME", "2025-12-12 14:00:00", "2025-12-12 14:01:00"),
    ("time,o,h,l,c,v", "1765548000", "1765548060"),
    ("Timestamp,Open,High,Low,Close,Volume", "1765548000000", "1765548060000"),
    ("date,open,high,low,close,volume", "12/12/2025 14:00", "12/12/2025 14:01"),
])
def test_header_and_time_variants(tmp_path: Path, header: str, t1: str, t2: str) -> None:
    p = _write(tmp_path / "c.csv", f"{header}\n{t1},100,101,99,100.5,10\n{t2},100.5,102,100,101.5,12\n")
    s = read_candles(p)
    assert [b.ts for b in s.bars] == [T0, T0.replace(minute=1)]
    assert (s.bars[1].open, s.bars[1].high, s.bars[1].low, s.bars[1].close) == (100.5, 102, 100, 101.5)
    assert s.interval.total_seconds() == 60 and s.dropped == {}


def test_split_date_and_time_columns_and_naive_zone(tmp_path: Path) -> None:
    p = _write(tmp_path / "c.txt", "Date,Time,Open,High,Low,Close,Volume,OpenInterest\n"
                                   "2025-12-12,08:00:00,1,2,0.5,1.5,0,0\n2025-12-12,08:05:00,1.5,2,1,1.8,0,0\n")
    s = read_candles(p, tz="America/Chicago")
    assert s.bars[0].ts == T0 and s.time_column == "Date+Time"
    assert s.bars[0].volume == 0


def test_parquet_and_feather(tmp_path: Path) -> None:
    df = pd.DataFrame({"date": pd.to_datetime(["2025-12-12 14:00", "2025-12-12 14:01"], utc=True),
                       "open": [1.0, 2.0], "high": [2.0, 3.0], "low": [0.5, 1.5], "close": [1.5, 2.5],
                       "volume": [5.0, 6.0]})
    df.to_parquet(tmp_path / "c.parquet")
    df.to_feather(tmp_path / "c.feather")
    for name in ("c.parquet", "c.feather"):
        s = read_candles(tmp_path / name)
        assert [b.ts for b in s.bars] == [T0, T0.replace(minute=1)] and s.bars[1].close == 2.5


def test_multi_instrument_file_needs_a_symbol(tmp_path: Path) -> None:
    p = _write(tmp_path / "m.csv", "pair,date,open,high,low,close,volume\n"
                                   "BTC/USDT,2025-12-12T14:00:00Z,1,2,0.5,1.5,1\n"
                                   "ETH/USDT,2025-12-12T14:00:00Z,10,20,5,15,1\n")
    with pytest.raises(CandleFormatError, match="several instruments"):
        read_candles(p)
    assert read_candles(p, symbol="ETH-USDT").bars[0].close == 15
    with pytest.raises(CandleFormatError, match="no rows for symbol"):
        read_candles(p, symbol="SOL/USDT")


def test_errors_name_the_missing_column(tmp_path: Path) -> None:
    with pytest.raises(CandleFormatError, match="no time column .*columns found: when, open"):
        read_candles(_write(tmp_path / "a.csv", "when,open,high,low,close\n1,1,1,1,1\n"))
    with pytest.raises(CandleFormatError, match="no 'low' column"):
        read_candles(_write(tmp_path / "b.csv", "timestamp,open,high,close\n1765548000,1,1,1\n"))
    with pytest.raises(CandleFormatError, match="no recognisable timestamps"):
        read_candles(_write(tmp_path / "c.csv", "timestamp,open,high,low,close\nsoon,1,1,1,1\nlater,1,1,1,1\n"))
    with pytest.raises(CandleFormatError, match="no such file"):
        read_candles(tmp_path / "nope.csv")
    assert issubclass(CandleFormatError, ValueError)


def test_bad_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.csv", "timestamp,open,high,low,close\n"
                                   "2025-12-12T14:02:00Z,1,2,0.5,1.5\n"
                                   "2025-12-12T14:00:00Z,1,2,0.5,1.5\n"
                                   "2025-12-12T14:00:00Z,1,2,0.5,1.7\n"
                                   "2025-12-12T14:01:00Z,1,,0.5,1.5\n"
                                   "2025-12-12T14:03:00Z,1,0.2,0.5,1.5\n"
                                   "garbage,1,2,0.5,1.5\n")
    s = read_candles(p)
    assert [b.ts.minute for b in s.bars] == [0, 2]          # sorted, duplicate kept last
    assert s.bars[0].close == 1.7
    assert s.dropped == {"unparseable_time": 1, "missing_price": 1, "high_below_low": 1, "duplicate_time": 1}


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder absent")
@pytest.mark.parametrize("rel,symbol,column", [
    ("A1_binanceus_btc_1m_2023-03_svb_usdc_depeg/BTCUSD_1m_20230301_20230321.csv", None, "open_time"),
    ("A2_binance_spot_btc_eth_sol_xrp_15m_2025/crash_2025-10-10_5m_btc_eth_sol_xrp.csv", "BTC/USDT", "date"),
    ("B3_mplfinance_spx_1m_intraday_and_spy_daily/SP500_NOV2019_IDay.csv", None, "Date"),
    ("B6_eurostoxx50_backtrader_2006/2006-min-005.txt", None, "Date+Time"),
    ("A2_binance_spot_btc_eth_sol_xrp_15m_2025/BTC_USDT-15m.feather", None, "date"),
])
def test_real_exports_read_without_loss(rel: str, symbol: str | None, column: str) -> None:
    p = SHARED / rel
    if not p.is_file():
        pytest.skip(f"{rel} absent")
    s = read_candles(p, symbol=symbol)
    assert len(s) > 1000 and s.time_column == column and s.dropped == {}
    assert all(a.ts < b.ts for a, b in zip(s.bars, s.bars[1:]))


# -- the bar clock (issue 11 hole 5): a bar ends at open + interval, never open + the gap ---------------------

def test_clock_ignores_weekend_gaps_and_recognises_weekday_sessions() -> None:
    from datetime import timedelta

    from trading.market.candles import Bar
    from trading.market.clock import BarClock, infer_interval

    days = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(30)]
    weekdays = [d for d in days if d.weekday() < 5]
    assert infer_interval(weekdays) == timedelta(days=1)          # the weekend gaps are the tail
    clock = BarClock.for_bars([Bar(t, 1, 1, 1, 1) for t in weekdays])
    assert clock.calendar == "weekdays"
    fri = next(d for d in weekdays if d.weekday() == 4)
    assert clock.end(Bar(fri, 1, 1, 1, 1)) == fri + timedelta(days=1)      # Saturday 00:00, not Monday
    crypto = BarClock.for_bars([Bar(t, 1, 1, 1, 1) for t in days])
    assert crypto.calendar == "24/7"
    live = BarClock()                                              # learnt bar by bar (no declaration)
    assert live.step(Bar(weekdays[0], 1, 1, 1, 1)) == weekdays[0]  # unknown interval: ends at its open
    for t in weekdays[1:8]:
        end = live.step(Bar(t, 1, 1, 1, 1))
        assert end - t <= timedelta(days=1), (t, end)
    with pytest.raises(ValueError):
        BarClock(interval=timedelta(0))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder absent")
@pytest.mark.parametrize("rel,interval,calendar", [
    ("B4_spy_daily_2022_2023/SPY.csv", "1 day", "weekdays"),
    ("B3_mplfinance_spx_1m_intraday_and_spy_daily/SP500_NOV2019_IDay.csv", "1 minute", "24/7"),
    ("A1_binanceus_btc_1m_2023-03_svb_usdc_depeg/BTCUSD_1m_20230301_20230321.csv", "1 minute", "24/7"),
])
def test_clock_on_real_series_never_stretches_a_bar_over_a_gap(rel: str, interval: str, calendar: str) -> None:
    """SPY daily (weekends, holidays) and S&P 1-minute RTH bars (overnight gaps): every bar ends before the
    next one opens and lasts exactly the series' interval (or less, for a daily bar capped at midnight)."""
    from trading.market.clock import BarClock

    p = SHARED / rel
    if not p.is_file():
        pytest.skip(f"{rel} absent")
    bars = read_candles(p).bars
    clock = BarClock.for_bars(bars)
    assert clock.interval == pd.Timedelta(interval).to_pytimedelta() and clock.calendar == calendar
    for a, nxt in zip(bars, bars[1:]):
        end = clock.end(a)
        assert a.ts < end <= nxt.ts and end - a.ts <= clock.interval, (a.ts, end, nxt.ts)
