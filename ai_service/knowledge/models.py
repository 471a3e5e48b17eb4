"""The shapes of parsed runbooks: what the parsers return, what runbook files may contain, and the small
document model the Markdown and DOCX parsers share.

* :class:`ParsedRunbook` / :class:`ParsedStep` are the parsers' output: one runbook and its atomic steps in
  document order, each step ready to become one ``runbook_steps`` row (``step_id`` = :func:`make_step_id`).
* :class:`RunbookDocument` / :class:`StepDocument` are the YAML/JSON schema (see ``docs/runbook-format.md``);
  :class:`FrontMatter` is the metadata a Markdown file may carry in YAML front matter.
* :class:`Heading`, :class:`Paragraph`, :class:`CodeBlock` and :class:`ListBlock` are the format-neutral blocks
  that Markdown and DOCX are first turned into, so that both are split into steps by the same rules.

What this module must never do: read files, parse formats, infer anything (risk, phase, steps), or touch the
database. It holds data and its validation only; the step hash lives here so it is computed the same way
everywhere.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, computed_field, field_validator

from ai_service.vocabulary import Phase, RiskLevel

__all__ = [
    "Block",
    "CodeBlock",
    "FrontMatter",
    "Heading",
    "ListBlock",
    "Paragraph",
    "ParsedRunbook",
    "ParsedStep",
    "Phase",
    "RiskLevel",
    "RunbookDocument",
    "StepDocument",
    "make_step_id",
    "step_content_sha256",
]

RunbookFormat = Literal["markdown", "yaml", "json", "docx"]
SLUG_PATTERN = r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$"

NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SLUG_PATTERN, max_length=200)]
#: A team name as people write it ("DBA Team", "Backup & Storage"); the same length limit as an assignment group.
TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
#: A runbook's owning team may be given as ``team``, ``owner`` or ``owning_team`` (the first one present counts).
TEAM_ALIASES = AliasChoices("team", "owner", "owning_team")


def make_step_id(runbook_id: str, position: int) -> str:
    """The ``runbook_steps.step_id`` of the step at ``position`` (1-based) of a runbook."""
    return f"{runbook_id}-S{position}"


def normalise_for_hash(text: str | None) -> str:
    """Line endings unified, trailing blanks on each line and around the text dropped; nothing else changes."""
    if not text:
        return ""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def step_content_sha256(
    condition: str, action: str, expected_outcome: str | None, rollback: str | None, risk_level: str
) -> str:
    """SHA-256 (hex) of a step's content: condition, action, expected outcome, rollback and risk level.

    Position, phase and section are left out on purpose, so inserting a step elsewhere in the runbook does not
    change the hash of the steps around it.
    """
    parts = [condition, action, expected_outcome, rollback, risk_level]
    payload = "\x1f".join(normalise_for_hash(part) for part in parts)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ParsedStep(BaseModel):
    """One atomic, independently retrievable step of a runbook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int = Field(ge=1, description="1-based position in document order")
    phase: Phase
    section: str = Field(description="heading path, e.g. 'Mitigation > Disk full by logs'")
    condition: NonEmptyText
    action: NonEmptyText
    expected_outcome: str | None = None
    rollback: str | None = None
    risk_level: RiskLevel
    risk_inferred: bool
    risk_reason: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def content_sha256(self) -> str:
        return step_content_sha256(self.condition, self.action, self.expected_outcome, self.rollback, self.risk_level)

    @field_validator("expected_outcome", "rollback")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()


class ParsedRunbook(BaseModel):
    """A runbook file, parsed: its metadata, description and steps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runbook_id: Slug
    title: NonEmptyText
    service: str | None = None
    component: str | None = None
    team: str | None = Field(default=None, description="The owning team: declared, else the file's folder")
    tags: list[str] = Field(default_factory=list)
    last_reviewed: date | None = None
    description: str | None = None
    source_path: str
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    format: RunbookFormat
    steps: list[ParsedStep] = Field(default_factory=list)

    def step_id(self, step: ParsedStep) -> str:
        return make_step_id(self.runbook_id, step.position)

    def steps_in(self, phase: Phase) -> list[ParsedStep]:
        return [step for step in self.steps if step.phase == phase]


# --- the YAML / JSON schema ---------------------------------------------------------------------------------


def _split_tags(value: object) -> object:
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    return value


class StepDocument(BaseModel):
    """One step as written in a YAML/JSON runbook."""

    model_config = ConfigDict(extra="forbid", strict=False)

    condition: NonEmptyText
    action: NonEmptyText
    expected_outcome: str | None = None
    rollback: str | None = None
    risk_level: RiskLevel | None = None
    phase: Phase | None = None


class RunbookDocument(BaseModel):
    """A whole YAML/JSON runbook; see ``docs/runbook-format.md``."""

    model_config = ConfigDict(extra="forbid")

    runbook_id: Slug | None = None
    title: NonEmptyText
    service: NonEmptyText | None = None
    component: NonEmptyText | None = None
    team: TeamName | None = Field(default=None, validation_alias=TEAM_ALIASES)
    tags: list[NonEmptyText] = Field(default_factory=list)
    last_reviewed: date | None = None
    description: str | None = None
    steps: list[StepDocument] = Field(min_length=1)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_from_string(cls, value: object) -> object:
        return _split_tags(value)


class FrontMatter(BaseModel):
    """Metadata a Markdown runbook may give in YAML front matter. Other keys (Hugo's ``weight``, ``aliases``
    ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    runbook_id: Slug | None = None
    title: NonEmptyText | None = None
    service: NonEmptyText | None = None
    component: NonEmptyText | None = None
    team: TeamName | None = Field(default=None, validation_alias=TEAM_ALIASES)
    tags: list[NonEmptyText] = Field(default_factory=list)
    last_reviewed: date | None = None
    description: str | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_from_string(cls, value: object) -> object:
        if value is None:
            return []
        return _split_tags(value)


# --- the format-neutral document model (Markdown and DOCX are turned into these blocks) ---------------------


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    """Prose. ``text`` keeps inline code in backticks and links as ``text (url)``; ``pseudo_heading`` marks a
    paragraph that is only bold text (``**When mixed with other alerts**:``), which acts like a sub-heading;
    ``table`` marks a table flattened to one line per row (reference material, never a step of its own)."""

    text: str
    pseudo_heading: bool = False
    table: bool = False


@dataclass
class CodeBlock:
    """A code block, kept verbatim."""

    content: str
    lang: str = ""

    def render(self) -> str:
        body = self.content if self.content.endswith("\n") else self.content + "\n"
        fence = "````" if re.search(r"^\s*```", body, re.MULTILINE) else "```"
        return f"{fence}{self.lang}\n{body}{fence}"


@dataclass
class ListBlock:
    """A numbered or bulleted list; each item is a list of blocks (paragraphs, code, nested lists)."""

    ordered: bool
    items: list[list[Block]] = field(default_factory=list)


Block = Heading | Paragraph | CodeBlock | ListBlock
