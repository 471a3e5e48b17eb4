"""Who may call what: every route is walked (a new route without a token check fails here), with no token, a
malformed, unknown or revoked one, and each role; the open local mode; and the refusal to serve it openly."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from ai_service.auth.service import create_token, revoke_token
from ai_service.errors import ConfigurationError
from ai_service.service.runtime import Runtime
from tests.api.conftest import (
    PUBLIC_ROUTES,
    Api,
    StartApi,
    app_routes,
    check_error,
    example_path,
    make_settings,
    sample,
)

#: What each route needs (the role names it maps to are in ai_service.auth.models.PERMISSIONS).
PERMISSION = {
    ("POST", "/api/v1/alerts"): "ingest",
    ("POST", "/api/v1/alerts/{format}"): "ingest",
    ("GET", "/api/v1/incidents"): "read",
    ("GET", "/api/v1/incidents/{incident_id}"): "read",
    ("GET", "/api/v1/incidents/{incident_id}/resolution"): "read",
    ("POST", "/api/v1/incidents/{incident_id}/triage"): "respond",
    ("POST", "/api/v1/incidents/{incident_id}/resolution/{action}"): "respond",
    ("POST", "/api/v1/incidents/{incident_id}/close"): "respond",
    ("GET", "/api/v1/incidents/{incident_id}/feedback"): "read",
    ("POST", "/api/v1/incidents/{incident_id}/feedback/triage"): "respond",
    ("POST", "/api/v1/incidents/{incident_id}/feedback/plan"): "respond",
    ("POST", "/api/v1/incidents/{incident_id}/feedback/steps"): "respond",
    ("POST", "/api/v1/incidents/{incident_id}/drafts"): "respond",
    ("GET", "/api/v1/drafts"): "read",
    ("POST", "/api/v1/drafts/{draft_id}/publish"): "admin",
    ("GET", "/api/v1/knowledge/search"): "read",
    ("GET", "/api/v1/knowledge/stats"): "read",
    ("GET", "/api/v1/knowledge/runbooks/{runbook_id}"): "read",
    ("GET", "/api/v1/knowledge/steps/{step_id}"): "read",
    ("GET", "/api/v1/knowledge/signatures/{signature_id}"): "read",
    ("POST", "/api/v1/knowledge/runbooks"): "admin",
    ("POST", "/api/v1/knowledge/incidents"): "admin",
    ("GET", "/api/v1/metrics/mttr"): "read",
    ("POST", "/api/v1/triage/preview"): "read",
    ("GET", "/api/v1/queue"): "read",
    ("POST", "/api/v1/queue/retry"): "admin",
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{key}"): "admin",
}

ROLES_WITH = {
    "ingest": {"ingest", "admin"},
    "read": {"viewer", "responder", "admin"},
    "respond": {"responder", "admin"},
    "admin": {"admin"},
}


def _protected(api: Api) -> list[tuple[str, str]]:
    return [route for route in app_routes(api.client.app) if route not in PUBLIC_ROUTES]  # type: ignore[arg-type]


def _call(api: Api, method: str, template: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return api.client.request(method, example_path(template), headers=headers or {})


def _check_401(response: httpx.Response, *fragments: str) -> None:
    check_error(response, 401, "unauthenticated", *fragments)
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_route_is_either_public_or_classified(api: Api) -> None:
    routes = set(app_routes(api.client.app))  # type: ignore[arg-type]
    assert routes >= PUBLIC_ROUTES, PUBLIC_ROUTES - routes
    assert set(_protected(api)) == set(PERMISSION), "a new route: give it a token check and list it in PERMISSION"


def test_every_protected_route_refuses_a_missing_malformed_or_unknown_token(api: Api) -> None:
    refusals = {
        "no API token was sent": None,
        "is not a bearer token": "Token " + api.tokens["admin"],
        "not a bearer token": "Bearer",
        "not known": f"Bearer nocai_{uuid.uuid4().hex}",
    }
    for method, template in _protected(api):
        for fragment, header in refusals.items():
            response = _call(api, method, template, {"Authorization": header} if header is not None else {})
            _check_401(response, fragment)
    assert api.counts()["incidents"] == 0


def test_public_routes_answer_without_a_token(api: Api) -> None:
    for method, path in sorted(PUBLIC_ROUTES):
        response = api.client.request(method, path)
        assert response.status_code == 200, (path, response.status_code, response.text[:200])


def test_each_role_may_do_only_what_it_is_for(api: Api) -> None:
    wrong: list[str] = []
    for method, template in _protected(api):
        if (method, template) not in PERMISSION:
            continue  # test_every_route_is_either_public_or_classified names it
        allowed = ROLES_WITH[PERMISSION[(method, template)]]
        for role in ("ingest", "viewer", "responder", "admin"):
            response = _call(api, method, template, api.auth(role))
            if role in allowed:
                if response.status_code in (401, 403):
                    wrong.append(f"{role} refused at {method} {template}: {response.text[:120]}")
            else:
                body = check_error(response, 403, "forbidden", role)
                assert f"{role}-bot" in body["message"], body
    assert wrong == []
    assert api.counts() == {k: 0 for k in api.counts()}  # nothing was written by any of these calls


def test_a_token_revoked_through_the_api_or_the_service_is_refused_everywhere(api: Api) -> None:
    with psycopg.connect(api.url, autocommit=True) as conn:
        by_api = create_token(conn, role="admin", name="leaving-admin")
        by_service = create_token(conn, role="viewer", name="old-dashboard")
    assert api.get("/api/v1/tokens", "admin", headers={"Authorization": f"Bearer {by_api.token}"}).status_code == 200
    deleted = api.delete(f"/api/v1/tokens/{by_api.stored.id}")
    assert deleted.status_code == 200 and [t["name"] for t in deleted.json()] == ["leaving-admin"]
    with psycopg.connect(api.url, autocommit=True) as conn:
        revoke_token(conn, by_service.stored.token_prefix)
    for token, name in ((by_api.token, "leaving-admin"), (by_service.token, "old-dashboard")):
        for method, template in _protected(api):
            _check_401(_call(api, method, template, {"Authorization": f"Bearer {token}"}), "revoked", name)
    # The other tokens are untouched.
    assert api.get("/api/v1/incidents", "viewer").status_code == 200


def test_the_token_is_checked_before_the_body_is_read(api: Api) -> None:
    bad_json = {"Content-Type": "application/json"}
    _check_401(api.client.post("/api/v1/tokens", content=b"{not json", headers=bad_json))
    check_error(api.post("/api/v1/tokens", "viewer", content=b"{not json", headers=bad_json), 403, "forbidden")


def test_open_access_serves_every_route_without_a_token(start_api: StartApi) -> None:
    api = start_api(open_access=True)
    client = api.client
    for method, template in _protected(api):
        response = _call(api, method, template)
        assert response.status_code not in (401, 403), (method, template, response.text[:200])
    received = client.post("/api/v1/alerts", content=sample("generic_dns.json"))
    assert received.status_code == 202 and received.json()["alerts"][0]["outcome"] == "new"
    assert client.get("/api/v1/incidents").json()["items"][0]["title"].startswith("DNS resolution failing")
    created = client.post("/api/v1/tokens", json={"role": "viewer", "name": "wallboard"})
    assert created.status_code == 201 and created.json()["stored"]["created_by"] == "local (open access)"
    assert client.get("/api/v1/knowledge/stats").json()["runbooks"] == 12


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "nocai.example.net"])
def test_open_access_is_refused_on_an_address_other_machines_reach(
    shared_migrated_url: str, tmp_path: Path, host: str
) -> None:
    settings = make_settings(shared_migrated_url, tmp_path, open_access=True, host=host)
    with pytest.raises(ConfigurationError, match="NOCAI_OPEN_ACCESS") as refused:
        Runtime.start(settings)
    assert host in refused.value.message and refused.value.hint
