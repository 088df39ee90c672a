"""Models choose, tools own: what a model's review answer may change, as an explicit typed subset.

The tools (through the team's offline policy over the same evidence) build every list: findings,
answers, recommendations, the final report's contributing factors, changes and implementation plan.
A model's answer is merged into that tool-built report, never the other way round:

- it may **rank** items (its order of ids/questions is kept for the items it names; the items it omits
  follow in the tools' order, so no tool item is ever dropped) and **phrase** their text (a finding's
  statement, an answer, a recommendation's detail and expected impact, the summary);
- it may **not** add an item (an unknown id is dropped), change an id, a title of a change, a change
  type, a priority, what a change addresses, an approval or a status (approval policy is recomputed by
  the ``Recommendation`` validator from the tool-assigned change type), a root cause, a metric, a table
  or the implementation plan;
- each phrased text must pass the grounding check (agents/grounding.py) and must not contradict the
  tool-owned findings ("all clear", "no root causes" when root causes were detected): otherwise the
  offline text is used for that item and a ``model text rejected`` flag says which and why.

Failure contract: pure functions over validated models; they never raise for a model's content.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from agents.grounding import NumberPool, ungrounded_numbers
from tools.review.report import FinalReport, Recommendation, TeamReport

Item = TypeVar("Item")

# claims that deny what the tools found: rejected whenever the tools detected a root cause or a change
_DENIAL = re.compile(
    r"\ball[ -]clear\b|\bno (?:listed )?root[ -]causes?\b(?! (?:from the list )?could)|\bnothing (?:went )?wrong\b"
    r"|\bno (?:issues?|problems?|failures?|incidents?) (?:were |was )?(?:found|detected)\b"
    r"|\bno (?:action|changes?|fix(?:es)?) (?:is |are )?(?:needed|required)\b|\b(?:everything|all) (?:is|was) fine\b"
    r"|\bkeep trading\b|\bsafe to (?:resume|continue)\b|\bdisable (?:the )?(?:guards?|halts?)\b", re.IGNORECASE)


class Checker:
    """Judges one model text against the evidence and the tool-owned findings."""

    def __init__(self, evidence: Mapping[str, Any], root_causes: int) -> None:
        self.evidence = evidence
        self.pool = NumberPool(evidence)
        self.root_causes = root_causes
        self.flags: list[str] = []

    def problem(self, text: str) -> str:
        bad = ungrounded_numbers(text, self.evidence, pool=self.pool)
        if bad:
            return "ungrounded " + ", ".join(dict.fromkeys(bad))
        if self.root_causes and (m := _DENIAL.search(text)):
            return f"contradicts the {self.root_causes} tool-detected root cause(s) ({m.group(0)!r})"
        return ""

    def pick(self, where: str, model: str, offline: str) -> str:
        """The model's phrasing when it passes, else the offline text (flagged)."""
        if model == offline or not model.strip():
            return offline
        why = self.problem(model)
        if why:
            self.flags.append(f"model text rejected: {where}: {why}; offline text used")
            return offline
        return model

    def pick_list(self, where: str, model: Sequence[str], offline: Sequence[str]) -> list[str]:
        if list(model) == list(offline):
            return list(offline)
        whys = [w for t in model if (w := self.problem(t))]
        if whys or not model:
            self.flags.append(f"model text rejected: {where}: {whys[0] if whys else 'empty'}; offline text used")
            return list(offline)
        return list(model)


def rank(tool: Sequence[Item], model: Iterable[Any], key: Callable[[Any], str], where: str,
         flags: list[str]) -> list[tuple[Item, Any]]:
    """Tool items in the model's order (those it names first), each paired with the model's version or None.
    Items the model made up are dropped and flagged."""
    by_key = {key(t): t for t in tool}
    mine: dict[str, Any] = {}
    for m in model:
        k = key(m)
        if k in by_key and k not in mine:
            mine[k] = m
        elif k not in by_key:
            flags.append(f"model text rejected: {where} {k!r} is not in the tools' list; dropped")
    order = list(mine) + [k for k in by_key if k not in mine]
    return [(by_key[k], mine.get(k)) for k in order]


def _rec(tool: Recommendation, model: Recommendation | None, chk: Checker) -> Recommendation:
    detail, impact = tool.detail, tool.expected_impact
    if model is not None:
        detail = chk.pick(f"recommendation {tool.id} detail", model.detail, tool.detail)
        impact = chk.pick(f"recommendation {tool.id} expected impact", model.expected_impact, tool.expected_impact)
    # everything but the phrasing is the tool's; the validator recomputes the approval from the change type
    return Recommendation.model_validate({**tool.model_dump(), "detail": detail, "expected_impact": impact,
                                          "status": "pending_approval", "approved_by": ""})


def box_team(offline: TeamReport, model: TeamReport, evidence: Mapping[str, Any]) -> tuple[TeamReport, list[str]]:
    """The tool-built team report with the model's ranking and (checked) phrasing merged in."""
    chk = Checker(evidence, len(evidence.get("detections", [])))
    flags = chk.flags
    findings = [t if m is None else t.model_copy(update={"statement": chk.pick(f"finding {t.id}", m.statement,
                                                                                  t.statement)})
                for t, m in rank(offline.findings, model.findings, lambda f: f.id, "finding", flags)]
    answers = [t if m is None else t.model_copy(update={"answer": chk.pick(f"answer {t.question!r}", m.answer,
                                                                            t.answer)})
               for t, m in rank(offline.answers, model.answers, lambda a: a.question, "answer", flags)]
    recs = [_rec(t, m, chk) for t, m in rank(offline.recommendations, model.recommendations, lambda r: r.id,
                                                "recommendation", flags)]
    out = offline.model_copy(update={
        "summary": chk.pick("summary", model.summary, offline.summary),
        "conclusions": chk.pick_list("conclusions", model.conclusions, offline.conclusions),
        "findings": findings, "answers": answers, "recommendations": recs,
        "ungrounded_numbers": list(model.ungrounded_numbers)})
    return out, flags


def box_final(offline: FinalReport, model: FinalReport, evidence: Mapping[str, Any]) -> tuple[FinalReport, list[str]]:
    """The tool-built final report with the model's (checked) phrasing of summary, factors and prevention."""
    chk = Checker(evidence, len(evidence.get("root_causes", [])))
    flags = chk.flags
    factors = [t if m is None else t.model_copy(update={"statement": chk.pick(f"factor {t.id}", m.statement,
                                                                                 t.statement)})
               for t, m in rank(offline.contributing_factors, model.contributing_factors, lambda f: f.id, "factor",
                                flags)]
    tool_plan = [(p.phase, sorted(p.items)) for p in offline.implementation_plan]
    if model.implementation_plan and [(p.phase, sorted(p.items)) for p in model.implementation_plan] != tool_plan:
        flags.append("model text rejected: implementation plan differs from the change types' phases; "
                     "tool plan used")
    if model.title != offline.title:
        flags.append("model text rejected: title (tool-owned); tool title used")
    out = offline.model_copy(update={
        "executive_summary": chk.pick("executive summary", model.executive_summary, offline.executive_summary),
        "contributing_factors": factors,
        "prevention_measures": chk.pick_list("prevention measures", model.prevention_measures,
                                             offline.prevention_measures),
        "ungrounded_numbers": list(model.ungrounded_numbers)})
    return out, flags


__all__ = ["Checker", "box_final", "box_team", "rank"]
