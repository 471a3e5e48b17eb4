"""YAML and JSON runbooks: a ``title`` and an explicit ``steps`` list, validated against :class:`RunbookDocument`.

Steps are taken as written; only what a step leaves out is filled in: its phase (verification when it verifies
after a mitigation, else mitigation when its action changes something, else diagnosis) and its risk
(:func:`ai_service.knowledge.risk.infer_risk`). Id, service, component and team default to what the path says.

What this module must never do: reorder, merge or split the steps a file states, or accept a file that breaks
the schema (every violation is reported with its line by :mod:`.schema`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from ai_service.errors import InputError
from ai_service.knowledge.models import ParsedRunbook, ParsedStep, Phase, RiskLevel, RunbookDocument, RunbookFormat
from ai_service.knowledge.parsers.files import SourceInfo, derive_runbook_id, derive_service_component, derive_team
from ai_service.knowledge.parsers.prose import VERIFY_START_RE
from ai_service.knowledge.parsers.schema import (
    too_deep_error,
    unstorable_text_error,
    validate,
    yaml_syntax_error,
    yaml_value_error,
)
from ai_service.knowledge.parsers.sections import PHASE_LABELS
from ai_service.knowledge.risk import infer_risk
from ai_service.validation import type_name


def parse_structured(text: str, fmt: Literal["yaml", "json"], source: SourceInfo) -> ParsedRunbook:
    """Parse a YAML or JSON runbook and validate it against :class:`RunbookDocument`."""
    try:
        data = _load_json(text, source) if fmt == "json" else _load_yaml(text, source)
    except RecursionError:  # both loaders recurse per level of nesting
        raise too_deep_error(source, "the runbook") from None
    if not isinstance(data, dict):
        kind = "nothing" if data is None else f"a {type_name(data)}"
        raise InputError(
            f"{source.display}:1: expected a mapping with 'title' and 'steps' at the top level, found {kind}",
            hint="start the file with 'title: ...' and a 'steps:' list (see docs/runbook-format.md)",
        )
    unstorable = unstorable_text_error(data, text, source, line_offset=0)
    if unstorable is not None:
        raise unstorable
    document = validate(RunbookDocument, data, text, source, line_offset=0)
    return _runbook_from_document(document, fmt, source)


def _load_yaml(text: str, source: SourceInfo) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise yaml_syntax_error(exc, source, "runbook", line_offset=0) from exc
    except ValueError as exc:  # a value that parses but cannot be built, e.g. last_reviewed: 2026-13-01
        raise yaml_value_error(exc, text, source, "runbook", line_offset=0) from exc


def _load_json(text: str, source: SourceInfo) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source.display}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}",
            hint="fix the JSON syntax at that position (a missing comma or quote is the usual cause)",
        ) from exc


def _runbook_from_document(document: RunbookDocument, fmt: RunbookFormat, source: SourceInfo) -> ParsedRunbook:
    service, component = derive_service_component(source.relative)
    steps: list[ParsedStep] = []
    seen_mitigation = False
    for position, item in enumerate(document.steps, start=1):
        phase = item.phase or _infer_phase(item.condition, item.action, seen_mitigation)
        seen_mitigation = seen_mitigation or phase == "mitigation"
        if item.risk_level is not None:
            risk: RiskLevel = item.risk_level
            reason = "stated in the runbook"
        else:
            risk, reason = infer_risk(item.action, phase)
        steps.append(
            ParsedStep(
                position=position,
                phase=phase,
                section=PHASE_LABELS[phase],
                condition=item.condition,
                action=item.action,
                expected_outcome=item.expected_outcome,
                rollback=item.rollback,
                risk_level=risk,
                risk_inferred=item.risk_level is None,
                risk_reason=reason,
            )
        )
    return ParsedRunbook(
        runbook_id=document.runbook_id or derive_runbook_id(source.relative),
        title=document.title,
        service=document.service or service,
        component=document.component or component,
        team=document.team or derive_team(source.relative),
        tags=list(document.tags),
        last_reviewed=document.last_reviewed,
        description=(document.description or "").strip() or None,
        source_path=source.display,
        content_sha256=source.sha256,
        format=fmt,
        steps=steps,
    )


def _infer_phase(condition: str, action: str, seen_mitigation: bool) -> Phase:
    """Phase of a YAML step that does not state one: verification when it verifies after a mitigation, else
    mitigation when its action changes something, else diagnosis."""
    if seen_mitigation and (VERIFY_START_RE.match(action) or VERIFY_START_RE.match(condition)):
        return "verification"
    risk, _ = infer_risk(action, "diagnosis")
    if risk != "low":
        return "mitigation"
    return "verification" if seen_mitigation else "diagnosis"
