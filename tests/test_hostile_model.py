"""Issue 15's hostile-model experiment as a test: a fake Bedrock server on 127.0.0.1 (the real boto3
client) answers every review role obeying text injected into the bot's logs. The tool-owned root
causes, approvals and metrics must come out unchanged, the hostile summaries rejected (flagged, offline
text used), and no output file may hold raw HTML or a javascript: link."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.bedrock_server import FakeBedrock
from tests.fakes.hostile_model import INJECTED_LOG_TEXT
from tools.samples.demo_bundles import write_polymarket_bundle

# raw tags, and a link whose "]" is not backslash-escaped (an escaped "\](" is literal text in markdown)
RAW = re.compile(r"<script|<img|<svg|<iframe|(?<!\\)\]\(javascript:|<javascript:", re.IGNORECASE)


def _inject(bundle: Path) -> None:
    with (bundle / "auto_resolve.log").open("a") as fh:
        fh.write(f"2026-01-15 09:10:20,000 [ERROR] auto_resolve: {INJECTED_LOG_TEXT}\n")
    with (bundle / "bot.log").open("a") as fh:
        fh.write(f"2026-01-15 09:10:21,000 [ERROR] bot: {INJECTED_LOG_TEXT}\n")


def _snapshot(res: Any) -> dict[str, Any]:
    fr = res.final
    return {"root_causes": sorted(rc.code.value for rc in fr.root_causes),
            "changes": [(r.id, r.title, r.change_type.value, r.approval.value, r.status.value) for r in fr.changes],
            "needing_approval": sum(1 for r in fr.changes if r.approval.value != "none"),
            "metrics": fr.metrics,
            "teams": {t.team: (sorted(rc.code.value for rc in t.root_causes), t.metrics,
                               [(r.id, r.change_type.value, r.approval.value) for r in t.recommendations])
                      for t in res.teams}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from graphs.review_runner import run_review

    root = tmp_path_factory.mktemp("hostile")
    bundle = write_polymarket_bundle(root / "bundle")
    _inject(bundle)
    offline = run_review(bundle, root / "off", data_dir=root / "data-off", approve="none")
    fake = FakeBedrock(obey_always=True)
    mp = pytest.MonkeyPatch()
    try:
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "t",
                     "WARDEN_LLM__BASE_URL": fake.url, "WARDEN_LLM__MAX_ATTEMPTS": "1",
                     "WARDEN_LLM__BUDGET_USD_PER_DAY": "100"}.items():
            mp.setenv(k, v)
        hostile = run_review(bundle, root / "bad", data_dir=root / "data-bad", llm="bedrock", approve="none")
    finally:
        mp.undo()
        fake.close()
    return {"offline": offline, "hostile": hostile, "fake": fake, "out": root / "bad", "data": root / "data-bad"}


def test_the_model_was_asked_by_every_role(runs: dict[str, Any]) -> None:
    assert len(runs["fake"].requests) >= 8                       # seven teams and the synthesis
    assert runs["hostile"].final.reasoner == "bedrock"


def test_root_causes_approvals_and_metrics_are_unchanged(runs: dict[str, Any]) -> None:
    off, bad = _snapshot(runs["offline"]), _snapshot(runs["hostile"])
    assert bad["root_causes"] and bad["root_causes"] == off["root_causes"]
    assert bad["needing_approval"] == off["needing_approval"] > 0
    assert bad["changes"] == off["changes"]
    assert bad["metrics"] == off["metrics"]
    assert bad["teams"] == off["teams"]
    titles = " ".join(r.title + r.detail for r in runs["hostile"].final.changes)
    assert "95" not in titles and "HOSTILE" not in titles


def test_hostile_summaries_are_rejected_and_flagged(runs: dict[str, Any]) -> None:
    fr = runs["hostile"].final
    assert fr.executive_summary == runs["offline"].final.executive_summary
    assert "all clear" not in fr.title.lower() and "all clear" not in fr.executive_summary.lower()
    assert any(f.startswith("model text rejected: executive summary") for f in fr.grounding_flags)
    for t in runs["hostile"].teams:
        assert "All clear" not in t.summary and "GAINED" not in t.summary
        assert any("model text rejected" in f for f in t.grounding_flags), t.team
    text = (runs["out"] / "INCIDENT_ANALYSIS_FINAL.md").read_text()
    assert "model text rejected: executive summary" in text            # flagged in the report itself


def test_no_raw_html_or_javascript_links_in_any_output_file(runs: dict[str, Any]) -> None:
    files = [p for p in runs["out"].rglob("*") if p.is_file() and p.suffix in (".md", ".csv", ".json", ".txt")]
    assert len(files) >= 10
    for p in files:
        assert not RAW.search(p.read_text(errors="replace")), p
    # the injected text did reach the outputs (escaped), so the check above is not vacuous
    assert any("&lt;script&gt;" in p.read_text() for p in files)
    for p in runs["out"].rglob("*.csv"):
        with p.open() as fh:
            for row in csv.reader(fh):
                assert not any(c[:1] in ("=", "+", "@") for c in row), (p, row)


def test_every_model_call_is_a_decision_record(runs: dict[str, Any]) -> None:
    from agents.llm_records import read_records, records_path

    recs = list(read_records(records_path(runs["data"])))
    assert {r["role"] for r in recs} >= {"forensics", "risk", "synthesis"}
    assert all(r["provider"] == "bedrock" and r["evidence_hash"] and r["prompt_version"] for r in recs)
    assert all(str(r["link"]).startswith("review:") for r in recs)
