"""The learning agent's answers: composed from tool evidence only, numbers checked against it.

Answers: numbers only from the tools (QueryResult / documents), rates as percentages, the pandas that
ran is shown, trade_cycle_ids or document ids are cited, and "the data cannot answer" is said plainly.
``answer_policy`` is the offline policy; ``compose`` reasons through the LLM seam and keeps only what the
tools back: an unavailable reasoner (``LLMUnavailable``) or a model answer with ungrounded numbers falls
back to the offline answer with a reason code (LLM_UNAVAILABLE / NUMBER_UNGROUNDED). Never raises on
evidence the nodes produce.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from agents.grounding import ungrounded_numbers
from agents.learning_router import FILLER, Kind
from agents.llm import LLMUnavailable, Reasoner
from tools.memory.currencies import money_in
from tools.memory.embeddings import normalize_token
from tools.memory.questions import MAX_CITED_TEXT, QueryResult, money
from trading.domain.reason_codes import ReasonCode

log = logging.getLogger(__name__)

ROLE = "learning"
PROMPT = """You are the learning agent of a trading guardian. Answer the operator's question from the
evidence only. For a numeric answer: state evidence.result.value_text exactly, with the number of trades
(n, wins, losses) it rests on, write rates as percentages, and cite trade_cycle_ids from
evidence.result.cited; do not restate or alter the query (it is attached for you). For a narrative
answer: summarise what the retrieved documents and cycles say, citing document ids and trade_cycle_ids.
If evidence.cannot_answer is set, or the evidence does not contain the answer, say that the data cannot
answer and why; never guess and never compute a number yourself."""


class LearningAnswer(BaseModel):
    kind: Kind
    text: str                              # the answer as shown; its numbers are checked against evidence
    query: str = ""                        # the pandas that ran (numeric answers), verbatim from the tool
    citations: list[str] = Field(default_factory=list)      # trade_cycle_ids and/or document ids
    cannot_answer: bool = False
    ungrounded_numbers: list[str] = Field(default_factory=list)
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    reasoner: str = "offline"



# --- evidence and the offline answer policy ---------------------------------------------------------
SUPPORTED = ("count, win rate, total/average PnL, average win, average loss, expectancy, profit factor, payoff "
             "ratio, R-multiple, max drawdown, win/loss streaks, holding time, top/bottom N trades; filtered by "
             "advisory (WAIT/BUY/SELL/none, with or against it), side, stop, outcome, reason code, asset, symbol, "
             "venue, regime, exit reason, hour, weekday, session and dates; grouped by any of those or by "
             "day/week/month; this period vs the previous; blocked and WAIT-advised signals with counterfactual PnL")
_STOP = FILLER | {"the", "and", "was", "were", "with", "that", "this", "from", "what", "why", "how"}


def _cited_line(ids: list[str]) -> str:
    # no count of the hidden ones: the agent writes no number a tool did not compute
    if len(ids) <= MAX_CITED_TEXT:
        return f"Cited trade cycles ({len(ids)}): " + ", ".join(ids)
    return f"Cited trade cycles ({len(ids)}; the first shown, --json lists all): " + ", ".join(ids[:MAX_CITED_TEXT]) + ", …"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _headline(r: QueryResult, scope: str, asof: str) -> str:
    q = r.query
    label = q.label()
    counter = " (counterfactual: what the order would have made had it gone out)" if q.dataset == "signals" else ""
    things = "signals" if q.dataset == "signals" else "trades"
    if r.value is None:
        return f"{_cap(label)} on {scope}{asof}: cannot be computed ({r.note or 'no value'}); {r.n} {things} matched."
    if q.metric == "win_rate":
        return f"{_cap(label)} on {scope}{asof}{counter}: {r.value_text} ({r.wins} of {r.n} {things} won, {r.losses} lost)."
    if q.metric == "count":
        desc = q.filter.describe()
        return f"{r.n} {things} {desc or 'in total'}{asof} ({r.wins} won, {r.losses} lost)."
    if q.metric in ("avg_win", "avg_loss"):
        side = f"{r.wins} winning" if q.metric == "avg_win" else f"{r.losses} losing"
        return f"{_cap(label)} on {scope}{asof}{counter}: {r.value_text} over the {side} {things} of {r.n}."
    return f"{_cap(label)} on {scope}{asof}{counter}: {r.value_text} over {r.n} {things} ({r.wins} won, {r.losses} lost)."


def _result_lines(r: QueryResult, ev: Mapping[str, Any]) -> tuple[list[str], bool]:
    q = r.query
    desc = q.filter.describe()
    scope = ("signals " + desc if desc else "all signals") if q.dataset == "signals" else \
        (f"trades {desc}" if desc else "all trades")
    asof = f" (closed up to {ev['as_of']})" if ev.get("as_of") else ""
    if r.n == 0 and not r.comparison:
        table = "signals table" if q.dataset == "signals" else "outcomes table"
        return [f"The data cannot answer this: no row of the {table} ({r.table_rows} rows) matches "
                f"{scope}{asof}, so there is no {q.label()} to report."], True
    lines = []
    if q.top is not None and r.rows:
        what = "worst" if q.ascending else "best"
        by = {"pnl_usd": "PnL", "r_multiple": "R-multiple", "holding_min": "holding time"}[q.rank_by]
        lines.append(f"The {len(r.rows)} {what} by {by} among {r.n} matching ({scope}){asof}"
                     + (f" ({r.note})" if r.note else "") + ":")
        for row in r.rows:
            extra = f", held {row['holding_min']:g} min" if row.get("holding_min") is not None else ""
            lines.append(f"- {row['trade_cycle_id']}: {row['symbol']} closed {row['closed_at']}, "
                         f"{money_in(row['pnl_usd'], row.get('currency'))}{extra}, advisory {row['advisory_action']}"
                         + (f", codes {row['reason_codes']}" if row["reason_codes"] else ""))
        if q.metric in ("best", "worst"):
            return lines, False
    if q.group_by or r.groups:       # no group_by but groups: one per currency (tools/memory/currencies.py)
        lines.append(f"{_cap(q.label())} by {(q.group_by or 'currency').replace('_', ' ')} on {scope}{asof} ({r.n} rows"
                     + (f"; {r.note}" if r.note else "") + "):")
        for g in r.groups:
            val = g["value_text"] or "n/a"
            small = ", small sample" if g["small_sample"] else ""
            lines.append(f"- {g['key']}: {val} (n={g['n']}, PnL {money_in(g['pnl_usd'], g.get('currency'))}, "
                         f"wins {g['wins']}{small})")
    for c in r.comparison:
        small = ", small sample" if c["small_sample"] else ""
        lines.append(f"- {c['side']}: {c['value_text'] or 'n/a'} (n={c['n']}, wins {c['wins']}{small})")
    lines.append(("Overall: " if q.group_by or r.comparison else "") + _headline(r, scope, asof))
    if r.small_sample:
        lines.append(f"Small sample: only {r.n} rows; treat this as anecdote, not evidence.")
    return lines, False


def _numeric_summary(r: QueryResult, ev: Mapping[str, Any]) -> tuple[str, bool]:
    results = [r] + [QueryResult.model_validate(m) for m in ev.get("more", [])]
    lines: list[str] = []
    cannot_all = True
    cited: list[str] = []
    for res in results:
        part, cannot = _result_lines(res, ev)
        lines += part
        cannot_all = cannot_all and cannot
        cited += [c for c in res.cited if c not in cited]
    lines.append("Query (validated, then pandas over the " +
                 ("signals table" if r.query.dataset == "signals" else "outcomes table") + "):")
    for res in results:
        lines.append("    " + res.query.model_dump_json(exclude_defaults=True))
        lines += ["    " + ln for ln in res.code.splitlines()]
    lines.append(_cited_line(cited))
    return "\n".join(lines), cannot_all


def _content_words(text: str) -> set[str]:
    """Stemmed words of 3+ letters (and ISO dates) that carry meaning."""
    return {normalize_token(w) for w in re.findall(r"\d{4}-\d{2}-\d{2}|[a-z][a-z0-9_]{2,}", text.lower())
            if w not in _STOP}


def rerank(question: str, docs: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Nearest chunks re-ordered by shared content words (dates included), then by distance. A chunk must
    cover at least two thirds of the question's content words: the hashing embedding alone is too loose,
    and a question about something the store never mentions must end in "cannot answer"."""
    words = _content_words(question)
    need = max(1, math.ceil(len(words) * 2 / 3))
    scored = []
    for d in docs:
        shared = len(words & _content_words(d["title"] + " " + d["text"]))
        if shared >= need:
            scored.append((-shared, d["distance"], d))
    scored.sort(key=lambda x: (x[0], x[1]))
    return [d for _, _, d in scored[:k]]


def _snippet(text: str, words: set[str], title: str = "", n: int = 2) -> str:
    """The ``n`` sentences sharing most content words with the question, quoted verbatim."""
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text)
             if s.strip() and s.strip().lstrip("#").strip() != title]
    scored = sorted(((len(_content_words(s) & words), -i, s) for i, s in enumerate(sents)), reverse=True)
    best = [s for score, _, s in scored[:n] if score > 0]
    return " … ".join(s[:300] for s in best)


def _narrative_summary(ev: Mapping[str, Any]) -> tuple[str, list[str], bool]:
    words = _content_words(ev.get("question", ""))
    lines: list[str] = []
    cites: list[str] = []
    for d in ev.get("documents", []):
        snip = _snippet(d["text"], words, d["title"])
        if not snip:
            continue
        lines.append(f"- {d['title']} ({d['kind']}, {d['date']}) [{d['id']}]: {snip}")
        cites.append(d["id"])
    for c in ev.get("cycles", []):
        lines.append(f"- cycle {c['trade_cycle_id']}: {c['side']} {c['qty']:g} {c['symbol']} on {c['venue']}, "
                     f"closed {c['closed_at']}, {'won' if c['won'] else 'lost'} {money(c['pnl_usd'])}, "
                     f"advisory {c['advisory_action']}, reason codes {c['reason_codes'] or 'none'}")
        cites.append(c["trade_cycle_id"])
        for s in c.get("similar", []):
            lines.append(f"  similar: {s['trade_cycle_id']} ({'won' if s['won'] else 'lost'}, "
                         f"similarity {s['similarity']})")
            cites.append(s["trade_cycle_id"])
    for missing in ev.get("unknown_cycles", []):
        lines.append(f"- cycle {missing}: not in the store")
    if not cites:
        why = "no stored document shares the question's terms" if ev.get("documents_searched") else \
            "the store holds no documents yet"
        return (f"The data cannot answer this: {why}, and no stored trade cycle was named. "
                f"Numeric questions I can answer: {SUPPORTED}."), [], True
    return "From the store:\n" + "\n".join(lines), cites, False


def answer_policy(ev: Mapping[str, Any]) -> LearningAnswer:
    """The offline policy: compose the answer from tool evidence only."""
    kind = ev["kind"]
    if kind == "numeric":
        r = QueryResult.model_validate(ev["result"])
        text, cannot = _numeric_summary(r, ev)
        cites = list(dict.fromkeys(r.cited + [c for m in ev.get("more", []) for c in m.get("cited", [])]))
        return LearningAnswer(kind="numeric", text=text, query=r.code, citations=cites, cannot_answer=cannot)
    if kind == "narrative":
        text, cites, cannot = _narrative_summary(ev)
        return LearningAnswer(kind="narrative", text=text, citations=cites, cannot_answer=cannot)
    terms = ev.get("unknown_terms") or []
    return LearningAnswer(kind="unanswerable", cannot_answer=True, text=(
        f"The data cannot answer this: {ev.get('reason', 'the question does not map to the stored data')}. "
        f"I do not guess. Numeric questions I can answer: {SUPPORTED}."
        + (" (Unmapped: " + ", ".join(terms) + ")" if terms else "")))


ID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\bdoc-[0-9a-f]{16}-\d{3}\b|"
                   r"\bpm-[\w.-]+", re.I)


def answer_flags(text: str, evidence: Mapping[str, Any]) -> list[str]:
    """Numbers in ``text`` no tool produced. Identifiers the evidence holds (trade_cycle_ids, document ids)
    are masked first: a UUID segment like 1e966 is a name, not a quantity. An id the evidence does not
    hold stays in and is checked like any number."""
    known = set(ID_RE.findall(json.dumps(evidence, default=str)))
    masked = ID_RE.sub(lambda m: "<id>" if m.group(0) in known else m.group(0), text or "")
    return ungrounded_numbers(masked, evidence)


MODEL_CITED = 50        # ids a model sees; the answer still cites them all (from the tool, not the model)


def _for_model(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence a model reads: thousands of cited ids would only cost tokens."""
    ev = dict(evidence)
    if isinstance(ev.get("result"), Mapping) and len(ev["result"].get("cited", [])) > MODEL_CITED:
        ev["result"] = dict(ev["result"], cited=list(ev["result"]["cited"][:MODEL_CITED]))
    return ev


def compose(reasoner: Reasoner, evidence: Mapping[str, Any]) -> LearningAnswer:
    """Reason through the seam; a model's answer keeps only what the tools back."""
    offline = answer_policy(evidence)
    if evidence.get("kind") == "numeric":
        # the tool's numbers written out in words (a copy of the QueryResult's numbers, never new ones):
        # a model phrases its answer from these, and the grounding check reads their context words
        evidence = {**evidence, "facts": [ln for ln in offline.text.splitlines() if not ln.startswith("    ")]}
    offline = offline.model_copy(update={"ungrounded_numbers": answer_flags(offline.text, evidence)})
    try:
        seen = evidence if reasoner.name == "offline" else _for_model(evidence)
        ans = reasoner.reason(ROLE, PROMPT, seen, LearningAnswer, answer_policy)
    except LLMUnavailable as exc:
        log.error("learning agent: reasoner %s unavailable, answering offline: %s", reasoner.name, exc)
        return offline.model_copy(update={"reason_codes": [ReasonCode.LLM_UNAVAILABLE], "reasoner": "offline"})
    flags = answer_flags(ans.text, evidence)
    if reasoner.name != "offline" and flags:
        # a model may word things, never produce numbers: fall back to the tool-composed answer
        log.warning("learning agent: %s wrote ungrounded numbers %s; using the offline answer", reasoner.name, flags)
        return offline.model_copy(update={"ungrounded_numbers": flags, "reasoner": "offline",
                                          "reason_codes": [ReasonCode.NUMBER_UNGROUNDED]})
    allowed = set(offline.citations) | {d["id"] for d in evidence.get("documents", [])}
    cites = [c for c in ans.citations if c in allowed] or offline.citations
    return ans.model_copy(update={"kind": offline.kind, "query": offline.query, "citations": cites,
                                  "cannot_answer": ans.cannot_answer or offline.cannot_answer,
                                  "ungrounded_numbers": flags, "reasoner": reasoner.name, "reason_codes": []})
