"""The desk's gatekeeping: access token, CSRF double-submit, same-origin check, read-only mode.

- On a loopback address no token is needed; on any other address every request must carry the token
  (``?token=`` once, then an http-only cookie; or ``Authorization: Bearer``), else 401.
- Every POST is refused (403) in read-only mode, when its Origin/Referer is not this host, or when the
  form's ``csrf`` field does not equal the ``warden_csrf`` cookie (double submit).
Failure contract: a refusal is an HTTP error with a one-line reason; nothing is written.
"""
from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

TOKEN_COOKIE = "warden_token"
CSRF_COOKIE = "warden_csrf"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def needs_token(host: str) -> bool:
    return host not in LOOPBACK


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc == request.headers.get("host", "")


def gate(token: str | None, read_only: bool) -> Callable[[Request, Callable[[Request], Awaitable[Response]]],
                                                          Awaitable[Response]]:
    """The HTTP middleware: token, read-only and origin checks (the CSRF field is checked by ``checked_form``)."""

    async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if token is not None:
            given = request.query_params.get("token")
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if _same(given, token):
                # first visit with ?token=: keep it in a cookie and drop it from the address bar
                resp: Response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
                resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
                return resp
            if not (_same(request.cookies.get(TOKEN_COOKIE), token) or _same(bearer, token)):
                return PlainTextResponse("401: this desk needs its access token (printed by `warden serve`)",
                                         status_code=401)
        if request.method not in ("GET", "HEAD"):
            if read_only:
                return PlainTextResponse("403: the desk is read-only (--read-only)", status_code=403)
            if not _same_origin(request):
                return PlainTextResponse("403: cross-site request refused (Origin/Referer is not this desk)",
                                         status_code=403)
        csrf = csrf_for(request)
        response = await call_next(request)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    return middleware


def csrf_for(request: Request) -> str:
    """The CSRF value a page embeds in its forms (the cookie's, or a fresh one the response will set)."""
    if not hasattr(request.state, "csrf"):
        request.state.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    return str(request.state.csrf)


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after the double-submit check (403 when the field and the cookie differ)."""
    form = await request.form()
    csrf_for(request)
    if not _same(str(form.get("csrf") or ""), request.cookies.get(CSRF_COOKIE)):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page and try again")
    return form
