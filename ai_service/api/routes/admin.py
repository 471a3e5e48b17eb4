"""Administration over HTTP: API tokens (create, list, revoke) and the work queue (state, dead items, retry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from ai_service.api.deps import Admin, ConnectionDep, Reader, RuntimeDep
from ai_service.api.errors import ERROR_RESPONSES
from ai_service.auth.models import ApiToken, NewToken, Role
from ai_service.auth.service import create_token, revoke_token
from ai_service.auth.store import list_tokens
from ai_service.queue import store as queue_store
from ai_service.queue.models import QueueStatus, WorkItem

tokens = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=ERROR_RESPONSES)
queue = APIRouter(prefix="/api/v1/queue", tags=["queue"], responses=ERROR_RESPONSES)


class TokenRequest(BaseModel):
    role: Role
    name: str | None = Field(default=None, max_length=200, description="Who or what uses it (default: made up).")
    policy_roles: list[str] | None = Field(
        default=None, description="Roles checked against the policy's approvers (default: the role's own)."
    )


@tokens.get("", response_model=list[ApiToken], summary="List the active tokens (never the secrets)")
def get_tokens(conn: ConnectionDep, _caller: Admin, include_revoked: bool = False) -> list[ApiToken]:
    return list_tokens(conn, include_revoked=include_revoked)


@tokens.post("", response_model=NewToken, status_code=status.HTTP_201_CREATED, summary="Create a token")
def post_token(request: TokenRequest, conn: ConnectionDep, caller: Admin) -> NewToken:
    """The token is in the answer's ``token`` and is shown only this once."""
    return create_token(
        conn, role=request.role, name=request.name, policy_roles=request.policy_roles, created_by=caller.name
    )


@tokens.delete("/{key}", response_model=list[ApiToken], summary="Revoke a token by id or by its first characters")
def delete_token(key: Annotated[str, Path(max_length=200)], conn: ConnectionDep, _caller: Admin) -> list[ApiToken]:
    return revoke_token(conn, key)


class QueueReport(BaseModel):
    status: QueueStatus
    dead: list[WorkItem] = Field(description="Items set aside after their last attempt, newest first.")


@queue.get("", response_model=QueueReport, summary="How much triage work waits, runs, is done or is dead")
def get_queue(conn: ConnectionDep, _caller: Reader) -> QueueReport:
    return QueueReport(status=queue_store.status(conn), dead=queue_store.items(conn, statuses=("dead",), limit=50))


class Retried(BaseModel):
    work_item_ids: list[int]


class RetryRequest(BaseModel):
    work_item_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, max_length=10_000, description="These dead items; all of them when null."
    )


@queue.post("/retry", response_model=Retried, summary="Queue dead items again with fresh attempts")
def retry_dead(request: RetryRequest, conn: ConnectionDep, runtime: RuntimeDep, _caller: Admin) -> Retried:
    with conn.transaction():
        ids = queue_store.retry(conn, item_ids=request.work_item_ids)
        if ids:
            queue_store.notify(conn)
    if ids and runtime.workers is not None:
        runtime.workers.wake()
    return Retried(work_item_ids=ids)
