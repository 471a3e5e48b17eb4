"""SQL of the incident read model: the list, one incident with its chain, and recording a triage on it."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ai_service.incidents.models import ChainLink, IncidentDetail, IncidentStatus, IncidentSummary
from ai_service.policy.models import PolicyDecision
from ai_service.resolution.models import ResolutionPlan
from ai_service.triage.models import Triage

_SUMMARY_COLUMNS = (
    "i.id, i.status, i.title, i.source, i.service, i.environment, i.severity AS alert_severity,"
    " coalesce(i.triage_output->>'severity', i.severity) AS severity, i.policy_band, i.occurrence_count,"
    " i.first_seen_at, i.last_seen_at, i.resolved_at, i.triage_completed_at"
)


def list_incidents(
    conn: psycopg.Connection, *, status: IncidentStatus | None = None, limit: int = 20
) -> list[IncidentSummary]:
    """Incidents, most recently seen first."""
    with conn.cursor(row_factory=class_row(IncidentSummary)) as cur:
        return cur.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM incidents AS i"
            " WHERE %(status)s::text IS NULL OR i.status = %(status)s"
            " ORDER BY i.last_seen_at DESC, i.id LIMIT %(limit)s",
            {"status": status, "limit": limit},
        ).fetchall()


def get_incident(conn: psycopg.Connection, incident_id: uuid.UUID) -> IncidentDetail | None:
    """One incident with its alert and latest triage and plan (without the chain; see ``chain_of``)."""
    with conn.cursor(row_factory=class_row(IncidentDetail)) as cur:
        return cur.execute(
            f"SELECT {_SUMMARY_COLUMNS}, i.alert_id, i.fingerprint, i.raw_alert, i.last_raw_alert,"
            " i.alert_received_at, i.triage_output AS triage, i.resolution_output AS resolution,"
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
