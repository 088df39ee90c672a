"""``warden demo``: build the two synthetic seed bundles and review both (no network, embedded defaults).

Failure contract: an unwritable --out or a bad --approve is a ``UserError`` (exit 2) naming it; a review
that fails is ``ReviewFailed`` (exit 1) naming the cause and the run id to resume.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from warden.commands.review import ReviewProgress, check_out_dir, failure, operator_name, summary_doc
from warden.errors import UserError, diagnostics_to_file
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice
from warden.printer import clean


def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the bundles and the reviews go.", file_okay=False)] =
    Path("warden_demo"),
    data_dir: DataDir = DEFAULT_DATA_DIR,
    llm: LLM = LLMChoice.offline,
    approve: Annotated[str, typer.Option(
        "--approve", metavar="POLICY",
        help="Approval policy per change type, as for `warden review` (TYPE=yes|no|later,..., all, none); "
             "none leaves them pending (resumable). The demo never prompts.")] = "none",
    operator: Annotated[str | None, typer.Option("--operator", help="Who the policy's answers are recorded "
                                                                    "as (default: the OS user).")] = None,
    json_out: Json = False,
) -> None:
    """Build the ES (seed 000) and Polymarket (seed 001) bundles and review both."""
    from rich.console import Console

    from graphs.review_approvals import parse_policy
    from graphs.review_runner import new_run_id, run_review
    from tools.samples.demo_bundles import write_es_bundle, write_polymarket_bundle

    t0 = time.perf_counter()
    out = Path(out)
    try:
        parse_policy(approve)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    who = operator_name(operator)
    check_out_dir(out)
    results = {}
    bundles: dict[str, tuple[Callable[[Path], Path], str]] = {
        "polymarket": (write_polymarket_bundle, "seed 001: Polymarket, 94% drawdown, outcomes never recorded"),
        "es": (write_es_bundle, "seed 000: ES, exit order opened a naked long")}
    for name, (writer, what) in bundles.items():
        try:
            b = writer(out / "bundles" / name)
        except OSError as exc:
            raise UserError(f"--out {out}: cannot write the {name} bundle ({exc.strerror or exc})") from None
        run_id = new_run_id()
        try:
            with diagnostics_to_file(data_dir), ReviewProgress(name, rich=False if json_out else None) as prog:
                res = run_review(b, out / "reviews" / name, data_dir=data_dir, llm=llm.value, approve=approve,
                                 decide=None, progress=prog, run_id=run_id, operator=who)
        except (OSError, ValueError, RuntimeError) as exc:
            raise failure(exc, run_id, data_dir) from exc
        results[name] = (res, what, b)
    total = time.perf_counter() - t0
    if json_out:
        print(json.dumps({"seconds": round(total, 2), "reviews": {k: {**summary_doc(r), "bundle": str(b)}
                                                                  for k, (r, _, b) in results.items()}},
                         indent=2, default=str))
        return
    con = Console()
    con.print(f"[bold]warden demo[/]: 2 bundles built and reviewed in {total:.1f} s", highlight=False)
    for name, (res, what, b) in results.items():
        m = res.final.metrics if res.final else {}
        dd = f"{m.get('max_drawdown_pct')}%" if m.get("max_drawdown_pct") is not None else \
            f"{m.get('max_drawdown_usd')} USD (no account balance)"
        con.print(f"\n[bold]{name}[/] ({what})", highlight=False)
        con.print(f"  bundle: {clean(b)}", highlight=False)
        con.print(f"  {m.get('trades')} trades, {m.get('outcomes_recorded')} outcomes recorded, net PnL "
                  f"{m.get('net_pnl')}, max drawdown {dd}", highlight=False, soft_wrap=True)
        con.print("  root causes: " + ", ".join(rc.code.value for rc in (res.final.root_causes if res.final else [])), highlight=False,
                  soft_wrap=True)
        con.print(f"  report: {clean(res.out / 'INCIDENT_ANALYSIS_FINAL.md')}", highlight=False)
        rec = res.reconstructed or {}
        if rec.get("written"):
            con.print(f"  {rec['written']} reconstructed outcome(s) for the memory: warden ingest "
                      f"{clean(rec['folder'])} --data-dir {clean(data_dir)}", highlight=False, soft_wrap=True)
    for name, (res, _, _) in results.items():
        if res.pending:
            con.print(f"{name}: {len(res.pending)} change(s) pending approval: warden review --resume {res.run_id} "
                      f"--data-dir {clean(data_dir)} (asks on a terminal; or --approve TYPE=yes|no,...)",
                      highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
