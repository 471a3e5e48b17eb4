"""The service and its workers as an operator runs them: real processes on loopback ports, real signals.

Each test starts ``python -m ai_service.main`` or ``nocai worker`` as a subprocess (stdout and stderr in files
under the test's ``tmp_path``), talks to it over HTTP and reads the database it uses. Every wait is bounded;
whatever a test started and left running is killed, by its pid, when the test ends. Slow dependencies are
real loopback servers: the OpenAI-compatible chat server of ``tests/support`` (an LLM that takes its time) and
an embeddings endpoint defined here that fails until it is told to recover.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from psycopg.rows import dict_row

from ai_service.alerts.adapters import parse_payload
from ai_service.auth.service import create_token
from ai_service.incidents.intake import record_payload
from ai_service.knowledge import service as knowledge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.queue import store as queue_store
from ai_service.queue.models import WorkItem
from db import embedded
from db.connection import connect
from db.migrate import discover
from db.queries import scalar
from tests.conftest import PYTHON, REPO_ROOT, PgServer
from tests.support.chat_server import Reply, advice, chat_server, completion
from tests.support.cli import NOCAI, describe, run_nocai
from tests.support.openai_server import hashed_vector
from tests.support.waiting import free_port, wait_for

SERVICE: list[str] = [PYTHON, "-m", "ai_service.main"]
SAMPLE_PAYLOAD = REPO_ROOT / "ai_service" / "alerts" / "samples" / "am_postgres_connections.json"
SIGTERM_EXIT = (0, -signal.SIGTERM)  # a clean stop, or the signal re-raised after it


# ------------------------------------------------------------------------------------------------------
# Helpers: ports, waits, processes, payloads, tokens
# ------------------------------------------------------------------------------------------------------


def exited(pid: int) -> bool:
    """Whether process ``pid`` has ended (an exited child its parent has not reaped yet counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@dataclass
class Started:
    """A process a test started, with its output files."""

    proc: subprocess.Popen[bytes]
    name: str
    stdout_path: Path
    stderr_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return f"--- {self.name} stdout\n{self.stdout_path.read_text(errors='replace')}\n--- stderr\n{self.stderr}"

    def url(self, path: str) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 90) -> None:
        """Until ``/readyz`` answers 200 (failing at once if the process exits)."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode} before it was ready\n{self.output()}")
            try:
                return httpx.get(self.url("/readyz"), timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=timeout, what=f"{self.name} ready", explain=self.output)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM to this process alone (not its group), then its exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running {timeout:g}s after SIGTERM\n{self.output()}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=15)


Spawn = Callable[..., Started]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start processes (in their own session, so that a terminal's Ctrl-C does not reach them); whichever is
    still running when the test ends is killed by its pid."""
    started: list[Started] = []

    def start(argv: list[str], env: dict[str, str], name: str) -> Started:
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        port = int(env["NOCAI_PORT"]) if "NOCAI_PORT" in env else None
        process = Started(proc, name, out, err, port)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.proc.wait(timeout=15)


def service_env(nocai_env: dict[str, str], **settings: str) -> dict[str, str]:
    """The subprocess environment: a free port, JSON logs, workers that look for work often, a short grace."""
    env = {
        **nocai_env,
        "NOCAI_PORT": str(free_port()),
        "NOCAI_LOG_FORMAT": "json",
        "NOCAI_WORK_POLL_SECONDS": "0.5",
        "NOCAI_SHUTDOWN_GRACE_SECONDS": "5",
    }
    env.update(settings)
    return env


def alertmanager_payload(*fingerprints: str) -> dict[str, Any]:
    """The sample Alertmanager webhook with one firing alert per fingerprint (each a new incident)."""
    payload = json.loads(SAMPLE_PAYLOAD.read_text())
    template = payload["alerts"][0]
    payload["alerts"] = []
    for number, fingerprint in enumerate(fingerprints):
        alert = copy.deepcopy(template)
        alert["fingerprint"] = fingerprint
        alert["labels"]["instance"] = f"10.0.9.{number + 1}:9187"
        payload["alerts"].append(alert)
    return payload


def enqueue_sample(url: str, *, max_attempts: int) -> WorkItem:
    """Record the sample alert as the webhook would (incident + queued triage item); returns the item."""
    with connect(url, autocommit=True) as conn:
        report = record_payload(conn, parse_payload(SAMPLE_PAYLOAD.read_bytes()), max_attempts=max_attempts)
        (item_id,) = report.work_item_ids
        found = queue_store.get(conn, item_id)
    assert found is not None
    return found


def token(url: str, role: str) -> str:
    """A new API token with ``role`` (what `nocai tokens create` prints)."""
    with connect(url, autocommit=True) as conn:
        created = create_token(conn, role=role, name=f"test-{role}", created_by="tests")  # type: ignore[arg-type]
    return created.token


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def work_item(url: str, item_id: int) -> WorkItem:
    with connect(url, autocommit=True) as conn:
        found = queue_store.get(conn, item_id)
    assert found is not None
    return found


def count(url: str, table: str, incident_id: uuid.UUID) -> int:
    assert table in ("triage_results", "resolution_outputs")
    with connect(url, autocommit=True) as conn:
        found: int = scalar(conn, f"SELECT count(*) FROM {table} WHERE incident_id = %s", (incident_id,))
    return found


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line of ``text`` as a JSON object (failing on the first that is not one)."""
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}\n--- all of it\n{text}")
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


class EmbeddingEndpoint:
    """An OpenAI-compatible ``/v1/embeddings`` on 127.0.0.1 that answers 500 while ``failing`` is set, and the
    hashed vectors of ``tests/support/openai_server`` once it is cleared."""

    def __init__(self, dimension: int = 384) -> None:
        self.failing = True
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                endpoint.requests += 1
                if endpoint.failing:
                    status, payload = 500, {"error": {"message": "the model server is overloaded"}}
                else:
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [{"index": i, "embedding": hashed_vector(t, dimension)} for i, t in enumerate(inputs)]
                    status, payload = 200, {"object": "list", "data": data}
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------------------------------------------
# The embedded default: CLI beside the service, and the server stopped with it
# ------------------------------------------------------------------------------------------------------


@pytest.fixture
def embedded_env(nocai_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """No DATABASE_URL: nocai starts its embedded PostgreSQL under this test's NOCAI_DATA_DIR. Afterwards a server
    still running there (the test failed) is stopped."""
    env = service_env(nocai_env, NOCAI_WORKERS="1")
    assert "DATABASE_URL" not in env
    yield env
    pgdata = Path(env["NOCAI_DATA_DIR"]) / "pg"
    if embedded.status(pgdata).running:
        embedded.stop(pgdata)


@pytest.mark.slow
def test_service_on_the_embedded_default_triages_a_webhook_and_stops_its_server(
    embedded_env: dict[str, str], spawn: Spawn
) -> None:
    env = embedded_env
    pgdata = Path(env["NOCAI_DATA_DIR"]) / "pg"
    for args in (("db", "init"), ("kb", "load-sample")):
        proc = run_nocai(*args, env=env, timeout=240)
        assert proc.returncode == 0, describe(proc)
    secrets = {}
    for role in ("ingest", "viewer"):
        proc = run_nocai("tokens", "create", "--role", role, "--name", f"test-{role}", env=env, timeout=90)
        assert proc.returncode == 0, describe(proc)
        last = proc.stdout.splitlines()[-1]
        assert last == last.strip() and last.startswith("nocai_") and " " not in last, describe(proc)
        secrets[role] = last
    assert not embedded.status(pgdata).running, "the CLI left the embedded server running after it exited"

    service = spawn(SERVICE, env, "service")
    service.wait_ready()
    server = embedded.status(pgdata)
    assert server.running and server.pid is not None

    posted = httpx.post(
        service.url("/api/v1/alerts"),
        content=SAMPLE_PAYLOAD.read_bytes(),
        headers={**bearer(secrets["ingest"]), "Content-Type": "application/json"},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    (receipt,) = posted.json()["alerts"]
    assert receipt["outcome"] == "new" and receipt["work_item_id"] is not None
    incident_url = service.url(f"/api/v1/incidents/{receipt['incident_id']}")

    def triaged() -> dict[str, Any] | None:
        response = httpx.get(incident_url, headers=bearer(secrets["viewer"]), timeout=10)
        assert response.status_code == 200, response.text
        detail: dict[str, Any] = response.json()
        return detail if detail["triage"] and detail["resolution"] else None

    detail = wait_for(triaged, timeout=60, what="triage and plan of the posted alert", explain=service.output)
    assert [w["status"] for w in detail["work"]] == ["done"]
    assert detail["policy_band"] and detail["resolution"]["recommendations"]
    refused = httpx.get(incident_url, headers=bearer(secrets["ingest"]), timeout=10)
    assert refused.status_code == 403, "an ingest token may only send alerts"

    # The CLI joins the running server and leaves it running when it exits.
    listed = run_nocai("incidents", "list", env=env, timeout=90)
    assert listed.returncode == 0 and receipt["incident_id"] in listed.stdout, describe(listed)
    queue = run_nocai("queue", "status", env=env, timeout=90)
    assert queue.returncode == 0 and "done 1" in queue.stdout and "dead 0" in queue.stdout, describe(queue)
    assert service.proc.poll() is None, service.output()
    assert embedded.status(pgdata).pid == server.pid, "the embedded server was stopped or replaced under the service"
    assert httpx.get(service.url("/healthz"), timeout=10).status_code == 200
    assert httpx.get(incident_url, headers=bearer(secrets["viewer"]), timeout=10).status_code == 200

    assert service.stop() in SIGTERM_EXIT, service.output()
    wait_for(
        lambda: not embedded.status(pgdata).running,
        timeout=20,
        what="the embedded PostgreSQL stopped with the service",
        explain=service.output,
    )
    assert not (pgdata / "postmaster.pid").exists()
    wait_for(lambda: exited(server.pid), timeout=20, what=f"the postmaster (pid {server.pid}) gone")


# ------------------------------------------------------------------------------------------------------
# Workers that die, and items that keep failing
# ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runbooks_template(pg_server: PgServer) -> Iterator[str]:
    """A migrated database holding the sample runbooks (embedded once per module; tests clone it)."""
    name = pg_server.create_database(template=pg_server.migrated_template())
    with connect(pg_server.url(name), autocommit=True) as conn:
        knowledge.ingest_runbooks(conn, LocalMiniLMEmbedder(), [knowledge.SAMPLE_DIR / "runbooks"])
    yield name
    pg_server.drop_database(name)


@pytest.fixture
def runbooks_db_url(pg_server: PgServer, runbooks_template: str) -> Iterator[str]:
    name = pg_server.create_database(template=runbooks_template)
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.mark.slow
def test_a_worker_killed_mid_triage_leaves_its_item_to_the_next(
    runbooks_db_url: str, nocai_env: dict[str, str], spawn: Spawn
) -> None:
    url = runbooks_db_url
    with chat_server() as chat:
        # The first answer takes a minute (the worker is killed meanwhile); the next one comes at once.
        slow = Reply(body=completion("{}"), delay=60)
        chat.reply(slow, advice({"explanation": "Start with the connection count.", "ranking": None, "cited_ids": []}))
        env = service_env(
            nocai_env,
            DATABASE_URL=url,
            NOCAI_LLM_URL=chat.base_url,
            NOCAI_LLM_TIMEOUT="120",
            NOCAI_WORK_LEASE_SECONDS="3",
        )
        queued = enqueue_sample(url, max_attempts=5)
        first = spawn([*NOCAI, "worker", "--count", "1"], env, "worker-1")

        def mid_triage() -> WorkItem | None:
            if first.proc.poll() is not None:
                pytest.fail(f"the worker exited with {first.proc.returncode}\n{first.output()}")
            current = work_item(url, queued.id)
            return current if current.status == "running" and chat.requests else None

        running = wait_for(mid_triage, timeout=60, what="the first worker asking the LLM", explain=first.output)
        assert running.attempts == 1 and running.leased_by and f":{first.pid}:" in running.leased_by
        first.kill()
        assert work_item(url, queued.id).status == "running", "the item must wait for its lease to expire"

        second = spawn([*NOCAI, "worker", "--count", "1"], env, "worker-2")
        done = wait_for(
            lambda: (current := work_item(url, queued.id)).status == "done" and current,
            timeout=60,
            what="the item re-claimed and triaged by the second worker",
            explain=second.output,
        )
        assert done.attempts == 2 and done.leased_by and f":{second.pid}:" in done.leased_by
        assert running.lease_expires_at is not None and done.started_at is not None
        assert done.started_at >= running.lease_expires_at, "the item was taken while its lease still held"
        assert count(url, "triage_results", queued.incident_id) == 1
        assert count(url, "resolution_outputs", queued.incident_id) == 1
        assert len(chat.requests) == 2, "the second worker triaged the alert anew"
        assert second.stop() == 0, second.output()


@pytest.mark.slow
def test_a_triage_slower_than_its_lease_keeps_its_item(
    runbooks_db_url: str, nocai_env: dict[str, str], spawn: Spawn
) -> None:
    """A worker that is alive keeps its item however long the triage takes: the lease is for workers that died."""
    url = runbooks_db_url
    with chat_server() as chat:
        # The first answer comes after 6 s, three leases' worth, to a worker alive and waiting all along; any
        # later one (a second triage of the same alert, by the worker that took the item over) comes at once.
        answer = {"explanation": "Start with the connection count.", "ranking": None, "cited_ids": []}
        chat.reply(advice(answer, delay=6), advice(answer))
        env = service_env(
            nocai_env,
            DATABASE_URL=url,
            NOCAI_LLM_URL=chat.base_url,
            NOCAI_LLM_TIMEOUT="30",
            NOCAI_WORK_LEASE_SECONDS="2",
        )
        queued = enqueue_sample(url, max_attempts=5)
        workers = spawn([*NOCAI, "worker", "--count", "2"], env, "workers")
        ended = wait_for(
            lambda: (current := work_item(url, queued.id)).status in ("done", "dead") and current,
            timeout=60,
            what="the slow triage finished",
            explain=workers.output,
        )
        assert workers.stop() == 0, workers.output()
        assert ended.status == "done", ended
        assert ended.attempts == 1, f"the item was taken from a live worker: {ended.attempts} attempts"
        assert len(chat.requests) == 1, "the alert was triaged twice"
        assert count(url, "triage_results", queued.incident_id) == 1


@pytest.mark.slow
def test_an_item_that_keeps_failing_ends_dead_and_retry_brings_it_back(
    migrated_db_url: str, nocai_env: dict[str, str], spawn: Spawn
) -> None:
    """The embedding endpoint answers 500, so every triage fails: two attempts, then `dead` with the error;
    once the endpoint is back, `nocai queue retry` queues it again and it completes."""
    url = migrated_db_url
    endpoint = EmbeddingEndpoint()
    try:
        env = service_env(
            nocai_env,
            DATABASE_URL=url,
            NOCAI_WORKERS="1",
            NOCAI_WORK_MAX_ATTEMPTS="2",
            # The same model name and dimension as the database's registry: only the provider changes.
            NOCAI_EMBEDDING_PROVIDER="openai",
            NOCAI_EMBEDDING_URL=endpoint.base_url,
            NOCAI_EMBEDDING_MAX_RETRIES="0",
            NOCAI_EMBEDDING_TIMEOUT="10",
        )
        ingest = token(url, "ingest")
        service = spawn(SERVICE, env, "service")
        service.wait_ready()
        posted = httpx.post(
            service.url("/api/v1/alerts/alertmanager"),
            content=SAMPLE_PAYLOAD.read_bytes(),
            headers=bearer(ingest),
            timeout=30,
        )
        assert posted.status_code == 202, posted.text
        (receipt,) = posted.json()["alerts"]
        item_id = receipt["work_item_id"]

        dead = wait_for(
            lambda: (current := work_item(url, item_id)).status == "dead" and current,
            timeout=60,
            what="the failing item set aside as dead",
            explain=service.output,
        )
        assert dead.attempts == 2 and dead.max_attempts == 2
        assert dead.last_error and "ExternalServiceError" in dead.last_error and "HTTP 500" in dead.last_error
        assert count(url, "triage_results", dead.incident_id) == 0

        status = run_nocai("queue", "status", env=env, timeout=90)
        assert status.returncode == 0, describe(status)
        assert "dead 1" in status.stdout and str(item_id) in status.stdout, describe(status)
        assert "HTTP 500" in status.stdout, describe(status)

        endpoint.failing = False
        retried = run_nocai("queue", "retry", env=env, timeout=90)
        assert retried.returncode == 0 and f"queued again: {item_id}" in retried.stdout, describe(retried)
        done = wait_for(
            lambda: (current := work_item(url, item_id)).status == "done" and current,
            timeout=60,
            what="the retried item triaged",
            explain=service.output,
        )
        assert done.attempts == 1, "a retried item starts with fresh attempts"
        assert count(url, "triage_results", done.incident_id) == 1
        assert service.stop() in SIGTERM_EXIT, service.output()
    finally:
        endpoint.close()


# ------------------------------------------------------------------------------------------------------
# Two services on one database
# ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_services_on_one_database_migrate_once_and_triage_each_alert_once(
    fresh_db_url: str, nocai_env: dict[str, str], spawn: Spawn
) -> None:
    url = fresh_db_url
    first_port = free_port()
    second_port = free_port()
    while second_port == first_port:
        second_port = free_port()
    services = [
        spawn(SERVICE, service_env(nocai_env, DATABASE_URL=url, NOCAI_PORT=str(port), NOCAI_WORKERS="2"), name)
        for name, port in (("service-a", first_port), ("service-b", second_port))
    ]
    for service in services:
        service.wait_ready()

    migrations = [f.version for f in discover()]
    with connect(url, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        ledger = cur.execute("SELECT version, applied_by FROM schema_migrations ORDER BY version").fetchall()
    assert [row["version"] for row in ledger] == migrations
    appliers = {row["applied_by"] for row in ledger}
    assert len(appliers) == 1 and any(f"pid={s.pid}" in next(iter(appliers)) for s in services), appliers
    applied_lines = [
        entry["message"]
        for service in services
        for entry in json_lines(service.stderr)
        if entry["message"].startswith("applied migration")
    ]
    assert len(applied_lines) == len(migrations), applied_lines

    ingest, viewer = token(url, "ingest"), token(url, "viewer")
    alerts = 30
    incidents: list[str] = []
    with httpx.Client(timeout=30, headers=bearer(ingest)) as client:
        for number in range(alerts):
            service = services[number % 2]
            fingerprint = f"{uuid.uuid4().hex[:12]}{number:04x}"
            response = client.post(service.url("/api/v1/alerts"), json=alertmanager_payload(fingerprint))
            assert response.status_code == 202, response.text
            (receipt,) = response.json()["alerts"]
            assert receipt["outcome"] == "new"
            incidents.append(receipt["incident_id"])
    assert len(set(incidents)) == alerts

    def all_done() -> bool:
        with connect(url, autocommit=True) as conn:
            state = queue_store.status(conn)
        assert state.dead == 0, state
        return state.done == alerts

    wait_for(
        all_done, timeout=120, what=f"{alerts} alerts triaged", explain=lambda: "".join(s.output() for s in services)
    )
    with connect(url, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        per_incident = cur.execute(
            "SELECT i.id::text AS id, count(t.id) AS triages FROM incidents AS i"
            " LEFT JOIN triage_results AS t ON t.incident_id = i.id GROUP BY i.id"
        ).fetchall()
        attempts = cur.execute("SELECT attempts, count(*) AS items FROM work_items GROUP BY attempts").fetchall()
    assert sorted(row["id"] for row in per_incident) == sorted(incidents)
    assert {row["triages"] for row in per_incident} == {1}, per_incident
    assert attempts == [{"attempts": 1, "items": alerts}], "an item was claimed more than once"

    # Either service shows what the other received.
    detail = httpx.get(services[1].url(f"/api/v1/incidents/{incidents[0]}"), headers=bearer(viewer), timeout=10)
    assert detail.status_code == 200 and detail.json()["triage"], detail.text
    for service in services:
        assert service.stop() in SIGTERM_EXIT, service.output()


# ------------------------------------------------------------------------------------------------------
# Start-up refusals and logs
# ------------------------------------------------------------------------------------------------------


def run_service(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The service, run to its end (for starts that must fail)."""
    return subprocess.run(
        SERVICE, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_open_access_is_refused_on_a_non_loopback_bind(host: str, nocai_env: dict[str, str]) -> None:
    env = service_env(nocai_env, NOCAI_OPEN_ACCESS="true", NOCAI_HOST=host)
    proc = run_service(env)
    assert proc.returncode == 2, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    assert proc.stderr.startswith("error: NOCAI_OPEN_ACCESS"), describe(proc)
    assert "fix:" in proc.stderr, describe(proc)
    assert not (Path(env["NOCAI_DATA_DIR"]) / "pg").exists(), "it started a database before refusing"


def test_open_access_on_loopback_starts_and_says_so(
    migrated_db_url: str, nocai_env: dict[str, str], spawn: Spawn
) -> None:
    env = service_env(
        nocai_env, DATABASE_URL=migrated_db_url, NOCAI_OPEN_ACCESS="true", NOCAI_HOST="127.0.0.1", NOCAI_WORKERS="0"
    )
    service = spawn(SERVICE, env, "service")
    service.wait_ready()
    assert "OPEN ACCESS" in service.stderr, service.output()
    listed = httpx.get(service.url("/api/v1/incidents"), timeout=10)
    assert listed.status_code == 200, "open access serves callers without a token"
    assert service.stop() in SIGTERM_EXIT, service.output()


@pytest.fixture(scope="module")
def port_in_use(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Any]]:
    """The service started on a port another process listens on: (port, its completed run)."""
    name = pg_server.create_database(template=pg_server.migrated_template())
    data_dir = tmp_path_factory.mktemp("port-in-use") / "nocai-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCAI_") and k != "DATABASE_URL"}
    env.update(NOCAI_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO_ROOT))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        env = service_env(env, DATABASE_URL=pg_server.url(name), NOCAI_PORT=str(port), NOCAI_WORKERS="0")
        proc = run_service(env)
    yield port, proc
    pg_server.drop_database(name)


def test_a_port_in_use_is_reported_with_its_fix_before_anything_starts(port_in_use: tuple[int, Any]) -> None:
    port, proc = port_in_use
    assert "Traceback" not in proc.stderr, describe(proc)
    assert "serving on" not in proc.stderr and "worker(s) started" not in proc.stderr, describe(proc)
    assert proc.returncode == 2, describe(proc)
    assert f"error: could not listen on 127.0.0.1:{port}" in proc.stderr, describe(proc)
    fix = next((line for line in proc.stderr.splitlines() if line.startswith("  fix: ")), "")
    assert "NOCAI_PORT" in fix, describe(proc)


def test_service_chores_before_the_first_migration_say_what_to_run(
    fresh_db_url: str, nocai_env: dict[str, str]
) -> None:
    """An operator who creates the first token before the service's first start is told to migrate."""
    env = {**nocai_env, "DATABASE_URL": fresh_db_url}
    for args in (("tokens", "create", "--role", "ingest"), ("queue", "status")):
        proc = run_nocai(*args, env=env, timeout=90)
        assert "Traceback" not in proc.stderr, describe(proc)
        assert proc.returncode == 2, describe(proc)
        assert proc.stderr.startswith("error: the database is not"), describe(proc)
        assert "nocai db init" in proc.stderr or "run_migration" in proc.stderr, describe(proc)
        assert "\n  fix: " in proc.stderr, describe(proc)


def test_json_logs_carry_each_requests_id(migrated_db_url: str, nocai_env: dict[str, str], spawn: Spawn) -> None:
    url = migrated_db_url
    env = service_env(nocai_env, DATABASE_URL=url, NOCAI_WORKERS="1", NOCAI_LOG_FORMAT="json")
    ingest, viewer = token(url, "ingest"), token(url, "viewer")
    service = spawn(SERVICE, env, "service")
    service.wait_ready()

    ids = {name: f"test-{name}-{uuid.uuid4().hex[:8]}" for name in ("list", "refused", "webhook")}
    listed = httpx.get(
        service.url("/api/v1/incidents"), headers={**bearer(viewer), "X-Request-ID": ids["list"]}, timeout=10
    )
    assert listed.status_code == 200 and listed.headers["x-request-id"] == ids["list"]
    refused = httpx.get(service.url("/api/v1/incidents"), headers={"X-Request-ID": ids["refused"]}, timeout=10)
    assert refused.status_code == 401 and refused.headers["x-request-id"] == ids["refused"]
    assert ids["refused"] in refused.text, "an error body names its request id"
    posted = httpx.post(
        service.url("/api/v1/alerts"),
        content=SAMPLE_PAYLOAD.read_bytes(),
        headers={**bearer(ingest), "X-Request-ID": ids["webhook"], "Content-Type": "application/json"},
        timeout=30,
    )
    assert posted.status_code == 202 and posted.headers["x-request-id"] == ids["webhook"]
    (receipt,) = posted.json()["alerts"]
    wait_for(
        lambda: work_item(url, receipt["work_item_id"]).status == "done",
        timeout=60,
        what="the webhook's alert triaged",
        explain=service.output,
    )
    assert service.stop() in SIGTERM_EXIT, service.output()

    entries = json_lines(service.stderr)  # every line, the start, the requests, the triage and the stop
    access = {
        name: [e for e in entries if e["logger"] == "ai_service.api.access" and e.get("request_id") == rid]
        for name, rid in ids.items()
    }
    expected = {
        "list": ("GET", "/api/v1/incidents", 200),
        "refused": ("GET", "/api/v1/incidents", 401),
        "webhook": ("POST", "/api/v1/alerts", 202),
    }
    for name, (method, path, status) in expected.items():
        assert len(access[name]) == 1, (name, entries)
        (line,) = access[name]
        assert (line["method"], line["path"], line["status"]) == (method, path, status), line
