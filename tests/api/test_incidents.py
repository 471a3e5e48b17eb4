"""The incident API: the list (filters, cursor pages), one incident with its whole chain, a new triage on demand,
the resolution's moves checked by the policy on the server and recorded with who; MTTR and the triage preview."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ai_service.auth.service import create_token
from tests.api.conftest import Api, StartApi, check_error, sample

#: The band follows the service, so that every band is present whatever triage concludes.
POLICY = """\
version: 1
description: API tests - the band follows the service
bands:
  - name: review-when-unsure
    band: REVIEW
    when: {no_match: true}
    approval: {required: true, roles: [sre, admin]}
  - name: auto-batch
    band: AUTO
    when: {service: ["batch-*"]}
    approval: {required: false}
  - name: propose-web
    band: PROPOSE
    when: {service: ["web-*"]}
    approval: {required: true, roles: [operator, sre, admin]}
  - name: review-the-rest
    band: REVIEW
    approval: {required: true, roles: [sre, admin]}
"""

SYMPTOMS = [
    ("Filesystem /var/lib/postgresql almost full on {host}", "only 2% space left on the data volume"),
    ("Too many connections on PostgreSQL {host}", "FATAL: sorry, too many clients already"),
    ("CPU saturation on {host}", "CPU usage above 95% for 15 minutes, load average 24"),
    ("Container OOM killed on {host}", "the container was killed by the kernel OOM killer, exit code 137"),
]
SERVICES = ["web-shop", "batch-etl", "db-core"]
SEVERITIES = ["warning", "critical", "info", None]
START = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def policed(start_api: StartApi, tmp_path: Path) -> Api:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    return start_api(policy_file=policy)


def _alerts(count: int) -> list[dict[str, Any]]:
    alerts = []
    for i in range(count):
        title, description = SYMPTOMS[i % len(SYMPTOMS)]
        alert: dict[str, Any] = {
            "alert_id": f"api-{i}",
            "title": title.format(host=f"host-{i:02d}"),
            "description": description,
            "labels": {"service": SERVICES[i % len(SERVICES)], "env": "staging"},
        }
        if SEVERITIES[i % len(SEVERITIES)]:
            alert["severity"] = SEVERITIES[i % len(SEVERITIES)]
        alerts.append(alert)
    return alerts


def _record(api: Api, count: int) -> list[str]:
    """``count`` incidents, triaged; last seen three at a time in the same second (ties broken by id)."""
    response = api.send(_alerts(count), "generic")
    assert response.status_code == 202, response.text
    ids = [a["incident_id"] for a in response.json()["alerts"]]
    assert api.triage_now() == count
    api.execute(
        "UPDATE incidents AS i SET last_seen_at = %s + (n.rank / 3) * interval '1 hour'"
        " FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rank FROM incidents) AS n WHERE n.id = i.id",
        (START,),
    )
    return ids


def _all(api: Api, query: str = "") -> list[dict[str, Any]]:
    page = api.get(f"/api/v1/incidents?limit=200{query}", "viewer").json()
    assert page["next_cursor"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def test_the_list_filters_on_each_field(policed: Api) -> None:
    api = policed
    _record(api, 12)
    (closed,) = api.send({"alert_id": "api-0", "title": "x", "status": "resolved"}, "generic").json()["alerts"]
    assert closed["outcome"] == "resolved"
    everything = _all(api)
    assert len(everything) == 12
    # Most recently seen first; ties in id order, descending.
    assert [(i["last_seen_at"], i["id"]) for i in everything] == sorted(
        ((i["last_seen_at"], i["id"]) for i in everything), reverse=True
    )
    assert {i["policy_band"] for i in everything} == {"AUTO", "PROPOSE", "REVIEW"}
    assert len({i["severity"] for i in everything}) > 1
    for field, values in (
        ("status", ("open", "resolved")),
        ("policy_band", ("AUTO", "PROPOSE", "REVIEW")),
        ("severity", ("low", "medium", "high", "critical")),
        ("service", (*SERVICES, "nothing-here")),
    ):
        param = {"policy_band": "band"}.get(field, field)
        for value in values:
            expected = [i["id"] for i in everything if i[field] == value]
            assert _ids(_all(api, f"&{param}={value}")) == expected, (field, value)
    # Filters combine.
    both = [i["id"] for i in everything if i["status"] == "open" and i["service"] == "web-shop"]
    assert _ids(_all(api, "&status=open&service=web-shop")) == both and both
    # since is inclusive, until exclusive, on the last time seen.
    since, until = START + timedelta(hours=1), START + timedelta(hours=3)
    window = [i["id"] for i in everything if since <= datetime.fromisoformat(i["last_seen_at"]) < until]
    assert len(window) == 6
    query = f"&since={since.isoformat()}&until={until.isoformat()}".replace("+", "%2B")
    assert _ids(_all(api, query)) == window
    assert _all(api, "&since=2026-03-01T01:00:00Z&until=2026-03-01T01:00:00Z") == []


def test_cursor_pages_have_no_duplicate_no_gap_and_a_stable_order(api: Api) -> None:
    _record(api, 23)
    everything = _all(api)
    assert _all(api) == everything  # the same order twice
    for limit, query in ((4, ""), (5, ""), (3, "&status=open"), (7, "&service=web-shop")):
        expected = _ids(_all(api, query))
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            suffix = f"&cursor={cursor}" if cursor else ""
            page = api.get(f"/api/v1/incidents?limit={limit}{query}{suffix}", "viewer").json()
            pages += 1
            assert len(page["items"]) <= limit
            seen += _ids(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert len(page["items"]) == limit
            assert pages <= len(expected), "the pages never end"
        assert seen == expected, (limit, query)
        assert len(set(seen)) == len(seen)
    # A page that ends exactly at the last incident says so.
    page = api.get("/api/v1/incidents?limit=23", "viewer").json()
    assert len(page["items"]) == 23 and page["next_cursor"] is None


def test_an_incident_shows_its_chain_evidence_resolutions_events_and_work(api: Api) -> None:
    (receipt,) = api.send(sample("am_postgres_connections.json")).json()["alerts"]
    incident = receipt["incident_id"]
    before = api.get(f"/api/v1/incidents/{incident}", "viewer").json()
    assert before["triage"] is None and before["chain"] == [] and before["resolutions"] == []
    assert [w["status"] for w in before["work"]] == ["queued"]
    check_error(api.get(f"/api/v1/incidents/{incident}/resolution", "viewer"), 404, "not_found", "no resolution")
    api.triage_now()
    detail = api.get(f"/api/v1/incidents/{incident}", "viewer").json()
    assert detail["id"] == incident and detail["source"] == "alertmanager" and detail["raw_alert"]
    assert detail["triage"]["matched_runbook_refs"] and detail["policy_decision"]["band"] == detail["policy_band"]
    assert detail["evidence"] and all({"vector_rank", "fulltext_rank", "rrf"} <= set(e) for e in detail["evidence"])
    (link,) = detail["chain"]
    (resolution,) = detail["resolutions"]
    assert link["resolution_output_id"] == resolution["id"] and link["execution_status"] == "pending"
    assert link["retrieved_step_ids"] == detail["resolution"]["retrieved_step_ids"]
    assert detail["events"] == []
    (work,) = detail["work"]
    assert (work["id"], work["status"], work["attempts"]) == (receipt["work_item_id"], "done", 1)
    latest = api.get(f"/api/v1/incidents/{incident}/resolution", "viewer").json()
    assert latest["id"] == resolution["id"] and latest["recommendations"] == resolution["recommendations"]
    missing = str(uuid.uuid4())
    check_error(api.get(f"/api/v1/incidents/{missing}", "viewer"), 404, "not_found", missing)


def test_a_new_triage_is_queued_once_and_adds_a_link_to_the_chain(api: Api) -> None:
    (receipt,) = api.send(sample("am_disk_full.json")).json()["alerts"]
    incident = receipt["incident_id"]
    path = f"/api/v1/incidents/{incident}/triage"
    # Its first triage is still waiting: a second one would only repeat it.
    check_error(api.post(path, "responder"), 409, "conflict", "already queued")
    api.triage_now()
    queued = api.post(path, "responder")
    assert queued.status_code == 202, queued.text
    assert queued.json()["incident_id"] == incident
    item = queued.json()["work_item_id"]
    check_error(api.post(path, "responder"), 409, "conflict", "already queued", str(item))
    assert api.triage_now() == 1
    detail = api.get(f"/api/v1/incidents/{incident}", "viewer").json()
    assert len(detail["chain"]) == 2 and len(detail["resolutions"]) == 2
    assert sorted(w["id"] for w in detail["work"]) == [receipt["work_item_id"], item]
    assert {w["status"] for w in detail["work"]} == {"done"}
    latest = api.get(f"/api/v1/incidents/{incident}/resolution", "viewer").json()
    assert latest["id"] == max(detail["resolutions"], key=lambda r: r["created_at"])["id"]
    check_error(api.post(f"/api/v1/incidents/{uuid.uuid4()}/triage", "responder"), 404, "not_found")


def _incident_in_band(api: Api, band: str) -> str:
    for item in _all(api):
        if item["policy_band"] == band and item["status"] == "open" and not _taken(api, item["id"]):
            return str(item["id"])
    raise AssertionError(f"no untouched incident in band {band}")


def _taken(api: Api, incident: str) -> bool:
    return bool(api.get(f"/api/v1/incidents/{incident}", "viewer").json()["events"])


def _move(api: Api, incident: str, action: str, role: str = "responder", **kwargs: Any) -> Any:
    return api.post(f"/api/v1/incidents/{incident}/resolution/{action}", role, **kwargs)


def _state(api: Api, incident: str) -> tuple[str, list[dict[str, Any]]]:
    detail = api.get(f"/api/v1/incidents/{incident}", "viewer").json()
    return detail["resolutions"][0]["execution_status"], detail["events"]


def test_resolution_moves_are_checked_by_the_policy_and_recorded_with_who(policed: Api) -> None:
    api = policed
    _record(api, 12)
    with psycopg.connect(api.url, autocommit=True) as conn:
        sre = create_token(conn, role="responder", name="sre-alice", policy_roles=["sre"]).token
    as_sre = {"Authorization": f"Bearer {sre}"}

    # REVIEW needs sre or admin: a responder (operator) is refused and nothing changes.
    review = _incident_in_band(api, "REVIEW")
    error = check_error(_move(api, review, "accept"), 409, "invalid_transition", "needs role sre or admin")
    assert "operator" in error["message"]
    assert _state(api, review) == ("pending", [])
    # Nobody executes what was never accepted, not even an admin.
    check_error(_move(api, review, "execute", "admin"), 409, "invalid_transition", "accept")
    assert _state(api, review) == ("pending", [])
    accepted = api.post(
        f"/api/v1/incidents/{review}/resolution/accept", "responder", headers=as_sre, json={"notes": "on it"}
    )
    assert accepted.status_code == 200, accepted.text
    moved = accepted.json()
    assert (moved["execution_status"], moved["accepted_by"], moved["accepted_roles"]) == (
        "accepted",
        "sre-alice",
        ["sre"],
    )
    check_error(_move(api, review, "accept"), 409, "invalid_transition", "accepted")
    executed = _move(api, review, "execute")  # once accepted by an approver, the on-call operator runs it
    assert executed.status_code == 200 and executed.json()["execution_status"] == "executed"
    check_error(_move(api, review, "reject"), 409, "invalid_transition", "executed")
    status, events = _state(api, review)
    assert status == "executed"
    assert [(e["action"], e["from_status"], e["to_status"], e["actor"], e["roles"], e["notes"]) for e in events] == [
        ("accept", "pending", "accepted", "sre-alice", ["sre"], "on it"),
        ("execute", "accepted", "executed", "responder-bot", ["operator"], None),
    ]
    assert api.get(f"/api/v1/incidents/{review}", "viewer").json()["resolution_accepted_at"]

    # An admin approves REVIEW.
    other = _incident_in_band(api, "REVIEW")
    assert _move(api, other, "accept", "admin").json()["accepted_by"] == "admin-bot"
    assert _move(api, other, "cancel", "admin").json()["execution_status"] == "cancelled"

    # PROPOSE: the on-call operator accepts, cancels or rejects.
    propose = _incident_in_band(api, "PROPOSE")
    assert _move(api, propose, "accept").json()["execution_status"] == "accepted"
    assert _move(api, propose, "cancel").json()["execution_status"] == "cancelled"
    assert [e["action"] for e in _state(api, propose)[1]] == ["accept", "cancel"]
    rejected = _incident_in_band(api, "PROPOSE")
    assert _move(api, rejected, "reject", json={"notes": "wrong runbook"}).json()["execution_status"] == "rejected"
    check_error(_move(api, rejected, "accept"), 409, "invalid_transition", "rejected")

    # AUTO needs no approver, but a person still accepts before executing.
    auto = _incident_in_band(api, "AUTO")
    check_error(_move(api, auto, "execute"), 409, "invalid_transition", "accept")
    assert _move(api, auto, "accept").json()["execution_status"] == "accepted"
    assert _move(api, auto, "execute").json()["execution_status"] == "executed"

    check_error(_move(api, review, "approve"), 422, "invalid_request", "action")
    check_error(_move(api, str(uuid.uuid4()), "accept"), 404, "not_found", "no resolution")


def test_mttr_counts_resolved_incidents_by_service_and_band(policed: Api) -> None:
    api = policed
    _record(api, 6)
    empty = api.get("/api/v1/metrics/mttr", "viewer").json()
    assert empty["overall"]["resolved"] == 0 and empty["overall"]["mean_seconds"] is None
    for i in (0, 1, 3):
        resolved = {"alert_id": f"api-{i}", "title": "x", "status": "resolved", "ts": "2026-03-02T00:00:00Z"}
        assert api.send(resolved, "generic").json()["alerts"][0]["outcome"] == "resolved"
    report = api.get("/api/v1/metrics/mttr", "viewer").json()
    assert report["overall"]["resolved"] == 3 and report["overall"]["median_seconds"] is not None
    by_service = {g["key"]: g["resolved"] for g in report["by_service"]}
    assert by_service == {"web-shop": 2, "batch-etl": 1}
    assert sum(g["resolved"] for g in report["by_band"]) == 3
    later = api.get("/api/v1/metrics/mttr?since=2999-01-01T00:00:00Z", "viewer").json()
    assert later["overall"]["resolved"] == 0


def test_the_triage_preview_concludes_without_recording_anything(api: Api) -> None:
    before = api.counts()
    response = api.post("/api/v1/triage/preview", "viewer", content=sample("alertmanager_disk_full.json"))
    assert response.status_code == 200, response.text
    previews = response.json()
    assert len(previews) == 2
    for preview in previews:
        assert preview["triage"]["no_match"] is False and preview["resolution"]["recommendations"]
        assert preview["policy"]["band"] in ("AUTO", "PROPOSE", "REVIEW")
    resolved = api.post("/api/v1/triage/preview", "viewer", content=sample("alertmanager_resolved.json"))
    assert resolved.status_code == 200 and resolved.json() == []
    assert api.counts() == before
