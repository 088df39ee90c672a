"""The words traders use, mapped onto the query language (tools/memory/query.py): a table to extend.

``METRIC_WORDS`` is an ordered list of (regular expression, query fields): the first pattern that
matches at a place in the question wins there, and every match in the question becomes one metric
(so "win rate, and the biggest losers?" asks two things). To teach the offline reader a new phrase,
append a row: ``(r"\\bmy\\s+edge\\b", {"metric": "expectancy"})``. A pattern may capture a count
``(?P<n>...)`` for "top N" questions. ``GROUP_WORDS`` maps "by <word>" onto a grouping,
``COMPARE_WORDS`` onto a comparison, ``SIGNAL_WORDS`` onto questions about blocked orders and
WAIT-advised signals (the signals table, tools/memory/counterfactual.py), ``ASSET_CLASS_WORDS`` onto an
asset-class filter ("net pnl for crypto": the registry's classes, trading/domain/instruments.py).
Metric words that no row maps are refused by the router (agents/learning_router.py), never guessed.

Failure contract: data only.
"""
from __future__ import annotations

from typing import Any

_N = r"(?:(?:the\s+)?(?:top|bottom)\s+)?(?:(?P<n>\d{1,2}|one|two|three|four|five|ten)\s+)?"
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10}
_LOSS_THINGS = r"(?:trades?|loss(?:es)?|losing\s+trades?|losers?|days?\s+trades?)"
_WIN_THINGS = r"(?:trades?|wins?|winners?|winning\s+trades?)"

METRIC_WORDS: list[tuple[str, dict[str, Any]]] = [
    # streaks, drawdown, excursions: several words, matched before their parts
    (r"\b(?:longest|biggest|worst|max(?:imum)?)\s+(?:losing|loss)\s+streaks?\b|\blosing\s+streaks?\b|"
     r"\bmost\s+consecutive\s+loss(?:es)?\b|\bconsecutive\s+losers\b", {"metric": "longest_loss_streak"}),
    (r"\b(?:longest|biggest|best|max(?:imum)?)\s+(?:winning|win)\s+streaks?\b|\bwinning\s+streaks?\b|"
     r"\bwin\s+streaks?\b|\bmost\s+consecutive\s+wins\b", {"metric": "longest_win_streak"}),
    (r"\b(?:max(?:imum)?|biggest|largest|worst|deepest)?\s*draw[\s-]?downs?\b|\bpeak[\s-]to[\s-]trough\b",
     {"metric": "max_drawdown"}),
    (r"\bmae\b|\b(?:maximum|max)\s+adverse\s+excursion\b|\badverse\s+excursion\b", {"metric": "mae"}),
    (r"\bmfe\b|\b(?:maximum|max)\s+favou?rable\s+excursion\b|\bfavou?rable\s+excursion\b", {"metric": "mfe"}),
    # ratios
    (r"\bprofit[\s-]factor\b", {"metric": "profit_factor"}),
    (r"\bpay[\s-]?off(?:\s+ratio)?\b|\breward[\s-]to[\s-]risk\b|\bwin[\s/-]+loss\s+ratio\b|"
     r"\baverage\s+win\s+(?:to|vs\.?|versus|over)\s+(?:the\s+)?average\s+loss\b", {"metric": "payoff_ratio"}),
    (r"\bexpectancy\b|\bexpected\s+value\b|\bedge\s+per\s+trade\b|\bev\s+per\s+trade\b", {"metric": "expectancy"}),
    (r"\b(?:average|avg|mean)\s+r(?:[\s-]?multiples?)?\b|\br[\s-]multiples?\b|\bin\s+r\b", {"metric": "avg_r"}),
    # holding time
    (r"\b(?:average|avg|mean|typical)?\s*(?:holding|hold)\s+(?:time|period|duration)s?\b|"
     r"\bhow\s+long\s+(?:do|did|does)\s+(?:we|i|it|the\s+bots?)\s+(?:hold|stay|keep)\b|"
     r"\btime\s+in\s+(?:the\s+)?(?:trades?|market|positions?)\b|\btrade\s+durations?\b",
     {"metric": "avg_holding"}),
    (_N + r"\blongest\s+(?:trades?|holds?|positions?)\b", {"metric": "avg_holding", "top": 5,
                                                          "rank_by": "holding_min", "ascending": False}),
    (_N + r"\bshortest\s+(?:trades?|holds?|positions?)\b", {"metric": "avg_holding", "top": 5,
                                                           "rank_by": "holding_min", "ascending": True}),
    # averages of one side: never the average of all trades
    (r"\b(?:average|avg|mean|typical)\s+(?:loss|losses|loser|losing\s+trades?|losing\s+trade)"
     r"(?:\s+(?:per|a|each)\s+trade)?\b|\bloss\s+per\s+losing\s+trade\b|\bhow\s+much\s+do\s+(?:we|i)\s+lose\s+"
     r"when\s+(?:we|i)\s+lose\b", {"metric": "avg_loss"}),
    (r"\b(?:average|avg|mean|typical)\s+(?:win|wins|winner|winning\s+trades?|winning\s+trade|gain)"
     r"(?:\s+(?:per|a|each)\s+trade)?\b|\bhow\s+much\s+do\s+(?:we|i)\s+(?:make|win)\s+when\s+(?:we|i)\s+win\b",
     {"metric": "avg_win"}),
    (r"\b(?:average|avg|mean)\s+(?:pnl|p&l|p/l|profit(?:\s+and\s+loss)?|return|result|trade)(?:\s+per\s+trade)?\b|"
     r"\b(?:pnl|p&l|profit)\s+per\s+trade\b", {"metric": "avg_pnl"}),
    # win rate
    (r"\bwin(?:ning)?[\s-]*(?:rate|ratio|percentage|pct|%)|\bhit[\s-]rate\b|\bsuccess[\s-]rate\b|\bstrike\s+rate\b|"
     r"\bhow\s+often\b[^?]*?\b(?:win|won|profitable|right)\b|"
     r"\b(?:percentage|percent|share|fraction)\s+of\s+(?:the\s+)?(?:trades?\s+)?(?:that\s+)?"
     r"(?:won|win|were\s+winners|were\s+profitable)\b", {"metric": "win_rate"}),
    # ranked trades
    (_N + r"\b(?:worst|biggest|largest|heaviest)\s+" + _LOSS_THINGS + r"\b", {"metric": "worst"}),
    (r"\bwhere\s+did\s+(?:we|i)\s+lose\s+(?:the\s+)?most\b", {"metric": "worst"}),
    (_N + r"\b(?:best|biggest|largest|top)\s+" + _WIN_THINGS + r"\b", {"metric": "best"}),
    # totals and counts
    (r"\bhow\s+(?:did|do|have|am|are)\s+(?:we|i|the\s+bots?|it)\s+(?:do|doing|done|perform|performing|performed|"
     r"fare|faring)\b|\bhow\s+(?:was|is)\s+(?:my|our)\s+(?:trading|performance)\b|\bperformance\s+summary\b",
     {"metric": "pnl", "also": ["win_rate"]}),
    (r"\b(?:total\s+|net\s+|overall\s+)?(?:pnl|p&l|p/l|profit(?:\s+and\s+loss)?|profits|net\s+result)\b|"
     r"\bhow\s+much\s+(?:money\s+)?(?:did|have|has|do)\s+(?:we|i|the\s+bots?|it)\s+"
     r"(?:make|made|lose|lost|earn|earned|win|won)\b|\b(?:am|are)\s+(?:we|i)\s+(?:up|down|profitable)\b",
     {"metric": "pnl"}),
    (r"\bhow\s+many\b|\bnumber\s+of\b|\bcount(?:\s+of)?\b", {"metric": "count"}),
]

# "by <word>": grouping columns
GROUP_WORDS: list[tuple[str, str]] = [
    ("reason_code", r"reason[\s_-]?codes?|codes?"), ("exit_reason", r"exit[\s_-]?reasons?|exits?"),
    ("advisory_source", r"advis(?:ory|ories|or)\s+sources?|sources?\s+of\s+(?:the\s+)?advice|advisors?"),
    ("advisory_action", r"advisor(?:y|ies)(?:\s+actions?)?|advice|recommendations?"),
    ("outcome_source", r"outcome\s+sources?|sources?\s+of\s+(?:the\s+)?outcomes?"),
    ("asset_class", r"asset[\s_-]class(?:es)?|class(?:es)?"),
    ("symbol", r"symbols?|contracts?|markets?|tickers?"), ("asset", r"assets?|instruments?|underlyings?"),
    ("venue", r"venues?|brokers?|exchanges?"), ("side", r"sides?|directions?"), ("regime", r"regimes?"),
    ("hour", r"hours?(?:\s+of\s+(?:the\s+)?day)?|time\s+of\s+day"),
    ("weekday", r"week[\s-]?days?|days?\s+of\s+(?:the\s+)?week"), ("session", r"(?:trading\s+)?sessions?"),
    ("day", r"days?|dates?"), ("week", r"weeks?"), ("month", r"months?"),
    ("has_stop", r"stops?|protection"), ("won", r"outcomes?|results?"),
]
GROUP_LEAD = r"\b(?:by|per|for\s+each|each|broken\s+down\s+by|split\s+by|grouped\s+by|across)\s+(?:the\s+|each\s+)?"

COMPARE_WORDS: list[tuple[str, str]] = [
    ("advice", r"\b(?:with|following|followed)\s+(?:vs\.?|versus|or|and|compared\s+(?:to|with))\s+against\s+"
               r"(?:the\s+)?(?:advice|advisory|advisories)\b|\bfollow(?:ed|ing)?\s+(?:vs\.?|versus|or)\s+"
               r"(?:ignor(?:ed|ing)|against)\s+(?:the\s+)?(?:advice|advisory|advisories)\b|"
               r"\b(?:with|against)\s+(?:the\s+)?advice\s+(?:vs\.?|versus|compared)\b"),
    ("previous_period", r"\b(?:vs\.?|versus|compared\s+(?:to|with)|against)\s+(?:the\s+)?"
                        r"(?:previous|prior|last|preceding)\s+(?:one|period|week|month)\b"),
]

# questions about what did NOT become a trade (the signals table)
SIGNAL_WORDS: list[tuple[str, str]] = [
    ("blocked", r"\b(?:what|which|how\s+many)\b[^?]*\b(?:guards?|gates?)\s+(?:block|blocked|stop|stopped|reject|"
                r"rejected|refuse|refused)\b|\bblocked\s+(?:orders?|entries|trades?|signals?)\b|"
                r"\bwhat\s+(?:got|was|were)\s+blocked\b"),
    ("wait", r"\b(?:after|following)\s+(?:the\s+|our\s+|a\s+)?(?:wait|memory)(?:[\s-]advised)?\s+"
             r"(?:advisor(?:y|ies)|advice|signals?|calls?|decisions?)\b|\bwait[\s-]advised\s+signals?\b|"
             r"\bsignals?\s+(?:that\s+were\s+|we\s+were\s+)?advised\s+(?:to\s+)?wait\b|"
             r"\bwhen\s+(?:we|i)\s+waited\b"),
    ("ignored", r"\bignored\s+signals?\b|\bsignals?\s+(?:we|i)\s+(?:ignored|skipped|passed\s+on)\b"),
]

# words naming an asset class -> the filter value (the instrument registry's classes); first match wins,
# so perpetual futures are read before futures
ASSET_CLASS_WORDS: list[tuple[str, str]] = [
    ("perpetual", r"\bperps?\b|\bperpetuals?(?:\s+(?:futures|swaps?|contracts?))?\b"),
    ("crypto", r"\bcrypto(?:currenc(?:y|ies)|s)?\b|\bspot\s+crypto\b"),
    ("future", r"\bfutures(?:\s+contracts?)?\b"),
    ("stock", r"\bstocks?\b|\bequit(?:y|ies)\b|\betfs?\b"),
    ("fx", r"\bfx\b|\bforex\b|\bcurrency\s+pairs?\b"),
    ("prediction", r"\bprediction(?:\s+markets?)?\b|\bbinary\s+(?:shares?|options?|markets?)\b"),
]
