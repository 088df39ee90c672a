"""Options every command shares, so the conventions stay identical across commands.

Failure contract: typer rejects a bad option value (unknown --llm, a file given as --data-dir, a
non-finite amount, an unknown time zone) with its usage error, which warden/cli.py prints as one line
naming the flag (exit 2) before any command runs.
"""
from __future__ import annotations

import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class LLMChoice(StrEnum):
    offline = "offline"
    bedrock = "bedrock"
    openai = "openai"


DataDir = Annotated[Path, typer.Option(
    "--data-dir", envvar="WARDEN_DATA_DIR", help="Where Warden writes and reads back everything.",
    file_okay=False, dir_okay=True)]
LLM = Annotated[LLMChoice, typer.Option(
    "--llm", envvar="WARDEN_LLM__PROVIDER", help="Reasoner behind the agents: offline (deterministic), bedrock or openai (any OpenAI-compatible "
    "endpoint: [llm] base_url and model_id; docs/llm.md).")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]

DEFAULT_DATA_DIR = Path("rag_data")


def can_prompt() -> bool:
    """Never prompt when stdin is not a terminal (CI, pipes, cron)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def finite_positive(value: float | None) -> float | None:
    """Option callback: a positive, finite number (nan and inf are refused; typer names the flag)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a positive, finite number (got {value})")
    return value


def zone_name(value: str | None) -> str | None:
    """Option callback: an IANA time zone name such as America/Chicago or UTC."""
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {value!r} (use an IANA name such as America/Chicago or UTC)") \
            from None
    return value
