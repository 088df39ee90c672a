"""The desk (``warden serve``): every page and action over a data dir made by a real paper run, and every
refusal (no token, cross-site POST, missing CSRF, read-only, a ledger outside the data dir)."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tools.samples.outcomes import generate
from trading.domain.reason_codes import ReasonCode
from trading.records.ledger_files import find_ledgers
from trading.records.outcome_schema import write_outcome
from trading.records.risk_ledger import RiskLedger
from trading.records.telemetry import EventLog
from warden.desk.app import create_app

EVIL = "<script>alert(1)</script>"
BASE = "http://testserver"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir from a short paper run, plus hostile text in an outcome, an event and a review report."""
    root = tmp_path_factory.mktemp("desk")
    candles, data = root / "c.csv", root / "d"
    subprocess.run([sys.executable, "-m", "warden", "sample-candles", "--out", str(candles), "--bars", "600"],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "warden", "run", "--broker", "paper", "--candles", str(candles),
                    "--advisor", "rule", "--data-dir", str(data)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "warden", "ingest", str(data), "--data-dir", str(data)], check=True,
                   capture_output=True)
    evil = next(iter(generate(n=1, seed=3, snapshots=False)))[0]
    evil = evil.model_copy(update={"symbol": EVIL, "trade_cycle_id": "evil-trade"})
    write_outcome(data, evil)
    EventLog(data / "telemetry" / "events.jsonl").emit("error", "evil-trade", detail=EVIL)
    review = data / "reviews" / "demo"
    (review / "teams").mkdir(parents=True)
    (review / "INCIDENT_ANALYSIS_FINAL.md").write_text(
        f"# Final report\n\nThe bot logged {EVIL}.\n\n[click](javascript:alert(1))\n\n**bold finding**\n\n"
        "[Execution](teams/execution.md)\n\n![equity](plot.svg)\n")
    (review / "teams" / "execution.md").write_text(f"## Execution team\n\n- a finding {EVIL}\n")
    (review / "plot.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    return data


@pytest.fixture()
def data(built: Path, tmp_path: Path) -> Path:
    """A fresh copy per test, so the ledger actions of one test do not leak into another."""
    d = tmp_path / "d"
    shutil.copytree(built, d)
    return d


def _client(data: Path, **kw: object) -> TestClient:
    return TestClient(create_app(data, **kw), base_url=BASE)  # type: ignore[arg-type]


def _csrf(c: TestClient, page: str = "/risk") -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', c.get(page).text)
    assert m, "the page carries no CSRF field"
    return m.group(1)


def _ledger(data: Path) -> tuple[str, Path]:
    path = find_ledgers(data)[0]
    return str(path.relative_to(data)), path


def _post(c: TestClient, url: str, form: dict[str, str], origin: str | None = BASE):
    headers = {"origin": origin} if origin else {}
    return c.post(url, data=form, headers=headers, follow_redirects=False)


def test_every_page_renders(data: Path) -> None:
    c = _client(data)
    assert c.get("/", follow_redirects=False).headers["location"] == "/live"
    for url in ("/live", "/trades", "/risk", "/reviews", "/reviews/reviews/demo"):
        r = c.get(url)
        assert r.status_code == 200, (url, r.text[:300])
    live = c.get("/api/live").json()
    assert live["risk"][0]["equity"] > 0 and live["risk"][0]["halt_level_pct"] > 0
    assert live["cycles"] and all(cy["id"] for cy in live["cycles"])
    assert live["accounts"][0]["account"].startswith("paper-")
    assert c.get("/api/risk").json()["ledgers"][0]["history"]


def test_live_json_follows_new_events(data: Path) -> None:
    c = _client(data)
    page = c.get("/live").text
    assert 'fetch("/api/live"' in page and "innerHTML" not in page and "<script src" not in page
    log = EventLog(data / "telemetry" / "events.jsonl")
    log.emit("signal", "cycle-new", kind="entry", signal={"side": "BUY", "symbol": "ES", "price": 1.5})
    log.emit("guard_verdict", "cycle-new", [ReasonCode.OPERATOR_HALT], allowed=False, summary="BLOCK entry")
    log.emit("halt", None, [ReasonCode.OPERATOR_HALT], detail="operator stop")
    live = c.get("/api/live").json()
    assert live["cycles"][0]["id"] == "cycle-new" and live["cycles"][0]["codes"] == ["OPERATOR_HALT"]
    assert live["halts"][-1] == {"ts": live["halts"][-1]["ts"], "codes": ["OPERATOR_HALT"], "detail": "operator stop"}


def test_trade_page_follows_one_cycle(data: Path) -> None:
    c = _client(data)
    ids = re.findall(r'href="/trades/([0-9a-f-]{36})"', c.get("/trades").text)
    assert ids
    page = c.get(f"/trades/{ids[0]}").text
    for kind in ("signal", "advisory", "guard_verdict", "order_sent", "fill", "pnl"):
        assert f"<td>{kind}</td>" in page, kind
    assert "<polyline" in page                     # the snapshot chart
    assert c.get("/trades/no-such-trade").status_code == 404


def test_trade_filters(data: Path) -> None:
    c = _client(data)
    won = c.get("/trades?outcome=won").text
    lost = c.get("/trades?outcome=lost").text
    assert 'class="num won"' in won and 'class="num lost"' not in won
    assert 'class="num lost"' in lost and 'class="num won"' not in lost
    assert "evil-trade" not in c.get("/trades?symbol=ES").text
    assert "0 of" in c.get("/trades?date=1999-01-01").text
    assert c.get("/trades?outcome=maybe").status_code == 400


def test_untrusted_text_is_escaped(data: Path) -> None:
    c = _client(data)
    for url in ("/trades", "/trades/evil-trade", "/reviews/reviews/demo"):
        page = c.get(url).text
        assert EVIL not in page, url
        assert "&lt;script&gt;" in page or "\\u003cscript\\u003e" in page, url
    review = c.get("/reviews/reviews/demo").text
    assert "<strong>bold finding</strong>" in review and 'href="javascript:' not in review
    assert '<base href="/reviews/reviews/demo/file/">' in review    # relative links resolve under the review
    assert 'href="teams/execution.md"' in review and 'src="plot.svg"' in review
    assert c.get("/reviews/reviews/demo/file/plot.svg").status_code == 200
    team = c.get("/reviews/reviews/demo/file/teams/execution.md")
    assert team.status_code == 200 and "Execution team" in team.text and EVIL not in team.text
    assert c.get("/reviews/reviews/demo/file/../../risk/x.svg").status_code == 404


def test_clear_halt_is_recorded_like_the_cli(data: Path) -> None:
    label, path = _ledger(data)
    RiskLedger(path).halt(ReasonCode.OPERATOR_HALT, "stop for the test")
    c = _client(data)
    assert "OPERATOR_HALT" in c.get("/risk").text
    r = _post(c, "/risk/clear-halt", {"csrf": _csrf(c), "ledger": label, "operator": "ana", "note": "checked fills",
                                      "code": "OPERATOR_HALT", "confirm": "yes"})
    assert r.status_code == 303, r.text
    last = json.loads(path.read_text().splitlines()[-1])
    assert (last["type"], last["operator"], last["note"], last["code"]) == ("halt_cleared", "ana", "checked fills",
                                                                            "OPERATOR_HALT")
    assert RiskLedger(path).state().active_halts == []


def test_reset_peak_and_bad_forms_append_nothing(data: Path) -> None:
    label, path = _ledger(data)
    c = _client(data)
    token = _csrf(c)
    base = {"csrf": token, "ledger": label, "operator": "ana", "note": "new month", "confirm": "yes"}
    before = path.read_text()
    for bad, why in (({"confirm": ""}, "confirmation"), ({"note": " "}, "note"), ({"new_peak": "nan"}, "peak"),
                     ({"new_peak": "-5"}, "peak"), ({"ledger": "/etc/passwd"}, "not one of")):
        r = _post(c, "/risk/reset-peak", {**base, **bad})
        assert r.status_code == 400 and why in r.text, (bad, r.text[:300])
    assert c.post("/risk/clear-halt", data={**base, "code": "NOPE"}, headers={"origin": BASE}).status_code == 400
    assert path.read_text() == before
    r = _post(c, "/risk/reset-peak", {**base, "new_peak": "123456.5"})
    assert r.status_code == 303
    assert RiskLedger(path).state().peak_equity == 123456.5


def test_cross_site_and_csrf_refused(data: Path) -> None:
    label, path = _ledger(data)
    c = _client(data)
    form = {"csrf": _csrf(c), "ledger": label, "operator": "x", "note": "y", "confirm": "yes"}
    before = path.read_text()
    assert _post(c, "/risk/reset-peak", form, origin="http://evil.example").status_code == 403
    assert _post(c, "/risk/reset-peak", form, origin=None).status_code == 403
    assert c.post("/risk/reset-peak", data=form, headers={"referer": "http://evil.example/x"}).status_code == 403
    assert _post(c, "/risk/reset-peak", {**form, "csrf": "forged"}).status_code == 403
    fresh = _client(data)                                  # a forged form without the victim's cookie
    assert _post(fresh, "/risk/reset-peak", form).status_code == 403
    assert path.read_text() == before
    r = c.post("/risk/reset-peak", data=form, headers={"referer": f"{BASE}/risk"}, follow_redirects=False)
    assert r.status_code == 303                            # a same-origin Referer is enough


def test_read_only_refuses_every_post(data: Path) -> None:
    label, path = _ledger(data)
    c = _client(data, read_only=True)
    page = c.get("/risk").text
    assert "read-only" in page and 'action="/risk/reset-peak"' not in page
    before = path.read_text()
    for url in ("/risk/reset-peak", "/risk/clear-halt", "/live"):
        r = _post(c, url, {"csrf": "x", "ledger": label, "operator": "x", "note": "y", "confirm": "yes"})
        assert r.status_code == 403, url
    assert path.read_text() == before


def test_token_required_off_loopback(data: Path) -> None:
    c = _client(data, token="s3cret")
    assert c.get("/risk").status_code == 401
    assert c.get("/api/live").status_code == 401
    assert c.get("/risk?token=wrong").status_code == 401
    assert c.get("/risk", headers={"authorization": "Bearer s3cret"}).status_code == 200
    r = c.get("/risk?token=s3cret", follow_redirects=False)
    assert r.status_code == 303 and "token" not in r.headers["location"]
    assert c.get("/risk").status_code == 200              # the cookie now carries it


def test_ask_answers_with_linked_citations(data: Path) -> None:
    c = _client(data)
    assert c.get("/ask").status_code == 200
    r = c.post("/ask", data={"csrf": _csrf(c, "/ask"), "question": "win rate by symbol"}, headers={"origin": BASE})
    assert r.status_code == 200 and "ES:" in r.text
    cited = re.findall(r'<li><a href="/trades/([0-9a-f-]{36})">', r.text)
    assert cited
    assert c.get(f"/trades/{cited[0]}").status_code == 200
    empty = c.post("/ask", data={"csrf": _csrf(c, "/ask"), "question": " "}, headers={"origin": BASE})
    assert empty.status_code == 400 and "empty" in empty.text
    assert _post(_client(data, read_only=True), "/ask", {"csrf": "x", "question": "q"}).status_code == 403


def test_serve_command_refuses_bad_input(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "warden", "serve", "--data-dir", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--data-dir" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _ask(c: TestClient, url: str, question: str):
    return c.post(url, data={"csrf": _csrf(c, "/ask"), "question": question}, headers={"origin": BASE},
                  follow_redirects=False)


def _queries(page: str) -> list[str]:
    return [html.unescape(q) for q in re.findall(r'<pre class="query">(.*?)</pre>', page, re.S)]


def test_ask_threads_keep_follow_ups_in_context(data: Path) -> None:
    """A thread at /ask/t/<id> keeps the conversation in the chat checkpointer: a follow-up is answered in
    context (its query filters SELL), a fresh thread has no such context, and `warden chat` sees the thread."""
    from typer.testing import CliRunner

    from warden.cli import app as cli

    c = _client(data)
    r = _ask(c, "/ask", "win rate when the advisory said BUY")
    assert r.status_code == 303 and r.headers["location"].startswith("/ask/t/desk-")
    thread_url = r.headers["location"].split("#")[0]
    thread = thread_url.rsplit("/", 1)[1]
    r = _ask(c, thread_url, "and SELL?")
    assert r.status_code == 303
    page = c.get(thread_url).text
    assert page.count('class="card turn"') == 2 and 'id="last"' in page
    first, follow = _queries(page)
    assert 'advisory_action == "BUY"' in first and 'advisory_action == "SELL"' in follow
    cited = re.findall(r'<li><a href="/trades/([0-9a-f-]{36})">', page)
    assert cited and c.get(f"/trades/{cited[-1]}").status_code == 200
    # another thread has no context: the same words are not read as a SELL follow-up
    fresh = c.get("/ask/new", follow_redirects=False).headers["location"]
    assert fresh.startswith("/ask/t/desk-") and fresh != thread_url
    assert _ask(c, fresh, "and SELL?").status_code == 303
    assert not any('advisory_action == "SELL"' in q for q in _queries(c.get(fresh).text))
    # both threads are listed; the thread is the one `warden chat --thread` continues
    listing = c.get("/ask").text
    assert f'href="/ask/t/{thread}"' in listing and f'href="{fresh}"' in listing
    hist = CliRunner().invoke(cli, ["chat", "--data-dir", str(data), "--thread", thread, "--show-history", "--json"])
    assert [json.loads(x)["question"] for x in hist.output.strip().splitlines()] == [
        "win rate when the advisory said BUY", "and SELL?"]


def test_ask_escapes_the_question_and_refuses_what_it_must(data: Path) -> None:
    c = _client(data)
    r = _ask(c, "/ask/t/hostile", EVIL)
    assert r.status_code == 303
    page = c.get("/ask/t/hostile").text
    assert EVIL not in page and "&lt;script&gt;" in page
    empty = _ask(c, "/ask/t/hostile", "  ")
    assert empty.status_code == 400 and "empty" in empty.text and empty.text.count('class="card turn"') == 1
    assert c.get("/ask/t/" + "x" * 201).status_code == 400
    assert c.post("/ask/t/hostile", data={"csrf": "forged", "question": "q"}, headers={"origin": BASE}).status_code == 403
    assert c.post("/ask/t/hostile", data={"csrf": _csrf(c, "/ask"), "question": "q"},
                  headers={"origin": "http://evil.example"}).status_code == 403
    ro = _client(data, read_only=True)
    view = ro.get("/ask/t/hostile")
    assert view.status_code == 200 and "&lt;script&gt;" in view.text and 'id="ask-form"' not in view.text
    assert _post(ro, "/ask/t/hostile", {"csrf": "x", "question": "q"}).status_code == 403


def test_trades_never_add_pnl_across_currencies(data: Path) -> None:
    """A BTC-quoted trade's PnL is shown in BTC with a coin's decimals and summed apart from the USD trades."""
    usd = sum(json.loads(p.read_text())["pnl_usd"] for p in (data / "training" / "trade_outcomes").rglob("*.json"))
    base = next(iter(generate(n=1, seed=5, snapshots=False)))[0]
    for i, pnl in enumerate((-0.01234567, 0.00200001)):
        write_outcome(data, base.model_copy(update={"symbol": "ETHBTC", "trade_cycle_id": f"ethbtc-{i}",
                                                   "currency": "BTC", "pnl_usd": pnl, "won": pnl > 0}))
    page = _client(data).get("/trades?symbol=ETHBTC").text
    assert "-0.01034566 BTC" in page and "USD" not in page.split("net PnL", 1)[1].split("·", 1)[0]
    assert "-0.01234567" in page                     # a coin keeps 8 decimals (2 would show -0.01)
    c_page = _client(data).get("/trades").text
    net = c_page.split("net PnL", 1)[1].split("· page", 1)[0]
    assert "-0.01034566 BTC" in net and f"{usd:,.2f} USD" in net, net
