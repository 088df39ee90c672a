"""The learning agent's query language: one typed, validated pydantic ``Query`` over the outcomes table.

A ``Query`` names ONE metric (count, win rate, total/average PnL, average win/loss, expectancy, profit
factor, payoff ratio, R-multiple, max drawdown, longest win/loss streak, holding time, MAE/MFE), an
optional ranking (``top`` N trades by a column, best or worst first), an optional grouping (symbol,
asset class, venue, side, advisory action/source, reason code, regime, exit reason, hour, weekday,
session, day/week/month), filters over the same columns plus dates relative to the question's as-of,
and an optional comparison (this period vs the previous one, with vs against the advice). The same
schema is what a model writes (structured output) and what the offline rules produce; every string
value is checked against a closed vocabulary or a safe pattern, so a hostile query (an unknown filter,
an injection string) fails validation and never runs. The executor is tools/memory/questions.py.

Failure contract: construction raises pydantic's ValidationError on anything outside the schema
(``extra="forbid"`` everywhere); nothing here touches data.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Metric = Literal["count", "win_rate", "pnl", "avg_pnl", "avg_win", "avg_loss", "expectancy", "profit_factor",
                 "payoff_ratio", "avg_r", "max_drawdown", "longest_win_streak", "longest_loss_streak",
                 "avg_holding", "mae", "mfe", "best", "worst"]
GroupBy = Literal["reason_code", "symbol", "asset", "asset_class", "venue", "side", "advisory_action",
                  "advisory_source", "outcome_source", "regime", "exit_reason", "hour", "weekday", "session", "day", "week",
                  "month", "has_stop", "won"]
RankBy = Literal["pnl_usd", "r_multiple", "holding_min"]
Compare = Literal["previous_period", "advice"]
Advice = Literal["WAIT", "BUY", "SELL", "NONE"]
Session = Literal["asia", "europe", "us"]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,79}$")   # symbols, assets, venues, sources, codes

METRIC_LABEL: dict[str, str] = {
    "count": "number of trades", "win_rate": "win rate", "pnl": "total PnL", "avg_pnl": "average PnL per trade",
    "avg_win": "average win (winning trades only)", "avg_loss": "average loss (losing trades only)",
    "expectancy": "expectancy per trade", "profit_factor": "profit factor (gross wins / gross losses)",
    "payoff_ratio": "payoff ratio (average win / average loss)", "avg_r": "average R-multiple",
    "max_drawdown": "maximum drawdown of cumulative PnL", "longest_win_streak": "longest winning streak",
    "longest_loss_streak": "longest losing streak", "avg_holding": "average holding time",
    "mae": "maximum adverse excursion", "mfe": "maximum favourable excursion",
    "best": "best trades", "worst": "worst trades"}
SMALL_SAMPLE = 10
MAX_TOP = 50


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _safe(v: str | None) -> str | None:
    if v is None:
        return None
    if not SAFE_VALUE.match(v):
        raise ValueError(f"value {v[:40]!r} is not a plain identifier")
    return v


class QueryFilter(_Strict):
    advisory: Advice | None = None                  # WAIT | BUY | SELL | NONE (no advisory at all)
    advisory_source: str | None = None              # offline | bedrock | memory | ...
    side: Literal["BUY", "SELL"] | None = None      # BUY (long) | SELL (short)
    asset: str | None = None                        # ES, MES, NQ, BTC, ...
    asset_class: str | None = None                  # future | crypto | prediction | stock ...
    symbol: str | None = None
    venue: str | None = None                        # ib | polymarket | paper
    reason_codes: list[str] = Field(default_factory=list, max_length=8)
    has_stop: bool | None = None
    won: bool | None = None
    regime_trend: Literal["trend_up", "trend_down", "range"] | None = None
    regime_vol: Literal["low_vol", "normal_vol", "high_vol"] | None = None
    exit_reason: str | None = None
    hour: int | None = Field(default=None, ge=0, le=23)             # UTC hour the trade was opened
    weekday: int | None = Field(default=None, ge=0, le=6)           # Monday = 0
    session: Session | None = None
    advice_followed: bool | None = None             # True: traded the advisory's side; False: against it
    signal_kind: Literal["blocked", "wait", "ignored"] | None = None   # dataset "signals" only
    outcome_source: str | None = None               # fills | resolution | review (reconstructed by a review) ...
    since: datetime | None = None                   # closed_at >= since
    until: datetime | None = None                   # closed_at < until

    @field_validator("advisory_source", "asset", "asset_class", "symbol", "venue", "exit_reason", "outcome_source")
    @classmethod
    def _plain(cls, v: str | None) -> str | None:
        return _safe(v)

    @field_validator("reason_codes")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for c in v:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{1,40}", c):
                raise ValueError(f"reason code {c[:40]!r} is not a code")
        return v

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else (v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC))

    def describe(self) -> str:
        """Plain words for the filters, for the answer's first line."""
        bits = []
        if self.signal_kind:
            bits.append({"blocked": "blocked by the guards", "wait": "advised WAIT (not traded)",
                         "ignored": "ignored"}[self.signal_kind])
        if self.advisory == "NONE":
            bits.append("with no advisory")
        elif self.advisory:
            bits.append(f"placed against a {self.advisory} advisory" if self.advisory == "WAIT"
                        else f"when the advisory said {self.advisory}")
        if self.advisory_source:
            bits.append(f"advised by {self.advisory_source}")
        if self.outcome_source:
            bits.append(f"with outcomes from {self.outcome_source}")
        if self.advice_followed is not None:
            bits.append("that followed the advice" if self.advice_followed else "taken against the advice")
        if self.side:
            bits.append("long" if self.side == "BUY" else "short")
        for label, v in (("in", self.asset), ("in", self.symbol), ("in asset class", self.asset_class),
                         ("on", self.venue)):
            if v:
                bits.append(f"{label} {v}")
        if self.reason_codes:
            bits.append("flagged " + " and ".join(self.reason_codes))
        if self.has_stop is not None:
            bits.append("with a protective stop" if self.has_stop else "with no protective stop")
        if self.won is not None:
            bits.append("that won" if self.won else "that lost")
        if self.regime_trend or self.regime_vol:
            bits.append("in a " + " ".join(x for x in (self.regime_trend, self.regime_vol) if x) + " regime")
        if self.exit_reason:
            bits.append(f"exited by {self.exit_reason}")
        if self.hour is not None:
            bits.append(f"opened in hour {self.hour:02d} UTC")
        if self.weekday is not None:
            bits.append(f"opened on a {WEEKDAYS[self.weekday]}")
        if self.session:
            bits.append(f"opened in the {self.session} session")
        if self.since or self.until:
            lo = self.since.date().isoformat() if self.since else "the start"
            hi = self.until.date().isoformat() if self.until else "now"
            bits.append(f"closed from {lo} to before {hi}" if self.until else f"closed since {lo}")
        return ", ".join(bits)


class Query(_Strict):
    """One question over the outcomes table. ``top`` ranks trades by ``rank_by`` (``worst`` first when
    ``ascending``); ``group_by`` splits the metric; ``compare`` adds a second side to the same metric."""
    metric: Metric
    dataset: Literal["trades", "signals"] = "trades"   # signals: blocked / WAIT-advised, counterfactual PnL
    filter: QueryFilter = Field(default_factory=QueryFilter)
    group_by: GroupBy | None = None
    top: int | None = Field(default=None, ge=1, le=MAX_TOP)
    rank_by: RankBy = "pnl_usd"
    ascending: bool = False
    compare: Compare | None = None
    as_of: datetime | None = None                   # never count a trade closed after this

    @model_validator(mode="after")
    def _shape(self) -> Query:
        if self.metric in ("best", "worst"):
            self.top = self.top or 5
            self.ascending = self.metric == "worst"
        if self.compare == "previous_period" and self.filter.since is None:
            raise ValueError("compare=previous_period needs a period (filter.since)")
        return self

    def label(self) -> str:
        return METRIC_LABEL[self.metric]


NumericQuery = Query          # the name the router and older callers use


class QueryResult(BaseModel):
    query: Query
    code: str                               # the pandas that ran, verbatim
    n: int                                  # trades matching the filter
    wins: int = 0
    losses: int = 0
    value: float | None = None              # the metric (percent for win_rate, USD for PnL, minutes, R)
    value_text: str = ""                    # the metric as the answer writes it
    groups: list[dict[str, Any]] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list)   # ranked trades
    comparison: list[dict[str, Any]] = Field(default_factory=list)
    cited: list[str] = Field(default_factory=list)             # trade_cycle_ids behind the number
    table_rows: int = 0                     # size of the table the query ran on
    small_sample: bool = False              # n < SMALL_SAMPLE: the answer says so
    note: str = ""


def query_schema() -> dict[str, Any]:
    """The JSON schema a model fills (structured output)."""
    return Query.model_json_schema()
