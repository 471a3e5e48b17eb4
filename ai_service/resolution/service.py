"""The resolution agent: an ordered plan of runbook steps for a triaged alert, each step with its provenance.

What goes in, by priority: the steps the matched signatures' past tickets were resolved with (history), then the
steps of the best-matching runbook (retrieval). How it is ordered: diagnosis before mitigation before
verification (then anything else), and within a phase one runbook's steps in its own order. A no-match triage
gets no plan — never an invented one.

Each step's confidence is the triage confidence scaled by its support: 1.0 when a matched signature's history
used it, 0.9 when retrieval found it directly, 0.75 when it is only part of the matched runbook. Within a phase,
the steps' track records (what responders reported when they ran them) move proven steps first and harmful
ones last.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

import psycopg

from ai_service.resolution.models import Recommendation, ResolutionPlan, StepRecord
from ai_service.retrieval import store as retrieval_store
from ai_service.retrieval.models import SearchResult, StepHit
from ai_service.triage.models import Triage
from ai_service.vocabulary import phase_rank, riskiest

Support = Literal["signature", "search", "runbook"]
#: How much a step's support scales the triage confidence (see the module docstring).
SUPPORT: dict[Support, float] = {"signature": 1.0, "search": 0.9, "runbook": 0.75}
MAX_STEPS = 12


@dataclass(frozen=True)
class _Chosen:
    step: StepHit
    support: Support


def record_rank(record: StepRecord | None) -> int:
    """Where a step's track record puts it within its phase: proven steps first (0), then the others (1), then
    those that made things worse more often than they fixed them (2)."""
    if record is None:
        return 1
    return 0 if record.proven else 2 if record.harmful else 1


def build_plan(
    conn: psycopg.Connection,
    result: SearchResult,
    triage: Triage,
    *,
    max_steps: int = MAX_STEPS,
    step_records: Mapping[str, StepRecord] | None = None,
    exclude_runbook_ids: Collection[str] = (),
) -> ResolutionPlan:
    """The plan for ``triage`` (reads the referenced steps that retrieval did not return).

    ``step_records`` (by step id) are what responders reported of the steps: within a phase, a proven step comes
    before the others and a harmful one after them; never across phases. Each step's record is in its
    provenance ("fixed it 7 of 9 times"). ``exclude_runbook_ids`` are runbooks responders said are wrong for
    this alert's pattern: retrieval already left them out, and their steps do not come back through the
    signatures' history either.
    """
    records = step_records or {}
    if triage.no_match or not result.runbooks:
        return ResolutionPlan(
            recommendations=[],
            overall_confidence=triage.confidence,
            risk_level=None,
            retrieved_step_ids=[],
            used_signature_ids=[],
            note="no good match in the knowledge base: review by a human",
        )
    referenced: dict[str, list[str]] = {}
    for vote in triage.votes:
        # Only the signatures that agree with the triage's conclusion lend their history to the plan.
        concluded = (vote.failure_type, vote.error_class) == (triage.failure_type, triage.error_class)
        if vote.incident_signature_id not in triage.matched_signature_ids or not concluded:
            continue
        hit = next(s for s in result.signatures if s.incident_signature_id == vote.incident_signature_id)
        for step_id in hit.resolution_refs:
            referenced.setdefault(step_id, []).append(hit.incident_signature_id)
    searched = {s.step_id: s for s in result.steps}
    top = result.runbooks[0]
    chosen: dict[str, _Chosen] = {}
    for step in retrieval_store.steps_by_id(conn, list(referenced)):
        if step.runbook_id in exclude_runbook_ids:
            del referenced[step.step_id]  # lends nothing: not in the plan, not counted as used history
            continue
        chosen[step.step_id] = _Chosen(step, "signature")
    # The runbook's steps in plan order (phase, record, then its own order), so that the cap keeps the first.
    for step in sorted(
        top.steps, key=lambda s: (phase_rank(s.phase), record_rank(records.get(s.step_id)), s.step_order or 0)
    ):
        if len(chosen) >= max_steps:
            break
        chosen.setdefault(step.step_id, _Chosen(step, "search" if step.step_id in searched else "runbook"))
    runbook_rank = {rb.runbook_id: i for i, rb in enumerate(result.runbooks)}
    ordered = sorted(
        chosen.values(),
        key=lambda item: (
            phase_rank(item.step.phase),
            record_rank(records.get(item.step.step_id)),
            runbook_rank.get(item.step.runbook_id, len(runbook_rank)),
            item.step.step_order or 0,
        ),
    )[:max_steps]
    recommendations = []
    for step, source in ((item.step, item.support) for item in ordered):
        step_hit = searched.get(step.step_id)
        recommendations.append(
            Recommendation(
                step_id=step.step_id,
                runbook_id=step.runbook_id,
                phase=step.phase,
                condition=step.condition,
                action=step.action,
                expected_outcome=step.expected_outcome,
                rollback=step.rollback,
                risk_level=step.risk_level,
                confidence=round(triage.confidence * SUPPORT[source], 4),
                provenance={
                    "source": source,
                    "runbook_id": step.runbook_id,
                    "runbook_rank": runbook_rank.get(step.runbook_id),
                    "runbook_score": top.provenance.score if step.runbook_id == top.runbook_id else None,
                    "signatures": referenced.get(step.step_id, []),
                    "step_scores": step_hit.provenance.model_dump() if step_hit and step_hit.provenance else None,
                    "track_record": _track(records.get(step.step_id)),
                },
            )
        )
    return ResolutionPlan(
        recommendations=recommendations,
        overall_confidence=triage.confidence,
        risk_level=riskiest(r.risk_level for r in recommendations),
        retrieved_step_ids=[s.step_id for s in result.steps],
        used_signature_ids=sorted({sig for sigs in referenced.values() for sig in sigs}),
    )


def _track(record: StepRecord | None) -> dict[str, object] | None:
    if record is None or not (record.tried or record.skipped):
        return None
    return {
        "fixed": record.fixed,
        "tried": record.tried,
        "no_effect": record.no_effect,
        "worse": record.worse,
        "skipped": record.skipped,
        "text": record.describe(),
    }
