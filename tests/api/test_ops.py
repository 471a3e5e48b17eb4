"""What operators rely on: the OpenAPI document and its offline pages, Prometheus metrics, liveness and readiness
(503 on a database with a pending migration)."""

from __future__ import annotations

import re
from pathlib import Path

from ai_service.policy.service import policy_from_settings
from ai_service.service.runtime import Runtime
from db import migrate
from db.connection import create_pool
from tests.api.conftest import PUBLIC_ROUTES, Api, app_routes, check_error, example_path, make_settings, sample, serving


def test_openapi_lists_every_api_route_with_its_errors(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    listed = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = {route for route in app_routes(api.client.app) if route[1].startswith("/api/v1")}  # type: ignore[arg-type]
    assert served and served <= listed, served - listed
    for method, path in served - PUBLIC_ROUTES:
        responses = document["paths"][path][method.lower()]["responses"]
        assert {"401", "403", "422"} <= set(responses), (method, path, sorted(responses))
    assert "Authorization: Bearer" in document["info"]["description"]


def test_the_docs_pages_use_only_local_assets(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        response = api.client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert not re.search(r"https?://|//cdn|unpkg|jsdelivr", response.text), page
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", response.text)
        assert any(a.endswith(".js") for a in assets), (page, assets)
        for asset in assets:
            assert asset.startswith("/"), (page, asset)
            fetched = api.client.get(asset)
            assert fetched.status_code == 200 and fetched.content, (page, asset)
    assert "'/openapi.json'" in api.client.get("/docs").text


def test_metrics_are_prometheus_text_with_the_service_figures(api: Api) -> None:
    assert api.send(sample("am_disk_full.json")).status_code == 202
    incident = example_path("/api/v1/incidents/{incident_id}")
    assert api.get(incident, "viewer").status_code == 404
    response = api.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#") and " " in line
    )
    assert float(samples['nocai_alerts_received_total{format="alertmanager",outcome="new"}']) >= 1
    assert samples['nocai_queue_items{status="queued"}'] == "1.0"
    assert samples['nocai_queue_items{status="dead"}'] == "0.0"
    assert float(samples['nocai_pool_connections{state="open"}']) >= 1
    requests = 'nocai_http_requests_total{method="POST",route="/api/v1/alerts",status="202"}'
    assert float(samples[requests]) >= 1
    # Requests are counted by route template, never by the concrete path (one series per route).
    assert 'route="/api/v1/incidents/{incident_id}"' in text and incident not in text
    for family, kind in (("nocai_alerts_received", "counter"), ("nocai_http_requests", "counter")):
        assert re.search(rf"^# TYPE {family}(_total)? {kind}$", text, re.MULTILINE), family
    for family in ("nocai_queue_items", "nocai_pool_connections"):
        assert re.search(rf"^# TYPE {family} gauge$", text, re.MULTILINE), family


def test_liveness_and_readiness_on_a_migrated_database(api: Api) -> None:
    assert api.client.get("/api/v1/health/live").json() == {"status": "ok"}
    assert api.client.get("/healthz").json() == {"status": "ok"}
    for path in ("/api/v1/health/ready", "/readyz"):
        ready = api.client.get(path)
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["migrations"] == len(migrate.discover()) and body["workers"] == 0


def test_readiness_is_503_while_a_migration_is_pending(fresh_db_url: str, tmp_path: Path) -> None:
    migrate.migrate(fresh_db_url, target="011")
    pending = [f.filename for f in migrate.discover() if int(f.version) > 11]
    assert pending
    settings = make_settings(fresh_db_url, tmp_path)
    # Runtime.start would apply the pending migration: build the runtime by hand, as a replica that started
    # before the migration was added would hold it.
    runtime = Runtime(
        settings=settings,
        url=fresh_db_url,
        pool=create_pool(settings, url=fresh_db_url),
        policy=policy_from_settings(settings),
    )
    with serving(runtime, tokens=False) as api:
        assert api.client.get("/api/v1/health/live").status_code == 200
        for path in ("/api/v1/health/ready", "/readyz"):
            check_error(api.client.get(path), 503, "migrations_pending", *pending)
