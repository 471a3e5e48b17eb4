"""Webhook signatures: PagerDuty v3 (``X-PagerDuty-Signature: v1=...``, several while a secret rotates) and
Grafana's contact point HMAC (of the body, or of ``timestamp:body`` within 5 minutes). A refused signature
records nothing."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from tests.api.conftest import Api, StartApi, check_error, payload, sample

PD_SECRET = "pd-signing-secret-0123456789"
GRAFANA_SECRET = "grafana-hmac-secret"
TIMESTAMP_HEADER = "X-Grafana-Alerting-Signature-Timestamp"


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.fixture
def pd_api(start_api: StartApi) -> Api:
    return start_api(pagerduty_webhook_secret=PD_SECRET)


def _refused(api: Api, response: object, *fragments: str) -> None:
    check_error(response, 401, "unauthenticated", *fragments)  # type: ignore[arg-type]
    assert api.counts() == {k: 0 for k in api.counts()}


@pytest.mark.parametrize("fmt", [None, "pagerduty"])
def test_a_correct_pagerduty_signature_passes(pd_api: Api, fmt: str | None) -> None:
    body = sample("pagerduty_triggered.json")
    response = pd_api.send(body, fmt, headers={"X-PagerDuty-Signature": "v1=" + _hmac(PD_SECRET, body)})
    assert response.status_code == 202, response.text
    assert [a["outcome"] for a in response.json()["alerts"]] == ["new"]


@pytest.mark.parametrize("fmt", [None, "PagerDuty"])
def test_a_wrong_or_missing_pagerduty_signature_is_refused_and_records_nothing(pd_api: Api, fmt: str | None) -> None:
    body = sample("pagerduty_triggered.json")
    _refused(pd_api, pd_api.send(body, fmt), "no X-PagerDuty-Signature")
    wrong = {"X-PagerDuty-Signature": "v1=" + _hmac("another-secret", body)}
    _refused(pd_api, pd_api.send(body, fmt, headers=wrong), "does not match")
    # The signature of another body does not carry over.
    other = {"X-PagerDuty-Signature": "v1=" + _hmac(PD_SECRET, body + b" ")}
    _refused(pd_api, pd_api.send(body, fmt, headers=other), "does not match")
    # Nor does the bare digest without its version prefix.
    bare = {"X-PagerDuty-Signature": _hmac(PD_SECRET, body)}
    _refused(pd_api, pd_api.send(body, fmt, headers=bare), "does not match")


def test_during_a_rotation_one_matching_signature_of_several_is_enough(pd_api: Api) -> None:
    body = payload("pagerduty/incident-triggered.json")
    good = "v1=" + _hmac(PD_SECRET, body)
    old = "v1=" + _hmac("the-previous-secret", body)
    for header in (f"{old},{good}", f"{good}, {old}"):
        response = pd_api.send(body, "pagerduty", headers={"X-PagerDuty-Signature": header})
        assert response.status_code == 202, response.text
    assert [a["outcome"] for a in response.json()["alerts"]] == ["repeat"]
    _refused_body = pd_api.send(body, "pagerduty", headers={"X-PagerDuty-Signature": f"{old},v1=deadbeef"})
    check_error(_refused_body, 401, "unauthenticated", "does not match")


def test_a_signed_ping_is_accepted_and_an_unsigned_one_refused(pd_api: Api) -> None:
    body = payload("pagerduty/pagey-ping.json")
    _refused(pd_api, pd_api.send(body), "X-PagerDuty-Signature")
    response = pd_api.send(body, headers={"X-PagerDuty-Signature": "v1=" + _hmac(PD_SECRET, body)})
    assert response.status_code == 202 and [e["kind"] for e in response.json()["ignored"]] == ["pagey.ping"]


def test_the_pagerduty_secret_does_not_apply_to_other_formats(pd_api: Api) -> None:
    response = pd_api.send(sample("am_disk_full.json"))
    assert response.status_code == 202 and response.json()["alerts"][0]["outcome"] == "new"


def test_grafana_body_signature(start_api: StartApi) -> None:
    api = start_api(grafana_webhook_secret=GRAFANA_SECRET)
    body = sample("grafana_cpu.json")
    _refused(api, api.send(body, "grafana"), "no signature header")
    wrong = {"X-Grafana-Alerting-Signature": _hmac("not-the-secret", body)}
    _refused(api, api.send(body, headers=wrong), "does not match")
    for fmt in ("grafana", None):
        signed = {"X-Grafana-Alerting-Signature": _hmac(GRAFANA_SECRET, body)}
        response = api.send(body, fmt, headers=signed)
        assert response.status_code == 202, response.text
    assert [a["outcome"] for a in response.json()["alerts"]] == ["repeat"]


def test_grafana_timestamped_signature_and_replays(start_api: StartApi) -> None:
    api = start_api(
        grafana_webhook_secret=GRAFANA_SECRET,
        grafana_signature_header="X-Hook-Signature",
        grafana_timestamp_header=TIMESTAMP_HEADER,
    )
    body = payload("grafana/docs-valuestring.json")
    now = str(int(time.time()))
    # With a timestamp header configured, the HMAC covers "timestamp:body": the body's alone does not pass.
    body_only = {"X-Hook-Signature": _hmac(GRAFANA_SECRET, body), TIMESTAMP_HEADER: now}
    _refused(api, api.send(body, "grafana", headers=body_only), "does not match")
    # Nor does a correct signature whose timestamp header is missing.
    signed = _hmac(GRAFANA_SECRET, now.encode() + b":" + body)
    _refused(api, api.send(body, "grafana", headers={"X-Hook-Signature": signed}), "does not match")
    # A signature made more than 5 minutes ago is a replay, however well it is signed.
    then = str(int(time.time()) - 600)
    old = {"X-Hook-Signature": _hmac(GRAFANA_SECRET, then.encode() + b":" + body), TIMESTAMP_HEADER: then}
    _refused(api, api.send(body, "grafana", headers=old), "5 minutes")
    junk = {"X-Hook-Signature": signed, TIMESTAMP_HEADER: "yesterday"}
    _refused(api, api.send(body, "grafana", headers=junk), "not a number")
    # The default header name is not read when another is configured.
    moved = {"X-Grafana-Alerting-Signature": signed, TIMESTAMP_HEADER: now}
    _refused(api, api.send(body, "grafana", headers=moved), "no signature header")
    response = api.send(body, "grafana", headers={"X-Hook-Signature": signed, TIMESTAMP_HEADER: now})
    assert response.status_code == 202, response.text
    assert response.json()["alerts"] and {a["outcome"] for a in response.json()["alerts"]} == {"new"}
