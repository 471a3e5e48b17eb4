"""The storage & vector schema's behaviour: constraints, triggers, views, vector types and indexes."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from pgvector import Vector

from ai_service.errors import EmbeddingModelMismatchError
from db import vectors
from db.connection import check_pgvector, connect


def _unit(rng: np.random.Generator, dim: int = 384) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _insert_step(conn: psycopg.Connection, step_id: str, **overrides: object) -> None:
    row = {
        "step_id": step_id,
        "runbook_id": step_id.split("-S")[0],
        "condition": "When the root filesystem is above 90%",
        "action": "Find the largest directories: du -xh / | sort -h | tail",
        "expected_outcome": "The directories using the space are known",
        **overrides,
    }
    columns = ", ".join(row)
    placeholders = ", ".join(["%s"] * len(row))
    conn.execute(f"INSERT INTO runbook_steps ({columns}) VALUES ({placeholders})", list(row.values()))


def test_pgvector_is_recent_enough(db: psycopg.Connection) -> None:
    assert check_pgvector(db) >= "0.8"


def test_wrong_dimension_vector_is_rejected(db: psycopg.Connection) -> None:
    rng = np.random.default_rng(1)
    _insert_step(db, "RB1-S1", embedding=Vector(_unit(rng)))
    with pytest.raises(psycopg.errors.DataException, match="expected 384 dimensions, not 383"):
        _insert_step(db, "RB1-S2", embedding=Vector(_unit(rng, 383)))


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"condition": "  "}, "runbook_steps_condition_not_blank"),
        ({"action": ""}, "runbook_steps_action_not_blank"),
        ({"risk_level": "extreme"}, "runbook_steps_risk_level_check"),
    ],
)
def test_runbook_step_constraints(db: psycopg.Connection, overrides: dict[str, object], constraint: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match=constraint):
        _insert_step(db, "RB2-S1", **overrides)


def test_step_id_is_unique(db: psycopg.Connection) -> None:
    _insert_step(db, "RB3-S1")
    with pytest.raises(psycopg.errors.UniqueViolation, match="runbook_steps_step_id_key"):
        _insert_step(db, "RB3-S1")


def test_tsv_and_updated_at_are_maintained_by_triggers(migrated_db_url: str) -> None:
    with connect(migrated_db_url, autocommit=True) as conn:
        _insert_step(conn, "RB4-S1", condition="When certificates expire", action="Renew with certbot renew")
        row = conn.execute(
            "SELECT tsv @@ websearch_to_tsquery('english', 'certificate renewal'), updated_at FROM runbook_steps"
            " WHERE step_id = 'RB4-S1'"
        ).fetchone()
        assert row is not None and row[0] is True
        conn.execute("UPDATE runbook_steps SET action = 'Rotate the key pair' WHERE step_id = 'RB4-S1'")
        after = conn.execute(
            "SELECT tsv @@ to_tsquery('english', 'rotate'), tsv @@ to_tsquery('english', 'certbot'), updated_at"
            " FROM runbook_steps WHERE step_id = 'RB4-S1'"
        ).fetchone()
    assert after is not None
    assert after[0] is True and after[1] is False
    assert after[2] > row[1]


def test_condition_outweighs_action_in_full_text_rank(db: psycopg.Connection) -> None:
    _insert_step(db, "RB5-S1", condition="When replication lag grows", action="Check the network")
    _insert_step(db, "RB5-S2", condition="When the network is slow", action="Check replication lag")
    ranked = db.execute(
        "SELECT step_id FROM runbook_steps WHERE step_id LIKE 'RB5-%%'"
        " ORDER BY ts_rank(tsv, to_tsquery('english', 'replication & lag')) DESC"
    ).fetchall()
    assert [r[0] for r in ranked] == ["RB5-S1", "RB5-S2"]


def test_signature_constraints_and_tsv(db: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="incident_signatures_symptoms_not_empty"), db.transaction():
        db.execute(
            "INSERT INTO incident_signatures (incident_signature_id, failure_type, error_class, symptoms)"
            " VALUES ('SIG-X-001', 'disk_full', 'capacity', '{}')"
        )
    db.execute(
        "INSERT INTO incident_signatures (incident_signature_id, failure_type, error_class, symptoms,"
        " assignment_group, urgency) VALUES ('SIG-X-002', 'connection exhaustion', 'capacity',"
        " ARRAY['too many clients already', 'pool timeout'], 'DBA Team', '1 - High')"
    )
    row = db.execute(
        "SELECT tsv @@ websearch_to_tsquery('english', 'too many clients'), match_count FROM incident_signatures"
        " WHERE incident_signature_id = 'SIG-X-002'"
    ).fetchone()
    assert row == (True, 0)


def test_triage_and_resolution_constraints_and_chain_view(db: psycopg.Connection) -> None:
    incident = db.execute("INSERT INTO incidents (alert_id) VALUES ('chain-1') RETURNING id").fetchone()[0]  # type: ignore[index]
    with pytest.raises(psycopg.errors.CheckViolation, match="triage_results_confidence_check"), db.transaction():
        db.execute("INSERT INTO triage_results (incident_id, confidence) VALUES (%s, 1.5)", (incident,))
    triage = db.execute(
        "INSERT INTO triage_results (incident_id, failure_type, severity, confidence, policy_band,"
        " matched_signature_ids) VALUES (%s, 'disk_full', 'high', 0.8123, 'PROPOSE', ARRAY['SIG-1'])"
        " RETURNING id",
        (incident,),
    ).fetchone()[0]  # type: ignore[index]
    with (
        pytest.raises(psycopg.errors.CheckViolation, match="resolution_outputs_recommendations_is_array"),
        db.transaction(),
    ):
        db.execute(
            "INSERT INTO resolution_outputs (incident_id, triage_result_id, recommendations) VALUES (%s, %s, '{}')",
            (incident, triage),
        )
    incident = db.execute("INSERT INTO incidents (alert_id) VALUES ('chain-2') RETURNING id").fetchone()[0]  # type: ignore[index]
    triage = db.execute(
        "INSERT INTO triage_results (incident_id, failure_type, severity, confidence, policy_band)"
        " VALUES (%s, 'disk_full', 'high', 0.8, 'PROPOSE') RETURNING id",
        (incident,),
    ).fetchone()[0]  # type: ignore[index]
    db.execute(
        "INSERT INTO resolution_outputs (incident_id, triage_result_id, overall_confidence, risk_level,"
        " recommendations, retrieved_step_ids, execution_status) VALUES (%s, %s, 0.7, 'medium',"
        ' \'[{"step_id": "RB-S1", "action": "x", "confidence": 0.7, "provenance": {}}]\','
        " ARRAY['RB-S1'], 'pending')",
        (incident, triage),
    )
    chain = db.execute(
        "SELECT alert_id, failure_type, severity, policy_band, retrieved_step_ids, execution_status"
        " FROM triage_to_resolution_chain WHERE incident_id = %s",
        (incident,),
    ).fetchall()
    assert chain == [("chain-2", "disk_full", "high", "PROPOSE", ["RB-S1"], "pending")]
    # Deleting the incident cascades to its triage and resolution rows.
    db.execute("DELETE FROM incidents WHERE id = %s", (incident,))
    assert db.execute("SELECT count(*) FROM resolution_outputs WHERE incident_id = %s", (incident,)).fetchone()[0] == 0  # type: ignore[index]


def test_steps_view_carries_document_metadata(db: psycopg.Connection) -> None:
    doc = db.execute(
        "INSERT INTO documents (doc_type, title, tags) VALUES ('runbook', 'Disk full', '[\"disk\"]') RETURNING id"
    ).fetchone()[0]  # type: ignore[index]
    _insert_step(db, "RB6-S1", runbook_document_id=doc)
    row = db.execute(
        "SELECT document_title, document_tags FROM runbook_steps_with_metadata WHERE step_id = 'RB6-S1'"
    ).fetchone()
    assert row == ("Disk full", ["disk"])


def test_registered_model_matches_the_default_settings(db: psycopg.Connection) -> None:
    registered = vectors.check_embedding_model(db, model="all-MiniLM-L6-v2-int8", dimension=384)
    assert registered.dimension == vectors.column_dimension(db, "runbook_steps") == 384


def test_dimension_mismatch_is_a_clear_error(db: psycopg.Connection) -> None:
    with pytest.raises(EmbeddingModelMismatchError) as info:
        vectors.check_embedding_model(db, model="text-embedding-3-small", dimension=1536)
    message = str(info.value)
    assert "all-MiniLM-L6-v2-int8" in message and "384" in message and "1536" in message
    assert "nocai kb reembed" in message and "NOCAI_EMBEDDING_MODEL=all-MiniLM-L6-v2-int8" in message


def test_changing_model_retypes_columns_and_rebuilds_indexes(migrated_db_url: str) -> None:
    rng = np.random.default_rng(2)
    with connect(migrated_db_url, autocommit=True) as conn:
        _insert_step(conn, "RB7-S1", embedding=Vector(_unit(rng)))
        assert vectors.set_embedding_model(conn, model="gateway-embed", dimension=768)
        assert vectors.column_dimension(conn, "runbook_steps") == 768
        assert vectors.column_dimension(conn, "incident_signatures") == 768
        # The text stays; the vector of the old model is cleared.
        row = conn.execute("SELECT action, embedding FROM runbook_steps WHERE step_id = 'RB7-S1'").fetchone()
        assert row is not None and row[0].startswith("Find") and row[1] is None
        assert "hnsw" in (vectors.index_definition(conn, "runbook_steps_embedding_idx") or "")
        assert vectors.registered_model(conn) == vectors.RegisteredModel("gateway-embed", 768)
        conn.execute("UPDATE runbook_steps SET embedding = %s WHERE step_id = 'RB7-S1'", (Vector(_unit(rng, 768)),))
        assert not vectors.set_embedding_model(conn, model="gateway-embed", dimension=768)  # already there


def _seed_corpus(conn: psycopg.Connection, rows: int, rng: np.random.Generator) -> np.ndarray:
    centroids = np.stack([_unit(rng) for _ in range(40)])
    data = centroids[rng.integers(0, 40, size=rows)] + rng.normal(scale=0.35 / np.sqrt(384), size=(rows, 384))
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    with conn.cursor().copy(
        "COPY runbook_steps (step_id, runbook_id, condition, action, service, embedding)"
        " FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["text", "text", "text", "text", "text", "vector"])
        for i, vec in enumerate(data):
            service = "rare-service" if i % 200 == 0 else "common-service"
            copy.write_row((f"SEED{i}-S1", f"SEED{i}", "When seeded", "Do the seeded thing", service, Vector(vec)))
    return data


def test_hnsw_recall_and_filtered_search_return_k_rows(migrated_db_url: str) -> None:
    rng = np.random.default_rng(7)
    with connect(migrated_db_url, autocommit=True) as conn:
        data = _seed_corpus(conn, 6000, rng)
        vectors.reindex(conn, method="hnsw")  # build after loading, as bulk loads do
        conn.execute("ANALYZE runbook_steps")
        recalls = []
        for q in range(30):
            query = data[rng.integers(0, len(data))] + rng.normal(scale=0.02, size=384).astype(np.float32)
            query = query / np.linalg.norm(query)
            exact = set(np.argsort(-(data @ query))[:10].tolist())
            got = conn.execute(
                "SELECT step_id FROM runbook_steps ORDER BY embedding <=> %s LIMIT 10", (Vector(query),)
            ).fetchall()
            found = {int(r[0][4:].split("-")[0]) for r in got}
            recalls.append(len(found & exact) / 10)
            if q == 0:
                plan = conn.execute(
                    "EXPLAIN SELECT step_id FROM runbook_steps ORDER BY embedding <=> %s LIMIT 10", (Vector(query),)
                ).fetchall()
                assert any("runbook_steps_embedding_idx" in line[0] for line in plan)
        assert float(np.mean(recalls)) >= 0.9
        # A selective filter (0.5% of rows) through the HNSW index still returns k rows thanks to iterative
        # index scans. (The service B-tree is dropped in this scratch database so the planner takes the
        # vector index path, as it does on large tables.)
        conn.execute("DROP INDEX runbook_steps_service_idx")
        conn.execute("SET enable_seqscan = off")
        filtered = "SELECT step_id FROM runbook_steps WHERE service = 'rare-service' ORDER BY embedding <=> %s LIMIT 10"
        plan = conn.execute("EXPLAIN " + filtered, (Vector(data[1]),)).fetchall()
        assert any("runbook_steps_embedding_idx" in line[0] for line in plan)
        assert len(conn.execute(filtered, (Vector(data[1]),)).fetchall()) == 10
        conn.execute("SET hnsw.iterative_scan = off")
        assert len(conn.execute(filtered, (Vector(data[1]),)).fetchall()) < 10  # what the setting prevents


def test_ivfflat_lists_follow_the_data() -> None:
    assert vectors.ivfflat_lists_for(0) == 1
    assert vectors.ivfflat_lists_for(50_000) == 50
    assert vectors.ivfflat_lists_for(4_000_000) == 2000
