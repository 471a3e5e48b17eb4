"""SQL of the incident read model: the list, one incident with its chain, and recording a triage on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ai_service.incidents.models import (
    ChainLink,
    Cursor,
    IncidentDetail,
    IncidentFilter,
    IncidentSummary,
    MttrFigures,
    MttrGroup,
)
from ai_service.policy.models import PolicyDecision
from ai_service.resolution.models import ResolutionPlan
from ai_service.triage.models import Triage

_SUMMARY_COLUMNS = (
    "i.id, i.status, i.title, i.source, i.service, i.environment, i.severity AS alert_severity,"
    " coalesce(i.triage_output->>'severity', i.severity) AS severity, i.policy_band, i.occurrence_count,"
    " i.first_seen_at, i.last_seen_at, i.resolved_at, i.resolved_by, i.resolution_note, i.triage_completed_at"
)


def list_incidents(
    conn: psycopg.Connection,
    *,
    where: IncidentFilter | None = None,
    after: Cursor | None = None,
    limit: int = 20,
) -> list[IncidentSummary]:
    """Incidents matching ``where``, most recently seen first, starting after ``after`` (keyset pagination)."""
    where = where or IncidentFilter()
    with conn.cursor(row_factory=class_row(IncidentSummary)) as cur:
        return cur.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM incidents AS i"
            " WHERE (%(status)s::text IS NULL OR i.status = %(status)s)"
            " AND (%(band)s::text IS NULL OR i.policy_band = %(band)s)"
            " AND (%(severity)s::text IS NULL OR coalesce(i.triage_output->>'severity', i.severity) = %(severity)s)"
            " AND (%(service)s::text IS NULL OR i.service = %(service)s)"
            " AND (%(since)s::timestamptz IS NULL OR i.last_seen_at >= %(since)s)"
            " AND (%(until)s::timestamptz IS NULL OR i.last_seen_at < %(until)s)"
            " AND (%(after_ts)s::timestamptz IS NULL OR (i.last_seen_at, i.id) < (%(after_ts)s, %(after_id)s::uuid))"
            " ORDER BY i.last_seen_at DESC, i.id DESC LIMIT %(limit)s",
            {
                **where.model_dump(),
                "after_ts": after.last_seen_at if after else None,
                "after_id": after.id if after else None,
                "limit": limit,
            },
        ).fetchall()


_MTTR = (
    "count(*) AS resolved,"
    " avg(extract(epoch FROM i.resolved_at - i.first_seen_at))::float8 AS mean_seconds,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.resolved_at - i.first_seen_at))::float8"
    " AS median_seconds,"
    " percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM i.resolved_at - i.first_seen_at))::float8"
    " AS p95_seconds"
)
_RESOLVED = (
    " FROM incidents AS i WHERE i.status = 'resolved' AND i.resolved_at IS NOT NULL"
    " AND (%(since)s::timestamptz IS NULL OR i.resolved_at >= %(since)s)"
)


def mttr(conn: psycopg.Connection, *, since: datetime | None = None) -> MttrFigures:
    """Mean, median and 95th percentile time from an incident's first alert to its resolution."""
    with conn.cursor(row_factory=class_row(MttrFigures)) as cur:
        figures = cur.execute(f"SELECT {_MTTR}{_RESOLVED}", {"since": since}).fetchone()
    assert figures is not None  # an aggregate always returns one row
    return figures


def mttr_by(conn: psycopg.Connection, *, key: str, since: datetime | None = None) -> list[MttrGroup]:
    """The same figures per service or per policy band (``key``: "service" or "band")."""
    column = {"service": "i.service", "band": "i.policy_band"}[key]
    with conn.cursor(row_factory=class_row(MttrGroup)) as cur:
        return cur.execute(
            f"SELECT {column} AS key, {_MTTR}{_RESOLVED} GROUP BY 1 ORDER BY 2 DESC, 1", {"since": since}
        ).fetchall()


def get_incident(conn: psycopg.Connection, incident_id: uuid.UUID) -> IncidentDetail | None:
    """One incident with its alert and latest triage and plan (without the chain; see ``chain_of``)."""
    with conn.cursor(row_factory=class_row(IncidentDetail)) as cur:
        return cur.execute(
            f"SELECT {_SUMMARY_COLUMNS}, i.alert_id, i.fingerprint, i.raw_alert, i.last_raw_alert,"
            " i.alert_received_at, i.triage_output AS triage, i.triage_evidence AS evidence,"
            " i.resolution_output AS resolution,"
            " i.policy_decision, i.resolution_proposed_at, i.resolution_accepted_at"
            " FROM incidents AS i WHERE i.id = %s",
            (incident_id,),
        ).fetchone()


def chain_of(conn: psycopg.Connection, incident_id: uuid.UUID) -> list[ChainLink]:
    """Every triage of an incident with the resolution proposed from it, oldest first."""
    with conn.cursor(row_factory=class_row(ChainLink)) as cur:
        return cur.execute(
            "SELECT triage_result_id, failure_type, error_class, severity, triage_confidence::float8"
            " AS triage_confidence, policy_band, matched_signature_ids, matched_runbook_refs, triage_completed_at,"
            " resolution_output_id, resolution_confidence::float8 AS resolution_confidence, resolution_risk_level,"
            " retrieved_step_ids, used_signature_ids, execution_status, proposed_at, accepted_at, executed_at"
            " FROM triage_to_resolution_chain WHERE incident_id = %s AND triage_result_id IS NOT NULL"
            " ORDER BY triage_completed_at NULLS LAST, triage_result_id",
            (incident_id,),
        ).fetchall()


def record_triage(
    conn: psycopg.Connection,
    *,
    incident_id: uuid.UUID,
    triage: Triage,
    plan: ResolutionPlan,
    decision: PolicyDecision,
) -> None:
    """Keep the latest triage, plan and decision on the incident itself (what the list and detail read)."""
    conn.execute(
        "UPDATE incidents SET triage_output = %s, triage_evidence = %s, resolution_output = %s,"
        " resolution_evidence = %s, policy_band = %s, policy_decision = %s, triage_completed_at = now(),"
        " resolution_proposed_at = now() WHERE id = %s",
        (
            Jsonb(triage.model_dump(mode="json", exclude={"evidence"})),
            Jsonb(triage.evidence),
            Jsonb(plan.model_dump(mode="json")),
            Jsonb([{"step_id": r.step_id, **r.provenance} for r in plan.recommendations]),
            decision.band,
            Jsonb(decision.model_dump(mode="json")),
            incident_id,
        ),
    )


def close_incident(conn: psycopg.Connection, incident_id: uuid.UUID, *, user: str, note: str | None = None) -> bool:
    """A human closes an open incident (the fix is in, and no resolved notification will come), saying why in
    ``note``; False when it was not open."""
    closed = conn.execute(
        "UPDATE incidents SET status = 'resolved', resolved_at = now(), resolved_by = %s, resolution_note = %s"
        " WHERE id = %s AND status = 'open'",
        (user, (note or "").strip() or None, incident_id),
    ).rowcount
    return closed == 1


@dataclass(frozen=True)
class TriageState:
    """Where an incident's latest triage work item stands (the console's queued / triaged / dead)."""

    incident_id: uuid.UUID
    status: str
    attempts: int
    last_error: str | None


def triage_states(conn: psycopg.Connection, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, TriageState]:
    """The latest work item of each of these incidents, by incident id (incidents without one are left out)."""
    with conn.cursor(row_factory=class_row(TriageState)) as cur:
        rows = cur.execute(
            "SELECT DISTINCT ON (incident_id) incident_id, status, attempts, last_error FROM work_items"
            " WHERE incident_id = ANY(%s) ORDER BY incident_id, enqueued_at DESC, id DESC",
            (incident_ids,),
        ).fetchall()
    return {r.incident_id: r for r in rows}


@dataclass(frozen=True)
class DailyVolume:
    """How many incidents were first seen on one UTC day in one policy band (None: not triaged)."""

    day: date
    band: str | None
    incidents: int


def daily_volume(conn: psycopg.Connection, *, since: datetime) -> list[DailyVolume]:
    """Incidents first seen at or after ``since``, counted per UTC day and policy band, oldest day first."""
    with conn.cursor(row_factory=class_row(DailyVolume)) as cur:
        return cur.execute(
            "SELECT (i.first_seen_at AT TIME ZONE 'UTC')::date AS day, i.policy_band AS band, count(*)::int AS"
            " incidents FROM incidents AS i WHERE i.first_seen_at >= %s GROUP BY 1, 2 ORDER BY 1, 2 NULLS LAST",
            (since,),
        ).fetchall()


@dataclass(frozen=True)
class MttrPoint:
    """MTTR of the incidents resolved in one UTC day or ISO week (``period`` is its first day)."""

    period: date
    resolved: int
    mean_seconds: float | None
    median_seconds: float | None
    p95_seconds: float | None


def mttr_series(conn: psycopg.Connection, *, since: datetime, every: Literal["day", "week"]) -> list[MttrPoint]:
    """Mean, median and p95 time to resolve per UTC day or ISO week of resolution, oldest first."""
    grain = {"day": "day", "week": "week"}[every]
    with conn.cursor(row_factory=class_row(MttrPoint)) as cur:
        return cur.execute(
            f"SELECT date_trunc('{grain}', i.resolved_at AT TIME ZONE 'UTC')::date AS period, {_MTTR}"
            " FROM incidents AS i WHERE i.status = 'resolved' AND i.resolved_at IS NOT NULL"
            " AND i.resolved_at >= %(since)s GROUP BY 1 ORDER BY 1",
            {"since": since},
        ).fetchall()
