"""Headings to sections: the runbook's title heading, its preamble, and each section with what its heading names.

A heading names a phase (diagnosis, mitigation, verification), a description, a rollback section, references,
or nothing (``other``); a deeper heading inherits its parent's phase unless it names one itself.

What this module must never do: look inside a section's blocks, or lose one: every block after the first
heading belongs to exactly one section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ai_service.knowledge.models import Block, Heading, Phase

PHASE_LABELS: dict[str, str] = {
    "diagnosis": "Diagnosis",
    "mitigation": "Mitigation",
    "verification": "Verification",
    "other": "Steps",
}

SectionKind = Literal["phase", "description", "rollback", "references"]


_KIND_KEYWORDS: list[tuple[str, str]] = [
    (
        r"diagnos\w*|troubleshoot\w*|investigat\w*|checks?|debug\w*|triage|root\s+cause|identif\w*",
        "diagnosis",
    ),
    (
        r"mitigat\w*|remediat\w*|resol(?:ution|ve|ving)\w*|fix\w*|recover\w*|workarounds?|repair\w*|solutions?",
        "mitigation",
    ),
    (r"verif\w*|validat\w*|confirm\w*|post-?checks?", "verification"),
    (r"roll\s*-?backs?|undo\w*|revert\w*|back\s*-?out", "rollback"),
    (r"meaning|impact|summary|overview|description|symptoms?|background|context|about", "description"),
    (r"references?|see\s+also|further\s+reading|links|related", "references"),
]


_KIND_PRIORITY = ("verification", "rollback", "mitigation", "diagnosis", "description", "references")


def classify_heading(text: str) -> str | None:
    """The phase or kind a heading names: diagnosis, mitigation, verification, rollback, description,
    references; None when it names none. When it names several, verification wins over rollback over
    mitigation over diagnosis over description ("Fix verification", "Verify the fix" -> verification)."""
    lowered = text.lower()
    named = {kind for pattern, kind in _KIND_KEYWORDS if re.search(rf"\b(?:{pattern})\b", lowered)}
    return next((kind for kind in _KIND_PRIORITY if kind in named), None)


@dataclass
class Section:
    """A heading and the blocks directly under it, with its path and classification."""

    path: list[str]
    kind: SectionKind
    phase: Phase
    blocks: list[Block] = field(default_factory=list)
    top: int = 0  # index of the top-level section this one belongs to


def split_sections(blocks: list[Block]) -> tuple[str | None, list[Block], list[Section]]:
    """Split blocks at headings: ``(title heading text, preamble blocks, sections)``. The first heading is the
    title when it is a level-1 heading followed by deeper headings (or by none); the preamble is what comes
    before the first section."""
    heading_indexes = [i for i, block in enumerate(blocks) if isinstance(block, Heading)]
    if not heading_indexes:
        return None, blocks, []
    first = heading_indexes[0]
    first_heading = blocks[first]
    assert isinstance(first_heading, Heading)
    next_level = _heading_level(blocks[heading_indexes[1]]) if len(heading_indexes) > 1 else 2
    if first_heading.level == 1 and next_level > 1:
        following = heading_indexes[1] if len(heading_indexes) > 1 else len(blocks)
        preamble = blocks[:first] + blocks[first + 1 : following]
        return first_heading.text, preamble, _sections(blocks[following:])
    return None, blocks[:first], _sections(blocks[first:])


def _heading_level(block: Block) -> int:
    return block.level if isinstance(block, Heading) else 0


def _sections(blocks: list[Block]) -> list[Section]:
    sections: list[Section] = []
    stack: list[tuple[int, Section]] = []
    for block in blocks:
        if not isinstance(block, Heading):
            if sections:
                sections[-1].blocks.append(block)
            continue
        while stack and stack[-1][0] >= block.level:
            stack.pop()
        parent = stack[-1][1] if stack else None
        section = _classify_section(block.text, parent, len(sections))
        sections.append(section)
        stack.append((block.level, section))
    return sections


def _classify_section(text: str, parent: Section | None, index: int) -> Section:
    named = classify_heading(text)
    if parent is None:
        if named in ("diagnosis", "mitigation", "verification"):
            return Section([text], "phase", named, top=index)  # type: ignore[arg-type]
        if named in ("description", "rollback", "references"):
            return Section([text], named, "other", top=index)  # type: ignore[arg-type]
        return Section([text], "phase", "other", top=index)
    path = [*parent.path, text]
    if parent.kind == "phase" and named in ("diagnosis", "mitigation", "verification"):
        return Section(path, "phase", named, top=parent.top)  # type: ignore[arg-type]
    if parent.kind == "phase" and parent.phase == "other" and named in ("description", "references"):
        return Section(path, named, "other", top=parent.top)  # type: ignore[arg-type]
    if parent.kind == "phase" and named == "rollback":
        return Section(path, "rollback", parent.phase, top=parent.top)
    return Section(path, parent.kind, parent.phase, top=parent.top)
