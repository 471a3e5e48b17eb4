"""The HTTP service's application: every route under ``/api/v1``, the OpenAPI document at ``/openapi.json`` and
its pages at ``/docs`` (Swagger UI) and ``/redoc``, served from a package's own files (no CDN: they work on an
offline NOC network).

Routes live in ``ai_service/api/routes`` by domain, so that the core packages never import the web framework.
The app holds one :class:`~ai_service.service.runtime.Runtime` (pool, embedder, policy, workers); its lifespan
closes it on shutdown (SIGTERM, SIGINT): workers finish or release their items, the pool closes, and the
embedded PostgreSQL this process started is released.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from prometheus_client.core import REGISTRY

from ai_service.api import errors
from ai_service.api.middleware import AuthGate, BodyLimit, RequestContext
from ai_service.api.routes import admin, alerts, feedback, health, incidents, insight, knowledge
from ai_service.api.routes.health import RuntimeCollector
from ai_service.service.runtime import Runtime
from ai_service.web import console

logger = logging.getLogger(__name__)

VERSION = "0.2.0"

DESCRIPTION = """nocai triages the alerts of Prometheus Alertmanager, Grafana and PagerDuty (or plain JSON) against
runbook steps and past incident signatures, and proposes an ordered, provenance-backed plan gated by a policy band.

Send `Authorization: Bearer <token>` (`nocai tokens create --role ROLE`). Roles: `ingest` (webhooks only),
`viewer` (read), `responder` (also accept, execute, reject, cancel), `admin` (also knowledge and tokens).
Every error is JSON with a stable `code`, a `message` and a `fix`."""


def create_app(runtime: Runtime, *, close_on_shutdown: bool = True) -> FastAPI:
    """The application over ``runtime``; ``close_on_shutdown`` closes the runtime when the server stops."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        collector = RuntimeCollector(runtime)
        REGISTRY.register(collector)
        if runtime.settings.open_access:
            logger.warning(
                "OPEN ACCESS: every caller is an admin and no token is checked (NOCAI_OPEN_ACCESS=true); "
                "this is for the local demo only, on %s",
                runtime.settings.host,
            )
        try:
            yield
        finally:
            REGISTRY.unregister(collector)
            if close_on_shutdown:
                runtime.close()

    app = FastAPIOffline(title="nocai", version=VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    errors.install(app)
    for router in (
        alerts.router,
        incidents.router,
        feedback.router,
        knowledge.router,
        insight.router,
        admin.tokens,
        admin.queue,
        health.router,
        console.router,
    ):
        app.include_router(router)
    app.add_middleware(AuthGate)
    app.add_middleware(BodyLimit, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(RequestContext)
    return app
