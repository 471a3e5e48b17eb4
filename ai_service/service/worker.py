"""Triage workers: take work items from the queue, judge each incident, store the result and the item's end
together.

A :class:`WorkerPool` runs ``n`` worker threads in this process, sharing one connection pool, one embedder and
one policy. Idle workers sleep until a ``NOTIFY`` (an enqueue committed) or ``work_poll_seconds`` pass; every
pass also returns items whose lease expired (their worker died) to the queue. A failed attempt goes back to the
queue with an exponential delay, and after ``work_max_attempts`` is set aside as ``dead`` with its error
(``nocai queue status`` shows it, ``nocai queue retry`` re-queues it).

While a worker triages an item, a heartbeat renews its lease every third of ``work_lease_seconds``, so only
a worker that died (or hangs without its process) loses its item to another.

Stopping (SIGTERM, SIGINT, ``stop()``): workers take no new item; each in-flight triage may finish within
``shutdown_grace_seconds``; an item still running after that is released, untouched, for the next worker.

What this module must never do: mark an item done unless its triage rows commit in the same transaction, or
lose an item when it stops.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import ConnectionPool

from ai_service import metrics
from ai_service.alerts.models import NormalizedAlert
from ai_service.config import Settings
from ai_service.incidents.models import TriageOutcome
from ai_service.incidents.service import judge, record
from ai_service.knowledge.embeddings import Embedder
from ai_service.policy.models import Policy
from ai_service.queue import store as queue_store
from ai_service.queue.models import WorkItem
from db.connection import connect

logger = logging.getLogger(__name__)

#: Retry delays grow 2, 4, 8 ... seconds, capped here.
MAX_RETRY_DELAY = 300.0


class LeaseLost(Exception):
    """The item's lease expired and another worker took it: this worker's result is thrown away."""


def worker_name(index: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:w{index}"


def retry_delay(attempts: int) -> float:
    """Seconds before a failed item is tried again: 2, 4, 8 ... up to :data:`MAX_RETRY_DELAY`."""
    return min(MAX_RETRY_DELAY, 2.0 ** max(attempts, 1))


@dataclass(frozen=True)
class Triager:
    """What judging an alert needs, shared by every worker of a process (and by `nocai triage`)."""

    settings: Settings
    embedder: Embedder
    policy: Policy


def process(conn: psycopg.Connection, triager: Triager, item: WorkItem) -> TriageOutcome:
    """Triage one claimed item and store its result with the item's end, in one transaction (``conn`` in
    autocommit). Raises :class:`LeaseLost` when another worker took the item meanwhile (nothing is stored)."""
    assert item.lease_token is not None, "process() takes claimed items"
    alert = NormalizedAlert.model_validate(item.alert)
    judgement = judge(conn, triager.embedder, alert, policy=triager.policy, settings=triager.settings)
    with conn.transaction():
        outcome = record(conn, item.incident_id, judgement)
        if not queue_store.complete(conn, item_id=item.id, lease_token=item.lease_token):
            raise LeaseLost(f"work item {item.id}: its lease expired and another worker took it")
    metrics.TRIAGES.labels(band=judgement.decision.band).inc()
    metrics.TRIAGE_SECONDS.observe(judgement.seconds)
    if item.started_at is not None:
        metrics.QUEUE_DELAY_SECONDS.observe(max(0.0, (item.started_at - item.enqueued_at).total_seconds()))
    return outcome


def run_one(conn: psycopg.Connection, triager: Triager, item: WorkItem, *, worker: str) -> TriageOutcome | None:
    """:func:`process` with the failure handling of a worker: a failed attempt is recorded on the item (retried
    later, or dead when out of attempts) and logged; returns the outcome, or None when it failed."""
    assert item.lease_token is not None
    try:
        return process(conn, triager, item)
    except LeaseLost as lost:
        logger.warning("%s", lost, extra={"work_item": item.id, "worker": worker})
        return None
    except Exception as exc:  # any failure of one triage must not stop the worker
        error = f"{type(exc).__name__}: {exc}"
        status = queue_store.fail(
            conn,
            item_id=item.id,
            lease_token=item.lease_token,
            error=error,
            retry_in_seconds=retry_delay(item.attempts),
        )
        metrics.ERRORS.labels(where="triage").inc()
        log = logger.error if status == "dead" else logger.warning
        log(
            "triage of incident %s failed (attempt %d of %d): %s%s",
            item.incident_id,
            item.attempts,
            item.max_attempts,
            error,
            " — set aside as dead" if status == "dead" else "",
            extra={"work_item": item.id, "worker": worker},
            exc_info=status == "dead",
        )
        return None


@dataclass
class WorkerPool:
    """``count`` worker threads (and one listener) in this process, on ``pool`` (their database is ``url``)."""

    triager: Triager
    url: str
    pool: ConnectionPool
    count: int
    _stop: threading.Event = field(default_factory=threading.Event)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _threads: list[threading.Thread] = field(default_factory=list)
    _in_flight: dict[int, WorkItem] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    on_processed: Callable[[TriageOutcome], None] | None = None

    def start(self) -> None:
        if self.count <= 0:
            return
        self._threads = [
            threading.Thread(target=self._work, args=(worker_name(i),), name=f"nocai-worker-{i}", daemon=True)
            for i in range(self.count)
        ]
        self._threads.append(threading.Thread(target=self._listen, name="nocai-listener", daemon=True))
        self._threads.append(threading.Thread(target=self._heartbeat, name="nocai-heartbeat", daemon=True))
        for thread in self._threads:
            thread.start()
        logger.info("%d triage worker(s) started", self.count)

    def wake(self) -> None:
        """Wake idle workers now (new work was queued by this process)."""
        with self._wake:
            self._wake.notify_all()

    def stop(self, grace: float | None = None) -> None:
        """Take no more work; let in-flight triages finish within ``grace`` seconds, then release the rest."""
        if not self._threads:
            return
        grace = self.triager.settings.shutdown_grace_seconds if grace is None else grace
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._lock:
            unfinished = list(self._in_flight.values())
        if unfinished:
            with self.pool.connection() as conn:
                for item in unfinished:
                    assert item.lease_token is not None
                    queue_store.release(conn, item_id=item.id, lease_token=item.lease_token)
            logger.warning("released %d unfinished work item(s) for the next worker", len(unfinished))
        logger.info("triage workers stopped")
        self._threads = []

    # --- the threads ------------------------------------------------------------------------------------

    def _work(self, name: str) -> None:
        _yield_to_intake()
        settings = self.triager.settings
        while not self._stop.is_set():
            try:
                with self.pool.connection() as conn:
                    queue_store.reap(conn)
                    item = queue_store.claim(conn, worker=name, lease_seconds=settings.work_lease_seconds)
                    if item is not None:
                        with self._lock:
                            self._in_flight[item.id] = item
                        try:
                            outcome = run_one(conn, self.triager, item, worker=name)
                        finally:
                            with self._lock:
                                self._in_flight.pop(item.id, None)
                        if outcome is not None and self.on_processed is not None:
                            self.on_processed(outcome)
                        continue
            except Exception:  # the database went away, say: wait and try again
                metrics.ERRORS.labels(where="worker").inc()
                logger.exception("worker %s: could not take work; retrying", name)
            with self._wake:
                if not self._stop.is_set():
                    self._wake.wait(timeout=settings.work_poll_seconds)

    def _heartbeat(self) -> None:
        """Renew the leases of the items this process is working on, every third of a lease: a triage slower than
        the lease (a slow LLM) keeps its item. Only a worker that stopped renewing loses it."""
        period = self.triager.settings.work_lease_seconds / 3
        while not self._stop.wait(period):
            with self._lock:
                working = list(self._in_flight.values())
            if not working:
                continue
            try:
                with self.pool.connection() as conn:
                    for item in working:
                        assert item.lease_token is not None
                        queue_store.extend(
                            conn,
                            item_id=item.id,
                            lease_token=item.lease_token,
                            lease_seconds=self.triager.settings.work_lease_seconds,
                        )
            except Exception:
                logger.warning("could not renew the work items' leases; retrying", exc_info=True)

    def _listen(self) -> None:
        """Wake the workers on every NOTIFY of the queue channel (on a connection of its own, outside the pool)."""
        while not self._stop.is_set():
            try:
                with connect(self.url, settings=self.triager.settings, autocommit=True) as conn:
                    queue_store.listen(conn)
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except Exception:
                logger.warning("the queue listener lost its connection; reconnecting", exc_info=True)
                self._stop.wait(1.0)


#: How much lower than the process's other threads a triage worker runs (Linux nice steps).
WORKER_NICENESS = 10


def _yield_to_intake() -> None:
    """Lower the calling worker thread's CPU priority, so that on a busy machine acknowledging webhooks (the
    request threads of the same process) comes before triaging them: the queue absorbs a burst, the senders do
    not wait. Linux gives each thread its own nice value; elsewhere this does nothing."""
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
    except OSError:
        logger.debug("could not lower the triage worker's priority", exc_info=True)
