"""The desk's app factory: one FastAPI app over one data dir, pages rendered by Jinja2 with autoescape.

``create_app(data_dir, read_only=..., token=...)`` wires the gate (warden.desk.security), the templates
(package data under warden/desk/templates/) and the page groups (risk, trades, live with its event
stream, reviews, approvals, ask).
Failure contract: a bad request value is a 400 page with one line; a refused request is 401/403; a
missing record is a 404 page. Only the risk and approval forms and Ask (its threads, the memory) write
to the data dir.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from warden.desk import approval_pages, ask_pages, live_pages, review_pages, risk_pages, trade_pages
from warden.desk.base import Desk, make_env
from warden.desk.security import gate


def create_app(data_dir: Path, *, read_only: bool = False, token: str | None = None) -> FastAPI:
    """The desk over ``data_dir``; ``token`` is required on every request when given (non-loopback hosts)."""
    app = FastAPI(title="Warden desk", docs_url=None, redoc_url=None, openapi_url=None)
    desk = Desk(Path(data_dir), read_only, make_env())
    app.state.desk = desk
    app.middleware("http")(gate(token, read_only))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return desk.render(request, "error.html", status_code=exc.status_code, status=exc.status_code,
                           detail=str(exc.detail))

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/live", status_code=303)

    for mod in (risk_pages, trade_pages, live_pages, review_pages, approval_pages, ask_pages):
        app.include_router(mod.router(desk))
    return app
