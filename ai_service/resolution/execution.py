"""Guarded execution states of a resolution: pending → accepted → executed, or rejected / cancelled.

Every transition is checked here, on the server side, against the stored policy decision: a resolution whose
band requires approval cannot be accepted without one of the approver roles, nor executed before that
acceptance; an AUTO resolution may be executed automatically only if its rule allows it. Transitions are single
UPDATEs guarded by the current state, so two concurrent callers cannot both move the same resolution.
"""

from __future__ import annotations

import uuid
from typing import Literal

import psycopg

from ai_service.errors import InvalidTransitionError, NotFoundError
from ai_service.policy.models import PolicyDecision
from ai_service.policy.service import check_execution_allowed

Action = Literal["accept", "execute", "reject", "cancel"]
#: action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "accept": (("pending",), "accepted"),
    "execute": (("accepted", "pending"), "executed"),
    "reject": (("pending",), "rejected"),
    "cancel": (("pending", "accepted"), "cancelled"),
}


def transition(
    conn: psycopg.Connection,
    resolution_id: uuid.UUID,
    action: Action,
    *,
    user: str | None = None,
    roles: list[str] | None = None,
    notes: str | None = None,
) -> str:
    """Apply ``action`` to a resolution; returns the new status or raises InvalidTransitionError / NotFoundError."""
    row = conn.execute(
        "SELECT execution_status, policy_decision, accepted_roles, incident_id FROM resolution_outputs WHERE id = %s",
        (resolution_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no resolution {resolution_id}", hint="`nocai incidents show ID` lists its resolutions")
    status, stored_decision, accepted_roles, incident_id = row
    allowed_from, target = TRANSITIONS[action]
    if status not in allowed_from:
        raise InvalidTransitionError(
            f"cannot {action} a resolution that is {status} (allowed from: {', '.join(allowed_from)})",
            hint="`nocai resolve INCIDENT_ID` shows its current state",
        )
    decision = PolicyDecision.model_validate(stored_decision) if stored_decision else None
    if decision is not None and action == "accept":
        check_execution_allowed(decision, accepted_by_roles=roles or [], executing=False)
    if decision is not None and action == "execute":
        if status == "pending" and user is not None:
            raise InvalidTransitionError(
                "a user executes a resolution after accepting it", hint="accept it first, then execute it"
            )
        check_execution_allowed(decision, accepted_by_roles=accepted_roles, executing=True)
    stamp = {"accepted": "accepted_at", "executed": "executed_at"}.get(target)
    with conn.transaction():
        updated = conn.execute(
            "UPDATE resolution_outputs SET execution_status = %s, execution_notes = coalesce(%s, execution_notes)"
            + (f", {stamp} = now()" if stamp else "")
            + (", accepted_by = %s, accepted_roles = %s" if target == "accepted" else "")
            + " WHERE id = %s AND execution_status = %s",
            (
                (target, notes, user, roles or [], resolution_id, status)
                if target == "accepted"
                else (target, notes, resolution_id, status)
            ),
        ).rowcount
        if updated != 1:
            raise InvalidTransitionError(
                f"the resolution changed state while it was being {target}", hint="read it again and retry"
            )
        if target == "accepted":
            conn.execute("UPDATE incidents SET resolution_accepted_at = now() WHERE id = %s", (incident_id,))
    return target
