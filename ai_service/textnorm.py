"""Text normalisation shared by alert queries and past-incident clustering.

Alert and ticket text is full of things that make two reports of the same problem look different and two
different problems look alike to an embedding or to ``to_tsvector``: unrendered Prometheus templates
(``{{ $labels.instance }}``), instance addresses, pod names with hash suffixes, UUIDs, hashes, timestamps,
measured values, URLs, quoted label values. :func:`normalize_text` removes those and keeps the words;
:func:`split_identifier` turns an identifier (``KubePodCrashLooping``) into words, and
:func:`split_camel_tokens` does so for the CamelCase identifiers inside prose, which full-text search cannot see
inside.

Everything here is a pure function of its input: deterministic, no I/O, regexes compiled once at import.

What this module must never do: touch the database, the network or a model, or invent words that the text does
not contain.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["FIRED_BOILERPLATE", "normalize_text", "says_only_that_it_fired", "split_camel_tokens", "split_identifier"]

_I = re.IGNORECASE

#: A sentence that says an alert fired, not what is wrong ("This alert was triggered for zone eu-1").
FIRED_BOILERPLATE = re.compile(
    r"^(?:this |the )?(?:alert|rule|notification)s? (?:was |is |has been |have been )?"
    r"(?:triggered|fired|firing|raised|sent|received)\b",
    re.IGNORECASE,
)


def says_only_that_it_fired(text: str) -> bool:
    """Whether every sentence of ``text`` only says that an alert fired (see :data:`FIRED_BOILERPLATE`)."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    return bool(sentences) and all(FIRED_BOILERPLATE.match(s) for s in sentences)


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


def split_camel_tokens(text: str) -> str:
    """``text`` with each CamelCase identifier split into words (``CrashLoopBackOff`` -> ``crash loop back off``)."""
    return _CAMEL_TOKEN.sub(lambda match: split_identifier(match.group(0)), text)
