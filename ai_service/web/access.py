"""What the console's routes depend on: the runtime, a connection, the visitor (signed in, or sent to sign in),
the CSRF check of every form, and the role rules of the API (viewers see, responders act, admins publish).

Failures are raised as exceptions that :mod:`ai_service.web.routing` turns into pages or redirects:
:class:`SignInRequired` (no session, or one whose token is unknown or revoked) and the core's own
``NocaiError`` classes (a 403 for a role, a 404 for an incident that does not exist ...).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ai_service.auth.models import Permission
from ai_service.auth.service import authenticate
from ai_service.errors import AuthenticationError, PermissionDeniedError
from ai_service.service.runtime import Runtime
from ai_service.web.session import (
    CSRF_FIELD,
    NONCE_COOKIE,
    OPEN_PRINCIPAL,
    Visitor,
    bearer_token,
    browser_nonce,
    csrf_valid,
    read_flash,
    session_token,
)

_ROLE_FOR: dict[Permission, str] = {
    "read": "viewer, responder or admin",
    "respond": "responder or admin",
    "admin": "admin",
    "ingest": "ingest or admin",
}


class SignInRequired(Exception):
    """The request has no usable session: the visitor is sent to the sign-in page (``reason`` says why)."""

    def __init__(self, reason: str | None = None, *, clear: bool = False) -> None:
        super().__init__(reason or "sign in")
        self.reason = reason
        self.clear = clear


class CsrfRefused(Exception):
    """A POST whose form does not carry the session's CSRF token."""


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_connection(runtime: RuntimeDep) -> Iterator[psycopg.Connection]:
    """A pooled connection for the request (autocommit; writes open their own transactions)."""
    with runtime.pool.connection() as conn:
        yield conn


ConnectionDep = Annotated[psycopg.Connection, Depends(get_connection)]


def identify(request: Request, runtime: Runtime, conn: psycopg.Connection) -> Visitor:
    """The visitor of ``request``: open mode, a bearer token (scripts) or the session cookie, each token checked
    against the database now. SignInRequired when there is no session or its token is no longer valid; a bad
    bearer token is an AuthenticationError (a script gets the reason, not a sign-in page)."""
    if runtime.settings.open_access:
        nonce, new = browser_nonce(request)
        visitor = Visitor(principal=OPEN_PRINCIPAL, via="open", secret=nonce, new_nonce=new)
    elif (header := bearer_token(request)) is not None:
        principal = authenticate(conn, header)
        _, _, bearer = header.strip().partition(" ")
        visitor = Visitor(principal=principal, via="bearer", secret=bearer.strip())
    else:
        token = session_token(request)
        if token is None:
            raise SignInRequired()
        try:
            principal = authenticate(conn, f"Bearer {token}")
        except AuthenticationError as exc:
            raise SignInRequired(f"{exc.message}. {exc.hint or ''}".strip(), clear=True) from exc
        visitor = Visitor(principal=principal, via="cookie", secret=token)
    if visitor.principal.role == "ingest":
        raise PermissionDeniedError(
            f"the token {visitor.principal.name!r} has role ingest, which only sends alerts",
            hint=f"sign in with a token of role {_ROLE_FOR['read']} (`nocai tokens create --role viewer`)",
        )
    visitor.flash = read_flash(request, visitor.secret)
    return visitor


def _permit(visitor: Visitor, permission: Permission) -> None:
    if not visitor.principal.may(permission):
        raise PermissionDeniedError(
            f"the token {visitor.principal.name!r} has role {visitor.principal.role}, which may not do this",
            hint=f"sign in with a token of role {_ROLE_FOR[permission]} (`nocai tokens create --role ...`)",
        )


def reader(request: Request, runtime: RuntimeDep, conn: ConnectionDep) -> Visitor:
    """A page's visitor: anyone signed in may see."""
    return identify(request, runtime, conn)


def _secret_of(request: Request, runtime: Runtime) -> str | None:
    """The secret the request's forms must be proven with, read without the database (the CSRF check runs
    before anything else, whatever the cookie)."""
    if runtime.settings.open_access:
        return nonce_of(request)
    header = bearer_token(request)
    if header is not None:
        _, _, token = header.strip().partition(" ")
        return token.strip() or None
    return session_token(request)


async def check_csrf(request: Request, secret: str | None) -> None:
    """CsrfRefused unless the form's CSRF token is the one of ``secret`` (the session's, or the browser nonce's
    before sign-in)."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not csrf_valid(secret, given if isinstance(given, str) else None):
        raise CsrfRefused()


def nonce_of(request: Request) -> str | None:
    """The browser nonce's cookie, as sent (the sign-in form is proven with it)."""
    return request.cookies.get(NONCE_COOKIE) or None


def acting(permission: Permission) -> Callable[..., Coroutine[Any, Any, Visitor]]:
    """A POST's visitor: the form's CSRF token first (403 otherwise), then the session, then the role."""

    async def dependency(request: Request, runtime: RuntimeDep, conn: ConnectionDep) -> Visitor:
        await check_csrf(request, _secret_of(request, runtime))
        visitor = await run_in_threadpool(identify, request, runtime, conn)
        _permit(visitor, permission)
        return visitor

    return dependency


Reader = Annotated[Visitor, Depends(reader)]
Responder = Annotated[Visitor, Depends(acting("respond"))]
Admin = Annotated[Visitor, Depends(acting("admin"))]
SignedIn = Annotated[Visitor, Depends(acting("read"))]
