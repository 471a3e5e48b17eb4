"""Alert ingestion adapters: a webhook body in, a list of :class:`NormalizedAlert` out.

:func:`parse_alerts` reads the four formats nocai accepts, naming the format or detecting it:

* ``alertmanager`` - Prometheus Alertmanager webhook, version 4 (one notification group, ``alerts[]``);
* ``grafana`` - Grafana unified alerting webhook (the same shape plus ``orgId``, ``state``, ``title``,
  ``message`` and per-alert ``values``, ``valueString``, ``dashboardURL``, ``panelURL``, ``silenceURL``);
* ``pagerduty`` - PagerDuty v3 webhook (``{"event": {...}}``), one incident per event;
* ``generic`` - nocai's own JSON (``alert_id`` and ``title`` required), one object or a list of them.

A payload that does not match raises :class:`AlertFormatError` whose message starts with the exact field
path (``alerts[2].labels: expected an object of strings, got list``) and whose hint says how to fix it.
Severity vocabularies are mapped by :func:`normalize_severity` and ITSM impact/urgency by
:func:`severity_from_impact_urgency`.

What this module must never do: touch the database, the network or the clock beyond stamping
``received_at``; guess silently (a payload that fits no format is an error that lists the supported ones); or
drop data (each alert's own part of the payload is kept in ``raw``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from ai_service.alerts.fingerprint import labels_fingerprint
from ai_service.alerts.models import (
    AlertmanagerWebhook,
    AlertSource,
    GenericAlert,
    GrafanaAlert,
    GrafanaWebhook,
    NormalizedAlert,
    PagerDutyIncident,
    PagerDutyWebhook,
    Severity,
    json_type_name,
)
from ai_service.errors import AlertFormatError

__all__ = [
    "SUPPORTED_FORMATS",
    "decode_payload",
    "detect_format",
    "environment_from_labels",
    "normalize_severity",
    "parse_alerts",
    "severity_from_impact_urgency",
]

SUPPORTED_FORMATS: tuple[str, ...] = ("alertmanager", "grafana", "pagerduty", "generic")

_FORMAT_SUMMARY = (
    "alertmanager (an object with 'alerts' and version '4'), grafana (the same with 'orgId'/'state'), "
    "pagerduty (a v3 webhook: {\"event\": {...}}), generic (an object with 'alert_id' and 'title', or a "
    "list of them)"
)

_HINTS: dict[str, str] = {
    "alertmanager": "send the Alertmanager webhook body unchanged: each alerts[] entry needs status "
    "('firing' or 'resolved') and labels (strings, including alertname); timestamps are RFC 3339",
    "grafana": "send the Grafana webhook contact point's body unchanged: each alerts[] entry needs status "
    "and labels (strings, including alertname); timestamps are RFC 3339",
    "pagerduty": 'send the PagerDuty v3 webhook body unchanged ({"event": {"event_type": ..., "data": '
    '{"id", "title", "status", ...}}}); v1/v2 webhooks are not supported',
    "generic": "each generic alert is an object with a non-empty alert_id and title; optional: source, "
    "description, status ('firing'|'resolved'), severity, labels and annotations (objects of strings), "
    "affected_services (a list of strings), ts (RFC 3339 or epoch seconds)",
}

_MAX_PROBLEMS = 5


# --- severity ----------------------------------------------------------------------------------------------

_SEVERITY_WORDS: dict[str, Severity] = {}
for _level, _words in (
    (
        "critical",
        "critical crit page p0 p1 sev0 sev1 s0 s1 disaster emergency emerg fatal blocker highest",
    ),
    ("high", "error err major high p2 sev2 s2"),
    ("medium", "warning warn minor medium moderate average p3 sev3 s3"),
    ("low", "info information informational notice low lowest p4 p5 sev4 sev5 s4 s5 debug planning trivial"),
):
    for _word in _words.split():
        _SEVERITY_WORDS[_word] = _level  # type: ignore[assignment]

_COMPACT = re.compile(r"[\s_\-.]+")
_PARTS = re.compile(r"\s*[-\u2013:/()]\s*|\s+")
_ITSM_LEVEL = re.compile(r"^\s*([1-5])\b")
_ITSM_WORDS = {"critical": 1, "high": 1, "medium": 2, "moderate": 2, "low": 3, "planning": 3}
_BY_SUM: dict[int, Severity] = {2: "critical", 3: "high", 4: "medium", 5: "low", 6: "low"}
_BY_LEVEL: dict[int, Severity] = {1: "high", 2: "medium", 3: "low"}


def normalize_severity(value: str | None) -> Severity | None:
    """Map a source's severity word to ``low|medium|high|critical``; ``None`` when it does not map.

    critical/crit/page/P0/P1/sev1/disaster/emergency -> critical; error/major/high/P2/sev2 -> high;
    warning/warn/minor/medium/moderate/average/P3 -> medium; info/notice/low/P4/P5/debug -> low. Case,
    spaces, '-' and '_' do not matter (``SEV-1``, ``Sev 1``). ITSM values such as ``1 - High`` or
    ``P1 - Critical`` map by their word. Anything else (``none``, ``unknown``, a bare number) is ``None``.
    """
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    whole = _SEVERITY_WORDS.get(_COMPACT.sub("", text))
    if whole:
        return whole
    for part in reversed([p for p in _PARTS.split(text) if p]):
        level = _SEVERITY_WORDS.get(_COMPACT.sub("", part))
        if level:
            return level
    return None


def _itsm_level(value: str | None) -> int | None:
    if not value:
        return None
    match = _ITSM_LEVEL.match(value)
    if match:
        return min(int(match.group(1)), 3)
    for part in _PARTS.split(value.strip().lower()):
        if part in _ITSM_WORDS:
            return _ITSM_WORDS[part]
    return None


def severity_from_impact_urgency(impact: str | None, urgency: str | None) -> Severity | None:
    """Severity from ITSM impact and urgency (``1 - High``, ``2 - Medium``, ``3 - Low`` or the bare words).

    Both given: the usual priority matrix (1/1 critical; 1/2, 2/1 high; 1/3, 2/2, 3/1 medium; else low).
    One given: 1 high, 2 medium, 3 low. Neither understood: ``None``.
    """
    i, u = _itsm_level(impact), _itsm_level(urgency)
    if i and u:
        return _BY_SUM[i + u]
    if i or u:
        return _BY_LEVEL[i or u or 3]
    return None


def _severity(severity: str | None, impact: str | None, urgency: str | None) -> tuple[str | None, Severity | None]:
    return severity, normalize_severity(severity) or severity_from_impact_urgency(impact, urgency)


# --- labels -> service, component, environment --------------------------------------------------------------

_SERVICE_LABELS = (
    "service",
    "service_name",
    "app",
    "app_kubernetes_io_name",
    "application",
    "k8s_app",
    "deployment",
    "statefulset",
    "daemonset",
    "cronjob",
)
# In kube-prometheus the `service` (and `container`) label often names the scrape target (kube-state-metrics,
# node-exporter), not the service in trouble; such values are skipped.
_EXPORTER_SERVICE = re.compile(r"kube-state-metrics|exporter|^kubelet$|^cadvisor$", re.IGNORECASE)
_COMPONENT_LABELS = ("component", "app_kubernetes_io_component", "subsystem")
_ENVIRONMENT_LABELS = ("environment", "env", "deployment_environment", "stage")
_ENVIRONMENT_HINT_LABELS = ("namespace", "cluster")
_ENVIRONMENT_ALIASES = {
    "prod": "production",
    "prd": "production",
    "production": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "dev": "development",
    "development": "development",
    "qa": "qa",
    "test": "test",
    "testing": "test",
    "tst": "test",
    "uat": "uat",
    "preprod": "preprod",
    "preproduction": "preprod",
    "sandbox": "sandbox",
    "sbx": "sandbox",
}
_PREPROD = re.compile(r"pre[-_.]?prod", re.IGNORECASE)
_ENV_TOKENS = re.compile(r"[-_.\s/]+")
_RUNBOOK_ANNOTATIONS = ("runbook_url", "runbook", "runbookURL", "runbook_link", "runbookUrl")
_SEVERITY_LABELS = ("severity", "priority")


def _first(mapping: Mapping[str, str], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = mapping.get(key)
        if value and value.strip():
            return value.strip()
    return None


# Workload names inside generated names: <workload>-<replicaset hash>-<suffix>, <workload>-<suffix> (pods),
# <cronjob>-<scheduled minute> (jobs).
_GENERATED_NAME = re.compile(
    r"^(?P<base>[a-z0-9]+(?:-[a-z0-9]+)*?)"
    r"(?:-(?=[a-z]*\d)[a-z0-9]{5,10}-[a-z0-9]{5}|-(?=[bcdfghjklmnpqrstvwxz]*\d)[bcdfghjklmnpqrstvwxz2456789]{5}|-\d{6,})$"
)


def _workload(name: str | None) -> str | None:
    match = _GENERATED_NAME.match(name or "")
    return match.group("base") if match else None


def _service_from_labels(labels: Mapping[str, str]) -> str | None:
    """The affected service named by the labels, skipping values that name an exporter (see above)."""
    candidates = [labels.get(key) for key in _SERVICE_LABELS]
    candidates += [_workload(labels.get("pod")), _workload(labels.get("job_name")), labels.get("container")]
    for value in candidates:
        value = (value or "").strip()
        if value and not _EXPORTER_SERVICE.search(value):
            return value
    return None


def _environment_token(value: str) -> str | None:
    text = _PREPROD.sub("preprod", value.lower())
    for token in _ENV_TOKENS.split(text):
        if token in _ENVIRONMENT_ALIASES:
            return _ENVIRONMENT_ALIASES[token]
    return None


def environment_from_labels(labels: Mapping[str, str]) -> str | None:
    """Environment from explicit labels (canonicalised when recognised), else a namespace/cluster token."""
    explicit = _first(labels, _ENVIRONMENT_LABELS)
    if explicit:
        return _ENVIRONMENT_ALIASES.get(explicit.lower()) or _environment_token(explicit) or explicit
    for key in _ENVIRONMENT_HINT_LABELS:
        value = labels.get(key)
        if value:
            found = _environment_token(value)
            if found:
                return found
    return None


def _unique(values: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value.strip():
            seen.setdefault(value.strip(), None)
    return list(seen)


def _nonempty(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _links(**candidates: str | None) -> dict[str, str]:
    return {name: url.strip() for name, url in candidates.items() if url and url.strip()}


# --- decoding, detection and errors --------------------------------------------------------------------------


def decode_payload(payload: dict[str, Any] | list[Any] | str | bytes) -> dict[str, Any] | list[Any]:
    """Return the payload as decoded JSON (an object or a list); strings and bytes are parsed as JSON."""
    if isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
        try:
            payload = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AlertFormatError(
                f"payload: not UTF-8 text (invalid byte at offset {exc.start})",
                hint="send the webhook body as UTF-8 encoded JSON",
            ) from exc
    if isinstance(payload, str):
        if not payload.strip():
            raise AlertFormatError("payload: empty", hint="send a JSON object or a JSON list of alerts")
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise AlertFormatError(
                f"payload: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                hint="check the body at that position (a missing comma or quote, a trailing comma, "
                "single quotes instead of double quotes); validate it with `python -m json.tool`",
            ) from exc
    if not isinstance(payload, dict | list):
        raise AlertFormatError(
            f"payload: expected a JSON object or list, got {json_type_name(payload)}",
            hint=f"supported formats: {_FORMAT_SUMMARY}",
        )
    return payload


_GRAFANA_TOP_KEYS = ("orgId", "state", "title", "message")
_GRAFANA_ALERT_KEYS = ("values", "valueString", "dashboardURL", "panelURL", "silenceURL")


def _looks_grafana(data: Mapping[str, Any]) -> bool:
    if any(key in data for key in _GRAFANA_TOP_KEYS):
        return True
    alerts = data.get("alerts")
    if isinstance(alerts, list):
        return any(isinstance(a, dict) and any(k in a for k in _GRAFANA_ALERT_KEYS) for a in alerts)
    return False


def detect_format(payload: dict[str, Any] | list[Any] | str | bytes) -> str:
    """Name the format of ``payload`` (one of :data:`SUPPORTED_FORMATS`), or raise :class:`AlertFormatError`."""
    data = decode_payload(payload)
    if isinstance(data, list):
        if not data:
            raise AlertFormatError(
                "payload: an empty list holds no alerts",
                hint="send at least one alert; a list is read as generic alerts",
            )
        return "generic"
    if isinstance(data.get("event"), dict):
        return "pagerduty"
    if "alerts" in data:
        return "grafana" if _looks_grafana(data) else "alertmanager"
    if "alert_id" in data:
        return "generic"
    if "messages" in data:
        raise AlertFormatError(
            "payload: looks like a PagerDuty v1/v2 webhook ('messages'), which is not supported",
            hint="create a PagerDuty v3 webhook subscription for nocai instead",
        )
    if "evalMatches" in data or "ruleName" in data:
        raise AlertFormatError(
            "payload: looks like a legacy Grafana alerting webhook ('ruleName'/'evalMatches'), which is not supported",
            hint="use Grafana unified alerting with a webhook contact point",
        )
    keys = ", ".join(sorted(map(str, data))[:12]) or "none"
    raise AlertFormatError(
        f"payload: cannot tell which alert format this is (top-level keys: {keys}); "
        f"supported formats: {_FORMAT_SUMMARY}",
        hint="pass format= (one of " + ", ".join(SUPPORTED_FORMATS) + ") to parse it as that format and see "
        "precisely which fields do not match",
    )


def _field_path(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path or "payload"


def _got(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    return json_type_name(value)


_EXPECTED = {
    "string_type": "a string",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "missing"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_got(value)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {_got(value)}"
    if kind == "string_too_short":
        return f"expected a non-empty string, got {_got(value)}"
    if kind == "too_short":
        if ctx.get("min_length", 1) == 1:
            return "expected a non-empty list, got an empty list"
        return f"expected at least {ctx.get('min_length')} items, got {ctx.get('actual_length')}"
    message = str(error.get("msg", kind))
    return message[:1].lower() + message[1:]


def _problems(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[str]:
    return [f"{_field_path(prefix + tuple(err['loc']))}: {_describe(err)}" for err in exc.errors(include_url=False)]


def _format_error(problems: list[str], fmt: str) -> AlertFormatError:
    message = problems[0]
    rest = problems[1:_MAX_PROBLEMS]
    if rest:
        more = len(problems) - 1
        message += f" (and {more} more: " + "; ".join(rest) + ("; ..." if more > len(rest) else "") + ")"
    return AlertFormatError(message, hint=_HINTS[fmt])


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: Any, fmt: str, prefix: tuple[int | str, ...] = ()) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _format_error(_problems(exc, prefix), fmt) from None


# --- Alertmanager and Grafana -------------------------------------------------------------------------------


def _episode_id(fingerprint: str, starts_at: datetime | None) -> str:
    return f"{fingerprint}@{starts_at:%Y-%m-%dT%H:%M:%SZ}" if starts_at else fingerprint


def _parse_alertmanager_like(data: Any, received_at: datetime, *, grafana: bool) -> list[NormalizedAlert]:
    fmt: AlertSource = "grafana" if grafana else "alertmanager"
    hook: AlertmanagerWebhook = _validate(GrafanaWebhook if grafana else AlertmanagerWebhook, data, fmt)
    if not grafana and hook.version not in (None, "4"):
        raise AlertFormatError(
            f"version: expected '4', got {hook.version!r}",
            hint="nocai reads Alertmanager webhook version 4; a Grafana payload (version '1') parses with "
            "format='grafana'",
        )
    out: list[NormalizedAlert] = []
    for index, (alert, raw) in enumerate(zip(hook.alerts, data["alerts"], strict=True)):
        labels = {**hook.common_labels, **alert.labels}
        annotations = {**hook.common_annotations, **alert.annotations}
        title = _first(annotations, ("summary",)) or _first(labels, ("alertname",))
        if not title:
            raise AlertFormatError(
                f"alerts[{index}].labels.alertname: missing, and there is no annotations.summary either, "
                "so the alert has no title",
                hint=_HINTS[fmt],
            )
        severity, severity_normalized = _severity(
            _first(labels, _SEVERITY_LABELS), labels.get("impact"), labels.get("urgency")
        )
        service = _service_from_labels(labels)
        fingerprint = _nonempty(alert.fingerprint) or labels_fingerprint(labels)
        links = _links(alertmanager=hook.external_url)
        if isinstance(alert, GrafanaAlert):
            links.update(
                _links(
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
                description=_first(annotations, ("description", "message")) or "",
                severity=severity,
                severity_normalized=severity_normalized,
                labels=labels,
                annotations=annotations,
                affected_services=_unique([service]),
                service=service,
                component=_first(labels, _COMPONENT_LABELS),
                environment=environment_from_labels(labels),
                starts_at=alert.starts_at,
                ends_at=alert.ends_at if alert.status == "resolved" else None,
                generator_url=_nonempty(alert.generator_url),
                runbook_url=_first(annotations, _RUNBOOK_ANNOTATIONS),
                links=links,
                fingerprint=fingerprint,
                received_at=received_at,
                raw=raw,
            )
        )
    return out


def _parse_alertmanager(data: Any, received_at: datetime) -> list[NormalizedAlert]:
    return _parse_alertmanager_like(data, received_at, grafana=False)


def _parse_grafana(data: Any, received_at: datetime) -> list[NormalizedAlert]:
    return _parse_alertmanager_like(data, received_at, grafana=True)


# --- PagerDuty v3 ---------------------------------------------------------------------------------------------


def _parse_pagerduty(data: Any, received_at: datetime) -> list[NormalizedAlert]:
    hook = _validate(PagerDutyWebhook, data, "pagerduty")
    event = hook.event
    data_type = event.data.get("type", "incident")
    if (
        not event.event_type.startswith("incident.")
        or event.resource_type not in (None, "incident")
        or data_type != "incident"
    ):
        # pagey.ping, incident.annotated (an incident_note), responder events ...: no alert state to read.
        return []
    incident = _validate(PagerDutyIncident, event.data, "pagerduty", prefix=("event", "data"))
    priority = incident.priority.summary if incident.priority else None
    urgency = _nonempty(incident.urgency)
    service = _nonempty(incident.service.summary) if incident.service else None
    resolved = incident.status == "resolved" or event.event_type == "incident.resolved"
    labels = {
        "urgency": urgency,
        "priority": _nonempty(priority),
        "incident_key": _nonempty(incident.incident_key),
        "incident_number": str(incident.number) if incident.number is not None else None,
        "service_id": incident.service.id if incident.service else None,
        "escalation_policy": incident.escalation_policy.summary if incident.escalation_policy else None,
        "teams": ",".join(_unique(t.summary for t in incident.teams)) or None,
    }
    annotations = {
        "event_type": event.event_type,
        "incident_status": incident.status,
        "event_id": event.id,
    }
    description = incident.model_extra.get("description") if incident.model_extra else None
    if not isinstance(description, str) or description.strip() == incident.title:
        description = ""
    return [
        NormalizedAlert(
            alert_id=incident.id,
            source="pagerduty",
            status="resolved" if resolved else "firing",
            title=incident.title,
            description=description.strip(),
            severity=_nonempty(priority) or urgency,
            severity_normalized=normalize_severity(priority) or normalize_severity(urgency),
            labels={k: v for k, v in labels.items() if v},
            annotations={k: v for k, v in annotations.items() if v},
            affected_services=_unique([service]),
            service=service,
            starts_at=incident.created_at or (event.occurred_at if not resolved else None),
            ends_at=event.occurred_at if resolved else None,
            generator_url=_nonempty(incident.html_url),
            links=_links(
                incident=incident.html_url,
                service=incident.service.html_url if incident.service else None,
            ),
            received_at=received_at,
            raw=data,
        )
    ]


# --- generic ------------------------------------------------------------------------------------------------

_GENERIC_LIST = TypeAdapter(list[GenericAlert])


def _parse_generic(data: Any, received_at: datetime) -> list[NormalizedAlert]:
    if isinstance(data, list):
        if not data:
            raise AlertFormatError("payload: an empty list holds no alerts", hint="send at least one generic alert")
        try:
            items = _GENERIC_LIST.validate_python(data)
        except ValidationError as exc:
            raise _format_error(_problems(exc), "generic") from None
        raws: list[Any] = data
    else:
        items = [_validate(GenericAlert, data, "generic")]
        raws = [data]
    out = []
    for item, raw in zip(items, raws, strict=True):
        labels = item.labels
        service = (
            _nonempty(item.service) or _service_from_labels(labels) or next(iter(_unique(item.affected_services)), None)
        )
        severity, severity_normalized = _severity(
            _nonempty(item.severity) or _first(labels, _SEVERITY_LABELS),
            item.impact or labels.get("impact"),
            item.urgency or labels.get("urgency"),
        )
        out.append(
            NormalizedAlert(
                alert_id=item.alert_id,
                source="generic",
                origin=_nonempty(item.source),
                status=item.status,
                title=item.title,
                description=(item.description or "").strip(),
                severity=severity,
                severity_normalized=severity_normalized,
                labels=labels,
                annotations=item.annotations,
                affected_services=_unique([service, *item.affected_services]),
                service=service,
                component=_nonempty(item.component) or _first(labels, _COMPONENT_LABELS),
                environment=_nonempty(item.environment) or environment_from_labels(labels),
                starts_at=item.ts,
                ends_at=item.ends_at if item.status == "resolved" else None,
                generator_url=_nonempty(item.generator_url),
                runbook_url=_nonempty(item.runbook_url) or _first(item.annotations, _RUNBOOK_ANNOTATIONS),
                received_at=received_at,
                raw=raw,
            )
        )
    return out


# --- entry point --------------------------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[Any, datetime], list[NormalizedAlert]]] = {
    "alertmanager": _parse_alertmanager,
    "grafana": _parse_grafana,
    "pagerduty": _parse_pagerduty,
    "generic": _parse_generic,
}


def parse_alerts(
    payload: dict[str, Any] | list[Any] | str | bytes,
    format: str | None = None,
    *,
    received_at: datetime | None = None,
) -> list[NormalizedAlert]:
    """Parse a webhook body into normalised alerts, one per alert it carries.

    ``format`` is one of :data:`SUPPORTED_FORMATS` (case-insensitive); ``None`` detects it. ``received_at``
    (default: now, UTC) stamps every alert of the payload. A PagerDuty event that carries no incident state
    (``pagey.ping``, ``incident.annotated`` ...) gives an empty list. Raises :class:`AlertFormatError`.
    """
    data = decode_payload(payload)
    if format is None:
        fmt = detect_format(data)
    else:
        fmt = format.strip().lower()
        if fmt not in _PARSERS:
            raise AlertFormatError(
                f"format: unknown alert format {format!r}; supported formats: " + ", ".join(SUPPORTED_FORMATS),
                hint="pass one of the supported names, or format=None to detect it",
            )
    stamp = received_at or datetime.now(UTC)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return _PARSERS[fmt](data, stamp)
