"""What retrieval returns: hits with their provenance, grouped by runbook, and the abstention decision."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ai_service.vocabulary import Phase, RiskLevel


class LegScore(BaseModel):
    """A hit's place in one leg: rank (1 = best) and raw score (cosine similarity, or BM25)."""

    rank: int | None = None
    score: float | None = None


class Provenance(BaseModel):
    """Why a hit is where it is: each leg's rank and score, the fused score, and any bounded bonus."""

    vector: LegScore
    fulltext: LegScore
    rrf: float
    score: float = Field(description="rrf + title_bonus + meta_bonus: the order of the results")
    title_bonus: float = 0.0
    meta_bonus: float = 0.0
    query_coverage: float = Field(description="Share of the query's IDF mass this hit contains")
    title_coverage: float = 0.0
    boosts: list[str] = Field(default_factory=list, description="Human-readable reasons for the bonuses")


class StepHit(BaseModel):
    step_id: str
    runbook_id: str
    step_order: int | None
    phase: Phase | None
    condition: str
    action: str
    expected_outcome: str | None
    rollback: str | None
    risk_level: RiskLevel | None
    provenance: Provenance | None = Field(default=None, description="None: listed for order, not retrieved")


class RunbookHit(BaseModel):
    runbook_id: str
    title: str
    source_path: str
    service: str | None
    component: str | None
    provenance: Provenance
    steps: list[StepHit] = Field(default_factory=list, description="The runbook's steps in its own order")
    team: str | None = Field(default=None, description="The team that owns the runbook (declared, or its folder)")
    failure_type: str | None = Field(default=None, description="The runbook's failure type (the failure taxonomy)")


class SignatureRecord(BaseModel):
    """An incident signature as stored, with its track-record counters."""

    incident_signature_id: str
    failure_type: str
    error_class: str
    symptoms: list[str]
    assignment_group: str | None
    impact: str | None
    urgency: str | None
    resolution_refs: list[str]
    incident_count: int
    resolution_success_count: int = Field(description="Confirmed fixes: incidents its history helped resolve.")
    match_count: int = Field(default=0, description="Matches responders judged (confirmed or refuted).")
    confirmed_count: int = Field(default=0, description="Matches responders confirmed.")


class SignatureHit(SignatureRecord):
    """A retrieved signature and why it was retrieved."""

    provenance: Provenance


class Abstention(BaseModel):
    """The novelty decision: is the best evidence good enough to call it a match?"""

    abstained: bool
    match_probability: float
    threshold: float
    features: dict[str, float]
    calibration: str = Field(description="Where the decision rule was learned")
    reason: str = Field(default="", description="Why it is, or is not, a match: one sentence for a human.")


class FeedbackChoice(BaseModel):
    """A runbook responders named as the right one for the alert's pattern, which retrieval put first."""

    runbook_id: str
    votes: int = Field(description="How many times responders named it for this pattern.")
    confidence: float = Field(description="(votes + 1) / (votes + 2): how sure their agreement makes nocai.")
    excluded: list[str] = Field(default_factory=list, description="Runbooks responders said are wrong here.")


class SearchResult(BaseModel):
    query_text: str
    runbooks: list[RunbookHit]
    steps: list[StepHit]
    signatures: list[SignatureHit]
    abstention: Abstention
    retrieval_method: str = "hybrid-rrf(vector:hnsw-cosine,fulltext:bm25)"
    feedback: FeedbackChoice | None = Field(
        default=None, description="What responders taught about this alert's pattern, when anything."
    )
