"""Alert intake: payloads in any supported format become incidents, deduplicated by fingerprint.

* a firing alert whose fingerprint has no open incident opens one (and is handed to triage by the caller);
* a repeat updates the open incident — occurrence count, last seen, latest payload — and is not triaged again;
* a resolved notification closes the open incident; one for which nothing is open is reported as ignored.

Every alert of a payload is handled in its own short transaction, so one bad alert cannot lose the others and an
alert storm never holds long locks. Never triages by itself: the caller decides (CLI now, queue workers later).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from ai_service.alerts import store
from ai_service.alerts.adapters import parse_alerts
from ai_service.alerts.models import NormalizedAlert

Action = Literal["created", "repeated", "resolved", "ignored"]


@dataclass(frozen=True)
class IntakeOutcome:
    alert: NormalizedAlert
    action: Action
    incident_id: uuid.UUID | None
    occurrence_count: int = 1


def receive_alert(conn: psycopg.Connection, alert: NormalizedAlert) -> IntakeOutcome:
    """Record one normalised alert (``conn`` in autocommit mode: one transaction per alert)."""
    with conn.transaction():
        return record_alert(conn, alert)


def record_alert(conn: psycopg.Connection, alert: NormalizedAlert) -> IntakeOutcome:
    """Record one normalised alert in the caller's transaction: one statement, which is atomic on its own."""
    if alert.status == "resolved":
        incident = store.resolve(
            conn, fingerprint=alert.fingerprint, resolved_at=alert.ends_at or alert.received_at, raw=alert.raw
        )
        return IntakeOutcome(alert, "resolved" if incident else "ignored", incident)
    opened = store.open_or_repeat(conn, alert=alert)
    return IntakeOutcome(
        alert, "created" if opened.created else "repeated", opened.incident_id, opened.occurrence_count
    )


def receive(
    conn: psycopg.Connection, payload: dict[str, Any] | list[Any] | str | bytes, *, format: str | None = None
) -> list[IntakeOutcome]:
    """Parse a payload (Alertmanager, Grafana, PagerDuty or generic JSON) and record each of its alerts."""
    return [receive_alert(conn, alert) for alert in parse_alerts(payload, format=format)]
