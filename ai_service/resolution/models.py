"""A resolution plan: ordered, provenance-backed recommendations built from runbook steps; and a stored one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ai_service.vocabulary import Phase, RiskLevel

ExecutionStatus = Literal["pending", "accepted", "executed", "rejected", "cancelled"]
Action = Literal["accept", "execute", "reject", "cancel"]
ACTIONS: tuple[Action, ...] = ("accept", "execute", "reject", "cancel")


class Recommendation(BaseModel):
    step_id: str
    runbook_id: str
    phase: Phase | None
    condition: str
    action: str
    expected_outcome: str | None
    rollback: str | None
    risk_level: RiskLevel | None
    confidence: float = Field(ge=0, le=1)
    provenance: dict[str, Any]


class ResolutionPlan(BaseModel):
    recommendations: list[Recommendation]
    overall_confidence: float = Field(ge=0, le=1)
    risk_level: RiskLevel | None
    retrieved_step_ids: list[str]
    used_signature_ids: list[str]
    note: str | None = None


class StoredResolution(BaseModel):
    """A ``resolution_outputs`` row: the plan as proposed, and where it stands."""

    id: uuid.UUID
    incident_id: uuid.UUID
    execution_status: ExecutionStatus | None
    recommendations: list[Recommendation]
    risk_level: RiskLevel | None
    overall_confidence: float | None
    policy_decision: dict[str, Any] | None
    accepted_by: str | None
    accepted_roles: list[str] | None
    execution_notes: str | None
    created_at: datetime
    accepted_at: datetime | None
    executed_at: datetime | None

    @property
    def band(self) -> str | None:
        """The policy band the plan was put in (None for a row written before policies were recorded)."""
        band = (self.policy_decision or {}).get("band")
        return band if isinstance(band, str) else None


class ResolutionEvent(BaseModel):
    """One move of a resolution: who did what, with which roles, when."""

    id: int
    resolution_id: uuid.UUID
    incident_id: uuid.UUID
    action: Action
    from_status: ExecutionStatus | None
    to_status: ExecutionStatus
    actor: str | None
    roles: list[str]
    notes: str | None
    created_at: datetime
