"""ASGI middleware: the request id and access log with metrics, the body size limit, and the auth gate.

Both are plain ASGI (no per-request task switching), so they cost microseconds on the webhook path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator

from anyio.to_thread import run_sync
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ai_service import metrics
from ai_service.api.deps import Gate, admit, identify_header
from ai_service.api.errors import error_response
from ai_service.auth.models import Permission
from ai_service.errors import NocaiError
from ai_service.logs import REQUEST_ID

logger = logging.getLogger("ai_service.api.access")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class RequestContext:
    """A request id for every request (the caller's ``X-Request-ID`` when well-formed), an access log line, and
    the request counters and latency histogram by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _SAFE_ID.match(given) else uuid.uuid4().hex[:16]
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:  # a bug below: answer it here, where the request id is still known
                if responded:
                    raise
                metrics.ERRORS.labels(where="api").inc()
                logger.error("unexpected error", exc_info=exc)
                response = error_response(
                    500,
                    "internal_error",
                    f"the service failed while handling this request ({type(exc).__name__})",
                    "this is a bug: report it with the request_id",
                )
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.REQUESTS.labels(method=scope["method"], route=route, status=str(status)).inc()
            metrics.REQUEST_SECONDS.labels(route=route).observe(elapsed)
            logger.info(
                "%s %s %d %.1f ms",
                scope["method"],
                scope["path"],
                status,
                elapsed * 1000,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round(elapsed * 1000, 1),
                },
            )
            REQUEST_ID.reset(token)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413: at once when ``Content-Length`` says so, else as soon as
    the bytes read pass the limit (a chunked upload)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, self.max_bytes, int(declared))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, _too_large(self.max_bytes, seen))
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int, size: int) -> str:
    return f"the request body is larger than {limit:,} bytes (at least {size:,})"


async def _refuse(send: Send, limit: int, size: int) -> None:
    response = error_response(
        413,
        "payload_too_large",
        _too_large(limit, size),
        "send fewer alerts per request, or raise NOCAI_MAX_BODY_BYTES",
    )
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class AuthGate:
    """Refuse a request its token may not make (401 / 403) before its body is read or parsed: FastAPI parses
    JSON and multipart bodies before it runs a route's dependencies, so an anonymous caller would otherwise get
    its upload parsed, and a 422 where a 401 is due. The route's permission is the one its :class:`Gate`
    dependency asks for; the principal found is left in the request's state for that dependency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[tuple[APIRoute, Permission]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        permission = self._permission(scope)
        if permission is not None:
            runtime = scope["app"].state.runtime
            try:
                principal = await run_sync(identify_header, runtime, _header(scope, b"authorization"))
                admit(principal, permission)
            except NocaiError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
                response = error_response(exc.http_status, exc.code, exc.message, exc.hint, headers)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _permission(self, scope: Scope) -> Permission | None:
        if self._routes is None:
            self._routes = [
                (route, permission)
                for route in _api_routes(scope["app"].router.routes)
                if (permission := _gate_permission(route)) is not None
            ]
        for route, permission in self._routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return permission
        return None


def _api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, however routers were included (nested routers keep their routes in ``routes``, or in
    the ``routes`` of the router they wrap)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        for holder in (route, getattr(route, "original_router", None)):
            nested = getattr(holder, "routes", None) if holder is not None else None
            if nested:
                yield from _api_routes(nested)
                break


def _gate_permission(route: BaseRoute) -> Permission | None:
    dependant = getattr(route, "dependant", None)
    pending = list(dependant.dependencies) if dependant is not None else []
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, Gate):
            return dependency.call.permission
        pending.extend(dependency.dependencies)
    return None
