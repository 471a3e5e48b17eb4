"""The work queue's guarantees, on the real database, without workers: who gets which item, when, under which
lease, and what a late or failing holder can still change.

Each test has its own migrated database; items come from real Alertmanager payloads recorded by
``record_payload`` (so each has its incident). Time is never waited for: a lease "expires" or a retry delay
"passes" by moving the item's timestamps in the database.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from ai_service.alerts.adapters import parse_payload
from ai_service.config import get_settings
from ai_service.incidents.intake import record_payload
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.policy.service import load_policy
from ai_service.queue import store as queue_store
from ai_service.queue.models import WorkItem
from ai_service.service.worker import LeaseLost, Triager, process, run_one
from db.connection import connect
from db.queries import scalar
from tests.conftest import REPO_ROOT

SAMPLE = json.loads((REPO_ROOT / "ai_service" / "alerts" / "samples" / "am_postgres_connections.json").read_text())


def alertmanager_payload(*fingerprints: str) -> dict[str, Any]:
    """The sample Alertmanager webhook with one firing alert per fingerprint (each opens its own incident)."""
    payload = copy.deepcopy(SAMPLE)
    template = payload["alerts"][0]
    payload["alerts"] = []
    for number, fingerprint in enumerate(fingerprints):
        alert = copy.deepcopy(template)
        alert["fingerprint"] = fingerprint
        alert["labels"]["instance"] = f"10.0.9.{number + 1}:9187"
        payload["alerts"].append(alert)
    return payload


def enqueue(conn: psycopg.Connection, count: int, *, max_attempts: int = 3) -> list[int]:
    """Record ``count`` new incidents with their triage items; returns the item ids in enqueue order."""
    fingerprints = [uuid.uuid4().hex[:16] for _ in range(count)]
    report = record_payload(conn, parse_payload(alertmanager_payload(*fingerprints)), max_attempts=max_attempts)
    ids = report.work_item_ids
    assert len(ids) == count
    return sorted(ids)


def item(conn: psycopg.Connection, item_id: int) -> WorkItem:
    found = queue_store.get(conn, item_id)
    assert found is not None
    return found


def shift(conn: psycopg.Connection, item_id: int, column: str, seconds: float) -> None:
    """Set ``column`` (available_at or lease_expires_at) of an item to now() + ``seconds``."""
    assert column in ("available_at", "lease_expires_at")
    conn.execute(
        f"UPDATE work_items SET {column} = now() + make_interval(secs => %s) WHERE id = %s", (seconds, item_id)
    )


def expire_lease(conn: psycopg.Connection, item_id: int) -> None:
    """The holder stopped renewing: its lease ended a minute ago."""
    shift(conn, item_id, "lease_expires_at", -60)


def seconds_until(conn: psycopg.Connection, item_id: int, column: str) -> float:
    assert column in ("available_at", "lease_expires_at")
    seconds: float = scalar(
        conn, f"SELECT extract(epoch FROM {column} - now())::float8 FROM work_items WHERE id = %s", (item_id,)
    )
    return seconds


def count(conn: psycopg.Connection, table: str, incident_id: uuid.UUID) -> int:
    assert table in ("triage_results", "resolution_outputs")
    found: int = scalar(conn, f"SELECT count(*) FROM {table} WHERE incident_id = %s", (incident_id,))
    return found


@pytest.fixture
def conn(migrated_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(migrated_db_url, autocommit=True) as connection:
        yield connection


# ------------------------------------------------------------------------------------------------------
# claim
# ------------------------------------------------------------------------------------------------------


def test_claim_takes_the_oldest_ready_item_under_a_new_lease(conn: psycopg.Connection) -> None:
    first, second, later = enqueue(conn, 3)
    shift(conn, first, "available_at", -60)
    shift(conn, second, "available_at", -300)  # enqueued after `first`, but ready for longer
    shift(conn, later, "available_at", 3600)  # a retry that is not due yet

    claimed = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert claimed is not None and claimed.id == second
    assert claimed.status == "running" and claimed.attempts == 1 and claimed.leased_by == "w1"
    assert claimed.lease_token is not None and claimed.started_at is not None
    assert 25 < seconds_until(conn, second, "lease_expires_at") <= 30

    again = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert again is not None and again.id == first
    assert again.lease_token != claimed.lease_token
    assert queue_store.claim(conn, worker="w1", lease_seconds=30) is None, "an item not yet available was taken"

    shift(conn, later, "available_at", 0)
    due = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert due is not None and due.id == later


def test_claim_of_chosen_items_takes_only_those(conn: psycopg.Connection) -> None:
    first, second = enqueue(conn, 2)
    claimed = queue_store.claim(conn, worker="w1", lease_seconds=30, item_ids=[second])
    assert claimed is not None and claimed.id == second
    assert queue_store.claim(conn, worker="w1", lease_seconds=30, item_ids=[second]) is None
    assert item(conn, first).status == "queued"


def test_two_connections_claiming_at_once_get_different_items(migrated_db_url: str, conn: psycopg.Connection) -> None:
    """Both claims run while the other's transaction still holds its row lock: SKIP LOCKED makes the second take
    the next item instead of waiting for (and then repeating) the first one."""
    ids = enqueue(conn, 2)
    both_claimed = threading.Barrier(2, timeout=15)
    claimed: dict[str, int | None] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with connect(migrated_db_url, autocommit=True) as own, own.transaction():
                got = queue_store.claim(own, worker=name, lease_seconds=30)
                claimed[name] = got.id if got is not None else None
                both_claimed.wait()  # neither transaction commits before both have claimed
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a claim blocked on the other's lock"
    assert not errors, errors
    assert sorted(v for v in claimed.values() if v is not None) == ids, claimed


def test_concurrent_claimers_share_out_every_item_once(migrated_db_url: str, conn: psycopg.Connection) -> None:
    ids = enqueue(conn, 40)
    taken: dict[str, list[int]] = {"w1": [], "w2": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=15)

    def worker(name: str) -> None:
        try:
            with connect(migrated_db_url, autocommit=True) as own:
                start.wait()
                while (got := queue_store.claim(own, worker=name, lease_seconds=30)) is not None:
                    taken[name].append(got.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    assert sorted(taken["w1"] + taken["w2"]) == ids, "an item was claimed twice or not at all"
    assert scalar(conn, "SELECT count(*) FROM work_items WHERE status = 'running' AND attempts = 1") == len(ids)


# ------------------------------------------------------------------------------------------------------
# complete, and a lease lost to another worker
# ------------------------------------------------------------------------------------------------------


def test_complete_needs_the_lease_token_and_happens_once(conn: psycopg.Connection) -> None:
    (item_id,) = enqueue(conn, 1)
    claimed = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert claimed is not None and claimed.lease_token is not None

    assert not queue_store.complete(conn, item_id=item_id, lease_token=uuid.uuid4())
    assert item(conn, item_id).status == "running"

    assert queue_store.complete(conn, item_id=item_id, lease_token=claimed.lease_token)
    done = item(conn, item_id)
    assert done.status == "done" and done.finished_at is not None
    assert done.lease_token is None and done.lease_expires_at is None

    assert not queue_store.complete(conn, item_id=item_id, lease_token=claimed.lease_token)
    assert queue_store.claim(conn, worker="w2", lease_seconds=30) is None


def test_a_reclaimed_item_refuses_the_first_holders_complete(conn: psycopg.Connection) -> None:
    (item_id,) = enqueue(conn, 1)
    first = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert first is not None and first.lease_token is not None
    expire_lease(conn, item_id)
    assert queue_store.reap(conn) == 1
    second = queue_store.claim(conn, worker="w2", lease_seconds=30)
    assert second is not None and second.id == item_id and second.lease_token is not None
    assert second.attempts == 2 and second.leased_by == "w2"

    assert not queue_store.complete(conn, item_id=item_id, lease_token=first.lease_token)
    assert not queue_store.extend(conn, item_id=item_id, lease_token=first.lease_token, lease_seconds=30)
    assert (
        queue_store.fail(conn, item_id=item_id, lease_token=first.lease_token, error="late", retry_in_seconds=0) is None
    )
    assert not queue_store.release(conn, item_id=item_id, lease_token=first.lease_token)
    assert item(conn, item_id).status == "running" and item(conn, item_id).lease_token == second.lease_token

    assert queue_store.complete(conn, item_id=item_id, lease_token=second.lease_token)


@pytest.fixture(scope="module")
def triager() -> Triager:
    return Triager(get_settings(), LocalMiniLMEmbedder(), load_policy())


def test_process_of_a_lost_lease_stores_no_triage(conn: psycopg.Connection, triager: Triager) -> None:
    """The late worker judges the alert, but its transaction (triage rows and all) rolls back."""
    (item_id,) = enqueue(conn, 1)
    late = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert late is not None
    expire_lease(conn, item_id)
    queue_store.reap(conn)
    current = queue_store.claim(conn, worker="w2", lease_seconds=30)
    assert current is not None and current.id == item_id

    with pytest.raises(LeaseLost):
        process(conn, triager, late)
    assert count(conn, "triage_results", late.incident_id) == 0
    assert count(conn, "resolution_outputs", late.incident_id) == 0
    summary = scalar(conn, "SELECT triage_completed_at FROM incidents WHERE id = %s", (late.incident_id,))
    assert summary is None, "the incident's summary was updated by the late worker"
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    # The worker's wrapper logs the loss and leaves the item to its current holder (no failure recorded).
    assert run_one(conn, triager, late, worker="w1") is None
    still = item(conn, item_id)
    assert still.status == "running" and still.lease_token == current.lease_token and still.attempts == 2
    assert "LeaseLost" not in (still.last_error or ""), "the late worker recorded a failure on another's item"
    assert count(conn, "triage_results", late.incident_id) == 0

    outcome = process(conn, triager, current)
    assert outcome.incident_id == current.incident_id
    assert count(conn, "triage_results", current.incident_id) == 1
    assert item(conn, item_id).status == "done"


# ------------------------------------------------------------------------------------------------------
# fail, release, reap, retry
# ------------------------------------------------------------------------------------------------------


def test_fail_requeues_with_a_delay_then_dead_after_max_attempts(conn: psycopg.Connection) -> None:
    (item_id,) = enqueue(conn, 1, max_attempts=2)
    first = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert first is not None and first.lease_token is not None
    assert queue_store.fail(conn, item_id=item_id, lease_token=uuid.uuid4(), error="x", retry_in_seconds=0) is None

    assert queue_store.fail(
        conn, item_id=item_id, lease_token=first.lease_token, error="boom 1", retry_in_seconds=60
    ) == ("queued")
    waiting = item(conn, item_id)
    assert waiting.attempts == 1 and waiting.last_error == "boom 1" and waiting.lease_token is None
    assert waiting.finished_at is None
    assert 55 < seconds_until(conn, item_id, "available_at") <= 60
    assert queue_store.claim(conn, worker="w1", lease_seconds=30) is None, "taken before its retry delay"

    shift(conn, item_id, "available_at", 0)  # the delay has passed
    second = queue_store.claim(conn, worker="w2", lease_seconds=30)
    assert second is not None and second.attempts == 2 and second.lease_token is not None
    assert queue_store.fail(
        conn, item_id=item_id, lease_token=second.lease_token, error="boom 2", retry_in_seconds=0
    ) == ("dead")
    dead = item(conn, item_id)
    assert dead.status == "dead" and dead.last_error == "boom 2" and dead.finished_at is not None
    assert dead.attempts == 2 and dead.lease_token is None
    assert queue_store.claim(conn, worker="w3", lease_seconds=30) is None


def test_release_gives_the_item_back_without_counting_the_attempt(conn: psycopg.Connection) -> None:
    (item_id,) = enqueue(conn, 1, max_attempts=1)
    claimed = queue_store.claim(conn, worker="w1", lease_seconds=30)
    assert claimed is not None and claimed.lease_token is not None

    assert queue_store.release(conn, item_id=item_id, lease_token=claimed.lease_token)
    back = item(conn, item_id)
    assert back.status == "queued" and back.attempts == 0 and back.lease_token is None
    assert back.last_error is None
    assert not queue_store.release(conn, item_id=item_id, lease_token=claimed.lease_token)

    # max_attempts is 1: had the release counted, this claim would be refused or end in `dead` on failure.
    again = queue_store.claim(conn, worker="w2", lease_seconds=30)
    assert again is not None and again.id == item_id and again.attempts == 1 and again.lease_token is not None
    assert queue_store.complete(conn, item_id=item_id, lease_token=again.lease_token)


def test_reap_returns_expired_items_and_kills_those_out_of_attempts(conn: psycopg.Connection) -> None:
    retried, exhausted, alive = enqueue(conn, 3, max_attempts=2)
    # `exhausted` uses its first attempt and fails; its second attempt's worker will die.
    first = queue_store.claim(conn, worker="w0", lease_seconds=30, item_ids=[exhausted])
    assert first is not None and first.lease_token is not None
    queue_store.fail(conn, item_id=exhausted, lease_token=first.lease_token, error="boom", retry_in_seconds=0)
    for item_id, worker in ((retried, "w1"), (exhausted, "w2"), (alive, "w3")):
        assert queue_store.claim(conn, worker=worker, lease_seconds=30, item_ids=[item_id]) is not None
    expire_lease(conn, retried)
    expire_lease(conn, exhausted)
    assert queue_store.status(conn).expired_leases == 2

    assert queue_store.reap(conn) == 2
    back = item(conn, retried)
    assert back.status == "queued" and back.attempts == 1 and back.lease_token is None
    assert back.last_error is not None and "w1" in back.last_error and "stopped" in back.last_error
    gone = item(conn, exhausted)
    assert gone.status == "dead" and gone.attempts == 2 and gone.finished_at is not None
    assert gone.last_error is not None and "w2" in gone.last_error
    assert item(conn, alive).status == "running", "a live lease was reaped"
    assert queue_store.reap(conn) == 0

    taken = queue_store.claim(conn, worker="w4", lease_seconds=30)
    assert taken is not None and taken.id == retried and taken.attempts == 2


def test_retry_revives_dead_items_with_fresh_attempts(conn: psycopg.Connection) -> None:
    one, two, healthy = enqueue(conn, 3, max_attempts=1)
    for item_id in (one, two):
        claimed = queue_store.claim(conn, worker="w1", lease_seconds=30, item_ids=[item_id])
        assert claimed is not None and claimed.lease_token is not None
        status = queue_store.fail(
            conn, item_id=item_id, lease_token=claimed.lease_token, error="boom", retry_in_seconds=60
        )
        assert status == "dead"

    assert queue_store.retry(conn, item_ids=[one, healthy]) == [one]  # a queued item is not "retried"
    revived = item(conn, one)
    assert revived.status == "queued" and revived.attempts == 0 and revived.finished_at is None
    assert seconds_until(conn, one, "available_at") <= 0, "a retried item must be ready now"
    assert item(conn, two).status == "dead"
    assert queue_store.retry(conn) == [two]
    assert queue_store.retry(conn) == []

    taken = queue_store.claim(conn, worker="w2", lease_seconds=30, item_ids=[one])
    assert taken is not None and taken.attempts == 1 and taken.lease_token is not None
    assert queue_store.complete(conn, item_id=one, lease_token=taken.lease_token)


# ------------------------------------------------------------------------------------------------------
# status and notifications
# ------------------------------------------------------------------------------------------------------


def test_status_counts_states_and_the_oldest_ready_age(conn: psycopg.Connection) -> None:
    empty = queue_store.status(conn)
    assert (empty.queued, empty.running, empty.done, empty.dead, empty.expired_leases) == (0, 0, 0, 0, 0)
    assert empty.oldest_queued_seconds is None

    done, dead, running, ready, later = enqueue(conn, 5, max_attempts=1)
    claimed = queue_store.claim(conn, worker="w1", lease_seconds=30, item_ids=[done])
    assert claimed is not None and claimed.lease_token is not None
    queue_store.complete(conn, item_id=done, lease_token=claimed.lease_token)
    claimed = queue_store.claim(conn, worker="w1", lease_seconds=30, item_ids=[dead])
    assert claimed is not None and claimed.lease_token is not None
    queue_store.fail(conn, item_id=dead, lease_token=claimed.lease_token, error="boom", retry_in_seconds=0)
    assert queue_store.claim(conn, worker="w1", lease_seconds=30, item_ids=[running]) is not None
    expire_lease(conn, running)
    shift(conn, ready, "available_at", -120)
    shift(conn, later, "available_at", 600)

    state = queue_store.status(conn)
    assert (state.queued, state.running, state.done, state.dead) == (2, 1, 1, 1)
    assert state.expired_leases == 1
    # The oldest *ready* item waited two minutes; the one not yet due does not count.
    assert state.oldest_queued_seconds is not None and 120 <= state.oldest_queued_seconds < 180

    assert [i.id for i in queue_store.items(conn, statuses=("dead",))] == [dead]


def test_an_enqueue_wakes_listeners_when_it_commits(migrated_db_url: str, conn: psycopg.Connection) -> None:
    with connect(migrated_db_url, autocommit=True) as listener:
        queue_store.listen(listener)
        with pytest.raises(RuntimeError), conn.transaction():
            enqueue(conn, 1)
            raise RuntimeError("roll back")
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == [], "a rolled-back enqueue woke the workers"
        enqueue(conn, 1)
        (note,) = list(listener.notifies(timeout=10, stop_after=1))
        assert note.channel == queue_store.CHANNEL
