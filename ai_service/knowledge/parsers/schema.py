"""Malformed runbook files reported: YAML syntax errors and schema violations, each with its file and line.

:func:`validate` checks data loaded from YAML or JSON (a structured runbook, Markdown front matter, DOCX core
properties) against a pydantic model and raises one :class:`InputError` listing every violation as
``file:line: field.path: problem`` (an unknown field gets "did you mean ...?"), with hints that say how to fix
them; :func:`yaml_syntax_error` builds the same kind of error for a YAML syntax error.

What this module must never do: repair, coerce or skip invalid input, or report a problem without naming the
file it is in (and its line, when the YAML tree knows it).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ai_service.errors import InputError
from ai_service.knowledge.models import StepDocument
from ai_service.knowledge.parsers.files import SourceInfo
from ai_service.validation import yaml_line, yaml_tree


def yaml_syntax_error(exc: yaml.YAMLError, source: SourceInfo, what: str, line_offset: int) -> InputError:
    """The :class:`InputError` for a YAML syntax error in ``what`` ("runbook", "front matter"), at its line."""
    line, column, problem, unclosed = yaml_problem(exc, line_offset)
    where = source.display
    if line is not None:
        where = f"{source.display}:{line}:{column}"
    return InputError(
        f"{where}: {what} is not valid YAML: {problem}",
        hint="close it (a missing quote or bracket is the usual cause)"
        if unclosed
        else "fix the YAML syntax at that line (indentation and unquoted ':' are the usual causes)",
    )


def yaml_problem(exc: yaml.YAMLError, line_offset: int = 0) -> tuple[int | None, int | None, str, bool]:
    """(1-based line in the file, column, what is wrong, whether something is left open) of a YAML syntax error;
    ``line_offset`` is the file line before the YAML's first (front matter starts after its ``---``).

    A quote or bracket that is never closed is found only at the end of the text: the error is then placed
    where the unclosed construct starts, since that is the line to fix, and the end is named after it.
    """
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    construct = (getattr(exc, "context", None) or "").removeprefix("while scanning ").removeprefix("while parsing ")
    at_end = "end of stream" in problem or "<stream end>" in problem
    if context_mark is not None and problem_mark is not None and context_mark.line != problem_mark.line:
        if at_end:
            message = (
                f"{construct} starts here and is never closed ({problem} at line {problem_mark.line + 1 + line_offset})"
            )
            return context_mark.line + 1 + line_offset, context_mark.column + 1, message, True
        problem += f" (in the {construct.removeprefix('a ')} that starts at line {context_mark.line + 1 + line_offset})"
    mark = problem_mark or context_mark
    if mark is None:
        return None, None, problem, False
    return mark.line + 1 + line_offset, mark.column + 1, problem, at_end and context_mark is not None


def too_deep_error(source: SourceInfo, what: str) -> InputError:
    """The :class:`InputError` for a file nested deeper than its parser can follow (which would crash it)."""
    return InputError(
        f"{source.display}: {what} is nested too deeply to read (thousands of levels of lists or mappings)",
        hint="a runbook nests a few levels at most (steps: a list of mappings of text): check that this file "
        "is a runbook",
    )


def unstorable_text_error(data: Any, text: str, source: SourceInfo, line_offset: int) -> InputError | None:
    """The :class:`InputError` for the first string of loaded YAML/JSON that holds a NUL character (``\\0``,
    ``\\u0000``), which PostgreSQL text cannot store, at its line; None when there is none."""
    pending: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while pending:
        value, loc = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            line = yaml_line(yaml_tree(text), loc)
            where = f"{source.display}:{line + line_offset}" if line is not None else source.display
            field = ".".join(map(str, loc)) or "the document"
            return InputError(
                f"{where}: {field}: holds a NUL character (\\0 or \\u0000), which cannot be stored",
                hint="remove the escape; a runbook is text",
            )
        if isinstance(value, dict):
            pending.extend((item, (*loc, str(key))) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((item, (*loc, index)) for index, item in reversed(list(enumerate(value))))
    return None


def yaml_value_error(exc: ValueError, text: str, source: SourceInfo, what: str, line_offset: int) -> InputError:
    """The :class:`InputError` for a YAML value that parses but cannot be built (a date such as 2026-13-01),
    at the line of the first such value."""
    line = _unbuildable_line(text)
    where = f"{source.display}:{line + line_offset}" if line is not None else source.display
    return InputError(
        f"{where}: {what} has a value YAML cannot read: {exc}",
        hint="write dates as a real YYYY-MM-DD date, or quote the value to keep it as text",
    )


def _unbuildable_line(text: str) -> int | None:
    """1-based line of the first scalar whose value the YAML loader cannot construct."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    loader = yaml.SafeLoader("")
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop(0)
        if isinstance(node, yaml.ScalarNode):
            try:
                loader.construct_object(node, deep=True)
            except (ValueError, yaml.YAMLError):
                return node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                pending.extend((key, value))
    return None


_ERROR_HINTS: dict[str, str] = {
    "missing": "add the missing field; every step needs 'condition' and 'action', the runbook 'title' and 'steps'",
    "extra_forbidden": "remove or rename the field; runbook fields are runbook_id, title, service, component, "
    "team, tags, last_reviewed, description, steps; step fields are condition, action, expected_outcome, rollback, "
    "risk_level, phase",
    "literal_error": "use one of the listed values, in lower case",
    "too_short": "give at least one step, and no empty text",
    "string_too_short": "give a non-empty text",
    "string_type": "give text (quote values YAML would read as numbers, dates or booleans)",
    "list_type": "give a list (in YAML, one '- item' per line or [a, b])",
    "string_pattern_mismatch": "runbook_id must be a slug: lower-case letters and digits separated by '-', '_' or '.'",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_type": "write the date as YYYY-MM-DD",
}


ModelT = TypeVar("ModelT", bound=BaseModel)


def validate(model: type[ModelT], data: dict[str, Any], text: str, source: SourceInfo, line_offset: int) -> ModelT:
    """``data`` as a ``model``; else an :class:`InputError` with one line per violation, located in ``text`` (the
    YAML it was loaded from; its line 1 is the file's line ``1 + line_offset``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        root = yaml_tree(text)
        lines: list[str] = []
        hints: list[str] = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = yaml_line(root, loc)
            where = f"{source.display}:{line + line_offset}" if line is not None else source.display
            lines.append(f"{where}: {_format_loc(loc) or '(top level)'}: {_describe_error(error, model)}")
            hint = _ERROR_HINTS.get(error["type"], "see docs/runbook-format.md for the schema")
            if hint not in hints:
                hints.append(hint)
        raise InputError("\n".join(lines), hint="; ".join(hints)) from None


def _describe_error(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field" + _did_you_mean(str(error["loc"][-1]), model, error["loc"])
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return "must not be empty (at least one item)"
    message = str(error["msg"])
    if kind in ("literal_error", "string_type", "list_type", "string_pattern_mismatch", "int_type"):
        message += f", got {error.get('input')!r}"
    return message


def _did_you_mean(name: str, model: type[BaseModel], loc: Sequence[int | str]) -> str:
    fields = StepDocument.model_fields if "steps" in loc[:-1] else model.model_fields
    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
