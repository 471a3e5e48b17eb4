"""The migration guide's commands, run as a user runs them: subprocesses from the repository root.

Every command, file, query and behaviour that ``MIGRATION_GUIDE.md`` names is exercised twice over where it
matters: on the **embedded default** (no ``DATABASE_URL``; data under a temporary ``NOCAI_DATA_DIR``) and on an
**external PostgreSQL** given by ``DATABASE_URL`` (the session server of ``tests/conftest.py``). The guide's SQL,
shell lines, Python snippet and docker-compose command are read from the guide itself, so the tests follow the
text the user was given rather than a copy of it.

Each test asserts what the command did (tables, ledger rows, index definitions, dumps, HTTP answers), not only
its exit code. Every subprocess has a timeout; the service runs in its own process group, killed in ``finally``;
the embedded server started by these commands is stopped with ``nocai db stop`` and checked to be gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
import yaml

from db import tools
from db import verify as verify_mod
from db.migrate import discover
from db.sqlscript import split_statements
from tests.conftest import PYTHON, REPO_ROOT
from tests.support.cli import NOCAI
from tests.support.openai_server import embedding_server
from tests.support.waiting import free_port

# The files the guide's commands know (001-005); later migrations must be applied, rolled back and re-applied
# along with them, so the full list comes from db/migrations.
GUIDE_MIGRATIONS = [
    "001_base_documents_chunks.sql",
    "002_incidents_feedback.sql",
    "003_agent_state_metrics.sql",
    "004_add_storage_vector_tables.sql",
    "005_embedding_model_registry.sql",
]
MIGRATIONS = [f.filename for f in discover()]
VERSIONS = [f.version for f in discover()]
FROM_004 = [f.filename for f in discover() if int(f.version) >= 4]
STORAGE_TABLES = ["incident_signatures", "resolution_outputs", "runbook_steps", "triage_results"]
EMBEDDING_INDEXES = {
    "runbook_steps": "runbook_steps_embedding_idx",
    "incident_signatures": "incident_signatures_embedding_idx",
}
GUIDE_FUNCTIONS = ["update_updated_at", "update_runbook_steps_tsv", "update_incident_signatures_tsv"]
GUIDE_VIEWS = ["triage_to_resolution_chain", "runbook_steps_with_metadata"]

# The user's specification; a copy inside the repository is used only when the seed is not beside it.
_GUIDE_CANDIDATES = (
    REPO_ROOT.parent / "shared" / "seed" / "MIGRATION_GUIDE.md",
    REPO_ROOT / "db" / "MIGRATION_GUIDE.md",
)

#: The guide's "Check Vector Indexes" query as the guide writes it (the repository's copy of the guide shows the
#: corrected one), so that the test proving it wrong runs in any clone; checked against the seed where present.
GUIDE_VECTOR_INDEXES_SQL = Path(__file__).parent / "fixtures" / "guide_check_vector_indexes.sql"


# ------------------------------------------------------------------------------------------------------
# The guide
# ------------------------------------------------------------------------------------------------------


def guide_text() -> str:
    for path in _GUIDE_CANDIDATES:
        if path.exists():
            return path.read_text(encoding="utf-8")
    pytest.fail(f"MIGRATION_GUIDE.md not found (looked at {', '.join(map(str, _GUIDE_CANDIDATES))})")


def original_vector_indexes_query() -> str:
    """The guide's own "Check Vector Indexes" query (see GUIDE_VECTOR_INDEXES_SQL)."""
    kept = "\n".join(
        line for line in GUIDE_VECTOR_INDEXES_SQL.read_text(encoding="utf-8").splitlines() if not line.startswith("--")
    )
    seed = _GUIDE_CANDIDATES[0]
    if seed.exists():
        assert kept.strip() == guide_block("Check Vector Indexes", "sql").strip(), "the fixture drifted from the guide"
    return kept


def guide_blocks(heading: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, text) of the guide section titled ``heading`` (up to the next heading)."""
    lines = guide_text().splitlines()
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"#{2,4} " + re.escape(heading), line.strip())]
    assert starts, f"the guide has no section {heading!r}"
    blocks: list[tuple[str, str]] = []
    i = starts[0] + 1
    while i < len(lines) and not re.match(r"#{1,4} ", lines[i]):
        fence = re.match(r"\s*```(\w*)\s*$", lines[i])
        if fence:
            indent = len(lines[i]) - len(lines[i].lstrip())
            body: list[str] = []
            i += 1
            while not lines[i].strip().startswith("```"):
                body.append(lines[i][indent:])
                i += 1
            blocks.append((fence.group(1), "\n".join(body)))
        i += 1
    return blocks


def guide_block(heading: str, lang: str, index: int = 0) -> str:
    found = [text for block_lang, text in guide_blocks(heading) if block_lang == lang]
    assert len(found) > index, f"the guide's section {heading!r} has no {lang or 'plain'} block #{index}"
    return found[index]


def guide_line(prefix: str) -> str:
    """The first line of any guide block that starts with ``prefix`` (e.g. the pg_dump backup line)."""
    for line in guide_text().splitlines():
        if line.strip().startswith(prefix):
            return line.strip()
    pytest.fail(f"the guide has no line starting with {prefix!r}")


# ------------------------------------------------------------------------------------------------------
# Running things
# ------------------------------------------------------------------------------------------------------


def user_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    """``nocai_env`` plus what a user's shell has: the venv's python/nocai first on PATH, no psqlrc."""
    env = dict(base)
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PSQLRC"] = os.devnull
    env.update(extra)
    return env


def run(
    args: list[str],
    env: dict[str, str],
    *,
    expect: int | None = 0,
    timeout: float = 60,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` from the repository root; assert the exit code when ``expect`` is given."""
    proc = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        check=False,
    )
    if expect is not None:
        assert proc.returncode == expect, (
            f"{shlex.join(args)} exited {proc.returncode}, expected {expect}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def nocai(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return run([*NOCAI, *args], env, **kwargs)  # type: ignore[arg-type]


def script(name: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``python scripts/db/<name>``, exactly as the guide writes it (relative path, repo root as cwd)."""
    return run([PYTHON, f"scripts/db/{name}"], env, **kwargs)  # type: ignore[arg-type]


def query(url: str, statement: str, params: tuple[object, ...] | None = None) -> list[tuple[object, ...]]:
    """Rows of ``statement``; without ``params`` the text is sent as is (``%`` needs no escaping)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return list(conn.execute(statement, params).fetchall())  # type: ignore[call-overload]


def execute(url: str, statement: str, params: tuple[object, ...] | None = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)  # type: ignore[call-overload]


def ledger(url: str) -> list[tuple[object, ...]]:
    return query(url, "SELECT version, filename, sha256, status, applied_at FROM schema_migrations ORDER BY version")


def regclass_exists(url: str, name: str) -> bool:
    return bool(query(url, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0])


def vec(dimension: int, value: float = 0.1) -> str:
    return "[" + ",".join([repr(value)] * dimension) + "]"


def insert_incident(url: str, alert_id: str = "ALERT-guide-1") -> str:
    """One incident with an agent_state row (base-table data a rollback of 004 must keep)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO incidents (alert_id, source, raw_alert) VALUES (%s, 'prometheus', '{\"x\": 1}')"
            " RETURNING id::text",
            (alert_id,),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO agent_state (incident_id, agent_type, current_step) VALUES (%s, 'triage', 'start')",
            (row[0],),
        )
    return str(row[0])


def insert_step(url: str, step_id: str, dimension: int = 384, value: float = 0.1) -> None:
    execute(
        url,
        "INSERT INTO runbook_steps (step_id, runbook_id, condition, action, embedding)"
        " VALUES (%s, 'RB-1', 'disk usage above 90%%', 'rotate the logs', %s::vector)",
        (step_id, vec(dimension, value)),
    )


def schema_dump(url: str) -> str:
    """``pg_dump --schema-only`` without the random ``\\restrict`` / ``\\unrestrict`` keys."""
    proc = subprocess.run(
        [tools.client_binary("pg_dump"), "--schema-only", "--no-owner", "--dbname", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return "\n".join(line for line in proc.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def column_type(url: str, table: str) -> str:
    return str(
        query(
            url,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = to_regclass(%s) AND attname = 'embedding'",
            (table,),
        )[0][0]
    )


def typed_vector_columns(url: str) -> dict[str, str]:
    """Every vector column of fixed dimension in the public schema, as {table.column: type}."""
    rows = query(
        url,
        "SELECT c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a"
        " JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped"
        " AND a.atttypid = 'vector'::regtype AND a.atttypmod > 0",
    )
    return {str(name): str(kind) for name, kind in rows}


def index_defs(url: str) -> dict[str, str]:
    rows = query(
        url,
        "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)",
        (list(EMBEDDING_INDEXES.values()),),
    )
    return {str(name): str(definition) for name, definition in rows}


# ------------------------------------------------------------------------------------------------------
# The guide itself (its text is what the rest of the file runs)
# ------------------------------------------------------------------------------------------------------


def test_guide_queries_are_the_ones_nocai_runs() -> None:
    """db.verify keeps the guide's SQL verbatim; the down file of 004 is the guide's rollback."""
    assert MIGRATIONS[:5] == GUIDE_MIGRATIONS
    assert guide_block("Check Tables Exist", "sql") == verify_mod.TABLES_QUERY
    assert guide_block("Check Indexes", "sql") == verify_mod.INDEXES_QUERY
    guide_rollback = [s.text for s in split_statements(guide_block("Rollback", "sql"))]
    down = REPO_ROOT / "db" / "migrations" / "down" / "004_add_storage_vector_tables.sql"
    assert [s.text for s in split_statements(down.read_text(encoding="utf-8"))] == guide_rollback
    assert len(guide_rollback) == 9


# ------------------------------------------------------------------------------------------------------
# 1. The embedded default
# ------------------------------------------------------------------------------------------------------


def _postmasters(pgdata: Path) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and str(pgdata) in cmdline:
            found.append(proc)
    return found


@pytest.fixture
def embedded_env(nocai_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The user's environment with no DATABASE_URL; afterwards `nocai db stop` and no server left behind."""
    env = user_env(nocai_env)
    assert "DATABASE_URL" not in env
    pgdata = (Path(env["NOCAI_DATA_DIR"]) / "pg").resolve()
    try:
        yield env
    finally:
        nocai("db", "stop", env=env, expect=None, timeout=60)
        deadline = time.monotonic() + 10
        survivors = _postmasters(pgdata)
        while survivors and time.monotonic() < deadline:
            time.sleep(0.1)
            survivors = _postmasters(pgdata)
        for proc in survivors:  # started by this test's subprocesses: end them by pid, then fail
            proc.kill()
        assert not survivors, f"postgres still running for {pgdata} after `nocai db stop`: {survivors}"


def psql_rows(env: dict[str, str], *statements: str) -> list[str]:
    """Rows of ``statements`` through `nocai db psql` (unaligned, tuples only)."""
    args = [arg for statement in statements for arg in ("-c", statement)]
    proc = nocai("db", "psql", "-A", "-t", *args, env=env)
    return [line for line in proc.stdout.splitlines() if line]


def test_embedded_fresh_install_and_guide_commands(embedded_env: dict[str, str]) -> None:
    env = embedded_env
    ledger_sql = (
        "SELECT version || ' ' || sha256 || ' ' || status || ' ' || applied_at FROM schema_migrations ORDER BY 1"
    )
    # Fresh install.
    proc = script("init_db.py", env)
    for name in MIGRATIONS:
        assert re.search(rf"^(recorded|applied)\s+{re.escape(name)}", proc.stdout, re.M), proc.stdout
    assert all(re.search(rf"^recorded\s+{re.escape(name)}", proc.stdout, re.M) for name in GUIDE_MIGRATIONS)
    assert (Path(env["NOCAI_DATA_DIR"]) / "pg" / "PG_VERSION").exists(), "the data did not go under NOCAI_DATA_DIR"
    rows = psql_rows(env, "SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = 'public'", ledger_sql)
    tables = {row.split()[1] for row in rows if row.startswith("table ")}
    assert set(STORAGE_TABLES) | {"incidents", "agent_state", "schema_migrations", "embedding_model"} <= tables
    before = [row for row in rows if not row.startswith("table ")]
    assert [row.split()[0] for row in before] == VERSIONS
    assert all(row.split()[2] == "applied" for row in before)

    # The production path finds nothing to do on a fresh install.
    proc = script("run_migration.py", env)
    assert "nothing to apply" in proc.stdout
    assert "applied " not in proc.stdout
    assert psql_rows(env, ledger_sql) == before

    # Verification prints the four tables and passes.
    proc = script("verify_db.py", env)
    checked = proc.stdout.split("Check Indexes")[0]
    assert all(table in checked for table in STORAGE_TABLES), proc.stdout
    assert "verification passed" in proc.stdout

    # The guide's "Check Tables Exist" through psql gives the guide's "Expected output" (psql pads the header
    # with trailing blanks, which the guide's Markdown does not keep: lines are compared right-stripped).
    expected = guide_block("Check Tables Exist", "").splitlines()
    proc = nocai("db", "psql", "-c", guide_block("Check Tables Exist", "sql"), env=env)
    lines = proc.stdout.splitlines()
    assert [line.rstrip() for line in lines[: len(expected)]] == [line.rstrip() for line in expected], proc.stdout
    assert lines[len(expected)] == "(4 rows)"

    # The guide's `\i db/migrations/004_add_storage_vector_tables.sql` in psql, twice: no ERROR.
    include = next(line for line in guide_block("Using psql", "bash").splitlines() if line.startswith("\\i "))
    assert include == "\\i db/migrations/004_add_storage_vector_tables.sql"
    proc = nocai("db", "psql", env=env, stdin=f"{include}\n{include}\n")
    assert "ERROR" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.stdout.count("CREATE VIEW") == 4, proc.stdout
    assert proc.stderr.count('relation "runbook_steps" already exists, skipping') == 2, proc.stderr


def test_embedded_db_start_on_a_new_data_dir(embedded_env: dict[str, str]) -> None:
    """`nocai db start` is the first command a user may run: it must initialise the data directory."""
    proc = nocai("db", "start", env=embedded_env, expect=None)
    assert proc.returncode == 0, proc.stderr
    url = nocai("db", "url", env=embedded_env).stdout.strip()
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("nocdb",)


def test_embedded_shared_buffers_setting_applies_from_the_next_start(embedded_env: dict[str, str]) -> None:
    env = {**embedded_env, "NOCAI_EMBEDDED_SHARED_BUFFERS": "160MB"}
    first = nocai("db", "start", env=env)
    assert "shared_buffers changed: applies after `nocai db stop`" in first.stdout, first.stdout
    assert psql_rows(env, "SHOW shared_buffers") == ["128MB"]  # PostgreSQL's default, until the restart
    nocai("db", "stop", env=env)
    again = nocai("db", "start", env=env)
    assert "changed" not in again.stdout, again.stdout
    assert psql_rows(env, "SHOW shared_buffers") == ["160MB"]


@pytest.mark.parametrize(
    "pinned",
    [False, True],
    ids=["as-printed", "after-db-start"],
)
def test_embedded_db_url_is_connectable(embedded_env: dict[str, str], pinned: bool) -> None:
    env = embedded_env
    if pinned:
        # `nocai db url` first: `nocai db start` cannot initialise a new data directory (a bug of its own,
        # test_embedded_db_start_on_a_new_data_dir).
        nocai("db", "url", env=env)
        nocai("db", "start", env=env)
    url = nocai("db", "url", env=env).stdout.strip()
    assert url.startswith("postgresql://") and "/nocdb" in url, url
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("nocdb",)


@pytest.mark.parametrize(
    "pinned",
    [False, True],
    ids=["as-printed", "after-db-start"],
)
def test_embedded_env_gives_plain_psql_and_pg_dump(embedded_env: dict[str, str], tmp_path: Path, pinned: bool) -> None:
    """`eval "$(nocai db env)"`, then the guide's `psql -U postgres -d nocdb` and its pg_dump backup line."""
    env = embedded_env
    script("init_db.py", env)
    if pinned:
        nocai("db", "start", env=env)
    backup_line = guide_line("pg_dump ")
    assert backup_line == "pg_dump -U postgres -d nocdb > backup_$(date +%Y%m%d_%H%M%S).sql"
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    shell = (
        f'eval "$({shlex.join(NOCAI)} db env)" && command -v psql && '
        "psql -U postgres -d nocdb -c 'select 1' && "
        f"cd {shlex.quote(str(out_dir))} && {backup_line}"
    )
    proc = run(["bash", "-c", shell], env)
    psql_path = Path(proc.stdout.splitlines()[0])
    assert psql_path == Path(tools.client_binary("psql")), "nocai db env must put the bundled psql first on PATH"
    assert re.search(r"^\s*1\s*$", proc.stdout, re.M), proc.stdout
    dumps = list(out_dir.glob("backup_*.sql"))
    assert len(dumps) == 1
    assert "CREATE TABLE public.runbook_steps" in dumps[0].read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------------
# 2. An external PostgreSQL (DATABASE_URL)
# ------------------------------------------------------------------------------------------------------


def test_run_migration_on_empty_database(fresh_db_url: str, nocai_env: dict[str, str]) -> None:
    env = user_env(nocai_env, DATABASE_URL=fresh_db_url)
    proc = script("run_migration.py", env)
    applied = re.findall(r"^applied\s+(\S+)", proc.stdout, re.M)
    assert applied == MIGRATIONS, proc.stdout
    before = ledger(fresh_db_url)
    assert [r[0] for r in before] == VERSIONS and {r[3] for r in before} == {"applied"}
    assert all(regclass_exists(fresh_db_url, t) for t in STORAGE_TABLES)

    proc = script("run_migration.py", env)
    assert "nothing to apply" in proc.stdout and "applied " not in proc.stdout
    assert ledger(fresh_db_url) == before


def test_guide_python_snippet_runs_twice(migrated_db_url: str, nocai_env: dict[str, str]) -> None:
    snippet = guide_block("Using Python Script", "python")
    assert "from db.connection import get_db_connection" in snippet and "conn.commit()" in snippet
    env = user_env(nocai_env, DATABASE_URL=migrated_db_url)
    indexes = "SELECT count(*) FROM pg_indexes WHERE tablename = ANY(%s)"
    before = query(migrated_db_url, indexes, (STORAGE_TABLES,))
    insert_step(migrated_db_url, "S-keep")
    for _ in range(2):
        run([PYTHON, "-c", snippet], env)
    assert all(regclass_exists(migrated_db_url, t) for t in STORAGE_TABLES)
    assert query(migrated_db_url, indexes, (STORAGE_TABLES,)) == before
    assert query(migrated_db_url, "SELECT step_id FROM runbook_steps") == [("S-keep",)]
    assert [r[0] for r in ledger(migrated_db_url)] == VERSIONS


def test_guide_verification_queries(migrated_db_url: str) -> None:
    rows = query(migrated_db_url, guide_block("Check Tables Exist", "sql"))
    assert [r[0] for r in rows] == STORAGE_TABLES

    rows = query(migrated_db_url, guide_block("Check Indexes", "sql"))
    assert sorted({str(r[0]) for r in rows}) == STORAGE_TABLES
    by_name = {str(r[1]): (str(r[0]), str(r[2])) for r in rows}
    for table, index in EMBEDDING_INDEXES.items():
        assert by_name[index][0] == table
        assert "USING hnsw" in by_name[index][1], by_name[index]
    assert [(r[0], r[1]) for r in rows] == sorted((r[0], r[1]) for r in rows)  # ORDER BY tablename, indexname

    # The guide's "Check Vector Indexes" is wrong as written; this is why db.verify has a corrected one.
    with pytest.raises(psycopg.errors.UndefinedColumn, match='column "tablename" does not exist'):
        query(migrated_db_url, original_vector_indexes_query())
    rows = query(migrated_db_url, verify_mod.VECTOR_INDEXES_QUERY)
    found = {str(r[2]): r for r in rows}
    for table, index in EMBEDDING_INDEXES.items():
        assert index in found, f"{index} missing from the corrected Check Vector Indexes: {rows}"
        assert found[index][:2] == ("public", table)
        assert re.fullmatch(r"\d+ (bytes|kB|MB|GB)", str(found[index][3])), found[index]
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)  # ORDER BY tablename


def test_corrected_vector_indexes_query_lists_only_vector_indexes(migrated_db_url: str) -> None:
    rows = query(migrated_db_url, verify_mod.VECTOR_INDEXES_QUERY)
    methods = dict(
        query(
            migrated_db_url,
            "SELECT c.relname, am.amname FROM pg_class AS c JOIN pg_am AS am ON am.oid = c.relam"
            " WHERE c.relname = ANY(%s)",
            ([str(r[2]) for r in rows],),
        )
    )
    assert {str(r[2]): methods[str(r[2])] for r in rows} == {index: "hnsw" for index in EMBEDDING_INDEXES.values()}


# ------------------------------------------------------------------------------------------------------
# 3. Rollback
# ------------------------------------------------------------------------------------------------------


def test_rollback_004_and_migrate_again(migrated_db_url: str, nocai_env: dict[str, str], tmp_path: Path) -> None:
    url = migrated_db_url
    env = user_env(nocai_env, DATABASE_URL=url)
    incident = insert_incident(url)
    insert_step(url, "S-lost")
    schema_before = schema_dump(url)
    ledger_before = ledger(url)
    backups = tmp_path / "backups"
    backups.mkdir()

    # Without --yes and without a terminal: aborted, nothing changed, no backup written.
    for extra in ([], ["--no-backup"], ["--backup", "--backup-dir", str(backups)]):
        proc = nocai("db", "rollback", "004", *extra, env=env, expect=None)
        assert proc.returncode != 0, proc.stdout
        assert "abort" in proc.stderr.lower(), proc.stderr
        assert "rolled back" not in proc.stdout
    assert ledger(url) == ledger_before
    assert schema_dump(url) == schema_before
    assert not list(backups.iterdir())

    proc = nocai("db", "rollback", "004", "--yes", "--backup", "--backup-dir", str(backups), env=env)
    assert re.findall(r"^rolled back (\S+)", proc.stdout, re.M) == FROM_004[::-1], proc.stdout
    dumps = list(backups.glob("backup_*.sql"))
    assert len(dumps) == 1, list(backups.iterdir())
    dump = dumps[0].read_text(encoding="utf-8")
    assert "CREATE TABLE public.runbook_steps" in dump and "S-lost" in dump and "ALERT-guide-1" in dump

    # The guide's rollback: four tables, two views, three functions gone ...
    for name in [*STORAGE_TABLES, *GUIDE_VIEWS, "embedding_model"]:
        assert not regclass_exists(url, name), f"{name} survived the rollback"
    functions = query(url, "SELECT proname FROM pg_proc WHERE proname = ANY(%s)", (GUIDE_FUNCTIONS,))
    assert functions == []
    # ... the base tables, their data, the MTTR view and agent_state's own trigger kept.
    assert [r[0] for r in ledger(url)] == VERSIONS[:3]
    for name in ["documents", "chunks", "incidents", "feedback", "agent_state", "incident_metrics"]:
        assert regclass_exists(url, name), f"rollback of 004 dropped {name}"
    assert query(url, "SELECT id::text, alert_id FROM incidents") == [(incident, "ALERT-guide-1")]
    triggers = query(url, "SELECT tgname FROM pg_trigger WHERE tgrelid = 'agent_state'::regclass AND NOT tgisinternal")
    assert triggers == [("agent_state_updated_at",)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE agent_state SET updated_at = '2000-01-01', current_step = 'next'")
        updated = conn.execute("SELECT updated_at > now() - interval '1 hour' FROM agent_state").fetchone()
    assert updated == (True,), "agent_state's trigger no longer sets updated_at"

    # The production path puts 004 and 005 back; the schema is what it was.
    proc = script("run_migration.py", env)
    assert re.findall(r"^applied\s+(\S+)", proc.stdout, re.M) == FROM_004, proc.stdout
    assert [r[0] for r in ledger(url)] == VERSIONS
    assert schema_dump(url) == schema_before
    assert query(url, "SELECT count(*) FROM incidents") == [(1,)]


# ------------------------------------------------------------------------------------------------------
# 4. Backup and restore
# ------------------------------------------------------------------------------------------------------


def test_backup_then_restore_into_fresh_database(
    migrated_db_url: str, fresh_db_url: str, nocai_env: dict[str, str], tmp_path: Path
) -> None:
    insert_incident(migrated_db_url, "ALERT-backup")
    insert_step(migrated_db_url, "S-1", value=0.25)
    insert_step(migrated_db_url, "S-2", value=-0.5)
    dump = tmp_path / "before_upgrade.sql"
    proc = nocai("db", "backup", "-o", str(dump), env=user_env(nocai_env, DATABASE_URL=migrated_db_url))
    assert "backup written to" in proc.stdout and dump.stat().st_size > 0
    assert not list(tmp_path.glob("*.partial"))

    nocai("db", "restore", str(dump), env=user_env(nocai_env, DATABASE_URL=fresh_db_url))
    for table, order in [
        ("incidents", "id"),
        ("agent_state", "id"),
        ("runbook_steps", "step_id"),
        ("embedding_model", "model"),
        ("schema_migrations", "version"),
    ]:
        statement = f"SELECT * FROM {table} ORDER BY {order}"
        source = query(migrated_db_url, statement)
        assert source, f"{table} should hold rows in the source database"
        assert query(fresh_db_url, statement) == source, f"{table} differs after restore"
    status = nocai("db", "status", env=user_env(nocai_env, DATABASE_URL=fresh_db_url))
    assert "0 pending" in status.stdout


# ------------------------------------------------------------------------------------------------------
# 5. Service restart
# ------------------------------------------------------------------------------------------------------


def _compose_command() -> list[str]:
    """The guide's docker-compose `command:` as the argv compose would run."""
    compose = yaml.safe_load(guide_block("Docker Compose", "yaml"))
    command = compose["services"]["ai-service"]["command"]
    argv = shlex.split(command)
    assert argv[:2] == ["sh", "-c"] and "python scripts/db/run_migration.py" in argv[2], argv
    assert "python -m ai_service.main" in argv[2]
    return argv


def _wait_group_gone(pgid: int, *, timeout: float) -> None:
    """Wait until no process of the group ``pgid`` is left (the shell may exit before the service does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"process group {pgid} still running {timeout:g}s after SIGTERM")


def serve_until_ready(argv: list[str], env: dict[str, str], log: Path, *, timeout: float = 45) -> dict[str, object]:
    """Start the service, wait for /readyz 200, then stop its process group; returns the /readyz body."""
    port = int(env["NOCAI_PORT"])
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        body: dict[str, object] | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the service exited with {proc.returncode} before it was ready:\n{log.read_text()}")
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if response.status_code == 200:
                body = response.json()
                break
            time.sleep(0.1)
        assert body is not None, f"/readyz never answered 200 within {timeout:g}s:\n{log.read_text()}"
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        assert health.json() == {"status": "ok"}
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        _wait_group_gone(proc.pid, timeout=15)
        assert "Finished server process" in log.read_text(), log.read_text()
        return body
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group we started; gone already when all went well
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(timeout=10)


def test_compose_command_migrates_then_serves(fresh_db_url: str, nocai_env: dict[str, str], tmp_path: Path) -> None:
    env = user_env(nocai_env, DATABASE_URL=fresh_db_url, NOCAI_PORT=str(free_port()))
    body = serve_until_ready(_compose_command(), env, tmp_path / "service.log")
    assert body["status"] == "ready" and body["migrations"] == len(MIGRATIONS), body
    log = (tmp_path / "service.log").read_text()
    assert all(name in log for name in MIGRATIONS), log  # run_migration.py printed what it applied
    assert [r[0] for r in ledger(fresh_db_url)] == VERSIONS


def test_service_alone_migrates_an_empty_database(fresh_db_url: str, nocai_env: dict[str, str], tmp_path: Path) -> None:
    env = user_env(nocai_env, DATABASE_URL=fresh_db_url, NOCAI_PORT=str(free_port()))
    body = serve_until_ready([PYTHON, "-m", "ai_service.main"], env, tmp_path / "service.log")
    assert body["status"] == "ready"
    assert [r[0] for r in ledger(fresh_db_url)] == VERSIONS
    assert all(regclass_exists(fresh_db_url, t) for t in STORAGE_TABLES)


def test_service_refuses_vectors_of_another_model(migrated_db_url: str, nocai_env: dict[str, str]) -> None:
    insert_step(migrated_db_url, "S-384")
    env = user_env(
        nocai_env,
        DATABASE_URL=migrated_db_url,
        NOCAI_PORT=str(free_port()),
        NOCAI_EMBEDDING_MODEL="other-model",
        NOCAI_EMBEDDING_DIMENSION="768",
    )
    proc = run([PYTHON, "-m", "ai_service.main"], env, expect=None, timeout=60)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "nocai kb reembed" in proc.stderr and "NOCAI_EMBEDDING_MODEL" in proc.stderr, proc.stderr
    assert "other-model" in proc.stderr and "all-MiniLM-L6-v2-int8" in proc.stderr
    # Nothing was cleared or retyped.
    assert column_type(migrated_db_url, "runbook_steps") == "vector(384)"
    assert query(migrated_db_url, "SELECT count(*) FROM runbook_steps WHERE embedding IS NOT NULL") == [(1,)]


def test_service_adopts_configured_model_on_empty_store(
    migrated_db_url: str, nocai_env: dict[str, str], tmp_path: Path
) -> None:
    with embedding_server(768) as embedding_url:  # another model: an OpenAI-compatible endpoint on loopback
        env = user_env(
            nocai_env,
            DATABASE_URL=migrated_db_url,
            NOCAI_PORT=str(free_port()),
            NOCAI_EMBEDDING_PROVIDER="openai",
            NOCAI_EMBEDDING_URL=embedding_url,
            NOCAI_EMBEDDING_MODEL="other-model",
            NOCAI_EMBEDDING_DIMENSION="768",
        )
        body = serve_until_ready([PYTHON, "-m", "ai_service.main"], env, tmp_path / "service.log")
    assert body["status"] == "ready"
    for table in EMBEDDING_INDEXES:
        assert column_type(migrated_db_url, table) == "vector(768)"
    columns = typed_vector_columns(migrated_db_url)
    assert columns and set(columns.values()) == {"vector(768)"}, columns
    assert query(migrated_db_url, "SELECT model, dimension FROM embedding_model") == [("other-model", 768)]
    assert set(index_defs(migrated_db_url)) == set(EMBEDDING_INDEXES.values())


# ------------------------------------------------------------------------------------------------------
# 6. Status and dry run
# ------------------------------------------------------------------------------------------------------


def test_status_lists_applied_migrations(migrated_db_url: str, nocai_env: dict[str, str]) -> None:
    proc = nocai("db", "status", env=user_env(nocai_env, DATABASE_URL=migrated_db_url))
    for version, name in zip(VERSIONS, MIGRATIONS, strict=True):
        assert re.search(rf"{version}\W+{re.escape(name)}\W+applied\b", proc.stdout), proc.stdout
    assert re.search(r"^0 pending$", proc.stdout, re.M), proc.stdout


def test_migrate_dry_run_creates_nothing(fresh_db_url: str, nocai_env: dict[str, str]) -> None:
    proc = nocai("db", "migrate", "--dry-run", env=user_env(nocai_env, DATABASE_URL=fresh_db_url))
    for name in MIGRATIONS:
        assert re.search(rf"{re.escape(name)}\W+pending\b", proc.stdout), proc.stdout
    assert re.search(rf"^{len(MIGRATIONS)} pending", proc.stdout, re.M), proc.stdout
    assert not regclass_exists(fresh_db_url, "schema_migrations")
    assert query(fresh_db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    assert query(fresh_db_url, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == [(0,)]


# ------------------------------------------------------------------------------------------------------
# 7. Reindex and embedding model
# ------------------------------------------------------------------------------------------------------


def test_reindex_ivfflat_verify_then_back_to_hnsw(migrated_db_url: str, nocai_env: dict[str, str]) -> None:
    url = migrated_db_url
    env = user_env(nocai_env, DATABASE_URL=url)
    for i in range(3):
        insert_step(url, f"S-{i}", value=0.1 * (i + 1))

    nocai("db", "reindex", "--method", "ivfflat", env=env)
    defs = index_defs(url)
    assert set(defs) == set(EMBEDDING_INDEXES.values())
    assert all("USING ivfflat" in d and "lists" in d for d in defs.values()), defs

    proc = nocai("db", "verify", env=env)
    assert re.search(r"vector index method\W+warn\W+ivfflat", proc.stdout), proc.stdout
    assert "verification passed" in proc.stdout

    nocai("db", "reindex", "--concurrently", env=env)
    defs = index_defs(url)
    assert set(defs) == set(EMBEDDING_INDEXES.values())
    assert all("USING hnsw" in d for d in defs.values()), defs
    invalid = query(url, "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
    assert invalid == []
    leftovers = query(url, "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%_rebuild'")
    assert leftovers == []
    assert query(url, "SELECT count(*) FROM runbook_steps WHERE embedding IS NOT NULL") == [(3,)]


def test_set_embedding_model_retypes_columns(migrated_db_url: str, nocai_env: dict[str, str]) -> None:
    url = migrated_db_url
    insert_step(url, "S-old")
    proc = nocai(
        "db",
        "set-embedding-model",
        "--model",
        "m",
        "--dimension",
        "8",
        "--yes",
        env=user_env(nocai_env, DATABASE_URL=url),
    )
    assert "m (8-d)" in proc.stdout
    for table in EMBEDDING_INDEXES:
        assert column_type(url, table) == "vector(8)"
    columns = typed_vector_columns(url)
    assert set(columns.values()) == {"vector(8)"}, f"a vector column kept its old type: {columns}"
    defs = index_defs(url)
    assert set(defs) == set(EMBEDDING_INDEXES.values()) and all("USING hnsw" in d for d in defs.values()), defs
    assert query(url, "SELECT model, dimension FROM embedding_model") == [("m", 8)]
    # The old vector is cleared, its text kept.
    assert query(url, "SELECT step_id, embedding IS NULL FROM runbook_steps") == [("S-old", True)]

    insert_step(url, "S-new", dimension=8)
    with pytest.raises(psycopg.errors.DataException, match="expected 8 dimensions"):
        insert_step(url, "S-wrong", dimension=384)
    assert query(url, "SELECT step_id FROM runbook_steps WHERE embedding IS NOT NULL") == [("S-new",)]


# ------------------------------------------------------------------------------------------------------
# 8. Stats
# ------------------------------------------------------------------------------------------------------


def test_stats_shows_vector_indexes(migrated_db_url: str, nocai_env: dict[str, str]) -> None:
    proc = nocai("db", "stats", env=user_env(nocai_env, DATABASE_URL=migrated_db_url))
    assert "runbook_steps_embedding_idx" in proc.stdout
    assert "incident_signatures_embedding_idx" in proc.stdout
    assert "index usage" in proc.stdout and "tables" in proc.stdout
