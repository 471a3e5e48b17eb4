"""Failure types and assignment groups of real triages on the sample knowledge base: alerts that differ only in
their instance, pod or address get the same failure type; every label is a taxonomy type; a backup alert goes to
the backup runbook's team; a responder's correction of the assignment group routes the next alert of its pattern."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ai_service import taxonomy
from ai_service.alerts.service import receive
from ai_service.feedback.models import TriageFeedback
from ai_service.feedback.service import give_triage_feedback
from ai_service.incidents.models import TriageOutcome
from ai_service.incidents.service import triage_incident
from ai_service.knowledge import service as knowledge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.policy.service import load_policy
from db.connection import connect
from tests.conftest import PgServer

SAMPLES = Path(knowledge.SAMPLE_DIR).parent.parent / "alerts" / "samples"
#: The labels that name *which* thing failed, not *what* failed.
INSTANCE_LABELS = ("instance", "pod", "host", "server", "uid", "ifIndex", "ifDescr", "ifAlias", "container")
#: The Alertmanager samples whose alerts all name their instance (a pod, a host, an address).
AM_SAMPLES = [
    path
    for path in sorted(SAMPLES.glob("am_*.json"))
    if all(set(alert["labels"]) & set(INSTANCE_LABELS) for alert in json.loads(path.read_text())["alerts"])
]
#: Digits of another instance: each digit replaced, and those of Kubernetes' random suffixes (2, 4-9) by such
#: digits, so that a pod name stays a pod name.
_OTHER_DIGITS = str.maketrans("0123456789", "1043678925")


@pytest.fixture
def conn(pg_server: PgServer) -> Iterator[psycopg.Connection]:
    """A clone of the sample knowledge base (a sample alert is new in each test, not a repeat)."""
    name = pg_server.create_database(template=pg_server.sample_kb_template())
    with connect(pg_server.url(name), autocommit=True) as connection:
        yield connection
    pg_server.drop_database(name)


def _triage(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, payload: Any) -> list[TriageOutcome]:
    outcomes = []
    for intake in receive(conn, payload):
        assert intake.action == "created" and intake.incident_id is not None
        outcomes.append(triage_incident(conn, embedder, intake.alert, intake.incident_id, policy=load_policy()))
    return outcomes


def _other_instance(value: str) -> str:
    """Another instance of the same kind: its digits changed (a name without digits gets another suffix)."""
    changed = value.translate(_OTHER_DIGITS)
    return changed if changed != value else f"{value}-b"


def _moved(payload: dict[str, Any]) -> dict[str, Any]:
    """The same alerts about other instances: instance, pod, host and address labels rewritten, and every mention
    of their old values in the annotations with them (the fingerprint goes: it names the old instance)."""
    moved = copy.deepcopy(payload)
    for alert in moved["alerts"]:
        alert.pop("fingerprint", None)
        renames = {value: _other_instance(value) for key, value in alert["labels"].items() if key in INSTANCE_LABELS}
        alert["labels"] = {key: renames.get(value, value) for key, value in alert["labels"].items()}
        for key, text in list(alert.get("annotations", {}).items()):
            for old, new in sorted(renames.items(), key=lambda item: -len(item[0])):
                text = text.replace(old, new)
            alert["annotations"][key] = text
    return moved


def test_the_two_alerts_of_an_interface_outage_get_one_failure_type(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    payload = json.loads((SAMPLES / "am_interface_down.json").read_text())
    link, loss = _triage(conn, embedder, payload)
    assert link.triage.failure_type == loss.triage.failure_type == "link_down"
    assert link.triage.error_class == loss.triage.error_class == "connectivity"
    assert link.triage.assignment_group == loss.triage.assignment_group == "Network Operations"


@pytest.mark.parametrize("sample", AM_SAMPLES, ids=lambda path: path.stem)
def test_alerts_differing_only_in_instance_pod_or_address_get_the_same_failure_type(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, sample: Path
) -> None:
    payload = json.loads(sample.read_text())
    moved = _moved(payload)
    assert moved["alerts"][0]["labels"] != payload["alerts"][0]["labels"]  # they really are other instances
    for first, second in zip(_triage(conn, embedder, payload), _triage(conn, embedder, moved), strict=True):
        one, two = first.triage, second.triage
        assert (one.failure_type, one.error_class) == (two.failure_type, two.error_class), sample.name
        assert one.assignment_group == two.assignment_group, sample.name
        # Readable labels: a taxonomy type with its own error class, or nothing at all (never a phrase).
        assert one.failure_type is None or taxonomy.is_known(one.failure_type), one.failure_type
        if one.failure_type is not None:
            assert one.error_class == taxonomy.error_class_of(one.failure_type)


def test_a_backup_alert_goes_to_the_backup_runbooks_team(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    (outcome,) = _triage(conn, embedder, json.loads((SAMPLES / "am_backup_failed.json").read_text()))
    triage = outcome.triage
    assert outcome.plan.recommendations[0].runbook_id == "backup-job-failed"
    assert triage.assignment_group == "Backup & Storage"
    # The backup job failed to connect to its database: signatures of connection trouble may carry the vote, but
    # their history is about another runbook than the plan's, so the plan's runbook's team is proposed; a backup
    # signature carrying it would propose its own tickets' group, Backup & Storage too.
    backup_signatures = {f"signature {sid}" for sid in triage.matched_signature_ids if sid.startswith("SIG-BACKUP")}
    assert triage.assignment_group_source in {"runbook backup-job-failed", *backup_signatures}
    stored = conn.execute(
        "SELECT assignment_group, assignment_group_source FROM triage_results WHERE id = %s",
        (outcome.triage_result_id,),
    ).fetchone()
    assert stored == ("Backup & Storage", triage.assignment_group_source)
    summary = conn.execute(
        "SELECT triage_output ->> 'assignment_group_source' FROM incidents WHERE id = %s", (outcome.incident_id,)
    ).fetchone()
    assert summary == (triage.assignment_group_source,)


def test_a_responders_correction_routes_the_next_alert_of_its_pattern(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    payload = json.loads((SAMPLES / "am_replication_lag.json").read_text())
    (first,) = _triage(conn, embedder, payload)
    assert first.triage.assignment_group == "DBA Team"
    learned = give_triage_feedback(
        conn, first.incident_id, TriageFeedback(verdict="correct", assignment_group="Storage Team"), user="alice"
    )
    (second,) = _triage(conn, embedder, _moved(payload))
    assert second.triage.assignment_group == "Storage Team"
    assert second.triage.assignment_group_source == f"feedback {learned.feedback_id}"
    # The failure type is not what the correction was about: it stays the knowledge base's.
    assert second.triage.failure_type == first.triage.failure_type == "replication_lag"
