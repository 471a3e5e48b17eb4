"""What triage concludes about an alert (stored in ``triage_results`` and on the incident)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ai_service.vocabulary import Severity


class SignatureVote(BaseModel):
    incident_signature_id: str
    failure_type: str
    error_class: str
    weight: float = Field(description="Retrieval strength x track record")
    fused_score: float
    track_record: float = Field(description="(confirmed + 1) / (judged + 2), from responders' feedback")


class Triage(BaseModel):
    no_match: bool
    failure_type: str | None
    error_class: str | None
    severity: Severity
    severity_reason: str
    confidence: float = Field(ge=0, le=1)
    assignment_group: str | None
    assignment_group_source: str | None = Field(
        default=None,
        description="Where the assignment group came from: 'signature <id>', 'runbook <id>', 'feedback <id>', "
        "'runbooks <id>, ...' (a no-match routed by its nearest runbooks), or None",
    )
    impact: str | None
    urgency: str | None
    matched_signature_ids: list[str]
    matched_runbook_refs: list[str]
    votes: list[SignatureVote]
    evidence: list[dict[str, object]] = Field(description="Every retrieved item with its per-leg scores")
    retrieval_method: str
    explanation: str | None = Field(default=None, description="The optional LLM's short, checked explanation")
    llm: dict[str, object] | None = Field(default=None, description="What the optional LLM did (status, failure)")
