"""SQL of feedback and of the track records it builds: signatures', steps', and runbook choices per pattern."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from ai_service.feedback.models import (
    AssignmentCorrection,
    FeedbackRecord,
    FeedbackType,
    IncidentFacts,
    RunbookChoice,
    RunbookDraft,
    StepOutcome,
)
from ai_service.resolution.models import StepRecord
from db.queries import scalar

_FEEDBACK_COLUMNS = (
    "id, incident_id, feedback_type, kind, user_name, step_id, system_output, user_edited, diff, notes, created_at"
)


def insert_feedback(
    conn: psycopg.Connection,
    *,
    incident_id: uuid.UUID,
    feedback_type: FeedbackType,
    kind: str,
    user: str,
    step_id: str | None = None,
    triage_result_id: uuid.UUID | None = None,
    resolution_id: uuid.UUID | None = None,
    system_output: Any = None,
    user_edited: Any = None,
    diff: Any = None,
    notes: str | None = None,
) -> uuid.UUID:
    """Store one piece of feedback; returns its id."""
    feedback_id: uuid.UUID = scalar(
        conn,
        "INSERT INTO feedback (incident_id, feedback_type, kind, user_name, step_id, triage_result_id,"
        " resolution_id, system_output, user_edited, diff, notes)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            incident_id,
            feedback_type,
            kind,
            user,
            step_id,
            triage_result_id,
            resolution_id,
            Jsonb(system_output) if system_output is not None else None,
            Jsonb(user_edited) if user_edited is not None else None,
            Jsonb(diff) if diff is not None else None,
            notes,
        ),
    )
    return feedback_id


def feedback_of(conn: psycopg.Connection, incident_id: uuid.UUID) -> list[FeedbackRecord]:
    """Every piece of feedback on an incident, oldest first."""
    with conn.cursor(row_factory=class_row(FeedbackRecord)) as cur:
        return cur.execute(
            f"SELECT {_FEEDBACK_COLUMNS} FROM feedback WHERE incident_id = %s ORDER BY created_at, id", (incident_id,)
        ).fetchall()


def has_feedback(
    conn: psycopg.Connection, incident_id: uuid.UUID, *, feedback_type: FeedbackType, kinds: Sequence[str]
) -> bool:
    """Whether the incident already has feedback of this type and one of these kinds."""
    found: bool = scalar(
        conn,
        "SELECT EXISTS (SELECT 1 FROM feedback WHERE incident_id = %s AND feedback_type = %s AND kind = ANY(%s))",
        (incident_id, feedback_type, list(kinds)),
    )
    return found


def learned_rows(conn: psycopg.Connection) -> int:
    """How many rows of feedback and of what it teaches (runbook choices, step records) the database holds."""
    count: int = scalar(
        conn,
        "SELECT (SELECT count(*) FROM feedback) + (SELECT count(*) FROM runbook_choices)"
        " + (SELECT count(*) FROM step_records)",
    )
    return count


# --- signatures' track records -------------------------------------------------------------------------------


def judge_signatures(conn: psycopg.Connection, signature_ids: Sequence[str], *, confirmed: bool) -> int:
    """A responder judged these signatures' match: one more judged match, confirmed or refuted."""
    if not signature_ids:
        return 0
    return conn.execute(
        "UPDATE incident_signatures SET match_count = match_count + 1,"
        " confirmed_count = confirmed_count + %s::int WHERE incident_signature_id = ANY(%s)",
        (confirmed, list(signature_ids)),
    ).rowcount


def count_fix(conn: psycopg.Connection, signature_ids: Sequence[str]) -> int:
    """A plan these signatures lent history to fixed the incident: one more confirmed fix each."""
    if not signature_ids:
        return 0
    return conn.execute(
        "UPDATE incident_signatures SET resolution_success_count = resolution_success_count + 1"
        " WHERE incident_signature_id = ANY(%s)",
        (list(signature_ids),),
    ).rowcount


# --- steps' track records ------------------------------------------------------------------------------------


def record_step(
    conn: psycopg.Connection, *, step_id: str, outcome: StepOutcome, replacing: StepOutcome | None = None
) -> StepRecord:
    """Count one outcome of a step; returns its record. ``replacing`` is the outcome the same incident reported
    for this step before, which the new one takes the place of: an incident counts once in a step's record,
    however often its responder changes their mind (or clicks twice)."""
    with conn.cursor(row_factory=class_row(StepRecord)) as cur:
        record = cur.execute(
            "INSERT INTO step_records AS r (step_id, fixed, no_effect, worse, skipped)"
            " VALUES (%(step)s, (%(o)s = 'fixed_it')::int, (%(o)s = 'did_nothing')::int,"
            "         (%(o)s = 'made_worse')::int, (%(o)s = 'skipped')::int)"
            " ON CONFLICT (step_id) DO UPDATE SET"
            " fixed = greatest(r.fixed + EXCLUDED.fixed - (%(was)s::text IS NOT DISTINCT FROM 'fixed_it')::int, 0),"
            " no_effect = greatest(r.no_effect + EXCLUDED.no_effect"
            "   - (%(was)s::text IS NOT DISTINCT FROM 'did_nothing')::int, 0),"
            " worse = greatest(r.worse + EXCLUDED.worse"
            "   - (%(was)s::text IS NOT DISTINCT FROM 'made_worse')::int, 0),"
            " skipped = greatest(r.skipped + EXCLUDED.skipped"
            "   - (%(was)s::text IS NOT DISTINCT FROM 'skipped')::int, 0),"
            " updated_at = now()"
            " RETURNING step_id, fixed, no_effect, worse, skipped",
            {"step": step_id, "o": outcome, "was": replacing},
        ).fetchone()
    assert record is not None  # INSERT ... ON CONFLICT DO UPDATE ... RETURNING always returns the row
    return record


def reported_outcome(conn: psycopg.Connection, incident_id: uuid.UUID, step_id: str) -> StepOutcome | None:
    """The outcome this incident last reported for this step (None: none yet)."""
    outcome: StepOutcome | None = scalar(
        conn,
        "SELECT kind FROM feedback WHERE incident_id = %s AND feedback_type = 'step' AND step_id = %s"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        (incident_id, step_id),
        default=None,
    )
    return outcome


def step_records(conn: psycopg.Connection, step_ids: Sequence[str]) -> dict[str, StepRecord]:
    """The records of these steps (steps never reported on are absent)."""
    if not step_ids:
        return {}
    with conn.cursor(row_factory=class_row(StepRecord)) as cur:
        rows = cur.execute(
            "SELECT step_id, fixed, no_effect, worse, skipped FROM step_records WHERE step_id = ANY(%s)",
            (list(step_ids),),
        ).fetchall()
    return {r.step_id: r for r in rows}


# --- runbook choices per alert pattern ---------------------------------------------------------------------


def choose_runbook(conn: psycopg.Connection, *, pattern: str, runbook_id: str, right: bool, user: str) -> None:
    """One more incident whose responder named ``runbook_id`` right (or wrong) for ``pattern``."""
    conn.execute(
        "INSERT INTO runbook_choices AS c (pattern, runbook_id, right_votes, wrong_votes, last_by)"
        " VALUES (%(pattern)s, %(runbook)s, %(right)s::int, (NOT %(right)s)::int, %(user)s)"
        " ON CONFLICT (pattern, runbook_id) DO UPDATE SET right_votes = c.right_votes + EXCLUDED.right_votes,"
        " wrong_votes = c.wrong_votes + EXCLUDED.wrong_votes, last_by = EXCLUDED.last_by, updated_at = now()",
        {"pattern": pattern, "runbook": runbook_id, "right": right, "user": user},
    )


def runbook_choices(conn: psycopg.Connection, pattern: str) -> list[RunbookChoice]:
    """The runbooks named for ``pattern``, the most clearly right first."""
    with conn.cursor(row_factory=class_row(RunbookChoice)) as cur:
        return cur.execute(
            "SELECT pattern, runbook_id, right_votes, wrong_votes, last_by, updated_at FROM runbook_choices"
            " WHERE pattern = %s ORDER BY right_votes - wrong_votes DESC, updated_at DESC, runbook_id",
            (pattern,),
        ).fetchall()


def assignment_correction(conn: psycopg.Connection, pattern: str) -> AssignmentCorrection | None:
    """The assignment group a responder most recently corrected a triage of ``pattern`` to (None: never)."""
    with conn.cursor(row_factory=class_row(AssignmentCorrection)) as cur:
        return cur.execute(
            "SELECT f.id AS feedback_id, f.diff -> 'assignment_group' ->> 'now' AS assignment_group, f.user_name,"
            " f.created_at FROM feedback AS f JOIN incidents AS i ON i.id = f.incident_id"
            " WHERE i.pattern = %s AND f.feedback_type = 'triage' AND f.kind = 'correct'"
            " AND f.diff -> 'assignment_group' ->> 'now' IS NOT NULL"
            " ORDER BY f.created_at DESC, f.id DESC LIMIT 1",
            (pattern,),
        ).fetchone()


# --- draft runbooks -------------------------------------------------------------------------------------------

_DRAFT_COLUMNS = "id, incident_id, title, steps, status, created_by, created_at, published_by, published_at, runbook_id"


def insert_draft(
    conn: psycopg.Connection, *, incident_id: uuid.UUID, title: str, steps: list[dict[str, Any]], user: str
) -> RunbookDraft:
    with conn.cursor(row_factory=class_row(RunbookDraft)) as cur:
        draft = cur.execute(
            f"INSERT INTO runbook_drafts (incident_id, title, steps, created_by) VALUES (%s, %s, %s, %s)"
            f" RETURNING {_DRAFT_COLUMNS}",
            (incident_id, title, Jsonb(steps), user),
        ).fetchone()
    assert draft is not None  # INSERT ... RETURNING returns the row it inserted
    return draft


def get_draft(conn: psycopg.Connection, draft_id: uuid.UUID) -> RunbookDraft | None:
    with conn.cursor(row_factory=class_row(RunbookDraft)) as cur:
        return cur.execute(f"SELECT {_DRAFT_COLUMNS} FROM runbook_drafts WHERE id = %s", (draft_id,)).fetchone()


def list_drafts(conn: psycopg.Connection, *, status: str | None = "draft") -> list[RunbookDraft]:
    with conn.cursor(row_factory=class_row(RunbookDraft)) as cur:
        return cur.execute(
            f"SELECT {_DRAFT_COLUMNS} FROM runbook_drafts WHERE %(s)s::text IS NULL OR status = %(s)s"
            " ORDER BY created_at DESC, id",
            {"s": status},
        ).fetchall()


def mark_published(conn: psycopg.Connection, *, draft_id: uuid.UUID, runbook_id: str, user: str) -> bool:
    return (
        conn.execute(
            "UPDATE runbook_drafts SET status = 'published', runbook_id = %s, published_by = %s, published_at = now()"
            " WHERE id = %s AND status = 'draft'",
            (runbook_id, user, draft_id),
        ).rowcount
        == 1
    )


def incident_facts(conn: psycopg.Connection, incident_id: uuid.UUID) -> IncidentFacts | None:
    """The incident's latest triage and plan, the alert it was queued with, and the ids of the stored rows."""
    with conn.cursor(row_factory=class_row(IncidentFacts)) as cur:
        return cur.execute(
            "SELECT i.id, i.title, i.pattern, i.status, i.service, i.first_seen_at, i.triage_output AS triage,"
            " i.resolution_output AS plan,"
            " (SELECT w.alert FROM work_items AS w WHERE w.incident_id = i.id"
            "  ORDER BY w.enqueued_at DESC, w.id DESC LIMIT 1) AS alert,"
            " (SELECT t.id FROM triage_results AS t WHERE t.incident_id = i.id"
            "  ORDER BY t.created_at DESC, t.id DESC LIMIT 1) AS triage_result_id,"
            " (SELECT r.id FROM resolution_outputs AS r WHERE r.incident_id = i.id"
            "  ORDER BY r.created_at DESC, r.id DESC LIMIT 1) AS resolution_id"
            " FROM incidents AS i WHERE i.id = %s",
            (incident_id,),
        ).fetchone()
