"""Reading incidents whole, and asking for a new triage of one: what the API, the console and the CLI show."""

from __future__ import annotations

import base64
import json
import uuid

import psycopg
from pydantic import ValidationError

from ai_service.errors import ConflictError, InputError, NotFoundError
from ai_service.feedback import store as feedback_store
from ai_service.incidents import store
from ai_service.incidents.models import Cursor, IncidentDetail, WorkItemSummary
from ai_service.queue import store as queue_store
from ai_service.resolution import store as resolution_store


def incident_detail(conn: psycopg.Connection, incident_id: uuid.UUID) -> IncidentDetail:
    """The incident with its alert, latest triage and plan, every triage → resolution link, every resolution
    move and its work items; NotFoundError when there is none."""
    # The work items first: a worker commits the triage, the incident's summary and its item's end together, so
    # an item read as done means the incident read after it carries that triage. Read the other way round, a
    # triage committed between the two reads showed a finished item beside an incident not yet triaged.
    work = [
        WorkItemSummary.model_validate(item.model_dump())
        for item in queue_store.items(conn, statuses=("queued", "running", "done", "dead"), incident_id=incident_id)
    ]
    incident = store.get_incident(conn, incident_id)
    if incident is None:
        raise NotFoundError(f"no incident {incident_id}", hint="list the incidents to find its id")
    incident.chain = store.chain_of(conn, incident_id)
    incident.resolutions = resolution_store.resolutions_of(conn, incident_id)
    incident.events = resolution_store.events_of(conn, incident_id)
    incident.feedback = feedback_store.feedback_of(conn, incident_id)
    incident.work = work
    return incident


def request_triage(conn: psycopg.Connection, incident_id: uuid.UUID, *, max_attempts: int) -> int:
    """Queue a new triage of an incident (its alert as first received); returns the work item's id.

    ConflictError when one is already waiting or running (a second one would only repeat it)."""
    if store.get_incident(conn, incident_id) is None:
        raise NotFoundError(f"no incident {incident_id}", hint="list the incidents to find its id")
    pending = queue_store.items(conn, statuses=("queued", "running"), incident_id=incident_id, limit=1)
    if pending:
        raise ConflictError(
            f"incident {incident_id} is already queued for triage (work item {pending[0].id}, {pending[0].status})",
            hint="wait for it to finish; the incident shows the result",
        )
    alert = queue_store.latest_alert(conn, incident_id)
    if alert is None:
        raise ConflictError(
            f"incident {incident_id} was recorded without its alert, so it cannot be triaged again",
            hint="send the alert again; a new incident will be opened once this one is resolved",
        )
    with conn.transaction():
        item_id = queue_store.enqueue(conn, incident_id=incident_id, alert=alert, max_attempts=max_attempts)
        queue_store.notify(conn)
    return item_id


def encode_cursor(cursor: Cursor) -> str:
    """An opaque page token for the incident list."""
    return base64.urlsafe_b64encode(cursor.model_dump_json().encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The cursor behind a page token; InputError when it was not made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return Cursor.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise InputError(
            "cursor: not a page token of this list", hint="pass the next_cursor of the previous page unchanged"
        ) from exc
