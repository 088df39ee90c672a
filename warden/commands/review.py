"""``warden review``: the multi-team incident review of a bundle (seed 001), resumable at its approvals.

Failure contract: bad input or an unknown run id is a ``UserError`` (exit 2); a review that fails
part-way is ``ReviewFailed`` (exit 1) naming how to resume it.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice, can_prompt

TEAM_ORDER = ("forensics", "econophysics", "ml_strategy", "risk", "software", "strategy", "sre", "synthesis",
              "report", "approvals")


class ReviewFailed(UserError):
    """The review itself broke (not the user's input): one line here, the traceback in the log."""

    exit_code = 1


class ApproveChoice(StrEnum):
    none = "none"
    all = "all"


class Progress:
    """Per-team progress: a live Rich table on a terminal, plain lines otherwise (both on stderr)."""

    def __init__(self, label: str, rich: bool | None = None) -> None:
        self.label = label
        self.rich = sys.stderr.isatty() if rich is None else rich
        self.state: dict[str, tuple[str, float | None]] = {}
        self.live: Any = None
        self.t0 = time.perf_counter()

    def __enter__(self) -> Progress:
        if self.rich:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._table(), console=Console(stderr=True), refresh_per_second=8, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.__exit__(*exc)

    def _table(self) -> Any:
        from rich.table import Table

        t = Table(title=f"review {self.label}", show_header=True, header_style="bold")
        t.add_column("team / step")
        t.add_column("status")
        t.add_column("seconds", justify="right")
        marks = {"start": "[yellow]running[/]", "done": "[green]done[/]", "error": "[red]error[/]",
                 "interrupt": "[cyan]awaiting approval[/]"}
        for name in TEAM_ORDER:
            st, secs = self.state.get(name, ("waiting", None))
            t.add_row(name, marks.get(st, "[dim]waiting[/]"), "" if secs is None else f"{secs:.2f}")
        return t

    def __call__(self, event: str, node: str, info: Mapping[str, Any]) -> None:
        self.state[node] = (event, info.get("seconds"))
        if self.live is not None:
            self.live.update(self._table())
            return
        if event == "start":
            line = f"[review {self.label}] {node}: started"
        elif event == "error":
            line = f"[review {self.label}] {node}: ERROR {info.get('error')}"
        elif event == "interrupt":
            line = f"[review {self.label}] {node}: waiting for approval"
        else:
            line = f"[review {self.label}] {node}: done in {info.get('seconds', 0):.2f} s"
        print(line, file=sys.stderr, flush=True)


def ask_terminal(pending: list[dict[str, Any]]) -> dict[str, Any]:
    """Ask about each change needing approval: approve, reject or decide later (stays pending)."""
    from rich.console import Console
    from rich.prompt import Prompt

    con = Console(stderr=True)
    answers: dict[str, Any] = {}
    con.print(f"[bold]{len(pending)} change(s) need approval[/] (seed 001 decision framework)")
    for ch in pending:
        con.print(f"\n[bold]{ch['id']}[/] {ch['title']}  [dim]({ch['change_type']}; needs {ch['approval']})[/]")
        con.print(f"  {ch['detail']}", highlight=False)
        a = Prompt.ask("  approve?", choices=["y", "n", "later"], default="later", console=con)
        if a in ("y", "n"):
            answers[ch["id"]] = {"status": "approved" if a == "y" else "rejected", "by": "user (terminal)"}
    return answers


def summary_doc(res: Any) -> dict[str, Any]:
    fr = res.final
    return {
        "run_id": res.run_id, "status": res.status, "out": str(res.out),
        "root_causes": [rc.code.value for rc in fr.root_causes] if fr else [],
        "metrics": fr.metrics if fr else {},
        "changes": [{"id": r.id, "title": r.title, "change_type": r.change_type.value, "approval": r.approval.value,
                     "status": r.status.value} for r in fr.changes] if fr else [],
        "pending": [c["id"] for c in res.pending], "timings": res.timings,
        "could_not_run": [n.model_dump() for n in fr.could_not_run] if fr else [],
    }


def print_summary(res: Any, data_dir: Path) -> None:
    from rich.console import Console

    con = Console()
    fr = res.final
    con.print(f"[bold]review {res.run_id}[/]: {res.status}; outputs in {res.out}", highlight=False, soft_wrap=True)
    if fr is not None:
        codes = ", ".join(rc.code.value for rc in fr.root_causes) or "none established"
        con.print(f"root causes: {codes}", highlight=False, soft_wrap=True)
        m = fr.metrics
        dd = (f"{m['max_drawdown_pct']}%" if m.get("max_drawdown_pct") is not None else
              f"{m.get('max_drawdown_usd')} USD (no account balance)")
        halt = m.get("halt_should_have_fired_at") or "n/a"
        con.print(f"trades {m.get('trades')}, outcomes recorded {m.get('outcomes_recorded')}, reconstructed "
                  f"{m.get('outcomes_reconstructed')}, net PnL {m.get('net_pnl')}, max drawdown {dd}, halt should "
                  f"have fired at {halt}", highlight=False, soft_wrap=True)
        for n in fr.could_not_run:
            con.print(f"could not run: {n.analysis}, for lack of {n.lacking}", highlight=False, soft_wrap=True)
    if res.pending:
        con.print(f"{len(res.pending)} change(s) pending approval: "
                  f"warden review --resume {res.run_id} --approve all|none --data-dir {data_dir}", highlight=False,
                  soft_wrap=True)


def review(
    bundle: Annotated[Path | None, typer.Argument(help="Incident bundle folder (or a single bot log).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where the report, CSVs and plots go.",
                                             file_okay=False)] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    llm: LLM = LLMChoice.offline,
    approve: Annotated[ApproveChoice | None, typer.Option(
        "--approve", help="Changes needing approval: all = approve them; none = leave them pending_approval "
                          "(with --resume: reject them). Without it a terminal is asked; no terminal = pending.")] = None,
    resume: Annotated[str | None, typer.Option("--resume", metavar="RUN_ID",
                                               help="Continue a review stopped at its approval step.")] = None,
    resolve_api: Annotated[str | None, typer.Option(
        "--resolve-api", help="Polymarket gamma host for markets no log or candle resolves (network; off by "
                              "default), e.g. https://gamma-api.polymarket.com")] = None,
    json_out: Json = False,
) -> None:
    """Review an incident bundle with the seven teams and write the final report."""
    from tools.logs.bundle import BundleError, load_bundle

    if resume is None:
        if bundle is None:
            raise UserError("give a bundle folder (or --resume RUN_ID)")
        if out is None:
            raise UserError("--out DIR is required: where the report goes")
        try:
            load_bundle(bundle)          # fail fast, before the heavy imports, with one clear line
        except BundleError as exc:
            raise UserError(str(exc)) from None
    from graphs.review_runner import ReviewSetupError, RunNotFound, resume_review, run_review

    decide = ask_terminal if (approve is None and can_prompt() and not json_out) else None
    try:
        if resume:
            if bundle is not None:
                raise UserError("--resume continues a stored run; do not pass a bundle with it")
            with Progress(resume, rich=False if json_out else None) as prog:
                res = resume_review(resume, data_dir=data_dir, approve=approve.value if approve else None,
                                    decide=decide, progress=prog)
        else:
            assert bundle is not None and out is not None
            with Progress(bundle.name, rich=False if json_out else None) as prog:
                res = run_review(bundle, out, data_dir=data_dir, llm=llm.value,
                                 approve=approve.value if approve else None, decide=decide, progress=prog,
                                 api=resolve_api)
    except (BundleError, ReviewSetupError) as exc:
        raise UserError(str(exc)) from None
    except RunNotFound as exc:
        raise UserError(f"no stored review run {exc.args[0]!r} under {data_dir} (see {data_dir}/review)") from None
    except (OSError, ValueError, RuntimeError) as exc:
        logging.getLogger(__name__).exception("review failed")
        raise ReviewFailed(f"review failed: {type(exc).__name__}: {exc} (resumable: warden review --resume RUN_ID "
                           f"after fixing the cause; runs are under {data_dir}/review)") from None
    if json_out:
        print(json.dumps(summary_doc(res), indent=2, default=str))
    else:
        print_summary(res, data_dir)


def register(app: typer.Typer) -> None:
    app.command("review")(review)
