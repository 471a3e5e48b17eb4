"""Tests of the alert adapters: every format from the shipped samples and hand-written variants, detection,
firing and resolved, severity and environment mapping, and the precise error messages for malformed payloads."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ai_service.alerts.adapters import (
    SUPPORTED_FORMATS,
    detect_format,
    environment_from_labels,
    normalize_severity,
    parse_alerts,
    severity_from_impact_urgency,
)
from ai_service.alerts.fingerprint import alert_fingerprint
from ai_service.alerts.models import NormalizedAlert
from ai_service.errors import AlertFormatError, InputError

SAMPLES = Path(__file__).resolve().parents[2] / "ai_service" / "alerts" / "samples"
SAMPLE_NAMES = sorted(p.name for p in SAMPLES.glob("*.json"))
RECEIVED = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)

AM_TOPICS = [
    "disk_full",
    "memory_oom",
    "cpu_saturation",
    "postgres_connections",
    "replication_lag",
    "certificate_expiry",
    "dns_failure",
    "interface_down",
    "pod_crash_loop",
    "backup_failed",
    "queue_backlog",
    "tls_handshake_errors",
]


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def expected_format(name: str) -> str:
    prefix = name.split("_", 1)[0]
    return {"am": "alertmanager"}.get(prefix, prefix)


def parse_one(payload: Any, fmt: str | None = None) -> NormalizedAlert:
    alerts = parse_alerts(payload, fmt, received_at=RECEIVED)
    assert len(alerts) == 1
    return alerts[0]


def am_payload(*alerts: dict[str, Any], **top: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "receiver": "nocai",
        "status": "firing",
        "alerts": list(alerts),
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
    }
    payload.update(top)
    return payload


def am_alert(**overrides: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "job": "api", "severity": "warning"},
        "annotations": {"summary": "Error rate above 5%", "description": "The API returns errors."},
        "startsAt": "2026-06-01T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": "0123456789abcdef",
    }
    alert.update(overrides)
    return alert


# --- the samples -----------------------------------------------------------------------------------------------


def test_every_expected_sample_is_shipped() -> None:
    expected = {
        "alertmanager_disk_full.json",
        "alertmanager_resolved.json",
        "grafana_cpu.json",
        "pagerduty_triggered.json",
        "generic_dns.json",
        *(f"am_{topic}.json" for topic in AM_TOPICS),
    }
    assert expected <= set(SAMPLE_NAMES)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_parses_and_is_detected(name: str) -> None:
    payload = load(name)
    assert detect_format(payload) == expected_format(name)
    alerts = parse_alerts(payload, received_at=RECEIVED)
    assert alerts
    assert alerts == parse_alerts(payload, expected_format(name), received_at=RECEIVED)
    for alert in alerts:
        assert alert.source == expected_format(name)
        assert alert.title.strip()
        assert alert.alert_id
        assert alert.received_at == RECEIVED
        assert alert.fingerprint == alert_fingerprint(alert)
        assert alert.starts_at is not None and alert.starts_at.tzinfo is not None
        assert alert.severity_normalized in ("low", "medium", "high", "critical")
        json.dumps(alert.model_dump(mode="json"))  # storable as JSON (incidents.raw_alert)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_parses_the_same_from_str_and_bytes(name: str) -> None:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    from_dict = parse_alerts(json.loads(text), received_at=RECEIVED)
    assert parse_alerts(text, received_at=RECEIVED) == from_dict
    assert parse_alerts(text.encode("utf-8"), received_at=RECEIVED) == from_dict
    assert parse_alerts(b"\xef\xbb\xbf" + text.encode("utf-8"), received_at=RECEIVED) == from_dict  # BOM


@pytest.mark.parametrize("topic", AM_TOPICS)
def test_topic_samples_are_firing_alertmanager_payloads(topic: str) -> None:
    payload = load(f"am_{topic}.json")
    alerts = parse_alerts(payload, "alertmanager")
    assert all(a.status == "firing" and a.ends_at is None for a in alerts)
    assert all(a.runbook_url and a.generator_url for a in alerts)
    assert [a.raw for a in alerts] == payload["alerts"]


# --- Alertmanager -------------------------------------------------------------------------------------------------


def test_alertmanager_disk_full_sample_fields() -> None:
    payload = load("alertmanager_disk_full.json")
    first, second = parse_alerts(payload, received_at=RECEIVED)
    assert first.source == "alertmanager" and first.status == "firing"
    assert first.title == "Filesystem has less than 3% space left."
    assert first.description.startswith("Filesystem on /dev/nvme1n1, mounted on /var/lib/postgresql")
    assert first.severity == "critical" and first.severity_normalized == "critical"
    assert first.labels["alertname"] == "NodeFilesystemAlmostOutOfSpace"
    assert first.labels["mountpoint"] == "/var/lib/postgresql"
    assert first.annotations["runbook_url"] == first.runbook_url
    assert first.runbook_url == "https://runbooks.prometheus-operator.dev/runbooks/node/nodefilesystemalmostoutofspace"
    assert first.generator_url and first.generator_url.startswith("https://prometheus.")
    assert first.fingerprint == payload["alerts"][0]["fingerprint"]
    assert first.alert_id == f"{first.fingerprint}@2026-06-02T07:41:12Z"
    # Nanoseconds are truncated, the zone kept; a firing alert has no end.
    assert first.starts_at == datetime(2026, 6, 2, 7, 41, 12, 386915, tzinfo=UTC)
    assert first.ends_at is None
    # The service label names the exporter that scraped the host, not a service in trouble.
    assert first.service is None and first.affected_services == []
    assert first.environment == "production"  # cluster prod-eu-west-1
    assert first.links == {"alertmanager": payload["externalURL"]}
    assert first.raw == payload["alerts"][0]
    assert second.raw == payload["alerts"][1]
    assert second.labels["instance"] != first.labels["instance"]
    assert second.fingerprint != first.fingerprint


def test_resolved_sample_is_the_same_episode_as_the_firing_one() -> None:
    firing = parse_alerts(load("alertmanager_disk_full.json"))[0]
    resolved = parse_one(load("alertmanager_resolved.json"))
    assert resolved.status == "resolved"
    assert resolved.ends_at == datetime(2026, 6, 2, 8, 26, 12, 386915, tzinfo=UTC)
    assert resolved.alert_id == firing.alert_id
    assert resolved.fingerprint == firing.fingerprint


def test_common_labels_and_annotations_are_merged_under_the_alerts_own() -> None:
    payload = am_payload(
        am_alert(labels={"alertname": "HighErrorRate", "severity": "critical"}, annotations={}),
        commonLabels={"team": "payments", "severity": "warning"},
        commonAnnotations={"summary": "Common summary", "description": "Common description"},
    )
    alert = parse_one(payload)
    assert alert.labels == {"alertname": "HighErrorRate", "severity": "critical", "team": "payments"}
    assert alert.severity == "critical"
    assert alert.title == "Common summary"
    assert alert.description == "Common description"
    assert alert.raw == payload["alerts"][0]


def test_title_falls_back_to_alertname_and_description_to_message() -> None:
    alert = parse_one(am_payload(am_alert(annotations={"message": "Queue is growing."})))
    assert alert.title == "HighErrorRate"
    assert alert.description == "Queue is growing."


def test_resolved_alertmanager_alert_and_unset_end() -> None:
    resolved = parse_one(am_payload(am_alert(status="resolved", endsAt="2026-06-01T10:30:00.5+02:00")))
    assert resolved.status == "resolved"
    assert resolved.ends_at == datetime(2026, 6, 1, 8, 30, 0, 500000, tzinfo=UTC)
    unset = parse_one(am_payload(am_alert(status="RESOLVED", endsAt="0001-01-01T00:00:00Z")))
    assert unset.status == "resolved" and unset.ends_at is None


def test_firing_alerts_future_ends_at_is_an_expiry_not_an_end() -> None:
    alert = parse_one(am_payload(am_alert(endsAt="2026-06-01T10:04:00Z")))
    assert alert.ends_at is None


def test_alertmanager_without_fingerprint_gets_a_computed_one() -> None:
    raw = am_alert()
    del raw["fingerprint"]
    alert = parse_one(am_payload(raw))
    assert len(alert.fingerprint) == 64
    assert alert.alert_id == f"{alert.fingerprint}@2026-06-01T10:00:00Z"


def test_alertmanager_without_starts_at_uses_the_fingerprint_as_id() -> None:
    alert = parse_one(am_payload(am_alert(startsAt="0001-01-01T00:00:00Z")))
    assert alert.starts_at is None
    assert alert.alert_id == "0123456789abcdef"


def test_alertmanager_version_may_be_absent() -> None:
    payload = am_payload(am_alert())
    del payload["version"]
    assert parse_one(payload).source == "alertmanager"


def test_numeric_and_boolean_label_values_become_strings_and_null_means_absent() -> None:
    alert = parse_one(
        am_payload(am_alert(labels={"alertname": "X", "shard": 3, "canary": True, "zone": None, "ratio": 0.5}))
    )
    assert alert.labels == {"alertname": "X", "shard": "3", "canary": "true", "ratio": "0.5"}


def test_kubernetes_labels_give_service_environment_and_component() -> None:
    alert = parse_one(load("am_pod_crash_loop.json"))
    assert alert.service == "web"  # service=kube-state-metrics is skipped; the container names the workload
    assert alert.environment == "production"  # namespace payments-prod
    alert = parse_one(load("am_tls_handshake_errors.json"))
    assert alert.service == "ingress-nginx" and alert.component == "controller"
    alert = parse_one(load("am_postgres_connections.json"))
    assert (alert.service, alert.component, alert.environment) == ("orders-db", "connection-pool", "production")
    assert alert.affected_services == ["orders-db"]
    oom = parse_alerts(load("am_memory_oom.json"))
    assert {a.service for a in oom} == {"orders-worker"}  # from the pod name, hash suffixes removed
    assert parse_one(load("am_backup_failed.json")).service == "orders-db-backup"  # job_name without its minute


# --- Grafana -------------------------------------------------------------------------------------------------------


def test_grafana_sample_fields() -> None:
    payload = load("grafana_cpu.json")
    alert = parse_one(payload)
    assert alert.source == "grafana" and alert.status == "firing"
    assert alert.title == "CPU usage on app-07.fra1.example.net:9100 is 96.4%"
    assert alert.severity == "warning" and alert.severity_normalized == "medium"
    assert alert.service == "checkout" and alert.environment == "production"
    assert alert.starts_at == datetime(2026, 6, 15, 8, 31, 50, tzinfo=UTC)  # +02:00 -> UTC
    assert alert.fingerprint == payload["alerts"][0]["fingerprint"]
    assert set(alert.links) == {"alertmanager", "dashboard", "panel", "silence"}
    assert alert.links["panel"].endswith("viewPanel=77")
    assert alert.generator_url and "/alerting/grafana/" in alert.generator_url
    assert alert.raw["values"] == {"A": 96.41327, "B": 1}
    assert alert.runbook_url == "https://runbooks.example.net/linux/cpu-saturation"


def test_grafana_detected_from_per_alert_fields_alone() -> None:
    payload = am_payload(am_alert(valueString="[ var='A' value=1 ]", dashboardURL="", panelURL=""))
    del payload["version"]
    assert detect_format(payload) == "grafana"
    alert = parse_one(payload)
    assert alert.source == "grafana"
    assert alert.links == {"alertmanager": "http://alertmanager:9093"}  # empty URLs are not links


def test_grafana_resolved_and_nodata_values() -> None:
    payload = load("grafana_cpu.json")
    payload["status"] = "resolved"
    payload["alerts"][0].update(status="resolved", endsAt="2026-06-15T10:51:50+02:00", values=None)
    alert = parse_one(payload)
    assert alert.status == "resolved"
    assert alert.ends_at == datetime(2026, 6, 15, 8, 51, 50, tzinfo=UTC)


def test_grafana_payload_declared_as_alertmanager_points_to_grafana() -> None:
    with pytest.raises(AlertFormatError) as info:
        parse_alerts(load("grafana_cpu.json"), "alertmanager")
    assert str(info.value).startswith("version: expected '4', got '1'")
    assert "--format grafana" in (info.value.hint or "")


# --- PagerDuty ---------------------------------------------------------------------------------------------------


def test_pagerduty_sample_fields() -> None:
    payload = load("pagerduty_triggered.json")
    alert = parse_one(payload)
    assert alert.source == "pagerduty" and alert.status == "firing"
    assert alert.alert_id == "Q2XH6V8NL4OZKC"
    assert alert.title.startswith("[FIRING:1] PostgresqlTooManyConnections")
    assert alert.severity == "P1" and alert.severity_normalized == "critical"
    assert alert.service == "Checkout API" and alert.affected_services == ["Checkout API"]
    assert alert.labels == {
        "urgency": "high",
        "priority": "P1",
        "incident_key": "0c9a4f3d7b1e4e6a9f1d2c3b4a5e6f70",
        "incident_number": "4821",
        "service_id": "PF9KMXH",
        "escalation_policy": "Payments on-call",
        "teams": "Payments",
    }
    assert alert.annotations["event_type"] == "incident.triggered"
    assert alert.generator_url == "https://acme.pagerduty.com/incidents/Q2XH6V8NL4OZKC"
    assert alert.links["service"] == "https://acme.pagerduty.com/services/PF9KMXH"
    assert alert.starts_at == datetime(2026, 6, 16, 19, 4, 31, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.raw == payload


def test_pagerduty_resolved_and_acknowledged() -> None:
    payload = load("pagerduty_triggered.json")
    payload["event"]["event_type"] = "incident.resolved"
    payload["event"]["occurred_at"] = "2026-06-16T19:40:02.001Z"
    payload["event"]["data"]["status"] = "resolved"
    resolved = parse_one(payload)
    assert resolved.status == "resolved"
    assert resolved.ends_at == datetime(2026, 6, 16, 19, 40, 2, 1000, tzinfo=UTC)
    assert resolved.alert_id == "Q2XH6V8NL4OZKC"

    payload["event"]["event_type"] = "incident.acknowledged"
    payload["event"]["data"]["status"] = "acknowledged"
    acknowledged = parse_one(payload)
    assert acknowledged.status == "firing" and acknowledged.ends_at is None
    assert acknowledged.fingerprint == resolved.fingerprint


def test_pagerduty_minimal_incident_maps_urgency_without_priority() -> None:
    payload = {
        "event": {
            "id": "01EVQ",
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": "2026-06-16T19:04:31Z",
            "data": {
                "id": "PABC123",
                "type": "incident",
                "title": "Disk full",
                "status": "triggered",
                "urgency": "low",
                "priority": None,
            },
        }
    }
    alert = parse_one(payload)
    assert alert.severity == "low" and alert.severity_normalized == "low"
    assert alert.service is None and alert.affected_services == []
    assert alert.starts_at == datetime(2026, 6, 16, 19, 4, 31, tzinfo=UTC)  # occurred_at without created_at


@pytest.mark.parametrize(
    ("event_type", "resource_type", "data_type"),
    [
        ("pagey.ping", "pagey", "ping"),
        ("incident.annotated", "incident", "incident_note"),
        ("incident.responder.added", "incident", "incident_responder"),
        ("service.updated", "service", "service"),
    ],
)
def test_pagerduty_events_without_incident_state_give_no_alerts(
    event_type: str, resource_type: str, data_type: str
) -> None:
    payload = {
        "event": {
            "id": "E1",
            "event_type": event_type,
            "resource_type": resource_type,
            "occurred_at": "2026-06-16T19:04:31Z",
            "data": {"type": data_type, "id": "X"},
        }
    }
    assert parse_alerts(payload) == []


# --- generic -------------------------------------------------------------------------------------------------------


def test_generic_sample_fields() -> None:
    payload = load("generic_dns.json")
    alert = parse_one(payload)
    assert alert.source == "generic" and alert.origin == "zabbix"
    assert alert.alert_id == "ZBX-48213097"
    assert alert.severity == "High" and alert.severity_normalized == "high"
    assert alert.service == "internal-dns"
    assert alert.affected_services == ["internal-dns", "orders-api"]
    assert alert.component == "dns" and alert.environment == "production"
    assert alert.starts_at == datetime(2026, 6, 17, 3, 22, 10, tzinfo=UTC)
    assert alert.raw == payload


def test_generic_list_with_minimal_items_numbers_and_epochs() -> None:
    payload = [
        {"alert_id": 42, "title": "  Backup job failed  ", "ts": 1781493730},
        {
            "alert_id": "b",
            "title": "DNS down",
            "ts": 1781493730123,
            "status": "resolved",
            "ends_at": "2026-06-15T04:00:00Z",
            "service": "dns",
            "affected_services": ["dns", "mail"],
        },
    ]
    first, second = parse_alerts(json.dumps(payload), received_at=RECEIVED)
    assert first.alert_id == "42" and first.title == "Backup job failed"
    assert first.status == "firing" and first.description == "" and first.severity is None
    assert first.starts_at == datetime.fromtimestamp(1781493730, tz=UTC)
    assert second.starts_at == datetime.fromtimestamp(1781493730.123, tz=UTC)  # milliseconds understood
    assert second.status == "resolved" and second.ends_at == datetime(2026, 6, 15, 4, tzinfo=UTC)
    assert second.affected_services == ["dns", "mail"]
    assert [first.raw, second.raw] == payload


def test_generic_itsm_impact_and_urgency() -> None:
    alert = parse_one({"alert_id": "INC1", "title": "VPN down", "impact": "1 - High", "urgency": "2 - Medium"})
    assert alert.severity is None and alert.severity_normalized == "high"
    alert = parse_one({"alert_id": "INC2", "title": "x", "labels": {"impact": "1 - High", "urgency": "1 - High"}})
    assert alert.severity_normalized == "critical"


def test_generic_naive_timestamp_is_utc_and_received_at_defaults_to_now() -> None:
    before = datetime.now(UTC)
    alert = parse_alerts({"alert_id": "a", "title": "t", "ts": "2026-06-01 10:00:00"})[0]
    assert alert.starts_at == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert before <= alert.received_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_naive_received_at_is_taken_as_utc() -> None:
    alert = parse_alerts({"alert_id": "a", "title": "t"}, received_at=datetime(2026, 1, 1, 12))[0]
    assert alert.received_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    other = datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert parse_alerts({"alert_id": "a", "title": "t"}, received_at=other)[0].received_at == other


# --- severity and environment -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("critical", "critical"),
        ("CRIT", "critical"),
        ("page", "critical"),
        ("P1", "critical"),
        ("sev1", "critical"),
        ("SEV-1", "critical"),
        ("Sev 1", "critical"),
        ("disaster", "critical"),
        ("1 - Critical", "critical"),
        ("P1 - Critical", "critical"),
        ("error", "high"),
        ("major", "high"),
        ("High", "high"),
        ("P2", "high"),
        ("1 - High", "high"),
        ("warning", "medium"),
        ("warn", "medium"),
        ("minor", "medium"),
        ("P3", "medium"),
        ("medium", "medium"),
        ("average", "medium"),
        ("3 - Moderate", "medium"),
        ("2 - Medium", "medium"),
        ("info", "low"),
        ("low", "low"),
        ("P4", "low"),
        ("P5", "low"),
        ("3 - Low", "low"),
        ("5 - Planning", "low"),
        ("none", None),
        ("unknown", None),
        ("1", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_severity(raw: str | None, expected: str | None) -> None:
    assert normalize_severity(raw) == expected


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        ("1 - High", "1 - High", "critical"),
        ("1 - High", "2 - Medium", "high"),
        ("2 - Medium", "1 - High", "high"),
        ("2 - Medium", "2 - Medium", "medium"),
        ("1 - High", "3 - Low", "medium"),
        ("3 - Low", "2 - Medium", "low"),
        ("3 - Low", "3 - Low", "low"),
        ("high", "low", "medium"),
        ("1 - High", None, "high"),
        (None, "3 - Low", "low"),
        (None, None, None),
        ("whatever", None, None),
    ],
)
def test_severity_from_impact_and_urgency(impact: str | None, urgency: str | None, expected: str | None) -> None:
    assert severity_from_impact_urgency(impact, urgency) == expected


def test_severity_label_that_does_not_map_falls_back_to_impact_urgency() -> None:
    labels = {"alertname": "X", "severity": "none", "impact": "2 - Medium", "urgency": "2 - Medium"}
    alert = parse_one(am_payload(am_alert(labels=labels)))
    assert alert.severity == "none" and alert.severity_normalized == "medium"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"env": "prod"}, "production"),
        ({"environment": "Staging"}, "staging"),
        ({"env": "eu-prod-2"}, "production"),
        ({"env": "blue"}, "blue"),
        ({"namespace": "payments-prod"}, "production"),
        ({"namespace": "stg-checkout"}, "staging"),
        ({"namespace": "orders-pre-prod"}, "preprod"),
        ({"namespace": "payments", "cluster": "dev-eu-1"}, "development"),
        ({"namespace": "monitoring", "cluster": "eu-west-1"}, None),
        ({"namespace": "liveness-probe"}, None),
        ({}, None),
    ],
)
def test_environment_from_labels(labels: dict[str, str], expected: str | None) -> None:
    assert environment_from_labels(labels) == expected


# --- detection -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (am_payload(am_alert()), "alertmanager"),
        (am_payload(am_alert(), orgId=1, state="alerting"), "grafana"),
        ({"event": {"event_type": "incident.triggered", "data": {}}}, "pagerduty"),
        ({"alert_id": "1", "title": "t"}, "generic"),
        ([{"alert_id": "1", "title": "t"}], "generic"),
        ('{"alert_id": "1", "title": "t"}', "generic"),
    ],
)
def test_detect_format(payload: Any, expected: str) -> None:
    assert detect_format(payload) == expected


def test_undetectable_payload_lists_the_supported_formats() -> None:
    with pytest.raises(AlertFormatError) as info:
        parse_alerts({"host": "db1", "msg": "disk full"})
    message = str(info.value)
    assert message.startswith("payload: cannot tell which alert format this is (top-level keys: host, msg)")
    for name in SUPPORTED_FORMATS:
        assert name in message
    assert isinstance(info.value, InputError) and info.value.http_status == 422


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"messages": [{"event": "incident.trigger"}]}, "PagerDuty v1/v2"),
        ({"ruleName": "x", "evalMatches": []}, "legacy Grafana"),
    ],
)
def test_unsupported_legacy_formats_are_named(payload: Any, fragment: str) -> None:
    with pytest.raises(AlertFormatError, match=fragment):
        parse_alerts(payload)


def test_format_names_are_case_insensitive_and_unknown_names_rejected() -> None:
    assert parse_alerts({"alert_id": "1", "title": "t"}, " Generic ")[0].source == "generic"
    with pytest.raises(AlertFormatError) as info:
        parse_alerts({"alert_id": "1", "title": "t"}, "nagios")
    assert str(info.value).startswith("format: unknown alert format 'nagios'; supported formats: alertmanager")


# --- malformed payloads ----------------------------------------------------------------------------------------


def _mutate(name: str, change: Callable[[Any], Any]) -> Any:
    payload = copy.deepcopy(load(name))
    result = change(payload)
    return payload if result is None else result


def _delete(mapping: dict[str, Any], key: str) -> None:
    del mapping[key]


def _third_alert_labels_list(p: dict[str, Any]) -> None:
    p["alerts"].append(copy.deepcopy(p["alerts"][0]))
    p["alerts"][2]["labels"] = ["alertname", "x"]


MALFORMED: list[tuple[str, Any, str | None, str]] = [
    (
        "labels is a list",
        _mutate("alertmanager_disk_full.json", _third_alert_labels_list),
        None,
        "alerts[2].labels: expected an object of strings, got list",
    ),
    (
        "label value is a list",
        _mutate("alertmanager_disk_full.json", lambda p: p["alerts"][1]["labels"].update(team=["a"])),
        None,
        "alerts[1].labels.team: expected a string, got list",
    ),
    (
        "dotted label name quoted",
        _mutate(
            "alertmanager_disk_full.json", lambda p: p["alerts"][0]["labels"].update({"app.kubernetes.io/name": {}})
        ),
        None,
        'alerts[0].labels["app.kubernetes.io/name"]: expected a string, got object',
    ),
    (
        "status missing",
        _mutate("alertmanager_disk_full.json", lambda p: _delete(p["alerts"][0], "status")),
        None,
        "alerts[0].status: missing",
    ),
    (
        "status unknown",
        _mutate("alertmanager_disk_full.json", lambda p: p["alerts"][1].update(status="pending")),
        None,
        "alerts[1].status: expected 'firing' or 'resolved', got 'pending'",
    ),
    (
        "bad timestamp",
        _mutate("alertmanager_disk_full.json", lambda p: p["alerts"][0].update(startsAt="yesterday")),
        None,
        "alerts[0].startsAt: expected an RFC 3339 timestamp (e.g. 2024-05-14T09:12:03Z), got 'yesterday'",
    ),
    (
        "alerts empty",
        _mutate("alertmanager_disk_full.json", lambda p: p.update(alerts=[])),
        "alertmanager",
        "alerts: expected a non-empty list, got an empty list",
    ),
    (
        "alerts not a list",
        _mutate("alertmanager_disk_full.json", lambda p: p.update(alerts={"a": 1})),
        None,
        "alerts: expected a list, got object",
    ),
    (
        "alert not an object",
        _mutate("alertmanager_disk_full.json", lambda p: p["alerts"].append("x")),
        None,
        "alerts[2]: expected an object, got 'x'",
    ),
    (
        "commonLabels a string",
        _mutate("alertmanager_disk_full.json", lambda p: p.update(commonLabels="x")),
        None,
        "commonLabels: expected an object of strings, got string",
    ),
    (
        "wrong version",
        _mutate("alertmanager_disk_full.json", lambda p: p.update(version="3")),
        None,
        "version: expected '4', got '3'",
    ),
    (
        "no title at all",
        am_payload({"status": "firing", "labels": {"job": "x"}, "annotations": {}}),
        None,
        "alerts[0].labels.alertname: missing",
    ),
    (
        "grafana generatorURL",
        _mutate("grafana_cpu.json", lambda p: p["alerts"][0].update(generatorURL=7)),
        None,
        "alerts[0].generatorURL: expected a string, got integer",
    ),
    (
        "grafana orgId",
        _mutate("grafana_cpu.json", lambda p: p.update(orgId="main")),
        None,
        "orgId: expected an integer, got 'main'",
    ),
    (
        "pd title missing",
        _mutate("pagerduty_triggered.json", lambda p: _delete(p["event"]["data"], "title")),
        None,
        "event.data.title: missing",
    ),
    (
        "pd title empty",
        _mutate("pagerduty_triggered.json", lambda p: p["event"]["data"].update(title="  ")),
        None,
        "event.data.title: expected a non-empty string, got ''",
    ),
    (
        "pd priority a string",
        _mutate("pagerduty_triggered.json", lambda p: p["event"]["data"].update(priority="P1")),
        None,
        "event.data.priority: expected an object, got 'P1'",
    ),
    (
        "pd status a number",
        _mutate("pagerduty_triggered.json", lambda p: p["event"]["data"].update(status=3)),
        None,
        "event.data.status: expected 'triggered', 'acknowledged' or 'resolved', got integer",
    ),
    (
        "pd event_type missing",
        _mutate("pagerduty_triggered.json", lambda p: _delete(p["event"], "event_type")),
        None,
        "event.event_type: missing",
    ),
    (
        "pd data missing",
        _mutate("pagerduty_triggered.json", lambda p: _delete(p["event"], "data")),
        None,
        "event.data: missing",
    ),
    (
        "pd teams not a list",
        _mutate("pagerduty_triggered.json", lambda p: p["event"]["data"].update(teams={})),
        None,
        "event.data.teams: expected a list, got object",
    ),
    ("pd on a list", [1], "pagerduty", "payload: expected an object, got list"),
    ("generic title missing", {"alert_id": "x"}, None, "title: missing"),
    ("generic alert_id boolean", {"alert_id": True, "title": "t"}, None, "alert_id: expected a string, got boolean"),
    (
        "generic affected_services string",
        {"alert_id": "x", "title": "t", "affected_services": "db"},
        None,
        "affected_services: expected a list of strings, got string",
    ),
    (
        "generic affected_services item",
        {"alert_id": "x", "title": "t", "affected_services": ["db", 3]},
        None,
        "affected_services[1]: expected a string, got integer",
    ),
    (
        "generic bad ts",
        {"alert_id": "x", "title": "t", "ts": [2026]},
        None,
        "ts: expected an RFC 3339 timestamp (e.g. 2024-05-14T09:12:03Z) or epoch seconds, got list",
    ),
    (
        "generic list item",
        [{"alert_id": "a", "title": "t"}, {"alert_id": "b", "title": "t", "labels": {"k": {"a": 1}}}],
        None,
        "[1].labels.k: expected a string, got object",
    ),
    (
        "generic list of non-objects",
        [{"alert_id": "a", "title": "t"}, 5],
        "generic",
        "[1]: expected an object, got integer",
    ),
    (
        "generic status",
        {"alert_id": "x", "title": "t", "status": "ok"},
        None,
        "status: expected 'firing' or 'resolved', got 'ok'",
    ),
]


@pytest.mark.parametrize(("payload", "fmt", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_payload_names_the_field_path(payload: Any, fmt: str | None, message: str) -> None:
    with pytest.raises(AlertFormatError) as info:
        parse_alerts(payload, fmt)
    assert info.value.message.startswith(message)
    assert info.value.hint  # every error says how to fix it
    assert "fix:" in str(info.value)


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(AlertFormatError) as info:
        parse_alerts([{"alert_id": "a"}, {"title": "t"}, {"alert_id": "c", "title": ""}])
    message = info.value.message
    assert message.startswith("[0].title: missing (and 2 more: ")
    assert "[1].alert_id: missing" in message and "[2].title: expected a non-empty string" in message


def test_invalid_json_names_line_and_column() -> None:
    text = '{\n  "alert_id": "a",\n  "title": "t",,\n}'
    with pytest.raises(AlertFormatError) as info:
        parse_alerts(text)
    assert info.value.message.startswith("payload: not valid JSON: ")
    assert "line 3, column 16" in info.value.message  # the second comma


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe{}", "payload: not UTF-8 text"),
        ("   ", "payload: empty"),
        ("42", "payload: expected a JSON object or list, got integer"),
        ("[]", "payload: an empty list holds no alerts"),
    ],
)
def test_undecodable_payloads(payload: str | bytes, message: str) -> None:
    with pytest.raises(AlertFormatError) as info:
        parse_alerts(payload)
    assert info.value.message.startswith(message)
