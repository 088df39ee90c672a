"""Review approvals decided on the desk (issue 17): a review stopped at its approvals shows each pending
change with Approve / Reject forms; a decision resumes the run through the CLI's policy, so findings.json,
the final report's approvals table and the checkpoint are what `warden review --resume RUN --approve ...`
writes. Refused: no CSRF, a cross-site Origin, read-only mode, an unknown run, a change not pending."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from graphs.review_runner import run_review, stored_run
from tools.samples.demo_bundles import write_polymarket_bundle
from warden.cli import app as cli
from warden.desk.app import create_app

BASE = "http://testserver"
RUN = "desk-run-1"
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_polymarket_bundle(tmp_path_factory.mktemp("bundle") / "pm")


def _pending_review(bundle: Path, data: Path) -> Path:
    """A review of the Polymarket demo bundle stopped at its approvals (no policy, no terminal)."""
    out = data / "reviews" / "pm"
    res = run_review(bundle, out, data_dir=data, run_id=RUN)
    assert res.status == "awaiting_approval" and len(res.pending) == 9
    return out


def _client(data: Path, **kw: object) -> TestClient:
    return TestClient(create_app(data, **kw), base_url=BASE)  # type: ignore[arg-type]


def _csrf(c: TestClient, page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', c.get(page).text)
    assert m, f"{page} carries no CSRF field"
    return m.group(1)


def _decide(c: TestClient, token: str, change: str, decision: str, origin: str | None = BASE, **over: str):
    form = {"csrf": token, "change": change, "decision": decision, "operator": "ana", "note": "checked on paper",
            **over}
    return c.post(f"/approvals/{RUN}", data=form, headers={"origin": origin} if origin else {},
                  follow_redirects=False)


def _normal(text: str, data: Path) -> str:
    return STAMP.sub("<at>", text.replace(str(data.resolve()), "<D>").replace(str(data), "<D>"))


def test_pending_changes_are_shown_with_their_forms(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    _pending_review(bundle, data)
    c = _client(data)
    page = c.get(f"/approvals/{RUN}").text
    for cid in ("R7", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"):
        assert f'id="approve-{cid}"' in page, cid
    assert 'id="approve-R1"' not in page                     # needs no approval: no form
    assert 'name="decision" value="approve"' in page and 'name="decision" value="reject"' in page
    assert "Record as tracked task" in page and "backtest" in page   # R10 needs a backtest
    assert 'name="confirm"' in page and 'value="track"' in page
    review = c.get("/reviews/reviews/pm").text                # the review page carries the same forms
    assert 'id="approve-R7"' in review and "9 change(s) pending approval" in review
    listing = c.get("/reviews").text
    assert f'href="/approvals/{RUN}"' in listing and "awaiting approval, <b>9 change(s) pending approval</b>" in listing


def test_desk_decisions_record_what_the_cli_records(bundle: Path, tmp_path: Path) -> None:
    desk_dir, cli_dir = tmp_path / "desk", tmp_path / "cli"
    desk_out, cli_out = _pending_review(bundle, desk_dir), _pending_review(bundle, cli_dir)
    c = _client(desk_dir)
    token = _csrf(c, f"/approvals/{RUN}")
    for cid, decision in (("R7", "approve"), ("R8", "approve"), ("R9", "approve"), ("R13", "track"),
                          ("R14", "reject"), ("R15", "reject")):
        r = _decide(c, token, cid, decision)
        assert r.status_code == 303, (cid, r.text[:300])
        assert r.headers["location"].startswith(f"/approvals/{RUN}?done=")
    done = c.get(f"/approvals/{RUN}?done=R15%3A+rejected+by+ana").text
    assert "R15: rejected by ana" in done and 'id="approve-R7"' not in done
    assert 'id="approve-R13"' in done                         # a tracked task stays pending, as on the CLI

    r = CliRunner().invoke(cli, ["review", "--resume", RUN, "--data-dir", str(cli_dir), "--approve",
                                 "risk_parameter=yes,model=yes,architecture=no", "--operator", "ana", "--note",
                                 "checked on paper", "--json"])
    assert r.exit_code == 0, r.output

    desk_doc = json.loads((desk_out / "findings.json").read_text())
    cli_doc = json.loads((cli_out / "findings.json").read_text())
    for key in ("recommendations", "approvals", "tracked_tasks"):
        assert _normal(json.dumps(desk_doc[key]), desk_dir) == _normal(json.dumps(cli_doc[key]), cli_dir), key
    assert {a["id"]: a["status"] for a in desk_doc["approvals"]} == {
        "R7": "approved", "R8": "approved", "R9": "approved", "R14": "rejected", "R15": "rejected"}
    assert all(a["by"] == "ana" and a["why"] == "checked on paper" for a in desk_doc["approvals"])
    assert [t["id"] for t in desk_doc["tracked_tasks"]] == ["R13"]
    desk_md = (desk_out / "INCIDENT_ANALYSIS_FINAL.md").read_text()
    assert _normal(desk_md, desk_dir) == _normal((cli_out / "INCIDENT_ANALYSIS_FINAL.md").read_text(), cli_dir)
    assert "| R7 | risk_parameter | user_approval | approved | ana |" in desk_md
    # the checkpoints agree: the same changes are still pending in both runs
    left = [ch["id"] for ch in stored_run(RUN, desk_dir).pending]
    assert left == [ch["id"] for ch in stored_run(RUN, cli_dir).pending] == ["R10", "R11", "R12", "R13"]


def test_refused_decisions_record_nothing(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "d"
    out = _pending_review(bundle, data)
    before = ((out / "findings.json").read_bytes(), (out / "INCIDENT_ANALYSIS_FINAL.md").read_bytes())
    c = _client(data)
    token = _csrf(c, f"/approvals/{RUN}")
    assert _decide(c, "forged", "R7", "approve").status_code == 403                    # wrong CSRF
    assert _decide(c, token, "R7", "approve", csrf="").status_code == 403              # no CSRF
    assert _decide(_client(data), token, "R7", "approve").status_code == 403           # no cookie
    assert _decide(c, token, "R7", "approve", origin="http://evil.example").status_code == 403
    assert _decide(c, token, "R7", "approve", origin=None).status_code == 403
    ro = _client(data, read_only=True)
    assert 'id="approve-R7"' not in ro.get(f"/approvals/{RUN}").text
    assert _decide(ro, token, "R7", "approve").status_code == 403
    for over, named in (({"note": " "}, "note"), ({"operator": ""}, "operator"), ({"decision": "maybe"}, "decision")):
        r = _decide(c, token, "R7", over.pop("decision", "approve"), **over)
        assert r.status_code == 400 and named in r.text, (over, r.text[:200])
    r = _decide(c, token, "R10", "approve", confirm="1")      # needs a backtest: every precondition ticked
    assert r.status_code == 400 and "tick each" in r.text
    assert _decide(c, token, "R7", "track").status_code == 400  # a plain user approval is not a tracked task
    r = _decide(c, token, "R1", "approve")                   # needs no approval: never pending
    assert r.status_code == 409 and "R1" in r.text
    assert _decide(c, token, "NOPE", "reject").status_code == 409
    r = c.post("/approvals/no-such-run", data={"csrf": token, "change": "R7", "decision": "approve",
                                               "operator": "ana", "note": "x"}, headers={"origin": BASE})
    assert r.status_code == 404 and "no-such-run" in r.text
    assert c.get("/approvals/no-such-run").status_code == 404
    assert before == ((out / "findings.json").read_bytes(), (out / "INCIDENT_ANALYSIS_FINAL.md").read_bytes())
    assert len(stored_run(RUN, data).pending) == 9
    assert _decide(c, token, "R7", "approve").status_code == 303
    r = _decide(c, token, "R7", "reject")                    # decided already: not pending any more
    assert r.status_code == 409 and "not pending" in r.text
    assert json.loads((out / "findings.json").read_text())["approvals"][0]["status"] == "approved"


def test_a_person_approves_a_backtest_change_by_confirming_its_preconditions(bundle: Path, tmp_path: Path) -> None:
    """As at the terminal, a person (not a flag) may approve a change that needs a backtest, after ticking each
    precondition; the record says who, why and which preconditions were confirmed."""
    data = tmp_path / "d"
    out = _pending_review(bundle, data)
    c = _client(data)
    token = _csrf(c, f"/approvals/{RUN}")
    pending = {ch["id"]: ch for ch in stored_run(RUN, data).pending}
    assert pending["R10"]["approval"] == "user_approval_and_backtest"
    form = {"csrf": token, "change": "R10", "decision": "approve", "operator": "ana", "note": "backtest read",
            "confirm": ["1", "2"]}
    r = c.post(f"/approvals/{RUN}", data=form, headers={"origin": BASE}, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    rec = {a["id"]: a for a in json.loads((out / "findings.json").read_text())["approvals"]}["R10"]
    assert rec["status"] == "approved" and rec["by"] == "ana"
    assert rec["why"].startswith("backtest read (preconditions confirmed on the desk: backtest the change")
    assert "R10" not in [ch["id"] for ch in stored_run(RUN, data).pending]
