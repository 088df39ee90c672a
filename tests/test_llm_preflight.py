"""Preflight and outages: a model that cannot answer stops a command in one line with exit 2 before it
starts; during a run an outage is logged once when it starts and once when it ends, with the number of
cycles it blocked, not an ERROR per signal."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.data_ingestion import MarketFeatures
from agents.decision import decide
from agents.llm import get_reasoner
from tests.fakes.openai_server import FakeOpenAI
from trading.domain.models import AdvisoryAction, Side, Signal, utcnow
from trading.settings import load_settings


def _warden(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})

SIG = Signal(symbol="ESZ5", side=Side.BUY, label="SCALP_BUY", confidence=0.9, price=6890.5, stop=6880.0,
             target=6910.0)


def test_an_outage_is_logged_once_at_start_and_once_at_end(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeOpenAI(plan=[("status", 503)] * 4 + [("ok", {"action": "WAIT", "confidence": 0.5, "rationale": "ok"})])
    try:
        s = load_settings(data_dir=tmp_path, llm={"provider": "openai", "base_url": fake.url, "model_id": "test-model",
                                                  "max_attempts": 1})
        r = get_reasoner("openai", s)
        caplog.set_level(logging.INFO)
        feats = MarketFeatures(symbol="ESZ5", live_position=0.0)
        advs = [decide(r, SIG, feats, "entry", [], f"c-{i}", utcnow())[0] for i in range(5)]
    finally:
        fake.close()
    assert [a.action for a in advs[:4]] == [AdvisoryAction.WAIT] * 4          # failed closed meanwhile
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and "unavailable from" in errors[0].getMessage()
    ends = [rec.getMessage() for rec in caplog.records if "answering again" in rec.getMessage()]
    assert len(ends) == 1 and "blocked 4 cycle(s)" in ends[0]


def test_run_with_bedrock_and_no_credentials_exits_2_in_one_line(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    from tools.samples.candles import write_candles_csv

    candles = write_candles_csv(tmp_path / "es.csv", n=200)
    res = _warden("run", "--candles", str(candles), "--llm", "bedrock", "--data-dir", str(tmp_path / "d"),
                  "--quiet", env={"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                                  "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"})
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "no AWS credentials" in lines[0]


def test_review_with_an_unknown_model_exits_2(tmp_path: Path) -> None:
    from tools.samples.demo_bundles import write_polymarket_bundle

    fake = FakeOpenAI(models=("llama3.1:8b",))
    try:
        res = _warden("review", str(write_polymarket_bundle(tmp_path / "b")), "--out", str(tmp_path / "o"), "--llm",
                      "openai", "--data-dir", str(tmp_path / "d"),
                      env={"WARDEN_LLM__BASE_URL": fake.url, "WARDEN_LLM__MODEL_ID": "no-such-model"})
    finally:
        fake.close()
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "'no-such-model' is not served" in out and "llama3.1:8b" in out
    assert not fake.requests                            # not one completion was asked for
