"""What the console's forms do: sign in and out, move a plan, give feedback, close an incident, keep and publish
draft runbooks.

Each action checks the form's CSRF token, the session and the role (``ai_service.web.access``), calls the same
core function as the API route of the same name, and redirects back to the page (POST-redirect-GET) with a flash
message: what nocai learned from the feedback (``Learned.changes``), or why the action was refused and what to
do. A refusal the responder can act on (the policy's approval missing, a plan already moved, a form field wrong)
comes back as that message on the page; anything else is an error page.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ai_service.auth.models import Principal
from ai_service.auth.service import authenticate
from ai_service.errors import AuthenticationError, ConflictError, InputError, NocaiError, NotFoundError
from ai_service.feedback.models import DraftRequest, DraftStep, StepFeedback, TriageFeedback
from ai_service.feedback.service import create_draft, give_step_feedback, give_triage_feedback, publish_draft
from ai_service.incidents import store as incidents_store
from ai_service.incidents.queries import request_triage
from ai_service.resolution import store as resolution_store
from ai_service.resolution.execution import transition
from ai_service.web import views
from ai_service.web.access import Admin, ConnectionDep, Responder, RuntimeDep, SignedIn, check_csrf, nonce_of
from ai_service.web.render import page
from ai_service.web.routing import ConsoleRoute
from ai_service.web.session import (
    Flash,
    Visitor,
    browser_nonce,
    clear_session,
    csrf_token,
    safe_next,
    set_flash,
    set_session,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

IncidentId = Annotated[uuid.UUID, Path()]
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=300)]
Move = Literal["accept", "execute", "reject", "cancel"]
_DONE: dict[Move, str] = {
    "accept": "Plan accepted",
    "execute": "Plan marked as executed",
    "reject": "Plan rejected",
    "cancel": "Plan cancelled",
}


def back(request: Request, visitor: Visitor, target: str, flash: Flash) -> RedirectResponse:
    """303 to ``target`` with ``flash`` waiting there."""
    response = RedirectResponse(target, status_code=303)
    set_flash(response, request, visitor.secret, flash)
    return response


def refused(exc: NocaiError) -> Flash:
    return Flash(kind="error", title=exc.message, lines=[f"Fix: {exc.hint}"] if exc.hint else [])


def invalid(exc: ValidationError) -> Flash:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "form"
        problems.append(f"{where}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return Flash(kind="error", title="The form was not sent: something in it is not right", lines=problems)


def _blank(value: str) -> str | None:
    return value.strip() or None


# --- session ---------------------------------------------------------------------------------------------------


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Form(max_length=500)] = "",
    next_: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    """Check the pasted token now and keep it as the session (the form's CSRF token is the browser nonce's)."""
    target = safe_next(next_)
    if runtime.settings.open_access:
        return RedirectResponse(target, status_code=303)
    await check_csrf(request, nonce_of(request))
    pasted = token.strip().removeprefix("Bearer ").strip()

    def check() -> Principal:
        with runtime.pool.connection() as conn:
            return authenticate(conn, f"Bearer {pasted}" if pasted else None)

    try:
        principal = await run_in_threadpool(check)
        if principal.role == "ingest":
            raise AuthenticationError(
                f"the token {principal.name!r} has role ingest, which only sends alerts",
                hint="sign in with a token of role viewer, responder or admin",
            )
    except AuthenticationError as exc:
        nonce, _ = browser_nonce(request)
        return page(
            request,
            "sign_in.html",
            None,
            status_code=401,
            csrf=csrf_token(nonce),
            next=target,
            expired=False,
            error=exc,
        )
    response = RedirectResponse(target, status_code=303)
    set_session(response, request, pasted)
    return response


@router.post("/sign-out")
def sign_out(request: Request, visitor: SignedIn) -> Response:
    """End the session (the token itself stays valid: revoke it with `nocai tokens revoke`)."""
    if visitor.via == "open":
        return RedirectResponse("/", status_code=303)
    response = RedirectResponse("/sign-in", status_code=303)
    clear_session(response, request)
    return response


# --- the plan --------------------------------------------------------------------------------------------------


@router.post("/incidents/{incident_id}/resolution/{action}")
def move_resolution(
    incident_id: IncidentId,
    action: Annotated[Move, Path()],
    request: Request,
    conn: ConnectionDep,
    visitor: Responder,
    notes: Text = "",
) -> Response:
    """Accept, execute, reject or cancel the latest plan, checked against the policy as the API does."""
    target = f"/incidents/{incident_id}#plan"
    resolution = resolution_store.latest_resolution(conn, incident_id)
    if resolution is None:
        if incidents_store.get_incident(conn, incident_id) is None:
            raise NotFoundError(f"no incident {incident_id}", hint="open it from the incident queue")
        return back(
            request,
            visitor,
            target,
            Flash(
                kind="error",
                title="This incident has no plan yet",
                lines=["Fix: wait for its triage to finish (the page shows when it is triaged)"],
            ),
        )
    try:
        status = transition(
            conn,
            resolution.id,
            action,
            user=visitor.principal.name,
            roles=visitor.principal.policy_roles,
            notes=_blank(notes),
        )
    except ConflictError as exc:
        return back(request, visitor, target, refused(exc))
    return back(request, visitor, target, Flash(title=_DONE[action], lines=[f"the plan is now {status}"]))


@router.post("/incidents/{incident_id}/triage")
def triage_again(
    incident_id: IncidentId, request: Request, conn: ConnectionDep, runtime: RuntimeDep, visitor: Responder
) -> Response:
    """Queue a new triage of the incident (the page shows the result when a worker has done it)."""
    target = f"/incidents/{incident_id}"
    try:
        item_id = request_triage(conn, incident_id, max_attempts=runtime.settings.work_max_attempts)
    except ConflictError as exc:
        return back(request, visitor, target, refused(exc))
    if runtime.workers is not None:
        runtime.workers.wake()
    return back(request, visitor, target, Flash(title="Triage queued", lines=[f"work item {item_id}"]))


# --- feedback --------------------------------------------------------------------------------------------------


def _learned(title: str, changes: list[str]) -> Flash:
    return Flash(title=title, lines=changes or ["recorded; it changed nothing in what the next triage reads"])


@router.post("/incidents/{incident_id}/feedback/triage")
def triage_feedback(
    incident_id: IncidentId,
    request: Request,
    conn: ConnectionDep,
    visitor: Responder,
    verdict: Short = "",
    failure_type: Short = "",
    error_class: Short = "",
    severity: Short = "",
    assignment_group: Short = "",
    runbook_id: Short = "",
    notes: Text = "",
) -> Response:
    """Confirm the triage, correct it (failure type, severity, assignment group, runbook) or say the runbook is
    wrong."""
    target = f"/incidents/{incident_id}#triage"
    try:
        feedback = TriageFeedback.model_validate(
            {
                "verdict": verdict.strip(),
                "failure_type": _blank(failure_type),
                "error_class": _blank(error_class),
                "severity": _blank(severity),
                "assignment_group": _blank(assignment_group),
                "runbook_id": _blank(runbook_id),
                "notes": _blank(notes),
            }
        )
    except ValidationError as exc:
        return back(request, visitor, target, invalid(exc))
    try:
        learned = give_triage_feedback(conn, incident_id, feedback, user=visitor.principal.name)
    except (ConflictError, InputError) as exc:
        return back(request, visitor, target, refused(exc))
    return back(
        request,
        visitor,
        target,
        _learned(f"Triage feedback recorded: {views.VERDICT_LABELS[feedback.verdict]}", learned.changes),
    )


@router.post("/incidents/{incident_id}/feedback/steps")
def step_feedback(
    incident_id: IncidentId,
    request: Request,
    conn: ConnectionDep,
    runtime: RuntimeDep,
    visitor: Responder,
    step_id: Short = "",
    outcome: Short = "",
    notes: Text = "",
) -> Response:
    """What happened when the responder ran a step: fixed it, did nothing, made it worse, or skipped."""
    target = f"/incidents/{incident_id}#step-{step_id.strip()}" if step_id.strip() else f"/incidents/{incident_id}"
    try:
        feedback = StepFeedback.model_validate(
            {"step_id": step_id.strip(), "outcome": outcome.strip(), "notes": _blank(notes)}
        )
    except ValidationError as exc:
        return back(request, visitor, target, invalid(exc))
    try:
        learned = give_step_feedback(conn, runtime.embedder, incident_id, feedback, user=visitor.principal.name)
    except (ConflictError, InputError) as exc:
        return back(request, visitor, target, refused(exc))
    label = views.OUTCOME_LABELS[feedback.outcome]
    return back(request, visitor, target, _learned(f"{feedback.step_id}: “{label}” recorded", learned.changes))


@router.post("/incidents/{incident_id}/close")
def close_incident(
    incident_id: IncidentId, request: Request, conn: ConnectionDep, visitor: Responder, notes: Text = ""
) -> Response:
    """Close an incident whose resolved notification will not come: its time to resolve ends now."""
    target = f"/incidents/{incident_id}"
    with conn.transaction():
        closed = incidents_store.close_incident(conn, incident_id, user=visitor.principal.name, note=notes)
    if not closed:
        if incidents_store.get_incident(conn, incident_id) is None:
            raise NotFoundError(f"no incident {incident_id}", hint="open it from the incident queue")
        return back(request, visitor, target, Flash(kind="error", title="This incident is already resolved"))
    lines = [f"closed by {visitor.principal.name}"] + ([f"notes: {notes.strip()}"] if notes.strip() else [])
    return back(request, visitor, target, Flash(title="Incident closed", lines=lines))


# --- draft runbooks --------------------------------------------------------------------------------------------


@router.post("/incidents/{incident_id}/drafts")
def write_draft(
    incident_id: IncidentId,
    request: Request,
    conn: ConnectionDep,
    visitor: Responder,
    title: Short = "",
    steps: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    """Keep the steps taken (one per line) as a draft runbook that an admin can publish."""
    target = f"/incidents/{incident_id}#draft"
    try:
        draft_request = DraftRequest(
            title=title.strip(), steps=[DraftStep.model_validate(s) for s in views.draft_steps(steps)]
        )
    except ValidationError as exc:
        return back(request, visitor, target, invalid(exc))
    draft = create_draft(conn, incident_id, draft_request, user=visitor.principal.name)
    return back(
        request,
        visitor,
        target,
        Flash(
            title=f"Draft runbook “{draft.title}” saved",
            lines=[f"{len(draft.steps)} step(s); an admin can publish it from Knowledge → Drafts"],
        ),
    )


@router.post("/knowledge/drafts/{draft_id}/publish")
def publish(
    draft_id: Annotated[uuid.UUID, Path()],
    request: Request,
    conn: ConnectionDep,
    runtime: RuntimeDep,
    visitor: Admin,
) -> Response:
    """Publish a draft into the knowledge base (written as a YAML runbook under NOCAI_DATA_DIR and ingested)."""
    try:
        published = publish_draft(
            conn,
            runtime.embedder,
            draft_id,
            folder=runtime.settings.data_dir / "runbooks" / "published",
            user=visitor.principal.name,
        )
    except (ConflictError, InputError) as exc:
        return back(request, visitor, "/knowledge/drafts", refused(exc))
    return back(
        request,
        visitor,
        f"/knowledge/runbooks/{published.runbook_id}",
        Flash(title=f"Published as runbook {published.runbook_id}", lines=["the next triage can propose its steps"]),
    )
