"""Edges of what the alert adapters accept and refuse: empty group status, format names in any case, hostile
or broken input (deep nesting, NUL, invalid UTF-8, wrong top level, huge bodies), the bounds on what is kept, and
the events that give no alert but must not vanish. Sizes are asserted, never durations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ai_service.alerts import adapters
from ai_service.alerts import payload as payload_module
from ai_service.alerts.adapters import (
    MAX_DEPTH,
    MAX_PAYLOAD_CHARS,
    canonical_format,
    decode_payload,
    detect_format,
    parse_alerts,
    parse_payload,
)
from ai_service.alerts.models import (
    ELLIPSIS,
    MAX_DESCRIPTION_CHARS,
    MAX_KEY_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_MAP_ENTRIES,
    MAX_RAW_CHARS,
    MAX_TITLE_CHARS,
    AlertmanagerWebhook,
    IgnoredEvent,
)
from ai_service.errors import AlertFormatError, InputError

PAYLOADS = Path(__file__).resolve().parent / "payloads"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def refusal(payload: Any, fmt: str | None = None) -> AlertFormatError:
    """The AlertFormatError that parsing ``payload`` raises (any other exception fails the test)."""
    with pytest.raises(AlertFormatError) as info:
        parse_alerts(payload, fmt)
    assert isinstance(info.value, InputError) and info.value.http_status == 422
    assert info.value.hint, "every refusal says how to fix it"
    return info.value


# --- the group's status ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["", "   ", None, "MISSING"])
def test_alertmanager_group_without_status_is_read_and_its_status_derived(status: str | None) -> None:
    payload = load("alertmanager/grouped-cpu-temperature.json")
    if status == "MISSING":
        del payload["status"]
    else:
        payload["status"] = status
    alerts = parse_alerts(payload)
    assert [a.status for a in alerts] == ["firing", "firing"]
    assert AlertmanagerWebhook.model_validate(payload).status == "firing"

    payload["alerts"] = [dict(a, status="resolved") for a in payload["alerts"]]
    assert [a.status for a in parse_alerts(payload, "alertmanager")] == ["resolved", "resolved"]
    assert AlertmanagerWebhook.model_validate(payload).status == "resolved"


def test_grafana_group_with_empty_status_is_read() -> None:
    payload = load("grafana/memory-values-image.json")
    payload["status"] = ""
    assert [a.status for a in parse_alerts(payload)] == ["firing"]


def test_a_group_status_that_is_not_a_status_is_still_refused() -> None:
    payload = load("alertmanager/grouped-cpu-temperature.json")
    payload["status"] = "pending"
    assert refusal(payload).message.startswith("status: expected 'firing' or 'resolved', got 'pending'")


# --- format names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fixture"),
    [
        ("Alertmanager", "alertmanager/grouped-cpu-temperature.json"),
        ("ALERTMANAGER", "alertmanager/grouped-cpu-temperature.json"),
        ("GRAFANA", "grafana/docs-high-memory-high-cpu.json"),
        (" Grafana\n", "grafana/docs-high-memory-high-cpu.json"),
        ("PagerDuty", "pagerduty/incident-triggered.json"),
        ("GeNeRiC", None),
    ],
)
def test_format_names_are_case_insensitive_everywhere(name: str, fixture: str | None) -> None:
    payload = load(fixture) if fixture else {"alert_id": "a-1", "title": "Disk almost full"}
    canonical = name.strip().lower()
    assert canonical_format(name) == canonical
    assert [a.source for a in parse_alerts(payload, name)] == [canonical] * len(parse_alerts(payload))
    assert parse_payload(payload, name).format == canonical


def test_unknown_format_name_lists_the_supported_ones() -> None:
    error = refusal({"alert_id": "a", "title": "t"}, "Nagios")
    assert error.message.startswith("format: unknown alert format 'Nagios'; supported formats: alertmanager, grafana")
    assert "any case" in (error.hint or "")


# --- hostile and broken input -----------------------------------------------------------------------------------


def _nested_dict(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.mark.parametrize(
    "payload",
    [
        "[" * 10_000 + "]" * 10_000,
        ("[" * 10_000 + "]" * 10_000).encode("utf-8"),
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"alert_id": "x", "title": "t", "extra": ' + "[" * 10_000 + "]" * 10_000 + "}",
        _nested_dict(10_000),
        {"alert_id": "x", "title": "t", "extra": _nested_dict(10_000)},
    ],
    ids=["list-text", "list-bytes", "object-text", "inside-an-alert", "decoded-dict", "decoded-inside-an-alert"],
)
def test_deep_nesting_is_refused_by_name_without_recursion(payload: Any) -> None:
    error = refusal(payload)
    assert error.message == f"payload: JSON nested deeper than {MAX_DEPTH} levels"
    assert "unchanged" in (error.hint or "")
    with pytest.raises(AlertFormatError):
        detect_format(payload)


def test_nesting_up_to_the_limit_is_read_and_brackets_inside_strings_do_not_count() -> None:
    inner = json.dumps(_nested_dict(MAX_DEPTH - 1))
    text = (
        '{"alert_id": "deep-1", "title": "'
        + "[{" * 500
        + '", "description": "'
        + "}]" * 500
        + '", "extra": '
        + inner
        + "}"
    )
    alert = parse_alerts(text)[0]
    assert alert.title == "[{" * 500
    assert alert.raw["extra"] == _nested_dict(MAX_DEPTH - 1)
    too_deep = '{"alert_id": "deep-2", "title": "t", "extra": ' + json.dumps(_nested_dict(MAX_DEPTH)) + "}"
    assert refusal(too_deep).message.startswith("payload: JSON nested deeper")


def test_nul_characters_are_removed_everywhere_and_counted() -> None:
    payload = load("alertmanager/grouped-cpu-temperature.json")
    payload["alerts"][0]["labels"]["host"] = "kes\x00trel"
    payload["alerts"][0]["labels"]["zone\x00"] = "a1"
    payload["alerts"][0]["annotations"]["description"] = "\x00CPU core temperature is 91.5C\x00"
    payload["commonAnnotations"]["summary"] = "High CPU\x00 core temperature"
    result = parse_payload(json.dumps(payload))  # as text: "\u0000" escapes
    alert = result.alerts[0]
    assert result.text_repairs == 5
    assert alert.labels["host"] == "kestrel" and alert.labels["zone"] == "a1"
    assert alert.description == "CPU core temperature is 91.5C"
    assert alert.title == "High CPU core temperature"
    stored = json.dumps(alert.model_dump(mode="json"), ensure_ascii=False)
    assert "\x00" not in stored and "\\u0000" not in stored
    # The caller's own object is not changed.
    assert payload["alerts"][0]["labels"]["host"] == "kes\x00trel"


def test_raw_control_characters_inside_strings_are_read_and_a_raw_nul_removed() -> None:
    text = '{"alert_id": "zbx-1", "title": "Disk full\x00", "description": "line one\nline two\ttabbed"}'
    result = parse_payload(text.encode("utf-8"))
    assert result.alerts[0].title == "Disk full"
    assert result.alerts[0].description == "line one\nline two\ttabbed"
    assert result.text_repairs == 1


def test_unpaired_surrogates_are_replaced_so_that_the_text_is_valid_utf8() -> None:
    result = parse_payload('{"alert_id": "s-1", "title": "bad \\ud800 half", "labels": {"k": "\\udfff"}}')
    alert = result.alerts[0]
    assert alert.title == "bad \ufffd half" and alert.labels["k"] == "\ufffd"
    assert result.text_repairs == 2
    json.dumps(alert.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")  # would raise on a surrogate
    # A proper pair is one character, not a repair.
    paired = parse_payload('{"alert_id": "s-2", "title": "ok \\ud83d\\udd25"}')
    assert paired.alerts[0].title == "ok \U0001f525" and paired.text_repairs == 0


@pytest.mark.parametrize(
    ("payload", "message", "hint"),
    [
        (b'{"alert_id": "\xff\xfe"}', "payload: not UTF-8 text (invalid byte 0xff at offset 14)", "UTF-8"),
        (b'{"title": "caf\xe9"}', "payload: not UTF-8 text (invalid byte 0xe9 at offset 14)", "Latin-1"),
        (
            '{"alert_id": "x"}'.encode("utf-16"),
            "payload: not UTF-8 text (it starts with a UTF-16 byte-order mark)",
            "UTF-8",
        ),
        ("42", "payload: expected a JSON object or list, got integer", "JSON object"),
        ("true", "payload: expected a JSON object or list, got boolean", "JSON object"),
        ("null", "payload: expected a JSON object or list, got null", "JSON object"),
        ('"disk full on db-1"', "payload: expected a JSON object or list, got string", "JSON object"),
        (
            '"{\\"alert_id\\": \\"a\\", \\"title\\": \\"t\\"}"',
            "payload: a JSON string that holds JSON text",
            "not a string",
        ),
        ("", "payload: empty", "JSON object"),
        ("{'alert_id': 'a'}", "payload: not valid JSON: Expecting property name enclosed in double quotes", "quotes"),
    ],
)
def test_undecodable_input_is_named_with_its_fix(payload: str | bytes, message: str, hint: str) -> None:
    error = refusal(payload)
    assert error.message.startswith(message)
    assert hint in (error.hint or "")


def test_absurdly_large_bodies_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_PAYLOAD_CHARS == 64 * 1024 * 1024
    monkeypatch.setattr(payload_module, "MAX_PAYLOAD_CHARS", 1000)
    big = json.dumps({"alert_id": "big-1", "title": "t", "description": "x" * 2000})
    for payload in (big, big.encode("utf-8")):
        error = refusal(payload)
        assert error.message.startswith(f"payload: {len(big):,} ")
        assert error.message.endswith("long; nocai reads at most 1,000 bytes (or characters) in one payload")
        assert "max_alerts" in (error.hint or "")
    # An already decoded payload is measured while it is copied.
    error = refusal(json.loads(big))
    assert error.message.startswith("payload: the text in its strings is longer than that; nocai reads at most 1,000")


# --- bounds on what is kept --------------------------------------------------------------------------------------


def test_a_50_mb_description_is_kept_bounded_and_flagged() -> None:
    description = "The queue consumer logged: " + "x" * 50_000_000
    payload = json.dumps({"alert_id": "q-1", "title": "Queue consumer stalled", "description": description})
    assert len(payload) > 50_000_000
    alert = parse_alerts(payload)[0]
    assert len(alert.description) == MAX_DESCRIPTION_CHARS
    assert alert.description.startswith("The queue consumer logged: xxx") and alert.description.endswith(ELLIPSIS)
    assert "description" in alert.truncated and "raw" in alert.truncated
    assert len(alert.raw["description"]) == MAX_DESCRIPTION_CHARS
    assert len(json.dumps(alert.raw)) < MAX_RAW_CHARS
    assert alert.title == "Queue consumer stalled" and "title" not in alert.truncated


def test_alertmanager_values_are_bounded_per_field() -> None:
    payload = load("alertmanager/single-no-generator-url.json")
    alert_in = payload["alerts"][0]
    alert_in["labels"]["instance"] = "i" * 5000
    alert_in["labels"]["k" * 1000] = "long name"
    alert_in["annotations"]["summary"] = "S" * 3000
    alert_in["annotations"]["description"] = "D" * 200_000
    alert = parse_alerts(payload)[0]
    assert len(alert.labels["instance"]) == MAX_LABEL_VALUE_CHARS and alert.labels["instance"].endswith(ELLIPSIS)
    long_name = "k" * (MAX_KEY_CHARS - 1) + ELLIPSIS
    assert alert.labels[long_name] == "long name"
    assert len(alert.title) == MAX_TITLE_CHARS and alert.title.endswith(ELLIPSIS)
    assert len(alert.annotations["description"]) == MAX_DESCRIPTION_CHARS
    assert len(alert.description) == MAX_DESCRIPTION_CHARS
    assert {"labels.instance", f"labels.{long_name}", "annotations.description", "title"} <= set(alert.truncated)
    assert alert.fingerprint == "7d0c4e1a92b3f5a6"  # the sender's identity survives


def test_too_many_labels_keep_the_first_ones_in_payload_order() -> None:
    labels = {f"l{i:04d}": str(i) for i in range(MAX_MAP_ENTRIES + 100)}
    alert = parse_alerts({"alert_id": "many-1", "title": "t", "labels": labels})[0]
    assert list(alert.labels) == list(labels)[:MAX_MAP_ENTRIES]
    assert "labels" in alert.truncated


def test_raw_is_bounded_breadth_first_and_keeps_the_top_level() -> None:
    payload = {"alert_id": "wide-1", "title": "Wide payload", "fingerprint": "f" * 16}
    payload["extra"] = {f"field{i}": "v" * 10_000 for i in range(300)}  # about 3 MB
    alert = parse_alerts(payload, "generic")[0]
    assert "raw" in alert.truncated
    assert alert.raw["alert_id"] == "wide-1" and alert.raw["fingerprint"] == "f" * 16
    assert len(json.dumps(alert.raw)) <= MAX_RAW_CHARS + 20_000
    assert ELLIPSIS in json.dumps(alert.raw, ensure_ascii=False)


def test_label_and_annotation_values_are_stored_verbatim_and_never_interpreted() -> None:
    payload = load("alertmanager/single-no-generator-url.json")
    odd = {
        "template": "{{ $labels.instance }}",
        "shell": "$(rm -rf /); `reboot`",
        "sql": "'; DROP TABLE incidents; --",
        "html": "<script>alert(1)</script>",
        "novalue": "<no value>",
    }
    payload["alerts"][0]["labels"].update(odd)
    payload["alerts"][0]["annotations"].update(odd)
    alert = parse_alerts(payload)[0]
    for key, value in odd.items():
        assert alert.labels[key] == value and alert.annotations[key] == value
    assert alert.truncated == []


# --- what gives no alert, and says so ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "kind", "reason"),
    [
        ("pagerduty/pagey-ping.json", "pagey.ping", "PagerDuty's test delivery (a ping); it carries no incident"),
        ("pagerduty/service-updated.json", "service.updated", "a service event, not an incident one"),
        ("pagerduty/service-created.json", "service.created", "a service event, not an incident one"),
        ("pagerduty/incident-annotated.json", "incident.annotated", "its data is 'incident_note', not the incident"),
    ],
)
def test_pagerduty_events_without_incident_state_are_reported_as_ignored(fixture: str, kind: str, reason: str) -> None:
    payload = load(fixture)
    assert parse_alerts(payload) == []  # existing callers: nothing to triage
    result = parse_payload(payload)
    assert result.format == "pagerduty" and result.alerts == []
    assert len(result.ignored) == 1
    assert isinstance(result.ignored[0], IgnoredEvent)
    assert result.ignored[0].kind == kind
    assert result.ignored[0].reason.startswith(reason)


def test_responder_events_name_their_incident() -> None:
    payload = {
        "event": {
            "id": "01RESP",
            "event_type": "incident.responder.added",
            "resource_type": "incident",
            "occurred_at": "2026-06-16T19:04:31Z",
            "data": {"type": "incident_responder", "incident": {"id": "Q0RESP1", "type": "incident_reference"}},
        }
    }
    (event,) = parse_payload(payload).ignored
    assert event.kind == "incident.responder.added"
    assert (
        event.reason
        == "its data is 'incident_responder', not the incident itself (incident Q0RESP1); it changes no alert state"
    )


def test_alerts_the_sender_left_out_are_reported() -> None:
    payload = load("alertmanager/probe-failure-truncated.json")
    result = parse_payload(payload)
    assert len(result.alerts) == 1
    assert [(e.kind, e.reason) for e in result.ignored] == [
        (
            "truncated_alerts",
            "the sender left 2 more alert(s) of this group out of the payload (its max_alerts setting); nocai never "
            "received them",
        )
    ]
    payload["truncatedAlerts"] = 0
    assert parse_payload(payload).ignored == []


def test_decode_payload_returns_a_repaired_copy() -> None:
    original = {"alert_id": "a\x00", "title": "t", "labels": {"x": "y"}}
    decoded = decode_payload(original)
    assert decoded == {"alert_id": "a", "title": "t", "labels": {"x": "y"}}
    assert decoded is not original and original["alert_id"] == "a\x00"


def test_the_nul_decision_is_documented() -> None:
    doc = adapters.__doc__ or ""
    assert "NUL characters" in doc and "removed" in doc and "text_repairs" in doc


def test_a_generic_list_missing_its_ids_is_not_taken_for_alertmanagers_api() -> None:
    error = refusal([{"title": "Disk full", "labels": {"alertname": "DiskFull"}}])
    assert error.message.startswith("[0].alert_id: missing")
    error = refusal([{"labels": {"alertname": "DiskFull", "instance": "db-1"}}])
    assert error.message.startswith("payload: looks like a list of alerts as posted to Alertmanager's own API")
