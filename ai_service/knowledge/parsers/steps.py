"""Draft steps finished into parsed steps, and the runbook built from blocks (shared by Markdown and DOCX).

For each draft: the condition (its own "If ..."/"When ..." clause plus its section context and the runbook
title), the action (its blocks rendered back to Markdown), the expected outcome and rollback lifted out of
"Expected:"/"You should see"/"To roll back" sentences and out of ``## Rollback`` sections, and the risk
(explicit "Risk: high", else :func:`ai_service.knowledge.risk.infer_risk`). A runbook without any written step
gets one reading step that names it.

What this module must never do: number steps other than 1..n in document order (the ids ``<runbook_id>-S<n>``
rest on it), leave a condition or an action empty, or change a code block while rendering it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ai_service.knowledge.models import (
    Block,
    CodeBlock,
    FrontMatter,
    ListBlock,
    Paragraph,
    ParsedRunbook,
    ParsedStep,
    Phase,
    RiskLevel,
    RunbookFormat,
)
from ai_service.knowledge.parsers.drafts import DraftStep, first_text, split_phase_section
from ai_service.knowledge.parsers.files import SourceInfo, derive_runbook_id, derive_service_component, derive_team
from ai_service.knowledge.parsers.inline import plain_text
from ai_service.knowledge.parsers.prose import (
    OUTCOME_START_RE,
    ROLLBACK_START_RE,
    VERIFY_START_RE,
    is_instructive_sentence,
    is_placeholder,
    leading_condition,
    split_sentences,
    wordset,
)
from ai_service.knowledge.parsers.sections import PHASE_LABELS, Section, split_sections
from ai_service.knowledge.risk import infer_risk

_OUTCOME_LABEL_RE = re.compile(r"^expected(?:\s+(?:outcome|result|output))?\s*:\s*", re.IGNORECASE)
_ROLLBACK_LABEL_RE = re.compile(r"^(?:roll\s*back|rollback|undo|revert|back\s*out)\s*:\s*", re.IGNORECASE)
_IRREVERSIBLE_RE = re.compile(
    r"\b(?:cannot|can'?t|can\s+not)\s+be\s+(?:undone|rolled\s+back|reverted|recovered)\b|\birreversibl[ey]\b",
    re.IGNORECASE,
)
_RISK_MARK_RE = re.compile(r"(?:^|\s)\[?risk(?:\s+level)?\s*:\s*(low|medium|high)\]?\.?(?=\s|$)", re.IGNORECASE)


# --- rendering and finishing steps ---------------------------------------------------------------------------


def render_blocks(blocks: Sequence[Block]) -> str:
    return "\n\n".join(part for part in (_render_block(block) for block in blocks) if part.strip())


def _render_block(block: Block, indent: str = "") -> str:
    if isinstance(block, Paragraph):
        return _indent(block.text, indent)
    if isinstance(block, CodeBlock):
        return _indent(block.render(), indent)
    if isinstance(block, ListBlock):
        lines = []
        for number, item in enumerate(block.items, start=1):
            marker = f"{number}. " if block.ordered else "- "
            body = "\n".join(_render_block(child, " " * len(marker)) for child in item).lstrip()
            lines.append(f"{indent}{marker}{body}")
        return "\n".join(lines)
    return _indent(block.text, indent)


def _indent(text: str, indent: str) -> str:
    if not indent:
        return text
    return "\n".join(indent + line if line else line for line in text.split("\n"))


@dataclass
class Extracted:
    action: list[Block]
    main: list[Block]
    outcome: list[str]
    rollback: list[str]
    risk: RiskLevel | None = None


def extract_outcome_and_rollback(draft: DraftStep) -> Extracted:
    """Move "Expected: ..."/"You should see ..." sentences to the expected outcome and "To roll back ..."
    sentences to the rollback; copy "cannot be undone" warnings to the rollback; read a "Risk: high" mark.
    ``main`` is what is left of the step's own blocks (risk is inferred from these, not from lead-in or
    trailing explanations)."""
    result = Extracted(action=list(draft.lead), main=[], outcome=[], rollback=[])
    for index, block in enumerate(draft.main):
        kept = _extract_block(block, index == 0, result)
        result.main.extend(kept)
        result.action.extend(kept)
    for block in draft.trailing:
        result.action.extend(_extract_block(block, False, result))
    if draft.outcome:
        result.outcome.append(_OUTCOME_LABEL_RE.sub("", render_blocks(draft.outcome), count=1))
    if draft.rollback:
        result.rollback.append(_ROLLBACK_LABEL_RE.sub("", render_blocks(draft.rollback), count=1))
    return result


def _extract_block(block: Block, keep_first_sentence: bool, result: Extracted) -> list[Block]:
    if isinstance(block, ListBlock):
        kept_items = []
        for item in block.items:
            text = plain_text(first_text(item))
            if OUTCOME_START_RE.match(text) and not is_instructive_sentence(text):
                result.outcome.append(_OUTCOME_LABEL_RE.sub("", render_blocks(item), count=1))
            elif ROLLBACK_START_RE.match(text):
                result.rollback.append(_ROLLBACK_LABEL_RE.sub("", render_blocks(item), count=1))
            else:
                kept_items.append(item)
        return [ListBlock(block.ordered, kept_items)] if kept_items else []
    if not isinstance(block, Paragraph):
        return [block]
    return _extract_paragraph(block, keep_first_sentence, result)


def _extract_paragraph(paragraph: Paragraph, keep_first: bool, result: Extracted) -> list[Block]:
    text = paragraph.text
    mark = _RISK_MARK_RE.search(text)
    if mark:
        result.risk = mark.group(1).lower()  # type: ignore[assignment]
        text = (text[: mark.start()] + text[mark.end() :]).strip()
    kept: list[str] = []
    outcome: list[str] = []
    rollback: list[str] = []
    state: Literal["action", "outcome", "rollback"] = "action"
    for number, sentence in enumerate(split_sentences(text)):
        plain = plain_text(sentence)
        irreversible = bool(_IRREVERSIBLE_RE.search(plain))
        if irreversible:
            result.rollback.append(sentence)
        if number == 0 and keep_first:
            kept.append(sentence)
            continue
        if ROLLBACK_START_RE.match(plain):
            state = "rollback"
        elif OUTCOME_START_RE.match(plain) and state != "rollback" and not irreversible:
            state = "outcome"
        elif state == "outcome" and (irreversible or is_instructive_sentence(sentence)):
            state = "action"
        {"action": kept, "outcome": outcome, "rollback": rollback}[state].append(sentence)
    if outcome:
        result.outcome.append(_OUTCOME_LABEL_RE.sub("", " ".join(outcome), count=1))
    if rollback:
        result.rollback.append(_ROLLBACK_LABEL_RE.sub("", " ".join(rollback), count=1))
    if not (outcome or rollback or mark):
        return [paragraph]
    joined = " ".join(kept).strip()
    return [Paragraph(joined)] if joined else []


def compose_condition(draft: DraftStep, title: str) -> tuple[str, str | None]:
    """``(condition, clause)``: the step's own leading If/When clause (if any) with its section context."""
    top = draft.path[0] if draft.path else None
    label = PHASE_LABELS[draft.phase]
    details: list[str] = []
    if draft.phase == "other":
        base = f"{top} for {title}" if top else f"Responding to {title}"
    else:
        base = f"{label} of {title}"
        if top and top.strip().lower() != label.lower():
            details.append(top)
    details.extend(draft.path[1:])
    details.extend(item for item in draft.context if item)
    context = base + (": " + " > ".join(_shorten(plain_text(d), 160) for d in details) if details else "")
    clause = _step_clause(draft)
    if clause:
        return f"{clause} ({context})", clause
    return context, None


def _step_clause(draft: DraftStep) -> str | None:
    text = first_text(draft.main)
    if not text:
        return None
    sentences = split_sentences(text)
    if not sentences:
        return None
    clause, _ = leading_condition(plain_text(sentences[0]))
    if clause is None or len(clause) < 6:
        return None
    return _shorten(clause, 220)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _final_phase(draft: DraftStep, risk: RiskLevel) -> Phase:
    """A read-only step in a mitigation section that opens with "As validation", "Verify that", "Confirm ..."
    verifies the mitigation before it."""
    if draft.phase == "mitigation" and risk == "low" and VERIFY_START_RE.match(plain_text(first_text(draft.main))):
        return "verification"
    return draft.phase


def finish_steps(drafts: list[DraftStep], title: str) -> list[ParsedStep]:
    steps: list[ParsedStep] = []
    for position, draft in enumerate(drafts, start=1):
        condition, _ = compose_condition(draft, title)
        extracted = extract_outcome_and_rollback(draft)
        action = render_blocks(extracted.action)
        if not action.strip():
            action = render_blocks([*draft.main, *draft.trailing]) or condition
        if extracted.risk is not None:
            risk: RiskLevel = extracted.risk
            reason = "stated in the runbook"
        else:
            risk, reason = infer_risk(render_blocks(extracted.main) or action, draft.phase)
        phase = _final_phase(draft, risk)
        steps.append(
            ParsedStep(
                position=position,
                phase=phase,
                section=" > ".join(draft.path) if draft.path else title,
                condition=condition,
                action=action,
                expected_outcome="\n\n".join(o for o in extracted.outcome if o.strip()) or None,
                rollback="\n\n".join(r for r in extracted.rollback if r.strip()) or None,
                risk_level=risk,
                risk_inferred=extracted.risk is None,
                risk_reason=reason,
            )
        )
    return steps


# --- rollback sections ---------------------------------------------------------------------------------------

_STOPWORDS = wordset(
    "the a an and or of to in on for with from by is are was were be this that these those it its if then when "
    "you your we our can may should must not no into back roll rollback undo revert step steps"
)


def _rollback_units(blocks: list[Block]) -> list[list[Block]]:
    units: list[list[Block]] = []
    for block in blocks:
        if isinstance(block, ListBlock):
            units.extend(list(item) for item in block.items)
        elif isinstance(block, CodeBlock) and units:
            units[-1].append(block)
        elif isinstance(block, Paragraph) and not is_placeholder(block.text):
            units.append([block])
    return units


def attach_rollbacks(drafts: list[DraftStep], sections: list[Section]) -> None:
    """Give each item of a ``## Rollback`` section to the step it refers to: by number ("step 3"), by the
    name of the step's sub-heading, by shared words with a mitigation step, else to the last mitigation step."""
    for section in sections:
        if section.kind != "rollback":
            continue
        for unit in _rollback_units(section.blocks):
            target = _rollback_target(drafts, render_blocks(unit))
            if target is not None:
                target.rollback.extend(unit)


def _rollback_target(drafts: list[DraftStep], text: str) -> DraftStep | None:
    if not drafts:
        return None
    number = re.search(r"\b[Ss]tep\s+#?(\d+)\b|-S(\d+)\b", text)
    if number:
        position = int(number.group(1) or number.group(2))
        if 1 <= position <= len(drafts):
            return drafts[position - 1]
    mitigations = [d for d in drafts if d.phase == "mitigation"] or drafts
    lowered = text.lower()
    named = [d for d in mitigations if len(d.path) > 1 and d.path[-1].lower() in lowered]
    if named:
        return named[-1]
    words = _significant_words(text)
    scored = [(len(words & _significant_words(render_blocks(d.main))), i) for i, d in enumerate(mitigations)]
    best_score, best_index = max(scored)
    if best_score >= 2:
        return mitigations[best_index]
    return mitigations[-1]


def _significant_words(text: str) -> set[str]:
    return {w for w in (w.lower() for w in re.findall(r"[A-Za-z][\w-]{3,}", text)) if w not in _STOPWORDS}


# --- from blocks to a runbook (shared by Markdown and DOCX) --------------------------------------------------


def build_runbook(blocks: list[Block], meta: FrontMatter, source: SourceInfo, fmt: RunbookFormat) -> ParsedRunbook:
    heading_title, preamble, sections = split_sections(blocks)
    title = meta.title or heading_title or source.relative.stem or "Untitled runbook"
    drafts = _drafts(preamble, sections)
    attach_rollbacks(drafts, sections)
    uses_preamble = not any(s.kind == "phase" for s in sections)
    description = meta.description or _description(preamble if not uses_preamble or not drafts else [], sections)
    service, component = derive_service_component(source.relative)
    return ParsedRunbook(
        runbook_id=meta.runbook_id or derive_runbook_id(source.relative),
        title=title,
        service=meta.service or service,
        component=meta.component or component,
        team=meta.team or derive_team(source.relative),
        tags=list(meta.tags),
        last_reviewed=meta.last_reviewed,
        description=description,
        source_path=source.display,
        content_sha256=source.sha256,
        format=fmt,
        steps=finish_steps(drafts, title) or [reading_step(title, description)],
    )


def reading_step(title: str, description: str | None) -> ParsedStep:
    """The one step of a runbook with no written steps (only "TODO" sections, or prose that instructs nothing).

    A runbook that matches an alert is worth naming even before anyone has written its steps: the plan then says
    which runbook applies and what it knows, instead of nothing. Reading changes nothing, so its risk is low.
    """
    what = f"What it says:\n\n{description}" if description else "It has no description either: ask its owner."
    return ParsedStep(
        position=1,
        phase="diagnosis",
        section=title,
        condition=f"{title} (this runbook has no written steps yet)",
        action=f"Read the runbook and confirm the situation it describes. {what}",
        risk_level="low",
        risk_inferred=False,
        risk_reason="reading only: the runbook has no written steps",
    )


def _drafts(preamble: list[Block], sections: list[Section]) -> list[DraftStep]:
    drafts: list[DraftStep] = []
    if not any(s.kind == "phase" for s in sections):
        drafts.extend(split_phase_section([([], preamble)], "other", fallback=False))
    tops = sorted({s.top for s in sections if s.kind == "phase"})
    for top in tops:
        members = [s for s in sections if s.top == top and s.kind == "phase"]
        by_phase: list[tuple[Phase, list[tuple[list[str], list[Block]]]]] = []
        for section in members:
            if by_phase and by_phase[-1][0] == section.phase:
                by_phase[-1][1].append((section.path, section.blocks))
            else:
                by_phase.append((section.phase, [(section.path, section.blocks)]))
        for index, (phase, groups) in enumerate(by_phase):
            drafts.extend(split_phase_section(groups, phase, fallback=index == 0))
    return drafts


def _description(preamble: list[Block], sections: list[Section]) -> str | None:
    parts: list[str] = []
    text = _description_text(preamble)
    if text:
        parts.append(text)
    for section in sections:
        if section.kind != "description":
            continue
        text = _description_text(section.blocks)
        if text:
            parts.append(f"{section.path[-1]}: {text}")
    joined = "\n\n".join(parts).strip()
    return joined or None


def _description_text(blocks: list[Block]) -> str:
    kept: list[Block] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            if is_placeholder(block.text):
                continue
            kept.append(Paragraph(plain_text(block.text) if block.pseudo_heading else block.text))
        else:
            kept.append(block)
    return render_blocks(kept).strip()
