"""Administration over HTTP: API tokens (create, list, revoke) and the work queue (state, dead items, retry)."""

from __future__ import annotations

from ai_service.queue import store as queue_store
from tests.api.conftest import Api, StartApi, check_error, sample


def test_a_created_token_works_at_once_with_its_role(api: Api) -> None:
    response = api.post("/api/v1/tokens", json={"role": "responder", "name": "pager-bridge", "policy_roles": ["SRE"]})
    assert response.status_code == 201, response.text
    created = response.json()
    token, stored = created["token"], created["stored"]
    assert token.startswith("nocai_") and token.startswith(stored["token_prefix"])
    assert (stored["name"], stored["role"], stored["policy_roles"], stored["created_by"]) == (
        "pager-bridge",
        "responder",
        ["sre"],
        "admin-bot",
    )
    auth = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/incidents", headers=auth).status_code == 200
    check_error(api.client.get("/api/v1/tokens", headers=auth), 403, "forbidden", "pager-bridge", "responder")
    # Without a name or policy roles, the role's own are used.
    viewer = api.post("/api/v1/tokens", json={"role": "viewer"}).json()["stored"]
    assert viewer["name"].startswith("viewer-") and viewer["policy_roles"] == []
    assert api.post("/api/v1/tokens", json={"role": "responder"}).json()["stored"]["policy_roles"] == ["operator"]


def test_the_token_list_never_shows_a_secret(api: Api) -> None:
    created = api.post("/api/v1/tokens", json={"role": "ingest", "name": "alertmanager-prod"}).json()
    secrets = [*api.tokens.values(), created["token"]]
    for query in ("", "?include_revoked=true"):
        response = api.get(f"/api/v1/tokens{query}")
        assert response.status_code == 200
        assert not any(secret in response.text for secret in secrets)
        assert not any(secret[12:] in response.text for secret in secrets)  # not even past the shown prefix
        for token in response.json():
            assert "token" not in token and not any("sha256" in key for key in token)
            assert len(token["token_prefix"]) == 12
    names = [t["name"] for t in api.get("/api/v1/tokens").json()]
    assert sorted(names) == sorted(["admin-bot", "ingest-bot", "viewer-bot", "responder-bot", "alertmanager-prod"])


def test_deleting_a_token_revokes_it(api: Api) -> None:
    created = api.post("/api/v1/tokens", json={"role": "ingest", "name": "grafana-staging"}).json()
    auth = {"Authorization": f"Bearer {created['token']}"}
    assert api.client.post("/api/v1/alerts", content=sample("generic_dns.json"), headers=auth).status_code == 202
    revoked = api.delete(f"/api/v1/tokens/{created['stored']['token_prefix']}")
    assert revoked.status_code == 200, revoked.text
    (gone,) = revoked.json()
    assert gone["name"] == "grafana-staging" and gone["revoked_at"]
    check_error(
        api.client.post("/api/v1/alerts", content=sample("generic_dns.json"), headers=auth),
        401,
        "unauthenticated",
        "revoked",
    )
    assert "grafana-staging" not in [t["name"] for t in api.get("/api/v1/tokens").json()]
    listed = {t["name"]: t for t in api.get("/api/v1/tokens?include_revoked=true").json()}
    assert listed["grafana-staging"]["revoked_at"] and listed["ingest-bot"]["revoked_at"] is None
    # Twice: nothing active matches any more.
    check_error(api.delete(f"/api/v1/tokens/{created['stored']['id']}"), 404, "not_found")
    check_error(api.delete("/api/v1/tokens/nocai_"), 422, "invalid_input", "too short")


def test_the_queue_reports_its_items_and_retries_the_dead(start_api: StartApi) -> None:
    api = start_api(work_max_attempts=1)
    receipts = api.send(sample("am_memory_oom.json")).json()["alerts"]
    assert len(receipts) == 2
    report = api.get("/api/v1/queue", "viewer").json()
    assert (report["status"]["queued"], report["status"]["dead"], report["dead"]) == (2, 0, [])
    # One attempt, and it fails: the item is set aside as dead.
    with api.runtime.pool.connection() as conn:
        item = queue_store.claim(conn, worker="test-worker", lease_seconds=60)
        assert item is not None and item.lease_token is not None
        assert api.get("/api/v1/queue", "viewer").json()["status"]["running"] == 1
        status = queue_store.fail(
            conn, item_id=item.id, lease_token=item.lease_token, error="RuntimeError: boom", retry_in_seconds=0
        )
    assert status == "dead"
    report = api.get("/api/v1/queue", "viewer").json()
    assert (report["status"]["queued"], report["status"]["running"], report["status"]["dead"]) == (1, 0, 1)
    (dead,) = report["dead"]
    assert (dead["id"], dead["status"], dead["attempts"], dead["last_error"]) == (
        item.id,
        "dead",
        1,
        "RuntimeError: boom",
    )
    incident = api.get(f"/api/v1/incidents/{item.incident_id}", "viewer").json()
    assert [(w["id"], w["status"]) for w in incident["work"]] == [(item.id, "dead")]

    # Retrying a live item, or one that does not exist, does nothing.
    other = next(r["work_item_id"] for r in receipts if r["work_item_id"] != item.id)
    assert api.post("/api/v1/queue/retry", json={"work_item_ids": [other, 999999]}).json() == {"work_item_ids": []}
    check_error(api.post("/api/v1/queue/retry", "viewer", json={}), 403, "forbidden")
    retried = api.post("/api/v1/queue/retry", json={})
    assert retried.status_code == 200 and retried.json() == {"work_item_ids": [item.id]}
    report = api.get("/api/v1/queue", "viewer").json()
    assert (report["status"]["queued"], report["status"]["dead"], report["dead"]) == (2, 0, [])
    assert api.triage_now() == 2
    final = api.get("/api/v1/queue", "viewer").json()["status"]
    assert (final["queued"], final["done"], final["dead"]) == (0, 2, 0)
    assert api.post("/api/v1/queue/retry", json={"work_item_ids": None}).json() == {"work_item_ids": []}
