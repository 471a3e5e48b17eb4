"""A resolution plan: ordered, provenance-backed recommendations built from runbook steps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ExecutionStatus = Literal["pending", "accepted", "executed", "rejected", "cancelled"]


class Recommendation(BaseModel):
    step_id: str
    runbook_id: str
    phase: str | None
    condition: str
    action: str
    expected_outcome: str | None
    rollback: str | None
    risk_level: str | None
    confidence: float = Field(ge=0, le=1)
    provenance: dict[str, object]


class ResolutionPlan(BaseModel):
    recommendations: list[Recommendation]
    overall_confidence: float = Field(ge=0, le=1)
    risk_level: str | None
    retrieved_step_ids: list[str]
    used_signature_ids: list[str]
    note: str | None = None
