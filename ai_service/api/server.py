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
import threading
import time
from collections.abc import Callable

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


#: What ``serve`` hands an ``on_started`` callback: call it to stop the service as SIGTERM would.
StopService = Callable[[], None]


def serve(settings: Settings, on_started: Callable[[StopService], None] | None = None) -> None:
    """Run the service until it is stopped. Raises a NocaiError when it cannot start.

    ``on_started`` (the demo uses it) runs in a thread once the server accepts requests; an exception it raises is
    logged and stops the service."""
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
    if on_started is not None:
        threading.Thread(target=_when_started, args=(server, on_started), name="on-started", daemon=True).start()
    try:
        server.run(sockets=[listener])
    finally:
        runtime.close()
        listener.close()


def _when_started(server: uvicorn.Server, callback: Callable[[StopService], None]) -> None:
    def stop() -> None:
        server.should_exit = True

    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    try:
        callback(stop)
    except Exception:
        logger.exception("stopping: the start-up task failed")
        stop()


def _bind(settings: Settings) -> socket.socket:
    """The listening socket, bound now (uvicorn would only exit when it finds the port taken)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose socket says TCP, and without it
    # every answer on a kept-alive connection waits ~40 ms for the client's delayed ACK (Nagle).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
