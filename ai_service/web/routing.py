"""The console's route class: every failure of a console route becomes a page or a redirect, never JSON or a
traceback.

* no session (or a revoked token) → 303 to ``/sign-in`` (back to the page afterwards);
* a form without its CSRF token → 403 page;
* a ``NocaiError`` → a page with its status, its message and its fix (403 role, 404 unknown id, 409 state ...);
* a malformed path or query → 404 / 422 page; the database unreachable → 503 page; a bug → 500 page, logged.

The API's JSON error handlers stay as they are for ``/api/v1``: this class catches a console route's errors
before they reach them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

import psycopg
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from psycopg_pool import PoolTimeout

from ai_service import metrics
from ai_service.errors import NocaiError
from ai_service.logs import REQUEST_ID
from ai_service.web.access import CsrfRefused, SignInRequired
from ai_service.web.render import error_page, render
from ai_service.web.session import clear_session, safe_next, session_token

logger = logging.getLogger(__name__)

_TITLES = {
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    422: "Something in the request is not right",
    502: "A service nocai depends on failed",
    503: "The database is not answering",
}


def _back_to(request: Request) -> str:
    """Where to return after signing in: this page (without the live-update fragment parameter)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "fragment"]
    return safe_next(request.url.path + ("?" + urlencode(params) if params else ""))


def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    if (
        request.method == "GET"
        and session_token(request) is None
        and request.headers.get("sec-fetch-site") == "cross-site"
    ):
        # A link from chat or mail: a SameSite=Strict cookie is not sent on a cross-site navigation. Reload the
        # page from itself (a same-origin navigation, which carries it); without a session it lands on sign-in.
        return HTMLResponse(render("continue.html", target=_back_to(request)), headers={"Cache-Control": "no-store"})
    params = {"next": _back_to(request) if request.method == "GET" else "/"}
    if exc.clear:
        params["expired"] = "1"
    response = RedirectResponse("/sign-in?" + urlencode(params), status_code=303)
    if exc.clear:
        clear_session(response, request)
    return response


def handle(request: Request, exc: Exception) -> Response:
    """The response for a console route that raised ``exc``."""
    request_id = REQUEST_ID.get()
    if isinstance(exc, SignInRequired):
        return sign_in_redirect(request, exc)
    if isinstance(exc, CsrfRefused):
        return error_page(
            request,
            403,
            "This form could not be verified",
            "the form did not carry this session's security token (CSRF), so nothing was done",
            "go back, reload the page and submit it again; console forms only work from the console's own pages",
            request_id=request_id,
        )
    if isinstance(exc, NocaiError):
        if exc.http_status >= 500:
            logger.error("%s: %s", exc.code, exc.message)
        title = _TITLES.get(exc.http_status, "Something went wrong")
        return error_page(request, exc.http_status, title, exc.message, exc.hint, request_id=request_id)
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        if any(tuple(e.get("loc", ()))[:1] == ("path",) for e in errors):
            return error_page(
                request,
                404,
                _TITLES[404],
                "this address does not name anything nocai knows (the id is malformed)",
                "open it from the incident queue or the knowledge browser",
                request_id=request_id,
            )
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
            for e in errors[:5]
        )
        return error_page(
            request, 422, _TITLES[422], problems, "correct the value and try again", request_id=request_id
        )
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        metrics.ERRORS.labels(where="database").inc()
        logger.error("database unavailable: %s", exc)
        return error_page(
            request,
            503,
            _TITLES[503],
            "the database did not answer in time",
            "reload in a few seconds; if it persists, check the database and /api/v1/health/ready",
            request_id=request_id,
        )
    metrics.ERRORS.labels(where="web").inc()
    logger.error("unexpected error in the console", exc_info=exc)
    return error_page(
        request,
        500,
        "Something went wrong in nocai",
        f"the console failed while handling this request ({type(exc).__name__})",
        "this is a bug: report it with the request id below",
        request_id=request_id,
    )


class ConsoleRoute(APIRoute):
    """A route whose every failure is answered by :func:`handle`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every failure becomes a page: see the module docstring
                return handle(request, exc)

        return guarded
