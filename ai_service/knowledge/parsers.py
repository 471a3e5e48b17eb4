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

What this module must never do: touch the database, compute embeddings, call the network, execute or alter a
command (code blocks are kept byte-for-byte), invent random ids, or fail on a well-formed but unusual runbook -
only a malformed file (bad YAML, a schema violation, an unreadable DOCX) raises :class:`InputError`.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel, ValidationError

from ai_service.errors import InputError
from ai_service.knowledge.models import (
    Block,
    CodeBlock,
    FrontMatter,
    Heading,
    ListBlock,
    Paragraph,
    ParsedRunbook,
    ParsedStep,
    Phase,
    RiskLevel,
    RunbookDocument,
    RunbookFormat,
    StepDocument,
)
from ai_service.knowledge.risk import infer_risk
from ai_service.validation import type_name, yaml_line, yaml_tree

SUPPORTED_SUFFIXES: dict[str, RunbookFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".docx": "docx",
}

PHASE_LABELS: dict[str, str] = {
    "diagnosis": "Diagnosis",
    "mitigation": "Mitigation",
    "verification": "Verification",
    "other": "Steps",
}

SectionKind = Literal["phase", "description", "rollback", "references"]

# --- public API ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceInfo:
    """Where a runbook came from: ``display`` names it in errors, ``relative`` (relative to the corpus root, or
    just the file name) gives the derived id and service, ``sha256`` is of the file's bytes."""

    display: str
    relative: PurePosixPath
    sha256: str

    @classmethod
    def for_bytes(cls, data: bytes, name: str, relative: PurePosixPath | None = None) -> SourceInfo:
        rel = relative if relative is not None else PurePosixPath(PurePosixPath(name).name)
        return cls(display=name, relative=rel, sha256=hashlib.sha256(data).hexdigest())


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
    relative = _relative_path(file, root)
    display = relative.as_posix() if root is not None else str(file)
    source = SourceInfo(display=display, relative=relative, sha256=hashlib.sha256(data).hexdigest())
    return parse_runbook_bytes(data, fmt, source)


def parse_runbook_bytes(data: bytes, fmt: RunbookFormat, source: SourceInfo) -> ParsedRunbook:
    """Parse a runbook already read into memory."""
    if fmt == "markdown":
        return parse_markdown(_decode(data, source), source)
    if fmt in ("yaml", "json"):
        return parse_structured(_decode(data, source), fmt, source)
    return parse_docx(data, source)


def parse_markdown_text(text: str, name: str = "runbook.md") -> ParsedRunbook:
    """Parse Markdown given as a string (tests, previews); ``name`` stands in for the file path."""
    return parse_markdown(text, SourceInfo.for_bytes(text.encode("utf-8"), name))


def _relative_path(file: Path, root: str | Path | None) -> PurePosixPath:
    if root is None:
        return PurePosixPath(file.name)
    try:
        relative = file.resolve().relative_to(Path(root).resolve())
    except ValueError as exc:
        raise InputError(
            f"{file}: runbook is not inside the runbook root {root}",
            hint="pass the directory that contains the runbook as root, or no root at all",
        ) from exc
    return PurePosixPath(relative.as_posix())


def _decode(data: bytes, source: SourceInfo) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{source.display}:{line}: not valid UTF-8 (byte {exc.start})",
            hint="save the runbook as UTF-8 text",
        ) from exc


# --- ids and path-derived metadata ---------------------------------------------------------------------------


def derive_runbook_id(relative: PurePosixPath) -> str:
    """Stable slug from a relative path: lower-case, extension dropped, separators and anything not a letter or
    digit turned into ``-`` (``node/NodeFilesystemSpaceFillingUp.md`` -> ``node-nodefilesystemspacefillingup``)."""
    stem = relative.with_suffix("").as_posix() if relative.suffix else relative.as_posix()
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug or "runbook"


def derive_service_component(relative: PurePosixPath) -> tuple[str | None, str | None]:
    """The first folder of the relative path is the service, the second (when the file is nested two deep)
    the component: ``etcd/X.md`` -> (``etcd``, None); ``db/postgres/X.md`` -> (``db``, ``postgres``)."""
    folders = relative.parts[:-1]
    service = folders[0] if folders else None
    component = folders[1] if len(folders) > 1 else None
    return service, component


# --- YAML / JSON ---------------------------------------------------------------------------------------------


def parse_structured(text: str, fmt: Literal["yaml", "json"], source: SourceInfo) -> ParsedRunbook:
    """Parse a YAML or JSON runbook and validate it against :class:`RunbookDocument`."""
    data = _load_json(text, source) if fmt == "json" else _load_yaml(text, source)
    if not isinstance(data, dict):
        kind = "nothing" if data is None else f"a {type_name(data)}"
        raise InputError(
            f"{source.display}:1: expected a mapping with 'title' and 'steps' at the top level, found {kind}",
            hint="start the file with 'title: ...' and a 'steps:' list (see docs/runbook-format.md)",
        )
    document = _validate(RunbookDocument, data, text, source, line_offset=0)
    assert isinstance(document, RunbookDocument)
    return _runbook_from_document(document, fmt, source)


def _load_yaml(text: str, source: SourceInfo) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_syntax_error(exc, source, "runbook", line_offset=0) from exc


def _load_json(text: str, source: SourceInfo) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source.display}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}",
            hint="fix the JSON syntax at that position (a missing comma or quote is the usual cause)",
        ) from exc


def _yaml_syntax_error(exc: yaml.YAMLError, source: SourceInfo, what: str, line_offset: int) -> InputError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = source.display
    if mark is not None:
        where = f"{source.display}:{mark.line + 1 + line_offset}:{mark.column + 1}"
    return InputError(
        f"{where}: {what} is not valid YAML: {problem}",
        hint="fix the YAML syntax at that line (indentation and unquoted ':' are the usual causes)",
    )


_ERROR_HINTS: dict[str, str] = {
    "missing": "add the missing field; every step needs 'condition' and 'action', the runbook 'title' and 'steps'",
    "extra_forbidden": "remove or rename the field; runbook fields are runbook_id, title, service, component, "
    "tags, last_reviewed, description, steps; step fields are condition, action, expected_outcome, rollback, "
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


def _validate(
    model: type[BaseModel], data: dict[str, Any], text: str, source: SourceInfo, line_offset: int
) -> BaseModel:
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
        tags=list(document.tags),
        last_reviewed=document.last_reviewed,
        description=(document.description or "").strip() or None,
        source_path=source.display,
        content_sha256=source.sha256,
        format=fmt,
        steps=steps,
    )


_VERIFY_START_RE = re.compile(
    r"^\s*(?:(?:then|finally|now)\s*,?\s*)?(?:as\s+(?:a\s+)?validation|to\s+(?:verify|validate|confirm)\b|"
    r"(?:verify|validate|confirm)\b|make\s+sure\s+\S+(?:\s+\S+){0,6}\s+(?:is|are)\s+(?:now|back)\b|"
    r"check\s+that\b[^.]*\b(?:now|again|back|resolved|recovered)\b)",
    re.IGNORECASE,
)


def _infer_phase(condition: str, action: str, seen_mitigation: bool) -> Phase:
    """Phase of a YAML step that does not state one: verification when it verifies after a mitigation, else
    mitigation when its action changes something, else diagnosis."""
    if seen_mitigation and (_VERIFY_START_RE.match(action) or _VERIFY_START_RE.match(condition)):
        return "verification"
    risk, _ = infer_risk(action, "diagnosis")
    if risk != "low":
        return "mitigation"
    return "verification" if seen_mitigation else "diagnosis"


# --- Markdown: text -> blocks --------------------------------------------------------------------------------

_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

_HUGO_REF_LINK_RE = re.compile(
    r"\[([^\]\n]+)\]\(\s*\{\{[<%]\s*(?:rel)?ref\s+\"?([^\"\s>%]+)\"?\s*[>%]\}\}\s*\)", re.IGNORECASE
)
_SHORTCODE_RE = re.compile(r"\{\{[<%].*?[>%]\}\}", re.DOTALL)
_REF_LINK_RE = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_SUMMARY_RE = re.compile(r"<summary\b[^>]*>.*?</summary>", re.DOTALL | re.IGNORECASE)
_TAG_RE = re.compile(r"</?[A-Za-z][^>\n]*>")


def parse_markdown(text: str, source: SourceInfo) -> ParsedRunbook:
    """Parse a Markdown runbook (optional YAML front matter, then CommonMark with tables)."""
    raw, body = split_front_matter(text)
    meta = FrontMatter()
    if raw is not None:
        data = _load_front_matter(raw, source)
        if data:
            validated = _validate(FrontMatter, data, raw, source, line_offset=1)
            assert isinstance(validated, FrontMatter)
            meta = validated
    return build_runbook(markdown_blocks(body), meta, source, "markdown")


def split_front_matter(text: str) -> tuple[str | None, str]:
    """``(front matter text or None, body)``. Front matter is YAML between a first line ``---`` and the next
    ``---`` (or ``...``) line. The body keeps blank lines in place of the front matter, so its line numbers
    still match the file."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, text
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "\n".join(lines[1:index]), "\n" * (index + 1) + "\n".join(lines[index + 1 :])
    return None, text


def _load_front_matter(raw: str, source: SourceInfo) -> dict[str, Any]:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise _yaml_syntax_error(exc, source, "front matter", line_offset=1) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(
            f"{source.display}:2: front matter must be a mapping of keys to values, found a {type_name(data)}",
            hint="write front matter as 'key: value' lines between two '---' lines",
        )
    return data


def markdown_blocks(body: str) -> list[Block]:
    """Turn Markdown into format-neutral blocks (headings, paragraphs, code, nested lists)."""
    tokens = _MD.parse(body)
    return _blocks(tokens, 0, len(tokens))


def _blocks(tokens: list[Token], start: int, end: int) -> list[Block]:
    out: list[Block] = []
    index = start
    while index < end:
        token = tokens[index]
        if token.type == "heading_open":
            text, _ = _render_inline(tokens[index + 1])
            out.append(Heading(int(token.tag[1:]), plain_text(text)))
            index += 3
        elif token.type == "paragraph_open":
            text, pseudo = _render_inline(tokens[index + 1])
            if text.strip():
                out.append(Paragraph(text.strip(), pseudo_heading=pseudo))
            index += 3
        elif token.type in ("fence", "code_block"):
            lang = token.info.strip().split()[0] if token.info.strip() else ""
            out.append(CodeBlock(token.content, lang))
            index += 1
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            close = _close_of(tokens, index)
            out.append(_list_block(tokens, index, close))
            index = close + 1
        elif token.type == "blockquote_open":
            close = _close_of(tokens, index)
            out.extend(_blocks(tokens, index + 1, close))
            index = close + 1
        elif token.type == "table_open":
            close = _close_of(tokens, index)
            table = _table_text(tokens[index:close])
            if table:
                out.append(Paragraph(table, table=True))
            index = close + 1
        elif token.type == "html_block":
            stripped = strip_html(token.content)
            if stripped:
                out.append(Paragraph(stripped))
            index += 1
        else:
            index += 1
    return out


def _close_of(tokens: list[Token], open_index: int) -> int:
    opener = tokens[open_index]
    closer = opener.type.replace("_open", "_close")
    for index in range(open_index + 1, len(tokens)):
        if tokens[index].type == closer and tokens[index].level == opener.level:
            return index
    return len(tokens) - 1


def _list_block(tokens: list[Token], open_index: int, close_index: int) -> ListBlock:
    block = ListBlock(ordered=tokens[open_index].type == "ordered_list_open")
    index = open_index + 1
    while index < close_index:
        if tokens[index].type == "list_item_open":
            item_close = _close_of(tokens, index)
            block.items.append(_blocks(tokens, index + 1, item_close))
            index = item_close + 1
        else:
            index += 1
    return block


def _table_text(tokens: list[Token]) -> str:
    rows: list[list[str]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(_render_inline(token)[0].strip())
    return "\n".join(" | ".join(row) for row in rows if any(row))


def _render_inline(inline: Token) -> tuple[str, bool]:
    """Render an inline token: code spans keep their backticks, links become ``text (url)``, emphasis and
    images are dropped. Also says whether the paragraph is a pseudo-heading (only bold text)."""
    parts: list[tuple[str, str]] = []
    hrefs: list[str] = []
    bold_depth = 0
    bold_text = ""
    other_text = ""
    for child in inline.children or []:
        kind = child.type
        if kind == "text":
            parts.append(("text", child.content))
            if bold_depth:
                bold_text += child.content
            else:
                other_text += child.content
        elif kind == "code_inline":
            parts.append(("code", _code_span(child.content)))
            if bold_depth:
                bold_text += child.content
            else:
                other_text += child.content
        elif kind in ("softbreak", "hardbreak"):
            parts.append(("text", "\n"))
        elif kind == "link_open":
            hrefs.append(str(child.attrs.get("href", "")))
        elif kind == "link_close" and hrefs:
            href = hrefs.pop()
            if href and not href.startswith("#"):
                parts.append(("text", f" ({href})"))
        elif kind == "strong_open":
            bold_depth += 1
        elif kind == "strong_close":
            bold_depth = max(0, bold_depth - 1)
    text = _join_parts(parts)
    pseudo = bool(bold_text.strip()) and not other_text.strip(" :\n")
    pseudo = pseudo and len(bold_text) <= 80 and not bold_text.strip().endswith(".")
    return text, pseudo


def _code_span(content: str) -> str:
    fence = "``" if "`" in content else "`"
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{fence}{pad}{content}{pad}{fence}"


def _join_parts(parts: list[tuple[str, str]]) -> str:
    out: list[str] = []
    buffer = ""
    for kind, value in parts:
        if kind == "text":
            buffer += value
        else:
            out.append(clean_prose(buffer))
            buffer = ""
            out.append(value)
    out.append(clean_prose(buffer))
    return "".join(out)


def clean_prose(text: str) -> str:
    """Remove Hugo shortcodes, HTML comments and tags, and reference-link syntax from prose (never code)."""
    text = _HUGO_REF_LINK_RE.sub(lambda m: f"{m.group(1)} ({PurePosixPath(m.group(2)).name})", text)
    text = _SHORTCODE_RE.sub("", text)
    text = _REF_LINK_RE.sub(r"\1", text)
    text = _HTML_COMMENT_RE.sub("", text)
    return text


def strip_html(content: str) -> str:
    """Text of an HTML block: comments, ``<summary>`` labels and tags removed, entities decoded."""
    text = _HTML_COMMENT_RE.sub("", content)
    text = _SUMMARY_RE.sub("", text)
    text = _TAG_RE.sub("", text)
    return html.unescape(text).strip()


def plain_text(text: str) -> str:
    """Prose for conditions and classification: no backticks, no link targets, one line."""
    text = clean_prose(text)
    text = re.sub(r"\s*\((?:https?://|mailto:)[^\s)]*(?:\([^\s)]*\)[^\s)]*)*\)", "", text)
    text = re.sub(r"\s*\([^\s()]+\.md\)", "", text)
    text = text.replace("`", "")
    return " ".join(text.split())


# --- prose classification ------------------------------------------------------------------------------------


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _phrases(text: str) -> frozenset[str]:
    return frozenset(" ".join(phrase.split()) for phrase in text.split(","))


_IMPERATIVES = _wordset(
    """access add adjust allocate apply ask attach avoid back browse bump cancel change check choose clean clear
    click collect compare configure confirm connect consider consult contact continue copy cordon correct
    create debug decrease defrag defragment delete deploy describe detach determine disable drain drop dump
    edit enable ensure escalate evict examine exec execute exit expand export extend failover find fine-tune
    fix follow gather get give go grep grow identify increase inspect install investigate kill locate login
    look lower make migrate modify monitor mount move navigate notify open patch pause ping plan prepare
    proceed promote prune purge query raise re-apply read reapply rebalance reboot rebuild reconnect recreate
    redeploy redesign reduce refer reinstall reload remove renew repair replace rerun reset resize restart
    restore resume retry revert review roll rollback rotate run scale search select send set shrink spread ssh
    start stop study suspend switch sync tail talk terminate test trigger truncate try tune uncordon undo
    unmount update upgrade use validate verify visit wait watch wipe"""
)
_NOT_GERUND_STARTS = frozenset({"following", "during", "morning", "being", "nothing", "something", "everything"})
_ADVERBS_RE = re.compile(
    r"^(?:(?:first(?:ly)?|then|next|finally|also|now|just|simply|optionally|additionally|alternatively|afterwards|"
    r"immediately|manually|carefully|quickly|always|sometimes|usually|often|please|probably|otherwise|instead|"
    r"again|at\s+first|as\s+a\s+last\s+resort|if\s+needed|if\s+necessary|if\s+possible|in\s+general|in\s+short|"
    r"generally|eventually|meanwhile|in\s+the\s+meantime|secondly|lastly|after\s+that|once\s+done|and|or|but|so)"
    r"\b[\s,:]*)+",
    re.IGNORECASE,
)
_CONDITION_START_RE = re.compile(
    r"^(?:if|when|whenever|once|unless|in\s+case|in\s+the\s+case|for\s+the\s+case|as\s+soon\s+as|after|before|"
    r"while|should|in\s+(?:some|rare|extreme|extremely\s+rare|most|other|specific|certain|such)\s+"
    r"(?:cases?|situations?|scenarios?))\b",
    re.IGNORECASE,
)
_PREFIX_START_RE = re.compile(
    r"^(?:if|when|whenever|once|unless|in|on|for|with|at|during|after|before|to|from|as|under|within|via|while|"
    r"where|depending)\b",
    re.IGNORECASE,
)
_NON_VERB_PREDECESSORS = _wordset(
    "to will can may should must would could might is are was were be been a an the this that its their your "
    "our of not no do does did you we they i it he she there"
)
_MODAL_RE = re.compile(
    r"\b(?:you|we|one|operators?|users?|admins?)\s+(?:\w+ly\s+)?"
    r"(?:can|could|should|may|might|must|need\s+to|needs\s+to|have\s+to|has\s+to|will\s+need\s+to|"
    r"may\s+need\s+to|might\s+need\s+to|may\s+have\s+to|might\s+have\s+to|might\s+want\s+to|may\s+want\s+to|"
    r"want\s+to|ought\s+to)\s+(?:(?:also|then|first|now|still|just|\w+ly)\s+)*([`\w-]+)",
    re.IGNORECASE,
)
_NOT_MODAL_VERBS = _wordset("be see notice observe expect lose receive have get find hit experience end make know")
_NECESSITY_RE = re.compile(
    r"\b(?:needs?|has|have)\s+to\s+be\s+\w+(?:ed|en)\b|\bshould\s+be\s+(?:\w+ed|\w+en)\b(?!\s+(?:by|when|if))|"
    r"\bit(?:'s|\s+is|\s+may\s+be|\s+might\s+be|\s+would\s+be)\s+(?:easiest|best|better|recommended|advisable|"
    r"preferable|safer|wise|a\s+good\s+idea)\s+to\s+\w+|"
    r"\b(?:is|are)\s+the\s+(?:only|best|fastest|easiest|cheapest|recommended|preferred)\s+(?:way|solution|option|fix)|"
    r"\bthe\s+(?:only|best|fastest|easiest|cheapest|recommended|preferred)\s+(?:way|solution|option|fix)\s+is\s+to\s+\w+|"
    r"\b(?:another|other|an|one|the|a\s+second)\s+(?:option|alternative|possibility|solution|way)\s+is\s+to\s+\w+|"
    r"\bto\s+(?:check|verify|look\s+(?:at|for)|investigate|try|do|inspect)\s*:\s*$",
    re.IGNORECASE,
)
_CONSEQUENCE_RE = re.compile(
    r"\b(?:solves|fixes|helps|resolves|should\s+(?:help|fix|solve|resolve|trigger|improve)|"
    r"will\s+(?:help|fix|solve|resolve))\b",
    re.IGNORECASE,
)
# "Deleting old data is the fastest solution", "Checking the metrics should give a clearer picture": a gerund
# subject is advice only with a predicate that rates or promises the action ("Running out of inodes is often
# caused by ..." is not advice).
_GERUND_PREDICATE_RE = re.compile(
    r"\b(?:is|are)\s+(?:the\s+|a\s+)?(?:fastest|best|only|easiest|cheapest|recommended|preferred|simplest|safest|"
    r"good|usual|quickest)\b|\b(?:should|will|can|may|might|would)\s+(?:\w+ly\s+)?(?:help|provide|improve|fix|"
    r"solve|resolve|trigger|give|reduce|free|restore|show|tell|reveal|confirm|detect)\b|"
    r"\b(?:helps|solves|fixes|resolves|improves|frees|reduces)\b",
    re.IGNORECASE,
)
_SEE_IF_RE = re.compile(r"^see\s+(?:if|whether|why|what|how|which)\b", re.IGNORECASE)
_REFERENCE_RE = re.compile(
    r"^(?:see(?:\s+also)?|more\s+(?:information|info|details)|further\s+(?:info|information|reading|details)|"
    r"for\s+more\s+(?:information|info|details)|refer\s+to|read\s+more|longer\s+and\s+more\s+detailed\s+info|"
    r"details|documentation|docs|reference)\b",
    re.IGNORECASE,
)
_PLACEHOLDER_RE = re.compile(
    r"^(?:todo|tbd|tba|fixme|wip|to\s+be\s+(?:added|done|written|defined)|coming\s+soon|n/?a|none|-+)[\s.!:]*$",
    re.IGNORECASE,
)
_ROLLBACK_START_RE = re.compile(
    r"^(?:to\s+roll\s*back|roll\s*back\s*:|rollback\s*:|to\s+undo|undo\s*:|to\s+revert|revert\s*:|"
    r"to\s+back\s+out|back\s*out\s*:)",
    re.IGNORECASE,
)
_OUTCOME_START_RE = re.compile(
    r"^(?:expected(?:\s+(?:outcome|result|output))?\s*:|you\s+should\s+(?:now\s+)?(?:see|get|notice|observe|find)"
    r"\b|(?:the|this|that)\s+(?:output|result|command|query)\s+should\b|this\s+should\b|that\s+should\b|"
    r"it\s+should\s+now\b|[^.]*\bshould\s+(?:now\s+be|be\b[^.]*\bnow\b)|[^.]*\bshould\s+now\b)",
    re.IGNORECASE,
)
_OUTCOME_LABEL_RE = re.compile(r"^expected(?:\s+(?:outcome|result|output))?\s*:\s*", re.IGNORECASE)
_ROLLBACK_LABEL_RE = re.compile(r"^(?:roll\s*back|rollback|undo|revert|back\s*out)\s*:\s*", re.IGNORECASE)
_IRREVERSIBLE_RE = re.compile(
    r"\b(?:cannot|can'?t|can\s+not)\s+be\s+(?:undone|rolled\s+back|reverted|recovered)\b|\birreversibl[ey]\b",
    re.IGNORECASE,
)
_RISK_MARK_RE = re.compile(r"(?:^|\s)\[?risk(?:\s+level)?\s*:\s*(low|medium|high)\]?\.?(?=\s|$)", re.IGNORECASE)
OUTPUT_LANGS = frozenset({"txt", "text", "output", "log", "logs", "plain", "plaintext"})


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][\w'-]*", text)


def _strip_adverbs(text: str) -> str:
    return _ADVERBS_RE.sub("", text.strip(" \t*_-\"'>")).strip()


def _is_imperative_word(word: str, following: str = "") -> bool:
    word = word.lower()
    if word.startswith("re-") and word[3:] in _IMPERATIVES:
        return True
    if word == "see":
        return bool(_SEE_IF_RE.match(f"see {following}"))
    if word == "log":
        return following.lower().startswith(("in", "into", "on"))
    if word == "back":
        return following.lower().startswith("up")
    if word == "roll":
        return following.lower().startswith(("back", "out"))
    if word == "make":
        return following.lower().startswith(("sure", "use", "a ", "room"))
    return word in _IMPERATIVES


def _gerund_base(word: str) -> str | None:
    word = word.lower()
    if not word.endswith("ing") or word in _NOT_GERUND_STARTS or len(word) < 5:
        return None
    stem = word[:-3]
    for candidate in (stem, stem + "e", stem[:-1]):
        if candidate in _IMPERATIVES:
            return candidate
    return None


def _starts_imperative(text: str) -> bool:
    words = _words(text)
    if not words:
        return False
    rest = text[text.find(words[0]) + len(words[0]) :].strip()
    if text.lstrip(" `*_\"'").lower().startswith(("kubectl ", "oc ", "helm ", "systemctl ", "etcdctl ", "curl ")):
        return True
    if _is_imperative_word(words[0], rest):
        return True
    return _gerund_base(words[0]) is not None and bool(_GERUND_PREDICATE_RE.search(rest))


def leading_condition(sentence: str) -> tuple[str | None, str]:
    """Split an explicit "If/When/In case ..." clause off the start of a sentence: ``(clause, rest)``."""
    text = _strip_adverbs(sentence)
    if not _CONDITION_START_RE.match(text):
        return None, text
    match = re.match(r"^(.{3,220}?)(?:,|;|\s+then\b)\s*(.*)$", text, re.DOTALL)
    if match and not re.search(r"\b(?:e\.g|i\.e)$", match.group(1)):
        return match.group(1).strip(), match.group(2).strip()
    split = _verb_after_prefix(text)
    if split is not None:
        return text[:split].strip(" ,"), text[split:].strip()
    return None, text


def _verb_after_prefix(text: str) -> int | None:
    """Index of the first imperative verb after a prepositional or conditional opening ("In rare cases roll
    back ...", "For in-cluster clients recreate pods"), or None."""
    if not _PREFIX_START_RE.match(text):
        return None
    previous = ""
    opening = re.split(r"[,;:.!?]", text, maxsplit=1)[0]
    for match in list(re.finditer(r"[A-Za-z][\w'-]*", opening))[1:14]:
        word = match.group(0)
        following = text[match.end() :].strip()
        if (
            word.islower()
            and previous.lower() not in _NON_VERB_PREDECESSORS
            and not previous.lower().endswith("n't")
            and _is_imperative_word(word, following)
            and word.lower() not in ("ask", "test", "set")
        ):
            return match.start()
        previous = word
    return None


def is_instructive_sentence(sentence: str) -> bool:
    """Does this sentence tell the reader to do something? See ``docs/runbook-format.md``."""
    text = _strip_adverbs(plain_text(sentence))
    if not text or text.lower().startswith(("note that", "note:", "list of")):
        return False
    if _starts_imperative(text):
        return True
    for candidate in _after_clauses(text):
        if _starts_imperative(candidate):
            return True
    if _verb_after_prefix(text) is not None:
        return True
    modal = _MODAL_RE.search(text)
    if modal and modal.group(1).lower().strip("`") not in _NOT_MODAL_VERBS:
        return True
    if _NECESSITY_RE.search(text):
        return True
    return any(
        _gerund_base(word.group(0)) and _CONSEQUENCE_RE.search(text, word.end())
        for word in re.finditer(r"\b\w+ing\b", text)
    )


def starts_with_instruction(sentence: str) -> bool:
    """Stricter than :func:`is_instructive_sentence`: the sentence itself opens with the instruction (after an
    optional leading clause), as the items of a list of steps do."""
    text = _strip_adverbs(plain_text(sentence))
    if not text or text.lower().startswith(("note that", "note:", "list of")):
        return False
    if _starts_imperative(text) or _verb_after_prefix(text) is not None:
        return True
    if any(_starts_imperative(candidate) for candidate in _after_clauses(text)):
        return True
    modal = _MODAL_RE.match(text)
    return bool(modal and modal.group(1).lower().strip("`") not in _NOT_MODAL_VERBS)


def _after_clauses(text: str) -> Iterator[str]:
    """The text after each of the first few leading clauses ("If X, then do Y", "To do X, run Y")."""
    rest = text
    for _ in range(3):
        match = re.match(r"^[^,;]{3,220}?(?:,|;|\s+then\b)\s*(.*)$", rest, re.DOTALL)
        if not match:
            return
        rest = _strip_adverbs(match.group(1))
        yield rest


def split_sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z`\[(\"'*_])", flat)
    return [part for part in parts if part.strip()]


def is_instructive(text: str) -> bool:
    return any(is_instructive_sentence(sentence) for sentence in split_sentences(text))


def is_reference(text: str) -> bool:
    plain = plain_text(text)
    has_link = "(" in text and ("://" in text or ".md)" in text)
    if _SEE_IF_RE.match(plain):
        return False
    if _REFERENCE_RE.match(plain) and (has_link or len(plain.split()) <= 8):
        return True
    return has_link and not is_instructive(text) and len(plain.split()) <= 8


def is_placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER_RE.match(plain_text(text)))


def line_groups(text: str) -> list[str]:
    """Lines joined into sentences-per-line: a group ends at a line ending in . ! ? or :, or before a line
    that starts a new instruction with a capital letter."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    groups: list[str] = []
    current: list[str] = []
    for index, line in enumerate(lines):
        current.append(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        ends = bool(re.search(r"[.!?:][)`\"'*_]*$", line))
        starts_new = bool(following) and following[0].isupper() and _starts_imperative(following)
        if ends or starts_new or not following:
            groups.append("\n".join(current))
            current = []
    return groups


def split_paragraph(paragraph: Paragraph) -> list[Paragraph]:
    """Split a checklist paragraph (two or more lines that are each an instruction) into one piece per
    instruction; non-instructive lines stay with the instruction before them (or the first one)."""
    lines = [line for line in paragraph.text.split("\n") if not is_placeholder(line)]
    if not lines:
        return []
    groups = line_groups("\n".join(lines))
    flags = [is_instructive(group) for group in groups]
    if sum(flags) < 2:
        return [Paragraph("\n".join(lines))]
    pieces: list[list[str]] = []
    current: list[str] = []
    current_has_instruction = False
    for group, flag in zip(groups, flags, strict=True):
        if flag and current_has_instruction:
            pieces.append(current)
            current, current_has_instruction = [], False
        current.append(group)
        current_has_instruction = current_has_instruction or flag
    pieces.append(current)
    return [Paragraph("\n".join(piece)) for piece in pieces]


# --- sections ------------------------------------------------------------------------------------------------

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


# --- splitting a section into steps --------------------------------------------------------------------------

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
        if _ROLLBACK_START_RE.match(plain) or _OUTCOME_START_RE.match(plain):
            kind: UnitKind = "rollback" if _ROLLBACK_START_RE.match(plain) else "outcome"
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
            and (_CONDITION_START_RE.match(plain) or not is_instructive(paragraph.text))
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
            if _OUTCOME_START_RE.match(text) and not is_instructive_sentence(text):
                result.outcome.append(_OUTCOME_LABEL_RE.sub("", render_blocks(item), count=1))
            elif _ROLLBACK_START_RE.match(text):
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
        if _ROLLBACK_START_RE.match(plain):
            state = "rollback"
        elif _OUTCOME_START_RE.match(plain) and state != "rollback" and not irreversible:
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
    if draft.phase == "mitigation" and risk == "low" and _VERIFY_START_RE.match(plain_text(first_text(draft.main))):
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

_STOPWORDS = _wordset(
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


# --- DOCX ----------------------------------------------------------------------------------------------------

MONOSPACE_FONTS = _phrases(
    """courier, courier new, consolas, menlo, monaco, lucida console, lucida sans typewriter, dejavu sans mono,
    liberation mono, source code pro, fira code, fira mono, roboto mono, jetbrains mono, ubuntu mono,
    cascadia code, cascadia mono, sf mono, andale mono, noto mono"""
)
_CODE_STYLE_RE = re.compile(r"code|preformatted|source|console|macro|verbatim|terminal|monospace", re.IGNORECASE)
_LIST_STYLE_RE = re.compile(r"^list\s*(number|bullet|paragraph|continue)?\s*(\d*)$", re.IGNORECASE)
_TYPED_NUMBER_RE = re.compile(r"^\s*(\d{1,3})[.)]\s+(?=\S)")
_TYPED_BULLET_RE = re.compile(r"^\s*[•\u2022\u25aa\u25cf\-*]\s+(?=\S)")


@dataclass
class _DocxItem:
    level: int
    ordered: bool
    blocks: list[Block]


def parse_docx(data: bytes, source: SourceInfo) -> ParsedRunbook:
    """Parse a DOCX runbook: heading styles give sections, list paragraphs (and typed "1." paragraphs) give
    list items, monospace or code-styled paragraphs are code kept verbatim. Core properties give metadata."""
    try:
        import docx  # python-docx

        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(
            f"{source.display}:1: not a readable .docx document ({exc.__class__.__name__}: {exc})",
            hint="save the runbook from Word or LibreOffice as 'Word Document (.docx)'",
        ) from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise InputError(
            f"{source.display}:1: not a readable .docx document ({exc.__class__.__name__}: {exc})",
            hint="save the runbook from Word or LibreOffice as 'Word Document (.docx)'",
        ) from exc
    title_style, blocks = _docx_blocks(document)
    meta = _docx_meta(document, title_style, source)
    return build_runbook(blocks, meta, source, "docx")


def _docx_meta(document: Any, title_style: str | None, source: SourceInfo) -> FrontMatter:
    props = document.core_properties
    raw: dict[str, Any] = {
        "title": (props.title or "").strip() or title_style,
        "runbook_id": (props.identifier or "").strip() or None,
        "service": (props.subject or "").strip() or None,
        "component": (props.category or "").strip() or None,
        "tags": (props.keywords or "").strip() or None,
    }
    data = {key: value for key, value in raw.items() if value}
    meta = _validate(FrontMatter, data, "", source, line_offset=0)
    assert isinstance(meta, FrontMatter)
    return meta


def _docx_blocks(document: Any) -> tuple[str | None, list[Block]]:
    from docx.table import Table

    title: str | None = None
    blocks: list[Block] = []
    items: list[_DocxItem] = []
    code_lines: list[str] | None = None

    def flush_code() -> None:
        nonlocal code_lines
        if code_lines is not None:
            target = items[-1].blocks if items else blocks
            target.append(CodeBlock("\n".join(code_lines) + "\n"))
            code_lines = None

    def flush_items() -> None:
        if items:
            blocks.append(_nest_items(items))
            items.clear()

    for element in document.iter_inner_content():
        if isinstance(element, Table):
            flush_code()
            flush_items()
            text = _docx_table_text(element)
            if text:
                blocks.append(Paragraph(text, table=True))
            continue
        style = element.style.name if element.style is not None else ""
        if _is_code_paragraph(element, style):
            if code_lines is None:
                if items and not _indented(element):
                    flush_items()
                code_lines = []
            code_lines.append(element.text)
            continue
        flush_code()
        text = _docx_paragraph_text(element)
        if not text.strip():
            continue
        if style == "Title":
            flush_items()
            title = title or plain_text(text)
            continue
        heading = re.match(r"^heading\s*(\d)$", style, re.IGNORECASE)
        if heading:
            flush_items()
            blocks.append(Heading(int(heading.group(1)), plain_text(text)))
            continue
        listed = _docx_list_item(element, style, text, document)
        if listed is not None:
            level, ordered, item_text = listed
            items.append(_DocxItem(level, ordered, [Paragraph(item_text)]))
            continue
        if items and _indented(element):
            items[-1].blocks.append(Paragraph(text))
            continue
        flush_items()
        blocks.append(Paragraph(text, pseudo_heading=_docx_pseudo_heading(element, text)))
    flush_code()
    flush_items()
    return title, blocks


def _nest_items(items: list[_DocxItem]) -> ListBlock:
    base = min(item.level for item in items)
    root = ListBlock(ordered=items[0].ordered)
    stack: list[tuple[int, ListBlock]] = [(base, root)]
    for item in items:
        while len(stack) > 1 and item.level < stack[-1][0]:
            stack.pop()
        level, current = stack[-1]
        if item.level > level and current.items:
            nested = ListBlock(ordered=item.ordered)
            current.items[-1].append(nested)
            stack.append((item.level, nested))
            current = nested
        current.items.append(list(item.blocks))
    return root


def _indented(paragraph: Any) -> bool:
    indent = paragraph.paragraph_format.left_indent
    return bool(indent and indent > 0)


def _is_code_paragraph(paragraph: Any, style: str) -> bool:
    if _CODE_STYLE_RE.search(style):
        return True
    runs = [run for run in paragraph.runs if run.text.strip()]
    return bool(runs) and all(_is_monospace(run, paragraph) for run in runs)


def _is_monospace(run: Any, paragraph: Any) -> bool:
    name = run.font.name
    if name is None and run.style is not None and run.style.font is not None:
        name = run.style.font.name
    if name is None and paragraph.style is not None and paragraph.style.font is not None:
        name = paragraph.style.font.name
    return bool(name) and name.lower() in MONOSPACE_FONTS


def _docx_paragraph_text(paragraph: Any) -> str:
    from docx.text.hyperlink import Hyperlink

    parts: list[str] = []
    for item in paragraph.iter_inner_content():
        if isinstance(item, Hyperlink):
            url = item.url or ""
            parts.append(f"{item.text} ({url})" if url and url != item.text else item.text)
        elif item.text.strip() and _is_monospace(item, paragraph):
            parts.append(_code_span(item.text))
        else:
            parts.append(item.text)
    return "".join(parts).strip()


def _docx_pseudo_heading(paragraph: Any, text: str) -> bool:
    runs = [run for run in paragraph.runs if run.text.strip(" :")]
    return bool(runs) and all(run.bold for run in runs) and len(text) <= 80 and not text.rstrip().endswith(".")


def _docx_list_item(paragraph: Any, style: str, text: str, document: Any) -> tuple[int, bool, str] | None:
    styled = _LIST_STYLE_RE.match(style.strip())
    num_pr = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
    if styled or num_pr is not None:
        kind = (styled.group(1) or "").lower() if styled else ""
        level = int(styled.group(2)) - 1 if styled and styled.group(2) else 0
        ordered = kind == "number"
        if num_pr is not None:
            if num_pr.ilvl is not None and num_pr.ilvl.val is not None:
                level = int(num_pr.ilvl.val)
            if kind not in ("number", "bullet"):
                ordered = _numbering_is_ordered(document, num_pr, level)
        return level, ordered, _TYPED_NUMBER_RE.sub("", text)
    if _TYPED_NUMBER_RE.match(text):
        return 0, True, _TYPED_NUMBER_RE.sub("", text, count=1)
    if _TYPED_BULLET_RE.match(text):
        return 0, False, _TYPED_BULLET_RE.sub("", text, count=1)
    return None


def _numbering_is_ordered(document: Any, num_pr: Any, level: int) -> bool:
    """Look the list's number format up in numbering.xml; bullets are unordered, anything else ordered."""
    try:
        num_id = num_pr.numId.val
        numbering = document.part.numbering_part.element
        ns = numbering.nsmap.get("w") or "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
        w = f"{{{ns}}}"
        num = next(n for n in numbering.iter(f"{w}num") if n.get(f"{w}numId") == str(num_id))
        abstract_id = num.find(f"{w}abstractNumId").get(f"{w}val")
        abstract = next(a for a in numbering.iter(f"{w}abstractNum") if a.get(f"{w}abstractNumId") == abstract_id)
        for lvl in abstract.iter(f"{w}lvl"):
            if lvl.get(f"{w}ilvl") == str(level):
                fmt = lvl.find(f"{w}numFmt")
                return fmt is None or fmt.get(f"{w}val") != "bullet"
    except (AttributeError, KeyError, NotImplementedError, StopIteration, TypeError):
        return True
    return True


def _docx_table_text(table: Any) -> str:
    rows: list[str] = []
    for row in table.rows:
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


#: Repository housekeeping files that sit beside runbooks but are not runbooks.
NOT_RUNBOOKS = frozenset({"LICENSE", "LICENCE", "CHANGELOG", "CONTRIBUTING", "CODE_OF_CONDUCT", "NOTICE", "AUTHORS"})


def iter_runbook_files(root: str | Path) -> Iterable[Path]:
    """Runbook files under ``root`` in a stable order (hidden files, Hugo ``_index`` pages and licence / changelog
    files skipped)."""
    base = Path(root)
    for path in sorted(base.rglob("*")):
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            relative = path.relative_to(base)
            if any(part.startswith(".") for part in relative.parts) or path.stem == "_index":
                continue
            if path.stem.upper().replace("-", "_") in NOT_RUNBOOKS:
                continue
            yield path
