"""Configuration: a TOML file plus WARDEN_* environment variables (env wins), validated at start.

Nested fields use a double underscore in the environment: WARDEN_GUARDS__MAX_LOSS_PER_TRADE=500.
The TOML file is ``./warden.toml`` unless WARDEN_CONFIG names another one.

Failure contract: ``load_settings`` raises ``ConfigError`` (a ValueError) naming every bad field and its
environment variable; an unknown key raises too (``extra="forbid"``), and so does a WARDEN_CONFIG that
names no file. Nothing invalid is silently replaced by a default.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

Port = Annotated[int, Field(gt=0, lt=65536)]
AtLeastOne = Annotated[int, Field(ge=1)]


class _Section(BaseModel):
    # a misspelt key in warden.toml must fail loudly, not be ignored
    model_config = ConfigDict(extra="forbid")


class GuardConfig(_Section):
    """Every knob the deterministic guards read. Defaults are the conservative ones."""
    max_loss_per_trade: float = Field(default=1000.0, gt=0, description="worst-case loss cap per entry, USD")
    block_on_wait: bool = True
    wait_override_confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="signal confidence at/above which an advisory-only WAIT may be overridden; None = never")
    require_advisory: bool = True
    advisory_max_age_s: PositiveFloat = 120.0
    cap_reduce_only_qty: bool = False   # True: cap an oversized exit to the live position instead of blocking
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


class LLMConfig(_Section):
    provider: Literal["offline", "bedrock"] = "offline"
    model_id: str = "anthropic.claude-3-5-sonnet-20240620-v1:0"
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


class BrokerConfig(_Section):
    kind: Literal["paper", "ib", "polymarket"] = "paper"
    ib_host: str = "127.0.0.1"
    ib_port: Port = 4002
    ib_client_id: NonNegativeInt = 17
    polymarket_host: str = "https://clob.polymarket.com"
    polymarket_data_host: str = "https://data-api.polymarket.com"
    polymarket_chain_id: int = 137
    commission_per_contract: NonNegativeFloat = 2.25
    slippage_ticks: NonNegativeFloat = 0.0
    starting_cash: float = Field(default=100_000.0, gt=0)
    reconcile_interval_s: PositiveFloat = 60.0
    position_timeout_s: PositiveFloat = 5.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WARDEN_", env_nested_delimiter="__", extra="forbid", validate_default=True)

    data_dir: Path = Path("rag_data")
    tz_mytrader: str = "America/Chicago"
    guards: GuardConfig = Field(default_factory=GuardConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    rag: RagConfig = Field(default_factory=RagConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)

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


def load_settings(**overrides: object) -> Settings:
    """Load and validate settings; raise ConfigError naming each bad field."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            env = "WARDEN_" + "__".join(str(p).upper() for p in err["loc"])
            lines.append(f"{loc} (env {env}): {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None
