"""How the CLI shows values and plans to people: no Python reprs, and no text cut mid-word.

:func:`show` turns any value a command prints into text ("—" for nothing, lists joined with ", ", dates to
the minute); :func:`shorten` bounds a text at a word boundary and ends it with "…"; :func:`plan_view` renders a
resolution plan step by step — its full text, commands, expected outcome, rollback and risk — as rich
renderables that wrap at word boundaries to the console's width.

What this module must never do: print (the commands do, through :func:`print_block`), or drop part of a step's
text without marking the cut.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.segment import Segment, Segments
from rich.text import Text

from ai_service.cli.console import console
from ai_service.resolution.models import Recommendation

NOTHING = "—"
"""What the CLI prints where a value is absent (never ``None``)."""

# A fenced code block of Markdown (``` or ~~~, with an optional language), as runbook steps carry commands.
_FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)[^\n]*\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_LIST_ITEM = re.compile(r"([-*+]|\d+[.)])\s")


def show(value: object) -> str:
    """``value`` as people read it: "—" for None or an empty list, lists joined with ", ", enums by value,
    dates as ``YYYY-MM-DD HH:MM``, floats with two decimals, mappings as ``key: value`` pairs."""
    if value is None or value == "":
        return NOTHING
    if isinstance(value, Enum):
        return show(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {show(item)}" for key, item in value.items()) or NOTHING
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(show(item) for item in items) or NOTHING
    return str(value)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters: cut at the last word boundary before the limit and
    ended with "…" when it is longer (a single word longer than the limit is cut, and marked the same way)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[: max(limit - 1, 1)]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-") + "…"


def split_action(action: str) -> list[tuple[str, str]]:
    """A step's action as written, in order: ("", prose) and (language, code) for each fenced code block
    ("code" when it names no language); prose has its hard line breaks joined."""
    parts: list[tuple[str, str]] = []
    position = 0
    for block in _FENCE.finditer(action):
        if action[position : block.start()].strip():
            parts.append(("", _reflow(action[position : block.start()])))
        code = block.group("body").rstrip("\n")
        if code.strip():
            parts.append((block.group("lang").lower() or "code", code))
        position = block.end()
    if action[position:].strip():
        parts.append(("", _reflow(action[position:])))
    return parts


def _reflow(text: str) -> str:
    """Markdown prose with its hard line breaks joined (rich wraps it again), list items and paragraphs kept."""
    paragraphs = []
    for paragraph in _PARAGRAPH_BREAK.split(text.strip()):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        joined: list[str] = []
        for line in lines:
            if joined and not _LIST_ITEM.match(line):
                joined[-1] += " " + line
            else:
                joined.append(line)
        paragraphs.append("\n".join(joined))
    return "\n\n".join(paragraphs)


def _source(recommendation: Recommendation) -> str:
    provenance = recommendation.provenance
    source = show(provenance.get("source"))
    signatures = provenance.get("signatures") or []
    text = f"from {source}" + (f" {show(signatures)}" if signatures else "")
    track = provenance.get("track_record")
    if isinstance(track, Mapping) and track.get("text"):
        text += f" · {track['text']}"
    return text


def _step_view(number: int, recommendation: Recommendation) -> RenderableType:
    r = recommendation
    head = Text.assemble(
        (f"{number:>2}. {r.step_id}", "bold"),
        f" · {show(r.phase)} · risk {show(r.risk_level)} · runbook {r.runbook_id} · {_source(r)}",
    )
    parts = split_action(r.action)
    body: list[RenderableType] = []
    for lang, text in parts:
        if lang:
            body.append(Text(f"commands ({lang}):", style="dim"))
            body.append(Padding(Text(text, style="cyan"), (0, 0, 0, 2), expand=False))
        else:
            body.append(Text(text))
    if not any(lang for lang, _ in parts):
        body.append(Text("commands: none (a manual step)", style="dim"))
    if r.expected_outcome:
        body.append(Text(f"expected: {r.expected_outcome}"))
    body.append(Text(f"rollback: {show(r.rollback)}"))
    return Group(head, Padding(Group(*body), (0, 0, 0, 4), expand=False))


def plan_view(recommendations: Sequence[Recommendation]) -> RenderableType:
    """Every step of a plan in order: number, step id, phase, risk, runbook and why it is there, then its whole
    action (prose wrapped at word boundaries, each code block as commands), expected outcome and rollback."""
    parts: list[RenderableType] = []
    for number, recommendation in enumerate(recommendations, start=1):
        if parts:
            parts.append(Text(""))
        parts.append(_step_view(number, recommendation))
    return Group(*parts)


def print_block(renderable: RenderableType) -> None:
    """Print a renderable wrapped at word boundaries to the console's width, without trailing blanks (the shared
    console otherwise leaves long lines to the terminal, which would crop the inside of panels and indented
    blocks)."""
    segments: list[Segment] = []
    for line in console.render_lines(renderable, console.options, pad=False):
        segments.extend(_without_trailing_blanks(line))
        segments.append(Segment.line())
    console.print(Segments(segments), soft_wrap=True, end="")


def _without_trailing_blanks(line: list[Segment]) -> list[Segment]:
    kept = list(line)
    while kept and not kept[-1].control and not kept[-1].text.strip():
        kept.pop()
    if kept and not kept[-1].control:
        kept[-1] = Segment(kept[-1].text.rstrip(), kept[-1].style)
    return kept
