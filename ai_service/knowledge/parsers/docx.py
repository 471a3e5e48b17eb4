"""DOCX runbooks: a Word document turned into the same format-neutral blocks as Markdown.

Heading styles give sections (the Title style, the title); list paragraphs - by list style, by numbering
properties, or typed as "1." or "-" - give nested list items; paragraphs in a monospace font or a code style
are code, kept verbatim; a bold-only short paragraph is a pseudo-heading; tables become one ``|``-separated
paragraph; core properties (title, identifier, subject, category, keywords) give the metadata. python-docx is
imported only when a DOCX file is parsed, so that the other formats never load it.

What this module must never do: change the text of a code paragraph, invent metadata the document does not
carry, or fail on an unusual but readable document - only an unreadable file or invalid core properties raise
:class:`InputError`.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

from ai_service.errors import InputError
from ai_service.knowledge.models import Block, CodeBlock, FrontMatter, Heading, ListBlock, Paragraph, ParsedRunbook
from ai_service.knowledge.parsers.files import SourceInfo
from ai_service.knowledge.parsers.inline import code_span, plain_text
from ai_service.knowledge.parsers.schema import validate
from ai_service.knowledge.parsers.steps import build_runbook


def _phrases(text: str) -> frozenset[str]:
    return frozenset(" ".join(phrase.split()) for phrase in text.split(","))


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
    return validate(FrontMatter, data, "", source, line_offset=0)


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
            parts.append(code_span(item.text))
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
