"""Webhooks: Alertmanager, Grafana, PagerDuty or plain JSON in; 202 with what happened to each alert out.

The body is read whole, checked (signature where a secret is set, size, nesting, encoding, format), and its
alerts are recorded with their triage work items in one transaction before the answer goes out; triage then runs
in the workers. Nothing is recorded for a refused payload.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status
from starlette.concurrency import run_in_threadpool

from ai_service import metrics
from ai_service.alerts.adapters import canonical_format, parse_payload
from ai_service.alerts.models import AlertSource, ParsedPayload
from ai_service.api.deps import RuntimeDep, require
from ai_service.api.errors import ERROR_RESPONSES, ErrorBody
from ai_service.auth.models import Principal
from ai_service.auth.service import verify_grafana, verify_pagerduty
from ai_service.errors import NocaiError
from ai_service.incidents.intake import IntakeReport, record_payload
from ai_service.service.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["alerts"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": ["object", "array"], "description": "The sender's webhook body, unchanged."}
            }
        },
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    413: {"model": ErrorBody, "description": "The body is larger than NOCAI_MAX_BODY_BYTES."},
}


Ingester = Annotated[Principal, Depends(require("ingest"))]


def _verify_signature(runtime: Runtime, fmt: AlertSource, body: bytes, request: Request) -> None:
    settings = runtime.settings
    if fmt == "pagerduty" and settings.pagerduty_webhook_secret is not None:
        verify_pagerduty(
            settings.pagerduty_webhook_secret.get_secret_value(), body, request.headers.get("x-pagerduty-signature")
        )
    if fmt == "grafana" and settings.grafana_webhook_secret is not None:
        verify_grafana(
            settings.grafana_webhook_secret.get_secret_value(),
            body,
            request.headers.get(settings.grafana_signature_header),
            request.headers.get(settings.grafana_timestamp_header) if settings.grafana_timestamp_header else None,
        )


def _receive(runtime: Runtime, request: Request, body: bytes, fmt: AlertSource | None) -> IntakeReport:
    if fmt is not None:
        _verify_signature(runtime, fmt, body, request)  # before reading a word of it
    try:
        parsed: ParsedPayload = parse_payload(body, fmt)
    except NocaiError as exc:
        metrics.PAYLOADS_REFUSED.labels(code=exc.code).inc()
        raise
    if fmt is None:
        _verify_signature(runtime, parsed.format, body, request)
    with runtime.pool.connection() as conn:
        report = record_payload(conn, parsed, max_attempts=runtime.settings.work_max_attempts)
    for receipt in report.alerts:
        metrics.ALERTS.labels(format=report.format, outcome=receipt.outcome).inc()
    if runtime.workers is not None and report.work_item_ids:
        runtime.workers.wake()
    return report


@router.post(
    "/alerts",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntakeReport,
    responses=_RESPONSES,
    openapi_extra=_BODY,
    summary="Receive a webhook of any supported format (detected)",
)
async def receive_detected(request: Request, runtime: RuntimeDep, _caller: Ingester) -> IntakeReport:
    """Alertmanager (v4), Grafana, PagerDuty (v3) or generic JSON, detected from the body. Each new alert opens an
    incident queued for triage; repeats count on the open incident; resolved notifications close it."""
    body = await request.body()
    return await run_in_threadpool(_receive, runtime, request, body, None)


@router.post(
    "/alerts/{format}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntakeReport,
    responses=_RESPONSES,
    openapi_extra=_BODY,
    summary="Receive a webhook of a named format",
)
async def receive_named(
    request: Request,
    runtime: RuntimeDep,
    _caller: Ingester,
    format: Annotated[str, Path(description="alertmanager, grafana, pagerduty or generic (any case).")],
) -> IntakeReport:
    """Like ``POST /api/v1/alerts`` for a body of the named format (refused with the field path when it is not)."""
    fmt = canonical_format(format)
    body = await request.body()
    return await run_in_threadpool(_receive, runtime, request, body, fmt)
