"""An incident as nocai knows it: the alert that opened it, what triage concluded, the plan and its state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ai_service.policy.models import PolicyDecision
from ai_service.resolution.models import ResolutionPlan, StoredResolution
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
    triage_completed_at: datetime | None


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


class IncidentDetail(IncidentSummary):
    """An incident with its alert, its latest triage and plan, and every triage → resolution link."""

    alert_id: str
    fingerprint: str | None
    raw_alert: dict[str, Any] | list[Any]
    last_raw_alert: dict[str, Any] | list[Any] | None
    alert_received_at: datetime
    triage: dict[str, Any] | None = Field(description="The latest triage as stored on the incident.")
    resolution: dict[str, Any] | None = Field(description="The latest plan as stored on the incident.")
    policy_decision: dict[str, Any] | None
    resolution_proposed_at: datetime | None
    resolution_accepted_at: datetime | None
    chain: list[ChainLink] = Field(default_factory=list)
    resolutions: list[StoredResolution] = Field(default_factory=list)
