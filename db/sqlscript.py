"""Run a SQL file statement by statement, so that a failure names the file and the line.

Statements are split with PostgreSQL's own scanner (via pglast), which understands dollar quoting, nested
comments and string escapes. Each statement runs in a savepoint: an "already exists" error — the guide calls it
normal — is skipped with a notice instead of aborting the file; any other error rolls the caller's transaction
back and is raised as :class:`MigrationFailedError` with ``file:line`` and the server's own hint.

This module executes what it is given; it never decides what to run (that is ``db.migrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pglast
import psycopg
from psycopg import errors as pg_errors

from ai_service.errors import ExtensionError, MigrationFailedError

# Errors the guide calls normal: the object a statement creates is already there.
_ALREADY_EXISTS = (
    pg_errors.DuplicateTable,
    pg_errors.DuplicateObject,
    pg_errors.DuplicateFunction,
    pg_errors.DuplicateSchema,
    pg_errors.DuplicateColumn,
)


@dataclass(frozen=True)
class Statement:
    text: str
    line: int  # 1-based line of the statement's first token in its file


def split_statements(script: str, *, label: str = "<sql>") -> list[Statement]:
    """The statements of ``script`` with the line each one starts on.

    Tokens come from PostgreSQL's own scanner (so semicolons inside strings, dollar-quoted bodies and comments
    do not split); every top-level ``;`` ends a statement and nothing between them is ever dropped. A scanner
    error (e.g. an unterminated string) is reported with its line. SQL-standard ``BEGIN ATOMIC`` bodies are not
    supported (use a dollar-quoted body).
    """
    try:
        tokens = pglast.parser.scan(script)
    except pglast.parser.ParseError as exc:
        message, location = (*exc.args, 0)[:2] if exc.args else (str(exc), 0)
        line = script.count("\n", 0, max(int(location) - 1, 0)) + 1
        raise MigrationFailedError(f"{label}:{line}: {message}", hint="fix the SQL at that line") from exc
    statements: list[Statement] = []
    first: int | None = None
    last = 0
    for token in tokens:
        if token.name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if token.name == "ASCII_59":
            if first is not None:
                statements.append(Statement(script[first:last], script.count("\n", 0, first) + 1))
            first = None
            continue
        if first is None:
            first = token.start
        last = token.end + 1
    if first is not None:
        statements.append(Statement(script[first:last], script.count("\n", 0, first) + 1))
    return statements


def _line_of(statement: Statement, position: str | None) -> int:
    """Line of the error: the statement's line plus the lines before the server's cursor position."""
    if not position:
        return statement.line
    try:
        index = int(position) - 1
    except ValueError:
        return statement.line
    return statement.line + statement.text.count("\n", 0, max(index, 0))


def _failure(label: str, statement: Statement, exc: psycopg.Error) -> MigrationFailedError | ExtensionError:
    diag = exc.diag
    line = _line_of(statement, diag.statement_position)
    primary = diag.message_primary or str(exc).strip()
    message = f"{label}:{line}: {primary}"
    if diag.message_detail:
        message += f"\n  detail: {diag.message_detail}"
    hint = diag.message_hint
    text = primary.lower()
    if 'type "vector" does not exist' in text or 'extension "vector"' in text:
        return ExtensionError(
            f"{message}\n  (extension vector does not exist in this database)",
            hint="install pgvector >= 0.8 on the server, then run CREATE EXTENSION IF NOT EXISTS vector; "
            "(Docker: use the pgvector/pgvector image)",
        )
    if 'relation "incidents" does not exist' in text:
        hint = "the base tables are missing: run python scripts/db/init_db.py (or nocai db init) first"
    return MigrationFailedError(message, hint=hint or "fix the statement at that line, then run again")


def run_script(
    conn: psycopg.Connection,
    script: str,
    *,
    label: str,
    notices: list[str] | None = None,
    use_savepoints: bool = True,
) -> int:
    """Execute ``script`` on ``conn`` inside the caller's transaction; returns the statement count.

    ``label`` names the script in errors (usually its path). Skipped "already exists" errors are appended to
    ``notices``. With ``use_savepoints=False`` (statements that cannot run in a transaction block, such as
    CREATE INDEX CONCURRENTLY) the statements run as they are.
    """
    statements = split_statements(script, label=label)
    for statement in statements:
        try:
            if use_savepoints:
                with conn.transaction():
                    conn.execute(statement.text)
            else:
                conn.execute(statement.text)
        except _ALREADY_EXISTS as exc:
            if not use_savepoints:
                raise _failure(label, statement, exc) from exc
            if notices is not None:
                notices.append(f"{label}:{statement.line}: skipped, {exc.diag.message_primary}")
        except psycopg.Error as exc:
            raise _failure(label, statement, exc) from exc
    return len(statements)


def run_file(conn: psycopg.Connection, path: Path, *, notices: list[str] | None = None) -> int:
    """Execute the SQL file at ``path`` (see :func:`run_script`)."""
    return run_script(conn, path.read_text(encoding="utf-8"), label=str(path), notices=notices)
