"""The migration runner against a real PostgreSQL: ledger, idempotence, locking, refusals, recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from ai_service.errors import (
    ExtensionError,
    MigrationChecksumError,
    MigrationFailedError,
    MigrationLockTimeout,
    MigrationMissingError,
    MigrationNeedsRepairError,
    MigrationOrderError,
)
from db import migrate
from db.sqlscript import run_script
from tests.conftest import PYTHON, REPO_ROOT
from tests.db.helpers import copy_migrations, ledger_rows, schema_dump, table_exists

ALL_FILES = [f.filename for f in migrate.discover()]


def test_migrate_from_empty_applies_every_file_once_in_order(fresh_db_url: str) -> None:
    report = migrate.migrate(fresh_db_url)
    assert [name for name, _ in report.applied] == ALL_FILES
    assert report.ledger_created
    rows = ledger_rows(fresh_db_url)
    assert [r[1] for r in rows] == ALL_FILES
    assert {r[2] for r in rows} == {"applied"}
    for table in ("runbook_steps", "incident_signatures", "triage_results", "resolution_outputs", "incidents"):
        assert table_exists(fresh_db_url, table)


def test_rerun_with_nothing_pending_changes_nothing(fresh_db_url: str) -> None:
    migrate.migrate(fresh_db_url)
    with psycopg.connect(fresh_db_url) as conn:
        before = conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    dump_before = schema_dump(fresh_db_url)
    report = migrate.migrate(fresh_db_url)
    assert report.applied == [] and not report.changed_anything
    with psycopg.connect(fresh_db_url) as conn:
        after = conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert after == before
    assert schema_dump(fresh_db_url) == dump_before


def test_fresh_install_records_migrations_so_migrate_has_nothing_to_do(fresh_db_url: str) -> None:
    report = migrate.init_db(fresh_db_url)
    assert report.recorded == ALL_FILES
    assert report.applied == []
    assert [r[1] for r in ledger_rows(fresh_db_url)] == ALL_FILES
    assert migrate.migrate(fresh_db_url).applied == []
    # schema.sql is re-runnable: a second init changes nothing.
    again = migrate.init_db(fresh_db_url)
    assert again.recorded == [] and again.applied == []


def test_fresh_install_and_full_migration_give_the_same_schema(pg_server, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    migrate.migrate(fresh_db_url)
    other = pg_server.create_database()
    try:
        other_url = pg_server.url(other)
        migrate.init_db(other_url)
        assert schema_dump(other_url) == schema_dump(fresh_db_url)
    finally:
        pg_server.drop_database(other)


def test_schema_sql_is_generated_from_the_migrations() -> None:
    assert migrate.SCHEMA_FILE.read_text(encoding="utf-8") == migrate.build_schema_sql(), (
        "db/schema.sql is stale: run `nocai db build-schema`"
    )


def test_stale_schema_sql_is_refused(fresh_db_url: str, tmp_path: Path) -> None:
    stale = tmp_path / "schema.sql"
    stale.write_text(migrate.build_schema_sql().replace("sha256=", "sha256=0", 1)[:-1], encoding="utf-8")
    text = stale.read_text()
    # Corrupt the first checksum into a valid-looking but wrong one.
    first = text.index("sha256=") + len("sha256=")
    stale.write_text(text[:first] + "f" * 64 + text[first + 65 :], encoding="utf-8")
    with pytest.raises(Exception, match="out of date"):
        migrate.init_db(fresh_db_url, schema_file=stale)
    assert not table_exists(fresh_db_url, "incidents")


def test_database_without_ledger_keeps_every_row_on_upgrade(fresh_db_url: str) -> None:
    """A base schema built by an older tool (no ledger), with data, upgraded by the runner."""
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        for f in migrate.discover()[:3]:
            run_script(conn, f.text, label=f.filename)
        conn.execute("INSERT INTO documents (doc_type, title, content) VALUES ('runbook', 'Disk full', 'x')")
        incident = conn.execute(
            "INSERT INTO incidents (alert_id, source, raw_alert) VALUES ('a-1', 'generic', '{\"k\": 1}') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO feedback (incident_id, feedback_type, notes) VALUES (%s, 'triage', 'kept')", (incident,)
        )
        conn.execute("INSERT INTO agent_state (incident_id, agent_type) VALUES (%s, 'triage')", (incident,))
    report = migrate.migrate(fresh_db_url)
    assert [name for name, _ in report.applied] == ALL_FILES  # idempotent files all run again
    with psycopg.connect(fresh_db_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM incidents),"
            " (SELECT count(*) FROM feedback), (SELECT count(*) FROM agent_state),"
            " (SELECT raw_alert FROM incidents), (SELECT notes FROM feedback)"
        ).fetchone()
    assert counts == (1, 1, 1, 1, {"k": 1}, "kept")
    assert table_exists(fresh_db_url, "runbook_steps")


def test_psql_style_install_without_ledger_is_adopted(fresh_db_url: str) -> None:
    """`psql -f db/schema.sql` leaves no ledger; the runner replays the idempotent files safely."""
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute(migrate.SCHEMA_FILE.read_text(encoding="utf-8"))  # type: ignore[call-overload]
        conn.execute("INSERT INTO runbook_steps (step_id, runbook_id, condition, action) VALUES ('R-S1','R','c','a')")
    migrate.migrate(fresh_db_url)
    with psycopg.connect(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM runbook_steps").fetchone()[0] == 1  # type: ignore[index]


def test_dry_run_creates_nothing_not_even_the_ledger(fresh_db_url: str) -> None:
    report = migrate.migrate(fresh_db_url, dry_run=True)
    assert report.pending == ALL_FILES
    assert report.applied == []
    assert not table_exists(fresh_db_url, "schema_migrations")
    assert not table_exists(fresh_db_url, "documents")


def test_edited_applied_file_is_refused_and_nothing_runs(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    migrate.migrate(fresh_db_url, directory=directory)
    edited = directory / "002_incidents_feedback.sql"
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    (directory / "090_new_table.sql").write_text("CREATE TABLE IF NOT EXISTS brand_new (id int);\n")
    with pytest.raises(MigrationChecksumError, match=r"002_incidents_feedback\.sql") as info:
        migrate.migrate(fresh_db_url, directory=directory)
    assert "new numbered file" in str(info.value)
    assert not table_exists(fresh_db_url, "brand_new")


def test_crlf_checkout_is_not_an_edit(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    migrate.migrate(fresh_db_url, directory=directory)
    path = directory / "001_base_documents_chunks.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert migrate.migrate(fresh_db_url, directory=directory).applied == []


@pytest.mark.parametrize("how", ["deleted", "renamed"])
def test_applied_file_deleted_or_renamed_is_refused(fresh_db_url: str, tmp_path: Path, how: str) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    migrate.migrate(fresh_db_url, directory=directory)
    path = directory / "003_agent_state_metrics.sql"
    if how == "deleted":
        path.unlink()
    else:
        path.rename(directory / "003_agent_state_and_metrics.sql")
    with pytest.raises(MigrationMissingError, match=r"003_agent_state_metrics\.sql"):
        migrate.migrate(fresh_db_url, directory=directory)


def test_two_files_with_one_number_are_refused_before_anything_runs(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    (directory / "004_another_change.sql").write_text("CREATE TABLE IF NOT EXISTS clash (id int);\n")
    with pytest.raises(MigrationOrderError, match=r"004_add_storage_vector_tables\.sql, 004_another_change\.sql"):
        migrate.migrate(fresh_db_url, directory=directory)
    with pytest.raises(MigrationOrderError):
        migrate.migrate(fresh_db_url, directory=directory, dry_run=True)
    assert not table_exists(fresh_db_url, "schema_migrations")
    assert not table_exists(fresh_db_url, "documents")


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    (directory / "6_Add Things.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationOrderError, match="NNN_lower_snake_name"):
        migrate.discover(directory)


def test_broken_file_reports_name_and_line_and_changes_nothing(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    migrate.migrate(fresh_db_url, directory=directory)
    dump_before = schema_dump(fresh_db_url)
    (directory / "090_broken.sql").write_text(
        "-- a file that fails on its fifth line\n"
        "CREATE TABLE IF NOT EXISTS half_done (id int);\n"
        "\n"
        "ALTER TABLE half_done ADD COLUMN note text;\n"
        "SELEC 1;\n"
    )
    with pytest.raises(MigrationFailedError) as info:
        migrate.migrate(fresh_db_url, directory=directory)
    assert "090_broken.sql:5" in str(info.value)
    assert "syntax error" in str(info.value)
    assert not table_exists(fresh_db_url, "half_done")
    assert "090" not in [r[0] for r in ledger_rows(fresh_db_url)]
    assert schema_dump(fresh_db_url) == dump_before


def test_runtime_error_line_points_inside_a_multiline_statement(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    (directory / "090_bad_column.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t1 (id int);\n"
        "CREATE OR REPLACE VIEW t1_view AS\n"
        "    SELECT id,\n"
        "           no_such_column\n"
        "    FROM t1;\n"
    )
    with pytest.raises(MigrationFailedError, match=r"090_bad_column.sql:4: column \"no_such_column\" does not exist"):
        migrate.migrate(fresh_db_url, directory=directory)


def test_unterminated_string_is_reported_with_its_line(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    (directory / "090_unterminated.sql").write_text("SELECT 1;\n\nSELECT 'never closed;\n")
    with pytest.raises(MigrationFailedError, match=r"090_unterminated\.sql:3: unterminated quoted string"):
        migrate.migrate(fresh_db_url, directory=directory)
    assert not table_exists(fresh_db_url, "documents")


def test_already_exists_never_fails(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    migrate.migrate(fresh_db_url, directory=directory)
    # A statement without IF NOT EXISTS whose object is already there: the guide says this is normal.
    (directory / "090_plain_create.sql").write_text("CREATE TABLE documents (id uuid);\nCREATE TABLE extra (id int);\n")
    report = migrate.migrate(fresh_db_url, directory=directory)
    assert [n for n, _ in report.applied] == ["090_plain_create.sql"]
    assert any("already exists" in n for n in report.notices)
    assert table_exists(fresh_db_url, "extra")


def test_missing_incidents_table_says_to_run_the_base_schema(fresh_db_url: str) -> None:
    path = migrate.MIGRATIONS_DIR / "004_add_storage_vector_tables.sql"
    with psycopg.connect(fresh_db_url) as conn, pytest.raises(MigrationFailedError) as info:
        run_script(conn, path.read_text(), label=str(path))
    assert 'table "incidents" does not exist' in str(info.value)
    assert "python scripts/db/init_db.py" in str(info.value)


def test_missing_vector_type_names_the_fix(fresh_db_url: str) -> None:
    with psycopg.connect(fresh_db_url) as conn, pytest.raises(ExtensionError) as info:
        run_script(conn, "CREATE TABLE needs_vector (e vector(3));", label="x.sql")
    assert "CREATE EXTENSION IF NOT EXISTS vector" in str(info.value)


def test_old_pgvector_fails_at_start_with_a_clear_message(fresh_db_url: str) -> None:
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        # Make this scratch database report an older pgvector, as a server with 0.7 would.
        conn.execute("UPDATE pg_extension SET extversion = '0.7.4' WHERE extname = 'vector'")
    with pytest.raises(ExtensionError, match=r"pgvector 0\.7\.4 .* needs 0\.8") as info:
        migrate.migrate(fresh_db_url)
    assert "ALTER EXTENSION vector UPDATE" in str(info.value)
    assert not table_exists(fresh_db_url, "schema_migrations")


def test_lock_timeout_names_the_holder(fresh_db_url: str) -> None:
    holder = psycopg.connect(fresh_db_url, autocommit=True)
    try:
        holder.execute("SET application_name = 'replica-7 holding the lock'")
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate.LOCK_KEY,))
        started = time.monotonic()
        with pytest.raises(MigrationLockTimeout) as info:
            migrate.migrate(fresh_db_url, lock_timeout=0.6)
        assert time.monotonic() - started >= 0.6
        assert "replica-7 holding the lock" in str(info.value)
        assert f"pid {holder.info.backend_pid}" in str(info.value)
    finally:
        holder.close()
    assert not table_exists(fresh_db_url, "documents")


def _runner(url: str, directory: Path | None = None) -> subprocess.Popen[str]:
    code = "import sys; from db import migrate; from pathlib import Path; "
    if directory:
        code += f"r = migrate.migrate(sys.argv[1], directory=Path({str(directory)!r}), lock_timeout=60); "
    else:
        code += "r = migrate.migrate(sys.argv[1], lock_timeout=60); "
    code += "print('\\n'.join(n for n, _ in r.applied))"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [PYTHON, "-c", code, url], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_three_runners_at_once_apply_each_file_exactly_once(fresh_db_url: str) -> None:
    runners = [_runner(fresh_db_url) for _ in range(3)]
    outputs = []
    for proc in runners:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append([line for line in out.splitlines() if line])
    applied = [name for out in outputs for name in out]
    assert sorted(applied) == sorted(ALL_FILES), outputs
    assert [r[1] for r in ledger_rows(fresh_db_url)] == ALL_FILES


def test_runner_killed_mid_file_leaves_no_half_applied_file(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    (directory / "090_slow.sql").write_text(
        "CREATE TABLE IF NOT EXISTS during_kill (id int);\n"
        "INSERT INTO during_kill VALUES (1);\n"
        "SELECT pg_sleep(60);\n"
        "CREATE TABLE IF NOT EXISTS after_sleep (id int);\n"
    )
    proc = _runner(fresh_db_url, directory)
    try:
        deadline = time.monotonic() + 60
        with psycopg.connect(fresh_db_url, autocommit=True) as watcher:
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'"
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the runner never reached the slow statement")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The server notices the dead client and rolls its transaction back.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(fresh_db_url, autocommit=True) as conn:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%%'"
            ).fetchone()
            if busy and busy[0] == 0:
                break
        time.sleep(0.1)
    assert not table_exists(fresh_db_url, "during_kill")
    assert "090" not in [r[0] for r in ledger_rows(fresh_db_url)]
    # The next run completes the work (made quick, so the test does not wait a minute).
    slow = directory / "090_slow.sql"
    slow.write_text(slow.read_text().replace("pg_sleep(60)", "pg_sleep(0)"))
    report = migrate.migrate(fresh_db_url, directory=directory)
    assert [n for n, _ in report.applied] == ["090_slow.sql"]
    with psycopg.connect(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM during_kill").fetchone()[0] == 1  # type: ignore[index]
    assert table_exists(fresh_db_url, "after_sleep")


def test_non_transactional_file_must_hold_one_statement(tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    (directory / "090_concurrent.sql").write_text(
        "-- nocai:no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON documents (title);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS b_idx ON documents (created_at);\n"
    )
    with pytest.raises(MigrationOrderError, match="exactly one statement"):
        migrate.discover(directory)


def test_failed_non_transactional_file_blocks_until_repaired(fresh_db_url: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path / "migrations")
    migrate.migrate(fresh_db_url, directory=directory)
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO documents (doc_type, title) VALUES ('runbook', 'dup'), ('runbook', 'dup')")
    path = directory / "090_unique_titles.sql"
    path.write_text(
        "-- nocai:no-transaction\n"
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS documents_title_key ON documents (title);\n"
    )
    with pytest.raises(MigrationFailedError, match="marked failed"):
        migrate.migrate(fresh_db_url, directory=directory)
    assert ("090", "090_unique_titles.sql", "failed") in ledger_rows(fresh_db_url)
    with pytest.raises(MigrationNeedsRepairError, match="nocai db repair 090"):
        migrate.migrate(fresh_db_url, directory=directory)
    # Repair: fix the data, drop the invalid index the failed build left, clear the mark, migrate again.
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute(
            "DELETE FROM documents WHERE ctid IN (SELECT max(ctid) FROM documents GROUP BY title HAVING count(*) > 1)"
        )
        conn.execute("DROP INDEX IF EXISTS documents_title_key")
    migrate.repair(fresh_db_url, version="090")
    report = migrate.migrate(fresh_db_url, directory=directory)
    assert [n for n, _ in report.applied] == ["090_unique_titles.sql"]
    assert ("090", "090_unique_titles.sql", "applied") in ledger_rows(fresh_db_url)


def test_rollback_then_migrate_restores_the_schema(migrated_db_url: str) -> None:
    before = schema_dump(migrated_db_url)
    with psycopg.connect(migrated_db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO incidents (alert_id) VALUES ('kept-through-rollback')")
    done = migrate.rollback(migrated_db_url, version="004")
    later = [name for name in reversed(ALL_FILES) if name >= "004"]
    assert done == later  # newest first, 004 last
    for table in ("runbook_steps", "incident_signatures", "triage_results", "resolution_outputs", "embedding_model"):
        assert not table_exists(migrated_db_url, table)
    assert [r[0] for r in ledger_rows(migrated_db_url)] == ["001", "002", "003"]
    report = migrate.migrate(migrated_db_url)
    assert [n for n, _ in report.applied] == list(reversed(later))
    assert schema_dump(migrated_db_url) == before
    with psycopg.connect(migrated_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 1  # type: ignore[index]
        # agent_state keeps its own trigger: the guide's DROP FUNCTION update_updated_at() CASCADE spares it.
        assert (
            conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'agent_state_updated_at'").fetchone()[0] == 1
        )  # type: ignore[index]
