"""Serving the API: the runtime, the workers and uvicorn, started and stopped in order.

``serve`` applies pending migrations (under the runners' lock: several replicas may start at once), checks
pgvector and the embedding model, starts NOCAI_WORKERS triage workers, and serves until SIGTERM or SIGINT; then
it takes no new request or work, lets in-flight triages finish (or releases them for another worker), closes the
pool, and releases the embedded PostgreSQL it started (stopped when no other nocai process uses it).
"""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from ai_service import logs
from ai_service.api.app import create_app
from ai_service.config import Settings
from ai_service.errors import ConfigurationError
from ai_service.service.runtime import Runtime

logger = logging.getLogger("ai_service")

OPEN_ACCESS_BANNER = (
    "\n  *** OPEN ACCESS: no API token is checked and every caller is an admin (NOCAI_OPEN_ACCESS=true, bound to "
    "{host}). For the local demo only. ***\n"
)


def serve(settings: Settings) -> None:
    """Run the service until it is stopped. Raises a NocaiError when it cannot start."""
    logs.configure(settings.log_level, settings.log_format)
    listener = _bind(settings)  # before anything starts: a port in use stops the start with its fix
    try:
        runtime = Runtime.start(settings)
    except BaseException:
        listener.close()
        raise
    if settings.open_access:
        sys.stderr.write(OPEN_ACCESS_BANNER.format(host=settings.host))
    config = uvicorn.Config(
        create_app(runtime),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
    )
    server = uvicorn.Server(config)
    logger.info(
        "serving on http://%s:%d with %d triage worker(s)",
        settings.host,
        settings.port,
        settings.workers,
        extra={"host": settings.host, "port": settings.port, "workers": settings.workers},
    )
    try:
        server.run(sockets=[listener])
    finally:
        runtime.close()
        listener.close()


def _bind(settings: Settings) -> socket.socket:
    """The listening socket, bound now (uvicorn would only exit when it finds the port taken)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((settings.host, settings.port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise ConfigurationError(
            f"could not listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            hint="set NOCAI_PORT to a free port (or NOCAI_HOST to an address of this machine), or stop what uses it",
        ) from None
    listener.set_inheritable(True)
    return listener
