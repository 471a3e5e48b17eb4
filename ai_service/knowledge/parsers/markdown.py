"""Markdown runbooks: optional YAML front matter, then CommonMark (with tables) turned into format-neutral blocks.

:func:`parse_markdown` validates the front matter against :class:`FrontMatter` and hands the blocks of the body
to :func:`~ai_service.knowledge.parsers.steps.build_runbook`. markdown-it tokens become headings, paragraphs
(inline code keeps its backticks, links become ``text (url)``, a paragraph of only bold text is a
pseudo-heading), code blocks, nested lists, tables (one paragraph, ``|``-separated) and the text of HTML
blocks; block quotes are unwrapped.

What this module must never do: alter a code block or a code span (they are kept byte-for-byte), decide what a
step is (that is :mod:`.drafts` and :mod:`.steps`), or shift line numbers: the body keeps the front matter's
lines blank, so errors name the file's own lines.
"""

from __future__ import annotations

from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from ai_service.errors import InputError
from ai_service.knowledge.models import Block, CodeBlock, FrontMatter, Heading, ListBlock, Paragraph, ParsedRunbook
from ai_service.knowledge.parsers.files import SourceInfo
from ai_service.knowledge.parsers.inline import clean_prose, code_span, plain_text, strip_html
from ai_service.knowledge.parsers.schema import too_deep_error, validate, yaml_syntax_error, yaml_value_error
from ai_service.knowledge.parsers.steps import build_runbook
from ai_service.validation import type_name

_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def parse_markdown(text: str, source: SourceInfo) -> ParsedRunbook:
    """Parse a Markdown runbook (optional YAML front matter, then CommonMark with tables)."""
    raw, body = split_front_matter(text)
    meta = FrontMatter()
    if raw is not None:
        data = _load_front_matter(raw, source)
        if data:
            meta = validate(FrontMatter, data, raw, source, line_offset=1)
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
    except RecursionError:
        raise too_deep_error(source, "the front matter") from None
    except yaml.YAMLError as exc:
        raise yaml_syntax_error(exc, source, "front matter", line_offset=1) from exc
    except ValueError as exc:  # a value that parses but cannot be built, e.g. last_reviewed: 2026-13-01
        raise yaml_value_error(exc, raw, source, "front matter", line_offset=1) from exc
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
            parts.append(("code", code_span(child.content)))
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
