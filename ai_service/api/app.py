"""The HTTP service's application factory. Routes of each domain live in that domain's ``api.py``.

For now the service exposes health and readiness; it is built so that later routers (alerts, incidents,
feedback, metrics) mount on the same app and share the one connection pool kept on ``app.state``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool

from ai_service.config import Settings
from ai_service.errors import NocaiError
from db import migrate


def create_app(settings: Settings, pool: ConnectionPool) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

    app = FastAPI(title="nocai", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.pool = pool

    @app.exception_handler(NocaiError)
    async def nocai_error(_request, exc: NocaiError) -> JSONResponse:  # type: ignore[no-untyped-def]
        return JSONResponse(status_code=exc.http_status, content={"error": exc.message, "fix": exc.hint})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """Readiness: the database answers and every migration is applied."""
        try:
            with pool.connection() as conn:
                plan = migrate.make_plan(conn, migrate.discover())
        except Exception as exc:  # any failure means not ready; say why
            return JSONResponse(status_code=503, content={"status": "unavailable", "error": str(exc)})
        pending = [f.filename for f in plan.pending]
        problems = [f"{i.filename} ({i.state})" for i in plan.problems]
        if pending or problems:
            return JSONResponse(
                status_code=503, content={"status": "migrations", "pending": pending, "problems": problems}
            )
        return JSONResponse(content={"status": "ready", "migrations": len(plan.items)})

    return app
