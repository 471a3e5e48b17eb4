"""Fixtures of the HTTP API tests: the app in-process (FastAPI's TestClient, lifespan included) over a real
database holding the sample knowledge base, with one token per role.

* ``kb_template`` — a database migrated and loaded with the sample knowledge base, once per session; tests clone
  it (a CREATE DATABASE), never write to it.
* ``start_api(...)`` — starts the app on a fresh clone (or on a given URL) with explicit settings, and closes it
  after the test. One app at a time: its lifespan registers the process-wide metrics collector.
* ``api`` — ``start_api()`` with no worker thread (``api.triage_now()`` does a worker's job in the test).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Route

from ai_service.api.app import create_app
from ai_service.auth.models import ROLES
from ai_service.auth.service import create_token
from ai_service.config import Settings
from ai_service.queue import store as queue_store
from ai_service.service.runtime import Runtime
from ai_service.service.worker import Triager, process
from ai_service.web.routing import ConsoleRoute
from tests.conftest import REPO_ROOT, PgServer

SAMPLES = REPO_ROOT / "ai_service" / "alerts" / "samples"
PAYLOADS = REPO_ROOT / "tests" / "alerts" / "payloads"


class ExplicitSettings(Settings):
    """Settings from the arguments alone: nothing is read from the environment or a ``.env`` file."""

    @classmethod
    def settings_customise_sources(  # type: ignore[no-untyped-def,override]
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings,)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "host": "127.0.0.1",
        "workers": 0,
        "pool_min_size": 1,
        "pool_max_size": 6,
        "log_format": "text",
        "log_level": "warning",
        "work_poll_seconds": 0.5,
        "shutdown_grace_seconds": 5.0,
    }
    values.update(overrides)
    return ExplicitSettings(**values)


def sample(name: str) -> bytes:
    """A bundled sample payload, as the sender's bytes."""
    return (SAMPLES / name).read_bytes()


def payload(name: str) -> bytes:
    """A real public payload (tests/alerts/payloads), as the sender's bytes."""
    return (PAYLOADS / name).read_bytes()


def check_error(response: httpx.Response, status: int, code: str, *fragments: str) -> dict[str, Any]:
    """The response is the API's JSON error: this status and code, a message naming the problem (every fragment,
    case-insensitively), a fix, and the request id of the X-Request-ID header."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "fix", "request_id"}, body
    assert body["code"] == code, body
    assert body["message"], body
    for fragment in fragments:
        assert fragment.lower() in body["message"].lower(), (fragment, body["message"])
    assert body["fix"], body
    assert body["request_id"] and body["request_id"] == response.headers["x-request-id"], body
    return body


@dataclass
class Api:
    """A running app: its client, runtime, database and a token per role."""

    client: TestClient
    runtime: Runtime
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers={**self.auth(role), **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, role: str = "admin", **kwargs: Any) -> httpx.Response:
        return self.client.post(path, headers={**self.auth(role), **kwargs.pop("headers", {})}, **kwargs)

    def delete(self, path: str, role: str = "admin", **kwargs: Any) -> httpx.Response:
        return self.client.delete(path, headers={**self.auth(role), **kwargs.pop("headers", {})}, **kwargs)

    def send(self, body: bytes | Any, fmt: str | None = None, role: str = "ingest", **kwargs: Any) -> httpx.Response:
        """POST a webhook body (bytes as they are, anything else as JSON) to /alerts or /alerts/{fmt}."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        path = "/api/v1/alerts" + (f"/{fmt}" if fmt else "")
        return self.post(path, role, content=content, headers=headers, **kwargs)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql, params)

    def counts(self) -> dict[str, int]:
        """Rows of every table an alert or a triage writes."""
        tables = ("incidents", "work_items", "triage_results", "resolution_outputs", "resolution_events")
        with psycopg.connect(self.url, autocommit=True) as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]

    def triage_now(self) -> int:
        """Triage every queued item in this thread, as a worker does (apps started without workers); returns
        how many."""
        runtime = self.runtime
        triager = Triager(runtime.settings, runtime.embedder, runtime.policy)
        done = 0
        with runtime.pool.connection() as conn:
            while (item := queue_store.claim(conn, worker="test", lease_seconds=60)) is not None:
                process(conn, triager, item)
                done += 1
        return done

    def wait_for_triage(self, incident_id: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Poll the incident until its triage is stored (bounded: fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            detail: dict[str, Any] = self.get(f"/api/v1/incidents/{incident_id}", "viewer").json()
            if detail.get("triage") is not None:
                return detail
            assert time.monotonic() < deadline, f"incident {incident_id} was not triaged: {detail.get('work')}"
            time.sleep(0.1)


def add_tokens(url: str, **policy_roles: list[str]) -> dict[str, str]:
    """One token per role (named after it); ``policy_roles`` overrides a role's policy roles."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            role: create_token(conn, role=role, name=f"{role}-bot", policy_roles=policy_roles.get(role)).token
            for role in ROLES
        }


@pytest.fixture(scope="session")
def kb_template(pg_server: PgServer) -> str:
    """A migrated database with the sample knowledge base (12 runbooks, 300 past incidents): clone it."""
    return pg_server.sample_kb_template()


@contextlib.contextmanager
def serving(runtime: Runtime, *, tokens: bool = True) -> Iterator[Api]:
    """The app over ``runtime``, lifespan started (and the runtime closed when it ends)."""
    try:
        minted = add_tokens(runtime.url) if tokens else {}
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            yield Api(client=client, runtime=runtime, url=runtime.url, tokens=minted)
    finally:
        runtime.close()


StartApi = Callable[..., Api]


@pytest.fixture
def start_api(pg_server: PgServer, kb_template: str, tmp_path: Path) -> Iterator[StartApi]:
    """``start_api(url=None, **settings)``: the app on ``url`` (default: a fresh clone of the knowledge base)."""
    with contextlib.ExitStack() as stack:

        def start(url: str | None = None, **overrides: Any) -> Api:
            if url is None:
                name = pg_server.create_database(template=kb_template)
                stack.callback(pg_server.drop_database, name)
                url = pg_server.url(name)
            settings = make_settings(url, tmp_path / f"data-{uuid.uuid4().hex[:6]}", **overrides)
            return stack.enter_context(serving(Runtime.start(settings)))

        yield start


@pytest.fixture
def api(start_api: StartApi) -> Api:
    return start_api()


#: Routes that answer without a token (probes, metrics and the API's own documentation).
PUBLIC_ROUTES = {
    ("GET", "/api/v1/health/live"),
    ("GET", "/api/v1/health/ready"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}

_EXAMPLE_PARAMS = {"format": "alertmanager", "action": "accept"}


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the API serves (HEAD aside), included routers flattened; the console's pages
    (``ConsoleRoute``: HTML, a session cookie, tested in ``tests/web``) are not the API's."""
    found = set()
    for context in iter_route_contexts(app.router.routes):
        route = context.route
        if isinstance(route, Route) and not isinstance(route, ConsoleRoute):
            found.update((method, route.path) for method in route.methods or () if method != "HEAD")
    return sorted(found)


def example_path(template: str) -> str:
    """A concrete path for a template: path parameters filled with well-formed values (ids that do not exist)."""
    return re.sub(r"\{(\w+)\}", lambda m: _EXAMPLE_PARAMS.get(m.group(1), str(uuid.uuid4())), template)
