"""Helpers shared by the storage tests: schema dumps and scratch migration directories."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg

from db import migrate, tools


def schema_dump(url: str, *, exclude_ledger_data: bool = True) -> str:
    """``pg_dump --schema-only`` of ``url``, without the per-dump random \\restrict keys."""
    proc = subprocess.run(
        [tools.client_binary("pg_dump"), "--schema-only", "--no-owner", "--dbname", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    lines = [ln for ln in proc.stdout.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict"))]
    return "\n".join(lines)


def copy_migrations(target: Path) -> Path:
    """A scratch copy of db/migrations (with down/) that a test may edit."""
    shutil.copytree(migrate.MIGRATIONS_DIR, target)
    return target


def table_exists(url: str, name: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])


def ledger_rows(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        if not conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            return []
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute("SELECT version, filename, status FROM schema_migrations ORDER BY version")
        ]
