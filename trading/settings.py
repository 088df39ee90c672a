"""Configuration: a TOML file plus WARDEN_* environment variables (env wins), validated at start.

Nested fields use a double underscore in the environment: WARDEN_GUARDS__MAX_LOSS_PER_TRADE=500.
The TOML file is ``./warden.toml`` unless WARDEN_CONFIG names another one.

Failure contract: ``load_settings`` raises ``ConfigError`` (a ValueError) naming every bad field and its
environment variable; an unknown key raises too (``extra="forbid"``), and so does a WARDEN_CONFIG that
names no file, an unknown ``WARDEN_*`` variable (with a did-you-mean: a misspelt variable must not be
silently ignored any more than a misspelt TOML key) and a NaN or infinite number anywhere (a NaN loss cap
compares False with everything and would switch the guard off). Nothing invalid is silently replaced by a
default.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from trading.domain.fx import configure as configure_fx
from trading.domain.instrument_table import CURRENCY_PATTERN
from trading.domain.instruments import InstrumentDecl
from trading.domain.instruments import configure as configure_instruments

Port = Annotated[int, Field(gt=0, lt=65536)]
AtLeastOne = Annotated[int, Field(ge=1)]
FxRate = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _upper(v: object) -> object:
    return v.strip().upper() if isinstance(v, str) else v


class _Section(BaseModel):
    # a misspelt key in warden.toml must fail loudly, not be ignored; NaN / inf are never a setting
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class GuardConfig(_Section):
    """Every knob the deterministic guards read. Defaults are the conservative ones."""
    max_loss_per_trade: float = Field(default=1000.0, gt=0,
                                      description="worst-case loss cap per entry, in the account currency")
    block_on_wait: bool = True
    wait_override_confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="signal confidence at/above which an advisory-only WAIT may be overridden; None = never")
    require_advisory: bool = True
    advisory_max_age_s: PositiveFloat = 120.0
    cap_reduce_only_qty: bool = Field(
        default=True, description="an exit larger than the LIVE position is reduced to it (REDUCE_ONLY_CAPPED); "
        "False: refused (REDUCE_ONLY_VIOLATION). Wrong-side and flat-book exits are blocked either way")
    block_on_advisory_conflict: bool = True
    max_drawdown_pct: float = Field(default=30.0, gt=0, lt=100)
    max_consecutive_losses: AtLeastOne = 4
    loss_streak_pause_s: float = Field(
        default=3600.0, ge=0, description="entries pause this long after the last loss of a streak; 0 = until cleared")
    max_unresolved_outcomes: NonNegativeInt = 3
    outcome_grace_s: float = Field(default=900.0, ge=0, description="time after resolve_by before an outcome is late")
    cooldown_after_loss_s: NonNegativeFloat = 0.0
    min_seconds_between_entries: NonNegativeFloat = 0.0
    max_orders_per_minute: AtLeastOne = 30
    max_position_qty: float = Field(default=10.0, gt=0, description="max |position| per symbol, contracts/shares")
    risk_per_trade: PositiveFloat | None = Field(
        default=None, description="risk-based sizing: entry quantity whose stop-out loses this much (account "
        "currency), rounded down to the instrument's size step; None = the fixed --qty")
    max_notional_x_equity: PositiveFloat = Field(
        default=10.0, description="an entry whose notional exceeds this multiple of equity is refused")


class LLMConfig(_Section):
    provider: Literal["offline", "bedrock", "openai"] = "offline"
    model_id: str = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    # OpenAI-compatible endpoint (Ollama http://127.0.0.1:11434/v1, vLLM, LM Studio, llama.cpp server) for
    # provider "openai"; for "bedrock" an endpoint override (a VPC endpoint or a local fake). docs/llm.md
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"     # the variable holding the key (a local server needs none)
    structured_output: Literal["json_schema", "tools"] = "json_schema"
    # output token ceiling per role; roles not listed get agents.llm_limits' size from their schema
    max_tokens_by_role: dict[str, int] = Field(default_factory=dict)
    region: str = "us-east-1"
    connect_timeout_s: PositiveFloat = 5.0
    read_timeout_s: PositiveFloat = 30.0
    max_attempts: AtLeastOne = 4
    max_tokens: int = Field(default=1024, ge=16)
    budget_usd_per_cycle: NonNegativeFloat = 0.05
    budget_usd_per_day: NonNegativeFloat = 5.0
    usd_per_1k_input_tokens: NonNegativeFloat = 0.003
    usd_per_1k_output_tokens: NonNegativeFloat = 0.015


class RagConfig(_Section):
    mode: Literal["embedded", "http"] = "embedded"
    host: str = "127.0.0.1"
    port: Port = 8000
    text_embedding: Literal["hashing", "minilm", "titan"] = "hashing"


class MemoryRuleConfig(_Section):
    """The decision agent's memory rule (agents/decision.py, docs/memory.md): when similar past cycles
    may advise WAIT, and how the loop keeps sampling after a memory WAIT."""
    min_sample: float = Field(default=20.0, ge=1)          # effective (decayed) similar cycles before a WAIT
    bad_win_rate: float = Field(default=0.4, ge=0, le=1)   # shrunk win rate below this advises WAIT
    prior_win_rate: float = Field(default=0.5, ge=0, le=1) # small samples shrink toward this
    prior_strength: float = Field(default=10.0, ge=0)      # ... with the weight of this many cycles
    half_life_days: float = Field(default=14.0, gt=0)      # a cycle this old counts half
    neighbours: int = Field(default=30, ge=1, le=500)      # similar cycles looked up
    explore_rate: float = Field(default=0.1, ge=0, le=1)   # paper: share of memory WAITs let through
    max_consecutive_vetoes: int = Field(default=20, ge=1)  # any venue: then the next one is let through


class BrokerConfig(_Section):
    kind: Literal["paper", "ib", "polymarket"] = "paper"
    ib_host: str = "127.0.0.1"
    ib_port: Port = 4002
    ib_client_id: NonNegativeInt = 17
    polymarket_host: str = "https://clob.polymarket.com"
    polymarket_data_host: str = "https://data-api.polymarket.com"
    polymarket_gamma_host: str = "https://gamma-api.polymarket.com"   # market metadata (slugs -> tokens)
    polymarket_chain_id: int = 137
    commission_per_contract: NonNegativeFloat = 2.25
    slippage_ticks: NonNegativeFloat = 0.0
    starting_cash: float = Field(default=100_000.0, gt=0)
    # cash, equity, drawdown and every guard limit are in it; USD stablecoins count as USD. An instrument
    # quoted in another currency needs its [fx] rate (trading/domain/fx.py)
    account_currency: Annotated[str, BeforeValidator(_upper), Field(pattern=CURRENCY_PATTERN)] = "USD"
    reconcile_interval_s: PositiveFloat = 60.0
    position_timeout_s: PositiveFloat = 5.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WARDEN_", env_nested_delimiter="__", extra="forbid", validate_default=True,
        allow_inf_nan=False)

    data_dir: Path = Path("rag_data")
    tz_mytrader: str = "America/Chicago"
    guards: GuardConfig = Field(default_factory=GuardConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    rag: RagConfig = Field(default_factory=RagConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    memory_rule: MemoryRuleConfig = Field(default_factory=MemoryRuleConfig)
    # [instruments.NAME] tables: extra or overriding instrument specs (trading/domain/instruments.py)
    instruments: dict[str, InstrumentDecl] = Field(default_factory=dict)
    # [fx] CCY = rate: account-currency units per 1 CCY (BTC = 40000.0 in a USD account); no implicit rate
    fx: dict[str, FxRate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ValueError(f"data_dir {self.data_dir} exists and is not a directory")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("WARDEN_CONFIG", "warden.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        elif "WARDEN_CONFIG" in os.environ:
            raise ConfigError(f"WARDEN_CONFIG names {toml_path}, which is not a file")
        return tuple(sources)


class ConfigError(ValueError):
    """Invalid configuration; the message names the offending field(s)."""


# WARDEN_* variables read outside the settings model
OTHER_ENV_VARS = frozenset({"WARDEN_CONFIG", "WARDEN_MINILM_DIR"})


def known_env_vars() -> list[str]:
    """Every WARDEN_* variable the settings read: top-level fields, sections and their fields."""
    names = set(OTHER_ENV_VARS)
    for name, f in Settings.model_fields.items():
        names.add(f"WARDEN_{name.upper()}")
        sub = f.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            names.update(f"WARDEN_{name.upper()}__{k.upper()}" for k in sub.model_fields)
    return sorted(names)


def check_env_vars(environ: dict[str, str] | None = None) -> None:
    """Refuse unknown WARDEN_* variables, naming each with the closest known one."""
    env = os.environ if environ is None else environ
    known = known_env_vars()
    bad = []
    fields = [f.upper() for f in InstrumentDecl.model_fields]
    for var in sorted(k for k in env if k.upper().startswith("WARDEN_")):
        if var.upper() in known:
            continue
        # [instruments.NAME] tables by variable: WARDEN_INSTRUMENTS__<NAME>__<FIELD> (or a JSON table per NAME)
        inst = var.upper().split("__")
        if inst[0] == "WARDEN_FX" and len(inst) == 2 and inst[1]:     # WARDEN_FX__BTC=40000: one [fx] rate
            continue
        if inst[0] == "WARDEN_INSTRUMENTS" and len(inst) in (2, 3) and all(inst[1:]):
            if len(inst) == 2 or inst[2] in fields:
                continue
            close = difflib.get_close_matches(inst[2], fields, n=1, cutoff=0.6)
            bad.append(f"{var} (no instrument field {inst[2]}"
                       + (f"; did you mean {'__'.join(inst[:2])}__{close[0]}?)" if close else ")"))
            continue
        close = difflib.get_close_matches(var.upper(), known, n=1, cutoff=0.6)
        bad.append(f"{var}" + (f" (did you mean {close[0]}?)" if close else ""))
    if bad:
        raise ConfigError("unknown environment variable " + "; ".join(bad))


def load_settings(**overrides: object) -> Settings:
    """Load and validate settings; raise ConfigError naming each bad field or unknown WARDEN_* variable."""
    check_env_vars()
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
        try:
            configure_instruments(settings.instruments)    # [instruments.NAME] tables win over the built-ins
        except ValueError as exc:      # a table that names no instrument: one line naming it, like a bad field
            raise ConfigError(str(exc)) from None
        try:
            configure_fx(settings.broker.account_currency, settings.fx)   # one set of rates for every judge
        except ValidationError as exc:     # an [fx] key that is no currency code: one line naming it
            raise ConfigError("invalid configuration: " + "; ".join(
                str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())) from None
        return settings
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            env = "WARDEN_" + "__".join(str(p).upper() for p in err["loc"])
            lines.append(f"{loc} (env {env}): {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
