"""The migration runner: applies ``db/migrations/NNN_name.sql`` in order, exactly once each.

Guarantees, and how they are kept:

* **Ledger.** ``schema_migrations`` records every applied file: version, file name, SHA-256 (of its text with
  line endings normalised), when, how long, by whom. It is created by the first real run, never by a dry run.
* **One file, one transaction.** A file and its ledger row commit together: a crash or a failing statement
  leaves neither, and the error names the file and the line.
* **One runner at a time.** A session advisory lock serialises runners (service replicas starting together);
  the plan is read *after* the lock is taken, so each file is applied once. A runner that waits longer than
  ``NOCAI_MIGRATION_LOCK_TIMEOUT`` fails naming the session that holds the lock.
* **Refusals before anything runs.** Two files with one number, a malformed file name, an applied file whose
  content changed, an applied file that was deleted or renamed, a non-transactional file that failed half-way:
  each is refused with the fix named, and nothing is applied.
* **No ledger yet.** A database created by ``psql -f``, by an older tool or by the guide's snippet has the
  tables but no ledger: every file runs again, which is safe because every file is idempotent.
* **Non-transactional files** (first line ``-- nocai:no-transaction``, for ``CREATE INDEX CONCURRENTLY``) hold
  exactly one statement; their ledger row is written as ``running`` first, so a failure is remembered and the
  next run refuses until ``nocai db repair VERSION``.

``db/schema.sql`` is generated from the transactional migrations (:func:`build_schema_sql`), so a fresh install
(:func:`init_db`) and a full migration give the same schema by construction, and a test checks it.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import class_row, dict_row

from ai_service.config import get_settings
from ai_service.errors import (
    InputError,
    MigrationChecksumError,
    MigrationError,
    MigrationFailedError,
    MigrationLockTimeout,
    MigrationMissingError,
    MigrationNeedsRepairError,
    MigrationOrderError,
    NotFoundError,
    SchemaNotReadyError,
)
from db.connection import check_pgvector, connect
from db.queries import scalar
from db.sqlscript import run_script, split_statements

DB_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = DB_DIR / "migrations"
SCHEMA_FILE = DB_DIR / "schema.sql"

LEDGER_TABLE = "schema_migrations"
#: Key of the session advisory lock every runner takes (the bytes of "nocaimig" as a signed bigint).
LOCK_KEY = int.from_bytes(b"nocaimig", "big", signed=True)
NO_TRANSACTION_MARKER = "-- nocai:no-transaction"
_INCLUDES = re.compile(r"^-- nocai:includes (?P<filename>\S+) sha256=(?P<sha>[0-9a-f]{64})$", re.M)
_FILE_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")

_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
    version       text PRIMARY KEY,
    filename      text NOT NULL,
    sha256        text NOT NULL,
    status        text NOT NULL DEFAULT 'applied',
    transactional boolean NOT NULL DEFAULT true,
    applied_at    timestamptz NOT NULL DEFAULT now(),
    duration_ms   numeric(12, 3),
    applied_by    text NOT NULL,
    error         text,
    CONSTRAINT {LEDGER_TABLE}_status_check CHECK (status IN ('applied', 'running', 'failed'))
)
"""


# ------------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------------


def normalised_sha256(text: str) -> str:
    """SHA-256 of a SQL file's text, independent of CRLF/LF checkouts."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MigrationFile:
    version: str
    filename: str
    path: Path
    sha256: str
    transactional: bool
    down_path: Path | None

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


def discover(directory: Path = MIGRATIONS_DIR) -> list[MigrationFile]:
    """The migration files of ``directory`` in order; refuses bad names and duplicate numbers."""
    if not directory.is_dir():
        raise MigrationError(
            f"migration directory {directory} does not exist", hint="run from a complete nocai checkout"
        )
    by_version: dict[str, list[Path]] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationOrderError(
                f"{path}: migration file names must look like NNN_lower_snake_name.sql",
                hint="rename the file (e.g. 006_add_feedback_columns.sql) or move it out of db/migrations",
            )
        by_version.setdefault(match["version"].lstrip("0") or "0", []).append(path)
    files: list[MigrationFile] = []
    for paths in by_version.values():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise MigrationOrderError(
                f"two migration files share one number: {names}",
                hint="give each file its own number; nothing was applied",
            )
        path = paths[0]
        text = path.read_text(encoding="utf-8")
        transactional = not text.lstrip().startswith(NO_TRANSACTION_MARKER)
        count = len(split_statements(text, label=str(path))) if not transactional else 1
        if count != 1:
            raise MigrationOrderError(
                f"{path}: a file marked '{NO_TRANSACTION_MARKER}' must hold exactly one statement (it has {count})",
                hint="split it into one file per statement; nothing was applied",
            )
        down = directory / "down" / path.name
        files.append(
            MigrationFile(
                version=_FILE_NAME.match(path.name)["version"],  # type: ignore[index]
                filename=path.name,
                path=path,
                sha256=normalised_sha256(text),
                transactional=transactional,
                down_path=down if down.exists() else None,
            )
        )
    files.sort(key=lambda f: int(f.version))
    return files


# ------------------------------------------------------------------------------------------------------
# Ledger and plan
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    version: str
    filename: str
    sha256: str
    status: str
    transactional: bool
    applied_at: datetime
    duration_ms: float | None
    applied_by: str
    error: str | None


def ledger_exists(conn: psycopg.Connection) -> bool:
    exists: bool = scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (LEDGER_TABLE,))
    return exists


def read_ledger(conn: psycopg.Connection) -> dict[str, LedgerRow] | None:
    """The ledger by version, or None when the database has no ledger table."""
    if not ledger_exists(conn):
        return None
    with conn.cursor(row_factory=class_row(LedgerRow)) as cur:
        rows = cur.execute(
            "SELECT version, filename, sha256, status, transactional, applied_at, duration_ms::float8 AS duration_ms,"
            f" applied_by, error FROM {LEDGER_TABLE} ORDER BY version"
        ).fetchall()
    return {r.version: r for r in rows}


@dataclass
class PlanItem:
    version: str
    filename: str
    state: str  # applied | pending | changed | missing | renamed | failed
    file: MigrationFile | None = None
    ledger: LedgerRow | None = None


@dataclass
class Plan:
    has_ledger: bool
    items: list[PlanItem] = field(default_factory=list)

    @property
    def pending(self) -> list[MigrationFile]:
        return [i.file for i in self.items if i.state == "pending" and i.file is not None]

    @property
    def problems(self) -> list[PlanItem]:
        return [i for i in self.items if i.state not in ("applied", "pending")]


def make_plan(conn: psycopg.Connection, files: list[MigrationFile]) -> Plan:
    """Compare the files with the ledger."""
    ledger = read_ledger(conn)
    plan = Plan(has_ledger=ledger is not None)
    ledger = ledger or {}
    on_disk = {f.version: f for f in files}
    for f in files:
        row = ledger.get(f.version)
        if row is None:
            plan.items.append(PlanItem(f.version, f.filename, "pending", f))
        elif row.status != "applied":
            plan.items.append(PlanItem(f.version, f.filename, "failed", f, row))
        elif row.filename != f.filename:
            plan.items.append(PlanItem(f.version, f.filename, "renamed", f, row))
        elif row.sha256 != f.sha256:
            plan.items.append(PlanItem(f.version, f.filename, "changed", f, row))
        else:
            plan.items.append(PlanItem(f.version, f.filename, "applied", f, row))
    for version, row in ledger.items():
        if version not in on_disk:
            state = "failed" if row.status != "applied" else "missing"
            plan.items.append(PlanItem(version, row.filename, state, None, row))
    plan.items.sort(key=lambda i: int(i.version))
    return plan


def refuse_problems(plan: Plan) -> None:
    """Raise for the first problem of the plan; nothing has been applied when this raises."""
    for item in plan.problems:
        row = item.ledger
        assert row is not None
        if item.state == "changed":
            raise MigrationChecksumError(
                f"{item.filename} was applied on {row.applied_at:%Y-%m-%d %H:%M} but its content has changed "
                f"since (sha256 {row.sha256[:12]}… applied, {item.file.sha256[:12] if item.file else '?'}… "
                "on disk)",
                hint="never edit an applied migration: restore the file (git checkout -- db/migrations) and "
                "put the change in a new numbered file",
            )
        if item.state == "missing":
            raise MigrationMissingError(
                f"{row.filename} was applied on {row.applied_at:%Y-%m-%d %H:%M} but is no longer in "
                "db/migrations (deleted or renamed)",
                hint="restore the file under its original name; a migration that was applied stays in the "
                "directory for good",
            )
        if item.state == "renamed":
            raise MigrationMissingError(
                f"migration {item.version} was applied as {row.filename} but the file is now named {item.filename}",
                hint=f"rename it back to {row.filename}",
            )
        if item.state == "failed":
            raise MigrationNeedsRepairError(
                f"{row.filename} is a non-transactional migration that did not complete "
                f"(status {row.status} since {row.applied_at:%Y-%m-%d %H:%M}"
                + (f": {row.error}" if row.error else "")
                + ")",
                hint="inspect the database (an index built CONCURRENTLY may be left INVALID: drop it), then "
                f"run `nocai db repair {row.version}` and migrate again",
            )


# ------------------------------------------------------------------------------------------------------
# Lock
# ------------------------------------------------------------------------------------------------------


def _lock_holder(conn: psycopg.Connection) -> str:
    classid, objid = (LOCK_KEY >> 32) & 0xFFFFFFFF, LOCK_KEY & 0xFFFFFFFF
    with conn.cursor(row_factory=dict_row) as cur:
        holder = cur.execute(
            "SELECT a.pid, a.application_name, coalesce(host(a.client_addr), 'local socket') AS client,"
            " a.backend_start, a.state"
            " FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s AND l.objid::bigint = %s"
            "   AND l.objsubid = 1",
            (classid, objid),
        ).fetchone()
    if holder is None:
        return "a session that has since released it"
    return (
        f"backend pid {holder['pid']} ({holder['application_name'] or 'no application_name'}, from "
        f"{holder['client']}, connected {holder['backend_start']:%H:%M:%S}, {holder['state']})"
    )


@contextmanager
def migration_lock(conn: psycopg.Connection, *, timeout: float) -> Iterator[None]:
    """Hold the runners' session advisory lock; fail after ``timeout`` seconds naming the holder."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        if scalar(conn, "SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)):
            break
        if time.monotonic() >= deadline:
            raise MigrationLockTimeout(
                f"waited {timeout:g}s for the migration lock, held by {_lock_holder(conn)}",
                hint="wait for that runner to finish, or stop it (SELECT pg_terminate_backend(pid)); "
                "raise NOCAI_MIGRATION_LOCK_TIMEOUT to wait longer",
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def runner_name(role: str) -> str:
    return f"nocai-{role} {socket.gethostname()} pid={os.getpid()}"[:63]


# ------------------------------------------------------------------------------------------------------
# Applying
# ------------------------------------------------------------------------------------------------------


@dataclass
class MigrationReport:
    applied: list[tuple[str, float]] = field(default_factory=list)  # (filename, ms)
    pending: list[str] = field(default_factory=list)  # dry run: what would run
    recorded: list[str] = field(default_factory=list)  # init_db: recorded as applied by schema.sql
    notices: list[str] = field(default_factory=list)
    ledger_created: bool = False
    dry_run: bool = False

    @property
    def changed_anything(self) -> bool:
        return bool(self.applied or self.recorded or self.ledger_created)


def ensure_ledger(conn: psycopg.Connection) -> bool:
    """Create the ledger table when missing; returns whether it was created."""
    if ledger_exists(conn):
        return False
    with conn.transaction():
        conn.execute(_LEDGER_DDL)
    return True


def _apply_transactional(conn: psycopg.Connection, f: MigrationFile, applied_by: str, report: MigrationReport) -> None:
    started = time.perf_counter()
    with conn.transaction():
        run_script(conn, f.text, label=f"db/migrations/{f.filename}", notices=report.notices)
        elapsed = (time.perf_counter() - started) * 1000
        conn.execute(
            f"INSERT INTO {LEDGER_TABLE} (version, filename, sha256, status, transactional, duration_ms, applied_by)"
            " VALUES (%s, %s, %s, 'applied', true, %s, %s)",
            (f.version, f.filename, f.sha256, round(elapsed, 3), applied_by),
        )
    report.applied.append((f.filename, elapsed))


def _apply_non_transactional(
    conn: psycopg.Connection, f: MigrationFile, applied_by: str, report: MigrationReport
) -> None:
    conn.execute(
        f"INSERT INTO {LEDGER_TABLE} (version, filename, sha256, status, transactional, applied_by)"
        " VALUES (%s, %s, %s, 'running', false, %s)",
        (f.version, f.filename, f.sha256, applied_by),
    )
    started = time.perf_counter()
    try:
        run_script(conn, f.text, label=f"db/migrations/{f.filename}", use_savepoints=False)
    except MigrationError as exc:
        conn.execute(
            f"UPDATE {LEDGER_TABLE} SET status = 'failed', error = %s WHERE version = %s",
            (exc.message[:2000], f.version),
        )
        raise MigrationFailedError(
            f"{exc.message}\n  ({f.filename} is non-transactional: it is now marked failed)",
            hint=f"repair the database, then `nocai db repair {f.version}` and migrate again",
        ) from exc
    elapsed = (time.perf_counter() - started) * 1000
    conn.execute(
        f"UPDATE {LEDGER_TABLE} SET status = 'applied', duration_ms = %s, applied_at = now() WHERE version = %s",
        (round(elapsed, 3), f.version),
    )
    report.applied.append((f.filename, elapsed))


def _connect_runner(url: str | None, role: str) -> psycopg.Connection:
    conn = connect(url, autocommit=True, application_name=runner_name(role))
    try:
        check_pgvector(conn)
    except Exception:
        conn.close()
        raise
    return conn


def migrate(
    url: str | None = None,
    *,
    directory: Path = MIGRATIONS_DIR,
    dry_run: bool = False,
    lock_timeout: float | None = None,
    applied_by: str | None = None,
    target: str | None = None,
) -> MigrationReport:
    """Apply the pending migrations of ``directory`` (up to ``target`` when given)."""
    files = discover(directory)
    if target is not None:
        files = [f for f in files if int(f.version) <= int(target)]
    timeout = get_settings().migration_lock_timeout if lock_timeout is None else lock_timeout
    report = MigrationReport(dry_run=dry_run)
    conn = _connect_runner(url, "migrate")
    try:
        if dry_run:
            plan = make_plan(conn, files)
            refuse_problems(plan)
            report.pending = [f.filename for f in plan.pending]
            return report
        with migration_lock(conn, timeout=timeout):
            report.ledger_created = ensure_ledger(conn)
            _apply_pending(conn, files, applied_by or runner_name("migrate"), report)
    finally:
        conn.close()
    return report


def _apply_pending(
    conn: psycopg.Connection, files: list[MigrationFile], applied_by: str, report: MigrationReport
) -> None:
    plan = make_plan(conn, files)
    refuse_problems(plan)
    for f in plan.pending:  # a file the scanner cannot read is refused before any file runs
        split_statements(f.text, label=f"db/migrations/{f.filename}")
    for f in plan.pending:
        if f.transactional:
            _apply_transactional(conn, f, applied_by, report)
        else:
            _apply_non_transactional(conn, f, applied_by, report)


def not_initialised_error() -> SchemaNotReadyError:
    """The error for a database no migration was ever applied to (what every command says before ``init``)."""
    return SchemaNotReadyError(
        "the database is not initialised (no migration has been applied to it)",
        hint="run python scripts/db/init_db.py (or nocai db init)",
    )


def is_initialised(url: str | None = None) -> bool:
    """Whether at least one migration is recorded as applied (read-only; a fresh database has no ledger)."""
    with connect(url, autocommit=True, application_name=runner_name("status")) as conn:
        ledger = read_ledger(conn)
    return any(row.status == "applied" for row in (ledger or {}).values())


def require_current(conn: psycopg.Connection, *, directory: Path = MIGRATIONS_DIR) -> None:
    """Refuse to work on a database that is missing migrations (a clear error instead of a missing table)."""
    plan = make_plan(conn, discover(directory))
    refuse_problems(plan)
    if not any(item.state == "applied" for item in plan.items):
        raise not_initialised_error()
    pending = [f.filename for f in plan.pending]
    if pending:
        raise SchemaNotReadyError(
            f"the database is not up to date: {len(pending)} migration(s) pending ({', '.join(pending)})",
            hint="run python scripts/db/run_migration.py (or nocai db migrate; a fresh database: nocai db init)",
        )


def status(url: str | None = None, *, directory: Path = MIGRATIONS_DIR) -> Plan:
    """The plan, read-only (what `nocai db status` shows)."""
    files = discover(directory)
    conn = _connect_runner(url, "status")
    try:
        return make_plan(conn, files)
    finally:
        conn.close()


def repair(url: str | None = None, *, version: str, lock_timeout: float | None = None) -> LedgerRow:
    """Forget a non-transactional migration that failed half-way, so it runs again."""
    timeout = get_settings().migration_lock_timeout if lock_timeout is None else lock_timeout
    conn = _connect_runner(url, "repair")
    try:
        with migration_lock(conn, timeout=timeout):
            ledger = read_ledger(conn) or {}
            row = ledger.get(version.zfill(3))
            if row is None or row.status == "applied":
                raise NotFoundError(
                    f"no failed migration {version} in the ledger",
                    hint="`nocai db status` lists the migrations and their states",
                )
            conn.execute(f"DELETE FROM {LEDGER_TABLE} WHERE version = %s", (row.version,))
            return row
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------------
# schema.sql and fresh installs
# ------------------------------------------------------------------------------------------------------


def build_schema_sql(directory: Path = MIGRATIONS_DIR) -> str:
    """The text of db/schema.sql: the transactional migrations, in order, with their checksums."""
    files = discover(directory)
    included: list[MigrationFile] = []
    for f in files:
        if not f.transactional:
            break  # later files run through the runner after init_db
        included.append(f)
    header = [
        "-- nocai base schema for fresh installs: `python scripts/db/init_db.py` (or `nocai db init`).",
        "--",
        "-- GENERATED from db/migrations by `nocai db build-schema`; do not edit by hand (a test checks it).",
        "-- It is the migrations below, in order, so a fresh install and a full migration give the same",
        "-- schema. Every statement is idempotent: the file can be run again (psql -f db/schema.sql).",
        "-- init_db.py records the migrations listed here as applied, so run_migration.py then has nothing",
        "-- to do.",
        "--",
    ]
    header += [f"-- nocai:includes {f.filename} sha256={f.sha256}" for f in included]
    body: list[str] = []
    for f in included:
        body.append(f"\n-- {'=' * 96}\n-- {f.filename}\n-- {'=' * 96}\n")
        body.append(f.text.replace("\r\n", "\n").rstrip("\n") + "\n")
    return "\n".join(header) + "\n" + "".join(body)


def schema_includes(schema_text: str) -> list[tuple[str, str]]:
    """(filename, sha256) of the migrations a schema.sql says it contains."""
    return [(m["filename"], m["sha"]) for m in _INCLUDES.finditer(schema_text)]


def init_db(
    url: str | None = None,
    *,
    schema_file: Path = SCHEMA_FILE,
    directory: Path = MIGRATIONS_DIR,
    lock_timeout: float | None = None,
) -> MigrationReport:
    """Fresh install: apply schema.sql, record the migrations it holds, then apply any later ones."""
    timeout = get_settings().migration_lock_timeout if lock_timeout is None else lock_timeout
    files = discover(directory)
    by_name = {f.filename: f for f in files}
    schema_text = schema_file.read_text(encoding="utf-8")
    includes = schema_includes(schema_text)
    stale = [name for name, sha in includes if name not in by_name or by_name[name].sha256 != sha]
    if not includes or stale:
        raise MigrationError(
            f"{schema_file} is out of date with db/migrations ({', '.join(stale) or 'no includes header'})",
            hint="regenerate it with `nocai db build-schema`",
        )
    applied_by = runner_name("init_db")
    report = MigrationReport()
    conn = _connect_runner(url, "init_db")
    try:
        with migration_lock(conn, timeout=timeout):
            report.ledger_created = ensure_ledger(conn)
            refuse_problems(make_plan(conn, files))
            ledger = read_ledger(conn) or {}
            started = time.perf_counter()
            with conn.transaction():
                run_script(conn, schema_text, label=str(schema_file), notices=report.notices)
                elapsed = (time.perf_counter() - started) * 1000
                for name, sha in includes:
                    f = by_name[name]
                    if f.version in ledger:
                        continue
                    conn.execute(
                        f"INSERT INTO {LEDGER_TABLE}"
                        " (version, filename, sha256, status, transactional, duration_ms, applied_by)"
                        " VALUES (%s, %s, %s, 'applied', true, %s, %s)",
                        (f.version, f.filename, sha, round(elapsed, 3), f"{applied_by} (schema.sql)"),
                    )
                    report.recorded.append(f.filename)
            _apply_pending(conn, files, applied_by, report)
    finally:
        conn.close()
    return report


# ------------------------------------------------------------------------------------------------------
# Rollback
# ------------------------------------------------------------------------------------------------------


def rollback(
    url: str | None = None,
    *,
    version: str,
    directory: Path = MIGRATIONS_DIR,
    lock_timeout: float | None = None,
) -> list[str]:
    """Undo migration ``version`` and every later applied one (newest first), in one transaction.

    Each needs a down file in ``db/migrations/down/``; the ledger rows go with them, so a later migrate
    applies the files again. Returns the rolled-back file names.
    """
    timeout = get_settings().migration_lock_timeout if lock_timeout is None else lock_timeout
    if not version.isdigit():
        raise InputError(
            f"migration version must be a number like 004, not {version!r}",
            hint="`nocai db status` lists the migrations",
        )
    files = discover(directory)
    target = next((f for f in files if int(f.version) == int(version)), None)
    if target is None:
        raise NotFoundError(
            f"there is no migration {version} in db/migrations",
            hint="`nocai db status` lists the migrations",
        )
    conn = _connect_runner(url, "rollback")
    done: list[str] = []
    try:
        with migration_lock(conn, timeout=timeout):
            ledger = read_ledger(conn) or {}
            undo = [f for f in files if int(f.version) >= int(target.version) and f.version in ledger]
            if not undo:
                raise NotFoundError(
                    f"migration {target.filename} is not applied; nothing to roll back",
                    hint="`nocai db status` shows what is applied",
                )
            missing_down = [f.filename for f in undo if f.down_path is None]
            if missing_down:
                raise MigrationError(
                    f"no rollback script for {', '.join(missing_down)} (db/migrations/down/<same name>)",
                    hint="write the down file first; nothing was rolled back",
                )
            with conn.transaction():
                for f in reversed(undo):
                    assert f.down_path is not None
                    run_script(conn, f.down_path.read_text(encoding="utf-8"), label=f"db/migrations/down/{f.filename}")
                    conn.execute(f"DELETE FROM {LEDGER_TABLE} WHERE version = %s", (f.version,))
                    done.append(f.filename)
    finally:
        conn.close()
    return done
