"""Issue 16, "The terminal as a trader uses it": every bad input is ONE clear line, never a traceback.

Each case runs ``python -m warden ...`` as a subprocess, in a tmp cwd, with a tmp WARDEN_DATA_DIR (and
WARDEN_CONFIG pointing into tmp where the case is about a config file). A user error must:

- exit with code 2 (``warden ask`` on an empty data dir: any non-zero code),
- print exactly ONE non-empty line on stderr, naming the file / setting / flag / value at fault,
- print no "Traceback" on stdout or stderr.

Behaviour checks in the same module: replay's ``--all`` verdict column in words, the one-order verdict line
kept verbatim, ``warden run`` interrupted with SIGINT, ``--help`` without ``<bool>``, short usage errors.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TIMEOUT_S = 60


# ------------------------------------------------------------------------------------------------
# harness


def _env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update({"WARDEN_DATA_DIR": str(data_dir), "AWS_EC2_METADATA_DISABLED": "true", "COLUMNS": "100",
                "PYTHONIOENCODING": "utf-8"})
    env.pop("NO_COLOR", None)
    for k, v in (extra or {}).items():
        if k == "PYTHONPATH":       # prepend (a shim dir), keep whatever was there
            v = os.pathsep.join(p for p in (v, env.get("PYTHONPATH", "")) if p)
        env[k] = v
    return env


def warden(args: list[str], *, cwd: Path, data_dir: Path, env: dict[str, str] | None = None,
           stdin: str | None = None, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warden", *args], cwd=cwd, env=_env(data_dir, env),
                          input=stdin if stdin is not None else "", capture_output=True, text=True,
                          timeout=timeout)


def _candles_csv(n: int = 60) -> str:
    rows = ["timestamp,open,high,low,close,volume"]
    px = 5000.0
    for i in range(n):
        o = px
        c = px + (0.25 if i % 3 else -0.5)
        rows.append(f"2025-12-01T{14 + (30 + i) // 60:02d}:{(30 + i) % 60:02d}:00+00:00,"
                    f"{o},{max(o, c) + 0.5},{min(o, c) - 0.5},{c},{100 + i}")
        px = c
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Shared read-only inputs: a mytrader sample log (via the CLI), a small candle file, an ib_async shim."""
    d = tmp_path_factory.mktemp("assets")
    r = warden(["sample-log", "--out", str(d / "bot.log")], cwd=d, data_dir=d / "data")
    assert r.returncode == 0, r.stderr
    (d / "candles.csv").write_text(_candles_csv())
    shim = d / "shim"          # ib_async / ib_insync "not installed" for the subprocess that gets this on PYTHONPATH
    shim.mkdir()
    (shim / "ib_async.py").write_text("raise ImportError(\"No module named 'ib_async'\")\n")
    (shim / "ib_insync.py").write_text("raise ImportError(\"No module named 'ib_insync'\")\n")
    return {"log": d / "bot.log", "candles": d / "candles.csv", "shim": shim}


@dataclass
class Case:
    id: str
    hole: str                                    # what goes wrong today / what the case guards
    args: list[str]                              # {log} {candles} {cwd} {data} {shim} are filled in
    needles: tuple[str | tuple[str, ...], ...]   # each must be in the stderr line (a tuple: any of them)
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)   # created under the tmp cwd
    dirs: tuple[str, ...] = ()                   # created under the tmp cwd
    forbid: tuple[str, ...] = ()                 # must NOT be in stdout+stderr
    rc: int | None = 2                           # None: any non-zero exit


BAD_TOML = "[guards]\nmax_loss_per_trade = 500\nblock_on_wait = tru\n" + "\n".join(f"# l{i}" for i in range(3))
BINARY = bytes(range(256)) * 4
REPLAY = ["replay", "--log", "{log}", "--all"]
RUN = ["run", "--candles", "{candles}", "--advisor", "rule", "--quiet"]
PEAK = ["risk", "reset-peak", "--operator", "amy", "--note", "new capital"]

CASES: list[Case] = [
    # --- configuration files ----------------------------------------------------------------------
    Case("toml-malformed", "a malformed ./warden.toml dies with a 65-line TOMLDecodeError traceback",
         ["risk", "status"], ("warden.toml",), files={"warden.toml": BAD_TOML}),
    Case("toml-binary", "a binary ./warden.toml dies with a UnicodeDecodeError traceback",
         ["risk", "status"], ("warden.toml",), files={"warden.toml": BINARY}),
    Case("toml-malformed-via-WARDEN_CONFIG", "WARDEN_CONFIG naming a malformed file: TOMLDecodeError traceback",
         REPLAY, ("bad.toml",), env={"WARDEN_CONFIG": "{cwd}/conf/bad.toml"}, files={"conf/bad.toml": "guards = [\n"}),
    Case("toml-unknown-section", "guard: a misspelt [guardz] section is refused, naming it",
         REPLAY, ("guardz",), env={"WARDEN_CONFIG": "{cwd}/w.toml"},
         files={"w.toml": "[guardz]\nmax_loss_per_trade = 500\n"}),
    Case("toml-inf", "max_loss_per_trade = inf in the TOML is accepted (no loss cap at all)",
         REPLAY, ("max_loss_per_trade",), env={"WARDEN_CONFIG": "{cwd}/w.toml"},
         files={"w.toml": "[guards]\nmax_loss_per_trade = inf\n"}),
    Case("toml-nan", "guard: max_loss_per_trade = nan in the TOML is refused",
         REPLAY, ("max_loss_per_trade",), env={"WARDEN_CONFIG": "{cwd}/w.toml"},
         files={"w.toml": "[guards]\nmax_loss_per_trade = nan\n"}),
    Case("WARDEN_CONFIG-is-a-dir", "guard: WARDEN_CONFIG naming a directory",
         REPLAY, ("WARDEN_CONFIG", "confdir"), env={"WARDEN_CONFIG": "{cwd}/confdir"}, dirs=("confdir",)),
    Case("WARDEN_CONFIG-missing", "guard: WARDEN_CONFIG naming a missing file",
         REPLAY, ("WARDEN_CONFIG", "nope.toml"), env={"WARDEN_CONFIG": "{cwd}/nope.toml"}),
    # --- environment variables --------------------------------------------------------------------
    Case("env-typo", "WARDEN_GUARDZ__MAX_LOSS_PER_TRADE=500 is silently ignored (the same typo in TOML is refused)",
         REPLAY, ("WARDEN_GUARDZ__MAX_LOSS_PER_TRADE",), env={"WARDEN_GUARDZ__MAX_LOSS_PER_TRADE": "500"}),
    Case("env-nan", "guard: WARDEN_GUARDS__MAX_LOSS_PER_TRADE=nan is refused",
         REPLAY, ("WARDEN_GUARDS__MAX_LOSS_PER_TRADE",), env={"WARDEN_GUARDS__MAX_LOSS_PER_TRADE": "nan"}),
    Case("env-inf", "WARDEN_GUARDS__MAX_LOSS_PER_TRADE=inf is accepted (no loss cap at all)",
         REPLAY, ("WARDEN_GUARDS__MAX_LOSS_PER_TRADE",), env={"WARDEN_GUARDS__MAX_LOSS_PER_TRADE": "inf"}),
    Case("env-negative", "guard: WARDEN_GUARDS__MAX_LOSS_PER_TRADE=-5 is refused",
         REPLAY, ("WARDEN_GUARDS__MAX_LOSS_PER_TRADE",), env={"WARDEN_GUARDS__MAX_LOSS_PER_TRADE": "-5"}),
    Case("env-starting-cash-inf", "WARDEN_BROKER__STARTING_CASH=inf is accepted",
         REPLAY, ("WARDEN_BROKER__STARTING_CASH",), env={"WARDEN_BROKER__STARTING_CASH": "inf"}),
    Case("env-port-range", "guard: WARDEN_RAG__PORT=70000 is refused",
         ["risk", "status"], ("WARDEN_RAG__PORT",), env={"WARDEN_RAG__PORT": "70000"}),
    Case("env-llm-provider", "WARDEN_LLM__PROVIDER=gpt prints a 6-line Rich usage box",
         ["ask", "win rate?"], ("WARDEN_LLM__PROVIDER",), env={"WARDEN_LLM__PROVIDER": "gpt"}),
    Case("env-data-dir-is-a-file", "WARDEN_DATA_DIR naming a file prints a 5-line Rich usage box",
         ["risk", "status"], (("WARDEN_DATA_DIR", "--data-dir"),), env={"WARDEN_DATA_DIR": "{cwd}/afile"},
         files={"afile": "x"}),
    # --- warden risk ------------------------------------------------------------------------------
    Case("reset-peak-fresh-ledger", "ValueError traceback 'no equity recorded yet; pass new_peak' (flag is --new-peak)",
         PEAK, ("--new-peak",), forbid=("pass new_peak",)),
    Case("reset-peak-empty-operator", "--operator '' dies with a ValueError traceback",
         ["risk", "reset-peak", "--operator", "", "--note", "x", "--new-peak", "100"], ("--operator",)),
    Case("reset-peak-empty-note", "--note '' is recorded as an empty reason",
         ["risk", "reset-peak", "--operator", "amy", "--note", "", "--new-peak", "100"], ("--note",)),
    Case("reset-peak-inf", "--new-peak inf is recorded (drawdown can never trip again)",
         [*PEAK, "--new-peak", "inf"], ("--new-peak",)),
    Case("reset-peak-nan", "--new-peak nan is recorded", [*PEAK, "--new-peak", "nan"], ("--new-peak",)),
    Case("reset-peak-negative", "--new-peak -5 is recorded", [*PEAK, "--new-peak", "-5"], ("--new-peak",)),
    Case("clear-halt-empty-operator", "--operator '' dies with a ValueError traceback",
         ["risk", "clear-halt", "--operator", "", "--note", "x"], ("--operator",)),
    Case("clear-halt-unknown-code", "guard: an unknown --code is named",
         ["risk", "clear-halt", "--operator", "amy", "--note", "x", "--code", "NOPE"], ("NOPE",)),
    Case("risk-data-dir-is-a-file", "--data-dir naming a file prints a 5-line Rich usage box",
         ["risk", "status", "--data-dir", "{cwd}/afile"], ("--data-dir",), files={"afile": "x"}),
    # --- warden replay ----------------------------------------------------------------------------
    Case("replay-log-missing", "guard: a missing --log", ["replay", "--log", "{cwd}/nope.log", "--all"], ("nope.log",)),
    Case("replay-log-is-a-dir", "guard: a directory as --log",
         ["replay", "--log", "{cwd}/logdir", "--all"], ("logdir",), dirs=("logdir",)),
    Case("replay-log-empty", "guard: an empty --log", ["replay", "--log", "{cwd}/empty.log", "--all"],
         ("empty.log",), files={"empty.log": ""}),
    Case("replay-log-binary", "guard: a binary --log", ["replay", "--log", "{cwd}/bin.log", "--all"],
         ("bin.log",), files={"bin.log": BINARY}),
    Case("replay-unknown-format", "--format xml prints a 5-line Rich usage box",
         [*REPLAY, "--format", "xml"], ("--format",)),
    Case("replay-max-loss-nan", "--max-loss nan is accepted (nan <= 0 is False)", [*REPLAY, "--max-loss", "nan"],
         ("--max-loss",)),
    Case("replay-max-loss-inf", "--max-loss inf is accepted", [*REPLAY, "--max-loss", "inf"], ("--max-loss",)),
    Case("replay-max-loss-negative", "guard: --max-loss -5 is refused", [*REPLAY, "--max-loss", "-5"],
         ("--max-loss",)),
    Case("replay-max-loss-not-a-number", "--max-loss abc prints a 6-line Rich usage box",
         [*REPLAY, "--max-loss", "abc"], ("--max-loss",)),
    Case("replay-unknown-order", "guard: a nonexistent --order-id is named",
         ["replay", "--log", "{log}", "--order-id", "999999"], ("999999",)),
    Case("replay-no-selector", "guard: none of --order-id/--all/--trades", ["replay", "--log", "{log}"], ("--all",)),
    Case("replay-unknown-tz", "guard: an unknown --tz", [*REPLAY, "--tz", "Mars/Olympus"], ("Mars/Olympus",)),
    Case("replay-markup-missing", "a path containing '[/x]' makes the error printer raise rich.errors.MarkupError",
         ["replay", "--log", "{cwd}/nope[/x].log", "--all"], ("nope[/x].log",)),
    Case("replay-markup-existing", "an (empty) file a[/x].log: MarkupError traceback instead of the error line",
         ["replay", "--log", "{cwd}/a[/x].log", "--all"], ("a[/x].log",), files={"a[/x].log": ""}),
    Case("replay-unknown-option", "an unknown option prints a 5-line Rich usage box", [*REPLAY, "--bogus"],
         ("--bogus",)),
    # --- warden run -------------------------------------------------------------------------------
    Case("run-candles-missing", "guard: a missing --candles", ["run", "--candles", "{cwd}/nope.csv"], ("nope.csv",)),
    Case("run-candles-is-a-dir", "a directory as --candles prints a 5-line Rich usage box",
         ["run", "--candles", "{cwd}/candles_dir"], ("candles_dir",), dirs=("candles_dir",)),
    Case("run-candles-empty", "guard: an empty candle file", ["run", "--candles", "{cwd}/empty.csv"],
         ("empty.csv",), files={"empty.csv": ""}),
    Case("run-candles-missing-columns", "guard: candles without a high column",
         ["run", "--candles", "{cwd}/cols.csv"], ("high",),
         files={"cols.csv": "timestamp,open,close\n2025-12-01T14:30:00+00:00,1,2\n"}),
    Case("run-unknown-broker", "--broker alpaca prints a 5-line Rich usage box", [*RUN, "--broker", "alpaca"],
         ("--broker",)),
    Case("run-unknown-llm", "--llm gpt prints a 6-line Rich usage box", [*RUN, "--llm", "gpt"], ("--llm",)),
    Case("run-bad-symbol", "guard: an unknown --symbol is named", [*RUN, "--symbol", "ZZ!!"], ("ZZ!!",)),
    Case("run-qty-inf", "--qty inf is accepted and the session runs", [*RUN, "--qty", "inf"], ("--qty",)),
    Case("run-qty-nan", "--qty nan prints a 5-line Rich usage box", [*RUN, "--qty", "nan"], ("--qty",)),
    Case("run-unknown-tz", "--tz Mars/Olympus is accepted and the session runs", [*RUN, "--tz", "Mars/Olympus"],
         ("Mars/Olympus",)),
    Case("run-ib-missing-hint", "the install hint loses '[ib]' (Rich markup): \"pip install 'warden'\"",
         [*RUN, "--broker", "ib"], ("pip install 'warden[ib]'",), env={"PYTHONPATH": "{shim}"}),
    Case("run-unknown-signals", "guard: --signals nosuch:thing", [*RUN, "--signals", "nosuch:thing"],
         ("--signals",)),
    # --- warden review ----------------------------------------------------------------------------
    Case("review-out-unwritable", "traceback, exit 1, then 'resumable: warden review --resume RUN_ID' (literal RUN_ID)",
         ["review", "{log}", "--out", "/proc/forbidden/x"], ("/proc/forbidden",), forbid=("--resume RUN_ID",)),
    Case("review-bundle-missing", "guard: a missing bundle", ["review", "{cwd}/nope_bundle", "--out", "{cwd}/o"],
         ("nope_bundle",)),
    Case("review-bundle-empty-dir", "guard: a bundle dir without a log",
         ["review", "{cwd}/bundle", "--out", "{cwd}/o"], ("bundle",), dirs=("bundle",)),
    Case("review-resume-unknown", "guard: --resume of an unknown run", ["review", "--resume", "NOPE"], ("NOPE",)),
    Case("review-out-is-a-file", "--out naming a file prints a 5-line Rich usage box",
         ["review", "{log}", "--out", "{cwd}/afile"], ("--out",), files={"afile": "x"}),
    Case("review-no-out", "guard: a bundle without --out", ["review", "{log}"], ("--out",)),
    # --- ask / ingest / demo / samples / embeddings ------------------------------------------------
    Case("ask-empty-data-dir", "exit 0 with 'the data cannot answer this' instead of saying what to run first",
         ["ask", "win rate last week?"], (("warden ingest", "warden run", "warden demo"),), rc=None),
    Case("ask-bad-as-of", "guard: --as-of notadate", ["ask", "win rate?", "--as-of", "notadate"], ("--as-of",)),
    Case("ingest-missing", "guard: a missing path", ["ingest", "{cwd}/nope.json"], ("nope.json",)),
    Case("sample-candles-unwritable", "FileNotFoundError traceback (2 chained)",
         ["sample-candles", "/proc/forbidden/c.csv"], ("/proc/forbidden",)),
    Case("sample-candles-too-few-bars", "--bars 10 prints a 5-line Rich usage box",
         ["sample-candles", "{cwd}/c.csv", "--bars", "10"], ("--bars",)),
    Case("sample-log-mb-nan", "--mb nan: 'cannot convert float NaN to integer' traceback",
         ["sample-log", "--out", "{cwd}/m.log", "--mb", "nan"], ("--mb",)),
    Case("demo-out-unwritable", "FileNotFoundError traceback (5 tracebacks chained)",
         ["demo", "--out", "/proc/forbidden/d"], ("/proc/forbidden",)),
    Case("embeddings-fetch-refused", "guard: an unreachable --url (127.0.0.1:9) is one line",
         ["embeddings", "fetch", "--dir", "{cwd}/m", "--url", "http://127.0.0.1:9/x.tgz"], ("127.0.0.1:9",)),
]


def _materialise(case: Case, tmp_path: Path, assets: dict[str, Path]) -> tuple[Path, Path, list[str], dict[str, str]]:
    cwd, data = tmp_path / "cwd", tmp_path / "data"
    cwd.mkdir()
    data.mkdir()
    for d in case.dirs:
        (cwd / d).mkdir(parents=True)
    for name, content in case.files.items():
        p = cwd / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    subst = {"log": str(assets["log"]), "candles": str(assets["candles"]), "shim": str(assets["shim"]),
             "cwd": str(cwd), "data": str(data)}
    fill = lambda s: re.sub(r"\{(log|candles|shim|cwd|data)\}", lambda m: subst[m.group(1)], s)  # noqa: E731
    return cwd, data, [fill(a) for a in case.args], {k: fill(v) for k, v in case.env.items()}


def assert_user_error(r: subprocess.CompletedProcess[str], case: Case) -> None:
    where = f"[{case.id}] hole: {case.hole}\n  rc={r.returncode}\n  stderr:\n{r.stderr[-2500:]}\n  stdout:\n{r.stdout[-800:]}"
    assert "Traceback" not in r.stdout + r.stderr, "traceback printed\n" + where
    if case.rc is None:
        assert r.returncode != 0, "exit code 0 for a user error\n" + where
    else:
        assert r.returncode == case.rc, f"exit code {r.returncode}, expected {case.rc}\n" + where
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"{len(lines)} non-empty stderr lines, expected exactly 1\n" + where
    for needle in case.needles:
        alts = needle if isinstance(needle, tuple) else (needle,)
        assert any(a in lines[0] for a in alts), f"the error line does not name {' / '.join(alts)!r}\n" + where
    for bad in case.forbid:
        assert bad not in r.stdout + r.stderr, f"{bad!r} printed\n" + where


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2(case: Case, tmp_path: Path, assets: dict[str, Path]) -> None:
    """Issue 16: a bad file / config / env var / flag / value is refused with exit 2 (user error) and ONE
    stderr line naming what is wrong (file, setting, env var, flag or value), never a traceback, never a
    multi-line Rich usage box, never accepted silently (nan/inf/negative, misspelt env vars). Rich markup in
    a message (``[/x]``, ``[ib]``) is printed literally. Each case's ``hole`` says what happens today."""
    cwd, data, args, env = _materialise(case, tmp_path, assets)
    r = warden(args, cwd=cwd, data_dir=data, env=env)
    assert_user_error(r, case)


def test_env_typo_suggests_the_right_name(tmp_path: Path, assets: dict[str, Path]) -> None:
    """Issue 16: a misspelt WARDEN_GUARDZ__MAX_LOSS_PER_TRADE=500 is ignored today (the run goes on with the
    default cap). After the fix: exit 2, one line naming the variable and a did-you-mean
    'WARDEN_GUARDS__MAX_LOSS_PER_TRADE'."""
    r = warden(["replay", "--log", str(assets["log"]), "--all"], cwd=tmp_path, data_dir=tmp_path / "data",
               env={"WARDEN_GUARDZ__MAX_LOSS_PER_TRADE": "500"})
    assert r.returncode == 2, f"rc={r.returncode}: the misspelt variable was accepted\n{r.stderr[-1500:]}"
    assert "WARDEN_GUARDZ__MAX_LOSS_PER_TRADE" in r.stderr
    assert "WARDEN_GUARDS__MAX_LOSS_PER_TRADE" in r.stderr, f"no did-you-mean:\n{r.stderr}"


# ------------------------------------------------------------------------------------------------
# behaviour checks


def _replay_json(assets: dict[str, Path], tmp_path: Path) -> list[dict]:
    r = warden(["replay", "--log", str(assets["log"]), "--all", "--json"], cwd=tmp_path, data_dir=tmp_path / "d")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_replay_all_verdict_in_words(tmp_path: Path, assets: dict[str, Path]) -> None:
    """Issue 16: the ``replay --all`` table's verdict column shows ✅ for a blocked order and ❌ for an allowed one,
    which reads backwards to a trader. After the fix each row says "blocked" (with its reason codes) or
    "allowed", and the table has no ✅/❌ marks."""
    docs = _replay_json(assets, tmp_path)
    assert any(d["would_block"] for d in docs) and not all(d["would_block"] for d in docs), "sample log changed"
    r = warden(["replay", "--log", str(assets["log"]), "--all"], cwd=tmp_path, data_dir=tmp_path / "d")
    assert r.returncode == 0, r.stderr
    assert "✅" not in r.stdout and "❌" not in r.stdout, f"check marks in the --all table:\n{r.stdout}"
    rows = [ln for ln in r.stdout.splitlines() if ln.lstrip().startswith(("│", "|"))]
    for d in docs:
        row = next((ln for ln in rows if re.search(rf"(^|[\s│|]){re.escape(d['order_id'])}([\s│|]|$)", ln)), None)
        assert row is not None, f"no row for order {d['order_id']}:\n{r.stdout}"
        if d["would_block"]:
            assert re.search(r"\bblocked\b", row), f"blocked order {d['order_id']} not marked 'blocked': {row}"
            for code in d["reason_codes"]:
                assert code in row, f"reason {code} missing for {d['order_id']}: {row}"
        else:
            assert re.search(r"\ballowed\b", row), f"allowed order {d['order_id']} not marked 'allowed': {row}"


def test_replay_one_order_keeps_seed_wording(tmp_path: Path, assets: dict[str, Path]) -> None:
    """Issue 16 (guard): the one-order verdict line stays the seed's exact text, ``Guardrails would block trade: ✅``
    for a blocked order, followed by ``Reason codes: ...``; rewording the --all table must not touch it."""
    docs = _replay_json(assets, tmp_path)
    blocked = next(d for d in docs if d["would_block"])
    r = warden(["replay", "--log", str(assets["log"]), "--order-id", blocked["order_id"]], cwd=tmp_path,
               data_dir=tmp_path / "d")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "Guardrails would block trade: ✅" in lines, r.stdout
    assert "Reason codes: " + ", ".join(blocked["reason_codes"]) in lines, r.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_run_sigint_summary_says_interrupted(tmp_path: Path, signum: int, code: int) -> None:
    """Issue 16: ``warden run`` (paper) stopped with Ctrl-C prints the normal summary and exits 0, so a script
    cannot tell an interrupted session from a finished one. After the fix: the summary says it was
    interrupted (the word "interrupted" on stdout or stderr), no traceback, exit code 130. SIGTERM (kill, a
    service manager's stop) ends it the same way with exit 143 (before: no summary at all)."""
    data = tmp_path / "data"
    r = warden(["sample-candles", str(tmp_path / "c.csv"), "--bars", "20000"], cwd=tmp_path, data_dir=data)
    assert r.returncode == 0, r.stderr
    err_path = tmp_path / "run.err"
    with err_path.open("w") as err:
        p = subprocess.Popen([sys.executable, "-m", "warden", "run", "--candles", str(tmp_path / "c.csv"),
                              "--advisor", "rule", "--data-dir", str(data)], cwd=tmp_path, env=_env(data),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            t0 = time.monotonic()
            while "bar 1 " not in err_path.read_text() and p.poll() is None and time.monotonic() - t0 < 40:
                time.sleep(0.05)
            assert p.poll() is None, f"the run ended before it could be interrupted:\n{err_path.read_text()}"
            time.sleep(0.3)
            p.send_signal(signum)
            out, _ = p.communicate(timeout=40)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    errtxt = err_path.read_text()
    where = f"rc={p.returncode}\nstdout:\n{out[-2000:]}\nstderr:\n{errtxt[-2000:]}"
    assert "Traceback" not in out + errtxt, where
    assert "session summary" in out, "no summary after Ctrl-C\n" + where
    assert "interrupted" in (out + errtxt).lower(), "the summary does not say it was interrupted\n" + where
    assert p.returncode == code, f"exit code is not {code} after {signal.Signals(signum).name}\n" + where


HELP_PATHS = [[], ["ask"], ["chat"], ["demo"], ["ingest"], ["replay"], ["review"], ["run"], ["sample-log"],
              ["sample-candles"], ["embeddings"], ["embeddings", "fetch"], ["embeddings", "status"], ["risk"],
              ["risk", "status"], ["risk", "reset-peak"], ["risk", "clear-halt"]]


@pytest.mark.parametrize("path", HELP_PATHS, ids=[" ".join(p) or "warden" for p in HELP_PATHS])
def test_help_has_no_bool_placeholder(path: list[str], tmp_path: Path) -> None:
    """Issue 16: every ``--help`` shows a ``<bool>`` metavar next to flags (``--json <bool>``), which reads as if
    the flag takes a value. After the fix no help text contains ``<bool>``."""
    r = warden([*path, "--help"], cwd=tmp_path, data_dir=tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "<bool>" not in r.stdout, f"'<bool>' in `warden {' '.join(path)} --help`:\n{r.stdout}"


USAGE_ERRORS = [["replay", "--log", "x.log", "--all", "--bogus"], ["run", "--nope"], ["risk", "status", "--x"],
                ["nosuchcommand"]]


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=[" ".join(a) for a in USAGE_ERRORS])
def test_usage_error_is_short(args: list[str], tmp_path: Path) -> None:
    """Issue 16: an unknown option/command prints a 5-6 line Rich box (Usage, Try, ╭─ Error ─╮ ...). After the fix:
    exit 2, at most 2 non-empty lines on stderr (e.g. the error and a 'try --help' hint), no box drawing."""
    r = warden(args, cwd=tmp_path, data_dir=tmp_path / "data")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert len(lines) <= 2, f"{len(lines)} stderr lines:\n{r.stderr}"
    assert not any(ch in r.stderr for ch in "╭╰│"), f"a Rich box:\n{r.stderr}"


def test_run_interval_and_calendar_flags(tmp_path: Path) -> None:
    """``--interval`` / ``--calendar`` declare the bar clock instead of inferring it: bad values are one line,
    exit 2, nothing traded; a declared clock equal to the inferred one trades exactly the same."""
    candles = tmp_path / "c.csv"
    candles.write_text(_candles_csv(120))
    for flag, value, named in (("--interval", "5x", "--interval"), ("--interval", "0m", "--interval"),
                               ("--calendar", "mars", "--calendar")):
        r = warden(["run", "--candles", str(candles), "--advisor", "rule", flag, value, "--quiet"], cwd=tmp_path,
                   data_dir=tmp_path / f"bad-{value}")
        assert r.returncode == 2 and named in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    sums = []
    for extra in ([], ["--interval", "1m", "--calendar", "24/7"]):
        r = warden(["run", "--candles", str(candles), "--advisor", "rule", "--json", "--quiet", *extra],
                   cwd=tmp_path, data_dir=tmp_path / ("declared" if extra else "inferred"))
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        sums.append((doc["trades"], doc["pnl_usd"], doc["entries_sent"], doc["blocked_orders"]))
    assert sums[0] == sums[1], sums
