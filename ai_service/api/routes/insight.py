"""MTTR figures, and triage on demand for a payload that is not recorded (to try alert rules and runbooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ai_service.alerts.adapters import parse_payload
from ai_service.api.deps import ConnectionDep, Reader, RuntimeDep
from ai_service.api.errors import ERROR_RESPONSES
from ai_service.incidents import store
from ai_service.incidents.models import MttrFigures, MttrGroup
from ai_service.incidents.service import judge
from ai_service.knowledge.service import prepare_embedder
from ai_service.policy.models import PolicyDecision
from ai_service.resolution.models import ResolutionPlan
from ai_service.service.runtime import Runtime
from ai_service.triage.models import Triage

router = APIRouter(prefix="/api/v1", tags=["insight"], responses=ERROR_RESPONSES)


class MttrReport(BaseModel):
    overall: MttrFigures
    by_service: list[MttrGroup]
    by_band: list[MttrGroup]


@router.get("/metrics/mttr", response_model=MttrReport, summary="Time to resolve: mean, median, p95")
def mttr(
    conn: ConnectionDep,
    _caller: Reader,
    since: Annotated[datetime | None, Query(description="Incidents resolved at or after (RFC 3339).")] = None,
) -> MttrReport:
    return MttrReport(
        overall=store.mttr(conn, since=since),
        by_service=store.mttr_by(conn, key="service", since=since),
        by_band=store.mttr_by(conn, key="band", since=since),
    )


class Preview(BaseModel):
    title: str
    triage: Triage
    resolution: ResolutionPlan
    policy: PolicyDecision


def _preview(runtime: Runtime, body: bytes) -> list[Preview]:
    parsed = parse_payload(body)
    previews = []
    with runtime.pool.connection() as conn:
        embedder = prepare_embedder(conn, runtime.settings, runtime.embedder)
        for alert in parsed.alerts:
            if alert.status != "firing":
                continue
            judgement = judge(conn, embedder, alert, policy=runtime.policy, settings=runtime.settings)
            previews.append(
                Preview(
                    title=alert.title, triage=judgement.triage, resolution=judgement.plan, policy=judgement.decision
                )
            )
    return previews


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
    }
}


@router.post(
    "/triage/preview",
    response_model=list[Preview],
    openapi_extra=_BODY,
    summary="Triage a payload without recording anything",
)
async def preview(request: Request, runtime: RuntimeDep, _caller: Reader) -> list[Preview]:
    """What nocai would conclude for each firing alert of the payload (any supported format). Nothing is stored:
    no incident, no triage, no change to any signature."""
    body = await request.body()
    return await run_in_threadpool(_preview, runtime, body)
