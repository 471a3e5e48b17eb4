"""What the console's pages show, built from the core's models: the queue's rows, an incident's alert, triage,
evidence and plan, and a runbook step's text split into prose and commands.

Plain data only: nothing here reads the database or knows HTTP; the pages (``ai_service.web.pages``) fetch and
these functions shape. Text stays text: templates escape it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ai_service.auth.models import Principal
from ai_service.feedback.models import FeedbackRecord
from ai_service.incidents.models import IncidentDetail, IncidentSummary
from ai_service.incidents.store import TriageState
from ai_service.resolution.execution import TRANSITIONS
from ai_service.resolution.models import ACTIONS, Action, Recommendation, StepRecord, StoredResolution

OUTCOME_LABELS: dict[str, str] = {
    "fixed_it": "fixed it",
    "did_nothing": "did nothing",
    "made_worse": "made it worse",
    "skipped": "skipped",
}
VERDICT_LABELS: dict[str, str] = {
    "confirm": "confirmed the triage",
    "correct": "corrected the triage",
    "wrong_runbook": "said the runbook was wrong",
}
ACTION_LABELS: dict[Action, str] = {
    "accept": "Accept plan",
    "execute": "Mark executed",
    "reject": "Reject",
    "cancel": "Cancel",
}

# --- a step's text: prose and commands -------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[ \t]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Segment:
    """A piece of a step's action: prose (with its inline `code` parts) or a block of commands."""

    kind: Literal["text", "code"]
    text: str
    lang: str | None = None
    parts: tuple[tuple[bool, str], ...] = ()  # prose: (is inline code, text) in order


def inline_parts(text: object) -> tuple[tuple[bool, str], ...]:
    """``text`` split at its backticks: (is inline code, text) pieces in order (for conditions and outcomes)."""
    return _inline(str(text or ""))


def _inline(text: str) -> tuple[tuple[bool, str], ...]:
    pieces = text.split("`")
    if len(pieces) % 2 == 0:  # an unmatched backtick: keep it as text
        pieces = [*pieces[:-2], pieces[-2] + "`" + pieces[-1]]
    return tuple((i % 2 == 1, piece) for i, piece in enumerate(pieces) if piece)


def _prose(text: str) -> list[Segment]:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [Segment("text", p, parts=_inline(" ".join(p.split()))) for p in paragraphs]


def action_segments(text: str) -> list[Segment]:
    """A step's action as prose paragraphs and fenced command blocks (shown in ``<pre>``), in order."""
    segments: list[Segment] = []
    position = 0
    for match in _FENCE.finditer(text):
        segments.extend(_prose(text[position : match.start()]))
        code = match.group(2).rstrip("\n")
        if code.strip():
            segments.append(Segment("code", code, lang=match.group(1) or None))
        position = match.end()
    segments.extend(_prose(text[position:]))
    return segments


# --- the queue ---------------------------------------------------------------------------------------------------

TriageWord = Literal["queued", "triaging", "triaged", "dead", "untriaged"]


@dataclass(frozen=True)
class QueueRow:
    incident: IncidentSummary
    triage: TriageWord
    triage_detail: str | None


def triage_word(incident: IncidentSummary, work: TriageState | None) -> tuple[TriageWord, str | None]:
    """Where the incident's triage stands, and a detail for a dead one (its last error)."""
    if work is not None:
        if work.status == "dead":
            return "dead", f"gave up after {work.attempts} attempt(s): {work.last_error or 'no error recorded'}"
        if work.status == "queued":
            return "queued", f"attempt {work.attempts + 1}" if work.attempts else None
        if work.status == "running":
            return "triaging", None
    return ("triaged", None) if incident.triage_completed_at is not None else ("untriaged", None)


def queue_rows(incidents: Sequence[IncidentSummary], states: Mapping[uuid.UUID, TriageState]) -> list[QueueRow]:
    rows = []
    for incident in incidents:
        word, detail = triage_word(incident, states.get(incident.id))
        rows.append(QueueRow(incident=incident, triage=word, triage_detail=detail))
    return rows


# --- one incident ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    title: str
    description: str
    source: str
    severity: str | None
    service: str | None
    component: str | None
    environment: str | None
    starts_at: datetime | None
    labels: list[tuple[str, str]]
    annotations: list[tuple[str, str]]
    links: list[tuple[str, str]]


def _text_pairs(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return []
    return sorted((str(k), v if isinstance(v, str) else str(v)) for k, v in value.items())


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def alert_view(detail: IncidentDetail, normalized: Mapping[str, Any] | None) -> AlertView:
    """The alert as triage read it (the normalised alert the work item carried), else as it arrived."""
    raw = detail.raw_alert if isinstance(detail.raw_alert, dict) else {}
    alert = dict(normalized or {})
    labels = _text_pairs(alert.get("labels", raw.get("labels")))
    annotations = _text_pairs(alert.get("annotations", raw.get("annotations")))
    links: list[tuple[str, str]] = []
    for name, key, raw_key in (("runbook", "runbook_url", None), ("source", "generator_url", "generatorURL")):
        url = alert.get(key) or (raw.get(raw_key) if raw_key else None)
        if isinstance(url, str) and url.strip():
            links.append((name, url))
    links.extend(_text_pairs(alert.get("links")))
    description = alert.get("description")
    return AlertView(
        title=str(alert.get("title") or detail.title or "(untitled alert)"),
        description=description if isinstance(description, str) else "",
        source=str(alert.get("source") or detail.source),
        severity=alert.get("severity") if isinstance(alert.get("severity"), str) else None,
        service=detail.service,
        component=alert.get("component") if isinstance(alert.get("component"), str) else None,
        environment=detail.environment,
        starts_at=_moment(alert.get("starts_at")),
        labels=labels,
        annotations=annotations,
        links=links,
    )


@dataclass(frozen=True)
class EvidenceRow:
    kind: str
    id: str
    label: str
    runbook_id: str | None
    vector_rank: Any
    vector_score: Any
    fulltext_rank: Any
    fulltext_score: Any
    rrf: Any
    score: Any
    boosts: list[str]


def evidence_rows(evidence: Sequence[Mapping[str, Any]] | None) -> dict[str, list[EvidenceRow]]:
    """The triage's retrieved items by kind (runbook, step, signature), each with every leg's rank and score."""
    grouped: dict[str, list[EvidenceRow]] = {"runbook": [], "step": [], "signature": []}
    for item in evidence or []:
        kind = str(item.get("kind") or "other")
        label = item.get("title") or item.get("failure_type") or item.get("runbook_id") or ""
        boosts = item.get("boosts")
        grouped.setdefault(kind, []).append(
            EvidenceRow(
                kind=kind,
                id=str(item.get("id") or ""),
                label=str(label),
                runbook_id=item.get("runbook_id") if isinstance(item.get("runbook_id"), str) else None,
                vector_rank=item.get("vector_rank"),
                vector_score=item.get("vector_score"),
                fulltext_rank=item.get("fulltext_rank"),
                fulltext_score=item.get("fulltext_score"),
                rrf=item.get("rrf"),
                score=item.get("score"),
                boosts=[str(b) for b in boosts] if isinstance(boosts, list) else [],
            )
        )
    return grouped


@dataclass
class PlanStep:
    number: int
    rec: Recommendation
    segments: list[Segment]
    source: str
    signatures: list[str]
    track_then: str | None
    track_now: str | None
    said: list[str] = field(default_factory=list)


def plan_steps(
    resolution: StoredResolution | None,
    records: Mapping[str, StepRecord],
    feedback: Sequence[FeedbackRecord],
) -> list[PlanStep]:
    """The plan's steps in order with their provenance, their track record when proposed and now, and what
    responders said of them on this incident."""
    if resolution is None:
        return []
    said: dict[str, list[str]] = {}
    for record in feedback:
        if record.feedback_type == "step" and record.step_id:
            said.setdefault(record.step_id, []).append(
                f"{record.user_name or 'someone'}: {OUTCOME_LABELS.get(record.kind or '', record.kind or '?')}"
            )
    steps = []
    for number, rec in enumerate(resolution.recommendations, start=1):
        provenance = rec.provenance or {}
        then = provenance.get("track_record")
        now = records.get(rec.step_id)
        signatures = provenance.get("signatures")
        steps.append(
            PlanStep(
                number=number,
                rec=rec,
                segments=action_segments(rec.action),
                source=str(provenance.get("source") or "runbook"),
                signatures=[str(s) for s in signatures] if isinstance(signatures, list) else [],
                track_then=str(then.get("text")) if isinstance(then, dict) and then.get("text") else None,
                track_now=now.describe() if now is not None and (now.tried or now.skipped) else None,
                said=said.get(rec.step_id, []),
            )
        )
    return steps


def moves(resolution: StoredResolution | None) -> list[Action]:
    """The moves a person may make on the plan now (executing comes after accepting)."""
    if resolution is None or resolution.execution_status is None:
        return []
    status = resolution.execution_status
    allowed = [action for action in ACTIONS if status in TRANSITIONS[action][0]]
    return [a for a in allowed if not (a == "execute" and status == "pending")]


def approval_note(decision: Mapping[str, Any] | None, principal: Principal) -> str | None:
    """Why the visitor may not accept this plan, when the policy says so (the server checks it again)."""
    if not decision or not decision.get("requires_approval"):
        return None
    approvers = [str(r) for r in decision.get("approver_roles") or []]
    if set(approvers) & set(principal.policy_roles):
        return None
    mine = ", ".join(principal.policy_roles) or "none"
    return (
        f"the policy's {decision.get('band', '?')} band needs one of {', '.join(approvers) or '?'} to accept; "
        f"your policy roles: {mine}"
    )


def triage_feedback_lines(feedback: Sequence[FeedbackRecord]) -> list[str]:
    """What responders said of the triage, oldest first, one line each."""
    lines = []
    for record in feedback:
        if record.feedback_type != "triage":
            continue
        line = f"{record.user_name or 'someone'} {VERDICT_LABELS.get(record.kind or '', record.kind or '?')}"
        diff = record.diff if isinstance(record.diff, dict) else {}
        changed = [
            f"{key}: {value.get('proposed') or '—'} → {value.get('now') or '—'}"
            for key, value in diff.items()
            if isinstance(value, dict)
        ]
        if changed:
            line += " (" + "; ".join(changed) + ")"
        if record.notes:
            line += f" — {record.notes}"
        lines.append(line)
    return lines


def draft_steps(text: str) -> list[dict[str, str]]:
    """Steps written one per line (``diagnosis: check the disk``, a phase before a colon being optional)."""
    steps = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*").strip()
        if not line:
            continue
        phase, sep, rest = line.partition(":")
        if sep and phase.strip().lower() in ("diagnosis", "mitigation", "verification") and rest.strip():
            steps.append({"phase": phase.strip().lower(), "action": rest.strip()})
        else:
            steps.append({"action": line})
    return steps
