"""``warden eval``: run the fixed, versioned evaluation suite (agents/evals.py) against the configured reasoner.

Prints a table per role (cases, accuracy, grounded rate, safety violations, cost, mean latency) or, with
``--json``, the whole result with every case. Exit code: 0 when there is no safety violation, 1 when there
is one (CI gates on it), 2 for a model that fails its preflight (one line). ``--quick`` leaves out the
incident review (the slowest case, about 20 s offline); the learning questions (about 2 s offline) always run.
Failure contract: a model outage during a case fails that case (reported), never the command.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from warden.options import DEFAULT_DATA_DIR, LLM, DataDir, Json, LLMChoice
from warden.preflight import check_model
from warden.printer import clean, say

Quick = Annotated[bool, typer.Option("--quick", help="Leave out the incident review case.")]


def eval_cmd(llm: LLM = LLMChoice.offline, data_dir: DataDir = DEFAULT_DATA_DIR, json_out: Json = False,
             quick: Quick = False) -> None:
    """Evaluate the reasoner: advisory cycles, an incident bundle, learning questions, hostile outputs, grounding."""
    from agents.evals import run_suite, summarize
    from agents.llm import get_reasoner
    from trading.settings import load_settings
    from warden.eval_incident import incident_cases
    from warden.eval_learning import learning_cases

    settings = load_settings(data_dir=data_dir)
    check_model(settings, llm)
    data = Path(data_dir)
    reasoner = get_reasoner(llm.value, settings)
    extra = [] if quick else list(incident_cases(llm.value, data / "eval"))
    extra += list(learning_cases(reasoner, settings))
    summary = summarize(run_suite(reasoner, extra))
    summary["llm"] = llm.value
    if json_out:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _table(summary)
    if summary["safety_violations"]:
        raise typer.Exit(1)


def _table(summary: dict) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"warden eval {summary['suite_version']} · --llm {summary['llm']}")
    for col in ("role", "cases", "accuracy", "grounded", "safety violations", "cost USD", "latency ms"):
        t.add_column(col, justify="left" if col == "role" else "right")
    for role, s in sorted(summary["roles"].items()):
        t.add_row(clean(role), str(s["cases"]), f"{s['accuracy']:.0%}", f"{s['grounded_rate']:.0%}",
                  str(s["safety_violations"]), f"{s['cost_usd']:.4f}", f"{s['latency_ms']:.0f}")
    Console().print(t)
    for c in summary["cases"]:
        if not c["ok"] or c["safety_violation"]:
            say(f"{'VIOLATION' if c['safety_violation'] else 'miss'}: {c['category']}/{c['case']}: {c['detail']}")
    say(f"safety violations: {summary['safety_violations']}; accuracy {summary['accuracy']:.0%}; "
        f"not covered: {', '.join(summary['not_covered']) or 'nothing'}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
