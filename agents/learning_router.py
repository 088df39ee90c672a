"""The learning agent's router: a question in plain words -> a numeric query, a retrieval, or "cannot answer".

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

from tools.memory.questions import NumericQuery, QueryFilter
from trading.domain.reason_codes import ReasonCode

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
