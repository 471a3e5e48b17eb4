"""The vector columns: which model filled them, changing that model, and (re)building their indexes.

The database records the embedding model and dimension it holds (table ``embedding_model``). nocai compares it
with its settings before it reads or writes vectors; a mismatch is refused with both fixes named, because a query
embedded by one model cannot be compared with vectors from another.

Index builds follow what was measured on this kind of machine: HNSW by default (good recall on any amount of
data, no training step); IVFFlat only on request, with ``lists`` sized to the rows present, because IVFFlat built
on an empty table (as the original design did) clusters nothing and loses most of its recall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from ai_service.errors import ConfigurationError, EmbeddingModelMismatchError, SchemaNotReadyError
from db.queries import scalar

#: The guide's two vector tables and the index that serves each (names as the guide's queries expect).
VECTOR_TABLES: dict[str, str] = {
    "runbook_steps": "runbook_steps_embedding_idx",
    "incident_signatures": "incident_signatures_embedding_idx",
}


@dataclass(frozen=True)
class VectorColumn:
    table: str
    column: str
    index: str | None  # the ANN index on it, if it is searched


#: Every column holding vectors of the registered model (all are retyped together when the model changes).
VECTOR_COLUMNS: tuple[VectorColumn, ...] = (
    VectorColumn("runbook_steps", "embedding", "runbook_steps_embedding_idx"),
    VectorColumn("incident_signatures", "embedding", "incident_signatures_embedding_idx"),
    VectorColumn("runbooks", "embedding", "runbooks_embedding_idx"),
    VectorColumn("runbooks", "title_embedding", "runbooks_title_embedding_idx"),
    VectorColumn("incident_signatures", "centroid", "incident_signatures_centroid_idx"),
    VectorColumn("historical_incidents", "embedding", None),
)


def present_columns(conn: psycopg.Connection) -> list[VectorColumn]:
    """The vector columns that exist in this database (later migrations add some)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT c.relname AS table, a.attname AS column FROM pg_attribute AS a"
            " JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND a.attnum > 0 AND NOT a.attisdropped"
            " AND c.relname = ANY(%s)",
            ([vc.table for vc in VECTOR_COLUMNS],),
        ).fetchall()
    have = {(r["table"], r["column"]) for r in rows}
    return [vc for vc in VECTOR_COLUMNS if (vc.table, vc.column) in have]


IndexMethod = Literal["hnsw", "ivfflat"]


@dataclass(frozen=True)
class RegisteredModel:
    model: str
    dimension: int


def registered_model(conn: psycopg.Connection) -> RegisteredModel | None:
    """The model recorded in the database, or None before migration 005."""
    if scalar(conn, "SELECT to_regclass('embedding_model') IS NULL"):
        return None
    with conn.cursor(row_factory=class_row(RegisteredModel)) as cur:
        return cur.execute("SELECT model, dimension FROM embedding_model").fetchone()


def column_dimension(conn: psycopg.Connection, table: str, column: str = "embedding") -> int | None:
    """The declared dimension of ``table.column`` (None if untyped or absent)."""
    typmod = scalar(
        conn,
        "SELECT a.atttypmod FROM pg_attribute AS a"
        " WHERE a.attrelid = to_regclass(%s) AND a.attname = %s AND NOT a.attisdropped",
        (table, column),
        default=None,
    )
    return int(typmod) if typmod and typmod > 0 else None


def count_embeddings(conn: psycopg.Connection) -> int:
    """Vectors stored in all vector columns together."""
    return sum(_count_vectors(conn, vc.table, vc.column) for vc in present_columns(conn))


def _count_vectors(conn: psycopg.Connection, table: str, column: str) -> int:
    count: int = scalar(
        conn,
        sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(sql.Identifier(table), sql.Identifier(column)),
    )
    return count


def check_embedding_model(conn: psycopg.Connection, *, model: str, dimension: int) -> RegisteredModel:
    """Refuse to work with vectors from a model other than the configured one."""
    registered = registered_model(conn)
    if registered is None:
        raise SchemaNotReadyError(
            "the database has no embedding model registry (migration 005 is not applied)",
            hint="run python scripts/db/run_migration.py (or nocai db migrate)",
        )
    if registered.model != model or registered.dimension != dimension:
        raise EmbeddingModelMismatchError(
            f"the database holds embeddings of model {registered.model!r} ({registered.dimension}-d) but nocai "
            f"is configured for {model!r} ({dimension}-d)",
            hint=f"either set NOCAI_EMBEDDING_MODEL={registered.model} and "
            f"NOCAI_EMBEDDING_DIMENSION={registered.dimension} (and the matching provider), or switch the "
            f"database to the new model with `nocai kb reembed` (`nocai db set-embedding-model "
            f"--model {model} --dimension {dimension}` retypes the columns and clears the old vectors)",
        )
    return registered


def set_embedding_model(conn: psycopg.Connection, *, model: str, dimension: int) -> bool:
    """Switch the vector columns to ``model``/``dimension`` in one transaction.

    Stored vectors of another model are cleared (their text stays; re-embedding fills them again) and the
    vector indexes are rebuilt for the new type. Returns False when nothing had to change.
    """
    if not 1 <= dimension <= 16000:
        raise ConfigurationError(
            f"embedding dimension {dimension} is out of range", hint="use the model's real dimension (1..16000)"
        )
    registered = registered_model(conn)
    if registered is None:
        raise SchemaNotReadyError(
            "the vector tables are not there yet", hint="run python scripts/db/run_migration.py first"
        )
    columns = present_columns(conn)
    same_type = all(column_dimension(conn, vc.table, vc.column) == dimension for vc in columns)
    if registered.model == model and registered.dimension == dimension and same_type:
        return False
    with conn.transaction():
        for vc in columns:
            definition = index_definition(conn, vc.index) if vc.index else None
            if vc.index:
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(vc.index)))
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE vector({}) USING NULL").format(
                    sql.Identifier(vc.table), sql.Identifier(vc.column), sql.Literal(dimension)
                )
            )
            if vc.index:
                method: IndexMethod = "ivfflat" if definition and " ivfflat " in definition else "hnsw"
                _create_index(conn, vc.table, vc.index, column=vc.column, method=method, lists=None, concurrently=False)
        # The hashes said "this text is embedded with that model": no longer true.
        for table in sorted({vc.table for vc in columns}):
            for hash_column in ("embedding_sha256", "title_embedding_sha256"):
                if _has_column(conn, table, hash_column):
                    conn.execute(
                        sql.SQL("UPDATE {} SET {} = NULL").format(sql.Identifier(table), sql.Identifier(hash_column))
                    )
        conn.execute(
            "INSERT INTO embedding_model (singleton, model, dimension) VALUES (true, %s, %s)"
            " ON CONFLICT (singleton) DO UPDATE SET model = EXCLUDED.model, dimension = EXCLUDED.dimension,"
            " updated_at = now()",
            (model, dimension),
        )
    return True


def _has_column(conn: psycopg.Connection, table: str, column: str) -> bool:
    found: bool = scalar(
        conn,
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s"
        " AND NOT attisdropped)",
        (table, column),
    )
    return found


def align_empty_store(conn: psycopg.Connection, *, model: str, dimension: int) -> bool:
    """On a store without any vector yet, adopt the configured model silently (nothing can be lost)."""
    registered = registered_model(conn)
    if registered is None or (registered.model == model and registered.dimension == dimension):
        return False
    if count_embeddings(conn) > 0:
        return False
    return set_embedding_model(conn, model=model, dimension=dimension)


# ------------------------------------------------------------------------------------------------------
# Index (re)builds
# ------------------------------------------------------------------------------------------------------


def index_definition(conn: psycopg.Connection, index: str) -> str | None:
    """``CREATE INDEX ...`` of ``index``; None when it does not exist."""
    definition: str | None = scalar(conn, "SELECT pg_get_indexdef(to_regclass(%s))", (index,), default=None)
    return definition or None


def ivfflat_lists_for(rows: int) -> int:
    """pgvector's guidance: rows / 1000 up to 1M rows, sqrt(rows) beyond; at least 1."""
    if rows <= 1_000_000:
        return max(1, rows // 1000)
    return max(1, int(math.sqrt(rows)))


def _create_index(
    conn: psycopg.Connection,
    table: str,
    index: str,
    *,
    column: str = "embedding",
    method: IndexMethod,
    lists: int | None,
    concurrently: bool,
    m: int = 16,
    ef_construction: int = 64,
) -> str:
    if method == "hnsw":
        options = sql.SQL("WITH (m = {}, ef_construction = {})").format(sql.Literal(m), sql.Literal(ef_construction))
    else:
        if lists is None:
            lists = ivfflat_lists_for(_count_vectors(conn, table, column))
        options = sql.SQL("WITH (lists = {})").format(sql.Literal(lists))
    statement = sql.SQL(
        "CREATE INDEX {concurrently} {index} ON {table} USING {method} ({column} vector_cosine_ops) {options}"
    ).format(
        concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
        index=sql.Identifier(index),
        table=sql.Identifier(table),
        column=sql.Identifier(column),
        method=sql.SQL(method),
        options=options,
    )
    conn.execute(statement)
    return statement.as_string(conn)


@dataclass(frozen=True)
class ReindexResult:
    table: str
    index: str
    method: str
    rows: int
    seconds: float
    definition: str


def reindex(
    conn: psycopg.Connection,
    *,
    method: IndexMethod = "hnsw",
    lists: int | None = None,
    concurrently: bool = False,
    tables: list[str] | None = None,
    maintenance_work_mem: str | None = "512MB",
    m: int = 16,
    ef_construction: int = 64,
) -> list[ReindexResult]:
    """Rebuild the vector indexes (same names) with ``method``.

    Without ``concurrently`` each table's drop + build is one transaction (writes wait). With it, the new index
    is built CONCURRENTLY under a temporary name while reads and writes go on, then swapped in; ``conn`` must
    be in autocommit mode for that. A leftover invalid index from an interrupted concurrent build is dropped
    first.
    """
    import time

    if concurrently and not conn.autocommit:
        raise ConfigurationError(
            "a concurrent reindex needs an autocommit connection", hint="open the connection with autocommit=True"
        )
    results: list[ReindexResult] = []
    if maintenance_work_mem:
        conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem)))
    indexed = [vc for vc in present_columns(conn) if vc.index]
    if not indexed:
        raise SchemaNotReadyError("there are no vector tables yet", hint="run nocai db migrate first")
    for vc in indexed:
        table, index = vc.table, vc.index
        assert index is not None
        if tables and table not in tables:
            continue
        rows = _count_vectors(conn, table, vc.column)
        started = time.perf_counter()
        if concurrently:
            temp = f"{index}_rebuild"
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(temp)))
            definition = _create_index(
                conn,
                table,
                temp,
                column=vc.column,
                method=method,
                lists=lists,
                concurrently=True,
                m=m,
                ef_construction=ef_construction,
            )
            conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(index)))
            conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(temp), sql.Identifier(index)))
        else:
            with conn.transaction():
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index)))
                definition = _create_index(
                    conn,
                    table,
                    index,
                    column=vc.column,
                    method=method,
                    lists=lists,
                    concurrently=False,
                    m=m,
                    ef_construction=ef_construction,
                )
        results.append(
            ReindexResult(
                table, index, method, rows, time.perf_counter() - started, index_definition(conn, index) or definition
            )
        )
    if maintenance_work_mem:
        conn.execute("RESET maintenance_work_mem")
    return results
