"""What every desk page shares: the ``Desk`` (data dir, mode, templates, outcome cache) and its renderer.

Templates are package data under warden/desk/templates/, rendered by Jinja2 with autoescape on for every
template, so untrusted text (symbols, log lines, model output) is always escaped.
Failure contract: a missing template is a code bug (jinja2.TemplateNotFound), never a user error.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from trading.records.outcome_schema import money_decimals
from warden.desk.data import OutcomeIndex
from warden.desk.security import csrf_for


def money(v: object, currency: str = "USD") -> str:
    """A money amount with the decimals its currency keeps (2 for fiat and USD stablecoins, 8 for a coin)."""
    if v is None:
        return "-"
    return f"{float(v):,.{money_decimals(currency)}f}"  # type: ignore[arg-type]


@dataclass
class Desk:
    """What every page needs: the data dir, the mode, the templates and the outcome cache."""
    data_dir: Path
    read_only: bool
    env: Environment
    outcomes: OutcomeIndex = field(init=False)

    def __post_init__(self) -> None:
        self.outcomes = OutcomeIndex(self.data_dir)

    def render(self, request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(request=request, csrf=csrf_for(request), read_only=self.read_only,
                                                  data_dir=str(self.data_dir), **ctx)
        return HTMLResponse(html, status_code=status_code)


def make_env() -> Environment:
    env = Environment(loader=PackageLoader("warden.desk", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["money"] = money
    return env
