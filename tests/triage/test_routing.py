"""Failure type and assignment group of ``classify`` over taxonomy labels, on hand-built retrieval results (pure):
votes over taxonomy types, the plan's runbook when no signature votes, and the routing order — a signature whose
history agrees with the plan's runbook, else the runbook's team; a no-match only when its nearest runbooks agree
and are close."""

from __future__ import annotations

import pytest

from ai_service.retrieval.models import LegScore, Provenance, RunbookHit, SignatureHit
from ai_service.triage import service as triage_service
from tests.triage.test_vote import _classify, _result, _signature


def _runbook(
    runbook_id: str,
    *,
    team: str | None = None,
    failure_type: str | None = None,
    score: float = 0.03,
    similarity: float = 0.8,
) -> RunbookHit:
    return RunbookHit(
        runbook_id=runbook_id,
        title=runbook_id.replace("-", " "),
        source_path=f"/kb/{runbook_id}.md",
        service=None,
        component=None,
        provenance=Provenance(
            vector=LegScore(rank=1, score=similarity), fulltext=LegScore(), rrf=score, score=score, query_coverage=0.5
        ),
        team=team,
        failure_type=failure_type,
    )


def _citing(signature: SignatureHit, *refs: str) -> SignatureHit:
    return signature.model_copy(update={"resolution_refs": list(refs)})


def test_the_vote_is_over_taxonomy_types_and_unknown_carries_none() -> None:
    signatures = [
        _signature("SIG-DNS-001", "dns_resolution_failure", "connectivity", 0.02, group="Network Operations"),
        _signature("SIG-DNS-002", "dns_resolution_failure", "connectivity", 0.02, group="Network Operations"),
        _signature("SIG-NET-001", "link_down", "connectivity", 0.03, group="Network Operations"),
        _signature("SIG-MISC-001", "unknown", "unknown", 0.05, group="NOC"),
    ]
    triage = _classify(_result(signatures, runbooks=[_runbook("dns", team="Network Operations")]))
    # Two clusters of one kind outvote a single stronger one; the unknown signature, strongest of all, has no say.
    assert (triage.failure_type, triage.error_class) == ("dns_resolution_failure", "connectivity")
    assert triage.matched_signature_ids == ["SIG-DNS-001", "SIG-DNS-002"]
    assert [v.incident_signature_id for v in triage.votes][-1] == "SIG-MISC-001"  # still shown as evidence


def test_without_a_voting_signature_the_plans_runbook_gives_the_type() -> None:
    runbooks = [_runbook("node-disk", team="node", failure_type="disk_full"), _runbook("other", team="x")]
    only_unknown = [_signature("SIG-MISC-001", "unknown", "unknown", 0.05, group="NOC")]
    for signatures in ([], only_unknown):
        triage = _classify(_result(signatures, runbooks=runbooks))
        assert (triage.failure_type, triage.error_class) == ("disk_full", "resource_exhaustion")
        assert (triage.assignment_group, triage.assignment_group_source) == ("node", "runbook node-disk")
        assert triage.matched_signature_ids == []
    # A runbook without a type (or typed unknown) gives none: nothing is invented.
    untyped = _classify(_result([], runbooks=[_runbook("x", failure_type="unknown", team="t")]))
    assert (untyped.failure_type, untyped.error_class) == (None, None) and untyped.assignment_group == "t"


def test_the_signature_routes_when_its_history_agrees_with_the_plans_runbook() -> None:
    runbook = _runbook("backup-job-failed", team="Backup & Storage", failure_type="backup_failure")
    agreeing = _citing(
        _signature("SIG-BACKUP-003", "backup_failure", "data_integrity", 0.03, group="DBA Team"), "backup-job-failed-S6"
    )
    triage = _classify(_result([agreeing], runbooks=[runbook]))
    assert (triage.assignment_group, triage.assignment_group_source) == ("DBA Team", "signature SIG-BACKUP-003")
    # Citing nothing, it agrees when it has the runbook's type.
    silent = _signature("SIG-BACKUP-009", "backup_failure", "data_integrity", 0.03, group="DBA Team")
    assert _classify(_result([silent], runbooks=[runbook])).assignment_group == "DBA Team"


def test_the_runbooks_team_routes_when_the_signatures_history_is_about_another_runbook() -> None:
    runbook = _runbook("tls-handshake-errors", team="Platform Engineering", failure_type="tls_handshake_failure")
    elsewhere = _citing(
        _signature("SIG-TLS-001", "certificate_expiry", "certificate", 0.03, group="Linux Ops"),
        "tls-certificate-expiry-S1",
    )
    triage = _classify(_result([elsewhere], runbooks=[runbook]))
    # The history is about another runbook: the label follows the plan's runbook, the team its owner.
    assert triage.failure_type == "tls_handshake_failure"
    assert (triage.assignment_group, triage.assignment_group_source) == (
        "Platform Engineering",
        "runbook tls-handshake-errors",
    )
    # A runbook without a team leaves the signature's group standing; without either, nothing is proposed.
    no_team = _runbook("tls-handshake-errors", failure_type="tls_handshake_failure")
    assert _classify(_result([elsewhere], runbooks=[no_team])).assignment_group == "Linux Ops"
    groupless = elsewhere.model_copy(update={"assignment_group": None})
    nothing = _classify(_result([groupless], runbooks=[no_team]))
    assert (nothing.assignment_group, nothing.assignment_group_source) == (None, None)


def _nearest(teams: list[str | None], similarity: float) -> list[RunbookHit]:
    return [_runbook(f"rb-{i}", team=team, similarity=similarity) for i, team in enumerate(teams)]


@pytest.mark.parametrize(
    ("teams", "similarity", "routed"),
    [
        (["etcd"] * 5, 0.62, "etcd"),
        (["etcd"] * 5, 0.21, None),  # agreeing, but far from all of them: nonsense is not routed
        (["etcd"] * 4 + ["node"], 0.9, None),  # the nearest disagree
        (["etcd"] * 4, 0.9, None),  # too few to tell
        (["etcd"] * 4 + [None], 0.9, None),
    ],
)
def test_a_no_match_is_routed_only_by_close_agreeing_runbooks(
    teams: list[str | None], similarity: float, routed: str | None
) -> None:
    signature = _signature("SIG-X", "disk_full", "resource_exhaustion", 0.03, group="Linux Ops")
    triage = _classify(_result([signature], runbooks=_nearest(teams, similarity), abstained=True))
    assert triage.no_match and triage.failure_type is None and triage.matched_signature_ids == []
    assert triage.assignment_group == routed
    if routed:
        assert triage.assignment_group_source == "runbooks rb-0, rb-1, rb-2, rb-3, rb-4"
    else:
        assert triage.assignment_group_source is None


def test_no_match_routing_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(triage_service.NO_MATCH_ROUTING, "runbooks", 0)
    triage = _classify(_result([], runbooks=_nearest(["etcd"] * 5, 0.9), abstained=True))
    assert triage.assignment_group is None
