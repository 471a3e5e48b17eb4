"""What responders tell nocai, and what nocai keeps of it.

* On a triage: ``confirm`` it, ``correct`` it (failure type, severity, assignment group, runbook), or say the
  runbook it chose is the ``wrong_runbook``.
* On a plan: ``accept`` it, ``edit`` it (the steps actually taken), or ``reject`` it.
* On a step: ``fixed_it``, ``did_nothing``, ``made_worse`` or ``skipped``.

Each is stored with who, when, what nocai had proposed and the difference. What it teaches is kept in track
records that the next triage reads: the signatures' (confirmed and refuted matches, confirmed fixes), the steps'
(:class:`ai_service.resolution.models.StepRecord`), and per alert pattern the runbooks named right or wrong
(:class:`RunbookChoice`) and the assignment group a responder corrected a triage to (:class:`AssignmentCorrection`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ai_service.vocabulary import Severity

FeedbackType = Literal["triage", "resolution", "step"]
TriageVerdict = Literal["confirm", "correct", "wrong_runbook"]
PlanVerdict = Literal["accept", "edit", "reject"]
StepOutcome = Literal["fixed_it", "did_nothing", "made_worse", "skipped"]
STEP_OUTCOMES: tuple[StepOutcome, ...] = ("fixed_it", "did_nothing", "made_worse", "skipped")


class TriageFeedback(BaseModel):
    """A responder's word on an incident's triage."""

    verdict: TriageVerdict
    failure_type: str | None = Field(default=None, max_length=200, description="The right failure type.")
    error_class: str | None = Field(default=None, max_length=200)
    severity: Severity | None = Field(default=None, description="The right severity.")
    assignment_group: str | None = Field(default=None, max_length=200, description="The team that owns it.")
    runbook_id: str | None = Field(default=None, max_length=200, description="The runbook that was right.")
    notes: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _a_correction_corrects(self) -> TriageFeedback:
        corrections = (self.failure_type, self.error_class, self.severity, self.assignment_group, self.runbook_id)
        if self.verdict == "correct" and all(value is None for value in corrections):
            raise ValueError(
                "a correction names what was right: failure_type, error_class, severity, assignment_group or runbook_id"
            )
        return self


class PlanFeedback(BaseModel):
    """A responder's word on an incident's plan."""

    verdict: PlanVerdict
    steps: list[str] | None = Field(
        default=None, max_length=50, description="With edit: the step ids actually taken, in order."
    )
    notes: str | None = Field(default=None, max_length=4000)


class StepFeedback(BaseModel):
    """What happened when a responder ran one step of the plan."""

    step_id: str = Field(min_length=1, max_length=300)
    outcome: StepOutcome
    notes: str | None = Field(default=None, max_length=4000)


class FeedbackRecord(BaseModel):
    """One stored ``feedback`` row."""

    id: uuid.UUID
    incident_id: uuid.UUID
    feedback_type: FeedbackType
    kind: str | None
    user_name: str | None
    step_id: str | None
    system_output: dict[str, Any] | list[Any] | None
    user_edited: dict[str, Any] | list[Any] | None
    diff: dict[str, Any] | list[Any] | None
    notes: str | None
    created_at: datetime


class RunbookChoice(BaseModel):
    """How many incidents' responders named a runbook right or wrong for an alert pattern."""

    pattern: str
    runbook_id: str
    right_votes: int
    wrong_votes: int
    last_by: str | None
    updated_at: datetime

    @property
    def net(self) -> int:
        """Right votes minus wrong ones: above zero it is the runbook for the pattern; below, it is left out."""
        return self.right_votes - self.wrong_votes


class AssignmentCorrection(BaseModel):
    """The latest assignment group a responder corrected a triage to, on an incident of an alert pattern."""

    feedback_id: uuid.UUID
    assignment_group: str
    user_name: str | None
    created_at: datetime


class RunbookDraft(BaseModel):
    """The steps a responder took on an incident nothing matched, as a runbook waiting to be published."""

    id: uuid.UUID
    incident_id: uuid.UUID
    title: str
    steps: list[dict[str, Any]]
    status: Literal["draft", "published", "discarded"]
    created_by: str | None
    created_at: datetime
    published_by: str | None
    published_at: datetime | None
    runbook_id: str | None


class DraftStep(BaseModel):
    """One step of a draft runbook, as a responder writes it."""

    action: str = Field(min_length=1, max_length=4000, description="What was done (commands in backticks).")
    condition: str | None = Field(default=None, max_length=1000, description="When to do it.")
    phase: Literal["diagnosis", "mitigation", "verification"] | None = None


class DraftRequest(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    steps: list[DraftStep] = Field(min_length=1, max_length=50)


class Learned(BaseModel):
    """What one piece of feedback changed (returned to the responder, and shown in the console)."""

    feedback_id: uuid.UUID
    changes: list[str] = Field(default_factory=list, description="One sentence per change nocai made.")


class IncidentFacts(BaseModel):
    """What feedback on an incident needs to know about it."""

    id: uuid.UUID
    title: str | None
    pattern: str | None
    status: str
    service: str | None
    first_seen_at: datetime
    triage: dict[str, Any] | None
    plan: dict[str, Any] | None
    alert: dict[str, Any] | None
    triage_result_id: uuid.UUID | None
    resolution_id: uuid.UUID | None
