"""SQL of the knowledge base: runbooks, their steps and source documents. Plain parameterised SQL, the
connection first; no decisions are made here (``service.py`` decides what to write)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import psycopg
from pgvector import Vector
from psycopg.types.json import Jsonb

from ai_service.knowledge.incidents import FIELDS as INCIDENT_FIELDS


def as_array(value: object) -> np.ndarray:
    """A stored vector (pgvector's ``Vector`` or an array) as a float32 numpy array."""
    if isinstance(value, Vector):
        return np.asarray(value.to_numpy(), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


@dataclass(frozen=True)
class RunbookState:
    """What the database knows of an ingested runbook, enough to skip an unchanged file."""

    runbook_id: str
    source_path: str
    content_sha256: str
    step_count: int
    missing_embeddings: int


@dataclass(frozen=True)
class StoredStep:
    step_id: str
    step_order: int | None
    content_sha256: str | None
    embedding_sha256: str | None
    phase: str | None
    section: str | None


@dataclass(frozen=True)
class StepRow:
    """One runbook_steps row to write."""

    step_id: str
    runbook_id: str
    step_order: int
    phase: str
    section: str
    condition: str
    action: str
    expected_outcome: str | None
    rollback: str | None
    risk_level: str
    risk_inferred: bool
    risk_reason: str | None
    service: str | None
    component: str | None
    runbook_title: str
    runbook_document_id: uuid.UUID
    last_reviewed_at: date | None
    content_sha256: str
    embedding: np.ndarray | None  # None: keep the stored vector
    embedding_sha256: str


def runbook_states(conn: psycopg.Connection) -> dict[str, RunbookState]:
    """Every ingested runbook by source path."""
    rows = conn.execute(
        "SELECT r.runbook_id, r.source_path, r.content_sha256, r.step_count,"
        " (SELECT count(*) FROM runbook_steps AS s WHERE s.runbook_id = r.runbook_id AND s.embedding IS NULL)"
        " + (r.embedding IS NULL)::int + (r.title_embedding IS NULL)::int"
        " FROM runbooks AS r"
    ).fetchall()
    return {r[1]: RunbookState(r[0], r[1], r[2], r[3], r[4]) for r in rows}


def runbook_source_paths(conn: psycopg.Connection) -> dict[str, str]:
    """runbook_id -> source path of every ingested runbook."""
    return dict(conn.execute("SELECT runbook_id, source_path FROM runbooks").fetchall())  # type: ignore[arg-type]


def stored_steps(conn: psycopg.Connection, *, runbook_id: str) -> list[StoredStep]:
    rows = conn.execute(
        "SELECT step_id, step_order, content_sha256, embedding_sha256, phase, section FROM runbook_steps"
        " WHERE runbook_id = %s ORDER BY step_order NULLS LAST, step_id",
        (runbook_id,),
    ).fetchall()
    return [StoredStep(*r) for r in rows]


def embeddings_by_hash(conn: psycopg.Connection, *, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored vectors whose (model, text) hash is one of ``hashes`` — texts that need no new embedding."""
    if not hashes:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (embedding_sha256) embedding_sha256, embedding FROM ("
        "  SELECT embedding_sha256, embedding FROM runbook_steps WHERE embedding_sha256 = ANY(%(h)s)"
        "   AND embedding IS NOT NULL"
        "  UNION ALL"
        "  SELECT embedding_sha256, embedding FROM runbooks WHERE embedding_sha256 = ANY(%(h)s)"
        "   AND embedding IS NOT NULL"
        "  UNION ALL"
        "  SELECT title_embedding_sha256, title_embedding FROM runbooks WHERE title_embedding_sha256 = ANY(%(h)s)"
        "   AND title_embedding IS NOT NULL"
        ") AS known",
        {"h": list(hashes)},
    ).fetchall()
    return {r[0]: as_array(r[1]) for r in rows}


def upsert_document(
    conn: psycopg.Connection,
    *,
    source_key: str,
    doc_type: str,
    title: str,
    content: str,
    service: str | None,
    component: str | None,
    tags: list[str],
    last_reviewed_at: date | None,
    source_path: str,
    content_sha256: str,
) -> uuid.UUID:
    """Insert or update the source document identified by ``source_key``; returns its id."""
    row = conn.execute(
        "INSERT INTO documents (source_key, doc_type, title, content, service, component, tags,"
        " last_reviewed_at, source_path, content_sha256)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (source_key) WHERE source_key IS NOT NULL DO UPDATE SET"
        " doc_type = EXCLUDED.doc_type, title = EXCLUDED.title, content = EXCLUDED.content,"
        " service = EXCLUDED.service, component = EXCLUDED.component, tags = EXCLUDED.tags,"
        " last_reviewed_at = EXCLUDED.last_reviewed_at, source_path = EXCLUDED.source_path,"
        " content_sha256 = EXCLUDED.content_sha256, updated_at = now()"
        " RETURNING id",
        (
            source_key,
            doc_type,
            title,
            content,
            service,
            component,
            Jsonb(tags),
            last_reviewed_at,
            source_path,
            content_sha256,
        ),
    ).fetchone()
    assert row is not None
    return row[0]


def upsert_runbook(
    conn: psycopg.Connection,
    *,
    runbook_id: str,
    title: str,
    description: str | None,
    service: str | None,
    component: str | None,
    tags: list[str],
    format: str,
    source_path: str,
    content_sha256: str,
    document_id: uuid.UUID,
    step_count: int,
    search_text: str,
    embedding: np.ndarray | None,
    embedding_sha256: str,
    last_reviewed_at: date | datetime | None,
    title_embedding: np.ndarray | None = None,
    title_embedding_sha256: str | None = None,
) -> None:
    """Insert or update one runbooks row (``embedding`` None keeps the stored vector)."""
    conn.execute(
        "INSERT INTO runbooks (runbook_id, title, description, service, component, tags, format, source_path,"
        " content_sha256, document_id, step_count, search_text, embedding, embedding_sha256, last_reviewed_at,"
        " title_embedding, title_embedding_sha256)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (runbook_id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,"
        " service = EXCLUDED.service, component = EXCLUDED.component, tags = EXCLUDED.tags,"
        " format = EXCLUDED.format, source_path = EXCLUDED.source_path,"
        " content_sha256 = EXCLUDED.content_sha256, document_id = EXCLUDED.document_id,"
        " step_count = EXCLUDED.step_count, search_text = EXCLUDED.search_text,"
        " embedding = coalesce(EXCLUDED.embedding, runbooks.embedding),"
        " embedding_sha256 = EXCLUDED.embedding_sha256, last_reviewed_at = EXCLUDED.last_reviewed_at,"
        " title_embedding = coalesce(EXCLUDED.title_embedding, runbooks.title_embedding),"
        " title_embedding_sha256 = coalesce(EXCLUDED.title_embedding_sha256, runbooks.title_embedding_sha256)",
        (
            runbook_id,
            title,
            description,
            service,
            component,
            Jsonb(tags),
            format,
            source_path,
            content_sha256,
            document_id,
            step_count,
            search_text,
            Vector(embedding) if embedding is not None else None,
            embedding_sha256,
            last_reviewed_at,
            Vector(title_embedding) if title_embedding is not None else None,
            title_embedding_sha256,
        ),
    )


def upsert_steps(conn: psycopg.Connection, *, rows: Iterable[StepRow]) -> None:
    """Insert or update steps by step_id (a None embedding keeps the stored vector)."""
    params = [
        (
            r.step_id,
            r.runbook_id,
            r.step_order,
            r.phase,
            r.section,
            r.condition,
            r.action,
            r.expected_outcome,
            r.rollback,
            r.risk_level,
            r.risk_inferred,
            r.risk_reason,
            r.service,
            r.component,
            r.runbook_title,
            r.runbook_document_id,
            r.last_reviewed_at,
            r.content_sha256,
            Vector(r.embedding) if r.embedding is not None else None,
            r.embedding_sha256,
        )
        for r in rows
    ]
    if not params:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO runbook_steps (step_id, runbook_id, step_order, phase, section, condition, action,"
            " expected_outcome, rollback, risk_level, risk_inferred, risk_reason, service, component,"
            " runbook_title, runbook_document_id, last_reviewed_at, content_sha256, embedding, embedding_sha256)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (step_id) DO UPDATE SET runbook_id = EXCLUDED.runbook_id,"
            " step_order = EXCLUDED.step_order, phase = EXCLUDED.phase, section = EXCLUDED.section,"
            " condition = EXCLUDED.condition, action = EXCLUDED.action,"
            " expected_outcome = EXCLUDED.expected_outcome, rollback = EXCLUDED.rollback,"
            " risk_level = EXCLUDED.risk_level, risk_inferred = EXCLUDED.risk_inferred,"
            " risk_reason = EXCLUDED.risk_reason, service = EXCLUDED.service, component = EXCLUDED.component,"
            " runbook_title = EXCLUDED.runbook_title, runbook_document_id = EXCLUDED.runbook_document_id,"
            " last_reviewed_at = EXCLUDED.last_reviewed_at, content_sha256 = EXCLUDED.content_sha256,"
            " embedding = coalesce(EXCLUDED.embedding, runbook_steps.embedding),"
            " embedding_sha256 = EXCLUDED.embedding_sha256",
            params,
        )


def delete_steps(conn: psycopg.Connection, *, step_ids: Sequence[str]) -> int:
    if not step_ids:
        return 0
    cur = conn.execute("DELETE FROM runbook_steps WHERE step_id = ANY(%s)", (list(step_ids),))
    return cur.rowcount


def delete_runbook(conn: psycopg.Connection, *, runbook_id: str) -> int:
    """Remove a runbook, its steps and its source document; returns the number of steps removed."""
    removed = conn.execute("DELETE FROM runbook_steps WHERE runbook_id = %s", (runbook_id,)).rowcount
    conn.execute(
        "DELETE FROM documents WHERE id = (SELECT document_id FROM runbooks WHERE runbook_id = %s)", (runbook_id,)
    )
    conn.execute("DELETE FROM runbooks WHERE runbook_id = %s", (runbook_id,))
    return removed


@dataclass(frozen=True)
class KnowledgeStats:
    runbooks: int
    steps: int
    steps_without_embedding: int
    steps_by_risk: dict[str, int]
    steps_by_phase: dict[str, int]
    signatures: int
    historical_incidents: int
    unassigned_incidents: int
    services: list[tuple[str, int]]


def knowledge_stats(conn: psycopg.Connection) -> KnowledgeStats:
    one = conn.execute(
        "SELECT (SELECT count(*) FROM runbooks), (SELECT count(*) FROM runbook_steps),"
        " (SELECT count(*) FROM runbook_steps WHERE embedding IS NULL),"
        " (SELECT count(*) FROM incident_signatures), (SELECT count(*) FROM historical_incidents),"
        " (SELECT count(*) FROM historical_incidents WHERE signature_id IS NULL)"
    ).fetchone()
    assert one is not None
    by_risk = dict(
        conn.execute("SELECT coalesce(risk_level, 'unset'), count(*) FROM runbook_steps GROUP BY 1").fetchall()  # type: ignore[arg-type]
    )
    by_phase = dict(
        conn.execute("SELECT coalesce(phase, 'unset'), count(*) FROM runbook_steps GROUP BY 1").fetchall()  # type: ignore[arg-type]
    )
    services = [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT coalesce(service, '(none)'), count(*) FROM runbook_steps GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20"
        ).fetchall()
    ]
    return KnowledgeStats(one[0], one[1], one[2], by_risk, by_phase, one[3], one[4], one[5], services)


@dataclass(frozen=True)
class LegacyChunk:
    id: uuid.UUID
    document_id: uuid.UUID
    chunk_index: int
    content: str
    metadata: dict[str, object]
    embedding: np.ndarray | None
    document_title: str
    document_service: str | None
    document_component: str | None


def legacy_chunks(conn: psycopg.Connection) -> list[LegacyChunk]:
    """Chunks of an older install that carry a runbook step or an incident signature in their metadata."""
    rows = conn.execute(
        "SELECT c.id, c.document_id, c.chunk_index, c.content, c.metadata, c.embedding, d.title, d.service,"
        " d.component FROM chunks AS c JOIN documents AS d ON d.id = c.document_id"
        " WHERE c.metadata ?| ARRAY['step_id', 'runbook_id', 'incident_signature_id', 'failure_type', 'error_class']"
        " ORDER BY c.document_id, c.chunk_index, c.id"
    ).fetchall()
    return [
        LegacyChunk(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            as_array(r[5]) if r[5] is not None else None,
            r[6],
            r[7],
            r[8],
        )
        for r in rows
    ]


def existing_ids(conn: psycopg.Connection, *, step_ids: Sequence[str], signature_ids: Sequence[str]) -> set[str]:
    """Which of these step and signature ids are already stored."""
    found = {r[0] for r in conn.execute("SELECT step_id FROM runbook_steps WHERE step_id = ANY(%s)", (list(step_ids),))}
    found |= {
        r[0]
        for r in conn.execute(
            "SELECT incident_signature_id FROM incident_signatures WHERE incident_signature_id = ANY(%s)",
            (list(signature_ids),),
        )
    }
    return found


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
    rows = conn.execute(
        "SELECT number, record_sha256, embedding_sha256, signature_id FROM historical_incidents"
    ).fetchall()
    return {r[0]: StoredIncident(*r) for r in rows}


def incident_embeddings_by_hash(conn: psycopg.Connection, *, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    if not hashes:
        return {}
    rows = conn.execute(
        "SELECT DISTINCT ON (embedding_sha256) embedding_sha256, embedding FROM historical_incidents"
        " WHERE embedding_sha256 = ANY(%s) AND embedding IS NOT NULL",
        (list(hashes),),
    ).fetchall()
    return {r[0]: as_array(r[1]) for r in rows}


def upsert_incidents(conn: psycopg.Connection, *, rows: Sequence[dict[str, object]]) -> None:
    """Insert or update historical incidents; a row whose text changed leaves its signature (to be re-assigned)."""
    if not rows:
        return
    columns = [*INCIDENT_FIELDS, "source_path", "record_sha256", "embedding", "embedding_sha256"]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO historical_incidents ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            f" ON CONFLICT (number) DO UPDATE SET {updates},"
            " signature_id = CASE WHEN historical_incidents.embedding_sha256 IS DISTINCT FROM"
            " EXCLUDED.embedding_sha256 THEN NULL ELSE historical_incidents.signature_id END",
            [
                tuple(Vector(r[c]) if c == "embedding" and r[c] is not None else r[c] for c in columns)  # type: ignore[arg-type]
                for r in rows
            ],
        )


@dataclass(frozen=True)
class IncidentRow:
    number: str
    fields: dict[str, object]
    embedding: np.ndarray
    signature_id: str | None


def all_incidents(conn: psycopg.Connection) -> list[IncidentRow]:
    """Every historical incident with a vector, in a stable order."""
    columns = ", ".join(INCIDENT_FIELDS)
    rows = conn.execute(
        f"SELECT {columns}, embedding, signature_id FROM historical_incidents"
        " WHERE embedding IS NOT NULL ORDER BY opened_at NULLS FIRST, number"
    ).fetchall()
    width = len(INCIDENT_FIELDS)
    return [
        IncidentRow(r[0], dict(zip(INCIDENT_FIELDS, r[:width], strict=True)), as_array(r[width]), r[width + 1])
        for r in rows
    ]


def assign_incidents(conn: psycopg.Connection, *, signature_id: str, numbers: Sequence[str]) -> None:
    conn.execute(
        "UPDATE historical_incidents SET signature_id = %s WHERE number = ANY(%s)", (signature_id, list(numbers))
    )


def signature_ids(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT incident_signature_id FROM incident_signatures")}


def step_ids(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT step_id FROM runbook_steps")}


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
