"""The learning agent's router: a question in plain words -> a numeric query, a retrieval, or "cannot answer".

The offline reading (a model, when configured, writes the query instead: agents/learning.py):
1. Metric words from the vocabulary table (tools/memory/vocabulary.py, ``METRIC_WORDS``: extend it there);
   every metric phrase in the question becomes one query ("win rate, and the biggest losers?" -> two).
2. Grouping: "by|per|for each|broken down by <GROUP_WORDS>"; comparisons from ``COMPARE_WORDS``.
3. Filters: advisory (WAIT/BUY/SELL/none, with or against the advice, memory WAITs), side, protective
   stop, outcome, reason codes written as codes, assets/symbols/venues, regime, exit, session, weekday,
   hour, and dates relative to the question's as-of (today, this/last week, last N days, since/between...).
4. Signals ("what happened after WAIT advisories?", "what did the guards block?"): the signals table.
5. Narrative when the question starts with why/explain/describe/what happened/..., names a
   trade_cycle_id, or has no metric and no conversation context: retrieve from the store.
6. Follow-ups: a question starting "and / what about / how about ..." or made only of filters inherits
   the previous numeric question's metric, filters and grouping and overrides what it names; a question
   that names its own metric starts fresh. "overall / all trades" clears the filters.
7. Anything a numeric question says that no rule consumed (other than filler words) makes it
   unanswerable: the agent names the words it cannot map instead of answering another question.

Failure contract: ``route_question`` never raises on a question's text; what it cannot map becomes an
``unanswerable`` intent naming the words (``unknown_terms``). A malformed ``context`` raises pydantic's
ValidationError (it comes from the graph's own state).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from tools.memory import vocabulary
from tools.memory.query import SMALL_SAMPLE, NumericQuery, QueryFilter
from tools.memory.vocabulary import COMPARE_WORDS, GROUP_LEAD, GROUP_WORDS, METRIC_WORDS, NUMBER_WORDS, SIGNAL_WORDS
from trading.domain.reason_codes import ReasonCode

Kind = Literal["numeric", "narrative", "unanswerable"]
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)


class Intent(BaseModel):
    kind: Kind
    query: NumericQuery | None = None
    also: list[NumericQuery] = Field(default_factory=list)   # further metrics the same question asks
    cycle_ids: list[str] = Field(default_factory=list)
    search_text: str = ""
    followup: bool = False
    reason: str = ""                       # why unanswerable, or how a follow-up was read
    unknown_terms: list[str] = Field(default_factory=list)
    source: str = "rules"                  # rules | the model that wrote the query (agents/learning_query.py)



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
            f.advisory = fixed or m.group(1).upper()  # type: ignore[assignment]
            found = True
            break
    if t.take(r"\b(?:against|ignor(?:ed|ing)|contrary\s+to|overrid(?:ing|den)|despite)\s+(?:the\s+|its\s+)?"
              r"(?:advice|advisory|advisories|advisor)\b"):
        f.advice_followed, found = False, True
    elif t.take(r"\b(?:follow(?:ed|ing)?|with|agreeing\s+with|in\s+line\s+with)\s+(?:the\s+|its\s+)?"
                r"(?:advice|advisory|advisories|advisor)\b"):
        f.advice_followed, found = True, True
    if t.take(r"\b(?:advised|vetoed|blocked)\s+by\s+(?:warden'?s\s+)?(?:own\s+)?memory\b|\bmemory\s+(?:advice|waits?)\b"):
        f.advisory_source, found = "memory", True
    if m := t.take(r"\b(?:in|during)\s+(?:the\s+)?(asia(?:n)?|europe(?:an)?|london|us|u\.s\.|new\s+york|ny)\s+"
                   r"(?:session|hours)\b|\b(asia(?:n)?|europe(?:an)?|london|us|new\s+york|ny)\s+session\b"):
        w = (m.group(1) or m.group(2)).replace(".", "")
        f.session = "asia" if w.startswith("asia") else "europe" if w[0] in "el" else "us"
        found = True
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    if m := t.take(r"\b(?:on\s+)?(" + "|".join(days) + r")s?\b"):
        f.weekday, found = days.index(m.group(1)), True
    if t.take(r"\b(?:reconstructed\s+by|from|in)\s+(?:the\s+|a\s+)?(?:incident\s+)?reviews?\b"):
        f.outcome_source, found = "review", True
    if m := t.take(r"\b(?:in\s+hour|at)\s+(\d{1,2})(?::00|h)?\s*(?:utc)?\b"):
        if int(m.group(1)) < 24:
            f.hour, found = int(m.group(1)), True
    if advisory_context and f.advisory is None and (m := t.take(r"\b(buy|sell)\b")):
        f.advisory = m.group(1).upper()  # type: ignore[assignment]  # a follow-up about advice: bare BUY/SELL means the advisory
        found = True
    for pat, side in ((r"\b(?:longs?|buys?|bought)\b(?:\s+(?:trades?|entries|side|orders?|positions?))?", "BUY"),
                      (r"\b(?:shorts?|sells?|sold)\b(?:\s+(?:trades?|entries|side|orders?|positions?))?", "SELL")):
        if t.take(pat):
            f.side = side  # type: ignore[assignment]
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
    by_lower = {s.lower(): s for s in known.symbols if len(s) > 2}   # one dict lookup per word, not a regex each
    for m in re.finditer(r"(?<![\w-])[\w][\w.-]*(?<![.-])", t.text):
        if m.group(0) in by_lower:
            f.symbol = by_lower[m.group(0)]
            t.take(r"(?<![\w-])" + re.escape(m.group(0)) + r"(?![\w-])")
            found = True
            break
    if (cls := next((c for c, pat in vocabulary.ASSET_CLASS_WORDS if t.take(pat)), None)) is not None:
        f.asset_class, found = cls, True
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
            f.regime_vol, found = lab, True  # type: ignore[assignment]
    if t.take(r"\bstopped\s+out\b|\bhit\s+(?:the|their|its|a)\s+stops?\b"):
        f.exit_reason, found = "stop", True
    elif t.take(r"\bhit\s+(?:the|their|its|a)\s+targets?\b"):
        f.exit_reason, found = "target", True
    return found


def _metrics(t: _Text) -> list[dict[str, Any]]:
    """Every metric phrase of the vocabulary table, in the order the question says them."""
    found: list[tuple[int, dict[str, Any]]] = []
    for pat, spec in METRIC_WORDS:
        while m := t.take(pat):
            spec = dict(spec)
            n = m.groupdict().get("n")
            if n:
                spec["top"] = NUMBER_WORDS.get(n) or int(n)
            elif spec["metric"] in ("best", "worst") and re.search(r"\b(?:trade|loss|loser|win|winner)\b",
                                                                    m.group(0)):
                spec["top"] = 1                      # "my worst trade": the one
            found.append((m.start(), spec))
    found.sort(key=lambda x: x[0])
    out: list[dict[str, Any]] = []
    for _, spec in found:
        if spec not in out:
            out.append(spec)
    return out


def _query(spec: Mapping[str, Any], f: QueryFilter, group: str | None, compare: str | None,
           as_of: datetime | None, dataset: str = "trades") -> NumericQuery:
    fields = {k: v for k, v in spec.items() if k != "also"}
    if group is not None and fields["metric"] in ("best", "worst"):
        fields = {"metric": "pnl"}             # "worst trades by symbol" reads as PnL by symbol
    if group is not None or compare is not None:
        fields.pop("top", None)
    return NumericQuery.model_validate({**fields, "filter": f.model_dump(), "group_by": group, "compare": compare,
                                        "as_of": as_of, "dataset": dataset})


def _unmapped(words: list[str], followup: bool = False) -> Intent:
    return Intent(kind="unanswerable", followup=followup, unknown_terms=words,
                  reason="no rule maps " + ", ".join(f"'{w}'" for w in words) + " to the outcomes table")


def route_question(question: str, context: Mapping[str, Any] | None, now: datetime, known: Known | None = None,
                   as_of: datetime | None = None) -> Intent:
    """The documented routing policy (module docstring). ``context`` is the previous numeric question."""
    known = known or Known()
    t = _Text(question)
    ids = UUID_RE.findall(question)
    for i in ids:
        t.take(re.escape(i.lower()))
    prev = NumericQuery.model_validate(context["query"]) if context and context.get("query") else None
    signal = next((kind for kind, pat in SIGNAL_WORDS if t.take(pat)), None)
    if (NARRATIVE_START.search(question) and signal is None) or ids:
        return Intent(kind="narrative", cycle_ids=ids, search_text=question)
    if signal is not None:
        t.take(NARRATIVE_START.pattern)
    specs = _metrics(t)
    compare = next((name for name, pat in COMPARE_WORDS if t.take(pat)), None)
    group = None
    for name, pat in GROUP_WORDS:
        if t.take(GROUP_LEAD + r"(?:" + pat + r")\b"):
            group = name
            break
    bad_group = t.take(GROUP_LEAD + r"([a-z][\w-]*)") if group is None else None
    since, until = _dates(t, now)
    f = QueryFilter()
    followup_cue = bool(FOLLOWUP_START.search(question))
    advisory_ctx = bool(prev and prev.filter.advisory and prev.filter.advisory != "NONE")
    found = _filters(t, f, known, advisory_ctx and (followup_cue or not specs))
    reset = bool(t.take(RESET.pattern))
    if since or until:
        f.since, f.until = since, until
    leftovers = t.leftovers()
    if signal is not None:
        f.signal_kind = signal                 # type: ignore[assignment]
        f.advisory = None if signal == "wait" else f.advisory
        if leftovers:
            return _unmapped(leftovers)
        spec = specs[0] if specs else {"metric": "pnl"}
        q = _query(spec, f, group or "reason_code" if signal == "blocked" else group, compare, as_of, "signals")
        also = [] if specs else [_query({"metric": "win_rate"}, f, None, None, as_of, "signals")]
        return Intent(kind="numeric", query=q, also=also, reason=f"signals advised or blocked ({signal})")
    nothing = not specs and group is None and not found and not (since or until) and not reset and not compare
    if nothing:
        if prev and followup_cue and not leftovers:
            return Intent(kind="unanswerable", followup=True, reason="the follow-up names nothing to change")
        if NUMERIC_CUE.search(question) and leftovers:
            return _unmapped(leftovers)
        return Intent(kind="narrative", search_text=question, unknown_terms=leftovers)
    # a follow-up: a leading "and / what about ..." or a bare filter; a question naming its own metric is new
    followup = prev is not None and (followup_cue or not specs)
    if not specs and not followup:
        if NARRATIVE_WORDS.search(question):
            return Intent(kind="narrative", search_text=question)
        specs = [{"metric": "count"}]          # filters with no metric and no context: how many trades
    if followup and prev is not None:
        merged = prev.filter.model_copy(deep=True) if not reset else QueryFilter()
        for k in QueryFilter.model_fields:
            v = getattr(f, k)
            if v not in (None, []):
                setattr(merged, k, v)
        if since or until:
            merged.since, merged.until = since, until
        f = merged
        if not specs:
            specs = [{"metric": prev.metric, **({"top": prev.top} if prev.top and prev.metric not in
                                                ("best", "worst") else {})}]
        group = group if group is not None else (None if reset else prev.group_by)
    if bad_group is not None:
        return Intent(kind="unanswerable", reason=f"the outcomes table has no column to group by "
                      f"'{bad_group.group(1)}'", unknown_terms=[bad_group.group(1)], followup=followup)
    if leftovers:
        return _unmapped(leftovers, followup)
    if compare == "previous_period" and f.since is None:
        return Intent(kind="unanswerable", followup=followup, unknown_terms=["previous"],
                      reason="a comparison with the previous period needs a period (e.g. 'this week')")
    extra = [{"metric": m} for s in specs for m in s.get("also", [])]
    queries = [_query(s, f, group, compare, as_of) for s in specs + extra]
    how = f"follow-up of '{context.get('question', '')}'" if followup and context else ""
    return Intent(kind="numeric", query=queries[0], also=queries[1:], followup=followup, reason=how)


__all__ = ["SMALL_SAMPLE", "Intent", "Known", "route_question"]
