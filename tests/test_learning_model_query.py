"""With a model configured, the model writes the query (structured output into QueryPlan through the seam)
against a fake OpenAI-compatible server on 127.0.0.1 with the real ``openai`` client: a valid query runs
as written, an invalid one gets one repair then the offline reading, a hostile one (a filter that does not
exist, an injection string) never runs."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.learning import LearningContext
from agents.llm_budget import LLMBudget
from agents.openai_compat import OpenAIReasoner, make_client
from graphs.learning import ask
from tests.fakes.openai_server import FakeOpenAI
from tools.memory.outcomes_table import OutcomesTable, outcome_row
from tools.samples.outcomes import generate
from trading.records.telemetry import EventLog
from trading.settings import LLMConfig

ANSWER = ("ok", {"kind": "numeric", "text": "The figures are in the query result below."})
AS_OF = "2025-12-12T12:00:00+00:00"


@pytest.fixture(scope="module")
def outs() -> list:
    return [o for o, _ in generate(400, seed=5, snapshots=False)]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    f = FakeOpenAI()
    yield f
    f.close()


def _ctx(fake: FakeOpenAI, tmp_path: Path, outs: list) -> LearningContext:
    OutcomesTable.in_data_dir(tmp_path).upsert([outcome_row(o) for o in outs])
    cfg = LLMConfig(provider="openai", base_url=fake.url, model_id="test-model", max_attempts=1,
                    budget_usd_per_cycle=0.5, budget_usd_per_day=5.0)
    r = OpenAIReasoner(make_client(cfg), cfg, LLMBudget(tmp_path / "usage.jsonl", cfg), EventLog(tmp_path / "ev.jsonl"))
    return LearningContext(data_dir=tmp_path, reasoner=r, llm="openai")


def _plan(*queries: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return ("ok", {"kind": "numeric", "queries": list(queries)})


def _avg_loss(outs: list, side: str | None = None) -> float:
    losses = [o.pnl_usd for o in outs if o.pnl_usd < 0 and (side is None or o.side.upper() == side)]
    return round(sum(losses) / len(losses), 2)


def test_a_valid_model_query_runs_as_written(fake: FakeOpenAI, tmp_path: Path, outs: list) -> None:
    fake.plan = [_plan({"metric": "avg_loss", "filter": {"side": "SELL"}}), ANSWER]
    st = ask("when we are short, how much do we usually drop on a loser?", _ctx(fake, tmp_path, outs), as_of=AS_OF)
    assert st["intent"]["source"] == "openai" and st["intent"]["query"]["metric"] == "avg_loss"
    assert st["evidence"]["result"]["value"] == pytest.approx(_avg_loss(outs, "SELL"))
    assert st["intent"]["query"]["as_of"].startswith("2025-12-12T12:00")      # the question's as-of, always
    # the schema went to the model as the tool / response format
    sent = str(fake.requests[0])
    assert "avg_loss" in sent and "profit_factor" in sent


def test_an_invalid_query_gets_one_repair(fake: FakeOpenAI, tmp_path: Path, outs: list) -> None:
    fake.plan = [("schema", {"kind": "numeric", "queries": [{"metric": "sharpe"}]}),
                 _plan({"metric": "avg_loss"}), ANSWER]
    st = ask("what's my average loss?", _ctx(fake, tmp_path, outs), as_of=AS_OF)
    assert st["intent"]["source"] == "openai"
    assert st["evidence"]["result"]["value"] == pytest.approx(_avg_loss(outs))
    assert "sharpe" in str(fake.requests[1])            # the repair request names what was wrong


@pytest.mark.parametrize("bad", [
    {"metric": "sharpe"},                                                           # not a metric
    {"metric": "win_rate", "filter": {"password": "hunter2"}},                       # a filter that does not exist
    {"metric": "win_rate", "filter": {"symbol": "ES\" or @__import__('os').system('touch PWNED') or \""}},
    {"metric": "win_rate", "filter": {"reason_codes": ["AWS_WAIT') | (1==1"]}},
    {"metric": "win_rate", "group_by": "__class__"},
])
def test_invalid_or_hostile_never_runs_the_offline_reading_takes_over(bad: dict, fake: FakeOpenAI, tmp_path: Path,
                                                                      outs: list, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    fake.plan = [_plan(bad), _plan(bad), ANSWER]
    st = ask("what's my average loss?", _ctx(fake, tmp_path, outs), as_of=AS_OF)
    assert st["intent"]["source"] == "rules" and st["intent"]["query"]["metric"] == "avg_loss"
    assert st["evidence"]["result"]["value"] == pytest.approx(_avg_loss(outs))
    assert len(fake.requests) >= 2 and not (tmp_path / "PWNED").exists()


def test_a_model_that_is_down_leaves_the_rules(tmp_path: Path, outs: list) -> None:
    f = FakeOpenAI([("status", 503)])
    try:
        st = ask("win rate by hour", _ctx(f, tmp_path, outs), as_of=AS_OF)
    finally:
        f.close()
    assert st["intent"]["source"] == "rules" and st["intent"]["query"]["group_by"] == "hour"
    assert st["answer"]["kind"] == "numeric" and st["answer"]["reasoner"] == "offline"
