"""Every error the API returns is JSON: a stable ``code``, a ``message`` that names the problem, a ``fix``, and
the ``request_id`` to find it in the logs. HTTP statuses come from the error classes (``ai_service.errors``);
this is the one place that turns exceptions into responses.

Bad input is always a 4xx: malformed JSON, wrong types, unknown routes and methods, oversized bodies. A 5xx means
the service itself failed (503: the database is unreachable; 500: a bug, logged with its traceback).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ai_service import metrics
from ai_service.errors import NocaiError
from ai_service.logs import REQUEST_ID

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The body of every error response."""

    code: str = Field(description="Stable machine-readable kind of error, e.g. invalid_input, not_found.")
    message: str = Field(description="What was wrong.")
    fix: str | None = Field(description="What to do about it.")
    request_id: str | None = Field(default=None, description="Quote it when reporting a problem.")


def error_response(
    status: int, code: str, message: str, fix: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(code=code, message=message, fix=fix, request_id=REQUEST_ID.get())
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


#: Responses every route may give, for OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or an unknown, revoked or badly signed one."},
    403: {"model": ErrorBody, "description": "The token's role may not do this."},
    422: {"model": ErrorBody, "description": "The request is malformed (the message names the field)."},
}


def _field(loc: tuple[Any, ...]) -> str:
    if len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int):
        return "body"  # a JSON decode error: pydantic puts the character position where a field would be
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def install(app: FastAPI) -> None:
    """Register the handlers."""

    @app.exception_handler(NocaiError)
    async def nocai_error(_request: Request, exc: NocaiError) -> JSONResponse:
        if exc.http_status >= 500:
            logger.error("%s: %s", exc.code, exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return error_response(exc.http_status, exc.code, exc.message, exc.hint, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in exc.errors()[:5]]
        return error_response(
            422,
            "invalid_request",
            "; ".join(problems) or "the request is not valid",
            "see /docs for the route's parameters and body",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        fixes = {
            400: "send the body as UTF-8 encoded JSON, nested at most a few dozen levels (see /docs)",
            404: "see /docs for the routes (everything lives under /api/v1)",
            405: "see /docs for the methods this route takes",
            413: "send fewer alerts per request, or raise NOCAI_MAX_BODY_BYTES",
        }
        message = exc.detail if isinstance(exc.detail, str) else "the request was refused"
        return error_response(
            exc.status_code,
            codes.get(exc.status_code, f"http_{exc.status_code}"),
            message,
            fixes.get(exc.status_code),
            dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(psycopg.DataError)
    async def unstorable_value(_request: Request, exc: psycopg.DataError) -> JSONResponse:
        first_line, *_ = str(exc).splitlines() or ["invalid value"]
        return error_response(
            422,
            "invalid_request",
            f"a value of the request cannot be used: {first_line}",
            "remove NUL characters from text and keep numbers within 64 bits",
        )

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        metrics.ERRORS.labels(where="database").inc()
        logger.error("database unavailable: %s", exc)
        return error_response(
            503,
            "database_unavailable",
            "the database did not answer in time",
            "retry shortly; if it persists, check the database and GET /api/v1/health/ready",
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        metrics.ERRORS.labels(where="api").inc()
        logger.error("unexpected error", exc_info=exc)
        return error_response(
            500,
            "internal_error",
            f"the service failed while handling this request ({type(exc).__name__})",
            "this is a bug: report it with the request_id",
        )
