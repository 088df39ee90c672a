"""The desk in a real headless Chromium (Selenium + Debian's ``chromium`` / ``chromium-driver``).

A data dir is built as a user would with the CLI in subprocesses (sample candles, a paper run, ``warden
ingest``, ``warden demo`` leaving its review changes pending), ``warden serve`` is started on a free
127.0.0.1 port, and the browser walks the desk: the Live page updating without a reload while a second
paced paper run advances, Trades and a trade page, Reviews and a review, Ask with a followed citation,
Risk. Each page is saved as a PNG: into ``$WARDEN_DESK_SHOTS`` when set (``WARDEN_DESK_SHOTS=docs/desk``
regenerates the screenshots of docs/desk.md), else into a temporary folder, so a test run leaves the
working tree alone.

Failure contract: skipped (with the reason) when selenium, /usr/bin/chromium or /usr/bin/chromedriver is
absent; every wait is bounded (``WAIT`` seconds) and fails naming what did not happen; the browser is
always quit and every subprocess started here is killed at the end.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS = Path(os.environ.get("WARDEN_DESK_SHOTS") or Path(tempfile.gettempdir()) / f"warden-desk-shots-{os.getpid()}")
WAIT = 30.0          # seconds for any one thing to show up in the browser (the machine is small and loaded)
RUN_TIMEOUT = 180.0  # seconds for a CLI step (paper run, ingest, demo) to finish
ES = "reviews/demo/reviews/es"  # the demo's ES review, as the desk names it (its directory under the data dir)

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the test extra is not installed: skipped below with the reason
    webdriver = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(webdriver is None, reason="selenium is not installed (pip install -e '.[test]')"),
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(not CHROMEDRIVER.is_file(), reason=f"no {CHROMEDRIVER} (apt-get install chromium-driver)"),
]


def _env() -> dict[str, str]:
    """This environment without stray WARDEN_* settings (the session fixture runs before conftest's cleaner)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}


def warden(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to completion; a failure names the command and its stderr."""
    cmd = [sys.executable, "-m", "warden", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=_env())
    assert done.returncode == 0, f"`warden {' '.join(map(str, args))}` exited {done.returncode}: {done.stderr[-2000:]}"
    return done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate one process started here (then kill it if it does not go)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_answers(url: str, proc: subprocess.Popen[str], log: Path) -> None:
    """Until ``url`` answers 200; fails if the server exits or WAIT seconds pass."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"warden serve exited {proc.returncode} before answering: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback URL built here
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"warden serve did not answer {url} within {WAIT:.0f} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A data dir from a paper run + ingest + a demo review left pending, served by ``warden serve``."""
    root = tmp_path_factory.mktemp("desk_browser")
    data, candles = root / "data", root / "c.csv"
    warden("sample-candles", "--out", candles, "--bars", "600")
    warden("run", "--broker", "paper", "--advisor", "rule", "--candles", candles, "--data-dir", data, "--quiet")
    warden("ingest", data, "--data-dir", data)
    warden("demo", "--out", data / "reviews" / "demo", "--data-dir", data)     # no --approve: changes pending
    port, log = _free_port(), root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "warden", "serve", "--data-dir", str(data), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_answers(base + "/live", proc, log)
        yield {"base": base, "data": data, "root": root}
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session, always quit."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        driver.set_page_load_timeout(WAIT)
        # the viewport itself 1280x800 (--window-size counts the window, not the page)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()


def until(driver: Any, condition: Any, what: str) -> Any:
    """Wait (bounded) for ``condition``; a timeout fails naming ``what`` did not happen."""
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.25).until(condition)
    except TimeoutException:
        pytest.fail(f"{what} within {WAIT:.0f} s (at {driver.current_url})")


def shot(driver: Any, name: str) -> None:
    """The viewport as SHOTS/NAME.png, replaced atomically (another run may be reading it)."""
    png = driver.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", f"screenshot {name} is not a PNG"
    SHOTS.mkdir(parents=True, exist_ok=True)
    tmp = SHOTS / f".{name}.{os.getpid()}.png.tmp"
    tmp.write_bytes(png)
    os.replace(tmp, SHOTS / f"{name}.png")


def visit(driver: Any, url: str, heading: str) -> None:
    driver.get(url)
    until(driver, ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), heading), f"{url} did not show {heading!r}")


def _first_cycle(driver: Any) -> str:
    """The newest cycle's link, read in one script (the poller replaces the rows at any moment)."""
    return str(driver.execute_script(
        "const a = document.querySelector('#cycles tbody tr:first-child a'); return a ? a.href : '';"))


def test_live_page_updates_while_a_paper_run_advances(desk: dict[str, Any], browser: Any) -> None:
    visit(browser, desk["base"] + "/live", "Live")
    before = _first_cycle(browser)
    assert before, "the Live page shows no cycle from the first paper run"
    browser.execute_script("window.__notReloaded = true;")
    shot(browser, "live")
    # 300 bars past the first run's last bar (the first 600 only warm the resumed account's history), paced
    # to at least 24 s, so the page has to change while the run is still going.
    more = desk["root"] / "more.csv"
    warden("sample-candles", "--out", more, "--bars", "900")
    run = subprocess.Popen([sys.executable, "-m", "warden", "run", "--broker", "paper", "--advisor", "rule",
                            "--candles", str(more), "--data-dir", str(desk["data"]), "--bar-delay", "0.08", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        until(browser, lambda d: _first_cycle(d) not in ("", before),
              "the Live page's newest cycle did not change while the second paper run advanced")
        assert run.poll() is None, "the Live page changed only after the second paper run had ended"
        assert browser.execute_script("return window.__notReloaded === true;"), "the Live page reloaded"
        assert "updated" in browser.find_element(By.ID, "stamp").text
        shot(browser, "live-updated")
        out, err = run.communicate(timeout=RUN_TIMEOUT)
        assert run.returncode == 0, f"the second paper run exited {run.returncode}: {err[-2000:]}"
    finally:
        _stop(run)


def test_trades_and_a_trade_page(desk: dict[str, Any], browser: Any) -> None:
    visit(browser, desk["base"] + "/trades", "Trades")
    links = browser.find_elements(By.CSS_SELECTOR, "table a[href^='/trades/']")
    assert links, "the Trades page lists no trade"
    shot(browser, "trades")
    href = str(links[0].get_attribute("href"))
    tid = href.rsplit("/", 1)[1]
    links[0].click()
    until(browser, ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), f"Trade {tid}"),
          f"following {href} did not open trade {tid}")
    assert browser.find_elements(By.CSS_SELECTOR, "svg polyline"), "the trade page draws no snapshot chart"
    shot(browser, "trade")


def test_reviews_and_a_demo_review(desk: dict[str, Any], browser: Any) -> None:
    visit(browser, desk["base"] + "/reviews", "Incident reviews")
    body = browser.find_element(By.TAG_NAME, "main").text
    assert f"{ES}" in body and "reviews/demo/reviews/polymarket" in body, body[:500]
    assert "Review runs" in body, "the review graph's checkpointed run ids are not listed"
    shot(browser, "reviews")
    browser.find_element(By.LINK_TEXT, ES).click()
    until(browser, ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), f"Review {ES}"),
          "the es demo review did not open")
    assert "EXIT_OPENED_POSITION" in browser.find_element(By.TAG_NAME, "article").text
    shot(browser, "review")


def test_ask_and_follow_a_cited_trade(desk: dict[str, Any], browser: Any) -> None:
    # the second paper run's trades too (only the run's outcomes: ingesting the whole data dir would add the
    # demo review's reconstructed outcomes, which the Trades page does not list)
    warden("ingest", desk["data"] / "training", "--data-dir", desk["data"])
    visit(browser, desk["base"] + "/trades", "Trades")
    listed = re.search(r"(\d+) of (\d+) trades · (\d+) won", browser.find_element(By.TAG_NAME, "main").text)
    assert listed, "the Trades page shows no count of trades and wins"
    visit(browser, desk["base"] + "/ask", "Ask")
    box = browser.find_element(By.NAME, "question")
    box.clear()
    box.send_keys("what is my win rate?")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    until(browser, ec.presence_of_element_located((By.CSS_SELECTOR, "section.card pre")),
          "the Ask page showed no answer")
    answer = browser.find_element(By.CSS_SELECTOR, "section.card pre").text
    said = re.search(r"\((\d+) of (\d+) trades won", answer)
    assert said, f"the answer gives no win count: {answer}"
    assert (said[1], said[2]) == (listed[3], listed[2]), \
        f"Ask says {said[1]} of {said[2]} won; the Trades page lists {listed[3]} won of {listed[2]}"
    cited = browser.find_elements(By.CSS_SELECTOR, "section.card ul a[href^='/trades/']")
    assert cited, "the answer cites no trade"
    shot(browser, "ask")
    tid = cited[0].text
    cited[0].click()
    until(browser, ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), f"Trade {tid}"),
          f"the cited trade {tid} did not open")
    assert "No outcome file" not in browser.find_element(By.TAG_NAME, "main").text


def test_risk_page(desk: dict[str, Any], browser: Any) -> None:
    visit(browser, desk["base"] + "/risk", "Risk ledgers")
    assert browser.find_elements(By.CSS_SELECTOR, "section[id^='ledger-']"), "the Risk page lists no ledger"
    shot(browser, "risk")


def test_approve_a_pending_change(desk: dict[str, Any], browser: Any) -> None:
    visit(browser, f"{desk['base']}/reviews/{ES}", f"Review {ES}")
    forms = browser.find_elements(By.CSS_SELECTOR, "form[id^='approve-']")
    assert forms, "the demo review shows no approval form although its changes are pending"
    # a change a user's approval alone can approve ("Approve"; approving the others records a tracked task)
    approvable = [f for f in forms if f.find_element(By.CSS_SELECTOR, "button[value=approve]").text == "Approve"]
    assert approvable, "none of the ES demo review's pending changes can be approved from the desk"
    form = approvable[0]
    change = str(form.get_attribute("id")).removeprefix("approve-")
    form.find_element(By.NAME, "operator").send_keys("desk-browser-test")
    form.find_element(By.NAME, "note").send_keys("approved in the browser test")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", form)
    shot(browser, "approve")
    form.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    done = until(browser, ec.presence_of_element_located((By.ID, "done")),
                 f"approving change {change} showed no recorded decision")
    assert change in done.text and "desk-browser-test" in done.text, done.text
    shot(browser, "approved")
    findings = (desk["data"] / ES / "findings.json").read_text()
    assert "desk-browser-test" in findings, f"the decision on {change} is not in the review's findings.json"
    visit(browser, f"{desk['base']}/reviews/{ES}", f"Review {ES}")
    assert not browser.find_elements(By.ID, f"approve-{change}"), f"change {change} is still offered for approval"
    assert "desk-browser-test" in browser.find_element(By.TAG_NAME, "article").text, \
        f"the final report on the review page does not record who approved {change}"


def test_screenshots_are_small() -> None:
    """Runs after the pages above (file order): the PNGs they saved are 1280x800 and modest."""
    if not SHOTS.is_dir():
        pytest.skip("no screenshots saved")
    for png in SHOTS.glob("*.png"):
        head = png.read_bytes()[:24]
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert head[:8] == b"\x89PNG\r\n\x1a\n" and (width, height) == (1280, 800), (png.name, width, height)
        assert png.stat().st_size < 400_000, (png.name, png.stat().st_size)

