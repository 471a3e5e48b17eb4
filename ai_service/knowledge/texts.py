"""What each stored vector is made of — one definition, used by ingestion, re-embedding and legacy migration.

A vector is stored with the hash of (model, text) of the text below; if these functions change, the hashes of
stored rows stop matching and ``nocai kb reembed`` embeds exactly the rows concerned again.
"""

from __future__ import annotations

from collections.abc import Sequence


def step_text(condition: str, action: str, expected_outcome: str | None) -> str:
    """A runbook step: when it applies, what to do, what should happen (the columns its tsv covers)."""
    return "\n".join(part for part in (condition, action, expected_outcome) if part)


def runbook_text(title: str, description: str | None, first_action: str | None, tags: Sequence[str]) -> str:
    """A runbook as a whole: its title and what it is about (or, without a description, its first action)."""
    parts = [title]
    if description:
        parts.append(description)
    elif first_action:
        parts.append(first_action)
    if tags:
        parts.append(", ".join(tags))
    return "\n".join(parts)


def runbook_title_text(title: str) -> str:
    """A runbook's second vector: its title alone (alerts often name a failure the way a title does)."""
    return title


def signature_text(failure_type: str, error_class: str, symptoms: Sequence[str]) -> str:
    """An incident signature: failure type and error class, then its symptoms."""
    label = f"{failure_type} {error_class}".replace("_", " ")
    return "\n".join([label, *symptoms])
