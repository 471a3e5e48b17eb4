"""An incident as nocai knows it: the alert that opened it, what triage concluded, the plan and its state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ai_service.feedback.models import FeedbackRecord
from ai_service.policy.models import PolicyDecision
from ai_service.resolution.models import ResolutionEvent, ResolutionPlan, StoredResolution
from ai_service.retrieval.models import SearchResult
from ai_service.triage.models import Triage
from ai_service.vocabulary import Band, Severity

IncidentStatus = Literal["open", "resolved"]


@dataclass
class TriageOutcome:
    """Everything one triage of one incident produced, as stored."""

    incident_id: uuid.UUID
    triage_result_id: uuid.UUID
    resolution_id: uuid.UUID
    triage: Triage
    plan: ResolutionPlan
    decision: PolicyDecision
    search: SearchResult
    seconds: float


class IncidentSummary(BaseModel):
    """One line of the incident list."""

    id: uuid.UUID
    status: IncidentStatus
    title: str | None
    source: str
    service: str | None
    environment: str | None
    alert_severity: Severity | None = Field(description="The severity the alert itself carried (normalised).")
    severity: Severity | None = Field(description="The triage's severity once triaged, else the alert's.")
    policy_band: Band | None
    occurrence_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None = Field(
        default=None, description="'alert' (its resolved notification) or the user who closed it."
    )
    resolution_note: str | None = Field(default=None, description="Why the user who closed it did so (their note).")
    triage_completed_at: datetime | None


class IncidentFilter(BaseModel):
    """Which incidents a list shows; every field is optional and they all must hold."""

    status: IncidentStatus | None = None
    band: Band | None = None
    severity: Severity | None = None
    service: str | None = None
    since: datetime | None = Field(default=None, description="Last seen at or after this time.")
    until: datetime | None = Field(default=None, description="Last seen before this time.")


class Cursor(BaseModel):
    """Where a page of the incident list ended: the last row's (last_seen_at, id)."""

    last_seen_at: datetime
    id: uuid.UUID


class MttrFigures(BaseModel):
    """Time to resolve, in seconds, over the incidents that were resolved."""

    resolved: int
    mean_seconds: float | None
    median_seconds: float | None
    p95_seconds: float | None


class MttrGroup(MttrFigures):
    """MTTR of one service or one band."""

    key: str | None


class ChainLink(BaseModel):
    """One triage of an incident and the resolution proposed from it (the ``triage_to_resolution_chain`` view)."""

    triage_result_id: uuid.UUID | None
    failure_type: str | None
    error_class: str | None
    severity: Severity | None
    triage_confidence: float | None
    policy_band: Band | None
    matched_signature_ids: list[str] | None
    matched_runbook_refs: list[str] | None
    triage_completed_at: datetime | None
    resolution_output_id: uuid.UUID | None
    resolution_confidence: float | None
    resolution_risk_level: str | None
    retrieved_step_ids: list[str] | None
    used_signature_ids: list[str] | None
    execution_status: str | None
    proposed_at: datetime | None
    accepted_at: datetime | None
    executed_at: datetime | None


class WorkItemSummary(BaseModel):
    """Where an incident's triage stands in the queue."""

    id: int
    status: str
    attempts: int
    max_attempts: int
    last_error: str | None
    enqueued_at: datetime
    finished_at: datetime | None


class IncidentDetail(IncidentSummary):
    """An incident with its alert, its latest triage and plan, and every triage → resolution link."""

    alert_id: str
    fingerprint: str | None
    raw_alert: dict[str, Any] | list[Any]
    last_raw_alert: dict[str, Any] | list[Any] | None
    alert_received_at: datetime
    triage: dict[str, Any] | None = Field(description="The latest triage as stored on the incident.")
    evidence: list[dict[str, Any]] | None = Field(
        description="Every item the latest triage retrieved, with each leg's rank and score."
    )
    resolution: dict[str, Any] | None = Field(description="The latest plan as stored on the incident.")
    policy_decision: dict[str, Any] | None
    resolution_proposed_at: datetime | None
    resolution_accepted_at: datetime | None
    chain: list[ChainLink] = Field(default_factory=list)
    resolutions: list[StoredResolution] = Field(default_factory=list)
    events: list[ResolutionEvent] = Field(default_factory=list, description="Who moved which resolution, when.")
    work: list[WorkItemSummary] = Field(default_factory=list, description="Its triage work items.")
    feedback: list[FeedbackRecord] = Field(default_factory=list, description="What responders said, oldest first.")
