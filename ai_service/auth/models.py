"""API tokens and what each role may do.

Roles, from the narrowest: ``ingest`` may only send alerts (what Alertmanager, Grafana and PagerDuty are given);
``viewer`` reads incidents, knowledge and metrics; ``responder`` also accepts, executes, rejects and cancels
resolutions and gives feedback; ``admin`` may do everything, including changing the knowledge base and the tokens.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["ingest", "viewer", "responder", "admin"]
ROLES: tuple[Role, ...] = ("ingest", "viewer", "responder", "admin")

Permission = Literal["ingest", "read", "respond", "admin"]

#: What each role may do.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "ingest": frozenset({"ingest"}),
    "viewer": frozenset({"read"}),
    "responder": frozenset({"read", "respond"}),
    "admin": frozenset({"ingest", "read", "respond", "admin"}),
}

#: The policy roles a token carries when none are given: a responder may accept what the policy lets an
#: operator accept (PROPOSE in the default policy); an admin what an admin may (everything).
DEFAULT_POLICY_ROLES: dict[Role, tuple[str, ...]] = {
    "ingest": (),
    "viewer": (),
    "responder": ("operator",),
    "admin": ("admin",),
}


class ApiToken(BaseModel):
    """A stored token (never the secret itself: only its SHA-256 and its first characters)."""

    id: uuid.UUID
    name: str
    role: Role
    policy_roles: list[str] = Field(description="Roles checked against the policy's approvers (e.g. sre).")
    token_prefix: str = Field(description="The token's first characters, to recognise it in a list.")
    created_at: datetime
    created_by: str | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Principal(BaseModel):
    """Who is making a request: a token's name, role and policy roles (or the open local mode)."""

    name: str
    role: Role
    policy_roles: list[str]
    token_id: uuid.UUID | None = None

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]


class NewToken(BaseModel):
    """A token just created: the secret is in ``token`` and is shown this once."""

    token: str
    stored: ApiToken
