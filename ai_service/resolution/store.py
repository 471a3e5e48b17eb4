"""SQL of resolutions: the proposed plan of a triaged incident, and the guarded moves of its state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ai_service.policy.models import PolicyDecision
from ai_service.resolution.models import Action, ExecutionStatus, ResolutionEvent, ResolutionPlan, StoredResolution
from db.queries import scalar

_COLUMNS = (
    "SELECT id, incident_id, execution_status, recommendations, risk_level, overall_confidence::float8"
    " AS overall_confidence, policy_decision, accepted_by, accepted_roles, execution_notes, created_at,"
    " accepted_at, executed_at FROM resolution_outputs"
)


def insert_resolution(
    conn: psycopg.Connection,
    *,
    incident_id: uuid.UUID,
    triage_result_id: uuid.UUID,
    plan: ResolutionPlan,
    decision: PolicyDecision,
    evidence: Sequence[dict[str, object]],
    retrieval_method: str,
) -> uuid.UUID:
    """Store a proposed plan (status pending) with the policy decision it is held to; returns its id."""
    resolution_id: uuid.UUID = scalar(
        conn,
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
            Jsonb(list(evidence)),
            retrieval_method,
            Jsonb(decision.model_dump(mode="json")),
        ),
    )
    return resolution_id


def get_resolution(conn: psycopg.Connection, resolution_id: uuid.UUID) -> StoredResolution | None:
    """One resolution by id."""
    with conn.cursor(row_factory=class_row(StoredResolution)) as cur:
        return cur.execute(_COLUMNS + " WHERE id = %s", (resolution_id,)).fetchone()


def latest_resolution(conn: psycopg.Connection, incident_id: uuid.UUID) -> StoredResolution | None:
    """The newest resolution proposed for an incident."""
    with conn.cursor(row_factory=class_row(StoredResolution)) as cur:
        return cur.execute(
            _COLUMNS + " WHERE incident_id = %s ORDER BY created_at DESC, id DESC LIMIT 1", (incident_id,)
        ).fetchone()


def resolutions_of(conn: psycopg.Connection, incident_id: uuid.UUID) -> list[StoredResolution]:
    """Every resolution proposed for an incident, oldest first."""
    with conn.cursor(row_factory=class_row(StoredResolution)) as cur:
        return cur.execute(_COLUMNS + " WHERE incident_id = %s ORDER BY created_at, id", (incident_id,)).fetchall()


def move(
    conn: psycopg.Connection,
    *,
    resolution_id: uuid.UUID,
    from_status: ExecutionStatus,
    to_status: ExecutionStatus,
    notes: str | None,
    user: str | None = None,
    roles: Sequence[str] = (),
) -> bool:
    """Move a resolution from ``from_status`` to ``to_status`` (stamping the time, and who accepted it); False
    when it is no longer in ``from_status`` (another caller moved it first)."""
    moved = conn.execute(
        "UPDATE resolution_outputs SET execution_status = %(to)s,"
        " execution_notes = coalesce(%(notes)s, execution_notes),"
        " accepted_at = CASE WHEN %(to)s = 'accepted' THEN now() ELSE accepted_at END,"
        " executed_at = CASE WHEN %(to)s = 'executed' THEN now() ELSE executed_at END,"
        " accepted_by = CASE WHEN %(to)s = 'accepted' THEN %(user)s ELSE accepted_by END,"
        " accepted_roles = CASE WHEN %(to)s = 'accepted' THEN %(roles)s ELSE accepted_roles END"
        " WHERE id = %(id)s AND execution_status = %(from)s",
        {"to": to_status, "from": from_status, "notes": notes, "user": user, "roles": list(roles), "id": resolution_id},
    ).rowcount
    return moved == 1


def stamp_incident_accepted(conn: psycopg.Connection, *, incident_id: uuid.UUID) -> None:
    """Record on the incident the time its resolution was accepted (what MTTR reads)."""
    conn.execute("UPDATE incidents SET resolution_accepted_at = now() WHERE id = %s", (incident_id,))


def insert_event(
    conn: psycopg.Connection,
    *,
    resolution_id: uuid.UUID,
    incident_id: uuid.UUID,
    action: Action,
    from_status: ExecutionStatus | None,
    to_status: ExecutionStatus,
    actor: str | None,
    roles: Sequence[str],
    notes: str | None,
) -> None:
    """Record who moved a resolution, and how (in the transaction that moved it)."""
    conn.execute(
        "INSERT INTO resolution_events (resolution_id, incident_id, action, from_status, to_status, actor, roles,"
        " notes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (resolution_id, incident_id, action, from_status, to_status, actor, list(roles), notes),
    )


def events_of(conn: psycopg.Connection, incident_id: uuid.UUID) -> list[ResolutionEvent]:
    """Every move of every resolution of an incident, oldest first."""
    with conn.cursor(row_factory=class_row(ResolutionEvent)) as cur:
        return cur.execute(
            "SELECT id, resolution_id, incident_id, action, from_status, to_status, actor, roles, notes, created_at"
            " FROM resolution_events WHERE incident_id = %s ORDER BY created_at, id",
            (incident_id,),
        ).fetchall()
