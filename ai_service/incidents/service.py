"""Alert in → triage and resolution stored: the whole judgement for one new incident, in one transaction.

The orchestration above the core domains: retrieval finds the evidence, triage classifies, resolution plans,
the optional LLM explains, the policy puts the result in a band; then the triage row, the resolution row and
the incident's summary are written together. Used by ``nocai triage`` and by the service's queue workers;
knows nothing of HTTP or the CLI.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace

import psycopg
from psycopg_pool import ConnectionPool

from ai_service.alerts.fingerprint import alert_pattern
from ai_service.alerts.models import NormalizedAlert
from ai_service.config import Settings
from ai_service.feedback import store as feedback_store
from ai_service.incidents import store
from ai_service.incidents.models import TriageOutcome
from ai_service.knowledge.embeddings import Embedder
from ai_service.llm.advisor import advise
from ai_service.llm.models import EvidenceItem
from ai_service.policy.models import Policy, PolicyContext, PolicyDecision
from ai_service.policy.service import evaluate
from ai_service.resolution import store as resolution_store
from ai_service.resolution.models import ResolutionPlan
from ai_service.resolution.service import build_plan
from ai_service.retrieval.calibration import Calibration
from ai_service.retrieval.models import SearchResult
from ai_service.retrieval.query_text import build_query
from ai_service.retrieval.service import SearchOptions, load_calibration, search
from ai_service.triage import store as triage_store
from ai_service.triage.models import Triage
from ai_service.triage.service import classify
from ai_service.vocabulary import phase_rank

#: Steps are searched within the runbooks retrieved for the alert: the plan is built from those and from the
#: signatures' history (see ``resolution.service``).
TRIAGE_SEARCH = SearchOptions(steps_from_top_runbooks=True)


@dataclass
class Judgement:
    """What triage concluded about one alert, before anything is stored."""

    triage: Triage
    plan: ResolutionPlan
    decision: PolicyDecision
    search: SearchResult
    seconds: float


def judge(
    conn: psycopg.Connection,
    embedder: Embedder,
    alert: NormalizedAlert,
    *,
    policy: Policy,
    settings: Settings | None = None,
    calibration: Calibration | None = None,
    pool: ConnectionPool | None = None,
    include_alertname: bool = True,
) -> Judgement:
    """Triage ``alert``: evidence, classification, plan, optional LLM advice, band. Reads only.

    ``include_alertname=False`` keeps the alertname out of the query (evaluations: runbooks are named after
    alerts); it still names the alert's pattern, under which responders' teaching is read.

    ``calibration`` replaces the shipped abstention rule and confidence scaling (evaluations pass held-out rules);
    with ``pool``, retrieval searches the signatures on a pooled connection beside ``conn`` (see ``search``).
    """
    started = time.perf_counter()
    calibration = calibration or load_calibration()
    options = _taught_options(conn, alert)
    query = build_query(alert, include_alertname=include_alertname)
    result = search(conn, embedder, query, options, calibration=calibration, pool=pool)
    triage = _taught_routing(conn, alert, classify(alert, result, calibration))
    plan = build_plan(
        conn,
        result,
        triage,
        step_records=feedback_store.step_records(conn, _plan_candidates(result)),
        exclude_runbook_ids=options.filters.exclude_runbook_ids,
    )
    if settings is not None and settings.llm_url and plan.recommendations:
        triage, plan = _with_llm_advice(settings, alert, triage, plan, result)
    decision = evaluate(
        policy,
        PolicyContext.from_alert(
            alert,
            confidence=triage.confidence,
            no_match=triage.no_match,
            severity=triage.severity,
            risk_level=plan.risk_level,
            failure_type=triage.failure_type,
            error_class=triage.error_class,
            matched_signature_count=len(triage.matched_signature_ids),
            step_count=len(plan.recommendations),
        ),
    )
    return Judgement(triage, plan, decision, result, time.perf_counter() - started)


def _taught_options(conn: psycopg.Connection, alert: NormalizedAlert) -> SearchOptions:
    """Triage's search options with what responders taught about this alert's pattern: the runbook they named
    right first, the ones they named wrong left out."""
    choices = feedback_store.runbook_choices(conn, alert_pattern(alert))
    if not choices:
        return TRIAGE_SEARCH
    wrong = tuple(c.runbook_id for c in choices if c.net < 0)
    right = next((c for c in choices if c.net > 0), None)
    return replace(
        TRIAGE_SEARCH,
        filters=replace(TRIAGE_SEARCH.filters, exclude_runbook_ids=wrong),
        chosen_runbook=right.runbook_id if right else None,
        chosen_votes=right.net if right else 0,
    )


def _taught_routing(conn: psycopg.Connection, alert: NormalizedAlert, triage: Triage) -> Triage:
    """The triage with the assignment group responders last corrected this alert's pattern to, when they did:
    a person's word on who owns it comes above the runbook's team and the signatures' history."""
    correction = feedback_store.assignment_correction(conn, alert_pattern(alert))
    if correction is None:
        return triage
    return triage.model_copy(
        update={
            "assignment_group": correction.assignment_group,
            "assignment_group_source": f"feedback {correction.feedback_id}",
        }
    )


def _plan_candidates(result: SearchResult) -> list[str]:
    """Every step a plan could be made of: the top runbook's and the signatures' resolving steps."""
    steps = [s.step_id for s in result.runbooks[0].steps] if result.runbooks else []
    return steps + [ref for s in result.signatures for ref in s.resolution_refs]


def record(conn: psycopg.Connection, incident_id: uuid.UUID, judgement: Judgement) -> TriageOutcome:
    """Store a judgement: the triage row, the resolution row and the incident's summary (in the caller's
    transaction, so that whatever else it commits — a work item done — commits with them)."""
    triage, plan, decision = judgement.triage, judgement.plan, judgement.decision
    triage_id = triage_store.insert_triage(conn, incident_id=incident_id, triage=triage, band=decision.band)
    resolution_id = resolution_store.insert_resolution(
        conn,
        incident_id=incident_id,
        triage_result_id=triage_id,
        plan=plan,
        decision=decision,
        evidence=triage.evidence,
        retrieval_method=triage.retrieval_method,
    )
    store.record_triage(conn, incident_id=incident_id, triage=triage, plan=plan, decision=decision)
    return TriageOutcome(
        incident_id, triage_id, resolution_id, triage, plan, decision, judgement.search, judgement.seconds
    )


def triage_incident(
    conn: psycopg.Connection,
    embedder: Embedder,
    alert: NormalizedAlert,
    incident_id: uuid.UUID,
    *,
    policy: Policy,
    settings: Settings | None = None,
    calibration: Calibration | None = None,
    pool: ConnectionPool | None = None,
) -> TriageOutcome:
    """Judge ``alert`` (already recorded as ``incident_id``) and store the result in one transaction (``conn`` in
    autocommit). The service's workers do the same through the work queue (``ai_service.service.worker``)."""
    judgement = judge(conn, embedder, alert, policy=policy, settings=settings, calibration=calibration, pool=pool)
    with conn.transaction():
        return record(conn, incident_id, judgement)


def _with_llm_advice(
    settings: Settings, alert: NormalizedAlert, triage: Triage, plan: ResolutionPlan, result: SearchResult
) -> tuple[Triage, ResolutionPlan]:
    """Ask the optional LLM for an explanation and a bounded re-ranking; on any failure nothing changes.

    The re-ranking may only reorder steps within their phase (diagnosis still comes before mitigation), and the
    advisor's own bounds apply (top steps only, only between steps of similar confidence).
    """
    evidence = [
        EvidenceItem(id=r.step_id, kind="step", text=f"{r.condition}\n{r.action}", score=r.confidence)
        for r in plan.recommendations
    ] + [
        EvidenceItem(id=s.incident_signature_id, kind="signature", text="; ".join(s.symptoms), score=s.provenance.score)
        for s in result.signatures
    ]
    advice = advise(
        settings,
        alert.title,
        alert.description,
        alert.labels,
        evidence,
        [r.step_id for r in plan.recommendations],
        {r.step_id: r.confidence for r in plan.recommendations},
    )
    llm = advice.model_dump(mode="json", exclude={"explanation", "ranking"})
    if advice.status != "ok":
        return triage.model_copy(update={"llm": llm}), plan
    recommendations = plan.recommendations
    if advice.ranking:
        position = {step_id: i for i, step_id in enumerate(advice.ranking)}
        recommendations = sorted(
            recommendations,
            key=lambda r: (phase_rank(r.phase), position.get(r.step_id, len(position))),
        )
    return (
        triage.model_copy(update={"explanation": advice.explanation, "llm": llm}),
        plan.model_copy(update={"recommendations": recommendations}),
    )
