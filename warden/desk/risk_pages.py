"""Risk pages: every ledger (equity, peak, drawdown, latched halts, history) and the operator actions.

``clear-halt`` and ``reset-peak`` are POST forms that need a ticked confirmation, an operator and a note;
they go through the same checks and ledger calls as ``warden risk`` (warden.commands.risk), so the entry
recorded is the CLI's. Only a ledger the page lists can be acted on (never an arbitrary path).
Failure contract: a bad form (no confirmation, empty operator or note, bad peak, unknown ledger or code)
is a 400 page naming the field and nothing is appended.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from warden.desk.base import Desk
from warden.desk.security import checked_form
from warden.errors import UserError

HISTORY = 200


def ledgers(data_dir: Path) -> list[dict[str, Any]]:
    """``warden risk status``'s summaries, plus the halt level and each ledger's recent history."""
    from trading.records.ledger_files import find_ledgers, summary
    from trading.records.ledger_lines import read_lines
    from warden.commands.risk import _settings_guards

    cfg = _settings_guards()
    out = []
    for path in find_ledgers(data_dir):
        doc = summary(path, data_dir, cfg)
        good, _bad = read_lines(path)
        doc["halt_level_pct"] = cfg.max_drawdown_pct
        doc["history"] = [{"line": n, **e} for n, e in reversed(good[-HISTORY:])]
        out.append(doc)
    return out


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _convert(conv: Callable[[str], Any], raw: str, what: str) -> Any:
    """``conv(raw)``, None for an empty field, a UserError naming the value when it does not convert."""
    try:
        return conv(raw) if raw else None
    except ValueError:
        raise UserError(f"{what} {raw!r}") from None


def _ledger_of(desk: Desk, form: FormData) -> tuple[str, str, str]:
    """(ledger label, operator, note) after the checks every action shares (UserError naming the field)."""
    from trading.records.ledger_files import find_ledgers

    if form.get("confirm") != "yes":
        raise UserError("tick the confirmation box: this changes what the guards allow")
    label = _text(form, "ledger")
    known = {str(p.relative_to(desk.data_dir)) for p in find_ledgers(desk.data_dir)}
    if label not in known:
        raise UserError(f"ledger {label!r} is not one of this data dir's ledgers")
    return label, _text(form, "operator"), _text(form, "note")


def router(desk: Desk) -> APIRouter:
    r = APIRouter()

    def page(request: Request, status: int = 200, error: str = "", done: str = "") -> HTMLResponse:
        return desk.render(request, "risk.html", status_code=status, ledgers=ledgers(desk.data_dir), error=error,
                           done=done)

    @r.get("/risk", response_class=HTMLResponse)
    def risk(request: Request, done: str = "") -> HTMLResponse:
        return page(request, done=done)

    @r.get("/api/risk")
    def risk_json() -> dict[str, Any]:
        return {"ledgers": ledgers(desk.data_dir)}

    async def act(request: Request, what: str, do: Callable[[FormData, str, str, str], None]) -> Any:
        """Check the form (CSRF, confirmation, ledger, operator, note), then ``do`` it; 400 page on UserError."""
        form = await checked_form(request)
        try:
            label, operator, note = _ledger_of(desk, form)
            do(form, label, operator, note)
        except UserError as exc:
            return page(request, 400, error=str(exc))
        return RedirectResponse(f"/risk?done={what}+in+{quote(label)}", status_code=303)

    def do_clear(form: FormData, label: str, operator: str, note: str) -> None:
        from trading.domain.reason_codes import ReasonCode
        from warden.commands.risk import _open

        rc = _convert(ReasonCode, _text(form, "code"), "unknown reason code")
        _open(desk.data_dir, str(desk.data_dir / label), operator, note).clear_halt(operator, note, rc)

    def do_reset(form: FormData, label: str, operator: str, note: str) -> None:
        from warden.commands.risk import _open

        raw = _text(form, "new_peak")
        new_peak = _convert(float, raw, "new peak must be a number, got")
        if new_peak is not None and (not math.isfinite(new_peak) or new_peak <= 0):
            raise UserError(f"new peak must be a finite number > 0, got {raw}")
        led = _open(desk.data_dir, str(desk.data_dir / label), operator, note)
        if new_peak is None and led.state().equity is None:
            raise UserError(f"{label} has no equity recorded yet: give the new peak")
        led.reset_peak(operator, note, new_peak)

    @r.post("/risk/clear-halt", response_class=HTMLResponse)
    async def clear_halt(request: Request) -> Any:
        return await act(request, "halt+cleared", do_clear)

    @r.post("/risk/reset-peak", response_class=HTMLResponse)
    async def reset_peak(request: Request) -> Any:
        return await act(request, "peak+reset", do_reset)

    @r.get("/risk/clear-halt")
    @r.get("/risk/reset-peak")
    def no_get() -> None:
        raise HTTPException(405, "operator actions are POST forms on the Risk page")

    return r
