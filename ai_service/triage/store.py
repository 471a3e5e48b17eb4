"""SQL of triage and resolution results: the two rows per triaged incident, and the incident's summary."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from ai_service.policy.models import PolicyDecision
from ai_service.resolution.models import ResolutionPlan
from ai_service.triage.models import Triage


def insert_triage(
    conn: psycopg.Connection, *, incident_id: uuid.UUID, triage: Triage, decision: PolicyDecision
) -> uuid.UUID:
    now = datetime.now(UTC)
    row = conn.execute(
        "INSERT INTO triage_results (incident_id, failure_type, error_class, severity, confidence, policy_band,"
        " assignment_group, impact, urgency, matched_signature_ids, matched_runbook_refs, evidence_chunks,"
        " retrieval_method, completed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " RETURNING id",
        (
            incident_id,
            triage.failure_type,
            triage.error_class,
            triage.severity,
            triage.confidence,
            decision.band,
            triage.assignment_group,
            triage.impact,
            triage.urgency,
            triage.matched_signature_ids,
            triage.matched_runbook_refs,
            Jsonb(triage.evidence),
            triage.retrieval_method,
            now,
        ),
    ).fetchone()
    assert row is not None
    return row[0]


def insert_resolution(
    conn: psycopg.Connection,
    *,
    incident_id: uuid.UUID,
    triage_result_id: uuid.UUID,
    plan: ResolutionPlan,
    decision: PolicyDecision,
    evidence: list[dict[str, object]],
    retrieval_method: str,
) -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO resolution_outputs (incident_id, triage_result_id, overall_confidence, risk_level,"
        " recommendations, retrieved_step_ids, used_signature_ids, evidence_chunks, retrieval_method,"
        " proposed_at, execution_status, policy_decision)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now(), 'pending', %s) RETURNING id",
        (
            incident_id,
            triage_result_id,
            plan.overall_confidence,
            plan.risk_level,
            Jsonb([r.model_dump(mode="json") for r in plan.recommendations]),
            plan.retrieved_step_ids,
            plan.used_signature_ids,
            Jsonb(evidence),
            retrieval_method,
            Jsonb(decision.model_dump(mode="json")),
        ),
    ).fetchone()
    assert row is not None
    return row[0]


def record_on_incident(
    conn: psycopg.Connection,
    *,
    incident_id: uuid.UUID,
    triage: Triage,
    plan: ResolutionPlan,
    decision: PolicyDecision,
) -> None:
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


def count_matches(conn: psycopg.Connection, *, signature_ids: list[str]) -> None:
    """A signature was matched by triage: its match count grows (its track record's denominator)."""
    if signature_ids:
        conn.execute(
            "UPDATE incident_signatures SET match_count = match_count + 1 WHERE incident_signature_id = ANY(%s)",
            (signature_ids,),
        )
