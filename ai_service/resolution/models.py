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


class StepRecord(BaseModel):
    """What responders said happened when they ran a step (``ai_service.feedback`` keeps it; plans read it)."""

    step_id: str
    fixed: int = 0
    no_effect: int = 0
    worse: int = 0
    skipped: int = 0

    @property
    def tried(self) -> int:
        """Runs with an outcome (skipped ones are not runs)."""
        return self.fixed + self.no_effect + self.worse

    @property
    def success_rate(self) -> float:
        """Laplace-smoothed share of runs that fixed it: 0.5 with no evidence."""
        return (self.fixed + 1) / (self.tried + 2)

    def describe(self) -> str:
        """``fixed it 7 of 9 times`` (and ``made it worse 1`` when it did)."""
        text = f"fixed it {self.fixed} of {self.tried} time{'s' if self.tried != 1 else ''}"
        if self.worse:
            text += f", made it worse {self.worse}"
        return text

    @property
    def proven(self) -> bool:
        """Fixed it at least twice, and more often than not."""
        return self.fixed >= 2 and self.success_rate >= 0.6

    @property
    def harmful(self) -> bool:
        """Made it worse more often than it fixed it."""
        return self.worse >= 1 and self.worse > self.fixed
