"""What feedback teaches the next triage, on a clone of the sample knowledge base, through the feedback service and
the real triage path (alerts recorded as a webhook's, then triaged as a worker does):

* a triage alone changes nothing that a later triage reads, so identical alerts get identical judgements;
* a confirmed triage raises the track record of the signatures that voted for it, a corrected one lowers it;
* step outcomes become step records, shown in the next plan and ordering it within a phase;
* "wrong runbook" and a corrected runbook are votes per alert pattern; a corrected assignment group routes the
  pattern's next alert;
* closing by hand ends an incident's time to resolve, and only resolved incidents count in MTTR;
* a draft runbook written from an unmatched incident, once published, is found by retrieval.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ai_service.alerts.adapters import parse_payload
from ai_service.errors import ConflictError, NotFoundError
from ai_service.feedback.models import (
    DraftRequest,
    DraftStep,
    PlanFeedback,
    StepFeedback,
    StepOutcome,
    TriageFeedback,
)
from ai_service.feedback.service import (
    create_draft,
    give_plan_feedback,
    give_step_feedback,
    give_triage_feedback,
    publish_draft,
)
from ai_service.incidents import store as incidents_store
from ai_service.incidents.intake import record_payload
from ai_service.incidents.models import TriageOutcome
from ai_service.incidents.service import triage_incident
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.policy.service import load_policy
from ai_service.resolution.execution import transition
from ai_service.retrieval.service import search
from ai_service.vocabulary import phase_rank
from db.connection import connect
from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "ai_service" / "alerts" / "samples"
#: The runbook the sample PostgreSQL alert's plan comes from, and its pattern (the alertname, lower case).
CONNECTIONS = "pg-connection-exhaustion"
POSTGRES_PATTERN = "postgresqltoomanyconnections"
RESPONDER = "alice"


@pytest.fixture
def conn(sample_kb_url: str) -> Iterator[psycopg.Connection]:
    with connect(sample_kb_url, autocommit=True) as connection:
        yield connection


def _sample_alert(name: str, instance: str, replacement: str) -> dict[str, Any]:
    """The first alert of a bundled Alertmanager sample, on another instance (and without the sender's
    fingerprint, which would make every copy the same series)."""
    alert = json.loads((SAMPLES / name).read_text(encoding="utf-8"))["alerts"][0]
    alert.pop("fingerprint", None)
    copy: dict[str, Any] = json.loads(json.dumps(alert).replace(instance, replacement))
    assert copy != alert
    return copy


def postgres_alert(host: int) -> dict[str, Any]:
    """PostgresqlTooManyConnections on instance 10.0.4.<host>."""
    return _sample_alert("am_postgres_connections.json", "10.0.4.12", f"10.0.4.{host}")


def disk_alert(host: int) -> dict[str, Any]:
    """NodeFilesystemSpaceFillingUp on ip-10-0-5-<host>."""
    return _sample_alert("am_disk_full.json", "ip-10-0-5-23", f"ip-10-0-5-{host}")


def alertmanager(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "receiver": "nocai", "status": "firing", "alerts": list(alerts)}


def triage(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, payload: Any) -> list[TriageOutcome]:
    """Record a webhook body (each new incident with its queued alert) and triage each new incident."""
    parsed = parse_payload(payload)
    report = record_payload(conn, parsed, max_attempts=1)
    return [
        triage_incident(conn, embedder, alert, receipt.incident_id, policy=load_policy())
        for alert, receipt in zip(parsed.alerts, report.alerts, strict=True)
        if receipt.outcome == "new" and receipt.incident_id is not None
    ]


def triage_one(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, payload: Any) -> TriageOutcome:
    (outcome,) = triage(conn, embedder, payload)
    return outcome


def signature_counts(conn: psycopg.Connection) -> dict[str, tuple[int, int, int]]:
    """Every signature's (match_count, confirmed_count, resolution_success_count)."""
    rows = conn.execute(
        "SELECT incident_signature_id, match_count, confirmed_count, resolution_success_count FROM incident_signatures"
    ).fetchall()
    return {sid: (matched, confirmed, fixed) for sid, matched, confirmed, fixed in rows}


def step_records(conn: psycopg.Connection) -> dict[str, tuple[int, int, int, int]]:
    """Every step record's (fixed, no_effect, worse, skipped)."""
    rows = conn.execute("SELECT step_id, fixed, no_effect, worse, skipped FROM step_records").fetchall()
    return {step: (fixed, none, worse, skipped) for step, fixed, none, worse, skipped in rows}


def runbook_votes(conn: psycopg.Connection, pattern: str) -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        "SELECT runbook_id, right_votes, wrong_votes FROM runbook_choices WHERE pattern = %s", (pattern,)
    ).fetchall()
    return {runbook: (right, wrong) for runbook, right, wrong in rows}


def winners(outcome: TriageOutcome) -> list[str]:
    """The signatures whose vote went to the triage's conclusion."""
    concluded = (outcome.triage.failure_type, outcome.triage.error_class)
    return [v.incident_signature_id for v in outcome.triage.votes if (v.failure_type, v.error_class) == concluded]


def track_records(outcome: TriageOutcome) -> dict[str, float]:
    return {v.incident_signature_id: v.track_record for v in outcome.triage.votes}


def judged(outcome: TriageOutcome) -> tuple[Any, ...]:
    """What a responder reads first: failure type, severity, assignment group, and the plan's first step."""
    t = outcome.triage
    first = outcome.plan.recommendations[0].step_id if outcome.plan.recommendations else None
    return (t.failure_type, t.error_class, t.severity, t.assignment_group, first)


def say(conn: psycopg.Connection, outcome: TriageOutcome, **verdict: Any) -> list[str]:
    """A responder's word on a triage; returns what it taught."""
    return give_triage_feedback(conn, outcome.incident_id, TriageFeedback(**verdict), user=RESPONDER).changes


def ran(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, outcome: TriageOutcome, step: str, result: StepOutcome
) -> None:
    """A responder ran ``step`` of the outcome's plan, with this result."""
    feedback = StepFeedback(step_id=step, outcome=result)
    give_step_feedback(conn, embedder, outcome.incident_id, feedback, user=RESPONDER)


def test_a_triage_alone_changes_nothing_and_identical_alerts_get_identical_judgements(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    signatures_before = signature_counts(conn)
    assert signatures_before and all(counts == (0, 0, 0) for counts in signatures_before.values())
    outcomes = triage(conn, embedder, alertmanager(postgres_alert(21), postgres_alert(22), postgres_alert(23)))
    assert len({o.incident_id for o in outcomes}) == 3
    assert {judged(o) for o in outcomes} == {
        ("connection_limit", "resource_exhaustion", "high", "DBA Team", f"{CONNECTIONS}-S1")
    }
    assert len({tuple(r.step_id for r in o.plan.recommendations) for o in outcomes}) == 1
    assert len({tuple(track_records(o).items()) for o in outcomes}) == 1
    # Nothing a later triage reads was written: no judged match, no step record, no runbook vote.
    assert signature_counts(conn) == signatures_before
    assert step_records(conn) == {}
    assert conn.execute("SELECT count(*) FROM runbook_choices").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM feedback").fetchone() == (0,)
    # So a fourth alert, after three triages, is judged exactly as the first was, with the same track records.
    fourth = triage_one(conn, embedder, alertmanager(postgres_alert(24)))
    assert judged(fourth) == judged(outcomes[0])
    assert track_records(fourth) == track_records(outcomes[0]) and set(track_records(fourth).values()) == {0.5}


def test_confirming_a_triage_raises_its_voters_track_record_once_per_incident(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    first = triage_one(conn, embedder, alertmanager(postgres_alert(31)))
    voters = winners(first)
    assert len(voters) >= 2 and set(track_records(first).values()) == {0.5}
    before = signature_counts(conn)
    changes = say(conn, first, verdict="confirm")
    assert changes[0] == f"confirmed the match of {', '.join(voters)} (their weight in later votes rises)"
    after = signature_counts(conn)
    assert {sid: after[sid] for sid in voters} == {sid: (1, 1, 0) for sid in voters}
    assert {sid: counts for sid, counts in after.items() if sid not in voters} == {
        sid: counts for sid, counts in before.items() if sid not in voters
    }
    # Another responder confirming the same incident counts nothing again.
    again = give_triage_feedback(conn, first.incident_id, TriageFeedback(verdict="confirm"), user="bob").changes
    assert again == ["this incident's triage was already judged: nothing was counted again"]
    assert signature_counts(conn) == after
    # The next triage weighs those signatures by (1 + 1) / (1 + 2).
    second = triage_one(conn, embedder, alertmanager(postgres_alert(32)))
    for vote in second.triage.votes:
        expected = 2 / 3 if vote.incident_signature_id in voters else 0.5
        assert vote.track_record == pytest.approx(expected), vote
        assert vote.weight == pytest.approx(vote.fused_score * expected), vote


def test_correcting_a_triage_refutes_its_voters_and_confirms_those_that_agreed(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    first = triage_one(conn, embedder, alertmanager(disk_alert(41)))
    assert (first.triage.failure_type, first.triage.error_class) == ("disk_full", "resource_exhaustion")
    refuted = winners(first)
    agreeing = [
        v.incident_signature_id
        for v in first.triage.votes
        if (v.failure_type, v.error_class) == ("backup_failure", "data_integrity")
    ]
    assert refuted and agreeing and not set(refuted) & set(agreeing)
    changes = say(conn, first, verdict="correct", failure_type="backup_failure", error_class="data_integrity")
    assert changes[:2] == [
        f"refuted the match of {', '.join(refuted)} ({'its' if len(refuted) == 1 else 'their'} weight in later"
        " votes falls)",
        f"confirmed the match of {', '.join(agreeing)}",
    ]
    counts = signature_counts(conn)
    assert {sid: counts[sid] for sid in refuted} == {sid: (1, 0, 0) for sid in refuted}
    assert {sid: counts[sid] for sid in agreeing} == {sid: (1, 1, 0) for sid in agreeing}
    # The next alert of the pattern: the refuted signatures weigh 1/3, the agreeing ones 2/3.
    second = triage_one(conn, embedder, alertmanager(disk_alert(42)))
    records = track_records(second)
    assert any(sid in records for sid in refuted)
    for sid, record in records.items():
        expected = 1 / 3 if sid in refuted else 2 / 3 if sid in agreeing else 0.5
        assert record == pytest.approx(expected), (sid, record)


def test_step_outcomes_become_records_that_the_next_plan_shows_and_orders_by(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    s = {n: f"{CONNECTIONS}-S{n}" for n in range(1, 13)}
    first, second = triage(conn, embedder, alertmanager(postgres_alert(51), postgres_alert(52)))
    diagnosis = [r.step_id for r in first.plan.recommendations if r.phase == "diagnosis"]
    assert diagnosis == [s[1], s[2], s[3], s[4], s[5]]
    assert all(r.provenance["track_record"] is None for r in first.plan.recommendations)
    # S4 fixes it twice (proven), S1 once makes it worse (harmful), S2 is skipped, S6 fixes it once.
    lent = first.plan.used_signature_ids
    assert lent
    ran(conn, embedder, first, s[4], "fixed_it")
    assert {sid: signature_counts(conn)[sid][2] for sid in lent} == {sid: 1 for sid in lent}
    ran(conn, embedder, first, s[1], "made_worse")
    ran(conn, embedder, first, s[6], "fixed_it")  # a second fix of the same incident counts no second fix
    assert {sid: signature_counts(conn)[sid][2] for sid in lent} == {sid: 1 for sid in lent}
    ran(conn, embedder, second, s[4], "fixed_it")
    ran(conn, embedder, second, s[1], "did_nothing")
    ran(conn, embedder, second, s[2], "skipped")
    assert step_records(conn) == {
        s[4]: (2, 0, 0, 0),
        s[1]: (0, 1, 1, 0),
        s[2]: (0, 0, 0, 1),
        s[6]: (1, 0, 0, 0),
    }
    # The next plan: within diagnosis the proven step first and the harmful one last, the others in the
    # runbook's order; the phases themselves keep their order.
    third = triage_one(conn, embedder, alertmanager(postgres_alert(53)))
    steps = third.plan.recommendations
    assert [r.step_id for r in steps if r.phase == "diagnosis"] == [s[4], s[2], s[3], s[5], s[1]]
    assert [r.step_id for r in steps if r.phase == "mitigation"] == [s[6], s[7], s[8], s[9], s[10]]
    assert [phase_rank(r.phase) for r in steps] == sorted(phase_rank(r.phase) for r in steps)
    shown = {r.step_id: r.provenance["track_record"] for r in steps}
    assert shown[s[4]] == {
        "fixed": 2,
        "tried": 2,
        "no_effect": 0,
        "worse": 0,
        "skipped": 0,
        "text": "fixed it 2 of 2 times",
    }
    assert shown[s[1]]["text"] == "fixed it 0 of 2 times, made it worse 1"
    assert (shown[s[2]]["skipped"], shown[s[2]]["tried"]) == (1, 0)
    assert shown[s[6]]["text"] == "fixed it 1 of 1 time"
    assert shown[s[3]] is None and shown[s[5]] is None


def test_wrong_runbook_votes_leave_a_runbook_out_once_they_outnumber_the_right_ones(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    def plan_runbooks(outcome: TriageOutcome) -> set[str]:
        return {r.runbook_id for r in outcome.plan.recommendations}

    confirmed = triage_one(conn, embedder, alertmanager(postgres_alert(61)))
    assert confirmed.plan.recommendations[0].runbook_id == CONNECTIONS
    say(conn, confirmed, verdict="confirm")
    wrong_once = triage_one(conn, embedder, alertmanager(postgres_alert(62)))
    say(conn, wrong_once, verdict="wrong_runbook")
    assert runbook_votes(conn, POSTGRES_PATTERN) == {CONNECTIONS: (1, 1)}
    # As many wrong votes as right ones: the runbook is neither the pattern's nor left out.
    tied = triage_one(conn, embedder, alertmanager(postgres_alert(63)))
    assert tied.plan.recommendations[0].runbook_id == CONNECTIONS and tied.search.feedback is None
    say(conn, tied, verdict="wrong_runbook")
    assert say(conn, tied, verdict="wrong_runbook") == [
        "this incident's triage was already judged: nothing was counted again"
    ]
    assert runbook_votes(conn, POSTGRES_PATTERN) == {CONNECTIONS: (1, 2)}
    # More wrong than right: the next alert of the pattern gets nothing of that runbook.
    left_out = triage_one(conn, embedder, alertmanager(postgres_alert(64)))
    assert CONNECTIONS not in {rb.runbook_id for rb in left_out.search.runbooks}
    assert CONNECTIONS not in plan_runbooks(left_out)
    # The vote is the pattern's: an alert of another pattern with the same symptom still gets it.
    generic = {
        "alert_id": "gen-65",
        "title": "Too many connections on PostgreSQL db-65",
        "description": "FATAL: sorry, too many clients already",
    }
    other = triage_one(conn, embedder, generic)
    assert other.plan.recommendations and other.plan.recommendations[0].runbook_id == CONNECTIONS


def test_a_corrected_runbook_becomes_the_plan_of_the_patterns_next_alert(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    first = triage_one(conn, embedder, alertmanager(postgres_alert(71)))
    assert first.plan.recommendations[0].runbook_id == CONNECTIONS
    say(conn, first, verdict="correct", runbook_id="pg-replication-lag")
    assert runbook_votes(conn, POSTGRES_PATTERN) == {"pg-replication-lag": (1, 0), CONNECTIONS: (0, 1)}
    second = triage_one(conn, embedder, alertmanager(postgres_alert(72)))
    assert second.search.feedback is not None
    assert (second.search.feedback.runbook_id, second.search.feedback.votes) == ("pg-replication-lag", 1)
    assert second.search.feedback.excluded == [CONNECTIONS]
    assert [rb.runbook_id for rb in second.search.runbooks][:1] == ["pg-replication-lag"]
    assert CONNECTIONS not in {rb.runbook_id for rb in second.search.runbooks}
    assert second.plan.recommendations[0].step_id == "pg-replication-lag-S1"
    # The wrong runbook's steps do not come back through the signatures' history either.
    assert CONNECTIONS not in {r.runbook_id for r in second.plan.recommendations}
    assert not second.triage.no_match


def test_a_corrected_assignment_group_routes_the_patterns_next_alert(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    first = triage_one(conn, embedder, alertmanager(postgres_alert(81)))
    assert first.triage.assignment_group == "DBA Team"
    assert not (first.triage.assignment_group_source or "").startswith("feedback ")
    corrected = give_triage_feedback(
        conn, first.incident_id, TriageFeedback(verdict="correct", assignment_group="Platform Team"), user=RESPONDER
    )
    second = triage_one(conn, embedder, alertmanager(postgres_alert(82)))
    assert second.triage.assignment_group == "Platform Team"
    assert second.triage.assignment_group_source == f"feedback {corrected.feedback_id}"
    # Stored with the incident as routed.
    stored = conn.execute(
        "SELECT triage_output ->> 'assignment_group' FROM incidents WHERE id = %s", (second.incident_id,)
    ).fetchone()
    assert stored == ("Platform Team",)
    # Another pattern is not rerouted.
    disk = triage_one(conn, embedder, alertmanager(disk_alert(83)))
    assert disk.triage.assignment_group == "Linux Ops"
    assert not (disk.triage.assignment_group_source or "").startswith("feedback ")
    # The latest correction of the pattern wins.
    latest = give_triage_feedback(
        conn, second.incident_id, TriageFeedback(verdict="correct", assignment_group="DB Reliability"), user="bob"
    )
    third = triage_one(conn, embedder, alertmanager(postgres_alert(84)))
    assert (third.triage.assignment_group, third.triage.assignment_group_source) == (
        "DB Reliability",
        f"feedback {latest.feedback_id}",
    )


def test_closing_by_hand_ends_the_time_to_resolve_and_only_resolved_incidents_count(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    closed, accepted, untouched = triage(
        conn, embedder, alertmanager(postgres_alert(91), postgres_alert(92), postgres_alert(93))
    )
    assert incidents_store.mttr(conn).resolved == 0
    conn.execute(
        "UPDATE incidents SET first_seen_at = now() - interval '1 hour' WHERE id = ANY(%s)",
        ([closed.incident_id, accepted.incident_id, untouched.incident_id],),
    )
    assert incidents_store.close_incident(conn, closed.incident_id, user=RESPONDER)
    assert not incidents_store.close_incident(conn, closed.incident_id, user="bob")  # closed once
    # An acceptance stamps the incident; feedback accepting the plan does not, nor does closing it.
    transition(conn, accepted.resolution_id, "accept", user=RESPONDER, roles=["sre"])
    give_plan_feedback(conn, untouched.incident_id, PlanFeedback(verdict="accept"), user=RESPONDER)
    rows = conn.execute(
        "SELECT id, status, resolved_at IS NOT NULL, resolved_by, resolution_accepted_at IS NOT NULL FROM incidents"
    ).fetchall()
    assert {row[0]: row[1:] for row in rows} == {
        closed.incident_id: ("resolved", True, RESPONDER, False),
        accepted.incident_id: ("open", False, None, True),
        untouched.incident_id: ("open", False, None, False),
    }
    # MTTR: the closed incident alone, about the hour since its first alert.
    figures = incidents_store.mttr(conn)
    assert figures.resolved == 1
    assert figures.mean_seconds == pytest.approx(3600, abs=60)
    assert figures.median_seconds == figures.mean_seconds
    metrics: dict[uuid.UUID, Any] = dict(conn.execute("SELECT incident_id, mttr_secs FROM incident_metrics").fetchall())
    assert metrics[accepted.incident_id] is None and metrics[untouched.incident_id] is None
    assert float(metrics[closed.incident_id]) == pytest.approx(3600, abs=60)


def test_a_published_draft_from_an_unmatched_incident_is_found_by_retrieval(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, tmp_path: Path
) -> None:
    unmatched = triage_one(
        conn,
        embedder,
        {
            "alert_id": "fin-1",
            "title": "Quarterly budget spreadsheet formula broken in the finance share",
            "description": "Cells show #REF! after the template update",
            "labels": {"team": "finance"},
        },
    )
    assert unmatched.triage.no_match and unmatched.plan.recommendations == []
    query = "budget spreadsheet formula broken, cells show #REF!"
    assert not any("spreadsheet" in rb.title.lower() for rb in search(conn, embedder, query).runbooks)
    request = DraftRequest(
        title="Broken budget spreadsheet formulas",
        steps=[
            DraftStep(action="Restore the spreadsheet template from the share's previous version.", phase="mitigation"),
            DraftStep(action="Check that no cell of the spreadsheet shows #REF!", phase="verification"),
        ],
    )
    draft = create_draft(conn, unmatched.incident_id, request, user=RESPONDER)
    assert (draft.status, draft.created_by, draft.runbook_id) == ("draft", RESPONDER, None)
    published = publish_draft(conn, embedder, draft.id, folder=tmp_path, user="admin")
    assert (published.status, published.published_by) == ("published", "admin")
    assert published.runbook_id == f"broken-budget-spreadsheet-formulas-{str(draft.id)[:6]}"
    assert (tmp_path / f"{published.runbook_id}.yaml").is_file()
    found = search(conn, embedder, query)
    assert found.runbooks[0].runbook_id == published.runbook_id
    assert [step.action for step in found.runbooks[0].steps] == [step.action for step in request.steps]
    assert not found.abstention.abstained
    with pytest.raises(ConflictError, match="already published"):
        publish_draft(conn, embedder, draft.id, folder=tmp_path, user="admin")
    assert conn.execute("SELECT count(*) FROM runbooks WHERE runbook_id = %s", (published.runbook_id,)).fetchone() == (
        1,
    )
    # A draft needs an incident that exists.
    with pytest.raises(NotFoundError, match="no incident"):
        create_draft(conn, uuid.uuid4(), request, user=RESPONDER)


def test_an_incident_counts_once_in_a_step_record_however_often_it_reports(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    step = f"{CONNECTIONS}-S4"
    first, second = triage(conn, embedder, alertmanager(postgres_alert(71), postgres_alert(72)))
    ran(conn, embedder, first, step, "fixed_it")
    ran(conn, embedder, first, step, "fixed_it")  # a second click
    assert step_records(conn)[step] == (1, 0, 0, 0)
    ran(conn, embedder, first, step, "made_worse")  # the responder changed their mind: the latest word counts
    assert step_records(conn)[step] == (0, 0, 1, 0)
    ran(conn, embedder, second, step, "fixed_it")  # another incident is another report
    assert step_records(conn)[step] == (1, 0, 1, 0)
    # Every report is kept as feedback, with who and when.
    reports = conn.execute("SELECT count(*) FROM feedback WHERE feedback_type = 'step' AND step_id = %s", (step,))
    assert reports.fetchone() == (4,)
