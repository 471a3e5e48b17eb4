"""Alert -> search query: the text nocai embeds and full-text searches for an alert, plus structured context.

Alert text is first cleaned of what makes two alerts about the same problem look different
(:func:`ai_service.textnorm.normalize_text`: templates, addresses, pod hashes, ids, values ...);
:func:`build_query` assembles a :class:`SearchQuery` from a :class:`NormalizedAlert` (title, description and,
optionally, the alertname split into words: ``KubePodCrashLooping`` -> ``kube pod crash looping``; other
CamelCase identifiers in the text are split the same way, as full-text search cannot see inside them).

Everything here is a pure function of its input: deterministic, no I/O, regexes compiled once at import.

What this module must never do: touch the database, the network or a model; invent words that the alert does
not contain; or use the alertname when ``include_alertname=False`` (some evaluations forbid it, because
runbooks are named after alerts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from ai_service.alerts.fingerprint import identifying_labels
from ai_service.alerts.models import NormalizedAlert
from ai_service.textnorm import FIRED_BOILERPLATE, normalize_text, split_camel_tokens, split_identifier

__all__ = ["SearchQuery", "build_query", "normalize_text", "split_identifier"]


class SearchQuery(BaseModel):
    """What retrieval searches with for one alert."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="Normalised text to embed and to full-text search ('' if nothing is left).")
    service: str | None = None
    component: str | None = None
    namespace: str | None = None
    job: str | None = None
    alertname: str | None = Field(default=None, description="None when the alertname was excluded.")
    environment: str | None = None
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Identifying labels (no volatile or internal ones; no alertname when it is excluded).",
    )


_SENTENCE_END = (".", "!", "?", ":")


def _sentences(parts: list[str]) -> str:
    kept: list[str] = []
    for part in parts:
        folded = part.casefold().rstrip(".!?: ")
        if not folded or any(folded in seen.casefold() for seen in kept):
            continue
        kept.append(part if part.endswith(_SENTENCE_END) else part + ".")
    return " ".join(kept)


def _without(text: str, word: str) -> str:
    return re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", " ", text, flags=re.IGNORECASE)


def _context_words(values: Mapping[str, str | None]) -> list[str]:
    return [normalize_text(value.replace("-", " ").replace("_", " ")) for value in values.values() if value]


#: Most characters of one piece (title, description) that are read: the symptom is said early, and a huge
#: description must not cost seconds of regular expressions.
MAX_PIECE_CHARS = 4000
#: Most characters of the query text: what is embedded and full-text searched however large the alert.
MAX_QUERY_CHARS = 1200


#: Sentences about handling the alert itself, not the failure ("Removing failed job after investigation should
#: clear this alert", "Silence this alert during maintenance").
_ALERT_HANDLING = re.compile(
    r"\b(?:clears?|resolves?|silence[sd]?|acknowledges?|suppress(?:es)?|closes?)\b[^.!?]{0,40}\b(?:this|the) alert\b",
    re.IGNORECASE,
)


#: What alerting tools put around a name, not about the failure: Alertmanager's default "[FIRING:2]" title
#: prefix, a severity or priority written before the name ("Critical: ...", "P1 - ..."), and the " (copy)" Grafana
#: appends to a duplicated rule.
_NAME_NOISE = (
    re.compile(r"^\s*\[(?:firing|resolved)(?::\s*\d+)?\]\s*", re.IGNORECASE),
    re.compile(
        r"^\s*(?:critical|crit|warning|warn|major|minor|error|info|high|medium|low|p[0-5]|sev[0-5])\s*[:\-\u2013|]\s+",
        re.IGNORECASE,
    ),
    re.compile(r"\s*\(copy(?:\s*\d+)?\)", re.IGNORECASE),
)


def clean_name(text: str) -> str:
    """``text`` (an alertname or a title) without the tool's decorations (see ``_NAME_NOISE``)."""
    for pattern in _NAME_NOISE:
        text = pattern.sub(" ", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _without_boilerplate(text: str) -> str:
    # A colon ends a sentence here too: a title may be "High CPU usage: This alert was triggered for zone eu-1".
    sentences = re.split(r"(?<=[.!?:])\s+", text)
    kept = [s for s in sentences if not FIRED_BOILERPLATE.match(s.strip()) and not _ALERT_HANDLING.search(s)]
    return " ".join(kept) if kept else ""


def _runbook_name(url: str | None) -> str:
    """The words of a runbook URL's last path segment (``.../node/NodeFilesystemSpaceFillingUp`` -> ``node
    filesystem space filling up``); '' when it names nothing useful."""
    if not url:
        return ""
    path = re.sub(r"[?#].*$", "", url.strip()).rstrip("/")
    segment = path.rsplit("/", 1)[-1] if "/" in path else ""
    segment = re.sub(r"\.(?:md|html?|markdown)$", "", segment, flags=re.IGNORECASE)
    if not segment or segment.isdigit() or len(segment) > 120:
        return ""
    words = split_identifier(segment.replace("-", "_"))
    # One word says little, and a name run together in lower case ("nodefilesystemalmostoutofspace") cannot be
    # split into its words.
    return words if " " in words else ""


def _bounded(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def build_query(
    alert: NormalizedAlert, *, include_alertname: bool = True, split_camel_case: bool = True
) -> SearchQuery:
    """The :class:`SearchQuery` for ``alert``.

    The text is, in order and without repeats: the alertname split into words (only with
    ``include_alertname``), the words of the runbook URL's name, the title and the description, each passed
    through :func:`normalize_text`; then the service and component words when the text does not name them.
    Sentences that only say an alert fired ("This alert was triggered for zone eu-1") are left out. An
    identifier-like alertname (``KubePodCrashLooping``) is cut out of the title and description (its words lead
    the text, or are forbidden); one written in words ("High CPU usage") is kept where it stands, unless
    ``include_alertname=False``, which also leaves it out of the structured context. With ``split_camel_case``
    (the default) CamelCase identifiers in the title and description become words too (``CrashLoopBackOff`` ->
    ``crash loop back off``), which full-text search can match where it cannot match the joined word. Each piece
    is read up to :data:`MAX_PIECE_CHARS` and the text is at most :data:`MAX_QUERY_CHARS`, however large the
    alert. When nothing is left, the service, component and namespace words stand in, so that the text is never
    empty while the alert names anything.
    """
    alertname = clean_name(alert.labels.get("alertname") or "") or None
    title, description = clean_name(alert.title[:MAX_PIECE_CHARS]), alert.description[:MAX_PIECE_CHARS]
    parts: list[str] = []
    if alertname:
        identifier = not re.search(r"\s", alertname) and " " in split_identifier(alertname)
        if not include_alertname or identifier:
            # Its words lead the text (not repeated), or are forbidden. A one-word name ("Memory") stays where
            # the title says it ("High memory usage"): cutting it would leave "High usage".
            title, description = _without(title, alertname), _without(description, alertname)
        if include_alertname:
            parts.append(split_identifier(alertname) if not re.search(r"\s", alertname) else alertname.lower())
    if include_alertname:
        parts.append(_runbook_name(alert.runbook_url))
    for piece in (title, description):
        normalized = _without_boilerplate(normalize_text(piece))
        parts.append(split_camel_tokens(normalized) if split_camel_case else normalized)
    text = _sentences(parts)

    labels = identifying_labels(alert.labels)
    if not include_alertname:
        labels.pop("alertname", None)
    namespace = labels.get("namespace") or labels.get("exported_namespace")
    context = [w for w in _context_words({"service": alert.service, "component": alert.component}) if w]
    missing = [w for w in context if w.lower() not in text.lower()]
    if text and missing:
        text = _sentences([text, " ".join(missing)])
    if not text:
        fallback = {"service": alert.service, "component": alert.component, "namespace": namespace}
        text = _sentences([" ".join(word for word in _context_words(fallback) if word)])
    return SearchQuery(
        text=_bounded(text, MAX_QUERY_CHARS),
        service=alert.service,
        component=alert.component,
        namespace=namespace,
        job=labels.get("job"),
        alertname=alertname if include_alertname else None,
        environment=alert.environment,
        labels=labels,
    )
