"""`nocai db migrate-chunks`: legacy chunks into runbook_steps and incident_signatures, nothing lost."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest
from pgvector import Vector
from psycopg.types.json import Jsonb

from ai_service.knowledge import legacy
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from db.connection import connect


@pytest.fixture
def conn(migrated_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(migrated_db_url, autocommit=True) as connection:
        yield connection


def _seed_legacy(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> int:
    """An older install's data: runbook step chunks (full and sparse metadata), signature chunks, other chunks."""
    doc = conn.execute(
        "INSERT INTO documents (doc_type, service, component, title, content)"
        " VALUES ('runbook', 'postgresql', 'primary', 'Connection exhaustion', '...') RETURNING id"
    ).fetchone()[0]  # type: ignore[index]
    rng = np.random.default_rng(3)
    old_vector = rng.normal(size=1536).astype(np.float32)  # from a hosted 1536-d model
    same_model_text = "When connections are exhausted\nList idle sessions in pg_stat_activity"
    same_model_vector = embedder.embed([same_model_text])[0]
    chunks = [
        (
            "Check pg_stat_activity for idle in transaction sessions",
            {
                "runbook_id": "RB-PG-1",
                "step_id": "RB-PG-1-S1",
                "condition": "When connections are exhausted",
                "action": "List idle sessions in pg_stat_activity",
                "risk_level": "low",
                "embedding_model": "all-MiniLM-L6-v2-int8",
            },
            same_model_vector,
        ),
        (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction';",
            {"runbook_id": "RB-PG-1", "step_id": "RB-PG-1-S2"},
            old_vector,
        ),
        ("Raise max_connections only after adding a pooler", {"runbook_id": "RB-PG-1"}, None),
        (
            "too many clients already; pool timeout in app logs",
            {
                "incident_signature_id": "SIG-DB-001",
                "failure_type": "connection_exhaustion",
                "error_class": "resource_exhaustion",
                "symptoms": ["too many clients already", "pool timeout"],
                "assignment_group": "DBA Team",
                "resolution_refs": ["RB-PG-1-S2"],
            },
            old_vector,
        ),
        ("replica falling behind primary", {"failure_type": "replication_lag", "error_class": "performance"}, None),
        ("Unrelated prose chunk from an SOP", {"section": "intro"}, None),
    ]
    for index, (content, metadata, vector) in enumerate(chunks):
        conn.execute(
            "INSERT INTO chunks (document_id, chunk_index, content, metadata, embedding) VALUES (%s, %s, %s, %s, %s)",
            (doc, index, content, Jsonb(metadata), Vector(vector) if vector is not None else None),
        )
    return len(chunks)


def test_chunks_move_into_the_new_tables_and_nothing_is_lost(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    total = _seed_legacy(conn, embedder)
    before = conn.execute("SELECT id, content, metadata FROM chunks ORDER BY id").fetchall()
    dry = legacy.migrate_chunks(conn, embedder, dry_run=True)
    assert (dry.steps_migrated, dry.signatures_migrated) == (3, 2)
    assert conn.execute("SELECT count(*) FROM runbook_steps").fetchone() == (0,)

    report = legacy.migrate_chunks(conn, embedder)
    assert report.chunks_seen == total - 1  # the unrelated chunk is not a step or a signature
    assert (report.steps_migrated, report.signatures_migrated) == (3, 2)
    assert report.vectors_reused == 1  # only the chunk known to come from the configured model
    # Every step chunk has its row, with its text and a vector of the configured dimension.
    steps = conn.execute(
        "SELECT step_id, runbook_id, condition, action, risk_level, risk_inferred, service, vector_dims(embedding)"
        " FROM runbook_steps ORDER BY step_id"
    ).fetchall()
    assert [s[0] for s in steps] == ["RB-PG-1-S1", "RB-PG-1-S2", "RB-PG-1-S3"]
    assert steps[0][2:6] == ("When connections are exhausted", "List idle sessions in pg_stat_activity", "low", False)
    assert steps[1][3].startswith("SELECT pg_terminate_backend(pid)") and steps[1][4] == "medium" and steps[1][5]
    assert all(s[6] == "postgresql" and s[7] == 384 for s in steps)
    sigs = conn.execute(
        "SELECT incident_signature_id, failure_type, error_class, symptoms, resolution_refs, vector_dims(embedding)"
        " FROM incident_signatures ORDER BY failure_type"
    ).fetchall()
    assert sigs[0][:5] == (
        "SIG-DB-001",
        "connection_exhaustion",
        "resource_exhaustion",
        ["too many clients already", "pool timeout"],
        ["RB-PG-1-S2"],
    )
    assert sigs[1][1] == "replication_lag" and sigs[1][0].startswith("SIG-LEGACY-") and sigs[1][3]
    assert all(s[5] == 384 for s in sigs)
    assert conn.execute("SELECT step_count, format FROM runbooks WHERE runbook_id = 'RB-PG-1'").fetchone() == (
        3,
        "legacy",
    )
    # The source rows are kept as they were.
    assert conn.execute("SELECT id, content, metadata FROM chunks ORDER BY id").fetchall() == before
    # Idempotent: a second run moves nothing and counts everything as present.
    again = legacy.migrate_chunks(conn, embedder)
    assert (again.steps_migrated, again.signatures_migrated, again.texts_embedded) == (0, 0, 0)
    assert (again.steps_already_present, again.signatures_already_present) == (3, 2)
