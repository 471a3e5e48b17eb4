"""Runbook parsers: Markdown, YAML/JSON and DOCX files in, :class:`ParsedRunbook` with atomic steps out.

:func:`parse_runbook_file` picks the parser by extension. YAML and JSON runbooks state their steps explicitly
and are validated against :class:`RunbookDocument`. Markdown (via markdown-it-py) and DOCX (via python-docx)
are first turned into the same format-neutral blocks (:mod:`ai_service.knowledge.models`) and then split into
steps by one set of rules, documented in ``docs/runbook-format.md``:

* headings are classified into phases (Diagnosis/Troubleshooting/... -> diagnosis, Mitigation/Fix/... ->
  mitigation, Verification/Validate/... -> verification), description (Meaning/Impact/Summary/Overview),
  rollback, references, or ``other``; deeper headings inherit their parent's phase unless they name one;
* in a phase section each top-level list item of an instructive list is one step; prose is split at paragraph
  (and, for checklists, line) boundaries into instructive units; a paragraph that introduces a code block is
  one step with it; explanatory text attaches to the neighbouring step instead of becoming one;
* the condition is the step's own "If ..."/"When ..." clause plus its section context and the runbook title;
  expected outcome and rollback are lifted out of "Expected:"/"You should see"/"To roll back"... sentences;
  risk is explicit ("Risk: high") or inferred by :func:`ai_service.knowledge.risk.infer_risk`.

The modules, each importing only modules listed above it:

* :mod:`.files` - which files are runbooks and in which format, where a runbook came from
  (:class:`SourceInfo`), and the id, service and component its path gives;
* :mod:`.schema` - YAML syntax errors and schema violations as messages with file and line;
* :mod:`.inline` - markup cleaned out of prose; :mod:`.prose` - does a sentence instruct, where does its
  condition end, does it state an outcome or a rollback;
* :mod:`.sections` - headings to sections and phases;
* :mod:`.structured` - YAML and JSON runbooks;
* :mod:`.drafts` - the blocks under the headings of a phase to draft steps; :mod:`.steps` - draft steps to
  finished steps, and the runbook built from blocks;
* :mod:`.markdown`, :mod:`.docx` - text or document to blocks, then :func:`~.steps.build_runbook`.

What this package must never do: touch the database, compute embeddings, call the network, execute or alter a
command (code blocks are kept byte-for-byte), invent random ids, or fail on a well-formed but unusual runbook -
only a malformed file (bad YAML, a schema violation, an unreadable DOCX) raises :class:`InputError`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ai_service.errors import InputError
from ai_service.knowledge.models import ParsedRunbook, RunbookFormat
from ai_service.knowledge.parsers.docx import parse_docx
from ai_service.knowledge.parsers.files import (
    NOT_RUNBOOKS,
    SUPPORTED_SUFFIXES,
    SourceInfo,
    decode_text,
    derive_runbook_id,
    derive_service_component,
    derive_team,
    iter_runbook_files,
    relative_path,
)
from ai_service.knowledge.parsers.markdown import parse_markdown
from ai_service.knowledge.parsers.structured import parse_structured

__all__ = [
    "NOT_RUNBOOKS",
    "SUPPORTED_SUFFIXES",
    "SourceInfo",
    "derive_runbook_id",
    "derive_service_component",
    "derive_team",
    "iter_runbook_files",
    "parse_docx",
    "parse_markdown",
    "parse_markdown_text",
    "parse_runbook_bytes",
    "parse_runbook_file",
    "parse_structured",
]


def parse_runbook_file(path: str | Path, root: str | Path | None = None) -> ParsedRunbook:
    """Parse one runbook file; the parser is chosen by extension (.md, .markdown, .yaml, .yml, .json, .docx).

    With ``root``, the runbook id and service are derived from the path relative to it (``node/X.md`` ->
    ``node-x``, service ``node``) and ``source_path`` is that relative path; without it, from the file name.
    """
    file = Path(path)
    fmt = SUPPORTED_SUFFIXES.get(file.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{file}: unsupported runbook file type {file.suffix or '(none)'!r}",
            hint="runbooks must be .md, .markdown, .yaml, .yml, .json or .docx files",
        )
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{file}: cannot read runbook: {exc.strerror or exc}", hint="check the path and its permissions"
        ) from exc
    relative = relative_path(file, root)
    display = relative.as_posix() if root is not None else str(file)
    source = SourceInfo(display=display, relative=relative, sha256=hashlib.sha256(data).hexdigest())
    return parse_runbook_bytes(data, fmt, source)


def parse_runbook_bytes(data: bytes, fmt: RunbookFormat, source: SourceInfo) -> ParsedRunbook:
    """Parse a runbook already read into memory."""
    if fmt == "markdown":
        return parse_markdown(decode_text(data, source), source)
    if fmt in ("yaml", "json"):
        return parse_structured(decode_text(data, source), fmt, source)
    return parse_docx(data, source)


def parse_markdown_text(text: str, name: str = "runbook.md") -> ParsedRunbook:
    """Parse Markdown given as a string (tests, previews); ``name`` stands in for the file path."""
    return parse_markdown(text, SourceInfo.for_bytes(text.encode("utf-8"), name))
