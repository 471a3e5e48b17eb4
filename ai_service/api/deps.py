"""What routes depend on: the process's runtime, a database connection, and the caller's identity.

Routes are plain ``def`` functions, so FastAPI runs them in its thread pool: their database and model calls never
block the event loop. The webhook routes, which need the raw body for signatures, are ``async`` and hand their
work to the thread pool themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ai_service.auth.models import Permission, Principal
from ai_service.auth.service import authenticate
from ai_service.errors import PermissionDeniedError
from ai_service.service.runtime import Runtime

# The request's runtime and pooled connection: one definition, shared with the console.
from ai_service.web.access import ConnectionDep as ConnectionDep
from ai_service.web.access import RuntimeDep as RuntimeDep

#: The caller in the open local mode (NOCAI_OPEN_ACCESS): an admin that approves as an admin.
OPEN_PRINCIPAL = Principal(name="local (open access)", role="admin", policy_roles=["admin"])

_ROLE_FOR: dict[Permission, str] = {
    "ingest": "ingest or admin",
    "read": "viewer, responder or admin",
    "respond": "responder or admin",
    "admin": "admin",
}


_BEARER = HTTPBearer(auto_error=False, description="An API token: `nocai tokens create --role ROLE`.")


def identify_header(runtime: Runtime, authorization: str | None) -> Principal:
    """The caller with this ``Authorization`` header: its bearer token's principal (or the open local mode's)."""
    if runtime.settings.open_access:
        return OPEN_PRINCIPAL
    with runtime.pool.connection() as conn:
        return authenticate(conn, authorization)


def identify(request: Request, runtime: Runtime) -> Principal:
    """The caller of ``request`` (the auth gate may have identified it already)."""
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    return identify_header(runtime, request.headers.get("authorization"))


def admit(principal: Principal, permission: Permission) -> Principal:
    """``principal`` when its role grants ``permission``; PermissionDeniedError (403) otherwise."""
    if not principal.may(permission):
        raise PermissionDeniedError(
            f"the token {principal.name!r} has role {principal.role}, which may not do this",
            hint=f"use a token with role {_ROLE_FOR[permission]} (`nocai tokens create --role ...`)",
        )
    return principal


class Gate:
    """A dependency that admits only callers whose role grants ``permission`` (401 / 403 otherwise). Its
    ``permission`` is also read by the auth gate middleware, which refuses before a body is read."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(
        self,
        request: Request,
        runtime: RuntimeDep,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
    ) -> Principal:
        return admit(identify(request, runtime), self.permission)


def require(permission: Permission) -> Gate:
    """The dependency for routes that need ``permission``."""
    return Gate(permission)


Reader = Annotated[Principal, Depends(require("read"))]
Responder = Annotated[Principal, Depends(require("respond"))]
Admin = Annotated[Principal, Depends(require("admin"))]
