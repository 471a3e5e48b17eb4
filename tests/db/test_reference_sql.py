"""The reference SQL files under db/ are true: the examples run, and the design reference *is* migration 004.

* ``db/examples_storage_vector_design.sql`` runs against a migrated database (inside the test's transaction,
  which is rolled back), twice without effect the second time, and its rows are visible through both views;
  its hybrid query ranks the step the example alert is about first.
* ``db/schema_storage_vector_design.sql``, run after migrations 001-003 on a fresh database, leaves the same
  catalog for the four storage tables (columns, constraints, indexes, triggers) and the same functions and views
  as migration 004 does on another fresh database.
* The documents quote the schema as it is: the corrected vector-index query of ``db/verify.py``, every index
  name the migrations create.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from db.migrate import MIGRATIONS_DIR
from db.sqlscript import run_script, split_statements
from db.verify import FUNCTIONS, STORAGE_TABLES, VECTOR_INDEXES_QUERY, expected_indexes

DB_DIR = Path(__file__).resolve().parents[2] / "db"
EXAMPLES = DB_DIR / "examples_storage_vector_design.sql"
REFERENCE = DB_DIR / "schema_storage_vector_design.sql"
BASE_MIGRATIONS = (
    "001_base_documents_chunks.sql",
    "002_incidents_feedback.sql",
    "003_agent_state_metrics.sql",
)
MIGRATION_004 = "004_add_storage_vector_tables.sql"
VIEWS = ("runbook_steps_with_metadata", "triage_to_resolution_chain")
_INDEX_NAME = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)

RUNBOOK_ID = "db-postgres-connection-exhaustion"
INCIDENT_ID = "d0000000-0000-4000-8000-000000000001"
TRIAGE_ID = "e0000000-0000-4000-8000-000000000001"
RESOLUTION_ID = "f0000000-0000-4000-8000-000000000001"
DOCUMENT_ID = "a0000000-0000-4000-8000-000000000001"


# ------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------


def _in_transaction(conn: psycopg.Connection) -> psycopg.Connection:
    """Open the connection's implicit transaction, so that run_script's blocks become savepoints in it.

    On an idle non-autocommit connection, ``conn.transaction()`` would BEGIN and COMMIT on its own, and the
    rows would outlive the test's rollback.
    """
    conn.execute("SELECT 1")
    assert conn.info.transaction_status == TransactionStatus.INTRANS
    return conn


def _run_examples(conn: psycopg.Connection) -> None:
    run_script(conn, EXAMPLES.read_text(encoding="utf-8"), label=str(EXAMPLES))


def _count(conn: psycopg.Connection, query: str, *params: Any) -> int:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def _example_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {
        "documents": _count(conn, "SELECT count(*) FROM documents WHERE id = %s", DOCUMENT_ID),
        "runbook_steps": _count(conn, "SELECT count(*) FROM runbook_steps WHERE runbook_id = %s", RUNBOOK_ID),
        "incident_signatures": _count(
            conn,
            "SELECT count(*) FROM incident_signatures WHERE incident_signature_id = ANY(%s)",
            ["SIG-DB-001", "SIG-DB-002", "SIG-K8S-001"],
        ),
        "incidents": _count(conn, "SELECT count(*) FROM incidents WHERE id = %s", INCIDENT_ID),
        "triage_results": _count(conn, "SELECT count(*) FROM triage_results WHERE id = %s", TRIAGE_ID),
        "resolution_outputs": _count(conn, "SELECT count(*) FROM resolution_outputs WHERE id = %s", RESOLUTION_ID),
    }


def _catalog(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What the four storage tables, their functions and their views look like in the catalog."""
    tables = list(STORAGE_TABLES)
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            "columns": conn.execute(
                "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
                "       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated"
                " FROM pg_attribute AS a"
                " JOIN pg_class AS c ON c.oid = a.attrelid"
                " JOIN pg_namespace AS n ON n.oid = c.relnamespace AND n.nspname = 'public'"
                " LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
                " WHERE c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped"
                " ORDER BY 1, 2",
                (tables,),
            ).fetchall(),
            "constraints": conn.execute(
                "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)"
                " FROM pg_constraint AS k JOIN pg_class AS c ON c.oid = k.conrelid"
                " WHERE c.relname = ANY(%s) ORDER BY 1, 2",
                (tables,),
            ).fetchall(),
            "indexes": conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes"
                " WHERE schemaname = 'public' AND tablename = ANY(%s) ORDER BY 1, 2",
                (tables,),
            ).fetchall(),
            "triggers": conn.execute(
                "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled"
                " FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid"
                " WHERE NOT t.tgisinternal AND c.relname = ANY(%s) ORDER BY 1, 2",
                (tables,),
            ).fetchall(),
            "functions": conn.execute(
                "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc AS p"
                " JOIN pg_namespace AS n ON n.oid = p.pronamespace AND n.nspname = 'public'"
                " WHERE p.proname = ANY(%s) ORDER BY 1",
                (list(FUNCTIONS),),
            ).fetchall(),
            "views": conn.execute(
                "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' AND viewname = ANY(%s)"
                " ORDER BY 1",
                (list(VIEWS),),
            ).fetchall(),
        }


def _apply(url: str, *paths: Path) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        for path in paths:
            run_script(conn, path.read_text(encoding="utf-8"), label=str(path))


@pytest.fixture
def second_fresh_db_url(pg_server: Any) -> Iterator[str]:
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


# ------------------------------------------------------------------------------------------------------
# examples_storage_vector_design.sql
# ------------------------------------------------------------------------------------------------------


def test_examples_insert_the_expected_rows(db: psycopg.Connection) -> None:
    conn = _in_transaction(db)
    _run_examples(conn)

    assert _example_counts(conn) == {
        "documents": 1,
        "runbook_steps": 4,
        "incident_signatures": 3,
        "incidents": 1,
        "triage_results": 1,
        "resolution_outputs": 1,
    }
    # The triggers filled the full-text vectors; the embeddings have the column's dimension.
    assert _count(conn, "SELECT count(*) FROM runbook_steps WHERE runbook_id = %s AND tsv IS NULL", RUNBOOK_ID) == 0
    assert (
        _count(conn, "SELECT count(*) FROM incident_signatures WHERE tsv IS NULL AND id::text LIKE 'c0000000%%'") == 0
    )
    assert (
        _count(
            conn,
            "SELECT count(*) FROM runbook_steps WHERE runbook_id = %s AND vector_dims(embedding) = 384",
            RUNBOOK_ID,
        )
        == 4
    )
    # Every recommendation carries at least step_id, action, confidence and provenance.
    missing = _count(
        conn,
        "SELECT count(*) FROM resolution_outputs AS r, jsonb_array_elements(r.recommendations) AS item"
        " WHERE r.id = %s AND NOT item ?& ARRAY['step_id', 'action', 'confidence', 'provenance']",
        RESOLUTION_ID,
    )
    items = _count(
        conn, "SELECT jsonb_array_length(recommendations) FROM resolution_outputs WHERE id = %s", RESOLUTION_ID
    )
    assert (missing, items) == (0, 3)


def test_examples_are_idempotent(db: psycopg.Connection) -> None:
    conn = _in_transaction(db)
    _run_examples(conn)
    first = _example_counts(conn)
    _run_examples(conn)
    assert _example_counts(conn) == first


def test_examples_are_visible_through_both_views(db: psycopg.Connection) -> None:
    conn = _in_transaction(db)
    _run_examples(conn)

    steps = conn.execute(
        "SELECT step_id, document_title, document_type, document_tags FROM runbook_steps_with_metadata"
        " WHERE runbook_id = %s ORDER BY step_id",
        (RUNBOOK_ID,),
    ).fetchall()
    assert [s[0] for s in steps] == [f"{RUNBOOK_ID}-S{n}" for n in range(1, 5)]
    assert {(s[1], s[2]) for s in steps} == {("PostgreSQL connection exhaustion", "runbook")}
    assert all("postgres" in s[3] for s in steps)

    chain = conn.execute(
        "SELECT triage_result_id::text, resolution_output_id::text, failure_type, policy_band,"
        "       matched_signature_ids, execution_status, triage_confidence, resolution_confidence"
        " FROM triage_to_resolution_chain WHERE incident_id = %s",
        (INCIDENT_ID,),
    ).fetchall()
    assert len(chain) == 1
    triage_id, resolution_id, failure_type, band, signatures, status, t_conf, r_conf = chain[0]
    assert (triage_id, resolution_id) == (TRIAGE_ID, RESOLUTION_ID)
    assert (failure_type, band, signatures, status) == (
        "database_connection_exhaustion",
        "PROPOSE",
        ["SIG-DB-001"],
        "pending",
    )
    assert 0 <= r_conf <= t_conf <= 1


def test_examples_hybrid_query_ranks_the_alerts_step_first(db: psycopg.Connection) -> None:
    conn = _in_transaction(db)
    _run_examples(conn)
    hybrid = [s.text for s in split_statements(EXAMPLES.read_text(encoding="utf-8")) if "vector_leg AS" in s.text]
    assert len(hybrid) == 1
    rows = conn.execute(hybrid[0]).fetchall()  # type: ignore[call-overload]
    step_id, _score, vector_rank, _vscore, fulltext_rank, _fscore = rows[0]
    assert (step_id, vector_rank, fulltext_rank) == (f"{RUNBOOK_ID}-S2", 1, 1)


# ------------------------------------------------------------------------------------------------------
# schema_storage_vector_design.sql
# ------------------------------------------------------------------------------------------------------


def test_design_reference_gives_the_same_catalog_as_migration_004(fresh_db_url: str, second_fresh_db_url: str) -> None:
    base = [MIGRATIONS_DIR / name for name in BASE_MIGRATIONS]
    _apply(fresh_db_url, *base, REFERENCE)
    _apply(second_fresh_db_url, *base, MIGRATIONS_DIR / MIGRATION_004)

    reference, migration = _catalog(fresh_db_url), _catalog(second_fresh_db_url)
    # Not vacuous: everything 004 creates is there.
    created_by_004 = set(_INDEX_NAME.findall((MIGRATIONS_DIR / MIGRATION_004).read_text(encoding="utf-8")))
    assert len(created_by_004) >= 35 and {"runbook_steps_embedding_idx", "incident_signatures_embedding_idx"} <= (
        created_by_004
    )
    assert created_by_004 <= {r[1] for r in migration["indexes"]}
    assert len(migration["triggers"]) == 4 and len(migration["functions"]) == 3 and len(migration["views"]) == 2
    for part in migration:
        assert reference[part] == migration[part], f"{part} differ between {REFERENCE.name} and {MIGRATION_004}"


def test_design_reference_is_idempotent_and_harmless_after_004(migrated_db_url: str) -> None:
    before = _catalog(migrated_db_url)
    _apply(migrated_db_url, REFERENCE)
    _apply(migrated_db_url, REFERENCE)
    assert _catalog(migrated_db_url) == before


# ------------------------------------------------------------------------------------------------------
# The documents quote the schema as it is
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ["MIGRATION_GUIDE.md", "QUICK_REFERENCE.md"])
def test_documents_carry_the_corrected_vector_index_query(document: str) -> None:
    assert VECTOR_INDEXES_QUERY in (DB_DIR / document).read_text(encoding="utf-8")


@pytest.mark.parametrize("document", ["INDEX_STRATEGY.md", "QUICK_REFERENCE.md"])
def test_documents_name_every_index_of_the_storage_tables(document: str) -> None:
    text = (DB_DIR / document).read_text(encoding="utf-8")
    names = sorted(set().union(*expected_indexes().values()))
    missing = [name for name in names if name not in text and not name.endswith("_pkey")]
    assert not missing, f"{document} does not mention {missing}"


def test_design_reference_names_every_index_of_004() -> None:
    created_by_004 = set(_INDEX_NAME.findall((MIGRATIONS_DIR / MIGRATION_004).read_text(encoding="utf-8")))
    assert created_by_004 == set(_INDEX_NAME.findall(REFERENCE.read_text(encoding="utf-8")))
