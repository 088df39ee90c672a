"""Issue 16, "The terminal as a trader uses it": `warden review --resume RUN_ID` asked on a real terminal (tmux).

`warden demo` leaves the ES review with a change pending approval and prints
``warden review --resume RUN_ID --approve all|none --data-dir D``. Run without --approve on a terminal, the
review must ASK: the question (the change's title and its type) must be visible on screen, keys answer it,
the command ends, and the answer is recorded with who and when in the review's findings.json.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.slow,
]

ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update({"WARDEN_DATA_DIR": str(data_dir), "AWS_EC2_METADATA_DISABLED": "true"})
    return env


def _demo(tmp_path: Path, data: Path) -> tuple[str, Path]:
    """Run the demo; return the ES review's run id and its output folder."""
    r = subprocess.run([sys.executable, "-m", "warden", "demo", "--out", str(tmp_path / "demo"), "--data-dir",
                        str(data)], cwd=tmp_path, env=_env(data), capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r"^es:.*warden review --resume (\S+)", r.stdout, re.M)
    assert m, f"the demo printed no resume command for the ES review:\n{r.stdout}"
    return m.group(1), tmp_path / "demo" / "reviews" / "es"


class Tmux:
    """One private tmux server (its own socket), killed at the end; never touches another server."""

    def __init__(self) -> None:
        self.sock = f"warden-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True,
                              timeout=20, check=check)

    def pane(self) -> str:
        return self("capture-pane", "-p", "-J", "-S", "-200", "-t", "warden").stdout

    def kill(self) -> None:
        self("kill-server", check=False)
        sock = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / self.sock
        sock.unlink(missing_ok=True)


def _wait(cond, timeout: float, step: float = 0.2) -> bool:  # noqa: ANN001
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def test_review_resume_asks_on_a_terminal(tmp_path: Path) -> None:
    """Issue 16: on a terminal, ``warden review --resume RUN_ID`` (no --approve) draws its live progress table
    over the approval prompt, so the question (change title and type) is never visible: the trader types
    blind. After the fix: the change's title and its change_type are visible on screen, answering 'y' + Enter
    approves it, the command exits 0 within a bounded time, and findings.json records the answer for that change:
    status 'approved', approved_by naming who answered, and when (an ISO date-time in the recommendation)."""
    data = tmp_path / "D"
    run_id, out = _demo(tmp_path, data)
    findings = json.loads((out / "findings.json").read_text())
    pending = [r for r in findings["recommendations"] if r["status"] == "pending_approval"]
    assert pending, "the demo's ES review has no change pending approval any more"

    rc_file = tmp_path / "rc"
    env = _env(data)
    script = tmp_path / "resume.sh"
    script.write_text(
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k in
                ("PATH", "HOME", "WARDEN_DATA_DIR", "AWS_EC2_METADATA_DISABLED", "VIRTUAL_ENV", "PYTHONPATH"))
        + f"cd {shlex.quote(str(tmp_path))}\n"
        + f"{shlex.quote(sys.executable)} -m warden review --resume {shlex.quote(run_id)} --data-dir "
          f"{shlex.quote(str(data))}\n"
        + f"echo $? > {shlex.quote(str(rc_file))}\nsleep 600\n")
    tmux = Tmux()
    try:
        tmux("new-session", "-d", "-s", "warden", "-x", "160", "-y", "50", f"bash {shlex.quote(str(script))}")
        for ch in pending:
            title, kind = ch["title"], ch["change_type"]
            shown = _wait(lambda: title in tmux.pane() and kind in tmux.pane(), timeout=20)  # noqa: B023
            assert shown, (f"the approval question for {ch['id']} ({title!r}, {kind}) is not visible on the "
                           f"terminal:\n{tmux.pane()}")
            tmux("send-keys", "-t", "warden", "y", "Enter")
            time.sleep(0.5)
        done = _wait(rc_file.exists, timeout=60)
        assert done, f"`warden review --resume` did not finish within 60 s after the answers:\n{tmux.pane()}"
        screen = tmux.pane()
    finally:
        tmux.kill()
    assert rc_file.read_text().strip() == "0", f"exit code {rc_file.read_text().strip()}:\n{screen}"
    assert "Traceback" not in screen, screen
    after = {r["id"]: r for r in json.loads((out / "findings.json").read_text())["recommendations"]}
    for ch in pending:
        rec = after[ch["id"]]
        assert rec["status"] == "approved", f"{ch['id']} not recorded as approved: {rec}"
        assert rec.get("approved_by"), f"{ch['id']}: who approved is not recorded: {rec}"
        assert any(isinstance(v, str) and ISO_TIME.search(v) for v in rec.values()), \
            f"{ch['id']}: when it was approved is not recorded (no date-time in the recommendation): {rec}"
