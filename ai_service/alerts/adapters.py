"""Alert ingestion adapters: a webhook body in, a list of :class:`NormalizedAlert` out.

:func:`parse_alerts` reads the four formats nocai accepts, naming the format (any case) or detecting it:

* ``alertmanager`` - Prometheus Alertmanager webhook, version 4 (one notification group, ``alerts[]``);
* ``grafana`` - Grafana unified alerting webhook (the same shape plus ``orgId``, ``state``, ``title``,
  ``message`` and per-alert ``values``, ``valueString``, ``dashboardURL``, ``panelURL``, ``silenceURL``);
* ``pagerduty`` - PagerDuty v3 webhook (``{"event": {...}}``), one incident per event;
* ``generic`` - nocai's own JSON (``alert_id`` and ``title`` required), one object or a list of them.

:func:`parse_payload` is the same with the rest of the story: what a payload carried that gave no alert, as
:class:`IgnoredEvent` (kind, reason) - a PagerDuty ``pagey.ping`` or ``service.updated``, a note added to an
incident, the alerts an Alertmanager group left out (``truncatedAlerts``) - and how much text it repaired.

A payload that does not match raises :class:`AlertFormatError` whose message starts with the exact field
path (``alerts[2].labels: expected an object of strings, got list``) and whose hint says how to fix it. Shapes
of other senders that nocai does not read (Opsgenie, Sentry, Datadog, Zabbix, Uptime Kuma, Kubernetes events,
PagerDuty's Events API, Alertmanager's own alert API, legacy Grafana, PagerDuty v1/v2) are named as such.
Severity vocabularies are mapped by :func:`normalize_severity` and ITSM impact/urgency by
:func:`severity_from_impact_urgency`.

Input is read defensively, before any format is considered:

* a body over :data:`MAX_PAYLOAD_CHARS` (64 MiB) is refused; so is JSON nested deeper than :data:`MAX_DEPTH`
  (64), checked without recursion before the decoder runs; bytes must be UTF-8 (a BOM is allowed); the top
  level must be an object or a list, and a JSON string holding JSON (a body encoded twice) is named as such;
* control characters left unescaped inside JSON strings (a raw newline from a message template) are read as
  the characters they are;
* NUL characters (``\\u0000``) are removed from every string and key, and unpaired UTF-16 surrogates
  (``\\ud800`` alone) are replaced by U+FFFD: PostgreSQL text and jsonb can store neither, and refusing the
  whole payload for them would lose the alert. :attr:`ParsedPayload.text_repairs` counts both;
* what is kept of each alert is bounded (see :mod:`ai_service.alerts.models`: title 1 KiB, description and
  annotation values 64 KiB, label values 1 KiB, ``raw`` about 1 MiB); a cut value ends with "…" and is named
  in :attr:`NormalizedAlert.truncated`.

What this module must never do: touch the database, the network or the clock beyond stamping
``received_at``; guess silently (a payload that fits no format is an error that lists the supported ones);
let malformed input escape as anything but :class:`AlertFormatError`; or drop data without saying so (each
alert's own part of the payload is kept in ``raw``, within its bound, and every cut is named).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ai_service.alerts.fingerprint import labels_fingerprint
from ai_service.alerts.labels import (
    COMPONENT_LABELS,
    RUNBOOK_ANNOTATIONS,
    SEVERITY_LABELS,
    environment_from_labels,
    first_label,
    link_map,
    nonempty,
    normalize_severity,
    service_from_labels,
    severity_from_impact_urgency,
    severity_of,
    unique,
)
from ai_service.alerts.models import (
    MAX_DESCRIPTION_CHARS,
    MAX_LABEL_VALUE_CHARS,
    AlertmanagerWebhook,
    AlertSource,
    GenericAlert,
    GrafanaAlert,
    GrafanaWebhook,
    IgnoredEvent,
    NormalizedAlert,
    PagerDutyEvent,
    PagerDutyIncident,
    PagerDutyWebhook,
    ParsedPayload,
    clip_map,
)
from ai_service.alerts.payload import (
    FORMAT_HINTS,
    MAX_DEPTH,
    MAX_PAYLOAD_CHARS,
    SUPPORTED_FORMATS,
    canonical_format,
    decode,
    decode_payload,
    detect,
    detect_format,
    foreign_sender,
    format_error,
    problems,
    validate,
)
from ai_service.errors import AlertFormatError
from ai_service.textnorm import says_only_that_it_fired

__all__ = [
    "MAX_DEPTH",
    "MAX_PAYLOAD_CHARS",
    "SUPPORTED_FORMATS",
    "IgnoredEvent",
    "ParsedPayload",
    "canonical_format",
    "decode_payload",
    "detect_format",
    "environment_from_labels",
    "normalize_severity",
    "parse_alerts",
    "parse_payload",
    "severity_from_impact_urgency",
]

# --- Alertmanager and Grafana -------------------------------------------------------------------------------

_Parsed = tuple[list[NormalizedAlert], list[IgnoredEvent]]


def _episode_id(fingerprint: str, starts_at: datetime | None) -> str:
    return f"{fingerprint}@{starts_at:%Y-%m-%dT%H:%M:%SZ}" if starts_at else fingerprint


def _parse_alertmanager_like(data: Any, received_at: datetime, *, grafana: bool) -> _Parsed:
    fmt: AlertSource = "grafana" if grafana else "alertmanager"
    hook: AlertmanagerWebhook = validate(GrafanaWebhook if grafana else AlertmanagerWebhook, data, fmt)
    if not grafana and hook.version not in (None, "4"):
        raise AlertFormatError(
            f"version: expected '4', got {hook.version!r}",
            hint="nocai reads Alertmanager webhook version 4; a Grafana payload (version '1') is read as grafana: "
            "name that format (--format grafana in the CLI, POST /api/v1/alerts/grafana in the API) or leave "
            "it out to have it detected",
        )
    out: list[NormalizedAlert] = []
    for index, (alert, raw) in enumerate(zip(hook.alerts, data["alerts"], strict=True)):
        truncated: list[str] = []
        # Bounded before anything is derived from them, so that no value's size reaches the regexes below.
        labels = clip_map({**hook.common_labels, **alert.labels}, MAX_LABEL_VALUE_CHARS, "labels", truncated)
        annotations = clip_map(
            {**hook.common_annotations, **alert.annotations}, MAX_DESCRIPTION_CHARS, "annotations", truncated
        )
        # Some rule authors put the one-line summary in a label; it still names this instance better than
        # the alertname shared by the whole group.
        title = first_label(annotations, ("summary",)) or first_label(labels, ("summary", "alertname"))
        alertname = first_label(labels, ("alertname",))
        if title and alertname and alertname not in title and says_only_that_it_fired(title):
            # "This alert was triggered for zone eu-1" names no problem: lead with the rule's name.
            title = f"{alertname}: {title}"
        if not title:
            raise AlertFormatError(
                f"alerts[{index}].labels.alertname: missing, and there is no annotations.summary either, "
                "so the alert has no title",
                hint=FORMAT_HINTS[fmt],
            )
        severity, severity_normalized = severity_of(
            first_label(labels, SEVERITY_LABELS), labels.get("impact"), labels.get("urgency")
        )
        service = service_from_labels(labels)
        fingerprint = nonempty(alert.fingerprint) or labels_fingerprint(labels)
        links = link_map(alertmanager=hook.external_url)
        if isinstance(alert, GrafanaAlert):
            links.update(
                link_map(
                    dashboard=alert.dashboard_url,
                    panel=alert.panel_url,
                    silence=alert.silence_url,
                    image=alert.image_url,
                )
            )
        out.append(
            NormalizedAlert(
                alert_id=_episode_id(fingerprint, alert.starts_at),
                source=fmt,
                status=alert.status,
                title=title,
                description=first_label(annotations, ("description", "message")) or "",
                severity=severity,
                severity_normalized=severity_normalized,
                labels=labels,
                annotations=annotations,
                affected_services=unique([service]),
                service=service,
                component=first_label(labels, COMPONENT_LABELS),
                environment=environment_from_labels(labels),
                starts_at=alert.starts_at,
                ends_at=alert.ends_at if alert.status == "resolved" else None,
                generator_url=nonempty(alert.generator_url),
                runbook_url=first_label(annotations, RUNBOOK_ANNOTATIONS),
                links=links,
                fingerprint=fingerprint,
                received_at=received_at,
                raw=raw,
                truncated=truncated,
            )
        )
    ignored = []
    if hook.truncated_alerts:
        ignored.append(
            IgnoredEvent(
                kind="truncated_alerts",
                reason=f"the sender left {hook.truncated_alerts} more alert(s) of this group out of the payload "
                "(its max_alerts setting); nocai never received them",
            )
        )
    return out, ignored


def _parse_alertmanager(data: Any, received_at: datetime) -> _Parsed:
    return _parse_alertmanager_like(data, received_at, grafana=False)


def _parse_grafana(data: Any, received_at: datetime) -> _Parsed:
    return _parse_alertmanager_like(data, received_at, grafana=True)


# --- PagerDuty v3 ---------------------------------------------------------------------------------------------


def _pagerduty_ignored(event: PagerDutyEvent, data: dict[str, Any], data_type: Any) -> IgnoredEvent:
    kind = event.event_type
    if kind == "pagey.ping":
        return IgnoredEvent(kind=kind, reason="PagerDuty's test delivery (a ping); it carries no incident")
    if not kind.startswith("incident."):
        resource = event.resource_type or kind.split(".", 1)[0]
        return IgnoredEvent(
            kind=kind, reason=f"a {resource} event, not an incident one; nocai reads incident events only"
        )
    incident = data.get("incident")
    about = incident.get("id") if isinstance(incident, dict) else None
    return IgnoredEvent(
        kind=kind,
        reason=f"its data is {data_type!r}, not the incident itself"
        + (f" (incident {about})" if isinstance(about, str) and about else "")
        + "; it changes no alert state",
    )


def _parse_pagerduty(data: Any, received_at: datetime) -> _Parsed:
    hook = validate(PagerDutyWebhook, data, "pagerduty")
    event = hook.event
    about_incident = event.event_type.startswith("incident.") and event.resource_type in (None, "incident")
    if event.data is None and about_incident:
        raise AlertFormatError("event.data: missing", hint=FORMAT_HINTS["pagerduty"])
    event_data = event.data or {}
    data_type = event_data.get("type", "incident")
    if not about_incident or data_type != "incident":
        # pagey.ping, service.*, incident.annotated (an incident_note), responder events ...: no alert state.
        return [], [_pagerduty_ignored(event, event_data, data_type)]
    incident = validate(PagerDutyIncident, event_data, "pagerduty", prefix=("event", "data"))
    priority = incident.priority.summary if incident.priority else None
    urgency = nonempty(incident.urgency)
    service = nonempty(incident.service.summary) if incident.service else None
    resolved = incident.status == "resolved" or event.event_type == "incident.resolved"
    labels = {
        "urgency": urgency,
        "priority": nonempty(priority),
        "incident_key": nonempty(incident.incident_key),
        "incident_number": str(incident.number) if incident.number is not None else None,
        "service_id": incident.service.id if incident.service else None,
        "escalation_policy": incident.escalation_policy.summary if incident.escalation_policy else None,
        "teams": ",".join(unique(t.summary for t in incident.teams)) or None,
    }
    annotations = {
        "event_type": event.event_type,
        "incident_status": incident.status,
        "event_id": event.id,
    }
    description = incident.model_extra.get("description") if incident.model_extra else None
    if not isinstance(description, str) or description.strip() == incident.title:
        description = ""
    alert = NormalizedAlert(
        alert_id=incident.id,
        source="pagerduty",
        status="resolved" if resolved else "firing",
        title=incident.title,
        description=description.strip(),
        severity=nonempty(priority) or urgency,
        severity_normalized=normalize_severity(priority) or normalize_severity(urgency),
        labels={k: v for k, v in labels.items() if v},
        annotations={k: v for k, v in annotations.items() if v},
        affected_services=unique([service]),
        service=service,
        starts_at=incident.created_at or (event.occurred_at if not resolved else None),
        ends_at=event.occurred_at if resolved else None,
        generator_url=nonempty(incident.html_url),
        links=link_map(
            incident=incident.html_url,
            service=incident.service.html_url if incident.service else None,
        ),
        received_at=received_at,
        raw=data,
    )
    return [alert], []


# --- generic ------------------------------------------------------------------------------------------------

_GENERIC_LIST = TypeAdapter(list[GenericAlert])


def _parse_generic(data: Any, received_at: datetime) -> _Parsed:
    if isinstance(data, list):
        if not data:
            raise AlertFormatError("payload: an empty list holds no alerts", hint="send at least one generic alert")
        try:
            items = _GENERIC_LIST.validate_python(data)
        except ValidationError as exc:
            raise format_error(problems(exc), "generic") from None
        raws: list[Any] = data
    else:
        items = [validate(GenericAlert, data, "generic")]
        raws = [data]
    out = []
    for item, raw in zip(items, raws, strict=True):
        truncated: list[str] = []
        labels = clip_map(item.labels, MAX_LABEL_VALUE_CHARS, "labels", truncated)
        annotations = clip_map(item.annotations, MAX_DESCRIPTION_CHARS, "annotations", truncated)
        service = (
            nonempty(item.service) or service_from_labels(labels) or next(iter(unique(item.affected_services)), None)
        )
        severity, severity_normalized = severity_of(
            nonempty(item.severity) or first_label(labels, SEVERITY_LABELS),
            item.impact or labels.get("impact"),
            item.urgency or labels.get("urgency"),
        )
        out.append(
            NormalizedAlert(
                alert_id=item.alert_id,
                source="generic",
                origin=nonempty(item.source),
                status=item.status,
                title=item.title,
                description=(item.description or "").strip(),
                severity=severity,
                severity_normalized=severity_normalized,
                labels=labels,
                annotations=annotations,
                affected_services=unique([service, *item.affected_services]),
                service=service,
                component=nonempty(item.component) or first_label(labels, COMPONENT_LABELS),
                environment=nonempty(item.environment) or environment_from_labels(labels),
                starts_at=item.ts,
                ends_at=item.ends_at if item.status == "resolved" else None,
                generator_url=nonempty(item.generator_url),
                runbook_url=nonempty(item.runbook_url) or first_label(annotations, RUNBOOK_ANNOTATIONS),
                received_at=received_at,
                raw=raw,
                truncated=truncated,
            )
        )
    return out, []


# --- entry point --------------------------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[Any, datetime], _Parsed]] = {
    "alertmanager": _parse_alertmanager,
    "grafana": _parse_grafana,
    "pagerduty": _parse_pagerduty,
    "generic": _parse_generic,
}


def parse_payload(
    payload: dict[str, Any] | list[Any] | str | bytes,
    format: str | None = None,
    *,
    received_at: datetime | None = None,
) -> ParsedPayload:
    """Read a webhook body: its alerts, and what it carried that gave no alert (with the reason).

    ``format`` is one of :data:`SUPPORTED_FORMATS` in any case; ``None`` detects it. ``received_at`` (default:
    now, UTC) stamps every alert of the payload. A PagerDuty event without incident state (``pagey.ping``,
    ``service.updated``, ``incident.annotated`` ...) gives no alert and one :class:`IgnoredEvent`, as do
    alerts an Alertmanager or Grafana group says it left out (``truncatedAlerts``). Raises
    :class:`AlertFormatError`.
    """
    data, repairs = decode(payload)
    fmt = detect(data) if format is None else canonical_format(format)
    stamp = received_at or datetime.now(UTC)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    try:
        alerts, ignored = _PARSERS[fmt](data, stamp)
    except AlertFormatError as exc:
        foreign = foreign_sender(data) if format is not None else None
        if foreign is None:
            raise
        raise AlertFormatError(f"{exc.message} (the payload looks like {foreign[0]})", hint=foreign[1]) from None
    return ParsedPayload(format=fmt, alerts=alerts, ignored=ignored, text_repairs=repairs)


def parse_alerts(
    payload: dict[str, Any] | list[Any] | str | bytes,
    format: str | None = None,
    *,
    received_at: datetime | None = None,
) -> list[NormalizedAlert]:
    """Parse a webhook body into normalised alerts, one per alert it carries.

    ``format`` is one of :data:`SUPPORTED_FORMATS` (case-insensitive); ``None`` detects it. ``received_at``
    (default: now, UTC) stamps every alert of the payload. A PagerDuty event that carries no incident state
    (``pagey.ping``, ``incident.annotated`` ...) gives an empty list; :func:`parse_payload` says what was ignored
    and why. Raises :class:`AlertFormatError`.
    """
    return parse_payload(payload, format, received_at=received_at).alerts
