"""Reading runbook prose: does a sentence tell the reader to do something, and where does its condition end.

The heuristics documented in ``docs/runbook-format.md``: an imperative verb at the start (after adverbs and an
optional leading clause such as "If X," or "In rare cases"), a gerund subject with a predicate that recommends
it ("Deleting old data is the fastest solution"), a modal ("you should restart ..."), a necessity ("needs to be
restarted"); references ("See ...") and placeholders ("TODO") are recognised as such. Also the sentence and line
splitting they work on, and the openings that mark an expected outcome, a rollback or a verification.

What this module must never do: look at anything but the text it is given (no section, position or format), or
read the same sentence two ways: everything here is fixed word lists and patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ai_service.knowledge.models import Paragraph
from ai_service.knowledge.parsers.inline import plain_text


def wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_IMPERATIVES = wordset(
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
CONDITION_START_RE = re.compile(
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
_NON_VERB_PREDECESSORS = wordset(
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
_NOT_MODAL_VERBS = wordset("be see notice observe expect lose receive have get find hit experience end make know")
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
ROLLBACK_START_RE = re.compile(
    r"^(?:to\s+roll\s*back|roll\s*back\s*:|rollback\s*:|to\s+undo|undo\s*:|to\s+revert|revert\s*:|"
    r"to\s+back\s+out|back\s*out\s*:)",
    re.IGNORECASE,
)
OUTCOME_START_RE = re.compile(
    r"^(?:expected(?:\s+(?:outcome|result|output))?\s*:|you\s+should\s+(?:now\s+)?(?:see|get|notice|observe|find)"
    r"\b|(?:the|this|that)\s+(?:output|result|command|query)\s+should\b|this\s+should\b|that\s+should\b|"
    r"it\s+should\s+now\b|[^.]*\bshould\s+(?:now\s+be|be\b[^.]*\bnow\b)|[^.]*\bshould\s+now\b)",
    re.IGNORECASE,
)


VERIFY_START_RE = re.compile(
    r"^\s*(?:(?:then|finally|now)\s*,?\s*)?(?:as\s+(?:a\s+)?validation|to\s+(?:verify|validate|confirm)\b|"
    r"(?:verify|validate|confirm)\b|make\s+sure\s+\S+(?:\s+\S+){0,6}\s+(?:is|are)\s+(?:now|back)\b|"
    r"check\s+that\b[^.]*\b(?:now|again|back|resolved|recovered)\b)",
    re.IGNORECASE,
)


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
    if not CONDITION_START_RE.match(text):
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
