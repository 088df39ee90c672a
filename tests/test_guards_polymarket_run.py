"""Issue 10 acceptance: ``warden run --broker polymarket`` on candles with the DEFAULT advisor (the advisory
graph, offline reasoner) and the default breakout signals sends entries on both the Up share (a BUY view on
BTC) and the Down share (a SELL view), through the real py-clob-client-v2 against the fake CLOB on 127.0.0.1.

Before the fix neither happened: the data-ingestion agent raised on BTC (no contract spec), the runner
relabelled the bug LLM_UNAVAILABLE, and every SELL view met ADVISORY_CONFLICT (advice SELL vs a BUY of Down).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("py_clob_client_v2")
from eth_account import Account  # noqa: E402

from tests.fakes.polymarket_server import FakePolymarket  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UP = "71583992563217201054921439186227845637195740366310582286412093842771602213057"
DOWN = "2894417305818365270148902957812735960114720938377126905561234098743211776543"
CID = "0x" + "3a" * 32


def _window() -> tuple[int, datetime]:
    """The 15-minute window the candles end in (the current one, or the next when this one is ending) and
    the last bar's end: two minutes into it, so the entry has time left and the advice is fresh."""
    now = int(time.time())
    start = now - now % 900
    if now - start > 12 * 60:
        start += 900
    return start, datetime.fromtimestamp(start + 120, UTC)


def _candles(path: Path, end: datetime, up: bool) -> Path:
    """60 quiet one-minute bars, then a breakout bar (above the channel for up, below for down)."""
    rows = ["timestamp,open,high,low,close,volume"]
    n = 60
    for i in range(n):
        ts = end - timedelta(minutes=n - i)
        drift = (0.02 * i) if up else (-0.02 * i)
        base = 100.0 + drift + (0.05 if i % 2 else -0.05)
        if i == n - 1:
            close = base + 1.5 if up else base - 1.5
            o, hi, lo = base, max(base, close) + 0.05, min(base, close) - 0.05
        else:
            close, o, hi, lo = base, base, base + 0.1, base - 0.1
        rows.append(f"{ts.isoformat()},{o:.4f},{hi:.4f},{lo:.4f},{close:.4f},10")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def venue() -> Iterator[tuple[FakePolymarket, object]]:
    v = FakePolymarket().start()
    start, _ = _window()
    v.add_updown_market(f"btc-updown-15m-{start}", CID, UP, DOWN, up_price=0.5, start=start)
    v.set_book(UP, bids=[(0.48, 500)], asks=[(0.50, 500)])
    v.set_book(DOWN, bids=[(0.47, 500)], asks=[(0.49, 500)])
    wallet = Account.create()
    v.add_account(wallet.address, usdc=1000.0)
    yield v, wallet
    v.stop()


def _run(tmp: Path, fake: FakePolymarket, wallet: object, candles: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDEN_", "POLYMARKET_"))}
    env.update({
        "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        "WARDEN_DATA_DIR": str(tmp / "data"), "WARDEN_BROKER__POLYMARKET_HOST": fake.url + "/clob",
        "WARDEN_BROKER__POLYMARKET_DATA_HOST": fake.url + "/data",
        "WARDEN_BROKER__POLYMARKET_GAMMA_HOST": fake.url + "/gamma",
        "WARDEN_GUARDS__ADVISORY_MAX_AGE_S": "1800",     # the candles' last bar may end a few minutes ago
        "POLYMARKET_PRIVATE_KEY": wallet.key.hex(),       # type: ignore[attr-defined]
    })
    return subprocess.run([sys.executable, "-m", "warden", "run", "--broker", "polymarket", "--symbol", "BTC",
                           "--candles", str(candles), "--no-follow", "--qty", "10", "--quiet", "--json"],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=180)


def _bought(fake: FakePolymarket) -> list[tuple[str, str]]:
    out = []
    for r in fake.requests:
        if r["method"] == "POST" and r["path"] == "/clob/order":
            o = json.loads(r["body"])["order"]
            out.append((str(o.get("tokenId") or o.get("tokenID") or o.get("token_id")), str(o.get("side"))))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("up,token", [(True, UP), (False, DOWN)], ids=["buy-view-up-share", "sell-view-down-share"])
def test_default_advisor_trades_both_shares(tmp_path: Path, venue: tuple[FakePolymarket, object], up: bool,
                                            token: str) -> None:
    fake, wallet = venue
    _, end = _window()
    r = _run(tmp_path, fake, wallet, _candles(tmp_path / "btc-1m.csv", end, up))
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    bought = _bought(fake)
    assert bought, f"no order reached the CLOB:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    assert {t for t, _ in bought} == {token}, bought
    events = [json.loads(x) for x in (tmp_path / "data" / "telemetry" / "events.jsonl").read_text().splitlines()]
    verdicts = [e for e in events if e["event"] == "guard_verdict" and e["payload"]["allowed"]]
    assert verdicts, [e["reason_codes"] for e in events if e["event"] == "guard_verdict"]
    assert not any("LLM_UNAVAILABLE" in e["reason_codes"] or "INTERNAL_ERROR" in e["reason_codes"] for e in events)
    outcome = "Up" if up else "Down"
    assert outcome in json.dumps(verdicts[-1]["payload"]["evidence"]), verdicts[-1]["payload"]["evidence"]
