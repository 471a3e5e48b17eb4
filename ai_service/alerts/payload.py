"""Reading a webhook body defensively, and recognising which sender wrote it.

:func:`decode_payload` turns bytes or text into JSON within bounds (size, nesting depth, encoding) and repairs
what PostgreSQL could not store (NUL characters, unpaired surrogates); :func:`detect_format` says which of the
supported formats a body is, and names the sender of shapes nocai does not read. The error helpers turn a
pydantic validation error into a message that starts with the exact field path.

What this module must never do: touch the database, the network or the clock, or let malformed input escape
as anything but :class:`AlertFormatError`.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from ai_service.alerts.models import (
    AlertSource,
    json_type_name,
)
from ai_service.errors import AlertFormatError

SUPPORTED_FORMATS: tuple[str, ...] = ("alertmanager", "grafana", "pagerduty", "generic")

_FORMAT_SUMMARY = (
    "alertmanager (an object with 'alerts' and version '4'), grafana (the same with 'orgId'/'state'), "
    "pagerduty (a v3 webhook: {\"event\": {...}}), generic (an object with 'alert_id' and 'title', or a "
    "list of them)"
)

FORMAT_HINTS: dict[str, str] = {
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


# --- decoding, detection and errors --------------------------------------------------------------------------

MAX_PAYLOAD_CHARS = 64 * 1024 * 1024
"""The largest body nocai reads: 64 MiB of bytes, or of characters for text and decoded JSON."""
MAX_DEPTH = 64
"""The deepest nesting of objects and lists nocai reads; no supported format needs more than a handful."""

# A JSON string token (escapes included), possessive so that a long string never backtracks.
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _too_large(what: str) -> AlertFormatError:
    return AlertFormatError(
        f"payload: {what}; nocai reads at most {MAX_PAYLOAD_CHARS:,} bytes (or characters) in one payload",
        hint="send fewer alerts per notification (Alertmanager: max_alerts on the webhook receiver) or shorten "
        "the longest annotations; nocai keeps at most 64 KiB of any description anyway",
    )


def _too_deep() -> AlertFormatError:
    return AlertFormatError(
        f"payload: JSON nested deeper than {MAX_DEPTH} levels",
        hint="no alert format nests more than a few levels: send the sender's webhook body unchanged, not "
        "something wrapped around it",
    )


def _check_text_depth(text: str) -> None:
    """Refuse JSON text nested deeper than MAX_DEPTH before the (recursive) decoder sees it."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    steps = array("b", brackets.encode("ascii").translate(_BRACKET_STEPS))
    if max(accumulate(steps), default=0) > MAX_DEPTH:
        raise _too_deep()


def _repair_text(text: str) -> tuple[str, int]:
    """``text`` without NUL characters and with unpaired surrogates replaced by U+FFFD; and how many."""
    count = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return "" if match.group() == "\x00" else "\ufffd"

    return _UNSTORABLE.sub(fix, text), count


def _clean(data: Any) -> tuple[Any, int]:
    """A copy of decoded JSON that PostgreSQL can store, checked for depth and size; and the repairs made.

    Every string and key loses its NUL characters and has its unpaired surrogates replaced (see the module
    docstring); objects and lists deeper than MAX_DEPTH, or more than MAX_PAYLOAD_CHARS of text in all, are
    refused. Iterative, so no input can exhaust the stack.
    """
    repairs = 0
    size = 0
    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(data, holder, 0, 1)]
    while stack:
        source, parent, slot, depth = stack.pop()
        if isinstance(source, dict | list | tuple):
            if depth > MAX_DEPTH:
                raise _too_deep()
            if isinstance(source, dict):
                copied: dict[Any, Any] = {}
                for key, item in source.items():
                    if isinstance(key, str):
                        size += len(key)
                        if _UNSTORABLE.search(key):
                            key, fixed = _repair_text(key)
                            repairs += fixed
                    copied[key] = None
                    stack.append((item, copied, key, depth + 1))
                parent[slot] = copied
            else:
                items: list[Any] = [None] * len(source)
                stack.extend((item, items, index, depth + 1) for index, item in enumerate(source))
                parent[slot] = items
        elif isinstance(source, str):
            size += len(source)
            if _UNSTORABLE.search(source):
                source, fixed = _repair_text(source)
                repairs += fixed
            parent[slot] = source
        else:
            parent[slot] = source
        if size > MAX_PAYLOAD_CHARS:
            raise _too_large("the text in its strings is longer than that")
    return holder[0], repairs


def decode(payload: dict[str, Any] | list[Any] | str | bytes) -> tuple[dict[str, Any] | list[Any], int]:
    if isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
        if len(raw) > MAX_PAYLOAD_CHARS:
            raise _too_large(f"{len(raw):,} bytes long")
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise AlertFormatError(
                "payload: not UTF-8 text (it starts with a UTF-16 byte-order mark)",
                hint="send the webhook body as UTF-8 encoded JSON",
            )
        try:
            payload = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AlertFormatError(
                f"payload: not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                hint="send the webhook body as UTF-8 encoded JSON; a sender in another encoding (Latin-1, "
                "Windows-1252) must convert it first",
            ) from None
    if isinstance(payload, str):
        if len(payload) > MAX_PAYLOAD_CHARS:
            raise _too_large(f"{len(payload):,} characters long")
        if not payload.strip():
            raise AlertFormatError("payload: empty", hint="send a JSON object or a JSON list of alerts")
        _check_text_depth(payload)
        try:
            # strict=False: raw tabs and newlines inside strings, which templated senders (Zabbix, Grafana
            # message templates) often leave unescaped, are read as they were meant.
            payload = json.loads(payload, strict=False)
        except json.JSONDecodeError as exc:
            raise AlertFormatError(
                f"payload: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
                hint="check the body at that position (a missing comma or quote, a trailing comma, "
                "single quotes instead of double quotes); validate it with `python -m json.tool`",
            ) from None
        except RecursionError:  # only past the depth check's reach; kept so that no input escapes as a crash
            raise _too_deep() from None
        if isinstance(payload, str) and payload.strip().startswith(("{", "[")):
            raise AlertFormatError(
                "payload: a JSON string that holds JSON text (the body was encoded twice)",
                hint="send the object itself, not a string containing it (drop the second JSON encoding, "
                "e.g. json.dumps applied to text that is already JSON)",
            )
    if not isinstance(payload, dict | list):
        raise AlertFormatError(
            f"payload: expected a JSON object or list, got {json_type_name(payload)}",
            hint="send the webhook body as a JSON object (a JSON list is read as generic alerts); supported "
            f"formats: {_FORMAT_SUMMARY}",
        )
    cleaned, repairs = _clean(payload)
    return cleaned, repairs


def decode_payload(payload: dict[str, Any] | list[Any] | str | bytes) -> dict[str, Any] | list[Any]:
    """The payload as decoded JSON (an object or a list), repaired and bounded as the module docstring says.

    Strings and bytes are parsed as JSON; an object or list is copied. Raises :class:`AlertFormatError`.
    """
    return decode(payload)[0]


def canonical_format(name: str) -> AlertSource:
    """The format named by ``name``, case and surrounding spaces ignored (``' Alertmanager'`` -> alertmanager)."""
    fmt = name.strip().lower() if isinstance(name, str) else ""
    if fmt not in SUPPORTED_FORMATS:
        raise AlertFormatError(
            f"format: unknown alert format {name!r}; supported formats: " + ", ".join(SUPPORTED_FORMATS),
            hint="name one of the supported formats, in any case (--format in the CLI, POST "
            "/api/v1/alerts/{format} in the API), or leave the format out to have it detected",
        )
    return cast(AlertSource, fmt)


_GRAFANA_TOP_KEYS = ("orgId", "state", "title", "message")
_GRAFANA_ALERT_KEYS = ("values", "valueString", "dashboardURL", "panelURL", "silenceURL")


def _looks_grafana(data: Mapping[str, Any]) -> bool:
    if any(key in data for key in _GRAFANA_TOP_KEYS):
        return True
    alerts = data.get("alerts")
    if isinstance(alerts, list):
        return any(isinstance(a, dict) and any(k in a for k in _GRAFANA_ALERT_KEYS) for a in alerts)
    return False


def _looks_pagerduty(data: Mapping[str, Any]) -> bool:
    event = data.get("event")
    return isinstance(event, dict) and ("event_type" in event or "resource_type" in event)


_TO_GENERIC = (
    "map its fields to nocai's generic JSON (alert_id, title, and optionally status 'firing'|'resolved', "
    "severity, description, labels) in the sender's payload template, or send nocai the alerts of the system "
    "that feeds it (Alertmanager, Grafana)"
)


def _looks_alertmanager_api_alert(item: Any) -> bool:
    """An alert as posted to Alertmanager's /api/v2/alerts: labels with an alertname, no id and no title."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("labels"), dict)
        and "alertname" in item["labels"]
        and not {"alert_id", "title"} & item.keys()
    )


def foreign_sender(data: Any) -> tuple[str, str] | None:
    """(what the payload looks like, how to fix it) for well-known shapes nocai does not read; else None."""
    if isinstance(data, list):
        if data and all(_looks_alertmanager_api_alert(x) for x in data):
            return (
                "a list of alerts as posted to Alertmanager's own API (/api/v2/alerts), not a webhook notification",
                "point an Alertmanager webhook receiver (webhook_configs) at nocai and send it the notification "
                "Alertmanager posts, or give each alert an alert_id and a title (nocai's generic JSON)",
            )
        return None
    if not isinstance(data, dict):
        return None
    keys = set(data)
    if isinstance(data.get("messages"), list):
        return (
            "a PagerDuty v1/v2 webhook ('messages'), which is not supported",
            "create a PagerDuty v3 webhook subscription for nocai instead",
        )
    if "evalMatches" in keys or "ruleName" in keys:
        return (
            "a legacy Grafana alerting webhook ('ruleName'/'evalMatches'), which is not supported",
            "use Grafana unified alerting with a webhook contact point",
        )
    if {"routing_key", "event_action"} <= keys:
        return (
            "a PagerDuty Events API v2 event (what monitoring tools send to PagerDuty), not a PagerDuty webhook",
            "send nocai the PagerDuty v3 webhook of the incident (a webhook subscription), or the source's own "
            "alert format",
        )
    if "action" in keys and isinstance(data.get("alert"), dict):
        return ("an Opsgenie alert webhook ('action' + 'alert'), which nocai has no adapter for", _TO_GENERIC)
    if ({"project_slug", "culprit"} & keys and "event" in keys) or {"action", "data", "installation"} <= keys:
        return ("a Sentry webhook, which nocai has no adapter for", _TO_GENERIC)
    if "alert_transition" in keys or {"last_updated", "event_type", "org"} <= keys:
        return (
            "a Datadog webhook with Datadog's own payload, which nocai has no adapter for",
            "set the Datadog webhook's custom payload to nocai's generic JSON, e.g. {\"alert_id\": "
            '"$ALERT_CYCLE_KEY", "title": "$EVENT_TITLE", "description": "$TEXT_ONLY_MSG", "severity": '
            '"$ALERT_PRIORITY"}',
        )
    if {"heartbeat", "monitor"} <= keys:
        return ("an Uptime Kuma notification ('heartbeat' + 'monitor'), which nocai has no adapter for", _TO_GENERIC)
    if "involvedObject" in keys and "reason" in keys:
        return (
            "a Kubernetes Event object, not an alert",
            "alert on Kubernetes state with Prometheus rules (kube-state-metrics) routed through Alertmanager; "
            "an event exporter's webhook can also post nocai's generic JSON",
        )
    if keys & {"trigger", "trigger_id", "triggerid"} and keys & {"hostname", "host", "host_name"}:
        return ("a Zabbix webhook with a custom message, which nocai has no adapter for", _TO_GENERIC)
    return None


def detect_format(payload: dict[str, Any] | list[Any] | str | bytes) -> AlertSource:
    """Name the format of ``payload`` (one of :data:`SUPPORTED_FORMATS`), or raise :class:`AlertFormatError`."""
    return detect(decode_payload(payload))


def detect(data: dict[str, Any] | list[Any]) -> AlertSource:
    if isinstance(data, list):
        if not data:
            raise AlertFormatError(
                "payload: an empty list holds no alerts",
                hint="send at least one alert; a list is read as generic alerts",
            )
        foreign = foreign_sender(data)
        if foreign:
            raise AlertFormatError(f"payload: looks like {foreign[0]}", hint=foreign[1])
        return "generic"
    if _looks_pagerduty(data):
        return "pagerduty"
    if "alerts" in data:
        return "grafana" if _looks_grafana(data) else "alertmanager"
    foreign = foreign_sender(data)
    if foreign:
        raise AlertFormatError(f"payload: looks like {foreign[0]}", hint=foreign[1])
    if "alert_id" in data:
        return "generic"
    keys = ", ".join(sorted(map(str, data))[:12]) or "none"
    raise AlertFormatError(
        f"payload: cannot tell which alert format this is (top-level keys: {keys}); "
        f"supported formats: {_FORMAT_SUMMARY}",
        hint="name the format (--format in the CLI, POST /api/v1/alerts/{format} in the API; one of "
        + ", ".join(SUPPORTED_FORMATS)
        + ") to parse it as that format and see precisely which fields do not match",
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


def problems(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[str]:
    return [f"{_field_path(prefix + tuple(err['loc']))}: {_describe(err)}" for err in exc.errors(include_url=False)]


def format_error(problems: list[str], fmt: str) -> AlertFormatError:
    message = problems[0]
    rest = problems[1:_MAX_PROBLEMS]
    if rest:
        more = len(problems) - 1
        message += f" (and {more} more: " + "; ".join(rest) + ("; ..." if more > len(rest) else "") + ")"
    return AlertFormatError(message, hint=FORMAT_HINTS[fmt])


_M = TypeVar("_M", bound=BaseModel)


def validate(model: type[_M], data: Any, fmt: str, prefix: tuple[int | str, ...] = ()) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise format_error(problems(exc, prefix), fmt) from None
