"""The shapes of alerts: what the senders post (wire models) and the one alert nocai works with.

:class:`NormalizedAlert` is the single, source-independent alert that triage, retrieval and the incident store
consume. The wire models (``Alertmanager*``, ``Grafana*``, ``PagerDuty*``, ``GenericAlert``) describe the
payloads as the senders publish them; they exist so that pydantic checks every field and reports where a
payload is malformed, and :mod:`ai_service.alerts.adapters` turns its errors into :class:`AlertFormatError`
messages that name the field path.

Wire models accept (and ignore) fields they do not know, because senders add fields between versions; the
unknown fields are still kept in :attr:`NormalizedAlert.raw`. Label and annotation maps accept numbers and
booleans as values (converted to strings) and treat a ``null`` value as an absent key, as Prometheus treats an
empty label; anything else that is not a string is an error at the exact key.

What this module must never do: parse formats (that is the adapters' job), touch the database or the network,
or hold anything but data and its validation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ai_service.alerts.fingerprint import alert_fingerprint
from ai_service.validation import type_name

AlertSource = Literal["alertmanager", "grafana", "pagerduty", "generic"]
AlertStatus = Literal["firing", "resolved"]
Severity = Literal["low", "medium", "high", "critical"]


def json_type_name(value: object) -> str:
    """Name a decoded JSON value's type the way error messages should ("list", "object", "null" ...)."""
    return type_name(value, style="json")


# --- reusable field types ----------------------------------------------------------------------------------


def _str_map(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "str_map_type", "expected an object of strings, got {got}", {"got": json_type_name(value)}
        )
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, bool):
            out[key] = "true" if item else "false"
        elif isinstance(item, int | float):
            out[key] = str(item)
        else:
            # Strings pass; lists and objects fail in the dict[str, str] check, at loc (..., key).
            out[key] = item
    return out


StrMap = Annotated[dict[str, str], BeforeValidator(_str_map)]
"""A JSON object of strings (labels, annotations); see the module docstring for what is tolerated."""


def _str_list(value: Any) -> Any:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PydanticCustomError(
            "str_list_type", "expected a list of strings, got {got}", {"got": json_type_name(value)}
        )
    return value


StrList = Annotated[list[str], BeforeValidator(_str_list)]

_UNSET_YEAR = 1  # Go's zero time, 0001-01-01T00:00:00Z, is how Alertmanager and Grafana say "not set"


def parse_timestamp(value: Any) -> datetime | None:
    """Read an RFC 3339 / ISO 8601 string or epoch seconds/milliseconds into an aware UTC datetime.

    ``None``, ``""`` and Go's zero time mean "not set" and give ``None``. A timestamp without an offset is
    taken as UTC. Fractions finer than microseconds (Prometheus sends nanoseconds) are truncated.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 1e11 else value  # 1e11 s is year 5138: it must be ms
        try:
            parsed = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise PydanticCustomError(
                "timestamp", "expected a timestamp, got out-of-range number {value}", {"value": value}
            ) from exc
    elif isinstance(value, str):
        parsed = _parse_iso(value.strip())
    else:
        raise PydanticCustomError(
            "timestamp",
            "expected an RFC 3339 timestamp (e.g. 2024-05-14T09:12:03Z) or epoch seconds, got {got}",
            {"got": json_type_name(value)},
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year <= _UNSET_YEAR:
        return None
    return parsed.astimezone(UTC)


def _parse_iso(text: str) -> datetime:
    candidate = text
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    # Truncate sub-microsecond digits: "…:03.123456789+00:00" -> "…:03.123456+00:00".
    dot = candidate.find(".", 17)
    if dot != -1:
        end = dot + 1
        while end < len(candidate) and candidate[end].isdigit():
            end += 1
        candidate = candidate[: dot + 1] + candidate[dot + 1 : end][:6] + candidate[end:]
    try:
        return datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise PydanticCustomError(
            "timestamp",
            "expected an RFC 3339 timestamp (e.g. 2024-05-14T09:12:03Z), got {value}",
            {"value": repr(text[:64])},
        ) from exc


Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]


def _lower_str(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _id_str(value: Any) -> Any:
    # Ids may come as numbers from hand-written senders; booleans are never ids.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


StatusField = Annotated[AlertStatus, BeforeValidator(_lower_str)]
IdStr = Annotated[str, BeforeValidator(_id_str), Field(min_length=1)]


class _Wire(BaseModel):
    """Base of the wire models: unknown fields are allowed (kept in ``raw`` by the adapters)."""

    model_config = ConfigDict(extra="allow")


# --- Prometheus Alertmanager webhook (version 4) -------------------------------------------------------------


class AlertmanagerAlert(_Wire):
    """One entry of ``alerts[]`` in an Alertmanager webhook."""

    status: StatusField
    labels: StrMap
    annotations: StrMap = Field(default_factory=dict)
    starts_at: Timestamp = Field(default=None, alias="startsAt")
    ends_at: Timestamp = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str | None = None


class AlertmanagerWebhook(_Wire):
    """The body Alertmanager posts to a webhook receiver: one notification group."""

    version: str | None = None
    group_key: str | None = Field(default=None, alias="groupKey")
    truncated_alerts: int | None = Field(default=None, alias="truncatedAlerts")
    status: StatusField | None = None
    receiver: str | None = None
    group_labels: StrMap = Field(default_factory=dict, alias="groupLabels")
    common_labels: StrMap = Field(default_factory=dict, alias="commonLabels")
    common_annotations: StrMap = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str | None = Field(default=None, alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(min_length=1)


# --- Grafana (unified) alerting webhook ----------------------------------------------------------------------


class GrafanaAlert(AlertmanagerAlert):
    """One entry of ``alerts[]`` in a Grafana webhook: an Alertmanager alert plus Grafana's links and values."""

    silence_url: str | None = Field(default=None, alias="silenceURL")
    dashboard_url: str | None = Field(default=None, alias="dashboardURL")
    panel_url: str | None = Field(default=None, alias="panelURL")
    image_url: str | None = Field(default=None, alias="imageURL")
    values: dict[str, Any] | None = None
    value_string: str | None = Field(default=None, alias="valueString")


class GrafanaWebhook(AlertmanagerWebhook):
    """The body Grafana's webhook contact point posts (Alertmanager-like, ``version`` "1")."""

    org_id: int | None = Field(default=None, alias="orgId")
    title: str | None = None
    state: str | None = None
    message: str | None = None
    alerts: list[GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]


# --- PagerDuty v3 webhook -----------------------------------------------------------------------------------


class PagerDutyReference(_Wire):
    """A PagerDuty ``*_reference`` object (service, priority, team, user ...)."""

    id: str | None = None
    type: str | None = None
    summary: str | None = None
    html_url: str | None = None


class PagerDutyIncident(_Wire):
    """``event.data`` of an ``incident.*`` event whose ``data.type`` is ``incident``."""

    id: IdStr
    type: str | None = None
    title: Annotated[str, BeforeValidator(_strip)] = Field(min_length=1)
    status: Annotated[Literal["triggered", "acknowledged", "resolved"], BeforeValidator(_lower_str)]
    urgency: str | None = None
    priority: PagerDutyReference | None = None
    service: PagerDutyReference | None = None
    escalation_policy: PagerDutyReference | None = None
    teams: list[PagerDutyReference] = Field(default_factory=list)
    html_url: str | None = None
    incident_key: str | None = None
    number: int | None = None
    created_at: Timestamp = None


class PagerDutyEvent(_Wire):
    """``event`` of a v3 webhook; ``data`` is checked separately, since its shape depends on its ``type``."""

    id: str | None = None
    event_type: str = Field(min_length=1)
    resource_type: str | None = None
    occurred_at: Timestamp = None
    data: dict[str, Any]


class PagerDutyWebhook(_Wire):
    """The body of a PagerDuty v3 webhook: ``{"event": {...}}``."""

    event: PagerDutyEvent


# --- nocai's generic JSON -----------------------------------------------------------------------------------


class GenericAlert(_Wire):
    """nocai's own minimal alert format, for senders without a dedicated adapter (one object or a list)."""

    alert_id: IdStr
    source: str | None = None
    title: Annotated[str, BeforeValidator(_strip)] = Field(min_length=1)
    description: str | None = None
    status: StatusField = "firing"
    severity: str | None = None
    impact: str | None = None
    urgency: str | None = None
    labels: StrMap = Field(default_factory=dict)
    annotations: StrMap = Field(default_factory=dict)
    affected_services: StrList = Field(default_factory=list)
    service: str | None = None
    component: str | None = None
    environment: str | None = None
    ts: Timestamp = None
    ends_at: Timestamp = None
    generator_url: str | None = None
    runbook_url: str | None = None


# --- the normalised alert ----------------------------------------------------------------------------------


class NormalizedAlert(BaseModel):
    """One alert, whatever sent it: the unit that triage, retrieval and the incident store work on.

    Built by :func:`ai_service.alerts.adapters.parse_alerts`; the field descriptions say where each value
    comes from in every format. ``fingerprint`` is filled in by :func:`alert_fingerprint` when not given.
    """

    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(
        min_length=1,
        description="Stable id of this alert episode, the same in its firing and resolved notifications. "
        "PagerDuty: the incident id; generic: the payload's alert_id; Alertmanager/Grafana (which have no "
        "alert id): '<fingerprint>@<startsAt in UTC, to the second>', so that a later re-fire of the same "
        "series is a new episode (just the fingerprint when startsAt is unset).",
    )
    source: AlertSource = Field(description="The format the alert arrived in.")
    origin: str | None = Field(
        default=None,
        description="The sending system as the generic format names it in its own `source` field "
        "(e.g. zabbix); None for the other formats, whose `source` already says it.",
    )
    status: AlertStatus = Field(
        description="firing or resolved. PagerDuty triggered and acknowledged incidents are firing."
    )
    title: str = Field(
        min_length=1,
        description="One line. Alertmanager/Grafana: annotations.summary, else the alertname label; "
        "PagerDuty: data.title; generic: title.",
    )
    description: str = Field(
        default="",
        description="Longer text, '' when there is none. Alertmanager/Grafana: annotations.description, "
        "else annotations.message; PagerDuty: data.description when it differs from the title; generic: "
        "description.",
    )
    severity: str | None = Field(
        default=None,
        description="Severity exactly as the source gave it: the severity (else priority) label; PagerDuty: "
        "priority.summary, else urgency; generic: severity.",
    )
    severity_normalized: Severity | None = Field(
        default=None,
        description="severity mapped to low|medium|high|critical (see adapters.normalize_severity); when "
        "it does not map, derived from ITSM impact/urgency where present; else None.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Identifying key/values. Alertmanager/Grafana: commonLabels overlaid by the alert's "
        "labels; PagerDuty: urgency, priority, incident_key, incident_number, service_id, "
        "escalation_policy, teams; generic: labels.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Descriptive key/values. Alertmanager/Grafana: commonAnnotations overlaid by the "
        "alert's annotations; PagerDuty: event_type, incident_status, event_id; generic: annotations.",
    )
    affected_services: list[str] = Field(
        default_factory=list,
        description="Services the alert concerns, `service` first, without duplicates.",
    )
    service: str | None = Field(
        default=None,
        description="The affected service: the first of the labels service, service_name, app, "
        "app_kubernetes_io_name, application, k8s_app, deployment, statefulset, daemonset, cronjob, the "
        "workload in pod (web-7c9d8f6b5-x2x9k -> web) or job_name, container, skipping values that name an "
        "exporter (kube-state-metrics, node-exporter); PagerDuty: data.service.summary; generic: service, else "
        "those labels, else affected_services[0].",
    )
    component: str | None = Field(
        default=None,
        description="Part of the service: labels component, app_kubernetes_io_component, subsystem; "
        "generic: component first.",
    )
    environment: str | None = Field(
        default=None,
        description="production, staging, development, qa, test, uat, preprod, sandbox, or the explicit "
        "label's own value. From labels environment/env/deployment_environment/stage, else a recognised "
        "token of the namespace or cluster label (payments-prod -> production).",
    )
    starts_at: AwareDatetime | None = Field(
        default=None,
        description="When the problem began (UTC). Alertmanager/Grafana: startsAt; PagerDuty: "
        "data.created_at, else the occurred_at of an event that does not resolve; generic: ts.",
    )
    ends_at: AwareDatetime | None = Field(
        default=None,
        description="When it ended (UTC), resolved alerts only: a firing Alertmanager alert's endsAt is an "
        "expiry, not an end. PagerDuty: occurred_at of the resolving event; generic: ends_at.",
    )
    generator_url: str | None = Field(
        default=None,
        description="Link to what raised the alert: generatorURL; PagerDuty: the incident's html_url; "
        "generic: generator_url.",
    )
    runbook_url: str | None = Field(
        default=None,
        description="annotations runbook_url / runbook / runbookURL / runbook_link; generic: runbook_url.",
    )
    links: dict[str, str] = Field(
        default_factory=dict,
        description="Other links by name: alertmanager (externalURL), dashboard, panel, silence, image "
        "(Grafana), incident and service (PagerDuty).",
    )
    fingerprint: str = Field(
        default="",
        description="Identity of the alert series across episodes; see ai_service.alerts.fingerprint.",
    )
    received_at: AwareDatetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When nocai received the payload (one value for all alerts of a payload).",
    )
    raw: dict[str, Any] = Field(
        default_factory=dict,
        description="This alert's own part of the payload, unchanged: the alerts[] entry (Alertmanager, "
        "Grafana), the whole webhook body (PagerDuty), the object (generic).",
    )

    @model_validator(mode="after")
    def _fill_fingerprint(self) -> Self:
        if not self.fingerprint:
            self.fingerprint = alert_fingerprint(self)
        return self
