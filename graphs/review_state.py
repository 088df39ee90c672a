"""Typed state of the incident-review graph: JSON values and paths only, so any checkpointer can store it.

The forensic reconstruction is too large (and too rich in types) for the state: the forensics node
writes it with graphs/review_store.py under the run's work folder (``work_dir``) and the state carries
its path (``forensics_path``); each node that needs it loads it from there. Team reports travel as
dicts. Failure contract: nothing here raises; these are types, a reducer and a path rule.
"""
from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict


def merge(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer for dict channels written by parallel nodes: later keys win."""
    return {**(a or {}), **(b or {})}


class ReviewState(TypedDict, total=False):
    run_id: str
    bundle: str
    out: str
    data_dir: str
    llm: str
    api: str | None
    kind: str
    zone: str
    forensics_path: str            # the reconstruction on disk (graphs/review_store.py), read by the teams
    team_reports: Annotated[list[dict[str, Any]], operator.add]
    final: dict[str, Any]
    decisions: Annotated[dict[str, Any], merge]     # {change id: {status, by, at, why}} (approved / rejected)
    tasks: Annotated[dict[str, Any], merge]         # {change id: tracked task with its preconditions}
    timings: Annotated[dict[str, Any], merge]
    written: list[str]
    reconstructed: dict[str, Any]   # {folder, written, skipped}: outcome JSON for `warden ingest` (review_outcomes.py)


class TeamInput(TypedDict):
    run_id: str
    bundle: str
    out: str
    data_dir: str
    llm: str
    forensics_path: str
    team: str


def work_dir(data_dir: str | Path, run_id: str) -> Path:
    """The run's working folder (its reconstruction file lives here until the report is written)."""
    return Path(data_dir) / "review" / run_id
