"""Alert in → triage and resolution rows out, on the real database with the sample knowledge base."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ai_service.alerts.service import receive
from ai_service.errors import InvalidTransitionError
from ai_service.incidents.service import triage_incident
from ai_service.knowledge import service as knowledge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.policy.service import load_policy
from ai_service.resolution.execution import transition
from ai_service.triage.severity import combine, itsm_level
from ai_service.vocabulary import phase_rank
from db.connection import connect

SAMPLES = Path(knowledge.SAMPLE_DIR).parent.parent / "alerts" / "samples"


@pytest.fixture(scope="module")
def kb_template(pg_server) -> str:  # type: ignore[no-untyped-def]
    return str(pg_server.sample_kb_template())


@pytest.fixture
def conn(pg_server, kb_template: str) -> Iterator[psycopg.Connection]:  # type: ignore[no-untyped-def]
    name = pg_server.create_database(template=kb_template)
    with connect(pg_server.url(name), autocommit=True) as connection:
        yield connection
    pg_server.drop_database(name)


def _triage(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, payload: object):  # type: ignore[no-untyped-def]
    outcomes = []
    for intake in receive(conn, payload):  # type: ignore[arg-type]
        if intake.action == "created":
            outcomes.append(triage_incident(conn, embedder, intake.alert, intake.incident_id, policy=load_policy()))  # type: ignore[arg-type]
    return outcomes


def test_a_known_alert_gets_a_sourced_triage_and_an_ordered_plan(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    payload = json.loads((SAMPLES / "am_postgres_connections.json").read_text())
    (outcome,) = _triage(conn, embedder, payload)[:1]
    t, plan = outcome.triage, outcome.plan
    assert not t.no_match
    assert t.error_class == "resource_exhaustion" and "connection" in (t.failure_type or "")
    assert t.assignment_group == "DBA Team" and t.matched_signature_ids
    assert "pg-connection-exhaustion" in t.matched_runbook_refs
    assert all({"vector_rank", "fulltext_rank", "rrf"} <= set(e) for e in t.evidence)
    # The plan: diagnosis before mitigation before verification, one runbook in its own order.
    steps = plan.recommendations
    assert steps and steps[0].runbook_id == "pg-connection-exhaustion"
    keys = [(phase_rank(s.phase), int(s.step_id.rsplit("S", 1)[1])) for s in steps]
    assert keys == sorted(keys)
    assert plan.risk_level == max((s.risk_level for s in steps), key=["low", "medium", "high"].index)
    assert any(s.provenance["source"] == "signature" for s in steps)
    # Stored: both rows, the incident's summary, and the chain view.
    chain = conn.execute(
        "SELECT failure_type, policy_band, retrieved_step_ids, execution_status FROM triage_to_resolution_chain"
        " WHERE incident_id = %s",
        (outcome.incident_id,),
    ).fetchall()
    assert chain == [(t.failure_type, outcome.decision.band, plan.retrieved_step_ids, "pending")]
    incident = conn.execute(
        "SELECT policy_band, policy_decision ->> 'rule', triage_completed_at IS NOT NULL,"
        " jsonb_array_length(resolution_output -> 'recommendations') FROM incidents WHERE id = %s",
        (outcome.incident_id,),
    ).fetchone()
    assert incident == (outcome.decision.band, outcome.decision.rule, True, len(steps))
    recommendations = conn.execute(
        "SELECT recommendations FROM resolution_outputs WHERE id = %s", (outcome.resolution_id,)
    ).fetchone()[0]  # type: ignore[index]
    assert all({"step_id", "action", "confidence", "provenance"} <= set(r) for r in recommendations)


def test_an_unknown_alert_is_an_explicit_no_match(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    payload = {
        "alert_id": "fin-1",
        "title": "Quarterly budget spreadsheet formula broken in the finance share",
        "description": "Cells show #REF! after the template update",
        "labels": {"team": "finance"},
    }
    (outcome,) = _triage(conn, embedder, payload)
    assert outcome.triage.no_match and outcome.triage.failure_type is None
    assert outcome.plan.recommendations == [] and outcome.decision.band == "REVIEW"
    # Confidence is the chance that the plan's first step is right: without a plan, none. How close the alert
    # came to a match stays visible as the match probability.
    assert outcome.triage.confidence == 0.0
    assert 0.0 < outcome.search.abstention.match_probability < outcome.search.abstention.threshold


def test_a_repeat_is_not_triaged_again(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    payload = json.loads((SAMPLES / "am_disk_full.json").read_text())
    first = _triage(conn, embedder, payload)
    again = _triage(conn, embedder, payload)
    assert first and again == []
    assert conn.execute("SELECT count(*) FROM triage_results").fetchone() == (len(first),)


def test_execution_is_guarded_by_the_policy(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    payload = json.loads((SAMPLES / "am_postgres_connections.json").read_text())
    outcome = _triage(conn, embedder, payload)[0]
    assert outcome.decision.requires_approval
    resolution = outcome.resolution_id
    with pytest.raises(InvalidTransitionError, match="before a user"):
        transition(conn, resolution, "execute")
    with pytest.raises(InvalidTransitionError, match="needs role"):
        transition(conn, resolution, "accept", user="intern", roles=["viewer"])
    assert transition(conn, resolution, "accept", user="alice", roles=["sre"]) == "accepted"
    assert transition(conn, resolution, "execute", user="alice", roles=["sre"]) == "executed"
    with pytest.raises(InvalidTransitionError, match="cannot reject a resolution that is executed"):
        transition(conn, resolution, "reject")
    row = conn.execute(
        "SELECT execution_status, accepted_by, accepted_at IS NOT NULL, executed_at IS NOT NULL"
        " FROM resolution_outputs WHERE id = %s",
        (resolution,),
    ).fetchone()
    assert row == ("executed", "alice", True, True)


def test_severity_matrix_combines_alert_and_history() -> None:
    assert itsm_level("1 - High") == 1 and itsm_level("3 - Low") == 3 and itsm_level(None) is None
    assert combine("critical", None, None)[0] == "critical"
    assert combine("low", None, None)[0] == "low"
    # History can escalate an alert ...
    severity, reason, impact, urgency = combine("medium", "1 - High", "1 - High")
    assert (severity, impact, urgency) == ("critical", 1, 1) and "history" in reason
    # ... but never hide what the alert says.
    assert combine("critical", "3 - Low", "3 - Low")[0] == "critical"


def test_optional_llm_explains_and_any_failure_leaves_the_result_standing(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    from ai_service.config import Settings
    from tests.support.chat_server import Reply, advice, chat_server

    payload = json.loads((SAMPLES / "am_postgres_connections.json").read_text())
    intake = receive(conn, payload)[0]
    with chat_server() as server:
        settings = Settings(llm_url=server.base_url, llm_timeout=2.0, llm_api_key="test-key")
        server.reply(
            advice(
                {
                    "explanation": "Connections are exhausted [pg-connection-exhaustion-S1].",
                    "cited_ids": ["pg-connection-exhaustion-S1"],
                }
            )
        )
        outcome = triage_incident(
            conn,
            embedder,
            intake.alert,
            intake.incident_id,
            policy=load_policy(),  # type: ignore[arg-type]
            settings=settings,
        )
        assert outcome.triage.explanation and "[pg-connection-exhaustion-S1]" in outcome.triage.explanation
        assert outcome.triage.llm and outcome.triage.llm["status"] == "ok"
        stored = conn.execute(
            "SELECT triage_output -> 'llm' ->> 'status' FROM incidents WHERE id = %s", (intake.incident_id,)
        ).fetchone()
        assert stored == ("ok",)
        # A broken endpoint: the deterministic triage and plan stand, and the failure is recorded.
        server.reply(Reply(status=500, body={"error": {"message": "boom"}}))
        second = triage_incident(
            conn,
            embedder,
            intake.alert,
            intake.incident_id,
            policy=load_policy(),  # type: ignore[arg-type]
            settings=settings,
        )
    assert second.triage.explanation is None and second.triage.llm and second.triage.llm["status"] == "failed"
    assert [r.step_id for r in second.plan.recommendations] == [r.step_id for r in outcome.plan.recommendations]
