"""Approvals of an incident review: the per-change-type policy, the answers' record, tracked tasks.

The approval a change needs comes from its tool-assigned change type (tools/review/report.py
``APPROVAL_FOR``, types set by agents/review/catalogue.py); nothing here changes a type. A policy maps a
change type to ``yes`` | ``no`` | ``ask`` | ``later`` (``--approve risk_parameter=yes,strategy=ask``;
``all`` = yes for every type, ``none`` = later). A flag can approve only a change that needs a user's
approval and nothing else: a change that needs a backtest, an A/B test or a design review is not
approved by a flag; it becomes a tracked task listing its preconditions and stays pending, so a person
can approve it later (``warden review --resume RUN_ID`` on a terminal). Every answer is recorded with
who (``by``), when (``at``, ISO 8601 UTC) and why; ``record_outputs`` writes them into findings.json
and the final report.

Failure contract: ``parse_policy`` raises ``ValueError`` naming the bad item and the valid choices;
``record_outputs`` raises ``OSError`` when the outputs cannot be written (atomic writes: an old file
stays whole). Nothing here raises for the content of a change.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.review.report import Approval, ChangeType
from trading.records.atomic import atomic_write_bytes, atomic_write_json

ANSWERS = ("yes", "no", "ask", "later")
TYPES = tuple(t.value for t in ChangeType)
FLAG_APPROVABLE = {Approval.user_approval.value}     # what a flag alone may approve

PRECONDITIONS: dict[str, list[str]] = {
    Approval.user_approval_and_backtest.value: [
        "backtest the change over the incident period and an out-of-sample period; it must not worsen drawdown "
        "or loss streaks",
        "a person approves it after reading the backtest (warden review --resume RUN_ID on a terminal)"],
    Approval.user_approval_and_ab_test.value: [
        "A/B (shadow) test the new model against the current one on recent resolved outcomes",
        "a person approves it after reading the test (warden review --resume RUN_ID on a terminal)"],
    Approval.full_design_review.value: [
        "a design review of the proposal with the owners of the bot and of its order path",
        "a person approves it after the review (warden review --resume RUN_ID on a terminal)"],
}

WHAT_APPROVING_DOES = ("approving records your decision (who, when, why) in findings.json and the final report; "
                       "it changes no code and no setting: the change becomes a task to implement")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse_policy(spec: str | None) -> dict[str, str] | None:
    """``"all"`` | ``"none"`` | ``"type=answer,..."`` (``*`` for every type) -> {change type: answer}."""
    if spec is None:
        return None
    spec = spec.strip()
    if spec in ("all", "none"):
        return dict.fromkeys(TYPES, "yes" if spec == "all" else "later")
    policy: dict[str, str] = {}
    for item in (p.strip() for p in spec.split(",")):
        kind, eq, answer = item.partition("=")
        kind, answer = kind.strip(), answer.strip().lower()
        if not eq or not kind:
            raise ValueError(f"--approve item {item!r} is not TYPE=ANSWER (e.g. risk_parameter=yes), 'all' or 'none'")
        if kind != "*" and kind not in TYPES:
            raise ValueError(f"--approve: unknown change type {kind!r} (types: {', '.join(TYPES)}, or *)")
        if answer not in ANSWERS:
            raise ValueError(f"--approve {kind}={answer}: the answer must be one of {', '.join(ANSWERS)}")
        if kind == "*":
            policy.update({t: answer for t in TYPES if t not in policy})
        else:
            policy[kind] = answer
    return policy


def preconditions(change: Mapping[str, Any]) -> list[str]:
    return list(PRECONDITIONS.get(str(change.get("approval")), []))


def flag_can_approve(change: Mapping[str, Any]) -> bool:
    return str(change.get("approval")) in FLAG_APPROVABLE


Decide = Callable[[list[dict[str, Any]]], Mapping[str, Any]]


def answers_for(pending: list[dict[str, Any]], policy: Mapping[str, str] | None, decide: Decide | None, *,
                operator: str, why: str = "", reject_later: bool = False) -> dict[str, Any] | None:
    """The resume answer {id: {status, by, at, why[, preconditions]}} for ``pending``, or None (ask nobody).

    ``policy`` None: every change is asked through ``decide`` (a person); without ``decide`` nothing is answered.
    ``reject_later``: ``later`` rejects instead (the legacy ``--resume --approve none``)."""
    if policy is None and decide is None:
        return None
    at = now_iso()
    out: dict[str, Any] = {}
    ask: list[dict[str, Any]] = []
    for ch in pending:
        ans = "ask" if policy is None else policy.get(str(ch.get("change_type")), "later")
        rule = f"--approve {ch.get('change_type')}={ans}"
        if ans == "ask":
            ask.append(ch)
        elif ans == "no" or (ans == "later" and reject_later):
            out[ch["id"]] = {"status": "rejected", "by": operator, "at": at, "why": why or f"policy {rule}"}
        elif ans == "yes" and flag_can_approve(ch):
            out[ch["id"]] = {"status": "approved", "by": operator, "at": at, "why": why or f"policy {rule}"}
        elif ans == "yes":
            out[ch["id"]] = {"status": "tracked_task", "by": operator, "at": at, "preconditions": preconditions(ch),
                             "why": f"{rule}: a flag cannot approve a change that needs {ch.get('approval')}"}
    if ask and decide is not None:
        for cid, v in dict(decide(ask)).items():
            out[cid] = v if isinstance(v, Mapping) else {"status": str(v), "by": operator, "at": at}
    return out or None


def split_answer(answer: Any, pending: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A resume answer -> (decisions {id: record} for approved/rejected, tracked tasks {id: record})."""
    if not isinstance(answer, Mapping):
        answer = {"*": answer}
    decisions: dict[str, Any] = {}
    tasks: dict[str, Any] = {}
    for ch in pending:
        v = answer.get(ch["id"], answer.get("*"))
        rec = dict(v) if isinstance(v, Mapping) else {"status": str(v or "")}
        status = str(rec.get("status", ""))
        clean = {"status": status, "by": str(rec.get("by") or "user"), "at": str(rec.get("at") or now_iso()),
                 "why": str(rec.get("why") or "")}
        if status in ("approved", "rejected"):
            decisions[ch["id"]] = clean
        elif status == "tracked_task":
            tasks[ch["id"]] = {**clean, "title": ch.get("title", ""), "change_type": ch.get("change_type", ""),
                               "approval": ch.get("approval", ""),
                               "preconditions": list(rec.get("preconditions") or preconditions(ch))}
    return decisions, tasks


# ------------------------------------------------------------------------------------------------
# outputs


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def approvals_markdown(changes: list[Mapping[str, Any]], decisions: Mapping[str, Any], tasks: Mapping[str, Any],
                       run_id: str) -> str:
    needing = [c for c in changes if c.get("approval") != Approval.none.value]
    lines = ["", "## Approvals", ""]
    if not needing:
        return "\n".join([*lines, "No change needs an approval.", ""])
    lines += ["| change | type | needs | status | by | when | why |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in needing:
        d = decisions.get(c["id"]) or tasks.get(c["id"]) or {}
        status = "pending approval" if not d else "tracked task" if c["id"] not in decisions else d.get("status")
        lines.append(f"| {_md(c['id'])} | {_md(c.get('change_type'))} | {_md(c.get('approval'))} | {_md(status)} | "
                     f"{_md(d.get('by', '-'))} | {_md(d.get('at', '-'))} | {_md(d.get('why', '') or '-')} |")
    open_tasks = [c for c in needing if c["id"] in tasks and c["id"] not in decisions]
    if open_tasks:
        lines += ["", "### Tracked tasks (need more than an approval)", ""]
        for c in open_tasks:
            t = tasks[c["id"]]
            lines.append(f"- **{_md(c['id'])} {_md(c.get('title'))}** ({_md(c.get('change_type'))}), recorded by "
                         f"{_md(t.get('by'))} at {_md(t.get('at'))}; before it can be approved:")
            lines += [f"  - {_md(p.replace('RUN_ID', run_id))}" for p in t.get("preconditions", [])]
    pending = [c for c in needing if c["id"] not in decisions]
    if pending:
        lines += ["", f"Still pending: {len(pending)}. Answer on a terminal with `warden review --resume {run_id}`."]
    return "\n".join([*lines, ""])


def record_outputs(out: Path, run_id: str, decisions: Mapping[str, Any], tasks: Mapping[str, Any]) -> None:
    """Add who/when/why of every answer and the tracked tasks to findings.json and the final report."""
    fpath = Path(out) / "findings.json"
    doc = json.loads(fpath.read_text(encoding="utf-8"))
    recs = doc.get("recommendations", [])
    for r in recs:
        d = decisions.get(r.get("id"))
        t = tasks.get(r.get("id"))
        if d:
            r.update({"decided_by": d.get("by", ""), "decided_at": d.get("at", ""), "decision_reason": d.get("why", "")})
        if r.get("approval") not in (None, Approval.none.value):
            r["what_approving_does"] = WHAT_APPROVING_DOES
        if t and not d:
            r.update({"tracked_task": True, "preconditions": [p.replace("RUN_ID", run_id) for p in t["preconditions"]],
                      "task_recorded_by": t.get("by", ""), "task_recorded_at": t.get("at", "")})
    doc["approvals"] = [{"id": cid, **d} for cid, d in decisions.items()]
    doc["tracked_tasks"] = [{"id": cid, **t, "preconditions": [p.replace("RUN_ID", run_id) for p in t["preconditions"]]}
                            for cid, t in tasks.items() if cid not in decisions]
    atomic_write_json(fpath, doc)
    rpath = Path(out) / "INCIDENT_ANALYSIS_FINAL.md"
    text = rpath.read_text(encoding="utf-8")
    marker = "\n## Approvals\n"
    if marker in text:
        text = text[: text.index(marker)].rstrip("\n") + "\n"
    atomic_write_bytes(rpath, (text + approvals_markdown(recs, decisions, tasks, run_id)).encode())
