"""The console's pages to read: sign-in, the incident queue (and its live rows), one incident, and insights.

Every page reads through the same core functions as the API (``ai_service.incidents.queries``, the stores) and
shows what a viewer may see; the buttons and forms of responders and admins appear only for them (the action
routes check the role again).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ai_service.feedback import store as feedback_store
from ai_service.incidents import store as incidents_store
from ai_service.incidents.models import Cursor, IncidentFilter, IncidentStatus
from ai_service.incidents.queries import decode_cursor, encode_cursor, incident_detail
from ai_service.queue import store as queue_store
from ai_service.retrieval import store as retrieval_store
from ai_service.vocabulary import BANDS, SEVERITIES
from ai_service.web import charts, views
from ai_service.web.access import ConnectionDep, Reader, RuntimeDep
from ai_service.web.render import fragment, page
from ai_service.web.routing import ConsoleRoute
from ai_service.web.session import browser_nonce, csrf_token, safe_next, set_nonce

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 50
STATUSES: tuple[IncidentStatus, ...] = ("open", "resolved")
REFRESH_SECONDS = 5
Word = TypeVar("Word", bound=str)


def _one_of(value: str | None, allowed: tuple[Word, ...]) -> Word | None:
    """A filter's value when it is one of ``allowed`` (any case), else None (the form's "any")."""
    if value is None:
        return None
    for option in allowed:
        if value.strip().lower() == option.lower():
            return option
    return None


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(
    request: Request,
    runtime: RuntimeDep,
    next_: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    expired: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """The form to paste an API token into (the open local mode needs none: straight to the queue)."""
    target = safe_next(next_)
    if runtime.settings.open_access:
        return RedirectResponse(target, status_code=303)
    nonce, new = browser_nonce(request)
    response = page(
        request,
        "sign_in.html",
        None,
        csrf=csrf_token(nonce),
        next=target,
        expired=expired == "1",
        error=None,
    )
    if new:
        set_nonce(response, request, nonce)
    return response


@router.get("/", response_class=HTMLResponse)
def queue(
    request: Request,
    conn: ConnectionDep,
    visitor: Reader,
    status: Annotated[str | None, Query(max_length=20)] = None,
    band: Annotated[str | None, Query(max_length=20)] = None,
    severity: Annotated[str | None, Query(max_length=20)] = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    fragment_: Annotated[str | None, Query(alias="fragment", max_length=20)] = None,
) -> Response:
    """The incident queue, most recently seen first; ``?fragment=rows`` is its rows alone (the live update)."""
    where = IncidentFilter(
        status=_one_of(status, STATUSES),
        band=_one_of(band, BANDS),
        severity=_one_of(severity, SEVERITIES),
        service=(service or "").strip() or None,
    )
    after = decode_cursor(cursor) if cursor else None
    found = incidents_store.list_incidents(conn, where=where, after=after, limit=PAGE_SIZE + 1)
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    states = incidents_store.triage_states(conn, [i.id for i in found])
    rows = views.queue_rows(found, states)
    next_cursor = (
        encode_cursor(Cursor(last_seen_at=found[-1].last_seen_at, id=found[-1].id)) if more and found else None
    )
    context: dict[str, Any] = {
        "rows": rows,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "now": datetime.now(UTC),
    }
    if fragment_ == "rows":
        return fragment(request, "_rows.html", **context)
    return page(
        request,
        "queue.html",
        visitor,
        where=where,
        statuses=STATUSES,
        bands=BANDS,
        severities=SEVERITIES,
        refresh_seconds=REFRESH_SECONDS,
        **context,
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: uuid.UUID, request: Request, conn: ConnectionDep, visitor: Reader) -> Response:
    """One incident: its alert, triage and why, evidence with scores, the plan and every action on it."""
    detail = incident_detail(conn, incident_id)
    normalized = queue_store.latest_alert(conn, incident_id)
    resolution = detail.resolutions[-1] if detail.resolutions else None
    step_ids = [r.step_id for r in resolution.recommendations] if resolution else []
    records = feedback_store.step_records(conn, step_ids)
    triage = detail.triage or {}
    plan = detail.resolution or {}
    signature_ids = list(
        dict.fromkeys(
            [str(s) for s in triage.get("matched_signature_ids") or []]
            + [str(s) for s in plan.get("used_signature_ids") or []]
        )
    )
    signatures = retrieval_store.signatures_by_id(conn, signature_ids)
    drafts = [d for d in feedback_store.list_drafts(conn, status=None) if d.incident_id == incident_id]
    work = incidents_store.triage_states(conn, [incident_id]).get(incident_id)
    word, word_detail = views.triage_word(detail, work)
    return page(
        request,
        "incident.html",
        visitor,
        incident=detail,
        alert=views.alert_view(detail, normalized),
        triage=triage,
        plan=plan,
        decision=detail.policy_decision or {},
        evidence=views.evidence_rows(detail.evidence),
        resolution=resolution,
        steps=views.plan_steps(resolution, records, detail.feedback),
        moves=views.moves(resolution),
        action_labels=views.ACTION_LABELS,
        approval_note=views.approval_note(resolution.policy_decision if resolution else None, visitor.principal),
        signatures=signatures,
        signature_ids=signature_ids,
        used_signature_ids=[str(s) for s in plan.get("used_signature_ids") or []],
        triage_lines=views.triage_feedback_lines(detail.feedback),
        outcomes=views.OUTCOME_LABELS,
        severities=SEVERITIES,
        drafts=drafts,
        triage_word=word,
        triage_detail=word_detail,
        now=datetime.now(UTC),
    )


@router.get("/insights", response_class=HTMLResponse)
def insights(
    request: Request,
    conn: ConnectionDep,
    visitor: Reader,
    days: Annotated[int, Query(ge=1, le=365)] = 30,
    every: Annotated[Literal["day", "week"], Query()] = "day",
) -> Response:
    """MTTR and volume: incidents per day by band, the MTTR trend, and MTTR by service and band."""
    now = datetime.now(UTC)
    last = now.date()
    first = last - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    volume = charts.volume_chart(incidents_store.daily_volume(conn, since=since), first=first, last=last)
    trend = charts.mttr_chart(
        incidents_store.mttr_series(conn, since=since, every=every), first=first, last=last, every=every
    )
    return page(
        request,
        "insights.html",
        visitor,
        days=days,
        every=every,
        volume=volume,
        trend=trend,
        overall=incidents_store.mttr(conn, since=since),
        by_service=incidents_store.mttr_by(conn, key="service", since=since),
        by_band=incidents_store.mttr_by(conn, key="band", since=since),
        ranges=(7, 30, 90),
    )
