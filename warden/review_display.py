"""What ``warden review`` (and ``warden demo``) show while a review runs, and the approval questions.

``ReviewProgress`` is the per-step progress: a live Rich table on a terminal (stderr), plain lines
otherwise; both give steps done / total, the percentage, the rate and the time left. ``ask_terminal``
pauses the live table before it asks anything (so the question is never drawn over), shows each change
with its type, what it needs, its evidence and what approving does, and reads one line per change:
``y`` / ``n`` / ``later`` optionally followed by the reason (``y tested on paper``). Who answered is the
operator; when is the ISO time of the answer.

Failure contract: untrusted text (titles, evidence, log lines) is escaped by warden.printer; end of input
(Ctrl-D) leaves the remaining changes pending; it never raises for a change's content.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from graphs.review_approvals import now_iso
from warden.printer import clean, console, plain_stderr

TEAM_ORDER = ("forensics", "econophysics", "ml_strategy", "risk", "software", "strategy", "sre", "synthesis",
              "report", "approvals")
STEPS = len(TEAM_ORDER) - 1          # approvals counts only when a run stops there


def step_horizon(done: int, total: int, elapsed: float) -> str:
    line = f"{done}/{total} steps ({100 * done // max(total, 1)}%), {elapsed:.1f} s elapsed"
    if 0 < done < total:
        rate = done / elapsed if elapsed > 0 else 0.0
        line += f", {rate:.2f} steps/s, ~{(total - done) / rate:.0f} s left" if rate > 0 else ""
    return line


class ReviewProgress:
    """Per-step progress of one review (see the module docstring)."""

    def __init__(self, label: str, rich: bool | None = None, lazy: bool = False) -> None:
        self.label = label
        self.lazy = lazy             # a resumed run: its teams ran before; draw once a step reports (it may ask first)
        self.rich = sys.stderr.isatty() if rich is None else rich
        self.state: dict[str, tuple[str, float | None]] = {}
        if lazy:
            self.state.update({n: ("done", None) for n in TEAM_ORDER[:-2]})
        self.live: Any = None
        self.t0 = time.perf_counter()

    def __enter__(self) -> ReviewProgress:
        if not self.lazy:
            self.resume()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pause()

    def resume(self) -> None:
        if self.rich and self.live is None:
            from rich.live import Live

            self.live = Live(self._table(), console=console(stderr=True), refresh_per_second=8, transient=False)
            self.live.start()

    def pause(self) -> None:
        """Stop drawing (the last table stays on screen) so a prompt can be seen and answered."""
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()
            self.live = None

    def done_steps(self) -> int:
        return sum(1 for n in TEAM_ORDER[:-1] if self.state.get(n, ("",))[0] == "done")

    def _table(self) -> Any:
        from rich.table import Table

        t = Table(title=f"review {clean(self.label)}: {step_horizon(self.done_steps(), STEPS, self.elapsed())}",
                  show_header=True, header_style="bold", min_width=72)
        t.add_column("team / step")
        t.add_column("status")
        t.add_column("seconds", justify="right")
        marks = {"start": "[yellow]running[/]", "done": "[green]done[/]", "error": "[red]error[/]",
                 "interrupt": "[cyan]awaiting approval[/]"}
        for name in TEAM_ORDER:
            st, secs = self.state.get(name, ("waiting", None))
            t.add_row(name, marks.get(st, "[dim]waiting[/]"), "" if secs is None else f"{secs:.2f}")
        return t

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def __call__(self, event: str, node: str, info: Mapping[str, Any]) -> None:
        self.state[node] = (event, info.get("seconds"))
        if self.lazy and self.live is None:
            self.resume()
        if self.live is not None:
            self.live.update(self._table())
            return
        if self.rich:
            return
        if event == "start":
            what = "started"
        elif event == "error":
            what = f"ERROR {info.get('error')}"
        elif event == "interrupt":
            what = "waiting for approval"
        else:
            what = f"done in {info.get('seconds') or 0:.2f} s"
        tail = "" if event == "start" else f" | {step_horizon(self.done_steps(), STEPS, self.elapsed())}"
        plain_stderr(f"[review {self.label}] {node}: {what}{tail}")


def _show(con: Any, ch: Mapping[str, Any], i: int, n: int) -> None:
    con.print(f"\n[bold]change {i} of {n}: {clean(ch['id'])}[/]  {clean(ch['title'])}", soft_wrap=True)
    con.print(f"  type: [bold]{clean(ch['change_type'])}[/]; needs: {clean(ch['approval'])}"
              + (f"; priority {clean(ch['priority'])}" if ch.get("priority") else ""), soft_wrap=True)
    con.print(f"  change: {clean(ch.get('detail', ''))}", soft_wrap=True)
    if ch.get("expected_impact"):
        con.print(f"  expected impact: {clean(ch['expected_impact'])}", soft_wrap=True)
    for e in ch.get("evidence", [])[:6]:
        con.print(f"  evidence: {clean(e)}", soft_wrap=True)
    for p in ch.get("preconditions", []):
        con.print(f"  before deploying: {clean(p)}", soft_wrap=True)
    con.print(f"  [dim]{clean(ch.get('what_approving_does', ''))}[/]", soft_wrap=True)


def ask_terminal(pending: list[dict[str, Any]], operator: str, progress: ReviewProgress | None = None) -> dict[str, Any]:
    """Ask about each change: approve (y), reject (n) or decide later (stays pending), with an optional reason."""
    if progress is not None:
        progress.pause()
    con = console(stderr=True)
    con.print(f"\n[bold]{len(pending)} change(s) need your approval[/] (answering as {clean(operator)}; "
              "--operator changes the name)", soft_wrap=True)
    answers: dict[str, Any] = {}
    for i, ch in enumerate(pending, 1):
        _show(con, ch, i, len(pending))
        while True:
            try:
                line = con.input("  approve? [bold]y[/] / [bold]n[/] / [bold]later[/] (a reason may follow, "
                                 "e.g. 'y checked on paper') \\[later]: ").strip()
            except EOFError:
                con.print("\n  end of input: the remaining changes stay pending")
                if progress is not None:
                    progress.resume()
                return answers
            word, _, why = line.partition(" ")
            word = word.lower() or "later"
            if word in ("y", "yes", "n", "no", "later", "l"):
                break
            con.print(f"  [red]{clean(word)!s} is not an answer:[/] type y, n or later")
        if word in ("y", "yes", "n", "no"):
            status = "approved" if word.startswith("y") else "rejected"
            answers[ch["id"]] = {"status": status, "by": operator, "at": now_iso(),
                                 "why": why.strip() or f"{status} at the terminal"}
            con.print(f"  recorded: {status} by {clean(operator)} at {answers[ch['id']]['at']}", soft_wrap=True)
        else:
            con.print("  left pending", soft_wrap=True)
    if progress is not None:
        progress.resume()
    return answers
