"""SQL of the knowledge base: runbooks, their steps, source documents, past incidents and the signatures they
cluster into, and the full-text statistics retrieval reads. Plain parameterised SQL, the connection first, typed
rows; no decisions are made here (``service.py``, ``signatures.py``, ``reembed.py`` and ``legacy.py`` decide
what to write)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql
from psycopg.rows import class_row, dict_row, kwargs_row
from psycopg.types.json import Jsonb

from db.queries import scalar


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
    #: False for a row stored before runbooks had a team and a failure type (migration 014): an unchanged file
    #: still needs those filled in.
    labelled: bool


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
    with conn.cursor(row_factory=class_row(RunbookState)) as cur:
        rows = cur.execute(
            "SELECT r.runbook_id, r.source_path, r.content_sha256, r.step_count,"
            " (SELECT count(*) FROM runbook_steps AS s WHERE s.runbook_id = r.runbook_id AND s.embedding IS NULL)"
            " + (r.embedding IS NULL)::int + (r.title_embedding IS NULL)::int AS missing_embeddings,"
            " r.failure_type IS NOT NULL AS labelled FROM runbooks AS r"
        ).fetchall()
    return {r.source_path: r for r in rows}


def runbook_source_paths(conn: psycopg.Connection) -> dict[str, str]:
    """runbook_id -> source path of every ingested runbook."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT runbook_id, source_path FROM runbooks").fetchall()
    return {r["runbook_id"]: r["source_path"] for r in rows}


def stored_steps(conn: psycopg.Connection, *, runbook_id: str) -> list[StoredStep]:
    """The stored steps of one runbook, in order (what ingestion compares a new parse with)."""
    with conn.cursor(row_factory=class_row(StoredStep)) as cur:
        return cur.execute(
            "SELECT step_id, step_order, content_sha256, embedding_sha256, phase, section FROM runbook_steps"
            " WHERE runbook_id = %s ORDER BY step_order NULLS LAST, step_id",
            (runbook_id,),
        ).fetchall()


def embeddings_by_hash(conn: psycopg.Connection, *, hashes: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored vectors whose (model, text) hash is one of ``hashes`` — texts that need no new embedding."""
    if not hashes:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
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
    return {r["embedding_sha256"]: as_array(r["embedding"]) for r in rows}


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
    document_id: uuid.UUID = scalar(
        conn,
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
    )
    return document_id


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
    document_id: uuid.UUID | None,
    step_count: int,
    search_text: str,
    embedding: np.ndarray | None,
    embedding_sha256: str,
    last_reviewed_at: date | datetime | None,
    title_embedding: np.ndarray | None = None,
    title_embedding_sha256: str | None = None,
    team: str | None = None,
    failure_type: str | None = None,
) -> None:
    """Insert or update one runbooks row (``embedding`` None keeps the stored vector)."""
    conn.execute(
        "INSERT INTO runbooks (runbook_id, title, description, service, component, tags, format, source_path,"
        " content_sha256, document_id, step_count, search_text, embedding, embedding_sha256, last_reviewed_at,"
        " title_embedding, title_embedding_sha256, team, failure_type)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (runbook_id) DO UPDATE SET title = EXCLUDED.title, description = EXCLUDED.description,"
        " service = EXCLUDED.service, component = EXCLUDED.component, tags = EXCLUDED.tags,"
        " format = EXCLUDED.format, source_path = EXCLUDED.source_path,"
        " content_sha256 = EXCLUDED.content_sha256, document_id = EXCLUDED.document_id,"
        " step_count = EXCLUDED.step_count, search_text = EXCLUDED.search_text,"
        " embedding = coalesce(EXCLUDED.embedding, runbooks.embedding),"
        " embedding_sha256 = EXCLUDED.embedding_sha256, last_reviewed_at = EXCLUDED.last_reviewed_at,"
        " title_embedding = coalesce(EXCLUDED.title_embedding, runbooks.title_embedding),"
        " title_embedding_sha256 = coalesce(EXCLUDED.title_embedding_sha256, runbooks.title_embedding_sha256),"
        " team = EXCLUDED.team, failure_type = EXCLUDED.failure_type",
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
            team,
            failure_type,
        ),
    )


def update_runbook_labels(conn: psycopg.Connection, *, runbook_id: str, team: str | None, failure_type: str) -> None:
    """Set a runbook's owning team and failure type (an unchanged file stored before they existed)."""
    conn.execute(
        "UPDATE runbooks SET team = %s, failure_type = %s WHERE runbook_id = %s", (team, failure_type, runbook_id)
    )


@dataclass(frozen=True)
class RunbookLabelSource:
    """The stored columns a runbook's failure type is read from, and the failure type stored with them."""

    runbook_id: str
    title: str
    description: str | None
    service: str | None
    component: str | None
    tags: list[str]
    failure_type: str | None


def runbook_label_sources(conn: psycopg.Connection) -> list[RunbookLabelSource]:
    """Every runbook's title, description, service, component, tags and stored failure type, by id."""
    with conn.cursor(row_factory=class_row(RunbookLabelSource)) as cur:
        return cur.execute(
            "SELECT runbook_id, title, description, service, component,"
            " ARRAY(SELECT jsonb_array_elements_text(tags)) AS tags, failure_type FROM runbooks ORDER BY runbook_id"
        ).fetchall()


def set_runbook_failure_types(conn: psycopg.Connection, *, failure_types: dict[str, str]) -> None:
    """Store these failure types (runbook_id -> failure type)."""
    if not failure_types:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE runbooks SET failure_type = %s WHERE runbook_id = %s",
            [(failure_type, runbook_id) for runbook_id, failure_type in sorted(failure_types.items())],
        )


def runbook_failure_types(conn: psycopg.Connection) -> dict[str, str]:
    """runbook_id -> failure type of every runbook that has one."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT runbook_id, failure_type FROM runbooks WHERE failure_type IS NOT NULL").fetchall()
    return {r["runbook_id"]: r["failure_type"] for r in rows}


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
    """Delete these steps; returns how many were deleted."""
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
    """Counts of what the knowledge base holds (``nocai kb stats``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        one = cur.execute(
            "SELECT (SELECT count(*) FROM runbooks) AS runbooks, (SELECT count(*) FROM runbook_steps) AS steps,"
            " (SELECT count(*) FROM runbook_steps WHERE embedding IS NULL) AS steps_without_embedding,"
            " (SELECT count(*) FROM incident_signatures) AS signatures,"
            " (SELECT count(*) FROM historical_incidents) AS historical_incidents,"
            " (SELECT count(*) FROM historical_incidents WHERE signature_id IS NULL) AS unassigned_incidents"
        ).fetchone()
        assert one is not None
        by_risk = cur.execute(
            "SELECT coalesce(risk_level, 'unset') AS name, count(*) AS n FROM runbook_steps GROUP BY 1"
        ).fetchall()
        by_phase = cur.execute(
            "SELECT coalesce(phase, 'unset') AS name, count(*) AS n FROM runbook_steps GROUP BY 1"
        ).fetchall()
        services = cur.execute(
            "SELECT coalesce(service, '(none)') AS name, count(*) AS n FROM runbook_steps"
            " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20"
        ).fetchall()
    return KnowledgeStats(
        **one,
        steps_by_risk={r["name"]: r["n"] for r in by_risk},
        steps_by_phase={r["name"]: r["n"] for r in by_phase},
        services=[(r["name"], r["n"]) for r in services],
    )


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


def _legacy_chunk(**columns: Any) -> LegacyChunk:
    embedding = columns.pop("embedding")
    return LegacyChunk(**columns, embedding=as_array(embedding) if embedding is not None else None)


def legacy_chunks(conn: psycopg.Connection) -> list[LegacyChunk]:
    """Chunks of an older install that carry a runbook step or an incident signature in their metadata."""
    with conn.cursor(row_factory=kwargs_row(_legacy_chunk)) as cur:
        return cur.execute(
            "SELECT c.id, c.document_id, c.chunk_index, c.content, c.metadata, c.embedding,"
            " d.title AS document_title, d.service AS document_service, d.component AS document_component"
            " FROM chunks AS c JOIN documents AS d ON d.id = c.document_id"
            " WHERE c.metadata ?| ARRAY['step_id', 'runbook_id', 'incident_signature_id', 'failure_type',"
            " 'error_class'] ORDER BY c.document_id, c.chunk_index, c.id"
        ).fetchall()


def existing_ids(conn: psycopg.Connection, *, step_ids: Sequence[str], signature_ids: Sequence[str]) -> set[str]:
    """Which of these step and signature ids are already stored."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT step_id AS id FROM runbook_steps WHERE step_id = ANY(%s)"
            " UNION ALL SELECT incident_signature_id FROM incident_signatures WHERE incident_signature_id = ANY(%s)",
            (list(step_ids), list(signature_ids)),
        ).fetchall()
    return {r["id"] for r in rows}


def step_ids(conn: psycopg.Connection) -> set[str]:
    """Every runbook step id."""
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["id"] for r in cur.execute("SELECT step_id AS id FROM runbook_steps")}


# --- maintenance: full-text statistics, centroids, re-embedding --------------------------------------------

#: The tables whose full-text statistics retrieval reads (``search_term_stats.corpus`` is the table's name).
SEARCH_TABLES: tuple[str, ...] = ("runbooks", "runbook_steps", "incident_signatures")


def refresh_term_stats(conn: psycopg.Connection, tables: Sequence[str] = SEARCH_TABLES) -> None:
    """Recompute document frequencies and average lengths (after ingestion; one transaction per table)."""
    for table in tables:
        if table not in SEARCH_TABLES:
            raise ValueError(f"{table!r} is not a searched table ({', '.join(SEARCH_TABLES)})")
        with conn.transaction():
            conn.execute("DELETE FROM search_term_stats WHERE corpus = %s", (table,))
            conn.execute(
                sql.SQL(
                    "INSERT INTO search_term_stats (corpus, lexeme, ndoc) SELECT %s, word, ndoc FROM ts_stat({inner})"
                ).format(inner=sql.Literal(f"SELECT tsv FROM {table} WHERE tsv IS NOT NULL")),
                (table,),
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO search_corpus_stats (corpus, documents, avg_length, refreshed_at)"
                    " SELECT %s, count(*), coalesce(avg(length(tsv)), 1.0), now() FROM {table}"
                    " ON CONFLICT (corpus) DO UPDATE SET documents = EXCLUDED.documents,"
                    " avg_length = EXCLUDED.avg_length, refreshed_at = EXCLUDED.refreshed_at"
                ).format(table=sql.Identifier(table)),
                (table,),
            )


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    """Whether ``table`` exists (an older schema may lack one)."""
    exists: bool = scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (table,))
    return exists


@dataclass(frozen=True)
class EmbeddedText:
    """One vector column of one table, and how to rebuild the text its vectors were made from."""

    table: str
    key: str
    #: The columns (after the key) the text is made of, as SQL select-list items named by ``AS``.
    columns: tuple[str, ...]
    vector: str = "embedding"
    hash: str = "embedding_sha256"

    @property
    def label(self) -> str:
        return self.table if self.vector == "embedding" else f"{self.table}.{self.vector}"


#: Every embedded text of the knowledge base (``nocai kb reembed``).
EMBEDDED_TEXTS: tuple[EmbeddedText, ...] = (
    EmbeddedText("runbook_steps", "step_id", ("condition", "action", "expected_outcome")),
    EmbeddedText(
        "runbooks",
        "runbook_id",
        (
            "title",
            "description",
            "(SELECT s.action FROM runbook_steps AS s WHERE s.runbook_id = t.runbook_id"
            " ORDER BY s.step_order LIMIT 1) AS first_action",
            "ARRAY(SELECT jsonb_array_elements_text(t.tags)) AS tags",
        ),
    ),
    EmbeddedText("runbooks", "runbook_id", ("title",), "title_embedding", "title_embedding_sha256"),
    EmbeddedText("incident_signatures", "incident_signature_id", ("failure_type", "error_class", "symptoms")),
    EmbeddedText("historical_incidents", "number", ("short_description", "description")),
)


@dataclass(frozen=True)
class TextRow:
    """One row to (maybe) re-embed: its key, the columns its text is made of, and what is stored."""

    key: str
    columns: dict[str, Any]
    stored_hash: str | None
    has_vector: bool


def embedded_text_rows(conn: psycopg.Connection, target: EmbeddedText) -> list[TextRow]:
    """Every row of ``target``'s table with the columns its text is made of."""
    statement = sql.SQL(
        "SELECT t.{key} AS nocai_key, {columns}, t.{hash} AS nocai_hash, t.{vector} IS NOT NULL AS nocai_has_vector"
        " FROM {table} AS t"
    ).format(
        key=sql.Identifier(target.key),
        columns=sql.SQL(", ").join(sql.SQL(c) for c in target.columns),
        table=sql.Identifier(target.table),
        hash=sql.Identifier(target.hash),
        vector=sql.Identifier(target.vector),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(statement).fetchall()
    return [
        TextRow(
            key=row.pop("nocai_key"),
            stored_hash=row.pop("nocai_hash"),
            has_vector=row.pop("nocai_has_vector"),
            columns=row,
        )
        for row in rows
    ]


def store_vectors(conn: psycopg.Connection, target: EmbeddedText, rows: Sequence[tuple[str, np.ndarray, str]]) -> None:
    """Write (key, vector, hash) into ``target``'s vector and hash columns."""
    statement = sql.SQL("UPDATE {table} SET {vector} = %s, {hash} = %s WHERE {key} = %s").format(
        table=sql.Identifier(target.table),
        key=sql.Identifier(target.key),
        vector=sql.Identifier(target.vector),
        hash=sql.Identifier(target.hash),
    )
    with conn.cursor() as cur:
        cur.executemany(statement, [(Vector(vector), digest, key) for key, vector, digest in rows])


def document_of_runbook_steps(conn: psycopg.Connection, runbook_id: str) -> uuid.UUID | None:
    """The source document of any step of ``runbook_id`` (legacy migration: a runbook made from its steps)."""
    document_id: uuid.UUID | None = scalar(
        conn, "SELECT runbook_document_id FROM runbook_steps WHERE runbook_id = %s LIMIT 1", (runbook_id,), default=None
    )
    return document_id
