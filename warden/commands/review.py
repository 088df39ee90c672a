"""``warden review``: the multi-team incident review of a bundle, resumable at its approvals.

Approvals: ``--approve`` takes a policy per change type (``risk_parameter=yes,strategy=ask``; ``all``;
``none``), see graphs/review_approvals.py; without it a terminal is asked (the live table pauses first)
and no terminal leaves the changes pending. Every answer is recorded with who (``--operator``, default
the OS user), when and why (``--note``) in findings.json and the final report.

Failure contract: bad input (bundle, --out, --approve, an unknown run id) is a ``UserError`` (exit 2)
naming it; a review that fails part-way is ``ReviewFailed`` (exit 1): one line naming the cause, the
path and the run id to resume (the traceback goes to the error log, warden/cli.py).
"""
from __future__ import annotations

import errno
import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from warden.errors import UserError, diagnostics_to_file
from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice, can_prompt
from warden.preflight import check_model
from warden.printer import clean, console, say
from warden.review_display import TEAM_ORDER, ReviewProgress, ask_terminal

__all__ = ["TEAM_ORDER", "ReviewFailed", "ReviewProgress", "Progress", "review", "summary_doc", "print_summary",
           "operator_name", "check_out_dir", "failure"]

Progress = ReviewProgress      # the name demo.py and older callers import


class ReviewFailed(UserError):
    """The review itself broke (not the user's input): one line here, the traceback in the error log."""

    exit_code = 1


def operator_name(given: str | None) -> str:
    if given is not None:
        if not given.strip():
            raise UserError("--operator must name who answers (it is recorded with every approval)")
        return given.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown user"


def check_out_dir(out: Path, flag: str = "--out") -> None:
    """``out`` is (or can be made) a writable folder; otherwise one line naming it (before any work starts)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{flag} {out} is a file; give a folder for the outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".warden-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"{flag} {out}: cannot write there ({exc.strerror or exc}); choose a writable folder") from None


def failure(exc: BaseException, run_id: str, data_dir: Path) -> ReviewFailed:
    """One line for a review that broke: the cause, the path it concerns, and how to resume this run."""
    path = getattr(exc, "filename", None)
    full = getattr(exc, "errno", None) == errno.ENOSPC
    cause = "the disk is full" if full else f"{type(exc).__name__}: {exc}"
    where = f" ({path})" if path and (full or str(path) not in str(exc)) else ""
    return ReviewFailed(f"review {run_id} failed: {cause}{where}; after fixing it: warden review --resume {run_id} "
                        f"--data-dir {data_dir}")


def summary_doc(res: Any) -> dict[str, Any]:
    fr = res.final
    return {
        "run_id": res.run_id, "status": res.status, "out": str(res.out),
        "root_causes": [rc.code.value for rc in fr.root_causes] if fr else [],
        "metrics": fr.metrics if fr else {},
        "changes": [{"id": r.id, "title": r.title, "change_type": r.change_type.value, "approval": r.approval.value,
                     "status": r.status.value, "approved_by": r.approved_by} for r in fr.changes] if fr else [],
        "pending": [c["id"] for c in res.pending], "timings": res.timings,
        "tracked_tasks": sorted(_tasks(res)),
        "reconstructed_outcomes": res.reconstructed,
        "could_not_run": [n.model_dump() for n in fr.could_not_run] if fr else [],
    }


def _tasks(res: Any) -> dict[str, Any]:
    try:
        doc = json.loads((Path(res.out) / "findings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {t["id"]: t for t in doc.get("tracked_tasks", []) if isinstance(t, dict) and "id" in t}


def print_summary(res: Any, data_dir: Path) -> None:
    con = console()
    fr = res.final
    con.print(f"[bold]review {clean(res.run_id)}[/]: {clean(res.status.replace('_', ' '))}; outputs in "
              f"{clean(res.out)}", soft_wrap=True)
    if fr is not None:
        say("root causes: " + (", ".join(rc.code.value for rc in fr.root_causes) or "none established"))
        m = fr.metrics
        dd = (f"{m['max_drawdown_pct']}%" if m.get("max_drawdown_pct") is not None else
              f"{m.get('max_drawdown_usd')} USD (no account balance)" if m.get("max_drawdown_usd") is not None else
              "n/a")
        halt = m.get("halt_should_have_fired_at") or "n/a"
        say(f"trades {m.get('trades', 'n/a')}, outcomes recorded {m.get('outcomes_recorded', 'n/a')}, reconstructed "
            f"{m.get('outcomes_reconstructed', 'n/a')}, net PnL {m.get('net_pnl', 'n/a')}, max drawdown {dd}, halt "
            f"should have fired at {halt}")
        for n in fr.could_not_run:
            say(f"could not run: {n.analysis}, for lack of {n.lacking}")
        for r in fr.changes:
            if r.approval.value != "none" and r.status.value != "pending_approval":
                say(f"{r.id}: {r.status.value} by {r.approved_by}")
    for tid, t in _tasks(res).items():
        say(f"{tid}: tracked task ({t.get('change_type')}); before approval: " + "; ".join(t.get("preconditions", [])))
    rec = res.reconstructed or {}
    if rec.get("written"):
        say(f"{rec['written']} reconstructed outcome(s) for the memory: warden ingest {rec['folder']} --data-dir "
            f"{data_dir}")
    if res.pending:
        say(f"{len(res.pending)} change(s) pending approval: warden review --resume {res.run_id} --data-dir {data_dir} "
            "(on a terminal it asks; or --approve TYPE=yes|no,...)")


def review(
    bundle: Annotated[Path | None, typer.Argument(help="Incident bundle folder (or a single bot log).",
                                                  show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where the report, CSVs and plots go.",
                                             file_okay=False)] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    llm: LLM = LLMChoice.offline,
    approve: Annotated[str | None, typer.Option(
        "--approve", metavar="POLICY",
        help="Approval policy per change type: TYPE=yes|no|ask|later,... (types: code_bug_fix, risk_parameter, "
             "strategy, model, architecture; * for all), or all / none. A flag approves only changes that need a "
             "user's approval alone; those needing a backtest, an A/B test or a design review become tracked tasks. "
             "With --resume, none rejects. Without it a terminal is asked; no terminal = pending.")] = None,
    operator: Annotated[str | None, typer.Option(
        "--operator", metavar="NAME", help="Who answers the approvals (recorded with each; default: the OS user).")] = None,
    note: Annotated[str, typer.Option("--note", metavar="WHY", help="Why: recorded with the answers --approve gives.")] = "",
    resume: Annotated[str | None, typer.Option("--resume", metavar="RUN_ID",
                                               help="Continue a stored review (stopped at its approvals or by an "
                                                    "error).")] = None,
    resolve_api: Annotated[str | None, typer.Option(
        "--resolve-api", help="Polymarket gamma host for markets no log or candle resolves (network; off by "
                              "default), e.g. https://gamma-api.polymarket.com")] = None,
    json_out: Json = False,
) -> None:
    """Review an incident bundle with the seven teams and write the final report."""
    from graphs.review_approvals import parse_policy
    from tools.logs.bundle import BundleError, load_bundle

    try:
        parse_policy(approve)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    who = operator_name(operator)
    if resume is None:
        if bundle is None:
            raise UserError("give a bundle folder (or --resume RUN_ID)")
        if out is None:
            raise UserError("--out DIR is required: where the report goes")
        try:
            load_bundle(bundle)          # fail fast, before the heavy imports, with one clear line
        except BundleError as exc:
            raise UserError(str(exc)) from None
        check_out_dir(out)
        if llm is not LLMChoice.offline:     # one cheap call before seven teams wait on a model that cannot answer
            from trading.settings import load_settings

            check_model(load_settings(data_dir=data_dir), llm)
    elif bundle is not None:
        raise UserError("--resume continues a stored run; do not pass a bundle with it")
    from graphs.review_runner import (
        ReviewIncomplete,
        ReviewSetupError,
        RunNotFound,
        new_run_id,
        resume_review,
        run_review,
    )
    from warden.progress import FileProgress

    run_id = resume or new_run_id()
    interactive = approve is None and can_prompt() and not json_out
    with diagnostics_to_file(data_dir), \
            ReviewProgress(resume or (bundle.name if bundle else run_id), rich=False if json_out else None,
                           lazy=resume is not None) as prog:
        decide = (lambda pending: ask_terminal(pending, who, prog)) if interactive else None
        try:
            if resume:
                res = resume_review(resume, data_dir=data_dir, approve=approve, decide=decide, progress=prog,
                                    operator=who, why=note)
            else:
                assert bundle is not None and out is not None
                logs = list(load_bundle(bundle).logs.values())
                with FileProgress(logs, f"review {bundle.name}"):
                    res = run_review(bundle, out, data_dir=data_dir, llm=llm.value, approve=approve, decide=decide,
                                     progress=prog, api=resolve_api, run_id=run_id, operator=who, why=note)
        except (BundleError, ReviewSetupError) as exc:
            raise UserError(str(exc)) from None
        except RunNotFound as exc:
            raise UserError(f"--resume {exc.args[0]}: no stored review run of that id under {data_dir}/review "
                            f"(check the id, or --data-dir)") from None
        except (OSError, ValueError, RuntimeError, ReviewIncomplete) as exc:
            raise failure(exc, run_id, data_dir) from exc
    if json_out:
        print(json.dumps(summary_doc(res), indent=2, default=str))
    else:
        print_summary(res, data_dir)


def register(app: typer.Typer) -> None:
    app.command("review")(review)
