"""The text that stands for a historical incident in clustering: what its ticket says about the symptom.

:func:`incident_text` keeps the short description and description, without monitoring boilerplate (label
lists, "Problem started at", "Notified via"), sign-offs, host names, ticket and asset ids or measured values;
close notes are left out, since they describe the fix, not what was seen. :func:`embed_incidents` turns those
texts into vectors.

What this module must never do: call an embedding model anywhere but in :func:`embed_incidents`, return an
empty text, or read anything but the record it is given (the same ticket always gives the same text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ai_service.knowledge.embeddings import Embedder
from ai_service.knowledge.incidents import IncidentRecord
from ai_service.textnorm import normalize_text, split_identifier

# 'key: value' / '- key = value' lines of monitoring integrations (Alertmanager bridges, Zabbix, Datadog,
# PagerDuty): metadata keys are dropped, content keys keep their value, other lines are kept whole.
_META_KEYS = frozenset(
    {
        "severity", "priority", "instance", "env", "environment", "job", "namespace", "pod", "container",
        "cluster", "host", "hostname", "node", "region", "zone", "scope", "started", "starts at", "ends at",
        "started at", "original problem id", "event id", "trigger id", "status", "state", "receiver",
        "fingerprint", "generator url", "dashboard", "runbook url", "tags", "url", "link", "owner", "time",
        "timestamp", "value", "event time", "alert id", "incident id", "service", "team",
    }
)  # fmt: skip
_CONTENT_KEYS = frozenset(
    {
        "summary", "description", "message", "problem name", "problem", "operational data", "monitor",
        "alertname", "alert", "alert name", "title", "details", "detail", "subject", "trigger", "name", "check",
    }
)  # fmt: skip
_KEY_VALUE = re.compile(r"^\s*[-*\u2022]?\s*([A-Za-z][A-Za-z _.]{0,30}?)\s*[:=]\s*(.*)$")
_SECTION_HEADING = re.compile(r"^\s*[A-Za-z][A-Za-z ]{0,30}:\s*$")
_BOILERPLATE_LINE = re.compile(
    r"^\s*(?:(?:created|generated|sent|opened|raised) (?:by|via)\b|triggered at\b|notified via\b"
    r"|problem started at\b|problem has been resolved\b|-{2,}\s*$|={2,}\s*$)",
    re.IGNORECASE,
)
_SIGN_OFF_LINE = re.compile(
    r"^\s*(?:(?:many )?thanks|thank you|thx|ta|regards|best regards|kind regards|best|cheers|br)\b[\s,.!]*"
    r"(?:[A-Z][a-z]+)?[\s,.!]*$|^\s*--\s*\S",
    re.IGNORECASE,
)
_TICKET_PREFIX = re.compile(r"^\s*(?:\[[A-Z][A-Z:0-9 ]*\]\s*|(?:Problem|Resolved|Alert|Warning|Critical)\s*:\s*)+")
_CAMEL_TOKEN = re.compile(
    r"(?<![\w-])(?=[A-Za-z]*[a-z])(?=[a-z]*[A-Z][a-z0-9]*[A-Z])(?![A-Z]+s\b)[A-Za-z][A-Za-z0-9]*\b"
)
# Instance names normalize_text keeps (it removes only fully qualified ones): lower case, hyphenated, with a
# digit in a later part - web-prod-07, pg-crm-03, bastion-dc2-01, k8s-prod-eu1, kafka-3.
# In capitals (PRN-LON-2F-04, SRV-DB-01) three parts are needed, so that HTTP-01 or TLS-1 stay.
_HOST_LIKE = re.compile(
    r"(?<![\w./-])(?:[a-z][a-z0-9]*(?:-[a-z0-9]+)*-[a-z]*\d[a-z0-9]*(?:-[a-z0-9]+)*"
    r"|[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+-[A-Za-z]*\d[A-Za-z0-9]*)(?![\w-])"
)
# Ticket and asset ids: INC0010234, CHG0031234, OPS-101, LT-0731.
_ID_LIKE = re.compile(r"(?<![\w./-])(?:[A-Z]{2,}\d{4,}|[A-Z][A-Z0-9]*-\d{3,})(?![\w-])")
# Values normalize_text keeps: short numbers, with a unit or a clock time (47.5, 4644s, 16.3G, 07:44, /300).
_VALUE = re.compile(r"(?<![\w.-])/?[-+~]?\d+(?:[.,:]\d+)*[a-zA-Z]{0,3}(?![\w-])")
_EMPTY_BRACKETS = re.compile(r"[(\[]\s*[^\w\s]{0,3}\s*[)\]]")
_DANGLING = re.compile(
    r"\s+(?:on|at|for|in|of|from|to|since|by|via|is|was|with|than|over|below|above)(?=\s*(?:[.,;:)]|$))"
)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)])")
_REPEATED_PUNCT = re.compile(r"([.,;:])(?:\s*[.,;:])+")
_SPACES = re.compile(r"\s+")


def _description_lines(description: str) -> list[str]:
    """The description's lines that say something about the problem (integration metadata and sign-offs cut)."""
    kept: list[str] = []
    for line in description.splitlines():
        if _SIGN_OFF_LINE.match(line):
            break
        if not line.strip() or _BOILERPLATE_LINE.match(line) or _SECTION_HEADING.match(line):
            continue
        pair = _KEY_VALUE.match(line)
        if pair and not pair.group(2).startswith("//"):
            key = " ".join(pair.group(1).casefold().replace("_", " ").replace(".", " ").split())
            if key in _META_KEYS:
                continue
            if key in _CONTENT_KEYS:
                line = pair.group(2)
        kept.append(line)
    return kept


def _clean(text: str) -> str:
    """One line of ticket text without prefixes, ids, hosts and values; CamelCase rule names as words."""
    text = normalize_text(_TICKET_PREFIX.sub("", text))
    text = _CAMEL_TOKEN.sub(lambda match: split_identifier(match.group(0)), text)
    text = _HOST_LIKE.sub(" ", text)
    text = _ID_LIKE.sub(" ", text)
    text = _VALUE.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    text = _SPACES.sub(" ", text)
    for _ in range(2):
        text = _DANGLING.sub("", text)
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
        text = _REPEATED_PUNCT.sub(r"\1", text)
    return text.strip(" ,;:-")


def incident_text(record: IncidentRecord) -> str:
    """The text that stands for ``record`` in clustering: its short description and description, cleaned.

    Each line goes through :func:`~ai_service.textnorm.normalize_text` and loses host names,
    numbers with units and ticket prefixes (``[CRITICAL]``, ``Problem:``); monitoring metadata lines and
    sign-offs are dropped, CamelCase rule names become words, repeated sentences appear once. Never empty: when
    cleaning leaves nothing, the normalised short description (or, failing that, as written) is used.
    """
    pieces: list[str] = []
    seen: list[str] = []
    for raw in (record.short_description, *_description_lines(record.description)):
        piece = _clean(raw)
        folded = piece.casefold().rstrip(".!?:; ")
        if len(folded) < 2 or any(folded in earlier for earlier in seen):
            continue
        seen.append(folded)
        pieces.append(piece if piece.endswith((".", "!", "?")) else piece + ".")
    text = " ".join(pieces)
    return text or normalize_text(record.short_description) or record.short_description.strip()


def embed_incidents(records: Sequence[IncidentRecord], embedder: Embedder) -> np.ndarray:
    """The :func:`incident_text` vectors of ``records``: shape ``(len(records), dimension)``, unit rows."""
    return embedder.embed([incident_text(record) for record in records])
