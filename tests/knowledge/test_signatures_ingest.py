"""`nocai ingest incidents`: tickets into growing signatures, against the real database and model."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ai_service.knowledge import service
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.knowledge.signatures import MIN_SIGNATURE_SIZE, ingest_incidents
from db.connection import connect

SAMPLE_CSV = service.SAMPLE_DIR / "incidents.csv"


@pytest.fixture
def conn(migrated_db_url: str, embedder: LocalMiniLMEmbedder) -> Iterator[psycopg.Connection]:
    with connect(migrated_db_url, autocommit=True) as connection:
        service.ingest_runbooks(connection, embedder, [service.SAMPLE_DIR / "runbooks"])
        yield connection


def _rows() -> tuple[list[str], list[dict[str, str]]]:
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _membership(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT number, signature_id FROM historical_incidents WHERE signature_id IS NOT NULL"))  # type: ignore[arg-type]


def test_sample_incidents_become_consistent_signatures(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    report = ingest_incidents(conn, embedder, [SAMPLE_CSV])
    assert (report.new, report.errors) == (300, [])
    assert report.signatures_created > 12  # several failure patterns per topic, not one per topic
    assert report.signatures_created < 150  # and not one per ticket
    sigs = conn.execute(
        "SELECT incident_signature_id, cardinality(source_incident_ids), symptoms, failure_type, error_class,"
        " resolution_refs, vector_dims(embedding), last_seen_at IS NOT NULL FROM incident_signatures"
    ).fetchall()
    assert all(
        size >= MIN_SIGNATURE_SIZE and symptoms and dims == 384 and seen
        for _, size, symptoms, _, _, _, dims, seen in sigs
    )
    # Members and source_incident_ids agree, and every ticket is in at most one signature.
    membership = _membership(conn)
    listed = [
        number for row in conn.execute("SELECT unnest(source_incident_ids) FROM incident_signatures") for number in row
    ]
    assert sorted(listed) == sorted(membership)
    # Cited steps exist.
    refs = {r for row in sigs for r in row[5]}
    assert refs and refs <= {r[0] for r in conn.execute("SELECT step_id FROM runbook_steps")}
    # A disk signature looks like one.
    disk = [s for s in sigs if any("disk" in sym for sym in s[2])]
    assert disk and all(s[4] in ("resource_exhaustion", "capacity") for s in disk)
    # Re-importing the same file changes nothing.
    again = ingest_incidents(conn, embedder, [SAMPLE_CSV])
    assert (again.unchanged, again.new, again.texts_embedded, again.signatures_created) == (300, 0, 0, 0)
    assert _membership(conn) == membership


def test_signatures_grow_instead_of_duplicating(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, tmp_path: Path
) -> None:
    header, rows = _rows()
    rows.sort(key=lambda r: r["opened_at"])
    first = _write(tmp_path / "first.csv", header, rows[: len(rows) // 2])
    ingest_incidents(conn, embedder, [first])
    before = dict(
        conn.execute("SELECT incident_signature_id, cardinality(source_incident_ids) FROM incident_signatures")
    )  # type: ignore[arg-type]
    second = ingest_incidents(conn, embedder, [SAMPLE_CSV])  # the whole file: the first half again, plus the rest
    assert (second.unchanged, second.new) == (len(rows) // 2, len(rows) - len(rows) // 2)
    assert second.signatures_grown > 0
    after = dict(
        conn.execute("SELECT incident_signature_id, cardinality(source_incident_ids) FROM incident_signatures")
    )  # type: ignore[arg-type]
    assert set(before) <= set(after)  # no signature disappears
    assert sum(after[s] > before[s] for s in before) == second.signatures_grown
    membership = _membership(conn)
    assert len(membership) == len(set(membership))
    listed = [n for row in conn.execute("SELECT unnest(source_incident_ids) FROM incident_signatures") for n in row]
    assert len(listed) == len(set(listed))  # no ticket counted twice


def test_changed_ticket_is_reembedded_and_bad_rows_are_reported(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, tmp_path: Path
) -> None:
    header, rows = _rows()
    ingest_incidents(conn, embedder, [SAMPLE_CSV])
    rows[0]["short_description"] = "Printer on floor 3 jams on every duplex job"
    rows[1]["short_description"] = ""  # a row without its required field
    rows[2]["opened_at"] = "not a date"
    edited = _write(tmp_path / "edited.csv", header, rows)
    report = ingest_incidents(conn, embedder, [edited, tmp_path / "missing.csv"])
    assert report.updated == 1 and report.texts_embedded == 1
    errors = "\n".join(report.errors)
    assert "edited.csv:3: column 'short_description' is empty" in errors and "edited.csv:4:" in errors
    assert "missing.csv" in errors
    row = conn.execute(
        "SELECT short_description, signature_id FROM historical_incidents WHERE number = %s", (rows[0]["number"],)
    ).fetchone()
    assert row is not None and row[0].startswith("Printer")


def test_dry_run_writes_nothing(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    report = ingest_incidents(conn, embedder, [SAMPLE_CSV], dry_run=True)
    assert report.new == 300 and report.texts_embedded == 0
    assert conn.execute("SELECT count(*) FROM historical_incidents").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM incident_signatures").fetchone() == (0,)
