"""The signature vote of ``classify``, on hand-built retrieval results (pure: no database, no model)."""

from __future__ import annotations

import math
import random

import pytest

from ai_service import taxonomy
from ai_service.alerts.models import NormalizedAlert
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
from ai_service.triage.models import Triage
from ai_service.triage.service import classify

IDENTITY = Calibration(
    features=FEATURES,
    mean=[0.0] * len(FEATURES),
    scale=[1.0] * len(FEATURES),
    weights=[0.0] * len(FEATURES),
    bias=0.0,
    threshold=0.5,
    source="test",
)


def _provenance(score: float) -> Provenance:
    return Provenance(
        vector=LegScore(rank=1, score=0.7),
        fulltext=LegScore(rank=2, score=3.5),
        rrf=score,
        score=score,
        query_coverage=0.6,
    )


def _signature(
    signature_id: str,
    failure_type: str,
    error_class: str,
    score: float,
    *,
    confirmed: int = 0,
    judged: int = 0,
    group: str | None = None,
    impact: str | None = None,
    urgency: str | None = None,
) -> SignatureHit:
    return SignatureHit(
        incident_signature_id=signature_id,
        failure_type=failure_type,
        error_class=error_class,
        symptoms=[failure_type],
        assignment_group=group,
        impact=impact,
        urgency=urgency,
        resolution_refs=[],
        incident_count=5,
        resolution_success_count=0,
        confirmed_count=confirmed,
        match_count=judged,
        provenance=_provenance(score),
    )


def _runbook(runbook_id: str, score: float) -> RunbookHit:
    return RunbookHit(
        runbook_id=runbook_id,
        title=runbook_id.replace("-", " "),
        source_path=f"/kb/{runbook_id}.yaml",
        service=None,
        component=None,
        provenance=_provenance(score),
    )


def _result(
    signatures: list[SignatureHit],
    *,
    runbooks: list[RunbookHit] | None = None,
    steps: list[StepHit] | None = None,
    abstained: bool = False,
    probability: float = 0.8,
) -> SearchResult:
    return SearchResult(
        query_text="postgres too many clients",
        runbooks=runbooks if runbooks is not None else [_runbook("pg-connections", 0.033)],
        steps=steps or [],
        signatures=signatures,
        abstention=Abstention(
            abstained=abstained,
            match_probability=probability,
            threshold=0.5,
            features={name: 0.5 for name in FEATURES},
            calibration="test",
        ),
    )


def _alert(severity: str | None = "medium") -> NormalizedAlert:
    return NormalizedAlert(
        alert_id="a-1",
        source="generic",
        status="firing",
        title="FATAL: too many clients already",
        severity=severity,
        severity_normalized=severity,  # type: ignore[arg-type]
    )


def _classify(result: SearchResult, *, severity: str | None = "medium", calibration: Calibration = IDENTITY) -> Triage:
    return classify(_alert(severity), result, calibration)


def _weight(score: float, confirmed: int, judged: int) -> float:
    """Retrieval strength times the judged track record: (confirmed + 1) / (judged + 2)."""
    return score * (confirmed + 1) / (judged + 2)


# --- the weight -----------------------------------------------------------------------------------------------------


def test_a_vote_weighs_retrieval_strength_times_track_record() -> None:
    triage = _classify(
        _result(
            [
                _signature("SIG-A", "connection pool exhausted", "resource_exhaustion", 0.03, confirmed=3, judged=5),
                _signature("SIG-B", "disk full", "capacity", 0.02),
            ]
        )
    )
    first, second = triage.votes
    assert first.incident_signature_id == "SIG-A"
    assert first.fused_score == pytest.approx(0.03)
    assert first.track_record == pytest.approx(4 / 7)  # (3 + 1) / (5 + 2)
    assert first.weight == pytest.approx(0.03 * 4 / 7)
    # A signature triage has never matched starts from the uninformed prior, 1/2.
    assert second.track_record == pytest.approx(1 / 2)
    assert second.weight == pytest.approx(0.02 / 2)


def test_a_good_track_record_outvotes_a_slightly_closer_bad_one() -> None:
    closer = _signature("SIG-LUCKY", "replication lag", "performance", 0.032, confirmed=0, judged=8)
    proven = _signature("SIG-PROVEN", "connection pool exhausted", "resource_exhaustion", 0.030, confirmed=9, judged=10)
    assert closer.provenance.score > proven.provenance.score
    assert _weight(0.030, 9, 10) > _weight(0.032, 0, 8)
    triage = _classify(_result([closer, proven]))
    assert (triage.failure_type, triage.error_class) == ("connection pool exhausted", "resource_exhaustion")
    # Control: with equal track records the closer signature wins, so it is the record that decided above.
    even = _signature("SIG-PROVEN", "connection pool exhausted", "resource_exhaustion", 0.030, confirmed=0, judged=8)
    assert _classify(_result([closer, even])).failure_type == "replication lag"


def test_votes_for_the_same_failure_add_up() -> None:
    # One signature is the single strongest, but two weaker ones agreeing on another failure outweigh it.
    single = _signature("SIG-NET", "dns resolution failure", "connectivity", 0.030)
    agree_1 = _signature("SIG-DB-1", "connection pool exhausted", "resource_exhaustion", 0.020)
    agree_2 = _signature("SIG-DB-2", "connection pool exhausted", "resource_exhaustion", 0.019)
    assert _weight(0.020, 0, 0) + _weight(0.019, 0, 0) > _weight(0.030, 0, 0)
    triage = _classify(_result([single, agree_1, agree_2]))
    assert (triage.failure_type, triage.error_class) == ("connection pool exhausted", "resource_exhaustion")
    # Without the second agreeing signature the single strongest one wins.
    assert _classify(_result([single, agree_1])).failure_type == "dns resolution failure"


def test_the_same_failure_type_with_another_error_class_is_another_candidate() -> None:
    # The vote is on the pair (failure type, error class): the two "timeout" signatures do not pool.
    a = _signature("SIG-1", "timeout", "connectivity", 0.020)
    b = _signature("SIG-2", "timeout", "performance", 0.019)
    c = _signature("SIG-3", "certificate expired", "certificate", 0.030)
    triage = _classify(_result([c, a, b]))
    assert (triage.failure_type, triage.error_class) == ("certificate expired", "certificate")


# --- disagreement, the winner, and what it decides ------------------------------------------------------------------


def test_disagreement_goes_to_the_heavier_group_and_its_best_member_speaks_for_it() -> None:
    signatures = [
        # The single closest signature belongs to the group that loses the vote.
        _signature("SIG-NET-1", "dns resolution failure", "connectivity", 0.033, group="Network", impact="3 - Low"),
        _signature(
            "SIG-DB-1",
            "connection pool exhausted",
            "resource_exhaustion",
            0.025,
            group="DBA Team",
            impact="1 - High",
            urgency="1 - High",
        ),
        _signature(
            "SIG-DB-2",
            "connection pool exhausted",
            "resource_exhaustion",
            0.024,
            group="Platform",
            impact="3 - Low",
            urgency="3 - Low",
        ),
        _signature("SIG-NET-2", "dns resolution failure", "connectivity", 0.010, group="Network", impact="3 - Low"),
    ]
    db_weight = _weight(0.025, 0, 0) + _weight(0.024, 0, 0)
    net_weight = _weight(0.033, 0, 0) + _weight(0.010, 0, 0)
    assert db_weight > net_weight
    triage = _classify(_result(signatures), severity="low")
    assert (triage.failure_type, triage.error_class) == ("connection pool exhausted", "resource_exhaustion")
    # The winner is SIG-DB-1, the highest-scoring member of the winning group: its history is the one used.
    assert triage.assignment_group == "DBA Team"
    assert (triage.impact, triage.urgency) == ("1 - High", "1 - High")
    # Its impact and urgency feed severity: a low alert with a 1 - High / 1 - High history is P1.
    assert triage.severity == "critical"
    assert "history impact 1 - High" in triage.severity_reason


def test_the_winner_is_the_highest_scoring_member_wherever_it_is_listed() -> None:
    weaker = _signature("SIG-DB-2", "connection pool exhausted", "resource_exhaustion", 0.020, group="Platform")
    stronger = _signature("SIG-DB-1", "connection pool exhausted", "resource_exhaustion", 0.025, group="DBA Team")
    for order in ([weaker, stronger], [stronger, weaker]):
        assert _classify(_result(order)).assignment_group == "DBA Team"


def test_history_that_is_less_severe_than_the_alert_does_not_lower_it() -> None:
    sig = _signature("SIG-1", "disk full", "capacity", 0.03, group="Ops", impact="3 - Low", urgency="3 - Low")
    triage = _classify(_result([sig]), severity="critical")
    assert triage.severity == "critical" and (triage.impact, triage.urgency) == ("1 - High", "1 - High")


# --- ties -----------------------------------------------------------------------------------------------------------


def _tied() -> list[SignatureHit]:
    # Equal weights, exactly: 0.25 x 1/2 on each side (binary fractions, no rounding in the sums).
    return [
        _signature("SIG-X", "disk full", "capacity", 0.25, group="Ops", impact="3 - Low", urgency="3 - Low"),
        _signature("SIG-Y", "certificate expired", "certificate", 0.25, group="Security", impact="1 - High"),
        _signature("SIG-Z", "certificate expired", "certificate", 0.125, confirmed=0, judged=2, group="Security"),
        _signature("SIG-W", "disk full", "capacity", 0.125, confirmed=0, judged=2, group="Ops"),
    ]


def test_a_tie_is_broken_deterministically() -> None:
    signatures = _tied()
    by_group: dict[tuple[str, str], float] = {}
    for s in signatures:
        key = (s.failure_type, s.error_class)
        by_group[key] = by_group.get(key, 0.0) + _weight(s.provenance.score, s.confirmed_count, s.match_count)
    assert len(set(by_group.values())) == 1, "the fixture must be an exact tie"
    first = _classify(_result(signatures))
    assert (first.failure_type, first.error_class) in by_group
    # Same input, same output, every time.
    assert all(_classify(_result(signatures)) == first for _ in range(5))
    # The order retrieval listed the signatures in does not decide a tie between groups either.
    rng = random.Random(7)
    for _ in range(10):
        shuffled = signatures[:]
        rng.shuffle(shuffled)
        again = _classify(_result(shuffled))
        assert (again.failure_type, again.error_class, again.assignment_group, again.severity) == (
            first.failure_type,
            first.error_class,
            first.assignment_group,
            first.severity,
        )


# --- no match -------------------------------------------------------------------------------------------------------


def test_an_abstention_is_an_explicit_no_match_with_its_evidence_listed() -> None:
    signatures = [
        _signature("SIG-1", "disk full", "capacity", 0.03, group="Ops", impact="1 - High", urgency="1 - High"),
        _signature("SIG-2", "disk full", "capacity", 0.02, group="Ops"),
    ]
    step = StepHit(
        step_id="linux-disk-full-S1",
        runbook_id="linux-disk-full",
        step_order=1,
        phase="diagnosis",
        condition="Diagnosis of Disk full",
        action="df -h",
        expected_outcome=None,
        rollback=None,
        risk_level="low",
        provenance=_provenance(0.031),
    )
    result = _result(
        signatures,
        runbooks=[_runbook("linux-disk-full", 0.03), _runbook("log-rotation", 0.02)],
        steps=[step],
        abstained=True,
        probability=0.3,
    )
    triage = _classify(result, severity="medium")
    assert triage.no_match
    assert triage.failure_type is None and triage.error_class is None and triage.assignment_group is None
    assert triage.confidence == 0.0
    assert triage.matched_signature_ids == [] and triage.matched_runbook_refs == []
    # No signature's history speaks: the alert's own severity stands (its 1 - High history would make it critical).
    assert triage.severity == "medium"
    # Everything retrieval found is still listed as evidence, with its scores.
    listed = {(e["kind"], e["id"]) for e in triage.evidence}
    assert listed == {
        ("runbook", "linux-disk-full"),
        ("runbook", "log-rotation"),
        ("step", "linux-disk-full-S1"),
        ("signature", "SIG-1"),
        ("signature", "SIG-2"),
    }
    assert all({"vector_rank", "fulltext_rank", "rrf", "score"} <= set(e) for e in triage.evidence)


def test_no_signatures_means_no_failure_type_but_not_a_no_match() -> None:
    triage = _classify(_result([]), severity="high")
    assert not triage.no_match and triage.failure_type is None and triage.error_class is None
    assert triage.matched_signature_ids == [] and triage.matched_runbook_refs == ["pg-connections"]
    assert triage.severity == "high" and triage.confidence > 0


# --- confidence -----------------------------------------------------------------------------------------------------


def _platt(probability: float, a: float, b: float) -> float:
    logit = math.log(probability / (1 - probability))
    return 1 / (1 + math.exp(-(a * logit + b)))


@pytest.mark.parametrize(("a", "b"), [(1.0, 0.0), (2.0, -0.5), (0.5, 0.3)])
@pytest.mark.parametrize("probability", [0.55, 0.8, 0.97])
def test_confidence_is_the_platt_scaled_match_probability(a: float, b: float, probability: float) -> None:
    calibration = Calibration(**{**IDENTITY.__dict__, "confidence_scaling": [a, b]})
    sig = _signature("SIG-1", "disk full", "capacity", 0.03)
    triage = _classify(_result([sig], probability=probability), calibration=calibration)
    assert triage.confidence == pytest.approx(_platt(probability, a, b), abs=1e-4)
    # The same probability under an abstention is no plan, hence no confidence.
    abstained = _classify(_result([sig], probability=probability, abstained=True), calibration=calibration)
    assert abstained.confidence == 0.0


# --- top three ------------------------------------------------------------------------------------------------------


def test_matched_ids_are_the_top_three() -> None:
    signatures = [
        _signature(f"SIG-{i}", "disk full", "capacity", score) for i, score in enumerate([0.05, 0.04, 0.03, 0.02, 0.01])
    ]
    runbooks = [_runbook(f"rb-{i}", score) for i, score in enumerate([0.04, 0.03, 0.02, 0.01])]
    triage = _classify(_result(signatures, runbooks=runbooks))
    assert triage.matched_signature_ids == ["SIG-0", "SIG-1", "SIG-2"]
    assert triage.matched_runbook_refs == ["rb-0", "rb-1", "rb-2"]
    # Every signature still voted.
    assert [v.incident_signature_id for v in triage.votes] == [s.incident_signature_id for s in signatures]


def test_fewer_than_three_are_all_matched() -> None:
    signatures = [_signature("SIG-A", "disk full", "capacity", 0.03)]
    triage = _classify(_result(signatures, runbooks=[_runbook("rb-a", 0.03)]))
    assert triage.matched_signature_ids == ["SIG-A"] and triage.matched_runbook_refs == ["rb-a"]


# --- the label and the plan describe the same failure ------------------------------------------------------------


def _plan_runbook(runbook_id: str, failure_type: str, team: str | None = None) -> RunbookHit:
    return _runbook(runbook_id, 0.033).model_copy(update={"failure_type": failure_type, "team": team})


def test_a_vote_about_another_runbook_gives_way_to_the_plans_failure_type() -> None:
    plan = _plan_runbook("backup-job-failed", "backup_failure", team="Backup & Storage")
    pool = [
        _signature("SIG-DB-1", "connection_limit", "resource_exhaustion", 0.030, group="DBA Team", impact="1 - High"),
        _signature("SIG-DB-2", "connection_limit", "resource_exhaustion", 0.028, group="DBA Team"),
    ]
    triage = _classify(_result(pool, runbooks=[plan]))
    assert (triage.failure_type, triage.error_class) == ("backup_failure", taxonomy.error_class_of("backup_failure"))
    assert triage.matched_signature_ids == []  # no signature carried the plan's failure
    assert (triage.assignment_group, triage.assignment_group_source) == (
        "Backup & Storage",
        "runbook backup-job-failed",
    )
    assert "history" not in triage.severity_reason  # the DB history says nothing of this failure


def test_a_weaker_signature_that_agrees_with_the_plan_speaks_for_it() -> None:
    plan = _plan_runbook("backup-job-failed", "backup_failure")
    pool = [
        _signature("SIG-DB-1", "connection_limit", "resource_exhaustion", 0.030, group="DBA Team"),
        _signature("SIG-DB-2", "connection_limit", "resource_exhaustion", 0.028, group="DBA Team"),
        _signature("SIG-BK-1", "backup_failure", "data_integrity", 0.012, group="Storage", impact="1 - High"),
    ]
    triage = _classify(_result(pool, runbooks=[plan]), severity="low")
    assert triage.failure_type == "backup_failure" and triage.matched_signature_ids == ["SIG-BK-1"]
    assert triage.assignment_group == "Storage" and triage.impact == "1 - High"


def test_a_vote_whose_history_cites_the_plans_steps_keeps_its_own_failure_type() -> None:
    plan = _plan_runbook("backup-job-failed", "backup_failure")
    citing = _signature("SIG-DISK-1", "disk_full", "resource_exhaustion", 0.030, group="Storage")
    citing = citing.model_copy(update={"resolution_refs": ["backup-job-failed-S2"]})
    triage = _classify(_result([citing], runbooks=[plan]))
    # Its tickets were fixed with the plan's runbook: a full disk that failed the backup is still a full disk.
    assert (triage.failure_type, triage.matched_signature_ids) == ("disk_full", ["SIG-DISK-1"])
