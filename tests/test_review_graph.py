"""The review graph end to end: outputs, approvals through interrupt()/resume, missing inputs, failing
tools, grounding, and outcome resolution through the Polymarket API (a fake gamma server on 127.0.0.1)."""
from __future__ import annotations

import csv
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools.review.report import OUTCOME_COLUMNS, SECTIONS, TEAMS, TIMELINE_COLUMNS
from tools.samples.demo_bundles import write_polymarket_bundle

POLY_DEMO = {"OUTCOME_RECORDING_FAILED", "DRAWDOWN_PEAK_RESET", "DRAWDOWN_HALT_MISSED", "LOSS_STREAK_UNTRACKED",
             "SWALLOWED_EXCEPTIONS", "OVERTRADING"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_polymarket_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def review(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from graphs.review_runner import run_review

    root = tmp_path_factory.mktemp("review")
    events: list[tuple[str, str]] = []
    res = run_review(bundle, root / "out", data_dir=root / "data", progress=lambda e, n, i: events.append((e, n)))
    return {"res": res, "out": root / "out", "data": root / "data", "events": events}


def test_outputs_are_written_as_the_issue_lists(review: dict[str, Any]) -> None:
    out = review["out"]
    with (out / "outcomes.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == OUTCOME_COLUMNS
    assert len(rows) == 28 and {r["source"] for r in rows} <= {"journal", "resolution_log", "candles", "api",
                                                               "unresolved"}
    with (out / "timeline.csv").open() as fh:
        tl = list(csv.DictReader(fh))
    assert tuple(tl[0].keys()) == TIMELINE_COLUMNS and len(tl) > 28
    assert [r["time"] for r in tl] == sorted(r["time"] for r in tl)
    doc = json.loads((out / "findings.json").read_text())
    for k in ("trades", "outcomes_recorded", "outcomes_reconstructed", "wins", "losses", "net_pnl",
              "true_peak_balance", "final_balance", "max_drawdown_pct", "halt_should_have_fired_at"):
        assert k in doc["metrics"]
    assert doc["metrics"]["trades"] == 28 and doc["metrics"]["outcomes_recorded"] == 0
    assert POLY_DEMO <= {rc["code"] for rc in doc["root_causes"]}
    assert all(rc["summary"] and rc["evidence"] for rc in doc["root_causes"])
    assert all({"title", "change_type", "approval", "status"} <= set(r) for r in doc["recommendations"])
    assert sorted(p.stem for p in (out / "teams").glob("*.md")) == sorted(TEAMS)
    final = (out / "INCIDENT_ANALYSIS_FINAL.md").read_text()
    pos = [final.index(f"## {i}. {s}") for i, s in enumerate(SECTIONS, 1)]
    assert pos == sorted(pos)
    for png in ("equity_curve", "reliability", "volatility_by_asset"):
        data = (out / "plots" / f"{png}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # progress was reported per team, and forensics finished before any other team started
    ev = review["events"]
    assert ("done", "forensics") in ev
    first_other = min(ev.index(("start", t)) for t in TEAMS if t != "forensics")
    assert ev.index(("done", "forensics")) < first_other


def test_numbers_are_grounded_and_root_causes_come_from_tools(review: dict[str, Any]) -> None:
    res = review["res"]
    assert res.final.grounding_flags == []
    assert all(t.grounding_flags == [] and t.errors == [] for t in res.teams)
    by_team = {rc.code.value: rc.teams for rc in res.final.root_causes}
    assert by_team["OUTCOME_RECORDING_FAILED"] == ["forensics"] and by_team["DRAWDOWN_HALT_MISSED"] == ["risk"]


def test_changes_follow_the_decision_framework_and_resume_approves_them(review: dict[str, Any]) -> None:
    from graphs.review_runner import resume_review

    res = review["res"]
    assert res.status == "awaiting_approval"
    needing = {r.id for r in res.final.changes if r.approval.value != "none"}
    assert needing and {c["id"] for c in res.pending} == needing
    for r in res.final.changes:
        expected = {"code_bug_fix": "none", "risk_parameter": "user_approval",
                    "strategy": "user_approval_and_backtest", "model": "user_approval_and_ab_test",
                    "architecture": "full_design_review"}[r.change_type.value]
        assert r.approval.value == expected
        assert r.status.value == ("approved" if expected == "none" else "pending_approval")
    doc = json.loads((review["out"] / "findings.json").read_text())
    assert {r["status"] for r in doc["recommendations"] if r["approval"] != "none"} == {"pending_approval"}
    done = resume_review(res.run_id, data_dir=review["data"], approve="all", operator="amy", why="desk call")
    # a flag approves what needs a user's approval alone; backtest / A/B / design-review changes become tasks
    doc = json.loads((review["out"] / "findings.json").read_text())
    by_type = {r["id"]: r for r in doc["recommendations"]}
    flagged = {r["id"] for r in doc["recommendations"] if r["approval"] == "user_approval"}
    tasks = {r["id"] for r in doc["recommendations"] if r["approval"] not in ("none", "user_approval")}
    assert flagged and tasks
    for cid in flagged:
        r = by_type[cid]
        assert r["status"] == "approved" and r["approved_by"] == "amy" and r["decision_reason"] == "desk call"
        assert r["decided_at"][:4].isdigit() and "T" in r["decided_at"]
    for cid in tasks:
        r = by_type[cid]
        assert r["status"] == "pending_approval" and r["tracked_task"] and r["preconditions"], r
        assert res.run_id in r["preconditions"][-1]
    assert {t["id"] for t in doc["tracked_tasks"]} == tasks
    assert done.status == "awaiting_approval" and {c["id"] for c in done.pending} == tasks
    report = (review["out"] / "INCIDENT_ANALYSIS_FINAL.md").read_text()
    assert "## Approvals" in report and "Tracked tasks" in report and "desk call" in report
    again = resume_review(res.run_id, data_dir=review["data"], approve="none")
    assert again.status == "complete"
    doc = json.loads((review["out"] / "findings.json").read_text())
    assert {r["status"] for r in doc["recommendations"] if r["id"] in tasks} == {"rejected"}
    assert doc["tracked_tasks"] == []


def test_interactive_answers_and_resume_with_none(bundle: Path, tmp_path: Path) -> None:
    from graphs.review_runner import resume_review, run_review

    asked: list[list[str]] = []

    def decide(pending: list[dict[str, Any]]) -> dict[str, Any]:
        asked.append([c["id"] for c in pending])
        return {pending[0]["id"]: {"status": "approved", "by": "tester"},
                pending[1]["id"]: {"status": "rejected", "by": "tester"}}     # the rest: later

    res = run_review(bundle, tmp_path / "out", data_dir=tmp_path / "data", decide=decide)
    first, second = asked[0][:2]
    assert res.status == "awaiting_approval" and {c["id"] for c in res.pending} == set(asked[0][2:])
    st = {r.id: r for r in res.final.changes}
    assert st[first].status.value == "approved" and st[first].approved_by == "tester"
    assert st[second].status.value == "rejected"
    done = resume_review(res.run_id, data_dir=tmp_path / "data", approve="none")
    assert done.status == "complete"
    assert {done_r.status.value for done_r in done.final.changes if done_r.id in asked[0][2:]} == {"rejected"}


def test_a_bundle_with_only_a_log_still_gets_a_review(bundle: Path, tmp_path: Path) -> None:
    from graphs.review_runner import run_review

    only = tmp_path / "only_log"
    only.mkdir()
    shutil.copy(bundle / "bot.log", only / "bot.log")
    res = run_review(only, tmp_path / "out", data_dir=tmp_path / "data", approve="none")
    lacking = {n.lacking for n in res.final.could_not_run}
    assert {"trade_journal.db", "auto_resolve.log", "state/trading_state.json", "candles", "system/"} <= lacking
    final = (tmp_path / "out" / "INCIDENT_ANALYSIS_FINAL.md").read_text()
    assert "Analyses that could not run" in final and "for lack of" in final
    m = res.final.metrics
    assert m["trades"] == 28 and m["outcomes_reconstructed"] == 0 and m["unresolved"] == 28
    # worst case: the unresolved trades count as losses in the equity replay
    assert m["max_drawdown_pct"] > 90


def test_a_failing_tool_is_reported_not_fatal(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from graphs.review_runner import run_review
    from tools.review import sre as sre_review

    def boom(fx: Any) -> Any:
        raise RuntimeError("disk exploded")

    monkeypatch.setattr(sre_review, "analyze", boom)
    res = run_review(bundle, tmp_path / "out", data_dir=tmp_path / "data", approve="none")
    sre = next(t for t in res.teams if t.team == "sre")
    assert sre.errors and "disk exploded" in sre.errors[0]
    assert any("sre analysis" == n.analysis for n in res.final.could_not_run)
    assert "OUTCOME_RECORDING_FAILED" in {rc.code.value for rc in res.final.root_causes}


def test_ungrounded_numbers_from_a_reasoner_are_flagged(bundle: Path, tmp_path: Path) -> None:
    from agents.review import sre
    from agents.review.base import ReviewContext, run_team
    from tools.logs.bundle import load_bundle
    from tools.review.forensics import run_forensics
    from trading.settings import load_settings

    class Chatty:
        name = "chatty"

        def reason(self, role, prompt, evidence, schema, policy, cycle_id=None):  # noqa: ANN001, ANN201
            rep = policy(evidence)
            from tools.review.report import Status

            self_approved = [r.model_copy(update={"status": Status.approved, "approved_by": "the model"})
                             for r in rep.recommendations]
            return rep.model_copy(update={"summary": rep.summary + " Memory hit 97.3% and 4242 restarts.",
                                          "recommendations": self_approved})

    ctx = ReviewContext(fx=run_forensics(load_bundle(bundle)), settings=load_settings(data_dir=tmp_path),
                        out=tmp_path, reasoner=Chatty())
    rep = run_team(ctx, "sre", sre.PROMPT, sre.gather, sre.policy)
    flagged = " ".join(rep.grounding_flags)
    assert "4242" in flagged and "97.3%" in flagged
    assert rep.reasoner == "chatty" and rep.root_causes          # tool-owned fields survive any reasoner
    # a reasoner cannot approve a change that needs approval (SERVICE_RESTARTS -> architecture)
    arch = [r for r in rep.recommendations if r.change_type.value == "architecture"]
    assert arch and all(r.status.value == "pending_approval" and r.approved_by == "" for r in arch)


class _Gamma(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        from urllib.parse import parse_qs, urlparse

        q = parse_qs(urlparse(self.path).query)
        slug = q.get("slug", [""])[0]
        body = json.dumps([{"slug": slug, "closed": True, "outcomes": '["Up", "Down"]',
                            "outcomePrices": '["1", "0"]', "conditionId": ""}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: Any) -> None:
        pass


def test_outcomes_from_the_polymarket_api_when_nothing_else_resolves(bundle: Path, tmp_path: Path) -> None:
    from graphs.incident import _api_resolver
    from tools.logs.bundle import load_bundle
    from tools.review.forensics import run_forensics

    b = tmp_path / "b"
    b.mkdir()
    for f in ("bot.log", "trade_journal.db"):
        shutil.copy(bundle / f, b / f)
    srv = HTTPServer(("127.0.0.1", 0), _Gamma)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        fx = run_forensics(load_bundle(b), api_resolver=_api_resolver(f"http://127.0.0.1:{srv.server_port}"))
    finally:
        srv.shutdown()
    assert {t.source for t in fx.trades} == {"api"}
    assert all(t.won == (t.outcome == "Up") for t in fx.trades)
    offline = run_forensics(load_bundle(b))
    assert {t.source for t in offline.trades} == {"unresolved"}
