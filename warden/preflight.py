"""The CLI side of the model preflight: ``check_model(settings, llm)`` before a loop, review or chat starts.

A model that cannot be used (no credentials, unreachable endpoint, unknown model id) stops the command
with one line and exit 2 (``UserError``) instead of failing every signal for the whole run. Offline and
replay need no check. Failure contract: raises ``UserError`` only.
"""
from __future__ import annotations

from typing import Any

from warden.errors import UserError


def check_model(settings: Any, llm: Any) -> None:
    from agents.llm import PreflightFailed, preflight

    try:
        preflight(settings, getattr(llm, "value", llm))
    except PreflightFailed as exc:
        raise UserError(str(exc)) from None
