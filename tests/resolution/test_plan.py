"""``build_plan`` on a real database holding a tiny knowledge base written by the test (three YAML runbooks whose
steps state their phase and risk). Retrieval results and triages are built by hand, naming steps that exist."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ai_service.alerts.models import NormalizedAlert
from ai_service.knowledge import service as knowledge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.resolution.models import ResolutionPlan
from ai_service.resolution.service import SUPPORT, build_plan
from ai_service.retrieval import store as retrieval_store
from ai_service.retrieval.calibration import FEATURES, Calibration
from ai_service.retrieval.models import (
    Abstention,
    LegScore,
    Provenance,
    RunbookHit,
    SearchResult,
    SignatureHit,
    StepHit,
)
from ai_service.triage.models import SignatureVote, Triage
from ai_service.triage.service import classify
from db.connection import connect

# (step number, phase, risk) of each runbook, in document order. The step ids are <runbook_id>-S<n>.
RUNBOOKS: dict[str, tuple[str, list[tuple[str, str, str, str]]]] = {
    "disk-full": (
        "Filesystem almost full on a Linux host",
        [
            ("diagnosis", "low", "When the filesystem usage alert fires", "Check which mount is full with df -h."),
            ("diagnosis", "low", "When the full mount is known", "Find the largest directories with du -xh."),
            ("mitigation", "high", "When rotated logs fill the disk", "Delete rotated logs older than 7 days."),
            ("mitigation", "medium", "When deleted files are still open", "Restart the service holding them."),
            ("verification", "low", "After freeing space", "Confirm that usage is back under 80 percent."),
        ],
    ),
    "log-shipping": (
        "Log shipper backlog",
        [
            ("diagnosis", "low", "When the log shipper falls behind", "Check the shipper's queue depth."),
            ("mitigation", "medium", "When the queue keeps growing", "Restart the log shipper."),
            ("verification", "low", "After the restart", "Confirm that the queue drains."),
        ],
    ),
    "storage-array": (
        "Storage array degraded",
        [
            ("other", "low", "When the array reports a failed disk", "Page the storage vendor's support line."),
            ("other", "low", "While the vendor is engaged", "Open a change ticket for the disk swap."),
            ("diagnosis", "low", "When the array is degraded", "Check the array controller's event log."),
            ("diagnosis", "low", "When a disk is reported failed", "Read the failed disk's SMART data."),
            ("mitigation", "medium", "When a hot spare is available", "Start the rebuild onto the hot spare."),
        ],
    ),
}
PHASE_ORDER = ("diagnosis", "mitigation", "verification", "other")
CONFIDENCE = 0.8
_ALERT = NormalizedAlert(alert_id="a-1", source="generic", status="firing", title="Filesystem almost full")
_NO_SCALING = Calibration(
    features=FEATURES,
    mean=[0.0] * len(FEATURES),
    scale=[1.0] * len(FEATURES),
    weights=[0.0] * len(FEATURES),
    bias=0.0,
    threshold=0.5,
)


def _yaml(runbook_id: str, title: str, steps: list[tuple[str, str, str, str]]) -> str:
    lines = [f"runbook_id: {runbook_id}", f"title: {title}", "steps:"]
    for phase, risk, condition, action in steps:
        lines += [
            f"  - condition: {condition}",
            f"    action: {action}",
            f"    phase: {phase}",
            f"    risk_level: {risk}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def conn(pg_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[psycopg.Connection]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("plan-kb")
    for runbook_id, (title, steps) in RUNBOOKS.items():
        (folder / f"{runbook_id}.yaml").write_text(_yaml(runbook_id, title, steps), encoding="utf-8")
    name = pg_server.create_database(template=pg_server.migrated_template())
    with connect(pg_server.url(name), autocommit=True) as connection:
        report = knowledge.ingest_runbooks(connection, LocalMiniLMEmbedder(), [folder])
        assert all(f.status != "failed" for f in report.files), [f.error for f in report.files]
        yield connection
    pg_server.drop_database(name)


def test_the_fixture_knowledge_base_is_what_the_tests_assume(conn: psycopg.Connection) -> None:
    for runbook_id, (_, steps) in RUNBOOKS.items():
        stored = retrieval_store.steps_of_runbooks(conn, [runbook_id])
        assert [(s.step_id, s.phase, s.risk_level) for s in stored] == [
            (f"{runbook_id}-S{n}", phase, risk) for n, (phase, risk, _, _) in enumerate(steps, start=1)
        ]


# --- building blocks ------------------------------------------------------------------------------------------------


def _provenance(score: float) -> Provenance:
    return Provenance(
        vector=LegScore(rank=1, score=0.7),
        fulltext=LegScore(rank=1, score=4.0),
        rrf=score,
        score=score,
        query_coverage=0.5,
    )


def _runbook(conn: psycopg.Connection, runbook_id: str, score: float) -> RunbookHit:
    return RunbookHit(
        runbook_id=runbook_id,
        title=RUNBOOKS[runbook_id][0],
        source_path=f"{runbook_id}.yaml",
        service=None,
        component=None,
        provenance=_provenance(score),
        steps=retrieval_store.steps_of_runbooks(conn, [runbook_id]),
    )


def _searched(conn: psycopg.Connection, *step_ids: str) -> list[StepHit]:
    """Steps as retrieval returns them: with their scores, best first."""
    loaded = {s.step_id: s for s in retrieval_store.steps_by_id(conn, list(step_ids))}
    return [
        loaded[step_id].model_copy(update={"provenance": _provenance(0.03 - i * 0.001)})
        for i, step_id in enumerate(step_ids)
    ]


def _signature(
    signature_id: str, failure_type: str, score: float, refs: list[str], error_class: str = "capacity"
) -> SignatureHit:
    return SignatureHit(
        incident_signature_id=signature_id,
        failure_type=failure_type,
        error_class=error_class,
        symptoms=[failure_type],
        assignment_group="Ops",
        impact="2 - Medium",
        urgency="2 - Medium",
        resolution_refs=refs,
        incident_count=4,
        resolution_success_count=0,
        match_count=0,
        provenance=_provenance(score),
    )


def _search(
    runbooks: list[RunbookHit], signatures: list[SignatureHit] | None = None, steps: list[StepHit] | None = None
) -> SearchResult:
    return SearchResult(
        query_text="filesystem almost full",
        runbooks=runbooks,
        steps=steps or [],
        signatures=signatures or [],
        abstention=Abstention(abstained=False, match_probability=0.9, threshold=0.5, features={}, calibration="test"),
    )


def _triage(
    signatures: list[SignatureHit],
    *,
    concluded: tuple[str, str] | None = ("disk full", "capacity"),
    confidence: float = CONFIDENCE,
    no_match: bool = False,
    runbook_refs: list[str] | None = None,
) -> Triage:
    """A triage that concluded ``concluded`` and matched the first three signatures."""
    votes = [
        SignatureVote(
            incident_signature_id=s.incident_signature_id,
            failure_type=s.failure_type,
            error_class=s.error_class,
            weight=s.provenance.score / 2,
            fused_score=s.provenance.score,
            track_record=0.5,
        )
        for s in signatures
    ]
    return Triage(
        no_match=no_match,
        failure_type=None if no_match or concluded is None else concluded[0],
        error_class=None if no_match or concluded is None else concluded[1],
        severity="medium",
        severity_reason="test",
        confidence=0.0 if no_match else confidence,
        assignment_group=None,
        impact="2 - Medium",
        urgency="2 - Medium",
        matched_signature_ids=[] if no_match else [s.incident_signature_id for s in signatures[:3]],
        matched_runbook_refs=[] if no_match else (runbook_refs or []),
        votes=votes,
        evidence=[],
        retrieval_method="test",
    )


def _ids(plan: ResolutionPlan) -> list[str]:
    return [r.step_id for r in plan.recommendations]


def _plan_order(step_ids: list[str], runbook_order: list[str]) -> list[str]:
    """The documented order: phase, then the runbook's rank in the result (unranked last), then step order."""

    def key(step_id: str) -> tuple[int, int, int]:
        runbook_id, number = step_id.rsplit("-S", 1)
        phase = RUNBOOKS[runbook_id][1][int(number) - 1][0]
        rank = runbook_order.index(runbook_id) if runbook_id in runbook_order else len(runbook_order)
        return PHASE_ORDER.index(phase), rank, int(number)

    return sorted(step_ids, key=key)


def _all_steps(runbook_id: str) -> list[str]:
    return [f"{runbook_id}-S{n}" for n in range(1, len(RUNBOOKS[runbook_id][1]) + 1)]


# --- order ----------------------------------------------------------------------------------------------------------


def test_steps_are_ordered_by_phase_then_runbook_rank_then_step_order(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033), _runbook(conn, "log-shipping", 0.02)]
    # History cites steps of the second runbook and of one retrieval did not return at all.
    cited = ["log-shipping-S2", "storage-array-S3", "log-shipping-S1", "disk-full-S4"]
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, cited)]
    plan = build_plan(conn, _search(runbooks, signatures), _triage(signatures))
    chosen = set(_all_steps("disk-full")) | set(cited)
    expected = _plan_order(list(chosen), ["disk-full", "log-shipping"])
    assert _ids(plan) == expected
    # Spelled out, so that the helper cannot hide a mistake: diagnosis (top runbook, second, unranked), then
    # mitigation (top runbook in its order, then the second), then verification.
    assert expected == [
        "disk-full-S1",
        "disk-full-S2",
        "log-shipping-S1",
        "storage-array-S3",
        "disk-full-S3",
        "disk-full-S4",
        "log-shipping-S2",
        "disk-full-S5",
    ]
    ranks = {r.step_id: r.provenance["runbook_rank"] for r in plan.recommendations}
    assert ranks["disk-full-S1"] == 0 and ranks["log-shipping-S1"] == 1 and ranks["storage-array-S3"] is None


def test_only_the_top_runbook_and_history_make_the_plan(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033), _runbook(conn, "log-shipping", 0.02)]
    # Retrieval also found a step of the second runbook; without history citing it, it stays evidence only.
    steps = _searched(conn, "disk-full-S3", "log-shipping-S2")
    plan = build_plan(conn, _search(runbooks, steps=steps), _triage([]))
    assert _ids(plan) == _all_steps("disk-full")
    assert plan.retrieved_step_ids == ["disk-full-S3", "log-shipping-S2"]


# --- support, confidence, provenance --------------------------------------------------------------------------------


def test_each_step_is_scaled_by_its_support_and_says_where_it_came_from(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033), _runbook(conn, "log-shipping", 0.02)]
    # S3 was returned by retrieval; S4 by retrieval and by history (history is the stronger support); S1 of the
    # second runbook by history only; the rest of the top runbook only because the runbook matched.
    steps = _searched(conn, "disk-full-S3", "disk-full-S4")
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, ["disk-full-S4", "log-shipping-S1"])]
    plan = build_plan(conn, _search(runbooks, signatures, steps), _triage(signatures))
    expected_source = {
        "disk-full-S1": "runbook",
        "disk-full-S2": "runbook",
        "disk-full-S3": "search",
        "disk-full-S4": "signature",
        "disk-full-S5": "runbook",
        "log-shipping-S1": "signature",
    }
    by_id = {r.step_id: r for r in plan.recommendations}
    assert set(by_id) == set(expected_source)
    assert SUPPORT["signature"] > SUPPORT["search"] > SUPPORT["runbook"]
    for step_id, source in expected_source.items():
        rec = by_id[step_id]
        assert rec.provenance["source"] == source, step_id
        assert rec.confidence == pytest.approx(CONFIDENCE * SUPPORT[source], abs=1e-4), step_id
        runbook_id = step_id.rsplit("-S", 1)[0]
        assert rec.runbook_id == runbook_id and rec.provenance["runbook_id"] == runbook_id
        assert rec.provenance["runbook_rank"] == ["disk-full", "log-shipping"].index(runbook_id)
        cited = source == "signature"
        assert rec.provenance["signatures"] == (["SIG-DISK-001"] if cited else [])
        # Per-leg scores travel with the steps retrieval returned, and only with those.
        assert (rec.provenance["step_scores"] is not None) == (step_id in {"disk-full-S3", "disk-full-S4"})
        # The runbook's own score travels with the top runbook's steps.
        assert rec.provenance["runbook_score"] == (pytest.approx(0.033) if runbook_id == "disk-full" else None)
    # The step's content comes from the knowledge base.
    phase, risk, condition, action = RUNBOOKS["disk-full"][1][2]
    s3 = by_id["disk-full-S3"]
    assert (s3.phase, s3.risk_level, s3.action) == (phase, risk, action) and condition in s3.condition
    assert plan.overall_confidence == CONFIDENCE
    assert plan.used_signature_ids == ["SIG-DISK-001"]


@pytest.mark.parametrize("confidence", [0.0, 0.37, 1.0])
def test_step_confidence_follows_the_triage_confidence(conn: psycopg.Connection, confidence: float) -> None:
    runbooks = [_runbook(conn, "log-shipping", 0.03)]
    signatures = [_signature("SIG-LOG-001", "disk full", 0.03, ["log-shipping-S2"])]
    steps = _searched(conn, "log-shipping-S1")
    plan = build_plan(conn, _search(runbooks, signatures, steps), _triage(signatures, confidence=confidence))
    assert [(r.step_id, r.confidence) for r in plan.recommendations] == [
        ("log-shipping-S1", pytest.approx(confidence * SUPPORT["search"], abs=1e-4)),
        ("log-shipping-S2", pytest.approx(confidence * SUPPORT["signature"], abs=1e-4)),
        ("log-shipping-S3", pytest.approx(confidence * SUPPORT["runbook"], abs=1e-4)),
    ]


# --- whose history counts -------------------------------------------------------------------------------------------


def test_only_signatures_that_agree_with_the_conclusion_lend_their_history(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    signatures = [
        _signature("SIG-DISK-001", "disk full", 0.03, ["log-shipping-S2"]),
        # Matched (top three) but of another failure: its fixes are for a diagnosis triage did not make.
        _signature("SIG-ARRAY-001", "array degraded", 0.029, ["storage-array-S5"], error_class="hardware"),
        # Same failure type, another error class: not the same conclusion either.
        _signature("SIG-DISK-002", "disk full", 0.028, ["storage-array-S4"], error_class="hardware"),
    ]
    plan = build_plan(conn, _search(runbooks, signatures), _triage(signatures))
    assert "log-shipping-S2" in _ids(plan)
    assert not {"storage-array-S4", "storage-array-S5"} & set(_ids(plan))
    assert plan.used_signature_ids == ["SIG-DISK-001"]
    assert {r.step_id for r in plan.recommendations if r.provenance["source"] == "signature"} == {"log-shipping-S2"}


def test_a_signature_outside_the_matched_ones_lends_no_history(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    signatures = [
        _signature("SIG-DISK-001", "disk full", 0.03, []),
        _signature("SIG-DISK-002", "disk full", 0.029, []),
        _signature("SIG-DISK-003", "disk full", 0.028, []),
        _signature("SIG-DISK-004", "disk full", 0.027, ["log-shipping-S2"]),  # agrees, but is fourth
    ]
    plan = build_plan(conn, _search(runbooks, signatures), _triage(signatures))
    assert _ids(plan) == _all_steps("disk-full") and plan.used_signature_ids == []


def test_a_triage_without_a_failure_type_uses_no_history(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, ["log-shipping-S2"])]
    plan = build_plan(conn, _search(runbooks, signatures), _triage(signatures, concluded=None))
    assert _ids(plan) == _all_steps("disk-full") and plan.used_signature_ids == []


# --- the cap and the risk -------------------------------------------------------------------------------------------


def test_the_cap_keeps_the_first_steps_of_the_plan(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    full = build_plan(conn, _search(runbooks), _triage([]))
    for cap in range(1, len(full.recommendations) + 1):
        assert _ids(build_plan(conn, _search(runbooks), _triage([]), max_steps=cap)) == _ids(full)[:cap]


def test_the_cap_keeps_history_even_when_it_sorts_last(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    # History used the verification step; with room for two steps, it stays, beside the first diagnosis step.
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, ["disk-full-S5"])]
    plan = build_plan(conn, _search(runbooks, signatures), _triage(signatures), max_steps=2)
    assert _ids(plan) == ["disk-full-S1", "disk-full-S5"]
    assert [r.provenance["source"] for r in plan.recommendations] == ["runbook", "signature"]


def test_the_cap_never_exceeds_the_limit_when_history_alone_is_longer(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    cited = ["log-shipping-S3", "log-shipping-S2", "log-shipping-S1", "disk-full-S5"]
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, cited)]
    plan = build_plan(conn, _search(runbooks, signatures), _triage(signatures), max_steps=2)
    # All four cited steps compete; the two first in plan order are kept.
    assert _ids(plan) == _plan_order(cited, ["disk-full"])[:2] == ["log-shipping-S1", "log-shipping-S2"]


def test_the_cap_keeps_the_first_steps_of_the_plan_whatever_the_document_order(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "storage-array", 0.033)]
    full = build_plan(conn, _search(runbooks), _triage([]))
    assert _ids(full) == _plan_order(_all_steps("storage-array"), ["storage-array"])
    capped = build_plan(conn, _search(runbooks), _triage([]), max_steps=3)
    assert _ids(capped) == _ids(full)[:3] == ["storage-array-S3", "storage-array-S4", "storage-array-S5"]


def test_the_plan_is_as_risky_as_its_riskiest_step(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    full = build_plan(conn, _search(runbooks), _triage([]))
    assert {r.step_id: r.risk_level for r in full.recommendations}["disk-full-S3"] == "high"
    assert full.risk_level == "high"
    # Capped to the two diagnosis steps (both low), the plan is low risk: only steps in the plan count.
    capped = build_plan(conn, _search(runbooks), _triage([]), max_steps=2)
    assert [r.risk_level for r in capped.recommendations] == ["low", "low"] and capped.risk_level == "low"
    # A medium step from history raises a low-risk runbook's plan to medium.
    low_runbook = [_runbook(conn, "storage-array", 0.03)]
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, ["disk-full-S4"])]
    mixed = build_plan(conn, _search(low_runbook, signatures), _triage(signatures))
    assert "disk-full-S4" in _ids(mixed) and mixed.risk_level == "medium"


# --- no match -------------------------------------------------------------------------------------------------------


def test_a_no_match_gets_an_empty_plan_with_its_note(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, ["disk-full-S3"])]
    steps = _searched(conn, "disk-full-S3")
    plan = build_plan(conn, _search(runbooks, signatures, steps), _triage(signatures, no_match=True))
    assert plan.recommendations == [] and plan.risk_level is None
    assert plan.retrieved_step_ids == [] and plan.used_signature_ids == []
    assert plan.overall_confidence == 0.0
    assert plan.note and "no good match" in plan.note


def test_no_runbook_retrieved_is_no_plan(conn: psycopg.Connection) -> None:
    signatures = [_signature("SIG-DISK-001", "disk full", 0.03, ["disk-full-S3"])]
    plan = build_plan(conn, _search([], signatures), _triage(signatures))
    assert plan.recommendations == [] and plan.note


def test_the_winning_signature_lends_its_history_even_when_ranked_below_third(conn: psycopg.Connection) -> None:
    # The three closest signatures have been matched 20 times each (track record 1/22); the next two never.
    worn = {"match_count": 20}
    signatures = [
        _signature("SIG-DB-001", "replication lag", 0.030, ["storage-array-S1"], "performance").model_copy(update=worn),
        _signature("SIG-NET-001", "dns failure", 0.029, ["storage-array-S2"], "connectivity").model_copy(update=worn),
        _signature("SIG-HW-001", "array degraded", 0.028, ["storage-array-S3"], "hardware").model_copy(update=worn),
        _signature("SIG-DISK-001", "disk full", 0.027, ["log-shipping-S2"]),
        _signature("SIG-DISK-002", "disk full", 0.026, []),
    ]
    result = _search([_runbook(conn, "disk-full", 0.033)], signatures)
    triage = classify(_ALERT, result, _NO_SCALING)
    assert (triage.failure_type, triage.error_class) == ("disk full", "capacity")  # carried by the 4th and 5th
    assert "SIG-DISK-001" in triage.matched_signature_ids
    plan = build_plan(conn, result, triage)
    assert "log-shipping-S2" in _ids(plan) and plan.used_signature_ids == ["SIG-DISK-001"]


def test_a_step_cited_by_several_agreeing_signatures_names_them_all(conn: psycopg.Connection) -> None:
    runbooks = [_runbook(conn, "disk-full", 0.033)]
    signatures = [
        _signature("SIG-DISK-001", "disk full", 0.03, ["disk-full-S3", "log-shipping-S2"]),
        _signature("SIG-DISK-002", "disk full", 0.029, ["disk-full-S3"]),
    ]
    plan = build_plan(conn, _search(runbooks, signatures), _triage(signatures))
    by_id = {r.step_id: r for r in plan.recommendations}
    assert sorted(by_id["disk-full-S3"].provenance["signatures"]) == ["SIG-DISK-001", "SIG-DISK-002"]
    assert by_id["log-shipping-S2"].provenance["signatures"] == ["SIG-DISK-001"]
    assert plan.used_signature_ids == ["SIG-DISK-001", "SIG-DISK-002"]
