"""Verification of the storage & vector schema: the guide's three checks, and the rest of what it promises.

The guide's SQL is kept verbatim where it is right (:data:`TABLES_QUERY`, :data:`INDEXES_QUERY`). Its "Check
Vector Indexes" query is wrong as written — ``pg_stat_user_indexes`` names its columns ``relname`` and
``indexrelname``, not ``tablename`` / ``indexname`` — so :data:`VECTOR_INDEXES_QUERY` is the corrected form
(documented in db/MIGRATION_GUIDE.md and run by a test).

Verification reads only; it never repairs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from db.migrate import MIGRATIONS_DIR, discover, make_plan
from db.queries import scalar
from db.vectors import VECTOR_TABLES, registered_model

STORAGE_TABLES = ("incident_signatures", "resolution_outputs", "runbook_steps", "triage_results")
BASE_TABLES = ("agent_state", "chunks", "documents", "feedback", "incidents")
FUNCTIONS = ("update_updated_at", "update_runbook_steps_tsv", "update_incident_signatures_tsv")
TRIGGERS = {
    "runbook_steps": ("runbook_steps_updated_at", "runbook_steps_tsv_update"),
    "incident_signatures": ("incident_signatures_updated_at", "incident_signatures_tsv_update"),
}
VIEWS = ("incident_metrics", "runbook_steps_with_metadata", "triage_to_resolution_chain")

# The guide's "Check Tables Exist" query, verbatim.
TABLES_QUERY = """\
SELECT table_name 
FROM information_schema.tables
WHERE table_schema = 'public'
  AND table_name IN ('runbook_steps', 'incident_signatures', 'triage_results', 'resolution_outputs')
ORDER BY table_name;"""  # noqa: W291 - the guide's text, trailing space included

# The guide's "Check Indexes" query, verbatim.
INDEXES_QUERY = """\
SELECT 
    tablename,
    indexname,
    indexdef
FROM pg_indexes
WHERE tablename IN ('runbook_steps', 'incident_signatures', 'triage_results', 'resolution_outputs')
ORDER BY tablename, indexname;"""  # noqa: W291

# The guide's "Check Vector Indexes" query, corrected: pg_stat_user_indexes has relname / indexrelname.
VECTOR_INDEXES_QUERY = """\
SELECT
    schemaname,
    relname AS tablename,
    indexrelname AS indexname,
    pg_size_pretty(pg_relation_size(indexrelid)) AS index_size
FROM pg_stat_user_indexes
WHERE relname IN ('runbook_steps', 'incident_signatures')
  AND indexrelname LIKE '%embedding%'
ORDER BY relname;"""

_CREATE_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+ON\s+(\w+)", re.I
)
_UNIQUE_CONSTRAINT = re.compile(r"CONSTRAINT\s+(\w+)\s+UNIQUE", re.I)


def expected_indexes(directory: Path = MIGRATIONS_DIR) -> dict[str, set[str]]:
    """Index names the migrations create on the four storage tables (primary and unique keys included)."""
    expected: dict[str, set[str]] = {t: {f"{t}_pkey"} for t in STORAGE_TABLES}
    for f in discover(directory):
        text = f.text
        for name, table in _CREATE_INDEX.findall(text):
            if table in expected:
                expected[table].add(name)
        for name in _UNIQUE_CONSTRAINT.findall(text):
            for table in STORAGE_TABLES:
                if name.startswith(f"{table}_"):
                    expected[table].add(name)
    return expected


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # shown, but does not fail verification


@dataclass
class Verification:
    """The rows of the guide's three queries (column name -> value), and every check's outcome."""

    tables: list[dict[str, str]] = field(default_factory=list)
    indexes: list[dict[str, str]] = field(default_factory=list)
    vector_indexes: list[dict[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok or c.warning for c in self.checks)


def _names(conn: psycopg.Connection, query: str, params: tuple[object, ...] = ()) -> set[str]:
    """The single column ``name`` of every row of ``query``."""
    with conn.cursor(row_factory=dict_row) as cur:
        return {row["name"] for row in cur.execute(query, params).fetchall()}


def verify(conn: psycopg.Connection, *, model: str | None = None, dimension: int | None = None) -> Verification:
    """Run the guide's checks and nocai's own; ``ok`` is False when anything required is missing."""
    result = Verification()
    with conn.cursor(row_factory=dict_row) as cur:
        result.tables = cur.execute(TABLES_QUERY).fetchall()
        result.indexes = cur.execute(INDEXES_QUERY).fetchall()
        result.vector_indexes = cur.execute(VECTOR_INDEXES_QUERY).fetchall()
        methods = {
            row["name"]: row["method"]
            for row in cur.execute(
                "SELECT c.relname AS name, am.amname AS method FROM pg_class AS c JOIN pg_am AS am"
                " ON am.oid = c.relam WHERE c.relname = ANY(%s)",
                (list(VECTOR_TABLES.values()),),
            ).fetchall()
        }
        triggers = {
            (row["table_name"], row["trigger_name"])
            for row in cur.execute(
                "SELECT c.relname AS table_name, t.tgname AS trigger_name FROM pg_trigger AS t"
                " JOIN pg_class AS c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            ).fetchall()
        }
    add = result.checks.append

    found_tables = {row["table_name"] for row in result.tables}
    missing = [t for t in STORAGE_TABLES if t not in found_tables]
    add(Check("storage tables", not missing, f"missing: {', '.join(missing)}" if missing else "all 4 present"))

    base = _names(conn, "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    missing = [t for t in BASE_TABLES if t not in base]
    add(Check("base tables", not missing, f"missing: {', '.join(missing)}" if missing else "all 5 present"))

    have = {(row["tablename"], row["indexname"]) for row in result.indexes}
    missing = sorted(f"{t}.{i}" for t, names in expected_indexes().items() for i in names if (t, i) not in have)
    add(Check("indexes", not missing, f"missing: {', '.join(missing)}" if missing else f"{len(have)} present"))

    found_vector = {row["indexname"] for row in result.vector_indexes}
    missing = [i for i in VECTOR_TABLES.values() if i not in found_vector]
    add(Check("vector indexes", not missing, f"missing: {', '.join(missing)}" if missing else "both present"))

    ivf = [name for name, method in methods.items() if method == "ivfflat"]
    add(
        Check(
            "vector index method",
            True,
            f"ivfflat on {', '.join(ivf)}: rebuild after bulk loads (`nocai db reindex`)" if ivf else "hnsw",
            warning=bool(ivf),
        )
    )

    invalid = sorted(
        _names(
            conn,
            "SELECT c.relname AS name FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid"
            " JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND NOT i.indisvalid",
        )
    )
    add(
        Check(
            "valid indexes",
            not invalid,
            f"INVALID: {', '.join(invalid)} (drop and rebuild)" if invalid else "all valid",
        )
    )

    functions = _names(conn, "SELECT proname AS name FROM pg_proc WHERE proname = ANY(%s)", (list(FUNCTIONS),))
    missing = [f for f in FUNCTIONS if f not in functions]
    add(Check("functions", not missing, f"missing: {', '.join(missing)}" if missing else "all 3 present"))

    missing = [f"{t}.{n}" for t, names in TRIGGERS.items() for n in names if (t, n) not in triggers]
    add(Check("triggers", not missing, f"missing: {', '.join(missing)}" if missing else "all 4 present"))

    views = _names(conn, "SELECT viewname AS name FROM pg_views WHERE schemaname = 'public'")
    missing = [v for v in VIEWS if v not in views]
    add(Check("views", not missing, f"missing: {', '.join(missing)}" if missing else "all 3 present"))

    version = scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'", default=None)
    add(Check("pgvector", version is not None, f"version {version}" if version else "extension not created"))

    plan = make_plan(conn, discover())
    pending = [i.filename for i in plan.items if i.state == "pending"]
    problems = [f"{i.filename} ({i.state})" for i in plan.problems]
    if not plan.has_ledger:
        add(Check("migrations", False, "no migration ledger: run python scripts/db/run_migration.py"))
    else:
        detail = "; ".join(
            part for part in (f"pending: {', '.join(pending)}" if pending else "", ", ".join(problems)) if part
        )
        add(Check("migrations", not pending and not problems, detail or "all applied"))

    if model is not None and dimension is not None and "embedding_model" in base:
        registered = registered_model(conn)
        ok = registered is not None and registered.model == model and registered.dimension == dimension
        detail = f"{registered.model} ({registered.dimension}-d)" if registered else "no row"
        if not ok:
            detail += f" but settings say {model} ({dimension}-d): see `nocai kb reembed`"
        add(Check("embedding model", ok, detail))
    return result
