"""The checks that make the optional LLM harmless: injection detection, id validation, bounded re-ranking.

Everything here is a pure function (no I/O, regexes compiled once at import), used by
:mod:`ai_service.llm.advisor` on both sides of the call:

* before: :func:`detect_injection` looks for instruction-like content in the alert's title, description and
  labels (override phrases such as "ignore previous instructions", role reassignment such as "you are now",
  role tags such as ``system:`` or ``<|im_start|>``, ranking or policy manipulation such as "rank X first",
  attempts to close the prompt's data delimiters, long base64-like blobs, invisible Unicode). A hit means the
  model is not asked at all: a false positive costs only the optional advice, a false negative is still
  contained by the bounds below.
* after: :func:`cited_ids` / :func:`unknown_ids` check every id the answer names against the ids retrieval
  returned; :func:`clean_explanation` turns the explanation into short plain text; :func:`apply_ranking`
  applies a proposed order only inside fixed bounds.

The re-ranking bound (:func:`apply_ranking`): only the first ``top_k`` steps of the deterministic order can
move (default :data:`RERANK_TOP_K` = 5), and among those only steps whose deterministic confidence is within
``max_confidence_gap`` of the best confidence in that window (default :data:`RERANK_MAX_CONFIDENCE_GAP` =
0.15, on the 0-1 confidence scale). Every other step keeps its exact position. So a re-ranking can only swap
steps the deterministic ranking already considers close; it never adds, removes or duplicates a step, and
it carries no risk level or policy band at all.

What this module must never do: let a proposed order add, drop, duplicate or move a step outside those
bounds; treat an id as known because it merely looks like one; or raise on any input coming from the model
(only a caller's own invalid bounds raise ``ValueError``).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "MAX_EXPLANATION_CHARS",
    "RERANK_MAX_CONFIDENCE_GAP",
    "RERANK_TOP_K",
    "apply_ranking",
    "cited_ids",
    "clean_explanation",
    "detect_injection",
    "find_instruction_like",
    "unknown_ids",
]

#: Steps at the head of the deterministic order that a re-ranking may touch. The on-call engineer acts on
#: the first few steps; beyond them the LLM's judgement is not worth the risk of reshuffling a long plan.
RERANK_TOP_K = 5
#: Largest confidence gap (0-1 scale) below the window's best step at which a step may still move. Steps
#: within 0.15 of each other are close calls for the deterministic ranking, where a second opinion can help;
#: a step further below has materially weaker evidence and is never promoted on the model's word.
RERANK_MAX_CONFIDENCE_GAP = 0.15
#: Longest explanation kept (characters); longer ones are cut at a word boundary and end with an ellipsis.
MAX_EXPLANATION_CHARS = 600

# --- injection detection ---------------------------------------------------------------------------------

_TARGET = r"(?:instructions?|prompts?|rules?|directions?|directives?|guidelines?)"
_MODEL = r"(?:ai|llm|llms|assistant|chatbot|language\s+model|gpt|copilot)"
_INJECTION_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "override-instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|overrule)\b[^\n]{0,60}?\b"
            r"(?:previous|prior|above|earlier|preceding|all|any|your|the|system|these|those|other|original)\b"
            rf"[^\n]{{0,40}}?\b{_TARGET}\b"
        ),
    ),
    (
        "new-instructions",
        re.compile(
            r"\b(?:new|updated|real|actual|additional|hidden|secret|true)\s+(?:instructions?|system\s+prompt|"
            rf"directives?|orders)\b|\binstructions?\s+(?:for|to)\s+(?:the\s+)?(?:{_MODEL}|model)\b"
        ),
    ),
    (
        "role-reassignment",
        re.compile(
            r"\byou\s+are\s+(?:now|no\s+longer|actually|really|an?\s+(?:ai|assistant|model|llm|helpful|"
            r"different|new))\b|\b(?:respond|answer|reply)\s+as\b|\b(?:act|behave)\s+as\s+(?:if\s+you|an?\s+"
            r"(?:ai|assistant|model|llm|different|unrestricted)\b)|\bpretend\s+(?:to\s+be|you)\b"
            r"|\bfrom\s+now\s+on\b|\brole-?play\b|\bjailbreak|\bdeveloper\s+mode\b|\bdo\s+anything\s+now\b"
        ),
    ),
    (
        "role-tag",
        re.compile(
            # "system:" at a line start or followed by a space; "system:serviceaccount:..." is a Kubernetes name.
            r"(?:^|[\n\r])\s*(?:#+\s*)?(?:system|assistant|user|developer|human)\s*:"
            r"|\b(?:system|assistant|developer)\s*:(?:\s|$)"
            r"|<\|[a-z_]{2,30}\|>|\[/?inst\]|<</?sys>>|</?s>"
            r"|</?\s*(?:system|assistant|user|developer|instructions?|prompt|im_start|im_end)\b[^>\n]{0,40}>"
            r"|^\s*#{1,6}\s*(?:system|instructions?|assistant|response)\b",
            re.MULTILINE,
        ),
    ),
    (
        "ranking-manipulation",
        re.compile(
            r"\b(?:rank|ranks|ranked|ranking|re-?rank\w*|prioriti[sz]e\w*)\b[^\n]{0,80}?"
            r"\b(?:first|top|highest|above|before|#\s?1|number\s+one)\b"
            r"|\b(?:put|place|move|list|show)\b[^\n]{0,60}?\b(?:at|to|on)\s+(?:the\s+)?(?:top|front|head)\b"
            r"|\bfirst\s+in\s+(?:the\s+)?(?:list|ranking|order|plan)\b"
            r"|\bmust\s+(?:come|be\s+ranked|be\s+listed|go)\s+first\b"
            r"|[\"']?\b(?:ranking|cited_ids)\b[\"']?\s*[:=]"
        ),
    ),
    (
        "policy-manipulation",
        re.compile(
            r"\b(?:risk(?:\s+level)?|policy(?:\s+band)?|band)\s*(?:to|=|:|is)\s*(?:low|auto|none|safe)\b"
            r"|\bauto[- ]?approv\w*|\bapprove\w*\s+(?:it\s+)?automatically\b"
            r"|\b(?:mark|set|treat|classify)\b[^\n]{0,40}?\b(?:as|to)\s+(?:auto|low[- ]risk|safe|pre-?approved)\b"
            r"|\bwithout\s+(?:human\s+)?(?:review|approval|confirmation)\b"
        ),
    ),
    (
        "prompt-exfiltration",
        re.compile(
            r"\bsystem\s+prompt\b|\b(?:reveal|print|repeat|show|output|leak)\s+(?:me\s+)?your\s+"
            r"(?:prompt|instructions|rules|api\s+key|secrets?)\b"
            r"|\b(?:reveal|leak)\s+(?:the\s+)?(?:prompt|instructions|api\s+key)\b"
        ),
    ),
    (
        "addressing-the-model",
        re.compile(
            rf"\b(?:dear|hey|hi|hello|attention|note\s+to|message\s+to|to)\s+(?:the\s+|any\s+|all\s+)?{_MODEL}\b"
            r"|\bas\s+an?\s+(?:ai|language\s+model|llm)\b"
            r"|\b(?:ai|llm|assistant|model)s?\s+(?:reading|processing|analy[sz]ing|parsing)\s+this\b"
        ),
    ),
    (
        "delimiter-spoof",
        re.compile(
            r"</?\s*(?:alert_data|evidence_data)\b|\b(?:end|begin|start|close)\s+(?:of\s+)?(?:the\s+)?"
            r"(?:alert|evidence|user|system)\s+(?:data|input|message|prompt|block)\b"
        ),
    ),
    ("encoded-payload", re.compile(r"\bdecode\s+(?:this|the\s+following|and\s+(?:run|follow|execute))\b")),
)

#: Base64-like runs (standard or URL-safe alphabet). One is an injection when it decodes to readable text (a
#: hidden message) or is very long and mixes cases and digits (an opaque payload has no place in an alert);
#: hex digests, paths and ordinary identifiers are neither.
_BLOB = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
_BLOB_OPAQUE_CHARS = 256
_INVISIBLE_RANGES = ((0xE0000, 0xE007F),)  # Unicode tag characters can smuggle invisible ASCII


def _has_invisible(text: str) -> bool:
    body = text[1:] if text.startswith("\ufeff") else text
    for char in body:
        if unicodedata.category(char) == "Cf":
            return True
        code = ord(char)
        if any(low <= code <= high for low, high in _INVISIBLE_RANGES):
            return True
    return False


def _for_matching(text: str) -> str:
    """NFKC (full-width and styled letters become plain), format characters removed, lower case."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(char for char in folded if unicodedata.category(char) != "Cf")
    return folded.lower()


def _decodes_to_text(run: str) -> bool:
    core = run.rstrip("=").replace("-", "+").replace("_", "/")
    for offset in range(4):
        chunk = core[offset:]
        chunk = chunk[: len(chunk) - len(chunk) % 4]
        if len(chunk) < 32:
            break
        try:
            decoded = base64.b64decode(chunk, validate=True)
        except (binascii.Error, ValueError):
            continue
        printable = sum(1 for byte in decoded if 32 <= byte < 127 or byte in (9, 10, 13))
        if printable >= 0.9 * len(decoded):
            return True
    return False


def _is_blob(run: str) -> bool:
    if _decodes_to_text(run):
        return True
    mixed = any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run)
    return mixed and len(run) >= _BLOB_OPAQUE_CHARS


def find_instruction_like(text: str) -> list[str]:
    """Names of the injection rules ``text`` trips (empty when it reads like data)."""
    if not text:
        return []
    hits: set[str] = set()
    if _has_invisible(text):
        hits.add("invisible-characters")
    if any(_is_blob(match.group(0)) for match in _BLOB.finditer(text)):
        hits.add("encoded-payload")
    folded = _for_matching(text)
    for name, pattern in _INJECTION_RULES:
        if pattern.search(folded):
            hits.add(name)
    return sorted(hits)


def detect_injection(title: str | None, description: str | None, labels: Mapping[str, str] | None) -> list[str]:
    """Names of the injection rules any alert field trips: title, description, label names and values."""
    texts: list[str] = [title or "", description or ""]
    for key, value in (labels or {}).items():
        texts.append(str(key))
        texts.append(str(value))
    hits: set[str] = set()
    for text in texts:
        hits.update(find_instruction_like(text))
    return sorted(hits)


# --- ids ------------------------------------------------------------------------------------------------

_BRACKETS = re.compile(r"\[([^\[\]\n]{0,300})\]")
_ID_SEPARATORS = re.compile(r"[\s,;]+")


def cited_ids(text: str) -> list[str]:
    """The ids cited in brackets, in order of first appearance: ``[a]``, ``[a, b]`` and ``[a; b]`` all count.

    Every bracketed token counts as a citation, so brackets used for anything else (``[WARN]``) name an
    unknown id and fail validation: the prompt tells the model that brackets are for ids only.
    """
    seen: dict[str, None] = {}
    for match in _BRACKETS.finditer(text):
        tokens = [token for token in _ID_SEPARATORS.split(match.group(1)) if token]
        if not tokens:
            seen.setdefault("", None)  # "[]" cites nothing that exists
        for token in tokens:
            seen.setdefault(token, None)
    return list(seen)


def unknown_ids(ids: Iterable[object], known: Iterable[str]) -> list[str]:
    """The entries of ``ids`` that are not exactly one of ``known`` (non-strings are always unknown)."""
    known_set = set(known)
    unknown: dict[str, None] = {}
    for item in ids:
        if not isinstance(item, str) or item not in known_set:
            unknown.setdefault(repr(item) if not isinstance(item, str) else item, None)
    return list(unknown)


# --- explanation ----------------------------------------------------------------------------------------

_HTML_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,100}>")
_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_LINE_MARKUP = re.compile(r"^\s*(?:#{1,6}\s+|[-*+\u2022]\s+|>\s+)", re.MULTILINE)
_EMPHASIS = re.compile(r"\*\*|__|`")
_WHITESPACE = re.compile(r"\s+")


def clean_explanation(text: str, *, max_chars: int = MAX_EXPLANATION_CHARS) -> str | None:
    """``text`` as one short line of plain text: no control or format characters, no markdown or HTML, one
    space between words, at most ``max_chars`` characters (cut at a word boundary, ending with "…", never in
    the middle of a ``[citation]``). ``None`` when nothing is left.
    """
    if max_chars < 2:
        raise ValueError("max_chars must be at least 2")
    plain = "".join(
        char if char == "\n" or unicodedata.category(char) not in ("Cc", "Cs") else " "
        for char in text.replace("\r\n", "\n").replace("\r", "\n")
        if unicodedata.category(char) not in ("Cf", "Co")
    )
    plain = _FENCE.sub(" ", plain)
    plain = _HTML_TAG.sub(" ", plain)
    plain = _LINE_MARKUP.sub("", plain)
    plain = _EMPHASIS.sub("", plain)
    plain = _WHITESPACE.sub(" ", plain).strip()
    if not plain:
        return None
    if len(plain) <= max_chars:
        return plain
    cut = plain[: max_chars - 1]
    space = cut.rfind(" ")
    if space >= max_chars // 2:
        cut = cut[:space]
    if cut.rfind("[") > cut.rfind("]"):
        cut = cut[: cut.rfind("[")]
    cut = cut.rstrip(" ,;:-")
    return f"{cut}…" if cut else None


# --- bounded re-ranking ---------------------------------------------------------------------------------


def _confidence(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def apply_ranking(
    deterministic_order: Sequence[str],
    confidences: Mapping[str, float],
    proposed: Sequence[object] | None,
    *,
    top_k: int = RERANK_TOP_K,
    max_confidence_gap: float = RERANK_MAX_CONFIDENCE_GAP,
) -> list[str]:
    """``deterministic_order`` reordered as far as ``proposed`` asks and the bounds allow.

    * Only the first ``top_k`` steps can move; the rest keep their positions.
    * Within them, only steps whose confidence is at most ``max_confidence_gap`` below the best confidence in
      that window are *movable*; a step without a finite confidence is never movable. Every other step keeps
      its exact position, so a low-confidence step can never be promoted (nor a high one pushed below it).
    * Movable steps fill the movable positions in the proposed order (ids the proposal names that are not
      movable, unknown or repeated are ignored), then the movable steps it did not name, in deterministic
      order.

    The result is always a permutation of ``deterministic_order``; when that has duplicates, or fewer than
    two steps are movable, or there is no proposal, it is returned unchanged.
    """
    order = list(deterministic_order)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError("top_k must be an integer >= 1")
    if not math.isfinite(max_confidence_gap) or max_confidence_gap < 0:
        raise ValueError("max_confidence_gap must be a finite number >= 0")
    if proposed is None or isinstance(proposed, str | bytes) or len(set(order)) != len(order):
        return order
    window = order[:top_k]
    scores = {step: _confidence(confidences.get(step)) for step in window}
    finite = [score for score in scores.values() if score is not None]
    if not finite:
        return order
    best = max(finite)
    movable = [
        step for step in window if (score := scores[step]) is not None and best - score <= max_confidence_gap + 1e-12
    ]
    if len(movable) < 2:
        return order
    movable_set = set(movable)
    wanted: list[str] = []
    for step in proposed:
        if isinstance(step, str) and step in movable_set and step not in wanted:
            wanted.append(step)
    new_movable = iter(wanted + [step for step in movable if step not in wanted])
    reordered = [next(new_movable) if step in movable_set else step for step in window]
    return reordered + order[top_k:]
