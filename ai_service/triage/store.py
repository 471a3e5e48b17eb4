"""SQL of triage results: one ``triage_results`` row per triage (it changes nothing else that triage reads)."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.types.json import Jsonb

from ai_service.triage.models import Triage
from ai_service.vocabulary import Band
from db.queries import scalar


def insert_triage(conn: psycopg.Connection, *, incident_id: uuid.UUID, triage: Triage, band: Band) -> uuid.UUID:
    """Store a completed triage (with the band the policy put it in); returns its id."""
    triage_id: uuid.UUID = scalar(
        conn,
        "INSERT INTO triage_results (incident_id, failure_type, error_class, severity, confidence, policy_band,"
        " assignment_group, assignment_group_source, impact, urgency, matched_signature_ids, matched_runbook_refs,"
        " evidence_chunks, retrieval_method, completed_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
        " RETURNING id",
        (
            incident_id,
            triage.failure_type,
            triage.error_class,
            triage.severity,
            triage.confidence,
            band,
            triage.assignment_group,
            triage.assignment_group_source,
            triage.impact,
            triage.urgency,
            triage.matched_signature_ids,
            triage.matched_runbook_refs,
            Jsonb(triage.evidence),
            triage.retrieval_method,
        ),
    )
    return triage_id
