"""Feedback over HTTP: on a triage, a plan or a step; closing an incident by hand; draft runbooks.

Every route records the caller (its token's name) as the one who said it. What the feedback taught comes back as
``changes``, one sentence each.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Path, status
from pydantic import BaseModel, Field

from ai_service.api.deps import Admin, ConnectionDep, Reader, Responder, RuntimeDep
from ai_service.api.errors import ERROR_RESPONSES
from ai_service.errors import ConflictError, NotFoundError
from ai_service.feedback import store as feedback_store
from ai_service.feedback.models import (
    DraftRequest,
    FeedbackRecord,
    Learned,
    PlanFeedback,
    RunbookDraft,
    StepFeedback,
    TriageFeedback,
)
from ai_service.feedback.service import (
    create_draft,
    give_plan_feedback,
    give_step_feedback,
    give_triage_feedback,
    publish_draft,
)
from ai_service.incidents import store as incidents_store

router = APIRouter(prefix="/api/v1", tags=["feedback"], responses=ERROR_RESPONSES)
IncidentId = Annotated[uuid.UUID, Path(description="The incident's id.")]


@router.post("/incidents/{incident_id}/feedback/triage", response_model=Learned, summary="Judge the triage")
def triage_feedback(incident_id: IncidentId, body: TriageFeedback, conn: ConnectionDep, caller: Responder) -> Learned:
    """``confirm`` it, ``correct`` it (failure type, severity, assignment group, runbook), or say its runbook is
    the ``wrong_runbook`` (optionally naming the right one)."""
    return give_triage_feedback(conn, incident_id, body, user=caller.name)


@router.post("/incidents/{incident_id}/feedback/plan", response_model=Learned, summary="Judge the plan")
def plan_feedback(incident_id: IncidentId, body: PlanFeedback, conn: ConnectionDep, caller: Responder) -> Learned:
    return give_plan_feedback(conn, incident_id, body, user=caller.name)


@router.post("/incidents/{incident_id}/feedback/steps", response_model=Learned, summary="Say what a step did")
def step_feedback(
    incident_id: IncidentId, body: StepFeedback, conn: ConnectionDep, runtime: RuntimeDep, caller: Responder
) -> Learned:
    """``fixed_it``, ``did_nothing``, ``made_worse`` or ``skipped``. The first ``fixed_it`` of an incident also makes
    it history for the signatures."""
    return give_step_feedback(conn, runtime.embedder, incident_id, body, user=caller.name)


@router.get("/incidents/{incident_id}/feedback", response_model=list[FeedbackRecord], summary="Feedback given")
def list_feedback(incident_id: IncidentId, conn: ConnectionDep, _caller: Reader) -> list[FeedbackRecord]:
    if incidents_store.get_incident(conn, incident_id) is None:
        raise NotFoundError(f"no incident {incident_id}", hint="list the incidents to find its id")
    return feedback_store.feedback_of(conn, incident_id)


class CloseBody(BaseModel):
    notes: str | None = Field(default=None, max_length=4000)


class Closed(BaseModel):
    incident_id: uuid.UUID
    resolved_by: str


@router.post("/incidents/{incident_id}/close", response_model=Closed, summary="Close an incident by hand")
def close(
    incident_id: IncidentId,
    conn: ConnectionDep,
    caller: Responder,
    body: Annotated[CloseBody | None, Body()] = None,
) -> Closed:
    """For an incident whose resolved notification will not come: its time to resolve ends now, by the caller."""
    with conn.transaction():
        if not incidents_store.close_incident(conn, incident_id, user=caller.name, note=body.notes if body else None):
            if incidents_store.get_incident(conn, incident_id) is None:
                raise NotFoundError(f"no incident {incident_id}", hint="list the incidents to find its id")
            raise ConflictError(f"incident {incident_id} is already resolved", hint="nothing to close")
    return Closed(incident_id=incident_id, resolved_by=caller.name)


@router.post(
    "/incidents/{incident_id}/drafts",
    response_model=RunbookDraft,
    status_code=status.HTTP_201_CREATED,
    summary="Keep the steps taken as a draft runbook",
)
def draft(incident_id: IncidentId, body: DraftRequest, conn: ConnectionDep, caller: Responder) -> RunbookDraft:
    return create_draft(conn, incident_id, body, user=caller.name)


@router.get("/drafts", response_model=list[RunbookDraft], summary="Draft runbooks waiting to be published")
def drafts(conn: ConnectionDep, _caller: Reader) -> list[RunbookDraft]:
    return feedback_store.list_drafts(conn)


@router.post("/drafts/{draft_id}/publish", response_model=RunbookDraft, summary="Publish a draft runbook")
def publish(
    draft_id: Annotated[uuid.UUID, Path()], conn: ConnectionDep, runtime: RuntimeDep, caller: Admin
) -> RunbookDraft:
    """Write it as a YAML runbook under NOCAI_DATA_DIR/runbooks and ingest it into the knowledge base."""
    return publish_draft(
        conn, runtime.embedder, draft_id, folder=runtime.settings.data_dir / "runbooks" / "published", user=caller.name
    )
