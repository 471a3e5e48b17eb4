"""Failure types of the sample knowledge base, and relabelling a knowledge base labelled before the taxonomy:
``relabel_knowledge_base`` and a re-ingestion of the sample both restore the labels a fresh load gives, keep every
signature id, re-embed exactly the signatures whose label changed, and change nothing on a second run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import psycopg
import pytest
from pgvector import Vector

from ai_service import taxonomy
from ai_service.knowledge import service as knowledge
from ai_service.knowledge import signature_store, texts
from ai_service.knowledge.clustering import SignatureDraft, signature_id_for
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder, content_hash
from ai_service.knowledge.signatures import ingest_incidents
from ai_service.knowledge.store import as_array
from db.connection import connect
from tests.conftest import PgServer

#: Labels of the kind the sample got before the taxonomy (the cluster's most distinctive phrase).
OLD_LABELS = ("o_timeout", "out_pool", "device_while_writing_temp", "auth_service_pods", "blackbox_dns_probe")


@pytest.fixture
def conn(pg_server: PgServer) -> Iterator[psycopg.Connection]:
    name = pg_server.create_database(template=pg_server.sample_kb_template())
    with connect(pg_server.url(name), autocommit=True) as connection:
        yield connection
    pg_server.drop_database(name)


def _signatures(conn: psycopg.Connection) -> dict[str, tuple[str, str, str | None]]:
    rows = conn.execute(
        "SELECT incident_signature_id, failure_type, error_class, embedding_sha256 FROM incident_signatures"
    ).fetchall()
    return {sid: (failure_type, error_class, digest) for sid, failure_type, error_class, digest in rows}


def _runbooks(conn: psycopg.Connection) -> dict[str, tuple[str | None, str | None]]:
    rows = conn.execute("SELECT runbook_id, team, failure_type FROM runbooks").fetchall()
    return {runbook_id: (team, failure_type) for runbook_id, team, failure_type in rows}


def _make_old(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    """Put the knowledge base back where a database labelled before the taxonomy (and migrated by 014) stands:
    phrase labels with keyword error classes on the signatures, their vectors made from those labels, and no team
    or failure type on the runbooks."""
    rows = conn.execute("SELECT incident_signature_id, symptoms FROM incident_signatures ORDER BY 1").fetchall()
    old = [(sid, OLD_LABELS[index % len(OLD_LABELS)], symptoms) for index, (sid, symptoms) in enumerate(rows)]
    old_texts = [texts.signature_text(label, "capacity", symptoms) for _, label, symptoms in old]
    for (signature_id, label, _), text, vector in zip(old, old_texts, embedder.embed(old_texts), strict=True):
        conn.execute(
            "UPDATE incident_signatures SET failure_type = %s, error_class = 'capacity', embedding = %s,"
            " embedding_sha256 = %s WHERE incident_signature_id = %s",
            (label, Vector(vector), content_hash(embedder.model_name, text), signature_id),
        )
    conn.execute("UPDATE runbooks SET team = NULL, failure_type = NULL")


def test_every_sample_signature_has_a_readable_taxonomy_label(conn: psycopg.Connection) -> None:
    signatures = _signatures(conn)
    assert len(signatures) >= 60
    for signature_id, (failure_type, error_class, _) in signatures.items():
        assert taxonomy.is_label(failure_type), (signature_id, failure_type)
        if taxonomy.is_known(failure_type):
            assert error_class == taxonomy.error_class_of(failure_type), signature_id
    known = [ft for ft, _, _ in signatures.values() if taxonomy.is_known(ft)]
    assert len(known) == len(signatures)  # the sample's tickets all carry evidence or history
    # Many clusters share a type: the vote is over kinds of failure, not over one cluster's wording.
    counts = Counter(known)
    assert counts["dns_resolution_failure"] >= 5 and counts["disk_full"] >= 5 and counts["connection_limit"] >= 5
    # History wins: every signature whose tickets cite a runbook has that runbook's type.
    runbook_types = {runbook_id: failure_type for runbook_id, (_, failure_type) in _runbooks(conn).items()}
    cited = conn.execute(
        "SELECT incident_signature_id, failure_type, resolution_refs FROM incident_signatures"
        " WHERE cardinality(resolution_refs) > 0"
    ).fetchall()
    for signature_id, failure_type, refs in cited:
        runbooks = Counter(runbook_types[ref.rsplit("-S", 1)[0]] for ref in refs)
        assert failure_type in runbooks, (signature_id, failure_type, refs)


def test_the_sample_runbooks_are_stored_with_team_and_type(conn: psycopg.Connection) -> None:
    runbooks = _runbooks(conn)
    assert len(runbooks) == 12
    assert all(team and taxonomy.is_known(failure_type) for team, failure_type in runbooks.values())
    assert runbooks["backup-job-failed"] == ("Backup & Storage", "backup_failure")
    assert runbooks["net-packet-loss-link-down"] == ("Network Operations", "link_down")


def test_signature_ids_do_not_depend_on_the_label() -> None:
    """Ids are made from the cluster's distinctive phrase and keyword class, which the taxonomy did not change."""
    draft = SignatureDraft(
        failure_type="disk_full",
        error_class="resource_exhaustion",
        symptoms=("df shows 100% used",),
        assignment_group=None,
        impact=None,
        urgency=None,
        service=None,
        component=None,
        affected_service=None,
        source_incident_ids=("INC1", "INC2"),
        last_seen_at=None,
        cited_step_ids=(),
        centroid=np.ones(3, dtype=np.float32),
        cohesion=1.0,
        size=2,
        label_phrase="out_pool",
        keyword_class="resource_exhaustion",
    )
    assert signature_id_for(draft, set()) == "SIG-RES-001"
    relabelled = replace(draft, failure_type="memory_exhaustion", error_class="hardware")
    assert signature_id_for(relabelled, set()) == signature_id_for(draft, set())
    # The sample's ids, by domain, as they were before the taxonomy (their members are checked by test_clustering).
    assert signature_id_for(replace(draft, label_phrase="disk_space_less"), {"SIG-DISK-001"}) == "SIG-DISK-002"


def test_sample_ids_by_domain_are_those_of_before_the_taxonomy(conn: psycopg.Connection) -> None:
    prefixes = Counter(signature_id.split("-")[1] for signature_id in _signatures(conn))
    assert prefixes == {
        "ACCESS": 8, "BACKUP": 5, "CERT": 2, "CONF": 1, "CPU": 4, "DB": 9, "DISK": 6, "DNS": 6, "K8S": 4,
        "LIC": 2, "MEM": 6, "MISC": 2, "MQ": 3, "NET": 3, "PRINT": 1, "RES": 2, "TLS": 5, "VPN": 2,
    }  # fmt: skip


def test_relabel_restores_what_a_fresh_load_gives_and_is_idempotent(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    fresh_signatures, fresh_runbooks = _signatures(conn), _runbooks(conn)
    # A fresh load is already labelled: nothing to do.
    nothing = knowledge.relabel_knowledge_base(conn, embedder)
    assert (nothing.runbooks_relabelled, nothing.signatures_relabelled, nothing.texts_embedded) == (0, 0, 0)
    assert nothing.runbooks == 12 and nothing.signatures == len(fresh_signatures)

    _make_old(conn, embedder)
    report = knowledge.relabel_knowledge_base(conn, embedder)
    assert report.runbooks_relabelled == 12 and report.signatures_relabelled == len(fresh_signatures)
    assert report.texts_embedded == len(fresh_signatures)  # every text changed with its label: each embedded once
    assert _signatures(conn) == fresh_signatures  # same ids, labels and vector hashes as a fresh load
    # Teams come from the files, which relabel does not read.
    assert {failure_type for _, failure_type in _runbooks(conn).values()} == {
        failure_type for _, failure_type in fresh_runbooks.values()
    }
    assert all(team is None for team, _ in _runbooks(conn).values())
    # The stored vector is the vector of the new text (label + symptoms), not the old one.
    signature_id, failure_type, error_class, symptoms, vector = conn.execute(
        "SELECT incident_signature_id, failure_type, error_class, symptoms, embedding FROM incident_signatures"
        " ORDER BY incident_signature_id LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    text = texts.signature_text(failure_type, error_class, symptoms)
    assert fresh_signatures[signature_id][2] == content_hash(embedder.model_name, text)
    assert np.allclose(as_array(vector), embedder.embed([text])[0], atol=1e-4)

    again = knowledge.relabel_knowledge_base(conn, embedder)
    assert (again.runbooks_relabelled, again.signatures_relabelled, again.texts_embedded) == (0, 0, 0)


def test_reingesting_the_sample_leaves_correct_labels(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    """`nocai kb load-sample` on a knowledge base labelled before the taxonomy: the ingest functions it calls."""
    fresh_signatures, fresh_runbooks = _signatures(conn), _runbooks(conn)
    _make_old(conn, embedder)
    runbooks = knowledge.ingest_runbooks(conn, embedder, [knowledge.SAMPLE_DIR / "runbooks"])
    assert report_is_cheap(runbooks) and runbooks.runbooks_relabelled == 12
    incidents = ingest_incidents(conn, embedder, [knowledge.SAMPLE_DIR / "incidents.csv"])
    assert incidents.unchanged == 300 and incidents.signatures_created == 0
    assert _runbooks(conn) == fresh_runbooks and _signatures(conn) == fresh_signatures


def report_is_cheap(report: knowledge.IngestReport) -> bool:
    """Unchanged files were only relabelled: nothing parsed into steps, nothing embedded for them."""
    return all(f.status == "unchanged" and f.relabelled for f in report.files) and report.count("updated") == 0


def test_a_signature_without_tickets_is_labelled_from_its_history_else_its_words(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    """Signatures migrated from an older install's chunks have no stored tickets."""
    for signature_id, label, symptoms, refs in (
        ("SIG-OLD-001", "printer_jammed", ["printer jammed on floor 3", "paper tray empty"], []),
        ("SIG-OLD-002", "weird_thing", ["something odd happened"], ["linux-disk-full-S3"]),
        ("SIG-OLD-003", "mystery", ["nobody knows"], []),
    ):
        text = texts.signature_text(label, "capacity", symptoms)
        signature_store.insert_signature(
            conn,
            incident_signature_id=signature_id,
            failure_type=label,
            error_class="capacity",
            symptoms=symptoms,
            affected_service=None,
            service=None,
            component=None,
            assignment_group=None,
            impact=None,
            urgency=None,
            resolution_refs=refs,
            source_incident_ids=[],
            source_document_id=None,
            embedding=embedder.embed([text])[0],
            embedding_sha256=content_hash(embedder.model_name, text),
        )
    report = knowledge.relabel_knowledge_base(conn, embedder)
    assert report.signatures_relabelled == 3 and report.texts_embedded == 3
    labels = _signatures(conn)
    assert labels["SIG-OLD-001"][:2] == ("hardware_failure", "hardware")  # its words
    assert labels["SIG-OLD-002"][:2] == ("disk_full", "resource_exhaustion")  # its history's runbook
    assert labels["SIG-OLD-003"][:2] == ("unknown", "capacity")  # no evidence: unknown, its class kept
    again = knowledge.relabel_knowledge_base(conn, embedder)
    assert (again.signatures_relabelled, again.texts_embedded) == (0, 0)
