"""Options every command shares, so the conventions stay identical across commands.

Failure contract: typer rejects a bad option value (unknown --llm, a file given as --data-dir)
with its usage error (exit 2) before any command runs.
"""
from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class LLMChoice(StrEnum):
    offline = "offline"
    bedrock = "bedrock"


DataDir = Annotated[Path, typer.Option(
    "--data-dir", envvar="WARDEN_DATA_DIR", help="Where Warden writes and reads back everything.",
    file_okay=False, dir_okay=True)]
LLM = Annotated[LLMChoice, typer.Option(
    "--llm", envvar="WARDEN_LLM__PROVIDER", help="Reasoner behind the agents: offline (deterministic) or bedrock.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]

DEFAULT_DATA_DIR = Path("rag_data")


def can_prompt() -> bool:
    """Never prompt when stdin is not a terminal (CI, pipes, cron)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False
