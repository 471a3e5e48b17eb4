"""SQL of alert intake: open, repeat and close incidents by fingerprint (plain parameterised SQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ai_service.alerts.fingerprint import alert_pattern
from ai_service.alerts.models import NormalizedAlert
from db.queries import scalar


@dataclass(frozen=True)
class OpenResult:
    incident_id: uuid.UUID
    created: bool
    occurrence_count: int


def open_or_repeat(conn: psycopg.Connection, *, alert: NormalizedAlert) -> OpenResult:
    """Insert the incident of a firing alert, or count a repeat on the open one with its fingerprint.

    One statement: concurrent repeats converge on one row (the partial unique index on open fingerprints).
    ``created`` is true for the row this call inserted.
    """
    with conn.cursor(row_factory=class_row(OpenResult)) as cur:
        opened = cur.execute(
            "INSERT INTO incidents (alert_id, source, raw_alert, last_raw_alert, fingerprint, status, title, severity,"
            " service, environment, alert_received_at, first_seen_at, last_seen_at, pattern)"
            " VALUES (%(alert_id)s, %(source)s, %(raw)s, %(raw)s, %(fingerprint)s, 'open', %(title)s, %(severity)s,"
            " %(service)s, %(environment)s, %(received)s, coalesce(%(starts)s, %(received)s), %(received)s,"
            " %(pattern)s)"
            " ON CONFLICT (fingerprint) WHERE status = 'open' AND fingerprint IS NOT NULL DO UPDATE SET"
            " occurrence_count = incidents.occurrence_count + 1,"
            " last_seen_at = greatest(incidents.last_seen_at, EXCLUDED.last_seen_at),"
            " last_raw_alert = EXCLUDED.last_raw_alert"
            " RETURNING id AS incident_id, (xmax = 0) AS created, occurrence_count",
            {
                "alert_id": alert.alert_id,
                "source": alert.source,
                "raw": Jsonb(alert.raw),
                "fingerprint": alert.fingerprint,
                "title": alert.title,
                "severity": alert.severity_normalized,
                "service": alert.service,
                "environment": alert.environment,
                "received": alert.received_at,
                "starts": alert.starts_at,
                "pattern": alert_pattern(alert),
            },
        ).fetchone()
    assert opened is not None  # INSERT ... ON CONFLICT DO UPDATE ... RETURNING always returns the row
    return opened


def resolve(
    conn: psycopg.Connection, *, fingerprint: str, resolved_at: datetime, raw: dict[str, Any]
) -> uuid.UUID | None:
    """Close the open incident with this fingerprint; None when there is none."""
    incident_id: uuid.UUID | None = scalar(
        conn,
        "UPDATE incidents SET status = 'resolved', resolved_at = %s, resolved_by = 'alert', last_raw_alert = %s"
        " WHERE fingerprint = %s AND status = 'open' RETURNING id",
        (resolved_at, Jsonb(raw), fingerprint),
        default=None,
    )
    return incident_id
