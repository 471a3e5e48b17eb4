"""The vector legs use their HNSW index on mid-size tables (migration 011), not a scan of every row's vector."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from db.connection import connect

#: Enough rows that a table scan fetches thousands of vectors from TOAST, few enough that at pgvector's own
#: operator cost the planner chose that scan (measured: up to several thousand rows at hnsw.ef_search = 100).
ROWS = 3000
NEAREST = (
    "SELECT incident_signature_id FROM incident_signatures WHERE embedding IS NOT NULL"
    " ORDER BY embedding <=> {} LIMIT 50"
)


@pytest.fixture(scope="module")
def conn(pg_server) -> Iterator[psycopg.Connection]:  # type: ignore[no-untyped-def]
    name = pg_server.create_database(template=pg_server.migrated_template())
    with connect(pg_server.url(name), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO incident_signatures (incident_signature_id, failure_type, error_class, symptoms, embedding)"
            " SELECT 'SIG-' || g, 'failure', 'class', ARRAY['symptom ' || g],"
            "        (SELECT array_agg(random() - 0.5 + 0 * i * g)::vector(384) FROM generate_series(1, 384) AS i)"
            " FROM generate_series(1, %s) AS g",
            (ROWS,),
        )
        connection.execute("ANALYZE incident_signatures")
        yield connection
    pg_server.drop_database(name)


def _plan(conn: psycopg.Connection) -> str:
    query = "(SELECT embedding FROM incident_signatures WHERE incident_signature_id = 'SIG-1')"
    return "\n".join(r[0] for r in conn.execute("EXPLAIN " + NEAREST.format(query)))


def test_the_index_serves_nearest_neighbours_on_a_mid_size_table(conn: psycopg.Connection) -> None:
    assert conn.execute("SHOW hnsw.ef_search").fetchone() == ("100",)  # nocai's session default
    assert "incident_signatures_embedding_idx" in _plan(conn)


def test_at_pgvectors_own_cost_the_same_table_was_scanned(conn: psycopg.Connection) -> None:
    """The test above can fail: without migration 011's cost, this table is scanned row by row."""
    with conn.transaction():
        conn.execute("ALTER FUNCTION cosine_distance(vector, vector) COST 1")
        try:
            plan = _plan(conn)
        finally:
            conn.execute("ALTER FUNCTION cosine_distance(vector, vector) COST 1000")
    assert "Seq Scan on incident_signatures" in plan and "embedding_idx" not in plan
