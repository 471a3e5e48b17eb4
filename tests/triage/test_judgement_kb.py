"""The whole judgement on a small knowledge base written by the test: three runbooks and fourteen past tickets in
three clear clusters whose close notes cite the steps that fixed them. Alert in (generic JSON), through intake,
retrieval, the vote, severity and the plan, as ``nocai triage`` runs it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ai_service.alerts.adapters import parse_alerts
from ai_service.alerts.service import receive_alert
from ai_service.incidents.models import TriageOutcome
from ai_service.incidents.service import triage_incident
from ai_service.knowledge import service as knowledge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.knowledge.signatures import ingest_incidents
from ai_service.policy.service import load_policy
from ai_service.resolution.execution import transition
from ai_service.triage.severity import combine
from ai_service.vocabulary import phase_rank
from db.connection import connect

RUNBOOKS = {
    "pg-connections": """\
runbook_id: pg-connections
title: PostgreSQL connection slots exhausted
service: postgresql
description: Clients fail with "FATAL sorry, too many clients already" because every connection slot is in use.
steps:
  - condition: When clients report FATAL too many clients already
    action: Count the connections per state and application in pg_stat_activity.
    phase: diagnosis
    risk_level: low
  - condition: When many sessions are idle in transaction
    action: List the sessions idle in transaction for more than five minutes, with their client address.
    phase: diagnosis
    risk_level: low
  - condition: When idle sessions hold the connection slots
    action: Terminate the idle in transaction sessions with pg_terminate_backend.
    phase: mitigation
    risk_level: medium
  - condition: When the application pool is larger than max_connections allows
    action: Lower the application's connection pool size, or route it through pgbouncer.
    phase: mitigation
    risk_level: high
  - condition: After freeing connection slots
    action: Confirm that new clients can connect and the connection count stays below max_connections.
    phase: verification
    risk_level: low
""",
    "linux-disk-full": """\
runbook_id: linux-disk-full
title: Filesystem almost full on a Linux host
service: linux
description: A mounted filesystem is above its usage threshold; writes will fail when it fills up.
steps:
  - condition: When the filesystem usage alert fires
    action: Check which mount point is full with df -h.
    phase: diagnosis
    risk_level: low
  - condition: When the full mount point is known
    action: Find the largest directories on it with du -xh --max-depth=2.
    phase: diagnosis
    risk_level: low
  - condition: When old rotated logs fill the disk
    action: Delete rotated and compressed logs older than seven days under /var/log.
    phase: mitigation
    risk_level: high
  - condition: After freeing disk space
    action: Confirm that the filesystem usage is back under 80 percent.
    phase: verification
    risk_level: low
""",
    "tls-cert-expiry": """\
runbook_id: tls-cert-expiry
title: TLS certificate about to expire
service: web
description: A served TLS certificate expires soon; browsers and clients will refuse the connection after that.
steps:
  - condition: When a certificate expiry alert fires
    action: Read the certificate's notAfter date and issuer with openssl s_client.
    phase: diagnosis
    risk_level: low
  - condition: When the certificate is issued by the ACME client
    action: Renew the certificate with certbot renew and reload the web server.
    phase: mitigation
    risk_level: medium
  - condition: After the renewal
    action: Verify that the served certificate has the new expiry date.
    phase: verification
    risk_level: low
""",
}

COLUMNS = (
    "number",
    "short_description",
    "description",
    "category",
    "assignment_group",
    "impact",
    "urgency",
    "close_code",
    "close_notes",
)
# fmt: off
TICKETS = [
    # PostgreSQL connection exhaustion (DBA Team)
    ("INC1001", "PostgreSQL too many clients on db-billing-01",
     "Application errors: FATAL sorry, too many clients already", "Database", "DBA Team", "1 - High", "1 - High",
     "Solved",
     "Checked pg-connections-S1 and terminated idle sessions per pg-connections-S3"),
    ("INC1002", "PostgreSQL too many clients on db-orders-02",
     "Checkout fails with FATAL sorry, too many clients already", "Database", "DBA Team", "1 - High", "2 - Medium",
     "Solved",
     "pg-connections-S1 showed idle in transaction sessions; killed them (pg-connections-S3)"),
    ("INC1003", "Postgres connection slots exhausted on db-billing-02",
     "FATAL: sorry, too many clients already from the API pods", "Database", "DBA Team", "1 - High", "1 - High",
     "Solved", "Terminated idle sessions (pg-connections-S3), pool size lowered per pg-connections-S4"),
    ("INC1004", "PostgreSQL too many clients already on db-crm-01", "New connections refused: too many clients already",
     "Database", "DBA Team", "2 - Medium", "1 - High", "Solved", "pg-connections-S2 then pg-connections-S3"),
    ("INC1005", "PostgreSQL max connections reached on db-orders-01",
     "FATAL sorry, too many clients already in the order service logs", "Database", "DBA Team", "1 - High",
     "1 - High", "Solved", "Followed pg-connections-S1, pg-connections-S3"),
    # Filesystem full (Linux Ops)
    ("INC2001", "Filesystem /var almost full on web-03", "Disk usage of /var above 90 percent", "Infrastructure",
     "Linux Ops", "2 - Medium", "2 - Medium", "Solved", "Deleted old rotated logs per linux-disk-full-S3"),
    ("INC2002", "Disk almost full on app-07 /var/log", "Filesystem /var/log usage above 95 percent", "Infrastructure",
     "Linux Ops", "2 - Medium", "2 - Medium", "Solved",
     "linux-disk-full-S2 found big logs, removed them with linux-disk-full-S3"),
    ("INC2003", "Filesystem / almost full on batch-02", "Root filesystem disk usage above 90 percent",
     "Infrastructure", "Linux Ops", "3 - Low", "2 - Medium", "Solved", "Cleaned logs (linux-disk-full-S3)"),
    ("INC2004", "Disk space low on web-11 /var", "Disk usage of /var filesystem at 93 percent", "Infrastructure",
     "Linux Ops", "2 - Medium", "2 - Medium", "Solved", "linux-disk-full-S1, linux-disk-full-S3"),
    ("INC2005", "Filesystem /var/log almost full on app-02", "Disk usage above 90 percent on /var/log",
     "Infrastructure", "Linux Ops", "2 - Medium", "3 - Low", "Solved", "Rotated logs deleted, linux-disk-full-S3"),
    # TLS certificate expiry (Web Team)
    ("INC3001", "TLS certificate for shop.example.com expires in 7 days",
     "Certificate expiry check warns: SSL certificate expires soon", "Security", "Web Team", "2 - Medium",
     "2 - Medium", "Solved", "Renewed with certbot (tls-cert-expiry-S2)"),
    ("INC3002", "SSL certificate of api.example.com expiring soon",
     "Certificate expires in 5 days according to the expiry probe", "Security", "Web Team", "2 - Medium",
     "1 - High", "Solved", "tls-cert-expiry-S1 then tls-cert-expiry-S2"),
    ("INC3003", "TLS certificate expires in 3 days on login.example.com",
     "SSL certificate expiry warning from the blackbox probe", "Security", "Web Team", "2 - Medium", "2 - Medium",
     "Solved", "Renewed certificate, tls-cert-expiry-S2"),
    ("INC3004", "Certificate for www.example.com expiring in 10 days", "The TLS certificate expiry check is failing",
     "Security", "Web Team", "3 - Low", "2 - Medium", "Solved", "tls-cert-expiry-S2 done"),
]
# fmt: on

#: The cluster each runbook's tickets form: the ticket numbers' prefix and their assignment group.
CLUSTERS = {
    "pg-connections": ("INC1", "DBA Team"),
    "linux-disk-full": ("INC2", "Linux Ops"),
    "tls-cert-expiry": ("INC3", "Web Team"),
}

#: Alerts clearly about one runbook, as a monitoring system would send them.
KNOWN_ALERTS = {
    "pg-connections": {
        "title": "PostgreSQL too many clients",
        "description": "FATAL: sorry, too many clients already on {instance}",
        "labels": {"alertname": "PostgresTooManyConnections", "job": "postgres"},
    },
    "linux-disk-full": {
        "title": "Filesystem almost full",
        "description": "Disk usage of /var above 92 percent on {instance}",
        "labels": {"alertname": "NodeFilesystemAlmostFull", "job": "node"},
    },
    "tls-cert-expiry": {
        "title": "TLS certificate expires soon",
        "description": "SSL certificate served by {instance} expires in 4 days",
        "labels": {"alertname": "SSLCertExpiringSoon", "job": "blackbox"},
    },
}


def _write_kb(folder: Path) -> None:
    (folder / "runbooks").mkdir()
    for runbook_id, text in RUNBOOKS.items():
        (folder / "runbooks" / f"{runbook_id}.yaml").write_text(text, encoding="utf-8")
    with open(folder / "incidents.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*COLUMNS, "opened_at", "resolved_at"])
        for day, ticket in enumerate(TICKETS, start=1):
            writer.writerow([*ticket, f"2025-03-{day:02d} 10:00:00", f"2025-03-{day:02d} 11:30:00"])


@pytest.fixture(scope="module")
def kb_template(pg_server, embedder: LocalMiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("judgement-kb")
    _write_kb(folder)
    name = pg_server.create_database(template=pg_server.migrated_template())
    with connect(pg_server.url(name), autocommit=True) as conn:
        report = knowledge.ingest_runbooks(conn, embedder, [folder / "runbooks"])
        assert all(f.status != "failed" for f in report.files), [f.error for f in report.files]
        incidents = ingest_incidents(conn, embedder, [folder / "incidents.csv"])
        assert not incidents.errors and incidents.new == len(TICKETS)
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def conn(pg_server, kb_template: str) -> Iterator[psycopg.Connection]:  # type: ignore[no-untyped-def]
    name = pg_server.create_database(template=kb_template)
    with connect(pg_server.url(name), autocommit=True) as connection:
        yield connection
    pg_server.drop_database(name)


def _alert_payload(alert_id: str, runbook_id: str, instance: str) -> dict[str, Any]:
    known = KNOWN_ALERTS[runbook_id]
    return {
        "alert_id": alert_id,
        "title": known["title"],
        "description": str(known["description"]).format(instance=instance),
        "severity": "warning",
        "labels": {**known["labels"], "instance": instance},  # type: ignore[dict-item]
    }


def _triage(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, payload: dict[str, Any]) -> TriageOutcome:
    (alert,) = parse_alerts(payload, format="generic")
    intake = receive_alert(conn, alert)
    assert intake.action == "created" and intake.incident_id is not None
    return triage_incident(conn, embedder, alert, intake.incident_id, policy=load_policy())


def _signature_of(conn: psycopg.Connection, runbook_id: str) -> dict[str, Any]:
    """The signature the runbook's tickets formed (found by its members, not by what triage says)."""
    prefix, _ = CLUSTERS[runbook_id]
    rows = conn.execute(
        "SELECT incident_signature_id, failure_type, error_class, assignment_group, impact, urgency, resolution_refs,"
        " source_incident_ids FROM incident_signatures"
    ).fetchall()
    columns = ("id", "failure_type", "error_class", "assignment_group", "impact", "urgency", "refs", "members")
    signatures = [dict(zip(columns, row, strict=True)) for row in rows]
    (mine,) = [s for s in signatures if any(m.startswith(prefix) for m in s["members"])]
    return mine


def test_the_tickets_form_one_signature_per_runbook(conn: psycopg.Connection) -> None:
    # The premise of the other tests: three clean clusters, each citing its own runbook's steps.
    for runbook_id, (prefix, group) in CLUSTERS.items():
        signature = _signature_of(conn, runbook_id)
        assert sorted(signature["members"]) == sorted(t[0] for t in TICKETS if t[0].startswith(prefix))
        assert signature["refs"] and all(ref.startswith(f"{runbook_id}-S") for ref in signature["refs"])
        assert signature["assignment_group"] == group


@pytest.mark.parametrize("runbook_id", sorted(KNOWN_ALERTS))
def test_a_known_alert_gets_its_runbook_first_and_its_signature(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_id: str
) -> None:
    signature = _signature_of(conn, runbook_id)
    payload = _alert_payload("a-1", runbook_id, "10.0.3.11:9100")
    (alert,) = parse_alerts(payload, format="generic")
    outcome = _triage(conn, embedder, payload)
    triage, plan = outcome.triage, outcome.plan
    assert not triage.no_match
    assert (triage.failure_type, triage.error_class) == (signature["failure_type"], signature["error_class"])
    assert triage.assignment_group == CLUSTERS[runbook_id][1]
    assert triage.matched_runbook_refs[0] == runbook_id
    assert signature["id"] in triage.matched_signature_ids
    # Severity: the alert's own combined with that signature's history.
    assert alert.severity_normalized == "medium"
    assert triage.severity == combine("medium", signature["impact"], signature["urgency"])[0]
    # The plan: that runbook's steps, diagnosis first; the steps its tickets were fixed with carry their history.
    steps = plan.recommendations
    assert steps and steps[0].runbook_id == runbook_id and steps[0].phase == "diagnosis"
    assert {s.runbook_id for s in steps} == {runbook_id}
    assert [phase_rank(s.phase) for s in steps] == sorted(phase_rank(s.phase) for s in steps)
    cited = {s.step_id for s in steps if s.provenance["source"] == "signature"}
    assert cited == set(signature["refs"])
    assert all(signature["id"] in s.provenance["signatures"] for s in steps if s.step_id in cited)
    assert plan.used_signature_ids == [signature["id"]]


@pytest.mark.parametrize(
    "payload",
    [
        {
            "alert_id": "fin-1",
            "title": "Quarterly budget spreadsheet formula broken in the finance share",
            "description": "Cells show #REF! after the template update",
            "labels": {"team": "finance"},
        },
        {
            "alert_id": "kafka-1",
            "title": "Kafka consumer group lag growing",
            "description": "Consumer group orders-processor lag above 100000 messages",
            "severity": "warning",
            "labels": {"alertname": "KafkaConsumerLag", "instance": "kafka-2:9308"},
        },
    ],
    ids=["finance", "kafka"],
)
def test_an_unrelated_alert_is_an_explicit_no_match(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, payload: dict[str, Any]
) -> None:
    outcome = _triage(conn, embedder, payload)
    triage, plan = outcome.triage, outcome.plan
    assert triage.no_match and outcome.search.abstention.abstained
    assert triage.failure_type is None and triage.error_class is None and triage.assignment_group is None
    assert triage.confidence == 0.0 and triage.matched_signature_ids == [] and triage.matched_runbook_refs == []
    assert plan.recommendations == [] and plan.risk_level is None and plan.note
    # Nothing was counted as a match for any signature.
    assert conn.execute("SELECT sum(match_count) FROM incident_signatures").fetchone() == (0,)


@pytest.mark.parametrize("runbook_id", sorted(KNOWN_ALERTS))
def test_the_same_alert_on_other_instances_is_judged_alike(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_id: str
) -> None:
    instances = ["10.0.3.11:9100", "10.0.7.42:9100", "db-replica-3.prod.example.com:9100"]
    outcomes = [
        _triage(conn, embedder, _alert_payload(f"a-{i}", runbook_id, instance)) for i, instance in enumerate(instances)
    ]
    # Separate incidents: the instance is part of an alert's identity.
    assert len({o.incident_id for o in outcomes}) == len(instances)
    judged = [
        (
            o.triage.no_match,
            o.triage.failure_type,
            o.triage.error_class,
            o.triage.severity,
            [r.step_id for r in o.plan.recommendations],
            o.plan.risk_level,
        )
        for o in outcomes
    ]
    assert judged[0][0] is False
    assert judged == [judged[0]] * len(instances)


def test_a_signature_that_keeps_being_right_does_not_lose_weight(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    signature = _signature_of(conn, "pg-connections")
    for i in range(3):
        payload = _alert_payload(f"fixed-{i}", "pg-connections", f"10.0.4.{i + 1}:9187")
        outcome = _triage(conn, embedder, payload)
        assert outcome.triage.failure_type == signature["failure_type"]
        assert signature["id"] in outcome.plan.used_signature_ids
        transition(conn, outcome.resolution_id, "accept", user="alice", roles=["sre"])
        transition(conn, outcome.resolution_id, "execute", user="alice", roles=["sre"])
        (resolved,) = parse_alerts({**payload, "status": "resolved"}, format="generic")
        assert receive_alert(conn, resolved).action == "resolved"
    again = _triage(conn, embedder, _alert_payload("again", "pg-connections", "10.0.4.9:9187"))
    (vote,) = [v for v in again.triage.votes if v.incident_signature_id == signature["id"]]
    never_matched = (0 + 1) / (0 + 2)
    assert vote.track_record >= never_matched
