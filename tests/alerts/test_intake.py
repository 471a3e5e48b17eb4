"""Alert intake against the real database: dedup by fingerprint, resolve, storms (also concurrent)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ai_service.alerts import service
from ai_service.errors import AlertFormatError
from db.connection import connect

SAMPLES = Path(service.__file__).resolve().parent / "samples"


def _load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def conn(migrated_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(migrated_db_url, autocommit=True) as connection:
        yield connection


def test_repeats_update_the_open_incident_and_resolved_closes_it(conn: psycopg.Connection) -> None:
    firing = _load("alertmanager_disk_full.json")
    first = service.receive(conn, firing)
    assert [o.action for o in first] == ["created", "created"]
    again = service.receive(conn, firing)
    assert [o.action for o in again] == ["repeated", "repeated"]
    assert [o.incident_id for o in again] == [o.incident_id for o in first]
    assert [o.occurrence_count for o in again] == [2, 2]
    row = conn.execute(
        "SELECT raw_alert, last_raw_alert, status, title, severity FROM incidents WHERE id = %s",
        (first[0].incident_id,),
    ).fetchone()
    assert row is not None and row[0] and row[1] and row[2] == "open" and row[3] and row[4]
    closed = service.receive(conn, _load("alertmanager_resolved.json"))
    assert closed[0].action == "resolved" and closed[0].incident_id == first[0].incident_id
    assert conn.execute(
        "SELECT status, resolved_at IS NOT NULL FROM incidents WHERE id = %s", (first[0].incident_id,)
    ).fetchone() == ("resolved", True)
    # The same resolution again finds nothing open; a new firing opens a new incident.
    assert service.receive(conn, _load("alertmanager_resolved.json"))[0].action == "ignored"
    reopened = service.receive(conn, firing)
    assert reopened[0].action == "created" and reopened[0].incident_id != first[0].incident_id
    assert reopened[1].action == "repeated"  # the second alert never resolved


def test_every_format_is_recorded_with_its_raw_payload(conn: psycopg.Connection) -> None:
    for name, source in (
        ("grafana_cpu.json", "grafana"),
        ("pagerduty_triggered.json", "pagerduty"),
        ("generic_dns.json", "generic"),
    ):
        outcomes = service.receive(conn, _load(name))
        assert outcomes and all(o.action == "created" for o in outcomes)
        stored = conn.execute(
            "SELECT source, raw_alert FROM incidents WHERE id = %s", (outcomes[0].incident_id,)
        ).fetchone()
        assert stored is not None and stored[0] == source and stored[1]


def test_malformed_payload_names_the_field_and_writes_nothing(conn: psycopg.Connection) -> None:
    payload = _load("alertmanager_disk_full.json")
    payload["alerts"][1]["labels"] = ["not", "a", "map"]
    with pytest.raises(AlertFormatError, match=r"alerts\[1\]\.labels"):
        service.receive(conn, payload, format="alertmanager")
    assert conn.execute("SELECT count(*) FROM incidents").fetchone() == (0,)


def test_concurrent_alert_storm_gives_one_incident_per_alert(migrated_db_url: str) -> None:
    """Eight connections deliver 800 payloads of three alert groups at once, all repeats of the same alerts."""
    payload = _load("alertmanager_disk_full.json")
    payloads = [payload, _load("am_memory_oom.json"), _load("am_dns_failure.json")]
    per_thread, threads_count = 100, 8
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_count)

    def worker() -> None:
        try:
            with connect(migrated_db_url, autocommit=True) as conn:
                barrier.wait()
                for i in range(per_thread):
                    service.receive(conn, payloads[i % 3])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with connect(migrated_db_url) as conn:
        rows = conn.execute("SELECT fingerprint, occurrence_count FROM incidents WHERE status = 'open'").fetchall()
    alerts_per_payload = [len(p.get("alerts", [])) or 1 for p in payloads]
    expected_incidents = sum(alerts_per_payload)
    assert len(rows) == expected_incidents  # one per distinct alert, nothing doubled
    deliveries = threads_count * per_thread
    sent = sum(
        alerts_per_payload[k] * len([i for i in range(per_thread) if i % 3 == k]) * threads_count for k in range(3)
    )
    assert sum(count for _, count in rows) == sent  # nothing lost
    assert deliveries == 800
