"""The econophysics tools on real candles (../shared/data; skipped when absent): BTC 15m 2025 is a random
walk by the robust variance ratio, the USDC de-peg of 2023-03-11 is flagged with its start, the 2025-10-10
crash is flagged and kept, and the BTCUSDC 31,000 wick is the only kind of bar replaced."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tools.review import anomalies, econophysics
from tools.review.series import Series

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
A1 = DATA / "A1_binanceus_btc_1m_2023-03_svb_usdc_depeg"
A2 = DATA / "A2_binance_spot_btc_eth_sol_xrp_15m_2025"
pytestmark = pytest.mark.skipif(not (A1.is_dir() and A2.is_dir()), reason="shared real data absent")


def _series(name: str, df: pd.DataFrame, col: str) -> Series:
    t = pd.to_datetime(df[col], utc=True).dt.as_unit("s").astype("int64").to_numpy()
    o, h, lo, c, v = (df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume"))
    return Series(name, t, o, h, lo, c, int(t[1] - t[0]), v=v)


@pytest.fixture(scope="module")
def a1() -> dict[str, Series]:
    return {p: _series(p, pd.read_csv(A1 / f"{p}_1m_20230301_20230321.csv"), "open_time")
            for p in ("BTCUSD", "BTCUSDT", "BTCUSDC")}


def test_btc_15m_2025_is_a_random_walk_by_the_robust_variance_ratio() -> None:
    df = pd.read_feather(A2 / "BTC_USDT-15m.feather")
    s = _series("BTC/USDT", df[df["date"].dt.year == 2025], "date")
    res = econophysics.analyze_series(s)
    vr = res["variance_ratio"]
    assert vr["n"] == 35_039
    assert vr["p_homoskedastic"] < 0.05 < vr["p_robust"]          # the old z 'rejected'; z* does not
    assert vr["z_robust"] == pytest.approx(-0.885, abs=0.01)
    assert res["trend"] == "random_walk" and res["trend_strength"] == "likely"


def test_usdc_depeg_is_flagged_from_closes_with_its_start(a1: dict[str, Series]) -> None:
    breaks = anomalies.quote_breaks(a1)
    assert [b["asset"] for b in breaks] == ["BTCUSDC"]            # USDT never crossed 2%
    b = breaks[0]
    assert b["reference"] == "BTCUSD" and b["at"] == "2023-03-11 04:19 UTC"
    assert b["peak_at"] == "2023-03-11 07:50 UTC" and b["peak_pct"] == pytest.approx(14.31, abs=0.01)
    assert b["last_at"] == "2023-03-12 23:48 UTC" and b["bars_beyond"] == 2507


def test_the_31000_wick_is_replaced_because_the_other_venues_contradict_it(a1: dict[str, Series]) -> None:
    usdc = a1["BTCUSDC"]
    alone = anomalies.outlier_prints(usdc)
    assert not [p for p in alone if p["value"] == 31000.0]        # a 700x-volume bar: not a bad print on its own
    res = econophysics.analyze_series(usdc, peers=anomalies.peers_of("BTCUSDC", a1))
    wick = [r for r in res["replaced"] if r["value"] == 31000.0]
    assert wick and wick[0]["at"] == "2023-03-14 14:24 UTC" and wick[0]["field"] == "high"
    assert all(r["field"] in ("high", "low") for r in res["replaced"])   # no close replaced: real moves kept
    assert econophysics.analyze_series(a1["BTCUSD"], peers=anomalies.peers_of("BTCUSD", a1))["replaced"] == []


def test_the_2025_10_10_crash_is_flagged_and_not_replaced() -> None:
    df = pd.read_csv(A2 / "crash_2025-10-10_5m_btc_eth_sol_xrp.csv")
    for pair, g in df.groupby("pair"):
        s = _series(str(pair), g.reset_index(drop=True), "date")
        res = econophysics.analyze_series(s)
        crashes = [a for a in res["anomalies"] if a["kind"] in ("crash", "flash_crash")
                   and a["at"].startswith("2025-10-10 2")]
        assert crashes, pair
        assert min(a["pct"] for a in crashes) < -2.0
        day = pd.Timestamp("2025-10-10 20:00", tz="UTC").timestamp()
        assert not [r for r in res["replaced"] if r["field"] == "close"
                    and day <= pd.Timestamp(r["at"].replace(" UTC", ""), tz="UTC").timestamp() < day + 3 * 3600], pair
    btc = pd.read_feather(A2 / "BTC_USDT-15m.feather")
    res = econophysics.analyze_series(_series("BTC/USDT", btc, "date"))
    crash = [a for a in res["anomalies"] if a["kind"] in ("crash", "flash_crash") and a["at"].startswith("2025-10-10")]
    assert crash and crash[0]["pct"] < -5
    assert not [r for r in res["replaced"] if r["at"].startswith("2025-10-10")]


def test_a_real_move_the_next_bar_confirms_is_kept() -> None:
    """2025-01-20 17:30 UTC: -3.3% on 6x the usual volume, the next bar opens at the same level."""
    df = pd.read_feather(A2 / "BTC_USDT-15m.feather")
    s = _series("BTC/USDT", df, "date")
    assert not [p for p in anomalies.outlier_prints(s) if p["at"] == "2025-01-20 17:30 UTC"]
    assert np.isfinite(s.c).all()
