"""Webhooks over HTTP: every format named and detected, real senders' bodies, what happens to each alert (new,
repeat, resolved, ignored), and the triage the workers add afterwards."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.api.conftest import PAYLOADS, Api, StartApi, check_error, payload, sample

EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((PAYLOADS / "expected.yaml").read_text(encoding="utf-8"))

#: One sample per format, with the name written in another case than the canonical one.
FORMATS = {
    "alertmanager": ("alertmanager_disk_full.json", "AlertManager"),
    "grafana": ("grafana_cpu.json", "GRAFANA"),
    "pagerduty": ("pagerduty_triggered.json", "PagerDuty"),
    "generic": ("generic_dns.json", " Generic "),
}


def _receipts(response: Any, fmt: str) -> list[dict[str, Any]]:
    assert response.status_code == 202, response.text
    report = response.json()
    assert report["format"] == fmt
    receipts: list[dict[str, Any]] = report["alerts"]
    assert [r["index"] for r in receipts] == list(range(len(receipts)))
    return receipts


def _open_incidents(api: Api) -> list[tuple[Any, ...]]:
    return api.query("SELECT fingerprint, occurrence_count FROM incidents WHERE status = 'open' ORDER BY fingerprint")


def test_each_format_named_in_any_case_opens_incidents_queued_for_triage(api: Api) -> None:
    for fmt, (name, spelled) in FORMATS.items():
        receipts = _receipts(api.send(sample(name), spelled), fmt)
        assert receipts and all(r["outcome"] == "new" and r["status"] == "firing" for r in receipts), receipts
        for receipt in receipts:
            detail = api.get(f"/api/v1/incidents/{receipt['incident_id']}", "viewer").json()
            assert detail["source"] == fmt and detail["status"] == "open" and detail["title"] == receipt["title"]
            assert [w["id"] for w in detail["work"]] == [receipt["work_item_id"]]
            assert detail["work"][0]["status"] == "queued"
    counts = api.counts()
    assert counts["incidents"] == counts["work_items"] == 5  # the Alertmanager sample holds two alerts


def test_each_format_is_detected_at_the_generic_route(api: Api) -> None:
    for fmt, (name, _spelled) in FORMATS.items():
        receipts = _receipts(api.send(sample(name)), fmt)
        assert receipts and {r["outcome"] for r in receipts} == {"new"}


def test_a_repeat_counts_on_the_open_incident_and_a_resolved_notification_closes_it(api: Api) -> None:
    first = _receipts(api.send(sample("alertmanager_disk_full.json")), "alertmanager")
    again = _receipts(api.send(sample("alertmanager_disk_full.json"), "alertmanager"), "alertmanager")
    assert [r["outcome"] for r in again] == ["repeat", "repeat"]
    assert [r["incident_id"] for r in again] == [r["incident_id"] for r in first]
    assert [r["occurrence_count"] for r in again] == [2, 2]
    assert [r["work_item_id"] for r in again] == [None, None]  # a repeat is not triaged again
    disk = first[0]["incident_id"]
    detail = api.get(f"/api/v1/incidents/{disk}", "viewer").json()
    assert detail["occurrence_count"] == 2 and len(detail["work"]) == 1

    (closed,) = _receipts(api.send(sample("alertmanager_resolved.json")), "alertmanager")
    assert closed["outcome"] == "resolved" and closed["status"] == "resolved" and closed["incident_id"] == disk
    detail = api.get(f"/api/v1/incidents/{disk}", "viewer").json()
    assert detail["status"] == "resolved" and detail["resolved_at"]
    # The same notification again finds nothing open: ignored, and nothing is written.
    before = api.counts()
    (ignored,) = _receipts(api.send(sample("alertmanager_resolved.json")), "alertmanager")
    assert ignored["outcome"] == "ignored" and ignored["incident_id"] is None
    assert api.counts() == before
    # Firing again opens a new incident; the other alert of the group never resolved and counts a third time.
    reopened = _receipts(api.send(sample("alertmanager_disk_full.json")), "alertmanager")
    assert reopened[0]["outcome"] == "new" and reopened[0]["incident_id"] != disk
    assert reopened[1]["outcome"] == "repeat" and reopened[1]["occurrence_count"] == 3


def test_a_pagerduty_ping_is_accepted_with_its_event_listed_as_ignored(api: Api) -> None:
    for fmt in (None, "pagerduty"):
        response = api.send(payload("pagerduty/pagey-ping.json"), fmt)
        assert response.status_code == 202, response.text
        report = response.json()
        assert report["format"] == "pagerduty" and report["alerts"] == []
        assert [e["kind"] for e in report["ignored"]] == ["pagey.ping"]
        assert "ping" in report["ignored"][0]["reason"]
    assert api.counts()["incidents"] == 0


def test_real_payloads_of_every_sender(api: Api) -> None:
    """Each public payload (tests/alerts/payloads) detected and named: accepted with a receipt per alert, or
    refused with the parser's message; the database ends with one open incident per firing fingerprint."""
    opened: set[str] = set()
    for name, spec in EXPECTED.items():
        body = payload(name)
        named = spec["explicit"].upper()
        outcome = spec.get("explicit_outcome")
        for fmt in (None, named):
            response = api.send(body, fmt)
            refusal = (spec.get("refused") if fmt is None else (outcome or {}).get("refused")) or None
            if refusal is not None:
                error = check_error(response, 422, "invalid_alert_payload", refusal["message"])
                assert refusal["hint"] in error["fix"], (name, fmt, error)
                continue
            receipts = _receipts(response, (fmt or spec["detected"]).lower())
            assert [r["status"] for r in receipts] == [a["status"] for a in spec["alerts"]], (name, fmt)
            assert [r["title"] for r in receipts] == [a["title"] for a in spec["alerts"]], (name, fmt)
            for receipt in receipts:
                if receipt["status"] == "firing":
                    assert receipt["outcome"] in ("new", "repeat") and receipt["incident_id"], (name, receipt)
                    assert (receipt["work_item_id"] is not None) == (receipt["outcome"] == "new"), (name, receipt)
                    if fmt is not None and spec["detected"]:  # the same body a second time only repeats
                        assert receipt["outcome"] == "repeat", (name, receipt)
                    opened.add(receipt["fingerprint"])
                else:
                    assert receipt["outcome"] in ("resolved", "ignored"), (name, receipt)
                    opened.discard(receipt["fingerprint"])
            kinds = [e["kind"] for e in response.json()["ignored"]]
            assert kinds == [e["kind"] for e in spec.get("ignored") or []], (name, fmt)
    open_rows = _open_incidents(api)
    assert sorted(f for f, _ in open_rows) == sorted(opened)  # one open incident per fingerprint, no duplicate
    counts = api.counts()
    assert counts["work_items"] == counts["incidents"]  # every incident was queued once


def test_an_unknown_format_is_refused_naming_the_supported_ones(api: Api) -> None:
    error = check_error(api.send(sample("am_disk_full.json"), "nagios"), 422, "invalid_alert_payload", "'nagios'")
    assert "alertmanager, grafana, pagerduty, generic" in error["message"]
    # A body of another format than the one named is refused with the field path, and nothing is recorded.
    error = check_error(api.send(sample("generic_dns.json"), "alertmanager"), 422, "invalid_alert_payload")
    assert "alerts" in error["message"]
    assert api.counts()["incidents"] == 0


def test_a_worker_triages_the_new_incident_and_stores_its_plan(start_api: StartApi) -> None:
    api = start_api(workers=1)
    (receipt,) = _receipts(api.send(sample("am_postgres_connections.json")), "alertmanager")
    detail = api.wait_for_triage(receipt["incident_id"])
    triage = detail["triage"]
    assert triage["no_match"] is False and "connection" in (triage["failure_type"] or "")
    assert detail["policy_band"] in ("AUTO", "PROPOSE", "REVIEW") and detail["triage_completed_at"]
    steps = detail["resolution"]["recommendations"]
    assert steps and steps[0]["runbook_id"] == "pg-connection-exhaustion"
    assert all(s["provenance"] for s in steps)
    assert detail["evidence"] and all("rrf" in e for e in detail["evidence"])
    (link,) = detail["chain"]
    (resolution,) = detail["resolutions"]
    assert link["resolution_output_id"] == resolution["id"] and resolution["execution_status"] == "pending"
    assert [(w["id"], w["status"]) for w in detail["work"]] == [(receipt["work_item_id"], "done")]
    plan = api.get(f"/api/v1/incidents/{receipt['incident_id']}/resolution", "viewer").json()
    assert plan["id"] == resolution["id"] and [s["step_id"] for s in plan["recommendations"]] == [
        s["step_id"] for s in steps
    ]


def test_a_request_id_given_by_the_caller_is_kept_and_a_malformed_one_replaced(api: Api) -> None:
    given = api.send(sample("generic_dns.json"), headers={"X-Request-ID": "am-42.retry:1"})
    assert given.status_code == 202 and given.headers["x-request-id"] == "am-42.retry:1"
    error = check_error(api.send(b"[", headers={"X-Request-ID": "bad id with spaces"}), 422, "invalid_alert_payload")
    assert error["request_id"] != "bad id with spaces" and " " not in error["request_id"]
    assert json.loads(given.content)["alerts"][0]["outcome"] == "new"
