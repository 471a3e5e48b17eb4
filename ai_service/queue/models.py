"""The work queue's shapes: an item of work (triage one incident), a claimed item, and the queue's state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

WorkStatus = Literal["queued", "running", "done", "dead"]
WORK_STATUSES: tuple[WorkStatus, ...] = ("queued", "running", "done", "dead")
WorkKind = Literal["triage"]


class WorkItem(BaseModel):
    """One ``work_items`` row."""

    id: int
    incident_id: uuid.UUID
    kind: WorkKind
    alert: dict[str, Any] = Field(description="The normalised alert to triage, as recorded at intake.")
    status: WorkStatus
    attempts: int
    max_attempts: int
    available_at: datetime
    lease_token: uuid.UUID | None
    leased_by: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class QueueStatus(BaseModel):
    """How much work waits, runs, is done or is dead, and how long the oldest waiting item has waited."""

    queued: int
    running: int
    done: int
    dead: int
    oldest_queued_seconds: float | None = Field(description="Age of the oldest item ready to run; None if none.")
    expired_leases: int = Field(description="Running items whose worker stopped renewing them.")
