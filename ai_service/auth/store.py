"""SQL of API tokens: create, find by digest, list, revoke."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import psycopg
from psycopg.rows import class_row

from ai_service.auth.models import ApiToken, Role

_COLUMNS = "id, name, role, policy_roles, token_prefix, created_at, created_by, last_used_at, revoked_at"


def insert_token(
    conn: psycopg.Connection,
    *,
    name: str,
    role: Role,
    policy_roles: Sequence[str],
    token_sha256: str,
    token_prefix: str,
    created_by: str | None,
) -> ApiToken:
    """Store a new token's digest; returns the stored row."""
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        stored = cur.execute(
            "INSERT INTO api_tokens (name, role, policy_roles, token_sha256, token_prefix, created_by)"
            f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
            (name, role, list(policy_roles), token_sha256, token_prefix, created_by),
        ).fetchone()
    assert stored is not None  # INSERT ... RETURNING returns the row it inserted
    return stored


def use_by_digest(conn: psycopg.Connection, token_sha256: str) -> ApiToken | None:
    """The token whose SHA-256 is ``token_sha256`` (revoked ones included: the caller says why it is refused),
    recording that an active one was used — at most once a minute, so busy webhooks do not write on every call.
    One statement: authentication costs one round trip on every request."""
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        return cur.execute(
            f"WITH found AS (SELECT {_COLUMNS} FROM api_tokens WHERE token_sha256 = %(digest)s),"
            " used AS (UPDATE api_tokens SET last_used_at = now()"
            "  WHERE token_sha256 = %(digest)s AND revoked_at IS NULL"
            "    AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))"
            f" SELECT {_COLUMNS} FROM found",
            {"digest": token_sha256},
        ).fetchone()


def list_tokens(conn: psycopg.Connection, *, include_revoked: bool = False) -> list[ApiToken]:
    """Every token, newest first."""
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM api_tokens WHERE %s OR revoked_at IS NULL ORDER BY created_at DESC, id",
            (include_revoked,),
        ).fetchall()


def revoke(conn: psycopg.Connection, *, token_id: uuid.UUID | None = None, prefix: str | None = None) -> list[ApiToken]:
    """Revoke the token with this id, or the active tokens starting with this prefix; returns what was revoked."""
    with conn.cursor(row_factory=class_row(ApiToken)) as cur:
        return cur.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL"
            " AND ((%(id)s::uuid IS NOT NULL AND id = %(id)s) OR (%(prefix)s::text IS NOT NULL"
            "      AND starts_with(token_prefix, %(prefix)s)))"
            f" RETURNING {_COLUMNS}",
            {"id": token_id, "prefix": prefix},
        ).fetchall()
