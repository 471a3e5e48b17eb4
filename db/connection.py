"""Connections to nocai's PostgreSQL: one URL, one way to connect, one pool.

``DATABASE_URL`` wins when set; otherwise the embedded server (``db.embedded``) is started under
``NOCAI_DATA_DIR`` and its ``nocdb`` database created on first use. Every connection nocai opens goes through
:func:`connect` (or the pool built by :func:`create_pool`, whose configure hook calls the same code), so pgvector
types are registered once per connection and the HNSW search settings are sent as start-up options rather than
as a statement per query.

``get_db_connection()`` is the guide's entry point (``from db.connection import get_db_connection``): a plain
psycopg 3 connection, not in autocommit, so the guide's ``cursor() / execute / commit / close`` snippet works.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from ai_service.config import Settings, get_settings
from ai_service.errors import DatabaseUnavailableError, ExtensionError
from db import embedded
from db.queries import scalar

MIN_PGVECTOR = (0, 8, 0)

_embedded_lock = threading.Lock()
_embedded_urls: dict[tuple[str, str], str] = {}
_embedded_servers: dict[str, embedded.EmbeddedServer] = {}


def database_url(settings: Settings | None = None) -> str:
    """The URL nocai connects to: ``DATABASE_URL``, or the embedded server's (started on demand)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    key = (str(settings.embedded_pgdata), settings.db_name)
    with _embedded_lock:
        url = _embedded_urls.get(key)
        if url is None:
            server = embedded.start(settings.embedded_pgdata, keep_running=settings.embedded_keep_running)
            server.configure({"shared_buffers": settings.embedded_shared_buffers})
            server.ensure_database(settings.db_name)
            url = server.url(settings.db_name)
            _embedded_urls[key] = url
            _embedded_servers[str(server.pgdata)] = server
    return url


def release_embedded() -> None:
    """Let go of the embedded servers this process started or joined (the last user stops each one)."""
    with _embedded_lock:
        servers = list(_embedded_servers.values())
        _embedded_servers.clear()
        _embedded_urls.clear()
    for server in servers:
        server.release()


def describe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    params = conninfo_to_dict(url)
    if params.get("password"):
        params["password"] = "***"
    host = params.get("host", "")
    return f"{params.get('user', '')}@{host}:{params.get('port', '5432')}/{params.get('dbname', '')}"


def _session_options(settings: Settings, existing: str | None) -> str:
    opts = [f"-c hnsw.ef_search={settings.hnsw_ef_search}"]
    if settings.iterative_scan != "off":
        opts.append(f"-c hnsw.iterative_scan={settings.iterative_scan}")
        opts.append(f"-c ivfflat.iterative_scan={settings.iterative_scan}")
    return " ".join([existing, *opts] if existing else opts)


def connection_kwargs(url: str, settings: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect``: the URL plus nocai's session options."""
    settings = settings or get_settings()
    params = conninfo_to_dict(url)
    existing = params.get("options")
    params["options"] = _session_options(settings, str(existing) if existing else None)
    params.setdefault("connect_timeout", max(1, int(settings.connect_timeout)))
    params.setdefault("application_name", "nocai")
    return {"conninfo": make_conninfo("", **params)}


def register_vector_types(conn: psycopg.Connection) -> bool:
    """Teach psycopg the vector type if the extension exists; returns whether it did."""
    try:
        register_vector(conn)
    except psycopg.ProgrammingError:
        # The extension is not created yet (e.g. before the first migration).
        if not conn.autocommit:
            conn.rollback()
        return False
    return True


def connect(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    autocommit: bool = False,
    application_name: str | None = None,
) -> psycopg.Connection:
    """Open one connection to nocai's database, with pgvector types registered when available."""
    settings = settings or get_settings()
    url = url or database_url(settings)
    kwargs = connection_kwargs(url, settings)
    if application_name:
        kwargs["conninfo"] = make_conninfo(kwargs["conninfo"], application_name=application_name)
    try:
        conn = psycopg.connect(**kwargs, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to PostgreSQL at {describe_url(url)}: {str(exc).strip()}",
            hint="check DATABASE_URL (or unset it to use the embedded server) and that the server is running",
        ) from exc
    register_vector_types(conn)
    if not autocommit:
        conn.commit()  # end the transaction the type lookup opened
    return conn


def get_db_connection(url: str | None = None) -> psycopg.Connection:
    """A new connection to nocai's database (the guide's entry point). The caller closes it."""
    return connect(url)


def create_pool(
    settings: Settings | None = None,
    *,
    url: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    open_pool: bool = True,
) -> ConnectionPool:
    """A psycopg connection pool whose connections all carry nocai's configuration.

    Its connections are in autocommit mode: every write nocai makes through them opens its own
    ``conn.transaction()``, and a read never holds a transaction open while it waits for the next statement.
    """
    settings = settings or get_settings()
    url = url or database_url(settings)
    kwargs = connection_kwargs(url, settings)

    def configure(conn: psycopg.Connection) -> None:
        register_vector_types(conn)

    return ConnectionPool(
        kwargs["conninfo"],
        min_size=settings.pool_min_size if min_size is None else min_size,
        max_size=settings.pool_max_size if max_size is None else max_size,
        configure=configure,
        kwargs={"autocommit": True},
        timeout=settings.connect_timeout,
        name="nocai",
        open=open_pool,
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def pgvector_version(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """(installed version, version the server could install) of pgvector; None where absent."""
    installed = scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'", default=None)
    available = scalar(conn, "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'", default=None)
    return installed, available


def server_version(conn: psycopg.Connection) -> str:
    """The server's PostgreSQL version, e.g. ``18.1``."""
    version: str = scalar(conn, "SHOW server_version")
    return version


def check_pgvector(conn: psycopg.Connection) -> str:
    """Fail clearly unless pgvector >= 0.8 is installed or installable; returns the version in use."""
    installed, available = pgvector_version(conn)
    if installed is None and available is None:
        raise ExtensionError(
            "extension vector does not exist on this PostgreSQL server",
            hint="install pgvector >= 0.8 on the server (or use the pgvector/pgvector image), then run "
            "CREATE EXTENSION IF NOT EXISTS vector; — or unset DATABASE_URL to use the embedded server",
        )
    version = installed or available
    assert version is not None
    if _version_tuple(version) < MIN_PGVECTOR:
        where = "installed in this database" if installed else "offered by this server"
        raise ExtensionError(
            f"pgvector {version} is {where}; nocai needs 0.8 or newer "
            "(iterative index scans keep filtered vector searches complete)",
            hint="upgrade the pgvector package on the server, then run ALTER EXTENSION vector UPDATE;",
        )
    return version
