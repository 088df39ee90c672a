"""The learning agent: answers questions about past trades from the outcomes table and the RAG store.

Flow (wired in graphs/learning.py): ``route`` -> ``numeric`` (pandas tools) | ``retrieve`` (store) -> ``answer``.

Routing is deterministic (the offline policy and the Bedrock path share it), keyword/intent rules:
1. Metric words: "win rate / hit rate / how often ... win" -> win rate; "average PnL" -> average PnL;
   "worst/biggest loss(es)" and "best/biggest win(s)" -> the five worst/best trades; "PnL / profit /
   how much did we make|lose" -> total PnL; "how many / number of / count" -> count.
2. Grouping: "by|per|for each|broken down by <reason code|symbol|asset|venue|advisory|side|regime|
   exit reason|day|week|stop|outcome>".
3. Filters: advisory ("against a WAIT advisory", "when it/the advisory/AWS said BUY", a bare "WAIT",
   "no advisory"), side ("long"/"short", bare buy/sell), protective stop ("no/without/missing a stop",
   "unprotected", "with a stop"), outcome ("losing/winning trades"), reason codes written as codes
   (AWS_WAIT), assets/symbols/venues (names and those present in the table), regime ("uptrend",
   "range", "high vol"), exit ("stopped out"), dates relative to the question's as-of ("today",
   "yesterday", "this/last week", "this/last month", "last N days", "since/before/on DATE",
   "between A and B", "in January 2026").
4. Narrative when the question starts with why/explain/describe/what happened/..., names a
   trade_cycle_id, or has no metric and no conversation context: retrieve from the store.
5. Follow-ups: with no metric (or a leading "and / what about / how about"), a question inherits the
   previous numeric question's metric, filters and grouping and overrides what it names ("and when it
   said BUY?" swaps the advisory filter). "overall / all trades" clears the filters.
6. Anything a numeric question says that no rule consumed (other than filler words) makes it
   unanswerable: the agent says which words it cannot map to the table instead of guessing.

Answers: numbers only from the tools (QueryResult / documents), rates as percentages, the pandas that
ran is shown, trade_cycle_ids or document ids are cited, and "the data cannot answer" is said plainly.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from agents.grounding import ungrounded_numbers
from agents.llm import LLMUnavailable, Reasoner, get_reasoner
from tools.memory.embeddings import normalize_token
from tools.memory.outcomes_table import OutcomesTable
from tools.memory.questions import (
    MAX_CITED_TEXT,
    METRIC_LABEL,
    NumericQuery,
    QueryFilter,
    QueryResult,
    money,
    pct,
    run_query,
)
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

Kind = Literal["numeric", "narrative", "unanswerable"]
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


class Intent(BaseModel):
    kind: Kind
    query: NumericQuery | None = None
    cycle_ids: list[str] = Field(default_factory=list)
    search_text: str = ""
    followup: bool = False
    reason: str = ""                       # why unanswerable, or how a follow-up was read
    unknown_terms: list[str] = Field(default_factory=list)


class LearningAnswer(BaseModel):
    kind: Kind
    text: str                              # the answer as shown; its numbers are checked against evidence
    query: str = ""                        # the pandas that ran (numeric answers), verbatim from the tool
    citations: list[str] = Field(default_factory=list)      # trade_cycle_ids and/or document ids
    cannot_answer: bool = False
    ungrounded_numbers: list[str] = Field(default_factory=list)
    reason_codes: list[ReasonCode] = Field(default_factory=list)
    reasoner: str = "offline"


# --- routing ---------------------------------------------------------------------------------------
FILLER = set("""
a about across after again against all also am an and any are as at be been being both but by can
could did do does done during each every far for from get give go going got had has have how i if in
into is it its it's just let list me much my now of on only or our out over overall per please placed
show so than that the their them then there these they this those through to total trade trades
trading us want was we were what whats what's when where which while who why will with would you
cycles cycle taken made entered executed opened closed happened positions position bets bet calls
were entries entry orders order rate ratio percentage percent pct number count many often value
values result results performance stats statistics compute calculate calculated tell see
report give me again same how's hows was it's
""".split())
NARRATIVE_START = re.compile(
    r"^\s*(?:why\b|explain\b|describe\b|summari[sz]e\b|what\s+happened\b|what\s+went\s+wrong\b|tell\s+me\s+about\b|"
    r"what\s+caused\b|what\s+(?:do|does|did)\s+(?:the\s+)?(?:reports?|postmortems?|incidents?|documents?|docs)\b|"
    r"what\s+(?:are|were)\s+the\s+(?:lessons|root\s+causes?)\b|how\s+did\b.*\bhappen\b)", re.I)
NARRATIVE_WORDS = re.compile(r"\b(?:lessons?|root\s+causes?|postmortems?|incidents?|reports?|similar|rationales?)\b",
                             re.I)
FOLLOWUP_START = re.compile(r"^\s*(?:and|what\s+about|how\s+about|same|now|but|also|then|vs\.?|versus|"
                            r"compared?\s+(?:to|with)|only|what\s+if)\b", re.I)
NUMERIC_CUE = re.compile(r"\b(?:ratio|rate|average|mean|median|total|sum|percentage|percent|how\s+much|how\s+many|"
                         r"max(?:imum)?|min(?:imum)?|deviation|drawdown|sharpe|sortino|expectancy|returns?|"
                         r"slippage|latency|fees?)\b", re.I)
RESET = re.compile(r"\b(?:overall|all\s+trades|in\s+total|regardless|everything)\b", re.I)

METRICS: list[tuple[str, str]] = [
    ("win_rate", r"\bwin(?:ning)?[\s-]*(?:rate|ratio|percentage|pct|%)|\bhit[\s-]rate\b|\bsuccess[\s-]rate\b|"
                 r"\bhow\s+often\b[^?]*?\b(?:win|won|profitable)\b|"
                 r"\b(?:percentage|percent|share|fraction)\s+of\s+(?:the\s+)?(?:trades?\s+)?(?:that\s+)?"
                 r"(?:won|win|were\s+winners|were\s+profitable)\b"),
    ("avg_pnl", r"\b(?:average|avg|mean)\s+(?:pnl|p&l|p/l|profit(?:\s+and\s+loss)?|return|result|loss)"
                r"(?:\s+per\s+trade)?\b|\b(?:pnl|p&l|profit)\s+per\s+trade\b"),
    ("worst", r"\b(?:worst|biggest|largest)\s+(?:trades?|loss(?:es)?|losing\s+trades?|losers?)\b"),
    ("best", r"\b(?:best|biggest|largest)\s+(?:trades?|wins?|winners?|winning\s+trades?)\b"),
    ("pnl", r"\b(?:total\s+|net\s+)?(?:pnl|p&l|p/l|profit(?:\s+and\s+loss)?|profits|net\s+result)\b|"
            r"\bhow\s+much\s+(?:money\s+)?(?:did|have|has)\s+(?:we|i|the\s+bots?|it)\s+"
            r"(?:make|made|lose|lost|earn|earned|win|won)\b"),
    ("count", r"\bhow\s+many\b|\bnumber\s+of\b|\bcount(?:\s+of)?\b"),
]
GROUPS: list[tuple[str, str]] = [
    ("reason_code", r"reason[\s_-]?codes?|codes?"), ("exit_reason", r"exit[\s_-]?reasons?|exits?"),
    ("advisory_action", r"advisor(?:y|ies)(?:\s+actions?)?|advice|recommendations?"),
    ("symbol", r"symbols?|contracts?|markets?|tickers?"), ("asset", r"assets?|instruments?|underlyings?"),
    ("venue", r"venues?|brokers?|exchanges?"), ("side", r"sides?|directions?"), ("regime", r"regimes?"),
    ("day", r"days?|dates?|sessions?"), ("week", r"weeks?"), ("has_stop", r"stops?|protection"),
    ("won", r"outcomes?|results?"),
]
GROUP_LEAD = r"\b(?:by|per|for\s+each|broken\s+down\s+by|split\s+by|grouped\s+by|across)\s+(?:the\s+|each\s+)?"
ASSET_WORDS = {"es": "ES", "e-mini": "ES", "emini": "ES", "mes": "MES", "nq": "NQ", "nasdaq": "NQ", "mnq": "MNQ",
               "btc": "BTC", "bitcoin": "BTC", "eth": "ETH", "ethereum": "ETH", "ether": "ETH", "sol": "SOL",
               "solana": "SOL", "xrp": "XRP", "ripple": "XRP"}
VENUE_WORDS = {"polymarket": "polymarket", "ib": "ib", "ibkr": "ib", "interactive brokers": "ib", "paper": "paper"}
MONTHS = {m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                      "september", "october", "november", "december"], 1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
DATE = r"(\d{4}-\d{2}-\d{2})"


@dataclass
class _Text:
    """Lower-cased question with consumed spans blanked out, so leftovers can be checked."""
    raw: str
    text: str = ""

    def __post_init__(self) -> None:
        self.text = " " + self.raw.lower().replace("’", "'") + " "

    def take(self, pattern: str) -> re.Match[str] | None:
        m = re.search(pattern, self.text, re.I)
        if m:
            self.text = self.text[:m.start()] + " " * (m.end() - m.start()) + self.text[m.end():]
        return m

    def leftovers(self) -> list[str]:
        words = re.findall(r"[a-z0-9_][a-z0-9_.'&/-]*", self.text)
        return [w.strip(".") for w in words if w.strip(".") and w.strip(".") not in FILLER]


def _day(d: datetime) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _parse_date(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def _dates(t: _Text, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(since, until) from the first date phrase, relative to ``now``; consumed from ``t``."""
    today = _day(now)
    monday = today - timedelta(days=today.weekday())
    if m := t.take(r"\bbetween\s+" + DATE + r"\s+and\s+" + DATE):
        return _parse_date(m.group(1)), _parse_date(m.group(2)) + timedelta(days=1)
    if m := t.take(r"\b(?:since|from|after)\s+" + DATE):
        start = _parse_date(m.group(1))
        return (start + timedelta(days=1) if m.group(0).startswith("after") else start), None
    if m := t.take(r"\b(?:before|until|till)\s+" + DATE):
        return None, _parse_date(m.group(1))
    if m := t.take(r"\b(?:on\s+)?" + DATE):
        d = _parse_date(m.group(1))
        return d, d + timedelta(days=1)
    if t.take(r"\btoday\b"):
        return today, None
    if t.take(r"\byesterday\b"):
        return today - timedelta(days=1), today
    if t.take(r"\bthis\s+week\b"):
        return monday, None
    if t.take(r"\b(?:last|previous|prior)\s+week\b"):
        return monday - timedelta(days=7), monday
    first = datetime(today.year, today.month, 1, tzinfo=UTC)
    if t.take(r"\bthis\s+month\b"):
        return first, None
    if t.take(r"\b(?:last|previous|prior)\s+month\b"):
        prev = (first - timedelta(days=1)).replace(day=1)
        return prev, first
    if m := t.take(r"\b(?:in\s+the\s+)?(?:last|past|previous)\s+(\d+)\s+(days?|weeks?|hours?)\b"):
        n, unit = int(m.group(1)), m.group(2)
        delta = timedelta(days=n) if unit.startswith("day") else timedelta(weeks=n) if unit.startswith("week") \
            else timedelta(hours=n)
        return now - delta, None
    month_re = "|".join(sorted(MONTHS, key=len, reverse=True))
    if m := t.take(r"\b(?:in|during)\s+(" + month_re + r")\b(?:\s+(\d{4}))?"):
        mon = MONTHS[m.group(1)]
        year = int(m.group(2)) if m.group(2) else (today.year if mon <= today.month else today.year - 1)
        start = datetime(year, mon, 1, tzinfo=UTC)
        end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
        return start, end
    return None, None


@dataclass
class Known:
    """Values present in the table, so symbols like ESZ5 or a market slug can be recognised."""
    symbols: set[str] = field(default_factory=set)
    assets: set[str] = field(default_factory=set)

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Known:
        return cls(symbols={str(s) for s in df["symbol"].dropna().unique()},
                   assets={str(a) for a in df["asset"].dropna().unique()})


def _filters(t: _Text, f: QueryFilter, known: Known, advisory_context: bool) -> bool:
    """Consume filter phrases into ``f``; True when any was found."""
    found = False
    adv_patterns = [
        (r"\b(?:no|without(?:\s+an?)?|missing(?:\s+an?)?|lacking(?:\s+an?)?)\s+(?:aws\s+)?advis(?:ory|ories|ice)\b", "NONE"),
        (r"\b(?:against|despite|ignoring|contrary\s+to|with|under|on|after|during|following)\s+(?:an?\s+|the\s+)?"
         r"(?:aws\s+)?(wait|buy|sell)\s+(?:advisor(?:y|ies)|advice|recommendations?|calls?|decisions?)\b", None),
        (r"\b(?:the\s+)?(?:aws\s+)?(?:advisory|advice|advisor|aws|agent|decision\s+agent|it|they)\s+"
         r"(?:said|says|say|was|were|recommended|advised|returned|suggested|told\s+us\s+to|called\s+for)\s+"
         r"(?:to\s+)?(wait|buy|sell)\b", None),
        (r"\badvis(?:ory|ories|ice)\s*(?:=|:|of|is|was)?\s*(wait|buy|sell)\b", None),
        (r"\b(wait)\s+(?:advisor(?:y|ies)|advice|signals?|calls?)\b", None),
        (r"\b(wait)\b", None),
    ]
    for pat, fixed in adv_patterns:
        if m := t.take(pat):
            f.advisory = fixed or m.group(1).upper()
            found = True
            break
    if advisory_context and f.advisory is None and (m := t.take(r"\b(buy|sell)\b")):
        f.advisory = m.group(1).upper()      # a follow-up about advice: bare BUY/SELL means the advisory
        found = True
    for pat, side in ((r"\b(?:longs?|buys?|bought)\b(?:\s+(?:trades?|entries|side|orders?|positions?))?", "BUY"),
                      (r"\b(?:shorts?|sells?|sold)\b(?:\s+(?:trades?|entries|side|orders?|positions?))?", "SELL")):
        if t.take(pat):
            f.side = side
            found = True
    if t.take(r"\b(?:no|without(?:\s+an?|\s+any)?|missing(?:\s+an?)?|lacking(?:\s+an?)?|had\s+no|with\s+no)\s+"
              r"(?:protective\s+)?(?:stop(?:[\s-]?loss(?:es)?)?s?|protection|brackets?|sl)\b") or \
            t.take(r"\b(?:unprotected|naked)\b"):
        f.has_stop = False
        found = True
    elif t.take(r"\bwith\s+(?:an?\s+)?(?:protective\s+)?stop(?:[\s-]?loss)?s?\b|\bprotected\b"):
        f.has_stop = True
        found = True
    if t.take(r"\b(?:losing|lost)\s+trades?\b|\btrades?\s+(?:that\s+|which\s+)?(?:lost|were\s+losers)\b|\blosers\b"):
        f.won = False
        found = True
    elif t.take(r"\b(?:winning|won)\s+trades?\b|\btrades?\s+(?:that\s+|which\s+)?(?:won|were\s+winners)\b|"
                r"\bwinners\b"):
        f.won = True
        found = True
    for code in ReasonCode:
        if t.take(r"(?:\breason\s+code\s+)?\b" + code.value.lower() + r"\b"):
            if code.value not in f.reason_codes:
                f.reason_codes.append(code.value)
            found = True
    for sym in sorted(known.symbols, key=len, reverse=True):
        if len(sym) > 2 and t.take(r"(?<![\w-])" + re.escape(sym.lower()) + r"(?![\w-])"):
            f.symbol = sym
            found = True
            break
    words = dict(ASSET_WORDS) | {a.lower(): a for a in known.assets if len(a) >= 2}
    for w in sorted(words, key=len, reverse=True):
        if t.take(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])"):
            f.asset = words[w]
            found = True
            break
    for w, v in VENUE_WORDS.items():
        if t.take(r"\b" + w + r"\b"):
            f.venue = v
            found = True
            break
    if t.take(r"\b(?:up[\s-]?trend(?:ing)?|trend(?:ing)?[\s_-]up|rising\s+market)\b"):
        f.regime_trend, found = "trend_up", True
    elif t.take(r"\b(?:down[\s-]?trend(?:ing)?|trend(?:ing)?[\s_-]down|falling\s+market)\b"):
        f.regime_trend, found = "trend_down", True
    elif t.take(r"\b(?:range[\s-]?bound|ranging|range|sideways|choppy|mean[\s_-]?revert(?:ing)?)\b"):
        f.regime_trend, found = "range", True
    for lab, pat in (("high_vol", r"\bhigh[\s_-]?vol(?:atility)?\b"), ("low_vol", r"\blow[\s_-]?vol(?:atility)?\b"),
                     ("normal_vol", r"\bnormal[\s_-]?vol(?:atility)?\b")):
        if t.take(pat):
            f.regime_vol, found = lab, True
    if t.take(r"\bstopped\s+out\b|\bhit\s+(?:the|their|its|a)\s+stops?\b"):
        f.exit_reason, found = "stop", True
    elif t.take(r"\bhit\s+(?:the|their|its|a)\s+targets?\b"):
        f.exit_reason, found = "target", True
    return found


def route_question(question: str, context: Mapping[str, Any] | None, now: datetime, known: Known | None = None,
                   as_of: datetime | None = None) -> Intent:
    """The documented routing policy (module docstring). ``context`` is the previous numeric question."""
    known = known or Known()
    t = _Text(question)
    ids = UUID_RE.findall(question)
    for i in ids:
        t.take(re.escape(i.lower()))
    prev = NumericQuery.model_validate(context["query"]) if context and context.get("query") else None
    if NARRATIVE_START.search(question) or ids:
        return Intent(kind="narrative", cycle_ids=ids, search_text=question)
    metric = None
    for name, pat in METRICS:
        if t.take(pat):
            metric = name
            break
    group = None
    for name, pat in GROUPS:
        if t.take(GROUP_LEAD + r"(?:" + pat + r")\b"):
            group = name
            break
    bad_group = t.take(GROUP_LEAD + r"([a-z][\w-]*)") if group is None else None
    since, until = _dates(t, now)
    f = QueryFilter()
    followup_cue = bool(FOLLOWUP_START.search(question))
    advisory_ctx = bool(prev and prev.filter.advisory and prev.filter.advisory != "NONE")
    found = _filters(t, f, known, advisory_ctx and (followup_cue or metric is None))
    reset = bool(t.take(RESET.pattern))
    if since or until:
        f.since, f.until = since, until
    leftovers = t.leftovers()
    if metric is None and group is None and not found and not (since or until) and not reset:
        if prev and followup_cue and not leftovers:
            return Intent(kind="unanswerable", followup=True, reason="the follow-up names nothing to change")
        if NUMERIC_CUE.search(question) and leftovers:
            return Intent(kind="unanswerable", unknown_terms=leftovers,
                          reason="no rule maps " + ", ".join(f"'{w}'" for w in leftovers) + " to the outcomes table")
        return Intent(kind="narrative", search_text=question, unknown_terms=leftovers)
    followup = prev is not None and (metric is None or followup_cue)
    if metric is None and not followup:
        if NARRATIVE_WORDS.search(question):
            return Intent(kind="narrative", search_text=question)
        metric = "count"                       # filters with no metric and no context: how many trades
    if followup and prev is not None:
        merged = prev.filter.model_copy(deep=True) if not reset else QueryFilter()
        for k in QueryFilter.model_fields:
            v = getattr(f, k)
            if v not in (None, []):
                setattr(merged, k, v)
        if since or until:
            merged.since, merged.until = since, until
        f = merged
        metric = metric or prev.metric
        group = group if group is not None else (None if reset else prev.group_by)
    if bad_group is not None:
        return Intent(kind="unanswerable", reason=f"the outcomes table has no column to group by "
                      f"'{bad_group.group(1)}'", unknown_terms=[bad_group.group(1)], followup=followup)
    if leftovers:
        return Intent(kind="unanswerable", followup=followup, unknown_terms=leftovers,
                      reason="no rule maps " + ", ".join(f"'{w}'" for w in leftovers) + " to the outcomes table")
    if group is not None and metric in ("best", "worst"):
        metric = "pnl"                         # "worst trades by symbol" reads as PnL by symbol
    q = NumericQuery(metric=metric, filter=f, group_by=group, as_of=as_of)  # type: ignore[arg-type]
    how = f"follow-up of '{context.get('question', '')}'" if followup and context else ""
    return Intent(kind="numeric", query=q, followup=followup, reason=how)


# --- evidence and the offline answer policy ---------------------------------------------------------
SUPPORTED = ("win rate, total or average PnL, trade counts, best/worst trades; filtered by advisory "
             "(WAIT/BUY/SELL/none), side, protective stop, outcome, reason code, asset, symbol, venue, regime, "
             "exit reason and dates; grouped by reason code, symbol, asset, venue, advisory, side, regime, "
             "exit reason, day or week")
_STOP = FILLER | {"the", "and", "was", "were", "with", "that", "this", "from", "what", "why", "how"}


def _cited_line(ids: list[str]) -> str:
    # no count of the hidden ones: the agent writes no number a tool did not compute
    if len(ids) <= MAX_CITED_TEXT:
        return f"Cited trade cycles ({len(ids)}): " + ", ".join(ids)
    return f"Cited trade cycles ({len(ids)}; the first shown, --json lists all): " + ", ".join(ids[:MAX_CITED_TEXT]) + ", …"


def _numeric_summary(r: QueryResult, ev: Mapping[str, Any]) -> tuple[str, bool]:
    q = r.query
    desc = q.filter.describe()
    scope = f"trades {desc}" if desc else "all trades"
    label = METRIC_LABEL[q.metric]
    asof = f" (closed up to {ev['as_of']})" if ev.get("as_of") else ""
    if r.n == 0:
        return (f"The data cannot answer this: no trade in the outcomes table ({r.table_rows} rows) matches "
                f"{scope}{asof}, so there is no {label} to report."), True
    lines = []
    if q.group_by:
        lines.append(f"{label[0].upper() + label[1:]} by {q.group_by.replace('_', ' ')} on {scope}{asof} ({r.n} trades"
                     + (f"; {r.note}" if r.note else "") + "):")
        for g in r.groups:
            if q.metric == "win_rate":
                lines.append(f"- {g['key']}: {pct(g['win_rate_pct'])} ({g['wins']} of {g['n']} won)")
            elif q.metric == "avg_pnl":
                lines.append(f"- {g['key']}: {money(g['avg_pnl_usd'])} per trade over {g['n']} trades")
            elif q.metric == "count":
                lines.append(f"- {g['key']}: {g['n']} trades")
            else:
                lines.append(f"- {g['key']}: {money(g['pnl_usd'])} over {g['n']} trades ({g['wins']} won)")
        lines.append(f"Overall: {r.value_text}.")
    elif q.metric == "win_rate":
        lines.append(f"Win rate on {scope}{asof}: {r.value_text} ({r.wins} of {r.n} trades won, {r.losses} lost).")
    elif q.metric == "count":
        lines.append(f"{r.n} trades {desc or 'in total'}{asof} ({r.wins} won, {r.losses} lost).")
    elif q.metric in ("pnl", "avg_pnl"):
        lines.append(f"{label[0].upper() + label[1:]} on {scope}{asof}: {r.value_text} over {r.n} trades "
                     f"({r.wins} won, {r.losses} lost).")
    else:
        lines.append(f"The {len(r.rows)} {label} among {r.n} {scope}{asof}:")
        for row in r.rows:
            lines.append(f"- {row['trade_cycle_id']}: {row['symbol']} closed {row['closed_at']}, "
                         f"{money(row['pnl_usd'])}, advisory {row['advisory_action']}"
                         + (f", codes {row['reason_codes']}" if row["reason_codes"] else ""))
    lines.append("Query (pandas over the outcomes table):")
    lines += ["    " + ln for ln in r.code.splitlines()]
    lines.append(_cited_line(r.cited))
    return "\n".join(lines), False


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
        return LearningAnswer(kind="numeric", text=text, query=r.code, citations=r.cited, cannot_answer=cannot)
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


# --- node functions (wired in graphs/learning.py) -----------------------------------------------------
@dataclass
class LearningContext:
    """Run-scoped resources: never checkpointed. The store opens lazily (narrative questions only)."""
    data_dir: Path = Path("rag_data")
    settings: Any = None
    llm: str = "offline"
    reasoner: Reasoner | None = None
    store: Any = None
    k_documents: int = 4
    k_similar: int = 3

    def get_reasoner(self) -> Reasoner:
        if self.reasoner is None:
            self.reasoner = get_reasoner(self.llm, self.settings)
        return self.reasoner

    def get_store(self) -> Any:
        if self.store is None:
            from tools.memory.store import RagStore

            self.store = RagStore.open(self.data_dir, self.settings)
        return self.store

    def table(self) -> OutcomesTable:
        return self.store.table if self.store is not None else OutcomesTable.in_data_dir(self.data_dir)


def _now(state: Mapping[str, Any]) -> tuple[datetime, datetime | None]:
    raw = state.get("as_of")
    if raw:
        d = datetime.fromisoformat(raw)
        d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
        return d, d
    return datetime.now(UTC), None


def route_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    now, as_of = _now(state)
    df = ctx.table().load()
    intent = route_question(state["question"], state.get("context"), now, Known.from_frame(df), as_of=as_of)
    log.info("learning: %r routed %s%s", state["question"], intent.kind, " (follow-up)" if intent.followup else "")
    return {"intent": intent.model_dump(mode="json"), "evidence": {}, "answer": {}}


def numeric_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    intent = Intent.model_validate(state["intent"])
    assert intent.query is not None
    res = run_query(ctx.table().load(), intent.query)
    ev = {"question": state["question"], "kind": "numeric", "result": res.model_dump(mode="json"),
          "as_of": state.get("as_of"), "read_as": intent.reason}
    return {"evidence": ev, "context": {"question": state["question"], "query": intent.query.model_dump(mode="json")}}


def _cycle_row(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"trade_cycle_id": str(r["trade_cycle_id"]), "symbol": str(r["symbol"]), "venue": str(r["venue"]),
            "side": str(r["side"]), "qty": float(r["qty"]), "closed_at": pd.Timestamp(r["closed_at"]).isoformat(),
            "won": bool(r["won"]), "pnl_usd": float(r["pnl_usd"]), "advisory_action": str(r["advisory_action"]),
            "reason_codes": str(r["reason_codes"] or "")}


def retrieve_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    from tools.memory.store import CycleFilter

    _, as_of = _now(state)
    intent = Intent.model_validate(state["intent"])
    store = ctx.get_store()
    docs = []
    for h in store.query_documents(intent.search_text or state["question"], ctx.k_documents * 4, as_of=as_of):
        m = h.metadata
        date = datetime.fromtimestamp(m["doc_ts"], UTC).date().isoformat() if m.get("doc_ts") is not None else "undated"
        docs.append({"id": h.id, "title": m.get("title", ""), "kind": m.get("kind", ""), "date": date,
                     "source": m.get("source", ""), "text": h.document or "", "distance": round(h.distance, 4)})
    docs = rerank(state["question"], docs, ctx.k_documents)
    df = store.table.load()
    cycles, unknown = [], []
    for cid in intent.cycle_ids:
        rows = df[df["trade_cycle_id"] == cid]
        if as_of is not None:
            rows = rows[rows["closed_at"] <= as_of]
        if rows.empty:
            unknown.append(cid)
            continue
        row = _cycle_row(rows.iloc[0])
        # similar situations: the stored situation vector of this cycle, searched with the same as-of
        sim: list[dict[str, Any]] = []
        got = store.cycles().get(ids=[cid], include=["embeddings"])
        if got["ids"] and got["embeddings"] is not None and len(got["embeddings"]):
            flt = CycleFilter(as_of=as_of) if as_of else None
            for h in store.query_cycles(got["embeddings"][0], ctx.k_similar + 1, flt):
                if h.id != cid:
                    sim.append({"trade_cycle_id": h.id, "won": bool(h.metadata.get("won")),
                                "similarity": round(1.0 - h.distance, 3)})
        else:
            log.warning("cycle %s is in the outcomes table but not in the store: no similar cycles", cid)
        row["similar"] = sim[:ctx.k_similar]
        cycles.append(row)
    ev = {"question": state["question"], "kind": "narrative", "documents": docs, "cycles": cycles,
          "unknown_cycles": unknown, "documents_searched": store.documents().count(), "as_of": state.get("as_of")}
    return {"evidence": ev}


def answer_node(state: Mapping[str, Any], ctx: LearningContext) -> dict[str, Any]:
    intent = Intent.model_validate(state["intent"])
    ev = dict(state.get("evidence") or {})
    if intent.kind == "unanswerable":
        ev = {"question": state["question"], "kind": "unanswerable", "reason": intent.reason,
              "unknown_terms": intent.unknown_terms}
    ans = compose(ctx.get_reasoner(), ev)
    turn = {"question": state["question"], "kind": ans.kind, "answer": ans.text}
    return {"answer": ans.model_dump(mode="json"), "evidence": ev, "history": [turn]}
