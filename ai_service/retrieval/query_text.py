"""Alert -> search query: the text nocai embeds and full-text searches for an alert, plus structured context.

Alert text is full of things that make two alerts about the same problem look different and two different
problems look alike to an embedding or to ``to_tsvector``: unrendered Prometheus templates
(``{{ $labels.instance }}``), instance addresses, pod names with hash suffixes, UUIDs, hashes, timestamps,
measured values, URLs, quoted label values. :func:`normalize_text` removes those and keeps the words;
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
from collections.abc import Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from ai_service.alerts.fingerprint import identifying_labels
from ai_service.alerts.models import NormalizedAlert

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


_I = re.IGNORECASE
_HEX = "0-9a-fA-F"
# Kubernetes' random suffixes use this alphabet (no vowels, no 0/1/3); ReplicaSet hashes were once hex/decimal.
_K8S = "bcdfghjklmnpqrstvwxz2456789"

# A quoted CamelCase word such as "CrashLoopBackOff" or "OOMKilled" names a kind of event, not an instance.
_REASON_WORD = re.compile(r"[A-Z][a-z]*[A-Z][A-Za-z]*[a-z][A-Za-z]*")


def _keep_reason_word(match: re.Match[str]) -> str:
    inner = next((group for group in match.groups() if group is not None), "")
    return f" {inner} " if _REASON_WORD.fullmatch(inner) else " "


# Order matters: each pattern runs on the output of the previous ones (templates before anything else, URLs
# before addresses, pod names before hashes, timestamps and addresses before plain numbers).
_Replacement = str | Callable[[re.Match[str]], str]
_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    # Go templates, as found in unrendered Prometheus/Grafana annotations: {{ ... }}, also unterminated.
    (re.compile(r"\{\{.*?\}\}", re.S), " "),
    (re.compile(r"\{\{[^}]*"), " "),
    (re.compile(r"\}\}"), " "),
    (re.compile(r"\$\{[^}\s]*\}"), " "),  # ${var}
    (re.compile(r"\$(?:[A-Za-z_]\w*(?:\.\w+)*|\d[\d,.]*)"), " "),  # $labels.x, $value, $100
    # Rendered Go maps and the "VALUE = / LABELS = " scaffolding of common rule collections.
    (re.compile(r"\bmap\[[^\]]*\]"), " "),
    (re.compile(r"\bVALUE\s*=\s*\S*|\bLABELS\s*=\s*"), " "),
    # Notification prefixes: [FIRING:2], [RESOLVED].
    (re.compile(r"\[(?:FIRING|RESOLVED)(?::\d+)?\]", _I), " "),
    # URLs and e-mail addresses.
    (re.compile(r"\b(?:(?:https?|ftp|wss?)://|www\.)[^\s<>\"'()\[\]{}]*[^\s<>\"'()\[\]{}.,;:!?]", _I), " "),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), " "),
    # Fully qualified host names (three or more labels): db-01.example.com, x.monitoring.svc.cluster.local.
    (re.compile(r"(?<![\w./-])(?:[A-Za-z0-9-]+\.){2,}[A-Za-z]{2,}(?::\d{1,5})?\b(?![./-]\w)"), " "),
    # Label matchers and key="value" pairs: the value is an instance of something, not a description of it.
    (re.compile(r"\b[A-Za-z_][\w.]*\s*(?:=~|!~|!=|==|=)\s*(?:\"[^\"]*\"|'[^']*'|`[^`]*`)"), " "),
    # Quoted single tokens ("web-1", 'eth0', “x”): label values. Quoted phrases keep their words, and so do
    # quoted CamelCase reason words ("CrashLoopBackOff", "OOMKilled"), which name a kind, not an instance.
    (
        re.compile(
            r"(?<!\w)(?:\"([^\"\s]*)\"|'([^'\s]*)'|\u201c([^\u201d\s]*)\u201d|\u2018([^\u2019\s]*)\u2019)(?!\w)"
        ),
        _keep_reason_word,
    ),
    # Timestamps: ISO 8601 / RFC 3339 date-times and dates, slashed dates, clock times.
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
            r"(?:\s?(?:Z|[+-]\d{2}:?\d{2})\b)?(?:\s?(?:UTC|GMT)\b)?"
        ),
        " ",
    ),
    (re.compile(r"\b\d{4}/\d{2}/\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"), " "),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s?(?:Z|[+-]\d{2}:?\d{2})\b)?(?:\s?(?:UTC|GMT)\b)?"), " "),
    # UUIDs.
    (re.compile(rf"\b[{_HEX}]{{8}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{4}}-[{_HEX}]{{12}}\b"), " "),
    # MAC addresses and other colon-separated hex bytes (certificate serials); IPv4 with a port or prefix
    # length; IPv6, compressed or with all eight groups.
    (re.compile(rf"\b[{_HEX}]{{2}}(?:[:-][{_HEX}]{{2}}){{5,}}\b"), " "),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5}|/\d{1,2})?\b"), " "),
    (
        re.compile(
            rf"(?<![\w:])(?=[{_HEX}:]*::|(?:[{_HEX}]{{1,4}}:){{7}})(?:[{_HEX}]{{0,4}}:){{2,7}}[{_HEX}]{{0,4}}"
            r"(?:%\w+)?(?:/\d{1,3})?(?![\w:])"
        ),
        " ",
    ),
    # Pod names: <workload>-<replicaset or job hash>-<5 random> and <workload>-<5 random> -> <workload>.
    (
        re.compile(r"(?<![\w.-])([a-z][a-z0-9]*(?:-[a-z0-9]+)*?)-(?=[a-z]*\d)[a-z0-9]{5,10}-[a-z0-9]{5}(?![\w-])"),
        r"\1",
    ),
    (
        re.compile(
            rf"(?<![\w.-])([a-z][a-z0-9]*(?:-[a-z0-9]+)*?)-(?=[{_K8S}]*\d)(?=[2456789]*[a-z])[{_K8S}]{{5}}"
            r"(?![\w-])"
        ),
        r"\1",
    ),
    (re.compile(r"(?<![\w.-])([a-z][a-z0-9]*(?:-[a-z0-9]+)*?)-(?=[a-z]*\d)(?=\d*[a-z])[a-z0-9]{8,10}(?![\w-])"), r"\1"),
    # Hashes: sha256:..., 0x..., and hex runs of 8+ characters with both a digit and a letter (or 32+ long).
    (re.compile(rf"\b(?:sha\d*|md5):[{_HEX}]+\b", _I), " "),
    (re.compile(rf"\b0x[{_HEX}]+\b"), " "),
    (re.compile(rf"\b(?=[{_HEX}]*\d)(?=[{_HEX}]*[a-fA-F])[{_HEX}]{{8,}}\b|\b[{_HEX}]{{32,}}\b"), " "),
    # Measured values: percentages, sizes and rates, versions, a port after a host name.
    (re.compile(r"[-+]?\b\d+(?:[.,]\d+)?\s?%"), " "),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:[KMGTPE]i?B|[KMGTPE]i?b|[kKMGT]?bps|bytes?|B)\b"), " "),
    (re.compile(r"\bv\d+(?:\.\d+)+\b|\b\d+(?:\.\d+){2,}\b"), " "),
    (re.compile(r"(?<=[A-Za-z])(?::\d{2,5})\b"), " "),
    # Long numbers: 5+ digits, thousands-separated, or decimals with 2+ fraction digits (values, not words).
    (re.compile(r"[-+]?\b\d{1,3}(?:,\d{3})+(?:\.\d+)?\b|[-+]?\b\d{5,}(?:\.\d+)?\b|[-+]?\b\d+\.\d{2,}\b"), " "),
)

_CLEANUP: tuple[tuple[re.Pattern[str], str], ...] = (
    # Brackets left empty (or holding only punctuation) by the removals: "( )", "[:]", "{}".
    (re.compile(r"[(\[{]\s*[^\w\s]{0,3}\s*[)\]}]"), " "),
    # A per-time unit whose value was removed: "(/s)", "/min".
    (re.compile(r"(?<![\w)])/(?:s|sec|min|h)\b"), " "),
    # Stray symbols: a token made only of punctuation other than sentence punctuation.
    (re.compile(r"(?<!\S)[^\w\s.,;:!?()\[\]]+(?!\S)"), " "),
    # Separators left dangling at a word's end or start: "web-", "instance=", "/var".
    (re.compile(r"(?<=\w)[-/=_@#%|]+(?=\s|$|[.,;:!?)\]])"), ""),
    (re.compile(r"(?:(?<=\s)|^)[-=_@#%|]+(?=\w)"), ""),
    (re.compile(r"\s+"), " "),
    (re.compile(r"\s+([.,;:!?](?=\s|$)|[)\]])"), r"\1"),
    (re.compile(r"([(\[])\s+"), r"\1"),
    (re.compile(r"([.,;:!?])(?:\s*[.,;:])+"), r"\1"),
    (re.compile(r"^[\s.,;:!?)\]-]+|[\s,;:(\[-]+$"), ""),
)


def normalize_text(text: str) -> str:
    """Remove the noise listed in the module docstring from ``text`` and tidy the punctuation left behind.

    Words, their case and sentence punctuation are kept; whitespace is collapsed to single spaces.
    """
    if not text:
        return ""
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    for _ in range(2):  # a second pass catches brackets emptied by the first one
        for pattern, replacement in _CLEANUP:
            text = pattern.sub(replacement, text)
    return text.strip()


# Compound product names that CamelCase splitting would break apart ("PostgreSQL" -> "postgre sql").
_COMPOUNDS = (
    "PostgreSQL",
    "PgBouncer",
    "MySQL",
    "MariaDB",
    "MongoDB",
    "GraphQL",
    "RabbitMQ",
    "ZooKeeper",
    "HAProxy",
    "CoreDNS",
    "KubeDNS",
    "OpenSearch",
    "ElasticSearch",
    "Elasticsearch",
    "ClickHouse",
    "CockroachDB",
    "DynamoDB",
    "RocksDB",
    "InnoDB",
    "OpenStack",
    "OpenShift",
    "OAuth",
    "IPv4",
    "IPv6",
    "GitLab",
    "GitHub",
    "NATS",
)
_COMPOUND = re.compile("(" + "|".join(sorted(map(re.escape, _COMPOUNDS), key=len, reverse=True)) + ")")
_CAMEL_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+[a-z]*")


def split_identifier(name: str) -> str:
    """Split a CamelCase / snake_case / kebab-case identifier into lower-case words.

    ``KubePodCrashLooping`` -> ``kube pod crash looping``; ``KubeAPIErrorBudgetBurn`` -> ``kube api error
    budget burn``; ``PostgreSQLTooManyConnections`` -> ``postgresql too many connections``.
    """
    words: list[str] = []
    for piece in _COMPOUND.split(name):
        if not piece:
            continue
        if _COMPOUND.fullmatch(piece):
            words.append(piece.lower())
            continue
        words.extend(word.lower() for word in _CAMEL_WORDS.findall(piece))
    return " ".join(words)


# A CamelCase identifier inside prose: two or more capitals and a lower-case letter (not "APIs", "URLs").
_CAMEL_TOKEN = re.compile(
    r"(?<![\w-])(?=[A-Za-z]*[a-z])(?=[a-z]*[A-Z][a-z0-9]*[A-Z])(?![A-Z]+s\b)[A-Za-z][A-Za-z0-9]*\b"
)


def _split_camel_tokens(text: str) -> str:
    return _CAMEL_TOKEN.sub(lambda match: split_identifier(match.group(0)), text)


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


def build_query(
    alert: NormalizedAlert, *, include_alertname: bool = True, split_camel_case: bool = True
) -> SearchQuery:
    """The :class:`SearchQuery` for ``alert``.

    The text is, in order and without repeats: the alertname split into words (only with
    ``include_alertname``), the title and the description, each passed through :func:`normalize_text`. The
    alertname itself is cut out of the title and description (its words lead the text, or are forbidden);
    with ``include_alertname=False`` it is also left out of the structured context. With ``split_camel_case`` (the
    default) CamelCase identifiers in the title and description become words too (``CrashLoopBackOff`` ->
    ``crash loop back off``), which full-text search can match where it cannot match the joined word. When
    nothing is left, the service, component and namespace words stand in, so that the text is never empty while
    the alert names anything.
    """
    alertname = (alert.labels.get("alertname") or "").strip() or None
    title, description = alert.title, alert.description
    parts: list[str] = []
    if alertname:
        # Cut out either way: with the alertname included its words lead the text, and are not repeated.
        title, description = _without(title, alertname), _without(description, alertname)
        if include_alertname:
            parts.append(split_identifier(alertname))
    for piece in (title, description):
        normalized = normalize_text(piece)
        parts.append(_split_camel_tokens(normalized) if split_camel_case else normalized)
    text = _sentences(parts)

    labels = identifying_labels(alert.labels)
    if not include_alertname:
        labels.pop("alertname", None)
    namespace = labels.get("namespace") or labels.get("exported_namespace")
    if not text:
        fallback = {"service": alert.service, "component": alert.component, "namespace": namespace}
        text = _sentences([" ".join(word for word in _context_words(fallback) if word)])
    return SearchQuery(
        text=text,
        service=alert.service,
        component=alert.component,
        namespace=namespace,
        job=labels.get("job"),
        alertname=alertname if include_alertname else None,
        environment=alert.environment,
        labels=labels,
    )
