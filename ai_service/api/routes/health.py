"""Liveness, readiness and the Prometheus metrics.

Liveness says the process answers. Readiness says it can do its job: the database answers and every migration
is applied (a load balancer sends no traffic before). Both, and ``/metrics``, need no token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from ai_service.api.deps import RuntimeDep
from ai_service.api.errors import ErrorBody, error_response
from ai_service.queue import store as queue_store
from ai_service.service.runtime import Runtime
from db import migrate

router = APIRouter(tags=["health"])


@router.get("/api/v1/health/live", summary="The process answers")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/api/v1/health/ready",
    summary="The database answers and every migration is applied",
    responses={503: {"model": ErrorBody, "description": "Not ready; the message says why."}},
)
def ready(runtime: RuntimeDep) -> JSONResponse:
    try:
        with runtime.pool.connection(timeout=5) as conn:
            plan = migrate.make_plan(conn, migrate.discover())
    except Exception as exc:  # any failure means not ready: say why
        return error_response(503, "not_ready", f"the database does not answer: {exc}", "check DATABASE_URL")
    pending = [f.filename for f in plan.pending]
    problems = [f"{i.filename} ({i.state})" for i in plan.problems]
    if pending or problems:
        return error_response(
            503,
            "migrations_pending",
            "the database is not up to date: " + ", ".join(pending + problems),
            "run python scripts/db/run_migration.py (or restart the service, which migrates)",
        )
    workers = runtime.workers.count if runtime.workers is not None else 0
    return JSONResponse({"status": "ready", "migrations": len(plan.items), "workers": workers})


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    return live()


@router.get("/readyz", include_in_schema=False)
def readyz(runtime: RuntimeDep) -> JSONResponse:
    return ready(runtime)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def prometheus_metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class RuntimeCollector(Collector):
    """Gauges read when scraped: the queue (from the database, the same for every replica) and this process's
    connection pool."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Any:
        depth = GaugeMetricFamily("nocai_queue_items", "Work items by state.", labels=["status"])
        oldest = GaugeMetricFamily("nocai_queue_oldest_seconds", "Age of the oldest work item ready to run.")
        try:
            with self.runtime.pool.connection(timeout=2) as conn:
                state = queue_store.status(conn)
            for name in ("queued", "running", "done", "dead"):
                depth.add_metric([name], getattr(state, name))
            oldest.add_metric([], state.oldest_queued_seconds or 0.0)
            yield depth
            yield oldest
        except Exception:  # a scrape must not fail because the database is down: /health/ready says so
            pass
        stats = self.runtime.pool.get_stats()
        pool = GaugeMetricFamily("nocai_pool_connections", "Connections of this process's pool.", labels=["state"])
        pool.add_metric(["open"], stats.get("pool_size", 0))
        pool.add_metric(["idle"], stats.get("pool_available", 0))
        pool.add_metric(["waiting_requests"], stats.get("requests_waiting", 0))
        yield pool
