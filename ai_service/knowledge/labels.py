"""A runbook's failure type, from the failure taxonomy (:mod:`ai_service.taxonomy`).

The evidence is what the runbook says about itself: its title counts most, then its service, component and tags,
then the first paragraph of its description (the first paragraph says what the alert means; later ones wander
into causes and impact, which name other failures). CamelCase identifiers are read as words first, so a title
such as ``etcdMembersDown`` is evidence too. A runbook with no evidence is ``unknown``.

The same function labels a runbook at ingestion (from the parsed file) and when the knowledge base is relabelled
(from the stored columns), so both give the same label for the same runbook.

What this module must never do: touch the database, or give a label that is not in the taxonomy.
"""

from __future__ import annotations

from collections.abc import Sequence

from ai_service import taxonomy
from ai_service.textnorm import split_camel_tokens

#: Weights of the evidence: the title, the metadata (service, component, tags), the description's first paragraph.
TITLE_WEIGHT, METADATA_WEIGHT, DESCRIPTION_WEIGHT = 3.0, 1.5, 1.0
#: The first paragraph is cut here: enough for what the alert means.
FIRST_PARAGRAPH_CHARS = 600


def first_paragraph(description: str | None) -> str:
    """The first non-empty paragraph of a description (at most :data:`FIRST_PARAGRAPH_CHARS` characters)."""
    for paragraph in (description or "").replace("\r\n", "\n").split("\n\n"):
        if paragraph.strip():
            return paragraph.strip()[:FIRST_PARAGRAPH_CHARS]
    return ""


def runbook_failure_type(
    title: str, description: str | None, service: str | None, component: str | None, tags: Sequence[str]
) -> str:
    """The failure type of a runbook (a taxonomy id, or ``unknown``); see the module docstring."""
    metadata = " ".join(part for part in (service, component, *tags) if part)
    return taxonomy.classify(
        [
            (split_camel_tokens(title), TITLE_WEIGHT),
            (split_camel_tokens(metadata), METADATA_WEIGHT),
            (split_camel_tokens(first_paragraph(description)), DESCRIPTION_WEIGHT),
        ]
    )
