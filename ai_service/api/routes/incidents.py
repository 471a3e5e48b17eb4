"""Incidents: the list (filters, cursor pages), one incident with its whole chain, a new triage on demand, and
the resolution's moves (accept, execute, reject, cancel) checked against the policy and recorded with who."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, status
from pydantic import BaseModel, Field

from ai_service.api.deps import ConnectionDep, Reader, Responder, RuntimeDep
from ai_service.api.errors import ERROR_RESPONSES
from ai_service.errors import NotFoundError
from ai_service.incidents import store
from ai_service.incidents.models import Cursor, IncidentDetail, IncidentFilter, IncidentStatus, IncidentSummary
from ai_service.incidents.queries import decode_cursor, encode_cursor, incident_detail, request_triage
from ai_service.resolution import store as resolution_store
from ai_service.resolution.execution import transition
from ai_service.resolution.models import Action, StoredResolution
from ai_service.vocabulary import Band, Severity

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], responses=ERROR_RESPONSES)


class IncidentPage(BaseModel):
    items: list[IncidentSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


@router.get("", response_model=IncidentPage, summary="List incidents, most recently seen first")
def list_incidents(
    conn: ConnectionDep,
    _caller: Reader,
    status_: Annotated[IncidentStatus | None, Query(alias="status")] = None,
    band: Band | None = None,
    severity: Severity | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="Last seen at or after (RFC 3339).")] = None,
    until: Annotated[datetime | None, Query(description="Last seen before (RFC 3339).")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IncidentPage:
    where = IncidentFilter(status=status_, band=band, severity=severity, service=service, since=since, until=until)
    after = decode_cursor(cursor) if cursor else None
    items = store.list_incidents(conn, where=where, after=after, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    next_cursor = None
    if more and items:
        last = items[-1]
        next_cursor = encode_cursor(Cursor(last_seen_at=last.last_seen_at, id=last.id))
    return IncidentPage(items=items, next_cursor=next_cursor)


IncidentId = Annotated[uuid.UUID, Path(description="The incident's id.")]


@router.get("/{incident_id}", response_model=IncidentDetail, summary="One incident: alert → triage → resolution")
def get_incident(incident_id: IncidentId, conn: ConnectionDep, _caller: Reader) -> IncidentDetail:
    return incident_detail(conn, incident_id)


class TriageRequested(BaseModel):
    incident_id: uuid.UUID
    work_item_id: int


@router.post(
    "/{incident_id}/triage",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriageRequested,
    summary="Triage an incident again (queued; the incident shows the result)",
)
def triage_again(
    incident_id: IncidentId, conn: ConnectionDep, runtime: RuntimeDep, _caller: Responder
) -> TriageRequested:
    item_id = request_triage(conn, incident_id, max_attempts=runtime.settings.work_max_attempts)
    if runtime.workers is not None:
        runtime.workers.wake()
    return TriageRequested(incident_id=incident_id, work_item_id=item_id)


@router.get("/{incident_id}/resolution", response_model=StoredResolution, summary="The latest proposed plan")
def get_resolution(incident_id: IncidentId, conn: ConnectionDep, _caller: Reader) -> StoredResolution:
    resolution = resolution_store.latest_resolution(conn, incident_id)
    if resolution is None:
        raise NotFoundError(f"incident {incident_id} has no resolution yet", hint="wait for its triage to finish")
    return resolution


class TransitionBody(BaseModel):
    notes: str | None = Field(default=None, max_length=4000, description="Kept with the resolution.")


@router.post(
    "/{incident_id}/resolution/{action}",
    response_model=StoredResolution,
    summary="Accept, execute, reject or cancel the latest plan (policy-checked, recorded with who)",
    responses={409: {"description": "Not allowed from its current state, or the policy's approval is missing."}},
)
def move_resolution(
    incident_id: IncidentId,
    action: Annotated[Literal["accept", "execute", "reject", "cancel"], Path()],
    conn: ConnectionDep,
    caller: Responder,
    body: Annotated[TransitionBody | None, Body()] = None,
) -> StoredResolution:
    chosen: Action = action
    resolution = resolution_store.latest_resolution(conn, incident_id)
    if resolution is None:
        raise NotFoundError(f"incident {incident_id} has no resolution yet", hint="wait for its triage to finish")
    transition(
        conn,
        resolution.id,
        chosen,
        user=caller.name,
        roles=caller.policy_roles,
        notes=body.notes if body else None,
    )
    moved = resolution_store.get_resolution(conn, resolution.id)
    assert moved is not None  # it was just moved
    return moved
