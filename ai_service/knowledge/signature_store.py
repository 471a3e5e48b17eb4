"""SQL of past incidents and the incident signatures they cluster into. Plain parameterised SQL, the connection
first, typed rows; ``signatures.py`` and ``legacy.py`` decide what to write."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql
from psycopg.rows import class_row, dict_row, kwargs_row

from ai_service.knowledge.incidents import FIELDS as INCIDENT_FIELDS
from ai_service.knowledge.store import as_array
from db.queries import scalar


def insert_signature(
    conn: psycopg.Connection,
    *,
    incident_signature_id: str,
    failure_type: str,
    error_class: str,
    symptoms: list[str],
    affected_service: str | None,
    service: str | None,
    component: str | None,
    assignment_group: str | None,
    impact: str | None,
    urgency: str | None,
    resolution_refs: list[str],
    source_incident_ids: list[str],
    source_document_id: uuid.UUID | None,
    embedding: np.ndarray | None,
    embedding_sha256: str | None,
    centroid: np.ndarray | None = None,
    last_seen_at: datetime | None = None,
) -> bool:
    """Insert a signature unless its id exists; returns whether it was inserted."""
    cur = conn.execute(
        "INSERT INTO incident_signatures (incident_signature_id, failure_type, error_class, symptoms,"
        " affected_service, service, component, assignment_group, impact, urgency, resolution_refs,"
        " source_incident_ids, source_document_id, embedding, embedding_sha256, centroid, last_seen_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (incident_signature_id) DO NOTHING",
        (
            incident_signature_id,
            failure_type,
            error_class,
            symptoms,
            affected_service,
            service,
            component,
            assignment_group,
            impact,
            urgency,
            resolution_refs,
            source_incident_ids,
            source_document_id,
            Vector(embedding) if embedding is not None else None,
            embedding_sha256,
            Vector(centroid) if centroid is not None else None,
            last_seen_at,
        ),
    )
    return cur.rowcount == 1


# --- historical incidents and signatures ----------------------------------------------------------------


@dataclass(frozen=True)
class StoredIncident:
    number: str
    record_sha256: str
    embedding_sha256: str | None
    signature_id: str | None


def stored_incidents(conn: psycopg.Connection) -> dict[str, StoredIncident]:
    """Every stored past incident by number, with the hashes that tell whether a re-import changed it."""
    with conn.cursor(row_factory=class_row(StoredIncident)) as cur:
        rows = cur.execute(
            "SELECT number, record_sha256, embedding_sha256, signature_id FROM historical_incidents"
        ).fetchall()
    return {r.number: r for r in rows}


def incident_embeddings_by_hash(conn: psycopg.Connection, *, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored past-incident vectors whose (model, text) hash is one of ``hashes``."""
    if not hashes:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT DISTINCT ON (embedding_sha256) embedding_sha256, embedding FROM historical_incidents"
            " WHERE embedding_sha256 = ANY(%s) AND embedding IS NOT NULL",
            (list(hashes),),
        ).fetchall()
    return {r["embedding_sha256"]: as_array(r["embedding"]) for r in rows}


def upsert_incidents(conn: psycopg.Connection, *, rows: Sequence[dict[str, object]]) -> None:
    """Insert or update historical incidents; a row whose text changed leaves its signature (to be re-assigned)."""
    if not rows:
        return
    columns = [*INCIDENT_FIELDS, "source_path", "record_sha256", "embedding", "embedding_sha256"]
    statement = sql.SQL(
        "INSERT INTO historical_incidents ({columns}) VALUES ({values}) ON CONFLICT (number) DO UPDATE SET {updates},"
        " signature_id = CASE WHEN historical_incidents.embedding_sha256 IS DISTINCT FROM"
        " EXCLUDED.embedding_sha256 THEN NULL ELSE historical_incidents.signature_id END"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(map(sql.Placeholder, columns)),
        updates=sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns if c != "number"
        ),
    )
    params = [
        {c: Vector(r[c]) if c == "embedding" and r[c] is not None else r[c] for c in columns}  # type: ignore[arg-type]
        for r in rows
    ]
    with conn.cursor() as cur:
        cur.executemany(statement, params)


@dataclass(frozen=True)
class IncidentRow:
    number: str
    fields: dict[str, object]
    embedding: np.ndarray
    signature_id: str | None


def _incident_row(**columns: Any) -> IncidentRow:
    return IncidentRow(
        number=columns["number"],
        fields={name: columns[name] for name in INCIDENT_FIELDS},
        embedding=as_array(columns["embedding"]),
        signature_id=columns["signature_id"],
    )


def all_incidents(conn: psycopg.Connection) -> list[IncidentRow]:
    """Every historical incident with a vector, in a stable order."""
    statement = sql.SQL(
        "SELECT {fields}, embedding, signature_id FROM historical_incidents"
        " WHERE embedding IS NOT NULL ORDER BY opened_at NULLS FIRST, number"
    ).format(fields=sql.SQL(", ").join(map(sql.Identifier, INCIDENT_FIELDS)))
    with conn.cursor(row_factory=kwargs_row(_incident_row)) as cur:
        return cur.execute(statement).fetchall()


def assign_incidents(conn: psycopg.Connection, *, signature_id: str, numbers: Sequence[str]) -> None:
    """Make these past incidents members of ``signature_id``."""
    conn.execute(
        "UPDATE historical_incidents SET signature_id = %s WHERE number = ANY(%s)", (signature_id, list(numbers))
    )


def signature_ids(conn: psycopg.Connection) -> set[str]:
    """Every incident signature id."""
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["id"] for r in cur.execute("SELECT incident_signature_id AS id FROM incident_signatures")}


def unassigned_incident_count(conn: psycopg.Connection) -> int:
    """Past incidents that belong to no signature (yet)."""
    count: int = scalar(conn, "SELECT count(*) FROM historical_incidents WHERE signature_id IS NULL")
    return count


def upsert_signature(
    conn: psycopg.Connection,
    *,
    incident_signature_id: str,
    fields: dict[str, object],
    embedding: np.ndarray,
    embedding_sha256: str,
    centroid: np.ndarray,
) -> None:
    """Insert or refresh a distilled signature (triage's counters are left as they are)."""
    conn.execute(
        "INSERT INTO incident_signatures (incident_signature_id, failure_type, error_class, symptoms,"
        " affected_service, service, component, assignment_group, impact, urgency, resolution_refs,"
        " source_incident_ids, last_seen_at, embedding, embedding_sha256, centroid)"
        " VALUES (%(id)s, %(failure_type)s, %(error_class)s, %(symptoms)s, %(affected_service)s, %(service)s,"
        " %(component)s, %(assignment_group)s, %(impact)s, %(urgency)s, %(resolution_refs)s,"
        " %(source_incident_ids)s, %(last_seen_at)s, %(embedding)s, %(embedding_sha256)s, %(centroid)s)"
        " ON CONFLICT (incident_signature_id) DO UPDATE SET failure_type = EXCLUDED.failure_type,"
        " error_class = EXCLUDED.error_class, symptoms = EXCLUDED.symptoms,"
        " affected_service = EXCLUDED.affected_service, service = EXCLUDED.service,"
        " component = EXCLUDED.component, assignment_group = EXCLUDED.assignment_group,"
        " impact = EXCLUDED.impact, urgency = EXCLUDED.urgency, resolution_refs = EXCLUDED.resolution_refs,"
        " source_incident_ids = EXCLUDED.source_incident_ids, last_seen_at = EXCLUDED.last_seen_at,"
        " embedding = EXCLUDED.embedding, embedding_sha256 = EXCLUDED.embedding_sha256,"
        " centroid = EXCLUDED.centroid",
        {
            "id": incident_signature_id,
            **fields,
            "embedding": Vector(embedding),
            "embedding_sha256": embedding_sha256,
            "centroid": Vector(centroid),
        },
    )


def refresh_centroids(conn: psycopg.Connection, signature_ids: Sequence[str] | None = None) -> int:
    """Each signature's centroid: the mean of its incidents' vectors (not normalised: its length is the cluster's
    cohesion, which growing the signature needs). Returns the number of signatures updated."""
    statement = (
        "UPDATE incident_signatures AS s SET centroid = m.mean"
        " FROM (SELECT signature_id, avg(embedding) AS mean FROM historical_incidents"
        "       WHERE signature_id IS NOT NULL AND embedding IS NOT NULL"
        "         AND (%(all)s OR signature_id = ANY(%(ids)s)) GROUP BY signature_id) AS m"
        " WHERE s.incident_signature_id = m.signature_id"
    )
    cur = conn.execute(statement, {"all": signature_ids is None, "ids": list(signature_ids or [])})
    return cur.rowcount


@dataclass(frozen=True)
class MemberRow:
    """A past incident's fields and the signature it belongs to (no vector: enough to label the signature)."""

    number: str
    fields: dict[str, object]
    signature_id: str


def _member_row(**columns: Any) -> MemberRow:
    return MemberRow(
        number=columns["number"],
        fields={name: columns[name] for name in INCIDENT_FIELDS},
        signature_id=columns["signature_id"],
    )


def signature_members(conn: psycopg.Connection) -> list[MemberRow]:
    """Every past incident that belongs to a signature, in a stable order."""
    statement = sql.SQL(
        "SELECT {fields}, signature_id FROM historical_incidents WHERE signature_id IS NOT NULL"
        " ORDER BY opened_at NULLS FIRST, number"
    ).format(fields=sql.SQL(", ").join(map(sql.Identifier, INCIDENT_FIELDS)))
    with conn.cursor(row_factory=kwargs_row(_member_row)) as cur:
        return cur.execute(statement).fetchall()


@dataclass(frozen=True)
class SignatureLabelRow:
    """A stored signature's label, the text its vector is made of, and that vector's hash."""

    incident_signature_id: str
    failure_type: str
    error_class: str
    symptoms: list[str]
    resolution_refs: list[str]
    embedding_sha256: str | None


def signature_labels(conn: psycopg.Connection) -> list[SignatureLabelRow]:
    """Every signature's failure type, error class, symptoms, resolution refs and vector hash, by id."""
    with conn.cursor(row_factory=class_row(SignatureLabelRow)) as cur:
        return cur.execute(
            "SELECT incident_signature_id, failure_type, error_class, coalesce(symptoms, '{}') AS symptoms,"
            " coalesce(resolution_refs, '{}') AS resolution_refs, embedding_sha256 FROM incident_signatures"
            " ORDER BY incident_signature_id"
        ).fetchall()


def relabel_signature(
    conn: psycopg.Connection,
    *,
    incident_signature_id: str,
    failure_type: str,
    error_class: str,
    embedding: np.ndarray | None,
    embedding_sha256: str,
) -> None:
    """Set a signature's failure type and error class, with the vector of its new text (None: keep the vector)."""
    conn.execute(
        "UPDATE incident_signatures SET failure_type = %s, error_class = %s,"
        " embedding = coalesce(%s, embedding), embedding_sha256 = %s WHERE incident_signature_id = %s",
        (
            failure_type,
            error_class,
            Vector(embedding) if embedding is not None else None,
            embedding_sha256,
            incident_signature_id,
        ),
    )
