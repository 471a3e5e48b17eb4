"""SQL of the work queue: enqueue, claim with ``FOR UPDATE SKIP LOCKED`` and a lease, finish, retry, report.

A claim marks one ready item ``running`` under a fresh lease token and counts the attempt. Its outcome is
written by statements guarded by that token: if the lease expired and another worker took the item, the late
worker's ``complete`` finds no row and its transaction (holding the triage rows) is rolled back, so an item is
triaged once. ``reap`` returns items whose lease expired to the queue (or to ``dead`` when they have no attempt
left). ``NOTIFY nocai_work`` wakes idle workers when an enqueue commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ai_service.queue.models import QueueStatus, WorkItem
from db.queries import scalar

#: The LISTEN/NOTIFY channel enqueues signal on.
CHANNEL = "nocai_work"

_NAMES = tuple(WorkItem.model_fields)  # the columns, in the model's order
_COLUMNS = ", ".join(_NAMES)
_UPDATED_COLUMNS = ", ".join(f"w.{name}" for name in _NAMES)


def enqueue(
    conn: psycopg.Connection,
    *,
    incident_id: uuid.UUID,
    alert: dict[str, Any],
    max_attempts: int,
    wake: bool = False,
) -> int:
    """Add a triage item (inside the caller's transaction, with the incident it is for); returns its id. With
    ``wake``, the same statement notifies the workers (as :func:`notify`; one round trip less on the webhook path)."""
    insert = (
        "INSERT INTO work_items (incident_id, kind, alert, max_attempts) VALUES (%s, 'triage', %s, %s) RETURNING id"
    )
    if not wake:
        item_id: int = scalar(conn, insert, (incident_id, Jsonb(alert), max_attempts))
        return item_id
    woken: int = scalar(
        conn,
        f"WITH item AS ({insert}) SELECT item.id FROM item, LATERAL pg_notify(%s, '') AS woken",
        (incident_id, Jsonb(alert), max_attempts, CHANNEL),
    )
    return woken


def notify(conn: psycopg.Connection) -> None:
    """Wake the workers listening on :data:`CHANNEL` (delivered when the caller's transaction commits)."""
    conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))


def listen(conn: psycopg.Connection) -> None:
    """Subscribe an autocommit connection to :data:`CHANNEL`."""
    conn.execute(f"LISTEN {CHANNEL}")


def claim(
    conn: psycopg.Connection, *, worker: str, lease_seconds: float, item_ids: Sequence[int] | None = None
) -> WorkItem | None:
    """Take the oldest ready item (or the first ready one of ``item_ids``) under a new lease; None when none."""
    with conn.cursor(row_factory=class_row(WorkItem)) as cur:
        return cur.execute(
            "WITH next AS ("
            "  SELECT id FROM work_items"
            "  WHERE status = 'queued' AND available_at <= now()"
            "    AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[]))"
            "  ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ")"
            " UPDATE work_items AS w SET status = 'running', attempts = w.attempts + 1,"
            "   lease_token = gen_random_uuid(), leased_by = %(worker)s,"
            "   lease_expires_at = now() + make_interval(secs => %(lease)s), started_at = now()"
            f" FROM next WHERE w.id = next.id RETURNING {_UPDATED_COLUMNS}",
            {"ids": list(item_ids) if item_ids is not None else None, "worker": worker, "lease": lease_seconds},
        ).fetchone()


def complete(conn: psycopg.Connection, *, item_id: int, lease_token: uuid.UUID) -> bool:
    """Mark a claimed item done (inside the transaction that stored its result); False when the lease was lost."""
    done = conn.execute(
        "UPDATE work_items SET status = 'done', finished_at = now(), lease_token = NULL, lease_expires_at = NULL,"
        " last_error = NULL WHERE id = %s AND lease_token = %s AND status = 'running'",
        (item_id, lease_token),
    ).rowcount
    return done == 1


def fail(
    conn: psycopg.Connection, *, item_id: int, lease_token: uuid.UUID, error: str, retry_in_seconds: float
) -> str | None:
    """Record a failed attempt: back to the queue after ``retry_in_seconds``, or ``dead`` when no attempt is left.
    Returns the new status (None when the lease was lost meanwhile)."""
    status: str | None = scalar(
        conn,
        "UPDATE work_items SET"
        " status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,"
        " available_at = now() + make_interval(secs => %s), last_error = %s, lease_token = NULL,"
        " lease_expires_at = NULL, finished_at = CASE WHEN attempts >= max_attempts THEN now() END"
        " WHERE id = %s AND lease_token = %s AND status = 'running' RETURNING status",
        (retry_in_seconds, error[:4000], item_id, lease_token),
        default=None,
    )
    return status


def release(conn: psycopg.Connection, *, item_id: int, lease_token: uuid.UUID) -> bool:
    """Give a claimed item back untouched (a worker stopping): the attempt does not count."""
    released = conn.execute(
        "UPDATE work_items SET status = 'queued', attempts = greatest(attempts - 1, 0), lease_token = NULL,"
        " lease_expires_at = NULL, available_at = now() WHERE id = %s AND lease_token = %s AND status = 'running'",
        (item_id, lease_token),
    ).rowcount
    return released == 1


def extend(conn: psycopg.Connection, *, item_id: int, lease_token: uuid.UUID, lease_seconds: float) -> bool:
    """Renew a lease (a worker still busy with a slow item); False when it was lost."""
    extended = conn.execute(
        "UPDATE work_items SET lease_expires_at = now() + make_interval(secs => %s)"
        " WHERE id = %s AND lease_token = %s AND status = 'running'",
        (lease_seconds, item_id, lease_token),
    ).rowcount
    return extended == 1


def reap(conn: psycopg.Connection) -> int:
    """Return items whose lease expired (their worker died) to the queue, or to ``dead`` when out of attempts."""
    return conn.execute(
        "UPDATE work_items SET"
        " status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,"
        " finished_at = CASE WHEN attempts >= max_attempts THEN now() END,"
        " last_error = 'the worker ' || coalesce(leased_by, '?') || ' stopped before finishing (lease expired at '"
        "   || to_char(lease_expires_at, 'YYYY-MM-DD HH24:MI:SS TZ') || ')',"
        " lease_token = NULL, lease_expires_at = NULL, available_at = now()"
        " WHERE status = 'running' AND lease_expires_at < now()"
    ).rowcount


def status(conn: psycopg.Connection) -> QueueStatus:
    """Counts by state and the oldest ready item's age."""
    with conn.cursor(row_factory=class_row(QueueStatus)) as cur:
        found = cur.execute(
            "SELECT count(*) FILTER (WHERE status = 'queued') AS queued,"
            " count(*) FILTER (WHERE status = 'running') AS running,"
            " count(*) FILTER (WHERE status = 'done') AS done,"
            " count(*) FILTER (WHERE status = 'dead') AS dead,"
            " extract(epoch FROM now() - min(available_at) FILTER (WHERE status = 'queued'"
            "   AND available_at <= now()))::float8 AS oldest_queued_seconds,"
            " count(*) FILTER (WHERE status = 'running' AND lease_expires_at < now()) AS expired_leases"
            " FROM work_items"
        ).fetchone()
    assert found is not None  # an aggregate always returns one row
    return found


def items(
    conn: psycopg.Connection, *, statuses: Sequence[str], limit: int = 50, incident_id: uuid.UUID | None = None
) -> list[WorkItem]:
    """Items in these states, newest first."""
    with conn.cursor(row_factory=class_row(WorkItem)) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM work_items WHERE status = ANY(%s)"
            " AND (%s::uuid IS NULL OR incident_id = %s) ORDER BY enqueued_at DESC, id DESC LIMIT %s",
            (list(statuses), incident_id, incident_id, limit),
        ).fetchall()


def get(conn: psycopg.Connection, item_id: int) -> WorkItem | None:
    """One item by id."""
    with conn.cursor(row_factory=class_row(WorkItem)) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM work_items WHERE id = %s", (item_id,)).fetchone()


def retry(conn: psycopg.Connection, *, item_ids: Sequence[int] | None = None) -> list[int]:
    """Put dead items (all of them, or these) back in the queue with fresh attempts; returns their ids."""
    with conn.cursor(row_factory=class_row(_Id)) as cur:
        rows = cur.execute(
            "UPDATE work_items SET status = 'queued', attempts = 0, available_at = now(), finished_at = NULL"
            " WHERE status = 'dead' AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[])) RETURNING id",
            {"ids": list(item_ids) if item_ids is not None else None},
        ).fetchall()
    return [row.id for row in rows]


@dataclass(frozen=True)
class _Id:
    id: int


def latest_alert(conn: psycopg.Connection, incident_id: uuid.UUID) -> dict[str, Any] | None:
    """The normalised alert the incident's latest work item was queued with (to triage it again)."""
    alert: dict[str, Any] | None = scalar(
        conn,
        "SELECT alert FROM work_items WHERE incident_id = %s ORDER BY enqueued_at DESC, id DESC LIMIT 1",
        (incident_id,),
        default=None,
    )
    return alert
