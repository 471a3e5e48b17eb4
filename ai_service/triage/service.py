"""The triage agent: from an alert to a classification with its evidence — deterministic, no LLM needed.

1. The alert becomes a query (``retrieval.query_text``); hybrid retrieval returns runbooks, steps and
   signatures with provenance, and the calibrated match probability.
2. ``failure_type`` / ``error_class`` come from the retrieved signatures by a weighted vote: each signature
   weighs its retrieval strength (fused score) times its judged track record ((confirmed + 1) / (judged + 2),
   from responders' feedback), so a pattern that keeps being confirmed counts more than a lucky nearest
   neighbour. Failure types are those of the failure taxonomy (``ai_service.taxonomy``), so the many clusters
   of one kind of failure vote together; a signature labelled ``unknown`` carries no vote. An exact tie between
   two (failure type, error class) pairs goes to the one that sorts last, so the same evidence always gives the
   same answer whatever order it was retrieved in. When no signature carries a vote (a knowledge base of
   runbooks only), the failure type is the plan's runbook's (the top runbook's); else there is none. When the
   winning signatures' history is about another runbook than the plan's (none cites one of its steps, or has its
   failure type without citing any), the failure type is the plan's runbook's too: the label and the plan must
   describe the same failure, and the plan's runbook is the better-matched evidence.
3. ``severity`` combines the alert's own severity with the winning signature's history through the ITIL
   impact x urgency matrix (``severity.py``).
4. ``confidence`` is the probability that the plan's first step is the right one: the match probability of the
   retrieval calibration, Platt-scaled to mean exactly that (measured by ``nocai eval triage`` as a reliability
   table). A no-match has no plan, so its confidence is 0; how close it came is kept as the match probability.
5. When the evidence is weak the result is an explicit no-match: no failure type is invented.
6. ``assignment_group`` (and ``assignment_group_source``, :func:`route`): the winning signature's assignment
   group when its history agrees with the plan's runbook (it cites that runbook's steps, or cites nothing and
   has its failure type) or the runbook declares no team — the tickets show who actually fixes this failure; else
   the plan's runbook's team — the plan is that runbook, and a history about another runbook says nothing of
   who owns this one. A no-match is routed only when its nearest runbooks all belong to one team and the best of
   them is close (:data:`NO_MATCH_ROUTING`). Responders' corrections for the alert's pattern come above all of
   these; they are applied by the orchestration (``ai_service.incidents``), which reads feedback.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ai_service import taxonomy
from ai_service.alerts.models import NormalizedAlert
from ai_service.retrieval.calibration import Calibration
from ai_service.retrieval.models import Provenance, RunbookHit, SearchResult, SignatureHit, SignatureRecord
from ai_service.retrieval.service import load_calibration
from ai_service.triage import severity as sev
from ai_service.triage.models import SignatureVote, Triage


def track_record(hit: SignatureRecord) -> float:
    """How often responders confirmed this signature's matches, Laplace-smoothed: ``(confirmed + 1) / (judged +
    2)``. One half until anyone has judged it; only feedback moves it (``ai_service.feedback``), so a triage never
    changes the weights the next triage reads."""
    return (hit.confirmed_count + 1) / (hit.match_count + 2)


def _vote(hit: SignatureHit) -> SignatureVote:
    record = track_record(hit)
    return SignatureVote(
        incident_signature_id=hit.incident_signature_id,
        failure_type=hit.failure_type,
        error_class=hit.error_class,
        fused_score=hit.provenance.score,
        track_record=record,
        weight=hit.provenance.score * record,
    )


def classify(alert: NormalizedAlert, result: SearchResult, calibration: Calibration | None = None) -> Triage:
    """Triage ``alert`` from its retrieval ``result`` (pure: no I/O); ``calibration`` is the one ``result`` was
    searched with (default: the shipped one), whose confidence scaling turns match probability into confidence."""
    calibration = calibration or load_calibration()
    no_match = result.abstention.abstained
    votes = [_vote(s) for s in result.signatures]
    failure_type = error_class = None
    winner: SignatureHit | None = None  # the signature whose history routing weighs
    history: SignatureHit | None = None  # the signature whose impact and urgency speak for the triage
    top = result.runbooks[0] if result.runbooks and not no_match else None
    by_failure: dict[tuple[str, str], float] = defaultdict(float)
    for vote in votes:
        if vote.failure_type != taxonomy.UNKNOWN:
            by_failure[(vote.failure_type, vote.error_class)] += vote.weight
    if by_failure and not no_match:
        (failure_type, error_class), _ = max(by_failure.items(), key=lambda item: (item[1], item[0]))
        members = [s for s in result.signatures if (s.failure_type, s.error_class) == (failure_type, error_class)]
        winner = history = max(members, key=lambda s: s.provenance.score)
        if (
            top is not None
            and taxonomy.is_known(top.failure_type)
            and top.failure_type != failure_type
            and not any(_agrees(s, top) for s in members)
        ):
            # The winning history is about another runbook than the plan's: the label follows the plan, and the
            # history that speaks for it is that of the signatures that agree with the plan's runbook.
            failure_type, error_class = top.failure_type, taxonomy.error_class_of(top.failure_type)
            agreeing = [s for s in result.signatures if _agrees(s, top)]
            history = max(agreeing, key=lambda s: s.provenance.score) if agreeing else None
            winner = history or winner  # routing too follows the history that agrees with the plan, when any
    elif top is not None and taxonomy.is_known(top.failure_type):
        failure_type, error_class = top.failure_type, taxonomy.error_class_of(top.failure_type)
    routing = route(result, winner, no_match=no_match)
    severity, reason, impact, urgency = sev.combine(
        alert.severity_normalized, history.impact if history else None, history.urgency if history else None
    )
    evidence: list[dict[str, object]] = []
    for rb in result.runbooks:
        evidence.append({"kind": "runbook", "id": rb.runbook_id, "title": rb.title, **_scores(rb.provenance)})
    for step in result.steps:
        if step.provenance:
            evidence.append(
                {"kind": "step", "id": step.step_id, "runbook_id": step.runbook_id, **_scores(step.provenance)}
            )
    for s in result.signatures:
        evidence.append(
            {
                "kind": "signature",
                "id": s.incident_signature_id,
                "failure_type": s.failure_type,
                **_scores(s.provenance),
            }
        )
    return Triage(
        no_match=no_match,
        failure_type=failure_type,
        error_class=error_class,
        severity=severity,
        severity_reason=reason,
        confidence=0.0 if no_match else _confidence(result, calibration),
        assignment_group=routing.assignment_group,
        assignment_group_source=routing.source,
        impact=_itsm(impact),
        urgency=_itsm(urgency),
        matched_signature_ids=_carried(result, failure_type, error_class),
        matched_runbook_refs=[] if no_match else [rb.runbook_id for rb in result.runbooks[:3]],
        votes=votes,
        evidence=evidence,
        retrieval_method=result.retrieval_method,
    )


@dataclass(frozen=True)
class Routing:
    """The team triage proposes for an alert, and where that proposal came from (both None: no proposal)."""

    assignment_group: str | None = None
    source: str | None = None


#: A no-match is routed to the team of its nearest runbooks when the first ``runbooks`` retrieved all belong to
#: that one team and the best cosine similarity among them is at least ``min_similarity``; set ``runbooks`` to 0
#: to never route a no-match. Measured with ``nocai eval triage`` (see docs/taxonomy.md).
NO_MATCH_ROUTING: dict[str, float] = {"runbooks": 5, "min_similarity": 0.5}


def route(result: SearchResult, winner: SignatureHit | None, *, no_match: bool) -> Routing:
    """The assignment group for a triage (see the module docstring, point 6, for the order and why)."""
    if no_match:
        return _nearest_team(result)
    top = result.runbooks[0] if result.runbooks else None
    if winner is not None and winner.assignment_group and (top is None or not top.team or _agrees(winner, top)):
        return Routing(winner.assignment_group, f"signature {winner.incident_signature_id}")
    if top is not None and top.team:
        return Routing(top.team, f"runbook {top.runbook_id}")
    return Routing()


def _agrees(signature: SignatureHit, runbook: RunbookHit) -> bool:
    """Does the signature's history speak of this runbook: it cites one of its steps, or cites none and has its
    failure type?"""
    if signature.resolution_refs:
        return any(ref.rsplit("-S", 1)[0] == runbook.runbook_id for ref in signature.resolution_refs)
    return signature.failure_type == runbook.failure_type


def _nearest_team(result: SearchResult) -> Routing:
    """A no-match's team: that of its nearest runbooks when they agree and are close enough (NO_MATCH_ROUTING)."""
    count = int(NO_MATCH_ROUTING["runbooks"])
    nearest = result.runbooks[:count]
    if count <= 0 or len(nearest) < count:
        return Routing()
    teams = {rb.team for rb in nearest}
    similarity = max(rb.provenance.vector.score or 0.0 for rb in nearest)
    if len(teams) != 1 or None in teams or similarity < NO_MATCH_ROUTING["min_similarity"]:
        return Routing()
    return Routing(nearest[0].team, "runbooks " + ", ".join(rb.runbook_id for rb in nearest))


def _carried(result: SearchResult, failure_type: str | None, error_class: str | None) -> list[str]:
    """The signatures that carried the vote (the winning failure type and error class), best first, at most 3."""
    if failure_type is None:
        return []
    members = [s for s in result.signatures if (s.failure_type, s.error_class) == (failure_type, error_class)]
    members.sort(key=lambda s: s.provenance.score, reverse=True)
    return [s.incident_signature_id for s in members[:3]]


def _confidence(result: SearchResult, calibration: Calibration) -> float:
    """The calibrated probability that the plan's first step is right; when responders chose the runbook for this
    alert's pattern, at least what their agreement says ((votes + 1) / (votes + 2))."""
    calibrated = calibration.confidence(result.abstention.match_probability)
    if result.feedback is not None:
        calibrated = max(calibrated, result.feedback.confidence)
    return round(calibrated, 4)


def _itsm(level: int) -> str:
    return {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}[level]


def _scores(p: Provenance) -> dict[str, object]:
    return {
        "vector_rank": p.vector.rank,
        "vector_score": p.vector.score,
        "fulltext_rank": p.fulltext.rank,
        "fulltext_score": p.fulltext.score,
        "rrf": round(p.rrf, 6),
        "score": round(p.score, 6),
        "boosts": p.boosts,
    }
