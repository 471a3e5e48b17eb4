"""Feedback that teaches: what a responder says is stored with who and why, and only that changes what the next
triage reads.

* **A triage judged** (confirmed, or corrected to another failure type) is one more judged match for the
  signatures that carried its vote: confirmed or refuted. Their weight in later votes is their judged track
  record, ``(confirmed + 1) / (judged + 2)``: it rises with confirmations and falls with refutations. Once per
  incident, however many responders say so.
* **A runbook named** right or wrong for the alert's pattern (its alertname, or its title without hosts and
  values) is a vote, one per incident: a runbook with more right votes than wrong ones becomes the pattern's
  (the next alert of that pattern gets its plan), one with more wrong votes is left out. Two causes behind one
  alertname cancel out rather than exclude each other.
* **An assignment group corrected** on a triage routes the next alerts of the same pattern to that group (the
  latest correction wins; it comes above the runbook's team and the signatures' history).
* **A step's outcome** (fixed it, did nothing, made it worse, skipped) goes into the step's record, which orders
  later plans within a phase and is shown with the step ("fixed it 7 of 9 times").
* **The first "fixed it"** on an incident counts one confirmed fix for the signatures whose history the plan used,
  and makes the incident history: a ticket (its alert, the team, and the steps that fixed it) that grows the
  matching signature, or, with another like it, forms a new one.
* **Steps taken where nothing matched** become a draft runbook that an admin can publish into the knowledge base.

What this module must never do: change a track record on a triage alone, count one incident's confirmation or
fix twice, or publish a draft without an admin.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml

from ai_service.alerts.fingerprint import alert_pattern
from ai_service.alerts.models import NormalizedAlert
from ai_service.errors import ConflictError, InputError, NotFoundError
from ai_service.feedback import store
from ai_service.feedback.models import (
    DraftRequest,
    IncidentFacts,
    Learned,
    PlanFeedback,
    RunbookDraft,
    StepFeedback,
    TriageFeedback,
)
from ai_service.knowledge.embeddings import Embedder
from ai_service.knowledge.incidents import IncidentRecord
from ai_service.knowledge.service import ingest_runbooks
from ai_service.knowledge.signatures import IncidentIngestReport, ingest_records

_JUDGED = ("confirm", "correct")


def _facts(conn: psycopg.Connection, incident_id: uuid.UUID) -> IncidentFacts:
    facts = store.incident_facts(conn, incident_id)
    if facts is None:
        raise NotFoundError(f"no incident {incident_id}", hint="list the incidents to find its id")
    if facts.triage is None:
        raise ConflictError(
            f"incident {incident_id} has not been triaged yet", hint="wait for its triage, then give feedback"
        )
    return facts


def _alert(facts: IncidentFacts) -> NormalizedAlert | None:
    return NormalizedAlert.model_validate(facts.alert) if facts.alert else None


def _pattern(facts: IncidentFacts) -> str:
    """The pattern recorded with the incident (the one triage reads), else the one of its queued alert."""
    if facts.pattern:
        return facts.pattern
    alert = _alert(facts)
    if alert is not None:
        return alert_pattern(alert)
    return " ".join((facts.title or "").lower().split())[:200]


def _winners(triage: dict[str, Any], failure_type: Any, error_class: Any) -> list[str]:
    """The signatures whose vote went to (failure_type, error_class)."""
    return [
        vote["incident_signature_id"]
        for vote in triage.get("votes") or []
        if (vote.get("failure_type"), vote.get("error_class")) == (failure_type, error_class)
    ]


def _plan_runbook(facts: IncidentFacts) -> str | None:
    """The runbook of the plan's first step (the one triage chose)."""
    steps = (facts.plan or {}).get("recommendations") or []
    runbook = steps[0].get("runbook_id") if steps else None
    return runbook if isinstance(runbook, str) else None


def give_triage_feedback(
    conn: psycopg.Connection, incident_id: uuid.UUID, feedback: TriageFeedback, *, user: str
) -> Learned:
    """Store a responder's word on a triage and learn from it (see the module docstring)."""
    facts = _facts(conn, incident_id)
    triage = facts.triage or {}
    chosen_runbook = _plan_runbook(facts)
    proposed = {
        "failure_type": triage.get("failure_type"),
        "error_class": triage.get("error_class"),
        "severity": triage.get("severity"),
        "assignment_group": triage.get("assignment_group"),
        "runbook_id": chosen_runbook,
    }
    now = dict(proposed)
    if feedback.verdict == "correct":
        now.update({k: v for k, v in feedback.model_dump(exclude={"verdict", "notes"}).items() if v is not None})
    if feedback.verdict == "wrong_runbook":
        now["runbook_id"] = feedback.runbook_id
    if (
        feedback.verdict == "wrong_runbook"
        and feedback.runbook_id is not None
        and feedback.runbook_id == chosen_runbook
    ):
        raise InputError(
            f"{feedback.runbook_id} is the runbook the triage chose: it cannot be both wrong and the right one",
            hint="name the runbook that would have been right, or leave runbook_id out",
        )
    diff = {key: {"proposed": proposed[key], "now": now[key]} for key in proposed if proposed[key] != now[key]}
    pattern = _pattern(facts)
    changes: list[str] = []
    with conn.transaction():
        already_judged = store.has_feedback(
            conn, incident_id, feedback_type="triage", kinds=(*_JUDGED, "wrong_runbook")
        )
        feedback_id = store.insert_feedback(
            conn,
            incident_id=incident_id,
            feedback_type="triage",
            kind=feedback.verdict,
            user=user,
            triage_result_id=facts.triage_result_id,
            system_output=proposed,
            user_edited=now,
            diff=diff,
            notes=feedback.notes,
        )
        if feedback.verdict in _JUDGED and not already_judged and not triage.get("no_match"):
            winners = _winners(triage, proposed["failure_type"], proposed["error_class"])
            right = (now["failure_type"], now["error_class"]) == (proposed["failure_type"], proposed["error_class"])
            if store.judge_signatures(conn, winners, confirmed=right):
                changes.append(
                    f"{'confirmed' if right else 'refuted'} the match of {', '.join(winners)} "
                    f"({'its' if len(winners) == 1 else 'their'} weight in later votes "
                    f"{'rises' if right else 'falls'})"
                )
            if not right:
                agreeing = _winners(triage, now["failure_type"], now["error_class"])
                if store.judge_signatures(conn, agreeing, confirmed=True):
                    changes.append(f"confirmed the match of {', '.join(agreeing)}")
        if not already_judged:
            changes += _vote_runbooks(conn, feedback, pattern, chosen_runbook, now["runbook_id"], user)
    if already_judged:
        changes.append("this incident's triage was already judged: nothing was counted again")
    return Learned(feedback_id=feedback_id, changes=changes)


def _vote_runbooks(
    conn: psycopg.Connection,
    feedback: TriageFeedback,
    pattern: str,
    chosen: str | None,
    right: str | None,
    user: str,
) -> list[str]:
    """One incident's votes on which runbook is right for its pattern (a runbook is the pattern's once it has
    more right votes than wrong ones, and is left out once it has more wrong ones)."""
    changes = []
    if feedback.verdict == "confirm" and chosen:
        store.choose_runbook(conn, pattern=pattern, runbook_id=chosen, right=True, user=user)
        changes.append(f"one more vote for {chosen} as the runbook of '{pattern}'")
    if right and right != chosen:
        store.choose_runbook(conn, pattern=pattern, runbook_id=right, right=True, user=user)
        changes.append(f"one vote for {right} as the runbook of '{pattern}'")
    if chosen and (feedback.verdict == "wrong_runbook" or right != chosen):
        store.choose_runbook(conn, pattern=pattern, runbook_id=chosen, right=False, user=user)
        changes.append(f"one vote against {chosen} for '{pattern}'")
    return changes


def give_plan_feedback(
    conn: psycopg.Connection, incident_id: uuid.UUID, feedback: PlanFeedback, *, user: str
) -> Learned:
    """Store a responder's word on a plan: accepted as it is, edited (the steps actually taken), or rejected."""
    facts = _facts(conn, incident_id)
    proposed = [r.get("step_id") for r in (facts.plan or {}).get("recommendations") or []]
    taken = feedback.steps if feedback.verdict == "edit" else (proposed if feedback.verdict == "accept" else [])
    if feedback.verdict == "edit" and not feedback.steps:
        raise InputError("an edited plan lists the steps actually taken", hint="give steps: [step ids in order]")
    diff = {
        "dropped": [s for s in proposed if s not in (taken or [])],
        "added": [s for s in taken or [] if s not in proposed],
    }
    with conn.transaction():
        feedback_id = store.insert_feedback(
            conn,
            incident_id=incident_id,
            feedback_type="resolution",
            kind=feedback.verdict,
            user=user,
            resolution_id=facts.resolution_id,
            system_output={"steps": proposed},
            user_edited={"steps": taken},
            diff=diff,
            notes=feedback.notes,
        )
    return Learned(
        feedback_id=feedback_id, changes=[f"plan {feedback.verdict}ed" if feedback.verdict != "edit" else "plan edited"]
    )


def give_step_feedback(
    conn: psycopg.Connection, embedder: Embedder, incident_id: uuid.UUID, feedback: StepFeedback, *, user: str
) -> Learned:
    """Store what happened when a responder ran a step; the first "fixed it" of an incident also counts a fix for
    the signatures its plan used and makes the incident history (see the module docstring)."""
    facts = _facts(conn, incident_id)
    plan = facts.plan or {}
    steps = {r.get("step_id"): r for r in plan.get("recommendations") or []}
    if feedback.step_id not in steps:
        raise InputError(
            f"step {feedback.step_id} is not in this incident's plan",
            hint="give feedback on the steps of the plan (the incident lists them)",
        )
    changes: list[str] = []
    with conn.transaction():
        first_fix = feedback.outcome == "fixed_it" and not store.has_feedback(
            conn, incident_id, feedback_type="step", kinds=("fixed_it",)
        )
        earlier = store.reported_outcome(conn, incident_id, feedback.step_id)
        feedback_id = store.insert_feedback(
            conn,
            incident_id=incident_id,
            feedback_type="step",
            kind=feedback.outcome,
            user=user,
            step_id=feedback.step_id,
            resolution_id=facts.resolution_id,
            system_output=steps[feedback.step_id],
            notes=feedback.notes,
        )
        record = store.record_step(conn, step_id=feedback.step_id, outcome=feedback.outcome, replacing=earlier)
        changes.append(f"{feedback.step_id}: {record.describe()}")
        if first_fix:
            lent = list(plan.get("used_signature_ids") or [])
            if store.count_fix(conn, lent):
                changes.append(f"one more confirmed fix for {', '.join(lent)}")
            history = _history_record(facts, fixed_by=feedback.step_id, user=user)
            report = IncidentIngestReport()
            ingest_records(conn, embedder, [history], report)
            if report.new or report.updated:
                grown = report.signatures_grown + report.signatures_created
                changes.append(
                    f"the incident is now history ({history.number})"
                    + (
                        f": it grew {grown} signature(s)"
                        if grown
                        else ": it waits for a like incident to form a signature"
                    )
                )
    return Learned(feedback_id=feedback_id, changes=changes)


def _history_record(facts: IncidentFacts, *, fixed_by: str, user: str) -> IncidentRecord:
    """The incident as a past ticket: its alert, its team, and the step that fixed it (cited by id, which is how
    signatures learn which steps resolve them)."""
    alert = _alert(facts)
    triage = facts.triage or {}
    return IncidentRecord(
        number=f"NOCAI-{str(facts.id)[:8].upper()}",
        short_description=(alert.title if alert else facts.title or "incident")[:160],
        description=(alert.description if alert else "")[:4000],
        cmdb_ci=facts.service,
        assignment_group=triage.get("assignment_group"),
        impact=triage.get("impact"),
        urgency=triage.get("urgency"),
        close_code="Solved (Permanently)",
        close_notes=f"Fixed by {fixed_by} (confirmed by {user} in nocai).",
        opened_at=facts.first_seen_at,
        resolved_at=datetime.now(UTC),
        source="nocai feedback",
    )


# --- draft runbooks ------------------------------------------------------------------------------------------


def create_draft(conn: psycopg.Connection, incident_id: uuid.UUID, request: DraftRequest, *, user: str) -> RunbookDraft:
    """Keep the steps a responder took on an incident as a draft runbook."""
    if store.incident_facts(conn, incident_id) is None:
        raise NotFoundError(f"no incident {incident_id}", hint="list the incidents to find its id")
    with conn.transaction():
        return store.insert_draft(
            conn,
            incident_id=incident_id,
            title=request.title.strip(),
            steps=[step.model_dump(exclude_none=True) for step in request.steps],
            user=user,
        )


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "runbook"


def publish_draft(
    conn: psycopg.Connection, embedder: Embedder, draft_id: uuid.UUID, *, folder: Path, user: str
) -> RunbookDraft:
    """Write a draft as a YAML runbook under ``folder`` and ingest it: from now on it is in the knowledge base."""
    draft = store.get_draft(conn, draft_id)
    if draft is None:
        raise NotFoundError(f"no draft runbook {draft_id}", hint="list the drafts to find its id")
    if draft.status != "draft":
        raise ConflictError(f"draft {draft_id} is already {draft.status}", hint="publish another draft")
    runbook_id = f"{_slug(draft.title)}-{str(draft.id)[:6]}"
    document = {
        "runbook_id": runbook_id,
        "title": draft.title,
        "description": f"Written from the steps {draft.created_by or 'a responder'} took on incident "
        f"{draft.incident_id}; published by {user}.",
        "steps": [
            {
                "condition": step.get("condition") or f"When working on: {draft.title}",
                "action": step["action"],
                **({"phase": step["phase"]} if step.get("phase") else {}),
            }
            for step in draft.steps
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{runbook_id}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    report = ingest_runbooks(conn, embedder, [path])
    if report.failed:
        path.unlink(missing_ok=True)
        raise InputError(f"the draft could not be ingested: {report.failed[0].error}", hint="edit the draft's steps")
    with conn.transaction():
        store.mark_published(conn, draft_id=draft_id, runbook_id=runbook_id, user=user)
    published = store.get_draft(conn, draft_id)
    assert published is not None  # it was just published
    return published
