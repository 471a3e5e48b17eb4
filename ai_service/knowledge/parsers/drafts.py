"""The blocks under the headings of one phase section, split into draft steps.

Each top-level item of an instructive list is a step; prose is split at paragraph (and, for checklists, line)
boundaries into instructive units; a paragraph that introduces a code block is one step with it; explanatory
text leads into the step after it or trails the step before it instead of becoming one; "Expected: ..." and
"To roll back ..." paragraphs go with their step. A :class:`DraftStep` still holds blocks: :mod:`.steps`
finishes it.

What this module must never do: reorder blocks, drop any but placeholders ("TODO") - a pseudo-heading or an
introduction ending in ":" becomes the context of the steps under it -, or render text: drafts keep the blocks
as parsed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ai_service.knowledge.models import Block, CodeBlock, ListBlock, Paragraph, Phase
from ai_service.knowledge.parsers.inline import plain_text
from ai_service.knowledge.parsers.prose import (
    CONDITION_START_RE,
    OUTCOME_START_RE,
    ROLLBACK_START_RE,
    is_instructive,
    is_placeholder,
    is_reference,
    line_groups,
    split_paragraph,
    split_sentences,
    starts_with_instruction,
)

UnitKind = Literal["step", "note", "outcome", "rollback", "context"]


@dataclass
class Unit:
    kind: UnitKind
    blocks: list[Block] = field(default_factory=list)
    context: str | None = None
    from_list: bool = False
    pseudo_heading: bool = False


@dataclass
class DraftStep:
    phase: Phase
    path: list[str]
    context: list[str]
    lead: list[Block] = field(default_factory=list)
    main: list[Block] = field(default_factory=list)
    trailing: list[Block] = field(default_factory=list)
    outcome: list[Block] = field(default_factory=list)
    rollback: list[Block] = field(default_factory=list)


#: Code block languages of example output: such a block after an explanation does not make it a step.
OUTPUT_LANGS = frozenset({"txt", "text", "output", "log", "logs", "plain", "plaintext"})


def first_text(blocks: Sequence[Block]) -> str:
    for block in blocks:
        if isinstance(block, Paragraph):
            return block.text
        if isinstance(block, ListBlock) and block.items:
            return first_text(block.items[0])
    return ""


def _item_is_instructive(item: list[Block]) -> bool:
    text = first_text(item)
    sentences = split_sentences(text)
    return any(isinstance(b, CodeBlock) for b in item) or bool(sentences and starts_with_instruction(sentences[0]))


def list_is_instructive(block: ListBlock) -> bool:
    """A list is a list of steps when at least half of its items (references aside) are instructions."""
    items = [item for item in block.items if first_text(item) or item]
    candidates = [item for item in items if not is_reference(first_text(item))]
    instructive = sum(1 for item in candidates if _item_is_instructive(item))
    return instructive >= 1 and instructive * 2 >= len(candidates)


def _list_units(block: ListBlock, context: str | None) -> list[Unit]:
    units: list[Unit] = []
    for item in block.items:
        text = first_text(item)
        if text and is_placeholder(text) and len(item) == 1:
            continue
        kind: UnitKind = "note" if text and is_reference(text) and len(item) == 1 else "step"
        units.append(Unit(kind, list(item), context=context, from_list=True))
    return units


class GroupSplitter:
    """Turns the blocks directly under one heading into units: steps, notes, outcomes, rollbacks, context."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.units: list[Unit] = []
        self.index = 0

    def run(self) -> list[Unit]:
        while self.index < len(self.blocks):
            block = self.blocks[self.index]
            if isinstance(block, Paragraph):
                self._paragraph(block)
            elif isinstance(block, CodeBlock):
                self._code(block)
            elif isinstance(block, ListBlock):
                self._list(block, None)
            else:
                self.index += 1
        return self.units

    def _following_code(self, start: int) -> list[Block]:
        codes: list[Block] = []
        while start < len(self.blocks) and isinstance(self.blocks[start], CodeBlock):
            codes.append(self.blocks[start])
            start += 1
        return codes

    def _paragraph(self, paragraph: Paragraph) -> None:
        self.index += 1
        plain = plain_text(paragraph.text)
        following = self.blocks[self.index] if self.index < len(self.blocks) else None
        if paragraph.pseudo_heading:
            self.units.append(Unit("context", context=plain.rstrip(" :"), pseudo_heading=True))
            return
        if not plain or is_placeholder(plain):
            return
        if paragraph.table:
            self.units.append(Unit("note", [paragraph]))
            return
        if ROLLBACK_START_RE.match(plain) or OUTCOME_START_RE.match(plain):
            kind: UnitKind = "rollback" if ROLLBACK_START_RE.match(plain) else "outcome"
            codes = self._following_code(self.index)
            self.index += len(codes)
            self.units.append(Unit(kind, [paragraph, *codes]))
            return
        if isinstance(following, CodeBlock):
            self._paragraph_with_code(paragraph)
            return
        if isinstance(following, ListBlock) and plain.endswith(":"):
            self._intro_and_list(paragraph, following)
            return
        if (
            plain.endswith(":")
            and isinstance(following, Paragraph)
            and not following.pseudo_heading
            and (CONDITION_START_RE.match(plain) or not is_instructive(paragraph.text))
        ):
            self.units.append(Unit("context", context=plain.rstrip(" :")))
            return
        if re.match(r"^and\b", plain, re.IGNORECASE) and any(u.kind == "step" for u in self.units):
            self.units.append(Unit("note", [paragraph]))
            return
        for piece in split_paragraph(paragraph):
            self.units.append(Unit(self._prose_kind(piece.text), [piece]))

    @staticmethod
    def _prose_kind(text: str) -> UnitKind:
        if is_reference(text):
            return "note"
        return "step" if is_instructive(text) else "note"

    def _paragraph_with_code(self, paragraph: Paragraph) -> None:
        codes = self._following_code(self.index)
        self.index += len(codes)
        last = paragraph
        first_code = codes[0]
        assert isinstance(first_code, CodeBlock)
        example = not is_instructive(last.text) and (
            first_code.lang.lower() in OUTPUT_LANGS
            or (not first_code.lang and re.search(r"\bexample\b|\blooks?\s+like\b", last.text, re.IGNORECASE))
        )
        self.units.append(Unit("note" if example else "step", [last, *codes]))

    def _intro_and_list(self, paragraph: Paragraph, block: ListBlock) -> None:
        self.index += 1
        groups = line_groups(paragraph.text)
        if len(groups) > 1:
            head = Paragraph("\n".join(groups[:-1]))
            for piece in split_paragraph(head):
                self.units.append(Unit(self._prose_kind(piece.text), [piece]))
            paragraph = Paragraph(groups[-1])
        intro = plain_text(paragraph.text).rstrip(" :")
        if list_is_instructive(block):
            self._list(block, intro[:200])
            return
        kind: UnitKind = "step" if is_instructive(paragraph.text) else "note"
        self.units.append(Unit(kind, [paragraph, block], from_list=True))
        self._code_after_list()

    def _list(self, block: ListBlock, context: str | None) -> None:
        if context is None:
            self.index += 1
        if list_is_instructive(block):
            self.units.extend(_list_units(block, context))
        else:
            self.units.append(Unit("note", [block], from_list=True))
        self._code_after_list()

    def _code_after_list(self) -> None:
        codes = self._following_code(self.index)
        if not codes or not self.units or not self.units[-1].from_list:
            return
        self.index += len(codes)
        target = self.units[-1]
        target.blocks.extend(codes)
        first = codes[0]
        if isinstance(first, CodeBlock) and first.lang.lower() not in OUTPUT_LANGS:
            target.kind = "step"

    def _code(self, block: CodeBlock) -> None:
        self.index += 1
        self.units.append(Unit("step", [block]))


def split_phase_section(groups: list[tuple[list[str], list[Block]]], phase: Phase, fallback: bool) -> list[DraftStep]:
    """Steps of one top-level phase section, given its groups (heading path, blocks under that heading) in
    document order.

    Explanatory blocks before a group's first step lead into that step; a sub-heading whose content has no
    instruction at all becomes one step (it names an option, e.g. "### Data export"); the top heading's own
    introduction carries over to the first step below it. With ``fallback``, a section without any step still
    yields one step from its prose, so that e.g. "Mitigation depends on the error reported" is kept.
    """
    drafts: list[DraftStep] = []
    pending: list[Block] = []
    for path, blocks in groups:
        group_drafts = _split_group(path, blocks, phase, pending)
        if group_drafts:
            drafts.extend(group_drafts)
            pending = []
            continue
        notes = _group_notes(blocks)
        if len(path) > 1 and notes:
            drafts.append(DraftStep(phase, path, [], lead=pending, main=notes))
            pending = []
        else:
            pending = [*pending, *notes]
    if pending and drafts:
        drafts[-1].trailing.extend(pending)
    elif pending and not drafts and fallback:
        drafts.append(DraftStep(phase, groups[0][0], [], main=pending))
    return drafts


def _group_notes(blocks: list[Block]) -> list[Block]:
    units = GroupSplitter(blocks).run()
    return [block for unit in units if unit.kind != "context" for block in unit.blocks]


def _split_group(path: list[str], blocks: list[Block], phase: Phase, lead: list[Block]) -> list[DraftStep]:
    drafts: list[DraftStep] = []
    pending = list(lead)
    heading_context: list[str] = []
    lead_context: list[str] = []
    current: DraftStep | None = None
    for unit in GroupSplitter(blocks).run():
        if unit.kind == "context" and unit.pseudo_heading:
            heading_context, lead_context = [unit.context or ""], []
        elif unit.kind == "context":
            lead_context = [unit.context or ""]
        elif unit.kind == "step":
            context = [*heading_context, *lead_context, *([unit.context] if unit.context else [])]
            current = DraftStep(phase, path, context, lead=pending, main=list(unit.blocks))
            pending = []
            drafts.append(current)
        elif current is None:
            pending.extend(unit.blocks)
        elif unit.kind == "note":
            current.trailing.extend(unit.blocks)
        elif unit.kind == "outcome":
            current.outcome.extend(unit.blocks)
        else:
            current.rollback.extend(unit.blocks)
    if pending and drafts:
        drafts[-1].trailing.extend(pending)
    return drafts
