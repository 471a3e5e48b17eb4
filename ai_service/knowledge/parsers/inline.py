"""Inline text shared by every format: prose cleaned of markup, and inline code written as a Markdown code span.

:func:`clean_prose` removes Hugo shortcodes, HTML comments and reference-link syntax; :func:`plain_text` also
drops backticks and link targets and joins the text into one line, for conditions and classification;
:func:`strip_html` is the text of an HTML block.

What this module must never do: touch code - code blocks never pass through it, and :func:`code_span` keeps
inline code byte-for-byte - or remove anything from prose but markup.
"""

from __future__ import annotations

import html
import re
from pathlib import PurePosixPath

_HUGO_REF_LINK_RE = re.compile(
    r"\[([^\]\n]+)\]\(\s*\{\{[<%]\s*(?:rel)?ref\s+\"?([^\"\s>%]+)\"?\s*[>%]\}\}\s*\)", re.IGNORECASE
)
_SHORTCODE_RE = re.compile(r"\{\{[<%].*?[>%]\}\}", re.DOTALL)
_REF_LINK_RE = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_HTML_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_SUMMARY_RE = re.compile(r"<summary\b[^>]*>.*?</summary>", re.DOTALL | re.IGNORECASE)
_TAG_RE = re.compile(r"</?[A-Za-z][^>\n]*>")


def code_span(content: str) -> str:
    fence = "``" if "`" in content else "`"
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{fence}{pad}{content}{pad}{fence}"


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
