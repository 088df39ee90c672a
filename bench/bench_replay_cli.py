"""`warden replay --all` on a generated 120 MB `mytrader` log against `grep -c` on the same file, both
timed as whole commands (process start-up included), best of N, side by side.

Run: ``python bench/bench_replay_cli.py [--mb 120] [--runs 5]``. The log is generated once into
``$TMPDIR/warden-bench/`` (deterministic) and read once before timing, so both commands read from the
page cache. Both commands write to a pipe that this script reads: GNU grep treats output to /dev/null
like ``-q`` and stops at the first match, which would time almost nothing. Runs alternate between the
two commands; the load average is printed before and after (on a shared machine CPU time is the
steadier figure). A sanity line shows what each found: grep's count of "Order filled" lines and the
number of filled orders in replay's JSON.

`warden` runs with Python's bytecode cache, as an installed package has it (pip compiles on install):
the cache goes to ``$TMPDIR/warden-bench/pycache`` (PYTHONPYCACHEPREFIX, nothing is written into the
tree) and an untimed first run fills it. Where PYTHONDONTWRITEBYTECODE is set, every start would
compile the project's modules again; the command is then timed that way too and shown on its own line.

Failure contract: exits non-zero (with one line saying why) if a command fails or the two disagree on
the number of fills; nothing else.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one whole command, and its stdout (read from a pipe)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=env, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"failed (exit {r.returncode}): {' '.join(cmd)}: {r.stderr.decode(errors='replace').strip()[:300]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), r.stdout.decode()


def _warden() -> list[str]:
    """The installed ``warden`` script next to this interpreter (what a user runs), else ``-m warden.cli``."""
    script = Path(sys.executable).with_name("warden")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "warden.cli"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=120)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    from tools.samples.logs import write_mytrader_log

    d = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "warden-bench"
    d.mkdir(parents=True, exist_ok=True)
    log = d / f"mytrader-{a.mb}mb.log"
    if not log.exists():
        write_mytrader_log(log, target_bytes=a.mb << 20, seed=1)
    with open(log, "rb") as fh:                       # warm the page cache
        while fh.read(16 << 20):
            pass
    grep = shutil.which("grep") or "grep"
    replay = [*_warden(), "replay", "--log", str(log), "--all", "--json", "--format", "mytrader"]
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(d / "pycache")
    names = ("grep -c 'Order filled'", "warden replay --all --json")
    cmds = {names[0]: ([grep, "-c", "Order filled", str(log)], dict(os.environ)), names[1]: (replay, cached)}
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        cmds["  same, no bytecode cache"] = (replay, dict(os.environ))
    _run(replay, cached)                               # fills the bytecode cache (untimed)
    load_before = os.getloadavg()[0]
    runs: dict[str, list[tuple[float, float]]] = {n: [] for n in cmds}
    out: dict[str, str] = {}
    for _ in range(a.runs):
        for name, (cmd, env) in cmds.items():
            w, c, out[name] = _run(cmd, env)
            runs[name].append((w, c))
    load_after = os.getloadavg()[0]

    size = log.stat().st_size / 1e6
    best = {n: (min(w for w, _ in r), min(c for _, c in r)) for n, r in runs.items()}
    print(f"{size:.1f} MB log {log}, best of {a.runs} (runs alternate), {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]}")
    for name, (w, c) in best.items():
        med = statistics.median(x for x, _ in runs[name])
        print(f"{name:28s} wall {w:6.3f} s (median {med:6.3f})  cpu {c:6.3f} s  {size / w:7.1f} MB/s wall")
    gw, gc = best[names[0]]
    grep_count = int(out[names[0]].strip())
    docs = json.loads(out[names[1]])
    filled = sum(1 for o in docs if o.get("fill_price") is not None)
    print(f"sanity: grep counted {grep_count} 'Order filled' lines; replay found {filled} filled orders "
          f"(of {len(docs)} orders)")
    for name in list(cmds)[1:]:
        rw, rc = best[name]
        print(f"ratio {name.strip()} / grep: wall {rw / gw:.1f}x, cpu {rc / max(gc, 1e-9):.1f}x on {size:.1f} MB")
    print(f"load average {load_before:.1f} before, {load_after:.1f} after")
    if grep_count != filled:
        sys.exit(f"the commands disagree: {grep_count} 'Order filled' lines but {filled} filled orders")


if __name__ == "__main__":
    main()
