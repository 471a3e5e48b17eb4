"""A webhook body in → its alerts recorded, each new incident with its triage work item, in one transaction.

Either every alert of the payload is recorded (new incidents with their work items, repeats counted, resolved
notifications closing their incidents) or none is: a crash half-way leaves nothing half-stored, and the sender's
retry finds the same state as the first attempt did. The workers are woken when the transaction commits.
Alerts are recorded in fingerprint order, so two payloads touching the same incidents take their row locks in
the same order and cannot deadlock.

What this module must never do: triage (the workers do), or acknowledge an alert it did not commit.
"""

from __future__ import annotations

import uuid
from typing import Literal

import psycopg
from pydantic import BaseModel, Field

from ai_service.alerts.models import AlertSource, IgnoredEvent, ParsedPayload
from ai_service.alerts.service import record_alert
from ai_service.queue import store as queue_store

Outcome = Literal["new", "repeat", "resolved", "ignored"]
_OUTCOME: dict[str, Outcome] = {"created": "new", "repeated": "repeat", "resolved": "resolved", "ignored": "ignored"}


class AlertReceipt(BaseModel):
    """What happened to one alert of a payload."""

    index: int = Field(description="Position of the alert in the payload (0-based).")
    title: str
    status: Literal["firing", "resolved"]
    fingerprint: str
    outcome: Outcome = Field(
        description="new: an incident was opened and queued for triage; repeat: an open incident counted it; "
        "resolved: it closed its open incident; ignored: a resolved notification with nothing open."
    )
    incident_id: uuid.UUID | None
    occurrence_count: int = 1
    work_item_id: int | None = Field(default=None, description="The triage work item of a new incident.")


class IntakeReport(BaseModel):
    """The answer to a webhook: every alert's receipt and what the payload carried that was not an alert."""

    format: AlertSource
    alerts: list[AlertReceipt]
    ignored: list[IgnoredEvent] = Field(default_factory=list)
    text_repairs: int = 0

    @property
    def work_item_ids(self) -> list[int]:
        return [r.work_item_id for r in self.alerts if r.work_item_id is not None]


def record_payload(conn: psycopg.Connection, parsed: ParsedPayload, *, max_attempts: int) -> IntakeReport:
    """Record every alert of ``parsed`` and queue each new incident's triage, in one transaction."""
    order = sorted(range(len(parsed.alerts)), key=lambda i: (parsed.alerts[i].fingerprint, i))
    receipts: dict[int, AlertReceipt] = {}
    woken = False
    with conn.transaction():
        for index in order:
            alert = parsed.alerts[index]
            intake = record_alert(conn, alert)
            item_id = None
            if intake.action == "created" and intake.incident_id is not None:
                item_id = queue_store.enqueue(
                    conn,
                    incident_id=intake.incident_id,
                    alert=alert.model_dump(mode="json"),
                    max_attempts=max_attempts,
                    wake=not woken,  # one notification per transaction wakes the workers
                )
                woken = True
            receipts[index] = AlertReceipt(
                index=index,
                title=alert.title,
                status=alert.status,
                fingerprint=alert.fingerprint,
                outcome=_OUTCOME[intake.action],
                incident_id=intake.incident_id,
                occurrence_count=intake.occurrence_count,
                work_item_id=item_id,
            )
    return IntakeReport(
        format=parsed.format,
        alerts=[receipts[i] for i in range(len(parsed.alerts))],
        ignored=parsed.ignored,
        text_repairs=parsed.text_repairs,
    )
