"""API tokens: minting, checking and revoking them, and webhook signature checks.

A token is ``nocai_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: with that
much entropy a fast digest is enough (nothing to brute-force), and a lookup is one indexed equality. A request
carries it as ``Authorization: Bearer <token>``.

What this module must never do: store, log or return a token after the call that created it; compare secrets
with ``==`` (timing); accept a revoked token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence

import psycopg

from ai_service.auth import store
from ai_service.auth.models import DEFAULT_POLICY_ROLES, ROLES, ApiToken, NewToken, Principal, Role
from ai_service.errors import AuthenticationError, InputError, NotFoundError

TOKEN_PREFIX = "nocai_"
_SHOWN = 12  # characters of a token kept to recognise it


def digest(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    """A role name in any case; InputError naming the roles otherwise."""
    for role in ROLES:
        if value.strip().lower() == role:
            return role
    raise InputError(f"unknown role {value!r}", hint=f"use one of: {', '.join(ROLES)}")


def create_token(
    conn: psycopg.Connection,
    *,
    role: Role,
    name: str | None = None,
    policy_roles: Sequence[str] | None = None,
    created_by: str | None = None,
) -> NewToken:
    """Mint a token with ``role``; ``policy_roles`` default to the role's (see ``DEFAULT_POLICY_ROLES``)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    roles = [r.strip().lower() for r in (policy_roles if policy_roles is not None else DEFAULT_POLICY_ROLES[role])]
    if any(not r or any(c.isspace() for c in r) for r in roles):
        raise InputError("a policy role is one word, e.g. sre", hint="give --policy-role once per role")
    stored = store.insert_token(
        conn,
        name=(name or f"{role}-{token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 6]}").strip()[:200],
        role=role,
        policy_roles=roles,
        token_sha256=digest(token),
        token_prefix=token[:_SHOWN],
        created_by=created_by,
    )
    return NewToken(token=token, stored=stored)


def authenticate(conn: psycopg.Connection, authorization: str | None) -> Principal:
    """The principal of an ``Authorization`` header value; AuthenticationError when missing, malformed, unknown
    or revoked."""
    if not authorization or not authorization.strip():
        raise AuthenticationError(
            "no API token was sent",
            hint="send 'Authorization: Bearer <token>'; `nocai tokens create --role viewer` makes one",
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(
            "the Authorization header is not a bearer token",
            hint="send 'Authorization: Bearer <token>' (the token printed by `nocai tokens create`)",
        )
    found = store.use_by_digest(conn, digest(token))
    if found is None:
        raise AuthenticationError(
            "this API token is not known", hint="check the token, or create one with `nocai tokens create`"
        )
    if found.revoked_at is not None:
        raise AuthenticationError(
            f"this API token ({found.name}) was revoked on {found.revoked_at:%Y-%m-%d %H:%M} UTC",
            hint="ask an admin for a new token (`nocai tokens create`)",
        )
    return Principal(name=found.name, role=found.role, policy_roles=found.policy_roles, token_id=found.id)


def revoke_token(conn: psycopg.Connection, key: str) -> list[ApiToken]:
    """Revoke a token by id or by the first characters it is listed with; NotFoundError when none matches."""
    token_id = _as_uuid(key)
    prefix = None if token_id is not None else key.strip()
    if prefix is not None and len(prefix) < 8:
        raise InputError(
            f"{key!r} is too short to name a token safely",
            hint="give the token's id or at least 8 of its first characters (`nocai tokens list` shows them)",
        )
    revoked = store.revoke(conn, token_id=token_id, prefix=prefix)
    if not revoked:
        raise NotFoundError(f"no active token matches {key!r}", hint="`nocai tokens list` shows the active tokens")
    return revoked


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


# --- webhook signatures -----------------------------------------------------------------------------------------


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_pagerduty(secret: str, body: bytes, header: str | None) -> None:
    """PagerDuty v3: ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>`` (several, comma-separated,
    while a secret is being rotated). AuthenticationError unless one matches."""
    if not header:
        raise AuthenticationError(
            "the PagerDuty webhook has no X-PagerDuty-Signature header",
            hint="set the webhook subscription's signing secret to NOCAI_PAGERDUTY_WEBHOOK_SECRET",
        )
    expected = "v1=" + _hmac_hex(secret, body)
    given = [part.strip() for part in header.split(",")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise AuthenticationError(
            "the X-PagerDuty-Signature does not match the body",
            hint="check that NOCAI_PAGERDUTY_WEBHOOK_SECRET is the subscription's current signing secret",
        )


def verify_grafana(
    secret: str, body: bytes, signature: str | None, timestamp: str | None, *, max_age_seconds: float = 300
) -> None:
    """Grafana's webhook HMAC: hex HMAC-SHA256 of the body, or of ``<timestamp>:<body>`` when the contact point
    sends a timestamp header (then it must be within ``max_age_seconds``, against replays)."""
    if not signature:
        raise AuthenticationError(
            "the Grafana webhook has no signature header",
            hint="set the contact point's HMAC secret to NOCAI_GRAFANA_WEBHOOK_SECRET (and the header name to "
            "NOCAI_GRAFANA_SIGNATURE_HEADER)",
        )
    message = body
    if timestamp is not None:
        try:
            sent = float(timestamp)
        except ValueError:
            raise AuthenticationError(
                f"the Grafana signature timestamp {timestamp[:40]!r} is not a number of seconds",
                hint="leave the contact point's timestamp header to Grafana",
            ) from None
        if abs(time.time() - sent) > max_age_seconds:
            raise AuthenticationError(
                "the Grafana webhook's timestamp is more than 5 minutes away from now (a replay, or a wrong clock)",
                hint="check the clocks of Grafana and nocai (NTP)",
            )
        message = timestamp.encode("utf-8") + b":" + body
    if not hmac.compare_digest(_hmac_hex(secret, message), signature.strip().lower()):
        raise AuthenticationError(
            "the Grafana webhook signature does not match the body",
            hint="check that NOCAI_GRAFANA_WEBHOOK_SECRET is the contact point's HMAC secret",
        )
