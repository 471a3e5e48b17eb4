"""Real webhook bodies from public documentation and repositories (tests/alerts/payloads, values rewritten; see
SOURCES.md), each read with its format detected and with the format named, against payloads/expected.yaml."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ai_service.alerts.adapters import parse_alerts, parse_payload
from ai_service.alerts.fingerprint import alert_fingerprint
from ai_service.alerts.models import NormalizedAlert
from ai_service.errors import AlertFormatError

PAYLOADS = Path(__file__).resolve().parent / "payloads"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((PAYLOADS / "expected.yaml").read_text(encoding="utf-8"))
FIXTURES = sorted(p.relative_to(PAYLOADS).as_posix() for p in PAYLOADS.rglob("*.json"))
RECEIVED = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


def test_every_fixture_has_expectations_and_a_source() -> None:
    assert len(FIXTURES) >= 24
    assert set(FIXTURES) == set(EXPECTED)
    sources = (PAYLOADS / "SOURCES.md").read_text(encoding="utf-8")
    for name in FIXTURES:
        assert f"`{name}`" in sources, f"{name} is not in SOURCES.md"


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _check_alert(alert: NormalizedAlert, expected: dict[str, Any], where: str) -> None:
    assert alert.status == expected["status"], where
    assert alert.title == expected["title"], where
    assert alert.severity_normalized == expected["severity"], where
    assert alert.service == expected["service"], where
    assert alert.environment == expected["environment"], where
    if "severity_raw" in expected:
        assert alert.severity == expected["severity_raw"], where
    if "description" in expected:
        assert alert.description == expected["description"], where
    for field in ("labels", "annotations", "links"):
        for key, value in (expected.get(field) or {}).items():
            assert getattr(alert, field).get(key) == value, f"{where}: {field}.{key}"
    for key in expected.get("no_links", []):
        assert key not in alert.links, f"{where}: links.{key}"
    for field in ("alert_id", "generator_url", "runbook_url"):
        if field in expected:
            assert getattr(alert, field) == expected[field], f"{where}: {field}"
    if "fingerprint" in expected:
        if expected["fingerprint"] == "computed":
            assert len(alert.fingerprint) == 64 and alert.fingerprint == alert_fingerprint(alert), where
        else:
            assert alert.fingerprint == expected["fingerprint"], where
    for field in ("starts_at", "ends_at"):
        if field in expected:
            assert getattr(alert, field) == _when(expected[field]), f"{where}: {field}"


def _check_accepted(payload: Any, fmt: str | None, spec: dict[str, Any], name: str) -> None:
    where = f"{name} (format={fmt})"
    result = parse_payload(payload, fmt, received_at=RECEIVED)
    assert parse_alerts(payload, fmt, received_at=RECEIVED) == result.alerts, where
    assert result.format == (fmt.lower() if fmt else spec["detected"]), where
    assert len(result.alerts) == len(spec["alerts"]), where
    for index, (alert, expected) in enumerate(zip(result.alerts, spec["alerts"], strict=True)):
        _check_alert(alert, expected, f"{where} alert {index}")
        # What every stored alert must be: sourced, stamped, fingerprinted, whole and storable as JSON.
        assert alert.source == result.format and alert.received_at == RECEIVED, where
        assert alert.fingerprint == alert_fingerprint(alert), where
        assert alert.truncated == [], where
        json.dumps(alert.model_dump(mode="json"))
    ignored = spec.get("ignored") or []
    assert [event.kind for event in result.ignored] == [event["kind"] for event in ignored], where
    for event, expected in zip(result.ignored, ignored, strict=True):
        assert expected["reason"] in event.reason, where
    assert result.text_repairs == 0, where


def _check_refused(payload: Any, fmt: str | None, refusal: dict[str, Any], name: str) -> None:
    with pytest.raises(AlertFormatError) as info:
        parse_alerts(payload, fmt, received_at=RECEIVED)
    where = f"{name} (format={fmt})"
    if fmt is None:
        assert info.value.message.startswith(refusal["message"]), where
    else:
        assert refusal["message"] in info.value.message, where
    assert info.value.hint and refusal["hint"] in info.value.hint, where


@pytest.mark.parametrize("name", FIXTURES)
def test_real_payload(name: str) -> None:
    spec = EXPECTED[name]
    payload = (PAYLOADS / name).read_bytes()  # as it arrives on the wire
    if spec["detected"]:
        _check_accepted(payload, None, spec, name)
    else:
        assert spec["refused"]["why"], name
        _check_refused(payload, None, spec["refused"], name)
    # Naming the format (in another case than the canonical one) must give the same outcome, or the one given.
    named = spec["explicit"].upper()
    outcome = spec.get("explicit_outcome")
    if outcome is None or outcome.get("accepted"):
        _check_accepted(payload, named, spec, name)
    else:
        _check_refused(payload, named, outcome["refused"], name)
    # Decoded JSON and text give what the bytes gave.
    decoded = json.loads(payload)
    if spec["detected"]:
        assert parse_alerts(decoded, received_at=RECEIVED) == parse_alerts(payload, received_at=RECEIVED)
        assert parse_alerts(payload.decode("utf-8"), received_at=RECEIVED) == parse_alerts(
            payload, received_at=RECEIVED
        )
