"""Acceptance for the learning agent: `warden ask` and `warden chat` over a store built from a few hundred
generated trade outcomes; numbers checked against an independent computation from the JSON files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.learning_answers import LearningAnswer, answer_policy, compose
from agents.llm import LLMUnavailable, OfflineReasoner
from tools.samples.outcomes import write_samples
from trading.domain.reason_codes import ReasonCode
from warden.cli import app

N = 320
POSTMORTEM = """# Postmortem – 2025-12-12 ES Loss

An exit order without a reduce-only check reversed a short into an unprotected long. The AWS agents
advised WAIT but the bot treated the advisory as cosmetic. The loss was -$1,700 on one ES contract.

## Root causes
Exit orders could open fresh positions. WAIT advisories were treated as cosmetic.
"""
ASK_WAIT = "what is our win rate on trades placed against a WAIT advisory?"


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("memory")
    write_samples(root / "in", n=N, seed=17)
    (root / "in" / "reports").mkdir()
    (root / "in" / "reports" / "POSTMORTEM_2025-12-12.md").write_text(POSTMORTEM)
    res = CliRunner().invoke(app, ["ingest", str(root / "in"), "--data-dir", str(root / "data")])
    assert res.exit_code == 0, res.output
    return root


def _files(root: Path) -> list[dict]:
    """The outcome files read with nothing but json: the independent side of every check."""
    return [json.loads(p.read_text()) for p in sorted((root / "in" / "training").rglob("*.json"))]


def _rate(docs: list[dict], action: str | None) -> tuple[str, int, int, set[str]]:
    sel = [d for d in docs if (d["advisory"] or {}).get("action") == action]
    wins = sum(1 for d in sel if d["won"])
    return f"{round(100 * wins / len(sel), 1):.1f}%", wins, len(sel), {d["trade_cycle_id"] for d in sel}


def _ask(root: Path, *args: str) -> dict:
    res = CliRunner().invoke(app, ["ask", *args, "--data-dir", str(root / "data"), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_ask_win_rate_against_wait_matches_the_data(memory: Path) -> None:
    pct, wins, n, ids = _rate(_files(memory), "WAIT")
    assert 30 < n < N                                        # the sample really has WAIT trades, not all
    doc = _ask(memory, ASK_WAIT)
    ans = doc["answer"]
    assert ans["kind"] == "numeric" and not ans["cannot_answer"]
    assert f"{pct} ({wins} of {n} trades won" in ans["text"]
    assert set(ans["citations"]) == ids                      # every cycle behind the number is cited
    assert "advisory_action == \"WAIT\"" in ans["query"] and ans["query"] in doc["result"]["code"]
    assert ans["ungrounded_numbers"] == []
    plain = CliRunner().invoke(app, ["ask", ASK_WAIT, "--data-dir", str(memory / "data")])
    assert pct in plain.output and "Query (validated, then pandas over the outcomes table)" in plain.output
    assert sorted(ids)[0] in plain.output or any(i in plain.output for i in ids)


def test_chat_holds_a_follow_up_and_keeps_the_thread(memory: Path) -> None:
    docs = _files(memory)
    data = str(memory / "data")
    runner = CliRunner()
    res = runner.invoke(app, ["chat", "--data-dir", data, "--thread", "acc", "--json"],
                        input=f"{ASK_WAIT}\nand when it said BUY?\n")
    assert res.exit_code == 0, res.output
    first, second = (json.loads(x) for x in res.output.strip().splitlines())
    assert _rate(docs, "WAIT")[0] in first["answer"]["text"]
    pct_buy, wins, n, ids = _rate(docs, "BUY")
    assert f"{pct_buy} ({wins} of {n} trades won" in second["answer"]["text"]
    assert set(second["answer"]["citations"]) == ids and second["intent"]["followup"]
    # the checkpointer keeps the conversation: a later `warden chat` on the same thread continues it
    res = runner.invoke(app, ["chat", "--data-dir", data, "--thread", "acc", "--json"], input="and SELL?\n")
    third = json.loads(res.output)
    assert _rate(docs, "SELL")[0] in third["answer"]["text"] and third["intent"]["followup"]
    hist = runner.invoke(app, ["chat", "--data-dir", data, "--thread", "acc", "--show-history", "--json"])
    assert [json.loads(x)["question"] for x in hist.output.strip().splitlines()] == [
        ASK_WAIT, "and when it said BUY?", "and SELL?"]
    # another thread has no such context
    res = runner.invoke(app, ["chat", "--data-dir", data, "--thread", "other", "--json"], input="and SELL?\n")
    assert not json.loads(res.output)["intent"]["followup"]


def test_plain_chat_echoes_questions_when_piped(memory: Path) -> None:
    res = CliRunner().invoke(app, ["chat", "--data-dir", str(memory / "data"), "--thread", "plain"],
                             input="how many trades had no protective stop\n\nexit\nnever read\n")
    assert res.exit_code == 0
    assert res.output.count("you> ") == 1 and "never read" not in res.output
    docs = _files(memory)
    n = sum(1 for d in docs if d["venue"] != "polymarket" and not (d["risk"] or {}).get("stop"))
    assert f"warden> {n} trades with no protective stop" in res.output


def test_grouped_pnl_and_dates(memory: Path) -> None:
    docs = _files(memory)
    as_of = "2025-12-05T00:00:00+00:00"
    doc = _ask(memory, "PnL by reason code last week", "--as-of", "2025-12-08")
    # last week from Monday 2025-12-08 is 2025-12-01 .. 2025-12-08
    in_week = [d for d in docs if "2025-12-01" <= d["closed_at"][:10] < "2025-12-08"]
    groups = {g["key"]: g for g in doc["result"]["groups"]}
    wait = [d for d in in_week if "AWS_WAIT" in d["reason_codes"]]
    assert groups["AWS_WAIT"]["n"] == len(wait)
    assert groups["AWS_WAIT"]["pnl_usd"] == pytest.approx(round(sum(d["pnl_usd"] for d in wait), 2))
    assert doc["result"]["n"] == len(in_week)
    early = _ask(memory, "how many trades", "--as-of", as_of)
    assert early["result"]["n"] == sum(1 for d in docs if d["closed_at"] <= "2025-12-05T00:00:00Z")


def test_what_the_data_cannot_answer(memory: Path) -> None:
    doc = _ask(memory, "what is our sharpe ratio?")
    assert doc["answer"]["cannot_answer"] and "cannot answer" in doc["answer"]["text"]
    doc = _ask(memory, "win rate on trades placed against a WAIT advisory", "--as-of", "2020-01-01")
    assert doc["answer"]["cannot_answer"] and doc["result"]["n"] == 0
    doc = _ask(memory, "why did the bot stop trading on mars?")
    assert doc["answer"]["cannot_answer"] and doc["answer"]["citations"] == []


def test_narrative_retrieves_documents_and_cycles_with_as_of(memory: Path) -> None:
    doc = _ask(memory, "why did the ES trade lose on 2025-12-12?")
    ans = doc["answer"]
    assert ans["kind"] == "narrative" and not ans["cannot_answer"]
    assert any(c.startswith("doc-") for c in ans["citations"]) and "-$1,700" in ans["text"]
    assert ans["ungrounded_numbers"] == []
    before = _ask(memory, "why did the ES trade lose on 2025-12-12?", "--as-of", "2025-12-11")
    assert before["answer"]["cannot_answer"] and before["documents"] == []
    cid = _files(memory)[5]["trade_cycle_id"]
    doc = _ask(memory, f"tell me about cycle {cid}")
    assert doc["answer"]["citations"][0] == cid and len(doc["answer"]["citations"]) > 1   # + similar cycles


def test_every_offline_answer_is_grounded(memory: Path) -> None:
    for q in (ASK_WAIT, "average pnl per trade on ES longs", "worst trades", "win rate by advisory",
              "how many polymarket trades lost", "total pnl by week"):
        ans = _ask(memory, q)["answer"]
        assert ans["kind"] == "numeric" and ans["ungrounded_numbers"] == [], q


# --- the seam: a model may word the answer, never produce its numbers -------------------------------
EVIDENCE = {"question": "q", "kind": "numeric", "as_of": None, "result": {
    "query": {"metric": "win_rate", "filter": {"advisory": "WAIT"}}, "code": "t = outcomes.query('x')", "n": 4,
    "wins": 1, "losses": 3, "value": 25.0, "value_text": "25.0%", "cited": ["a", "b", "c", "d"], "table_rows": 9}}


class _Model:
    name = "bedrock"

    def __init__(self, summary: str, cites: list[str]) -> None:
        self.summary, self.cites = summary, cites

    def reason(self, role, prompt, evidence, schema, policy, cycle_id=None):  # noqa: ANN001, ANN201
        return schema(kind="numeric", text=self.summary, citations=self.cites, query="made up",
                      reason_codes=["GUARD_ERROR"])


def test_a_model_answer_with_an_invented_number_is_replaced() -> None:
    ans = compose(_Model("About 42.7% of WAIT trades won.", ["a"]), EVIDENCE)
    assert ans.reasoner == "offline" and ans.ungrounded_numbers == ["42.7%"]
    assert ReasonCode.NUMBER_UNGROUNDED in ans.reason_codes and "25.0%" in ans.text


def test_a_grounded_model_answer_is_kept_with_the_tool_query_and_real_citations() -> None:
    ans = compose(_Model("25.0% of the 4 WAIT trades won.", ["a", "zzz"]), EVIDENCE)
    assert ans.reasoner == "bedrock" and ans.text.startswith("25.0%")
    assert ans.query == EVIDENCE["result"]["code"] and ans.citations == ["a"] and ans.reason_codes == []


class _Down:
    name = "bedrock"

    def reason(self, *a, **k):  # noqa: ANN002, ANN003, ANN201
        raise LLMUnavailable("timeout")


def test_an_unavailable_model_falls_back_to_the_offline_answer() -> None:
    ans = compose(_Down(), EVIDENCE)
    assert ans.text == answer_policy(EVIDENCE).text
    assert ans.reason_codes == [ReasonCode.LLM_UNAVAILABLE]


def test_offline_reasoner_validates_the_policy_output() -> None:
    ans = OfflineReasoner().reason("learning", "p", EVIDENCE, LearningAnswer, answer_policy)
    assert ans.citations == ["a", "b", "c", "d"] and ans.ungrounded_numbers == []


def test_ask_on_an_empty_memory_says_so(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["ask", ASK_WAIT, "--data-dir", str(tmp_path / "missing")])
    assert res.exit_code != 0 and "warden ingest" in str(res.exception), res.output
    assert not (tmp_path / "missing").exists()                # nothing created by asking
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["ask", ASK_WAIT, "--data-dir", str(tmp_path / "empty")])
    assert res.exit_code != 0 and "is empty" in str(res.exception) and "warden ingest" in str(res.exception)
    bad = CliRunner().invoke(app, ["ask", ASK_WAIT, "--data-dir", str(tmp_path), "--as-of", "soon"])
    assert bad.exit_code != 0 and "--as-of" in str(bad.exception)
