"""Guarded execution states of a resolution: pending → accepted → executed, or rejected / cancelled.

Every transition is checked here, on the server side, against the stored policy decision: a resolution whose
band requires approval cannot be accepted without one of the approver roles, nor executed before that
acceptance; an AUTO resolution may be executed automatically only if its rule allows it. Transitions are single
UPDATEs guarded by the current state, so two concurrent callers cannot both move the same resolution.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import psycopg

from ai_service.errors import InvalidTransitionError, NotFoundError
from ai_service.policy.models import PolicyDecision
from ai_service.policy.service import check_execution_allowed
from ai_service.resolution import store
from ai_service.resolution.models import Action, ExecutionStatus

#: action -> (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[tuple[ExecutionStatus, ...], ExecutionStatus]] = {
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
    roles: Sequence[str] | None = None,
    notes: str | None = None,
) -> ExecutionStatus:
    """Apply ``action`` to a resolution; returns the new status or raises InvalidTransitionError / NotFoundError."""
    resolution = store.get_resolution(conn, resolution_id)
    if resolution is None:
        raise NotFoundError(f"no resolution {resolution_id}", hint="`nocai incidents show ID` lists its resolutions")
    status = resolution.execution_status
    allowed_from, target = TRANSITIONS[action]
    if status is None or status not in allowed_from:
        raise InvalidTransitionError(
            f"cannot {action} a resolution that is {status or 'without a state'} "
            f"(allowed from: {', '.join(allowed_from)})",
            hint="`nocai resolve INCIDENT_ID` shows its current state",
        )
    decision = PolicyDecision.model_validate(resolution.policy_decision) if resolution.policy_decision else None
    if decision is not None and action == "accept":
        check_execution_allowed(decision, accepted_by_roles=list(roles or []), executing=False)
    if decision is not None and action == "execute":
        if status == "pending" and user is not None:
            raise InvalidTransitionError(
                "a user executes a resolution after accepting it", hint="accept it first, then execute it"
            )
        check_execution_allowed(decision, accepted_by_roles=resolution.accepted_roles, executing=True)
    with conn.transaction():
        moved = store.move(
            conn,
            resolution_id=resolution_id,
            from_status=status,
            to_status=target,
            notes=notes,
            user=user,
            roles=list(roles or []),
        )
        if not moved:
            raise InvalidTransitionError(
                f"the resolution changed state while it was being {target}", hint="read it again and retry"
            )
        store.insert_event(
            conn,
            resolution_id=resolution_id,
            incident_id=resolution.incident_id,
            action=action,
            from_status=status,
            to_status=target,
            actor=user,
            roles=list(roles or []),
            notes=notes,
        )
        if target == "accepted":
            store.stamp_incident_accepted(conn, incident_id=resolution.incident_id)
    return target
