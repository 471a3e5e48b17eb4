"""How the CLI fails: a NocaiError becomes ``error: ...`` and ``  fix: ...`` on stderr with the error's exit code
(never a traceback), and usage mistakes exit 2 as click documents.

Commands that a user types run as subprocesses from the repository root; the formatting itself is checked
in-process through :func:`ai_service.cli.console.report_error`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from ai_service.cli.app import run
from ai_service.cli.console import report_error
from ai_service.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseUnavailableError,
    ExternalServiceError,
    InputError,
    MigrationChecksumError,
    NocaiError,
    NotFoundError,
)
from db.migrate import discover
from tests.support.cli import describe
from tests.support.cli import run_nocai as nocai


def assert_clean_error(proc: subprocess.CompletedProcess[str], code: int, message: str) -> list[str]:
    """Exit ``code``; stderr is `error: <message>...` then a `  fix: ...` line; no traceback. Returns stderr lines."""
    assert proc.returncode == code, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith(f"error: {message}"), describe(proc)
    assert any(line.startswith("  fix: ") for line in lines), describe(proc)
    return lines


# ------------------------------------------------------------------------------------------------------
# The user's commands
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["postgresql://nouser@127.0.0.1:1/x", "postgresql://nouser:s3cret-pw@127.0.0.1:1/x"], ids=["no-pw", "pw"]
)
def test_unreachable_database_url(url: str, nocai_env: dict[str, str]) -> None:
    proc = nocai("db", "status", env={**nocai_env, "DATABASE_URL": url})
    lines = assert_clean_error(proc, 5, "cannot connect to PostgreSQL at nouser@127.0.0.1:1/x")
    fix = next(line for line in lines if line.startswith("  fix: "))
    assert "DATABASE_URL" in fix and "embedded" in fix, fix
    assert "s3cret" not in proc.stderr + proc.stdout, "the password leaked into the output"
    assert not (Path(nocai_env["NOCAI_DATA_DIR"]) / "pg").exists(), "an embedded server was started"


def test_rollback_of_unknown_version_is_not_found(migrated_db_url: str, nocai_env: dict[str, str]) -> None:
    proc = nocai("db", "rollback", "999", "--yes", "--no-backup", env={**nocai_env, "DATABASE_URL": migrated_db_url})
    assert_clean_error(proc, 3, "there is no migration 999")
    with psycopg.connect(migrated_db_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [f.version for f in discover()]


def test_reindex_with_unknown_method_is_a_configuration_error(nocai_env: dict[str, str]) -> None:
    proc = nocai("db", "reindex", "--method", "bogus", env=nocai_env)
    lines = assert_clean_error(proc, 2, "unknown index method 'bogus'")
    assert "--method hnsw" in lines[-1] and "--method ivfflat" in lines[-1]
    assert not (Path(nocai_env["NOCAI_DATA_DIR"]) / "pg").exists(), "refused options must not start a server"


def test_rollback_of_non_numeric_version(nocai_env: dict[str, str]) -> None:
    env = {**nocai_env, "DATABASE_URL": "postgresql://nouser@127.0.0.1:1/x"}
    proc = nocai("db", "rollback", "abc", "--yes", "--no-backup", env=env)
    assert proc.returncode in (2, 3), describe(proc)
    assert_clean_error(proc, proc.returncode, "")
    assert "abc" in proc.stderr


# ------------------------------------------------------------------------------------------------------
# Usage errors (click's own: exit 2, no traceback)
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["db", "status", "--bogus"], "No such option: --bogus"),
        (["db", "rollback"], "Missing argument"),
        (["db", "reindex", "--lists", "many"], "Invalid value for '--lists'"),
    ],
    ids=["unknown-option", "missing-argument", "bad-value"],
)
def test_usage_errors_exit_2(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert says in err and "Usage: nocai" in err, err


def test_group_without_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["db"])
    captured = capsys.readouterr()
    assert code in (0, 2)
    assert "Usage: nocai db" in captured.out + captured.err
    assert "migrate" in captured.out + captured.err


# ------------------------------------------------------------------------------------------------------
# The one place errors become output and exit codes
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (NocaiError("plain failure", hint="look at the log"), 1),
        (ConfigurationError("bad setting NOCAI_PORT=0", hint="use a port in 1..65535"), 2),
        (InputError("alert payload is not JSON", hint="send application/json"), 2),
        (NotFoundError("no incident 42", hint="`nocai incidents list`"), 3),
        (ConflictError("resolution was never accepted", hint="accept it first"), 4),
        (DatabaseUnavailableError("cannot connect to PostgreSQL at u@h:5432/db", hint="check DATABASE_URL"), 5),
        (MigrationChecksumError("004 changed since it was applied", hint="restore the file"), 5),
        (ExternalServiceError("embedding endpoint answered 502", hint="retry later"), 6),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_report_error_format_and_exit_code(error: NocaiError, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_error(error) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"error: {error.message}", f"  fix: {error.hint}"]


def test_report_error_without_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert report_error(NotFoundError("no runbook RB-9")) == 3
    assert capsys.readouterr().err.splitlines() == ["error: no runbook RB-9"]


def test_report_error_prints_brackets_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    error = InputError("field [/labels] must be an object, got [bold]", hint="send {'labels': {...}} [see docs]")
    assert report_error(error) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {error.message}", f"  fix: {error.hint}"]
