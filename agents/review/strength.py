"""Evidence strength on a team's statements: each finding and answer carries its sample size and label.

A policy states a claim's evidence with ``last(b, claim)`` right after ``b.fact``/``b.hypothesis``/
``b.answer`` (the claim dict comes from ``tools.review.stats``); ``finish`` then labels every statement
still without one: a fact read straight from the records is a tally (``confirmed``, n = the records it
counts), a hypothesis or an unknown answer is ``inconclusive``. A fact that rests on a test never gets
the tally default: the policy must pass its claim.

Failure contract: pure functions over pydantic models; never raise on a claim without a test name.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.review.base import ReportBuilder
from tools.review.report import Answer, Finding, TeamReport


def _upd(c: Mapping[str, Any]) -> dict[str, Any]:
    return {"n": int(c["n"]), "strength": c["strength"], "test": str(c.get("test") or "")}


def last(b: ReportBuilder, claim: Mapping[str, Any], on: str = "finding") -> None:
    """Attach ``claim`` (n, strength, test) to the builder's last finding (or last answer)."""
    if on == "finding":
        b.findings[-1] = b.findings[-1].model_copy(update=_upd(claim))
    else:
        b.answers[-1] = b.answers[-1].model_copy(update=_upd(claim))


def _default(kind: str, n: int, what: str) -> dict[str, Any]:
    if kind == "fact":
        return {"n": n, "strength": "confirmed", "test": f"tally of {n} {what}"}
    return {"n": n, "strength": "inconclusive", "test": "not tested" if kind == "hypothesis" else "no data"}


def finish(rep: TeamReport, n: int, what: str) -> TeamReport:
    """Label every finding and answer that has no claim yet (see the module doc)."""
    fs: list[Finding] = [f if f.strength else f.model_copy(update=_default(f.kind, n, what)) for f in rep.findings]
    ans: list[Answer] = [a if a.strength else a.model_copy(update=_default(a.kind, n, what)) for a in rep.answers]
    return rep.model_copy(update={"findings": fs, "answers": ans})
