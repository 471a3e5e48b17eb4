"""The shapes of alerts: what the senders post (wire models) and the one alert nocai works with.

:class:`NormalizedAlert` is the single, source-independent alert that triage, retrieval and the incident store
consume. The wire models (``Alertmanager*``, ``Grafana*``, ``PagerDuty*``, ``GenericAlert``) describe the
payloads as the senders publish them; they exist so that pydantic checks every field and reports where a
payload is malformed, and :mod:`ai_service.alerts.adapters` turns its errors into :class:`AlertFormatError`
messages that name the field path.

Wire models accept (and ignore) fields they do not know, because senders add fields between versions; the
unknown fields are still kept in :attr:`NormalizedAlert.raw`. Label and annotation maps accept numbers and
booleans as values (converted to strings), treat a ``null`` value as an absent key, as Prometheus treats an
empty label, and read an empty list ``[]`` as an empty map (what PHP-style encoders write for an empty object);
anything else that is not a string is an error at the exact key.

What nocai keeps of an alert is bounded, whatever the sender puts in it (:class:`NormalizedAlert` enforces it):

======================================  =====================================================================
title                                   :data:`MAX_TITLE_CHARS` (1,024) characters
description, each annotation value      :data:`MAX_DESCRIPTION_CHARS` (65,536) characters
each label value, other short fields    :data:`MAX_LABEL_VALUE_CHARS` (1,024) characters (ids, severity,
                                        service, component, environment, origin)
links and URLs                          :data:`MAX_URL_CHARS` (4,096) characters
label and annotation names              :data:`MAX_KEY_CHARS` (256) characters
entries per label or annotation map     :data:`MAX_MAP_ENTRIES` (512), the first ones in payload order
``raw``                                 about :data:`MAX_RAW_CHARS` (1 Mi) characters of JSON; strings in it
                                        are cut at 65,536 characters, and past the budget, breadth-first,
                                        values become the ellipsis
======================================  =====================================================================

A value that is cut ends with :data:`ELLIPSIS` ("…", so it is at most its limit long) and its field is named in
:attr:`NormalizedAlert.truncated` (``"description"``, ``"labels.<name>"``, ``"raw"`` ...). Label and annotation
values are stored verbatim within these bounds and never interpreted (no templating, no evaluation).

What this module must never do: parse formats (that is the adapters' job), touch the database or the network,
or hold anything but data and its validation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
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
from ai_service.vocabulary import Severity

AlertSource = Literal["alertmanager", "grafana", "pagerduty", "generic"]
AlertStatus = Literal["firing", "resolved"]


def json_type_name(value: object) -> str:
    """Name a decoded JSON value's type the way error messages should ("list", "object", "null" ...)."""
    return type_name(value, style="json")


# --- reusable field types ----------------------------------------------------------------------------------


def _str_map(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, list) and not value:
        return {}  # an empty object as PHP and some hand-written senders encode it
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


def _optional_status(value: Any) -> Any:
    value = _lower_str(value)
    return None if value == "" else value


StatusField = Annotated[AlertStatus, BeforeValidator(_lower_str)]
OptionalStatusField = Annotated[AlertStatus | None, BeforeValidator(_optional_status)]
"""A group's status: ``""`` and ``null`` mean "not given" (the adapters derive it from the alerts)."""
IdStr = Annotated[str, BeforeValidator(_id_str), Field(min_length=1)]
KeyStr = Annotated[str | None, BeforeValidator(_id_str)]
"""An opaque key that some senders write as a number (``groupKey``); kept as a string."""


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
    group_key: KeyStr = Field(default=None, alias="groupKey")
    truncated_alerts: int | None = Field(default=None, alias="truncatedAlerts")
    status: OptionalStatusField = None
    receiver: str | None = None
    group_labels: StrMap = Field(default_factory=dict, alias="groupLabels")
    common_labels: StrMap = Field(default_factory=dict, alias="commonLabels")
    common_annotations: StrMap = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str | None = Field(default=None, alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(min_length=1)

    @model_validator(mode="after")
    def _derive_status(self) -> Self:
        # The group's status only summarises its alerts; a sender that leaves it empty loses nothing.
        if self.status is None:
            self.status = "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"
        return self


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
    data: dict[str, Any] | None = None  # required of incident events only (a ping may leave it out)


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


# --- bounds ---------------------------------------------------------------------------------------------------

MAX_TITLE_CHARS = 1024
MAX_DESCRIPTION_CHARS = 65_536
MAX_LABEL_VALUE_CHARS = 1024
MAX_URL_CHARS = 4096
MAX_KEY_CHARS = 256
MAX_MAP_ENTRIES = 512
MAX_RAW_CHARS = 1_048_576
MAX_AFFECTED_SERVICES = 64
ELLIPSIS = "\u2026"
"""What ends a value nocai cut to its limit."""


def clip(value: str, limit: int) -> tuple[str, bool]:
    """``value`` cut to at most ``limit`` characters, the last one :data:`ELLIPSIS`; and whether it was cut."""
    if len(value) <= limit:
        return value, False
    return value[: limit - 1] + ELLIPSIS, True


def clip_map(mapping: Mapping[str, str], value_limit: int, field: str, truncated: list[str]) -> dict[str, str]:
    """A label or annotation map within the bounds; every cut is named in ``truncated`` (``field.<name>``)."""
    out: dict[str, str] = {}
    for index, (key, value) in enumerate(mapping.items()):
        if index >= MAX_MAP_ENTRIES:
            _note(truncated, field)
            break
        name, cut_name = clip(key, MAX_KEY_CHARS)
        text, cut_value = clip(value, value_limit)
        if cut_name or cut_value:
            _note(truncated, f"{field}.{name}")
        out[name] = text
    return out


def _note(truncated: list[str], name: str) -> None:
    if name not in truncated:
        truncated.append(name)


def bound_json(value: Any, *, max_chars: int, max_string: int) -> tuple[Any, bool]:
    """A copy of decoded JSON within about ``max_chars`` characters; and whether anything was cut.

    Strings (and object keys) longer than ``max_string`` are cut with :data:`ELLIPSIS`. The copy is made
    breadth-first, so the top-level fields come first; once the budget is spent, every value not yet copied
    becomes the ellipsis and no further keys or items are added. Iterative, so any depth is safe.
    """
    cut = False
    used = 0
    holder: list[Any] = [None]
    queue: deque[tuple[Any, Any, Any]] = deque([(value, holder, 0)])
    while queue:
        source, parent, slot = queue.popleft()
        if used > max_chars:
            parent[slot] = ELLIPSIS
            cut = True
            continue
        if isinstance(source, dict):
            copied: dict[Any, Any] = {}
            parent[slot] = copied
            used += 2
            for key, item in source.items():
                if used > max_chars:
                    cut = True
                    break
                if isinstance(key, str):
                    key, cut_key = clip(key, max_string)
                    cut = cut or cut_key
                used += len(str(key)) + 4
                copied[key] = None
                queue.append((item, copied, key))
        elif isinstance(source, list | tuple):
            items: list[Any] = []
            parent[slot] = items
            used += 2
            for item in source:
                if used > max_chars:
                    cut = True
                    break
                items.append(None)
                used += 2
                queue.append((item, items, len(items) - 1))
        elif isinstance(source, str):
            text, cut_text = clip(source, max_string)
            cut = cut or cut_text
            used += len(text) + 2
            parent[slot] = text
        else:
            used += 8
            parent[slot] = source
    return holder[0], cut


def _bound_alert_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Clip every text field of a NormalizedAlert's input to its bound, naming each cut in ``truncated``."""
    data = dict(data)
    truncated: list[str] = list(data.get("truncated") or [])
    limits = {
        "title": MAX_TITLE_CHARS,
        "description": MAX_DESCRIPTION_CHARS,
        "alert_id": MAX_LABEL_VALUE_CHARS,
        "origin": MAX_LABEL_VALUE_CHARS,
        "severity": MAX_LABEL_VALUE_CHARS,
        "service": MAX_LABEL_VALUE_CHARS,
        "component": MAX_LABEL_VALUE_CHARS,
        "environment": MAX_LABEL_VALUE_CHARS,
        "fingerprint": MAX_LABEL_VALUE_CHARS,
        "generator_url": MAX_URL_CHARS,
        "runbook_url": MAX_URL_CHARS,
    }
    for name, limit in limits.items():
        value = data.get(name)
        if isinstance(value, str):
            data[name], cut = clip(value, limit)
            if cut:
                _note(truncated, name)
    for name, limit in (("labels", MAX_LABEL_VALUE_CHARS), ("annotations", MAX_DESCRIPTION_CHARS)):
        value = data.get(name)
        if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
            data[name] = clip_map(value, limit, name, truncated)
    links = data.get("links")
    if isinstance(links, Mapping) and all(isinstance(v, str) for v in links.values()):
        data["links"] = clip_map(links, MAX_URL_CHARS, "links", truncated)
    services = data.get("affected_services")
    if isinstance(services, list) and all(isinstance(v, str) for v in services):
        if len(services) > MAX_AFFECTED_SERVICES:
            _note(truncated, "affected_services")
        kept = []
        for service in services[:MAX_AFFECTED_SERVICES]:
            text, cut = clip(service, MAX_LABEL_VALUE_CHARS)
            if cut:
                _note(truncated, "affected_services")
            kept.append(text)
        data["affected_services"] = kept
    raw = data.get("raw")
    if isinstance(raw, dict):
        data["raw"], cut = bound_json(raw, max_chars=MAX_RAW_CHARS, max_string=MAX_DESCRIPTION_CHARS)
        if cut:
            _note(truncated, "raw")
    data["truncated"] = truncated
    return data


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
        description="One line. Alertmanager/Grafana: annotations.summary (after the alertname when the summary "
        "only says that the alert fired), else the alertname label; "
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
        description="This alert's own part of the payload, unchanged within the bounds of the module "
        "docstring: the alerts[] entry (Alertmanager, Grafana), the whole webhook body (PagerDuty), the object "
        "(generic).",
    )
    truncated: list[str] = Field(
        default_factory=list,
        description="The fields nocai cut to its bounds (see the module docstring), e.g. 'description', "
        "'labels.instance', 'raw'; empty when everything was kept whole.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bound(cls, data: Any) -> Any:
        return _bound_alert_fields(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _fill_fingerprint(self) -> Self:
        if not self.fingerprint:
            self.fingerprint = alert_fingerprint(self)
        return self


# --- what a payload gave ------------------------------------------------------------------------------------


class IgnoredEvent(BaseModel):
    """Something a payload carried that is not an alert, and why nocai did not make one of it."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(
        description="What it was: the sender's event type (pagey.ping, service.updated ...) or "
        "'truncated_alerts' for alerts the sender left out of the payload."
    )
    reason: str = Field(description="One sentence: why it gave no alert.")


class ParsedPayload(BaseModel):
    """Everything :func:`ai_service.alerts.adapters.parse_payload` read from one webhook body."""

    format: AlertSource = Field(description="The format the payload was read as (named or detected).")
    alerts: list[NormalizedAlert] = Field(default_factory=list, description="One per alert the payload carries.")
    ignored: list[IgnoredEvent] = Field(
        default_factory=list, description="What the payload carried that gave no alert, with the reason."
    )
    text_repairs: int = Field(
        default=0,
        description="NUL characters removed plus unpaired UTF-16 surrogates replaced by U+FFFD, over the whole "
        "payload (PostgreSQL text can hold neither).",
    )
