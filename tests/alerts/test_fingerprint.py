"""Tests of alert fingerprints: the sender's own where given, else the documented SHA-256 scheme, stable across
key order and volatile labels and different for different identities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ai_service.alerts.adapters import parse_alerts
from ai_service.alerts.fingerprint import (
    VOLATILE_LABELS,
    alert_fingerprint,
    identifying_labels,
    labels_fingerprint,
)
from ai_service.alerts.models import NormalizedAlert

SAMPLES = Path(__file__).resolve().parents[2] / "ai_service" / "alerts" / "samples"


def am_without_fingerprint(labels: dict[str, str], *, starts_at: str = "2026-06-01T10:00:00Z") -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "annotations": {}, "startsAt": starts_at}],
    }


def fingerprint_of(payload: Any) -> str:
    (alert,) = parse_alerts(payload)
    return alert.fingerprint


LABELS = {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": "web-1", "severity": "warning"}


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_alert_fingerprint_agrees_with_the_adapters(name: str) -> None:
    for alert in parse_alerts((SAMPLES / name).read_bytes()):
        assert alert_fingerprint(alert) == alert.fingerprint
        assert alert.fingerprint


def test_senders_own_fingerprint_is_used_unchanged() -> None:
    payload = json.loads((SAMPLES / "alertmanager_disk_full.json").read_text())
    alerts = parse_alerts(payload)
    assert [a.fingerprint for a in alerts] == [a["fingerprint"] for a in payload["alerts"]]
    grafana = json.loads((SAMPLES / "grafana_cpu.json").read_text())
    assert fingerprint_of(grafana) == grafana["alerts"][0]["fingerprint"]


def test_computed_fingerprint_is_the_documented_sha256() -> None:
    expected = hashlib.sha256(b'["labels",[["a","1"],["b","2"]]]').hexdigest()
    assert labels_fingerprint({"b": "2", "a": "1"}) == expected


def test_computed_fingerprint_is_stable_across_key_order() -> None:
    reordered = dict(reversed(list(LABELS.items())))
    assert list(reordered) != list(LABELS)
    assert labels_fingerprint(reordered) == labels_fingerprint(LABELS)
    # ... and across the key order of the JSON text itself.
    text_a = json.dumps(am_without_fingerprint(LABELS))
    text_b = json.dumps(am_without_fingerprint(reordered), sort_keys=True)
    assert text_a != text_b
    assert fingerprint_of(text_a) == fingerprint_of(text_b) == labels_fingerprint(LABELS)


def test_computed_fingerprint_does_not_depend_on_time_or_annotations() -> None:
    first = am_without_fingerprint(LABELS)
    later = am_without_fingerprint(LABELS, starts_at="2026-07-01T00:00:00Z")
    later["alerts"][0]["annotations"] = {"summary": "different words"}
    assert fingerprint_of(first) == fingerprint_of(later)
    # The episode id differs, though: a re-fire is a new episode of the same series.
    assert parse_alerts(first)[0].alert_id != parse_alerts(later)[0].alert_id


@pytest.mark.parametrize(
    "change",
    [
        {"pod": "web-2"},
        {"severity": "critical"},
        {"namespace": "orders"},
        {"container": "web"},
        {"alertname": "KubePodNotReady"},
    ],
)
def test_different_label_sets_have_different_fingerprints(change: dict[str, str]) -> None:
    assert labels_fingerprint({**LABELS, **change}) != labels_fingerprint(LABELS)


def test_removing_a_label_changes_the_fingerprint() -> None:
    fewer = {k: v for k, v in LABELS.items() if k != "pod"}
    assert labels_fingerprint(fewer) != labels_fingerprint(LABELS)


def test_label_names_and_values_cannot_be_shifted_into_each_other() -> None:
    assert labels_fingerprint({"a": "b,c"}) != labels_fingerprint({"a": "b", "c": ""})


@pytest.mark.parametrize("volatile", ["prometheus_replica", "replica", "pod_template_hash", "__name__", "__value__"])
def test_volatile_and_internal_labels_are_ignored(volatile: str) -> None:
    assert volatile in VOLATILE_LABELS or volatile.startswith("__")
    assert labels_fingerprint({**LABELS, volatile: "x"}) == labels_fingerprint(LABELS)
    assert volatile not in identifying_labels({**LABELS, volatile: "x"})


def test_identifying_labels_are_sorted() -> None:
    assert list(identifying_labels(LABELS)) == sorted(LABELS)


def _pagerduty(incident_id: str, incident_key: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": incident_id, "type": "incident", "title": "t", "status": "triggered"}
    if incident_key is not None:
        data["incident_key"] = incident_key
    return {"event": {"event_type": "incident.triggered", "data": data}}


def test_pagerduty_fingerprint_follows_the_incident_key_then_the_id() -> None:
    same_key = fingerprint_of(_pagerduty("P1", "dedup-1")), fingerprint_of(_pagerduty("P2", "dedup-1"))
    assert same_key[0] == same_key[1]
    assert fingerprint_of(_pagerduty("P1", "dedup-2")) != same_key[0]
    assert fingerprint_of(_pagerduty("P1", None)) == fingerprint_of(_pagerduty("P1", None))
    assert fingerprint_of(_pagerduty("P1", None)) != fingerprint_of(_pagerduty("P2", None))
    # An incident key that happens to equal an incident id does not collide with it.
    assert fingerprint_of(_pagerduty("X", "P1")) != fingerprint_of(_pagerduty("P1", None))


def test_generic_fingerprint_is_alert_id_and_source() -> None:
    base = {"alert_id": "42", "source": "zabbix", "title": "t"}
    assert fingerprint_of(base) == fingerprint_of({**base, "title": "other", "labels": {"a": "b"}})
    assert fingerprint_of(base) != fingerprint_of({**base, "source": "nagios"})
    assert fingerprint_of(base) != fingerprint_of({**base, "alert_id": "43"})
    assert fingerprint_of({"alert_id": "42", "title": "t"}) != fingerprint_of(base)


def test_hand_built_alert_gets_a_fingerprint() -> None:
    alert = NormalizedAlert(alert_id="a1", source="generic", origin="cron", status="firing", title="Backup failed")
    assert alert.fingerprint == alert_fingerprint(alert)
    assert len(alert.fingerprint) == 64
    given = NormalizedAlert(alert_id="a1", source="generic", status="firing", title="t", fingerprint="mine")
    assert given.fingerprint == "mine"
