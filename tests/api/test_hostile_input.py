"""Hostile and broken input: never a 5xx, never half-stored, always the JSON error with a code, a message that
names the problem, a fix and the request id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import Api, StartApi, check_error, example_path, sample

LIMIT = 4096

#: Bodies no webhook may store, with a fragment of the message that must name the problem.
BROKEN_BODIES: dict[str, tuple[bytes, str]] = {
    "array nested 10,000 deep": (b"[" * 10_000 + b"]" * 10_000, "nested deeper than 64"),
    "object nested 10,000 deep": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested deeper than 64"),
    "alerts nested 10,000 deep": (
        b'{"version":"4","alerts":[' + b"[" * 10_000 + b"]" * 10_000 + b"]}",
        "nested deeper than 64",
    ),
    "invalid UTF-8": (b'{"alert_id": "a1", "title": "caf\xe9 down"}', "not UTF-8"),
    "UTF-16": ('{"alert_id": "a1", "title": "t"}'.encode("utf-16"), "not UTF-8"),
    "NUL outside a string": (b'{"alert_id": "a1",\x00 "title": "t"}', "not valid JSON"),
    "a JSON string": (b'"just a string"', "got string"),
    "a JSON number": (b"42", "got integer"),
    "JSON null": (b"null", "got null"),
    "JSON true": (b"true", "expected a JSON object or list"),
    "a body encoded twice": (json.dumps(json.dumps({"alert_id": "a", "title": "t"})).encode(), "encoded twice"),
    "labels as a list": (b'{"alert_id": "a1", "title": "t", "labels": ["env", "prod"]}', "labels"),
    "title as a number": (b'{"alert_id": "a1", "title": 7}', "title"),
    "an empty body": (b"", "empty"),
    "only whitespace": (b" \n\t ", "empty"),
    "plain text": (b"disk full on db-1", "not valid JSON"),
    "a form": (b"alert_id=a1&title=t", "not valid JSON"),
    "XML": (b"<alert><title>t</title></alert>", "not valid JSON"),
    "truncated JSON": (b'{"alert_id": "a1", "title": "t"', "not valid JSON"),
    "an empty list": (b"[]", "empty list"),
}


def _chunks(total: int, size: int = 1000) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_broken_bodies_are_refused_by_every_webhook_route_and_nothing_is_stored(api: Api) -> None:
    for label, (body, fragment) in BROKEN_BODIES.items():
        for fmt in (None, "generic", "alertmanager"):
            response = api.send(body, fmt)
            assert response.status_code < 500, (label, fmt, response.text[:300])
            # The named formats say what their format needed instead; detection names the problem itself.
            check_error(response, 422, "invalid_alert_payload", *([fragment] if fmt is None else []))
    assert api.counts() == {k: 0 for k in api.counts()}


def test_broken_bodies_are_refused_by_the_triage_preview(api: Api) -> None:
    for label, (body, fragment) in BROKEN_BODIES.items():
        response = api.post("/api/v1/triage/preview", "viewer", content=body)
        assert response.status_code == 422, (label, response.text[:300])
        check_error(response, 422, "invalid_alert_payload", fragment)


def test_nul_characters_inside_strings_are_removed_and_counted(api: Api) -> None:
    body = b'{"alert_id": "nul-1", "title": "disk\x00 full on db\\u0000-1", "labels": {"ho\\u0000st": "db-1"}}'
    response = api.send(body)
    assert response.status_code == 202, response.text
    report = response.json()
    assert report["text_repairs"] == 3 and report["alerts"][0]["title"] == "disk full on db-1"
    (stored,) = api.query("SELECT title, raw_alert::text FROM incidents")
    assert stored[0] == "disk full on db-1" and "\\u0000" not in stored[1] and '"host"' in stored[1]


def test_a_payload_whose_third_alert_is_malformed_records_none_of_them(api: Api) -> None:
    group: dict[str, Any] = json.loads(sample("am_disk_full.json"))
    template = group["alerts"][0]
    group["alerts"] = [
        {**template, "labels": {**template["labels"], "instance": f"host-{i}"}, "fingerprint": f"f{i}"}
        for i in range(4)
    ]
    group["alerts"][2]["labels"] = ["alertname", "NodeFilesystemAlmostOutOfSpace"]
    error = check_error(api.send(group), 422, "invalid_alert_payload", "alerts[2].labels")
    assert "list" in error["message"]
    generic = [{"alert_id": f"g{i}", "title": f"alert {i}"} for i in range(4)]
    del generic[2]["title"]
    check_error(api.send(generic), 422, "invalid_alert_payload", "[2]", "title")
    assert api.counts() == {k: 0 for k in api.counts()}
    # Repaired, the same payload is recorded whole.
    group["alerts"][2]["labels"] = {**template["labels"], "instance": "host-2"}
    response = api.send(group)
    assert response.status_code == 202 and [a["outcome"] for a in response.json()["alerts"]] == ["new"] * 4


def test_bodies_over_the_limit_are_413_with_or_without_content_length(start_api: StartApi) -> None:
    api = start_api(max_body_bytes=LIMIT)
    targets: list[tuple[str, str, dict[str, str]]] = [
        ("/api/v1/alerts", "ingest", {"Content-Type": "application/json"}),
        ("/api/v1/alerts/alertmanager", "ingest", {"Content-Type": "application/json"}),
        ("/api/v1/triage/preview", "viewer", {"Content-Type": "application/json"}),
        ("/api/v1/tokens", "admin", {"Content-Type": "application/json"}),
        ("/api/v1/knowledge/runbooks", "admin", {"Content-Type": "multipart/form-data; boundary=b0undary"}),
    ]
    for path, role, headers in targets:
        declared = api.post(path, role, content=b" " * (LIMIT + 1), headers=headers)
        assert declared.request.headers["content-length"] == str(LIMIT + 1)
        check_error(declared, 413, "payload_too_large", "4,096 bytes")
        chunked = api.post(path, role, content=_chunks(LIMIT * 3), headers=headers)
        assert "content-length" not in chunked.request.headers
        assert chunked.request.headers["transfer-encoding"] == "chunked"
        check_error(chunked, 413, "payload_too_large", "4,096 bytes")
    assert api.counts() == {k: 0 for k in api.counts()}
    # A body of exactly the limit is read.
    alert = json.dumps({"alert_id": "at-the-limit", "title": "a body of exactly the limit"}).encode()
    exact = alert + b" " * (LIMIT - len(alert))
    response = api.send(exact)
    assert response.status_code == 202 and response.json()["alerts"][0]["outcome"] == "new"
    chunked_exact = api.post("/api/v1/alerts", "ingest", content=iter([exact[:1000], exact[1000:]]))
    assert chunked_exact.status_code == 202 and chunked_exact.json()["alerts"][0]["outcome"] == "repeat"


def test_unknown_routes_are_404_and_wrong_methods_405_as_json(api: Api) -> None:
    for path in ("/nope", "/api/v1/nope", "/api/v2/alerts", "/api/v1/incidents/a/b/c/d", "/api/v1/alerts/x/y"):
        check_error(api.get(path), 404, "not_found")
    for method, template in (
        ("PUT", "/api/v1/incidents"),
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/alerts/alertmanager"),
        ("DELETE", "/api/v1/incidents/{id}"),
        ("PATCH", "/api/v1/tokens"),
        ("POST", "/api/v1/health/live"),
    ):
        response = api.client.request(method, example_path(template), headers=api.auth("admin"))
        check_error(response, 405, "method_not_allowed")


def test_a_405_says_which_methods_the_route_allows(api: Api) -> None:
    response = api.client.put("/api/v1/incidents", headers=api.auth("admin"))
    check_error(response, 405, "method_not_allowed")
    assert response.headers.get("allow") == "GET"


BAD_LIST_QUERIES = [
    ("limit=0", "invalid_request", "limit"),
    ("limit=abc", "invalid_request", "limit"),
    ("limit=201", "invalid_request", "limit"),
    ("limit=-1", "invalid_request", "limit"),
    ("band=FOO", "invalid_request", "band"),
    ("band=review", "invalid_request", "band"),
    ("severity=urgent", "invalid_request", "severity"),
    ("status=closed", "invalid_request", "status"),
    ("since=yesterday", "invalid_request", "since"),
    ("until=2026-13-45", "invalid_request", "until"),
    ("cursor=not-a-cursor", "invalid_input", "cursor"),
    ("cursor=eyJhIjogMX0", "invalid_input", "cursor"),  # base64 of {"a": 1}
    ("cursor=" + "A" * 600, "invalid_request", "cursor"),
]

BAD_QUERIES = [
    ("/api/v1/knowledge/search", "q"),
    ("/api/v1/knowledge/search?q=", "q"),
    ("/api/v1/knowledge/search?q=disk&limit=0", "limit"),
    ("/api/v1/knowledge/search?q=disk&kind=everything", "kind"),
    ("/api/v1/knowledge/search?q=disk&max_risk=extreme", "max_risk"),
    ("/api/v1/metrics/mttr?since=last-week", "since"),
    ("/api/v1/incidents/not-a-uuid", "incident_id"),
    ("/api/v1/incidents/not-a-uuid/resolution", "incident_id"),
    ("/api/v1/tokens?include_revoked=perhaps", "include_revoked"),
]


def test_bad_query_and_path_parameters_are_422_naming_the_parameter(api: Api) -> None:
    for query, code, fragment in BAD_LIST_QUERIES:
        check_error(api.get(f"/api/v1/incidents?{query}", "viewer"), 422, code, fragment)
    for path, fragment in BAD_QUERIES:
        check_error(api.get(path), 422, "invalid_request", fragment)


def test_bad_json_bodies_of_the_other_routes_are_422(api: Api) -> None:
    some_incident = example_path("/api/v1/incidents/{id}/resolution/accept")
    for path, body, fragment in (
        ("/api/v1/tokens", {"role": "root"}, "role"),
        ("/api/v1/tokens", {"role": "viewer", "name": "x" * 201}, "name"),
        ("/api/v1/tokens", {"role": "viewer", "policy_roles": "sre"}, "policy_roles"),
        ("/api/v1/tokens", [], ""),
        ("/api/v1/queue/retry", {"work_item_ids": ["seven"]}, "work_item_ids"),
        ("/api/v1/queue/retry", {"work_item_ids": 7}, "work_item_ids"),
        (some_incident, {"notes": "x" * 4001}, "notes"),
        (some_incident, {"notes": 12}, "notes"),
    ):
        check_error(api.post(path, json=body), 422, "invalid_request", fragment)
    check_error(
        api.post("/api/v1/tokens", content=b"{not json", headers={"Content-Type": "application/json"}),
        422,
        "invalid_request",
        "JSON",
    )
    check_error(
        api.post("/api/v1/tokens", json={"role": "viewer", "policy_roles": ["two words"]}), 422, "invalid_input"
    )
    assert api.query("SELECT count(*) FROM api_tokens") == [(4,)]


NUL_CASES = {
    "search text": ("GET", "/api/v1/knowledge/search", {"params": {"q": "disk\x00full"}}),
    "incident service filter": ("GET", "/api/v1/incidents", {"params": {"service": "db\x00"}}),
    "token name": ("POST", "/api/v1/tokens", {"json": {"role": "viewer", "name": "wall\x00board"}}),
    "token key": ("DELETE", "/api/v1/tokens/nocai_ab%00cdef", {}),
}


@pytest.mark.parametrize("case", list(NUL_CASES))
def test_a_nul_character_in_a_parameter_is_a_4xx_not_a_crash(api: Api, case: str) -> None:
    method, path, kwargs = NUL_CASES[case]
    response = api.client.request(method, path, headers=api.auth("admin"), **kwargs)
    assert response.status_code == 422, (response.status_code, response.text[:300])
    check_error(response, 422, response.json()["code"])
    assert api.query("SELECT count(*) FROM api_tokens") == [(4,)]


@pytest.mark.parametrize(
    "body",
    [b'{"role": "viewer", "name": "caf\xe9"}', b"[" * 10_000 + b"]" * 10_000],
    ids=["invalid UTF-8", "nested 10,000 deep"],
)
def test_an_undecodable_json_body_is_refused_with_a_code_and_a_fix(api: Api, body: bytes) -> None:
    response = api.post("/api/v1/tokens", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    check_error(response, response.status_code, "invalid_request")


def test_work_item_ids_beyond_64_bits_are_refused(api: Api) -> None:
    response = api.post("/api/v1/queue/retry", json={"work_item_ids": [2**63]})
    check_error(response, 422, "invalid_request", "work_item_ids")


def test_an_unexpected_failure_is_a_500_that_carries_its_request_id(api: Api) -> None:
    def fail() -> None:
        raise RuntimeError("boom")

    api.client.app.add_api_route("/api/v1/test-failure", fail)  # type: ignore[attr-defined]
    response = api.client.get("/api/v1/test-failure", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    body = check_error(response, 500, "internal_error", "RuntimeError")
    assert body["request_id"] == "trace-500"
