"""Risk inference for runbook steps: how much harm executing a step's action can do.

:func:`infer_risk` reads a step's action (prose and commands) and returns ``(risk_level, reason)``:

* ``high``   - destroys or rewrites data or capacity in a way that cannot simply be undone: delete, remove,
  ``rm``, drain, truncate, wipe, purge, prune, format/``mkfs``, ``--force``, terminate, restore, SQL ``DROP`` /
  ``DELETE FROM`` / ``UPDATE ... SET`` / ``ALTER`` / ``INSERT``, scaling to zero, resizing a disk or volume,
  anything the text itself calls irreversible ("cannot be undone", "permanently").
* ``medium`` - changes state but can be reverted: restart, reload, reboot, scale, failover, promote, cordon,
  kill a process, resize or increase a limit, edit/apply/patch/set/update/upgrade/deploy/roll back, defrag.
* ``low``    - read-only: get, describe, logs, show, cat, grep, df, top, ``SELECT``, ``EXPLAIN``, ``curl``
  without a write method, ``dig``, queries in PromQL/LogQL, "check", "verify", "inspect" ...

The riskiest match wins. Verbs count both inside commands and in prose, always on word boundaries (so
"undelete" or "OOMKilled" never match). In prose, a verb is skipped when the words just before it (within the
same clause) show it is not an instruction to do it: a negation ("do not delete", "avoid deleting", "instead
of restarting"), a passive or perfect form ("is set", "were deleted" - only base and -ing forms match at all),
a noun use after a determiner ("the restart count", "a rolling reboot"), a condition ("if volume expansion is
available"), a relative clause ("the configuration which it tries to reload"), or a verb that is not where an
instruction puts it - at the start of its clause or after and/then/to/a modal/an adverb ("DaemonSet update
strategy" names a strategy).

Code in a query language (PromQL, LogQL) or a sample-output block is read-only by definition; in shell blocks
that use ``$`` prompts only the prompted lines are commands, the rest is output. A command's verb is its program
and, for programs with sub-commands (``kubectl``, ``systemctl``, ``docker`` ...), its first non-flag words -
never its arguments, so ``grep delete`` reads and ``kubectl delete`` deletes.

When nothing matches, diagnosis and verification steps are ``low`` and mitigation steps ``medium``: a
mitigation changes something even when the wording does not say what.

What this module must never do: execute or rewrite commands, touch files, the database or the network, or
return anything but one of the three levels with a human-readable reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ai_service.vocabulary import RISK_LEVELS, RiskLevel

# Languages whose code blocks are queries or sample output: never commands that change anything.
READ_ONLY_LANGS: frozenset[str] = frozenset(
    {"promql", "logql", "metricsql", "txt", "text", "plain", "plaintext", "output", "log", "logs", "none"}
)
SQL_LANGS: frozenset[str] = frozenset({"sql", "psql", "pgsql", "postgresql", "mysql", "plsql", "tsql"})


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_NEGATORS: frozenset[str] = frozenset(
    {
        "not",
        "never",
        "no",
        "avoid",
        "avoiding",
        "without",
        "instead",
        "rather",
        "prevent",
        "prevents",
        "unable",
        "cannot",
        "nor",
    }
)
_AUXILIARIES: frozenset[str] = frozenset(
    {"is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "get", "gets", "got"}
)
_DETERMINERS: frozenset[str] = _wordset("a an the this that these those any each every its their your our some of")
_CONDITIONALS: frozenset[str] = frozenset({"if", "whether"})
# "the configuration which it tries to reload": a verb in a relative clause describes, it does not instruct.
_RELATIVES: frozenset[str] = frozenset({"which", "who", "whose", "whom"})
_VERB_LEADERS: frozenset[str] = _wordset(
    "and or then to can could should must may might will would please also just simply first now go try by via let lets"
)
_PHRASE_OPENERS: frozenset[str] = _wordset("in on for at with during if when once after before where whenever unless")
# "in terminating state", "while restarting": an -ing form after these describes a state or a time.
_ING_QUALIFIERS: frozenset[str] = _wordset("in into on at while when after before during currently still being")


@dataclass(frozen=True)
class RiskRule:
    """One recognised kind of action: a pattern, the level it implies and why."""

    level: RiskLevel
    label: str
    pattern: re.Pattern[str]
    guarded: bool = True  # in prose, apply the negation / passive / noun / condition guard


def _rule(level: RiskLevel, label: str, regex: str, *, guarded: bool = True) -> RiskRule:
    return RiskRule(level, label, re.compile(regex, re.IGNORECASE), guarded)


_DISK = r"(?:volumes?|disks?|pvcs?|persistentvolumeclaims?|filesystems?|file\s+systems?|partitions?|storage|lvs?)"

# Prose: verbs as an operator would write them. Only base and -ing forms, so past tenses never match.
PROSE_RULES: tuple[RiskRule, ...] = (
    _rule(
        "high",
        "irreversible by its own account",
        r"\b(?:cannot|can'?t|can\s+not)\s+be\s+"
        r"(?:undone|rolled\s+back|reverted|recovered)\b|\birreversibl[ey]\b|\bpermanently\b",
        guarded=False,
    ),
    _rule(
        "high",
        "must be deleted or destroyed",
        r"\b(?:should|must|needs?\s+to|has\s+to|have\s+to)\s+be\s+(?:\w+ly\s+)?(?:deleted|removed|terminated|drained"
        r"|truncated|wiped|purged|destroyed|dropped|restored|erased|formatted)\b",
        guarded=False,
    ),
    _rule("high", "deletes objects or data", r"\b(?:force-)?delet(?:e|ing)\b"),
    _rule("high", "removes objects or data", r"\bremov(?:e|ing)\b"),
    _rule("high", "truncates data", r"\btruncat(?:e|ing)\b"),
    _rule(
        "high",
        "drops a database object",
        r"\bdrop(?:ping)?\s+(?:the\s+)?(?:table|database|schema|index|column|partition|replication\s+slot)s?\b",
    ),
    _rule("high", "drains a node", r"\bdrain(?:ing)?\b"),
    _rule("high", "forces the operation", r"\bforce\b"),
    _rule(
        "high",
        "wipes or destroys data",
        r"\b(?:wip(?:e|ing)|eras(?:e|ing)|shred(?:ding)?|destroy(?:ing)?|purg(?:e|ing)|prun(?:e|ing)"
        r"|uninstall(?:ing)?|flush(?:ing)?)\b",
    ),
    _rule(
        "high",
        "formats a device",
        r"\bformat(?:ting)?\s+(?:the\s+|a\s+)?(?:disk|drive|volume|partition|filesystem|device)",
    ),
    _rule(
        "high",
        "resizes a disk or volume (cannot be undone)",
        r"\b(?:resiz(?:e|ing)|expand(?:ing)?|extend(?:ing)?|grow(?:ing)?|shrink(?:ing)?|increas(?:e|ing))"
        r"\b(?:\W+\w+){0,5}?\W+" + _DISK + r"\b"
        r"|\b" + _DISK + r"\s+(?:resiz(?:e|ing)|expansion|extension)\b",
    ),
    _rule("high", "terminates instances for good", r"\bterminat(?:e|ing)\b"),
    _rule("high", "restores data over the current state", r"\brestor(?:e|ing)\b"),
    _rule(
        "high",
        "migrates or rebuilds data",
        r"\bmigrat(?:e|ing)\s+(?:the\s+)?data\b"
        r"|\b(?:trigger|start|run|perform|schedul|do)\w*\s+(?:the\s+|a\s+)?data\s+migration\b"
        r"|\b(?:recreat|rebuild|reinstall)\w*\s+(?:the\s+)?(?:cluster|database|volume)\b",
    ),
    _rule("high", "scales to zero", r"\bscal(?:e|ing)\b[^.\n]{0,40}?\bto\s+0\b"),
    _rule(
        "medium",
        "must be changed",
        r"\b(?:should|must|needs?\s+to|has\s+to|have\s+to)\s+be\s+(?:\w+ly\s+)?(?:restarted|reloaded|rebooted|scaled"
        r"|cordoned|killed|resized|increased|raised|updated|upgraded|changed|fixed|replaced|recreated|rolled\s+back"
        r"|reverted|migrated|moved|redeployed|reconfigured|patched|rotated|renewed)\b",
        guarded=False,
    ),
    _rule("medium", "restarts or reloads", r"\b(?:restart(?:ing)?|reload(?:ing)?|reboot(?:ing)?|bounce)\b"),
    _rule("medium", "scales a workload", r"\bscale\b|\bscaling\s+(?:up|down|out|in|the)\b"),
    _rule("medium", "fails over or promotes", r"\b(?:fail\s*over|failover|switchover|promot(?:e|ing))\b"),
    _rule("medium", "cordons or taints a node", r"\b(?:un)?cordon(?:ing)?\b|\btaint\b"),
    _rule("medium", "kills a process or session", r"\bkill(?:ing)?\b"),
    _rule(
        "medium",
        "resizes or changes a limit",
        r"\b(?:resiz(?:e|ing)|increas(?:e|ing)|rais(?:e|ing)|bump(?:ing)?|decreas(?:e|ing)|reduc(?:e|ing)"
        r"|lower\s+the|adjust(?:ing)?|fine-tune|tun(?:e|ing)|expand(?:ing)?|extend(?:ing)?)\b",
    ),
    _rule(
        "medium",
        "changes configuration or deployments",
        r"\b(?:edit(?:ing)?|patch(?:ing)?|apply(?:ing)?|set|setting|configur(?:e|ing)|reconfigur(?:e|ing)"
        r"|chang(?:e|ing)|modify(?:ing)?|updat(?:e|ing)|upgrad(?:e|ing)|downgrad(?:e|ing)|install(?:ing)?"
        r"|deploy(?:ing)?|redeploy(?:ing)?|roll\s*back|rolling\s+back|revert(?:ing)?|undo|rotat(?:e|ing)"
        r"|renew(?:ing)?|replac(?:e|ing)(?!\s+`[^`]*`\s+with\b)|recreat(?:e|ing)|migrat(?:e|ing)|mov(?:e|ing)|spread"
        r"|rebalanc(?:e|ing)|enabl(?:e|ing)|disabl(?:e|ing)|stop(?:ping)?|evict(?:ing)?|defrag(?:ment)?(?:ing)?"
        r"|re-?apply|switch|paus(?:e|ing)|resum(?:e|ing))\b",
    ),
    _rule(
        "low",
        "read-only check",
        r"\b(?:check|verify|validate|confirm|look|inspect|investigate|review|read|query|compare|see|list|get"
        r"|describe|show|find|identify|monitor|watch|study|examine|determine|note|observe|talk|ask|consult"
        r"|refer|open|debug|test|wait|login|log\s+in|grep|search)\b",
    ),
)

# Code: whole-command patterns (flags, SQL, special forms) ...
CODE_RULES: tuple[RiskRule, ...] = (
    _rule("high", "removes files", r"(?:^|[\s;|&(])rm(?:dir)?\s|\s-delete\b"),
    _rule("high", "forces the operation", r"--force\b|--force-\w+|--grace-period[= ]0\b"),
    _rule(
        "high",
        "changes rows or schema",
        r"\bdelete\s+from\b|\bupdate\s+\S+\s+set\b|\binsert\s+into\b|\btruncate\s+(?:table\s+)?[a-z_\"]"
        r"|\bdrop\s+(?:table|database|schema|index|view|column|user|role|extension|owned)\b|\bpg_drop_\w+"
        r"|\balter\s+(?:table|database|system|user|role|index|sequence|schema)\b",
    ),
    _rule("high", "truncates files", r"\btruncate\s+-s\b"),
    _rule("high", "writes raw devices", r"(?:^|\s)dd\s+[^\n]*\bof=|\bmkfs(?:\.\w+)?\b"),
    _rule("high", "deletes through an API", r"-X\s*DELETE\b|--request\s+DELETE\b"),
    _rule("high", "flushes firewall rules", r"\biptables\b[^\n]*\s(?:-F|--flush)\b"),
    _rule("high", "discards data or history", r"\breset\s+--hard\b|--vacuum-\w+|\bflushall\b|\bflushdb\b"),
    _rule("high", "scales to zero", r"--replicas[= ]0\b"),
    _rule(
        "medium",
        "kills a session",
        r"\bpg_(?:terminate|cancel)_backend\b|\bpg_promote\b|\bpg_reload_conf\b|\bpg_wal_replay_(?:pause|resume)\b",
    ),
    _rule("medium", "changes the system", r"\bsysctl\s+-w\b|\bsed\s+-i\b|\bvacuum\b|\breindex\b"),
    _rule(
        "medium",
        "writes through an API",
        r"\bcurl\b[^\n]*(?:-X\s*(?:POST|PUT|PATCH)\b|--request\s+(?:POST|PUT|PATCH)\b|--data\b|\s-d\s)",
    ),
    _rule("low", "read-only query", r"\b(?:select|explain|show)\b"),
)

_HIGH_VERBS = """delete del drain truncate rm rmdir rmi wipefs shred destroy purge prune uninstall terminate
    terminate-instances restore compact fdisk parted sgdisk lvreduce lvremove vgremove lvextend lvresize resize2fs
    xfs_growfs growpart dropdb dropuser mkfs"""
_MEDIUM_VERBS = """restart reload reboot shutdown poweroff halt scale cordon uncordon taint kill pkill killall apply
    patch edit set replace label annotate undo rollback upgrade install promote failover switchover defrag evict
    stop start enable disable mask chmod chown mv cp ln tee mount umount create expose autoscale resize renew
    rotate"""
_LOW_VERBS = """get describe logs log top explain version cluster-info cat grep egrep less head tail df du ps lsof ss
    netstat ping traceroute mtr dig nslookup getent journalctl dmesg free vmstat iostat sar uptime ls lsblk stat
    jq wc resolvectl tcpdump ethtool smartctl curl wget openssl status show list health endpoint check
    check-config history events query diff"""

# ... and verbs in a command's head (the program and its first few sub-command words, never its arguments).
CODE_VERBS: dict[str, tuple[RiskLevel, str]] = {
    **{verb: ("low", "read-only command") for verb in _wordset(_LOW_VERBS)},
    **{verb: ("medium", "changes state reversibly") for verb in _wordset(_MEDIUM_VERBS)},
    **{verb: ("high", "deletes, drains or destroys") for verb in _wordset(_HIGH_VERBS)},
}
# Programs whose first words are sub-commands (``kubectl delete``); for any other program only its name counts,
# so ``grep delete`` is a read-only search, not a deletion.
_SUBCOMMAND_PROGRAMS: frozenset[str] = _wordset(
    """kubectl oc helm docker podman crictl nerdctl systemctl service etcdctl git aws gcloud az terraform
    redis-cli apt apt-get yum dnf pg_ctl pg_ctlcluster patronictl virsh ip amtool promtool kubeadm"""
)
_ASSIGNMENTS_RE = re.compile(r"^(?:\s*(?:export\s+)?[A-Za-z_]\w*=(?:\"[^\"]*\"|'[^']*'|<[^>]*>|\S*))+\s*")
_VALUE_FLAGS: frozenset[str] = frozenset({"-n", "-c", "-l", "-u", "-o", "-f", "-p", "-w", "--namespace", "--context"})
_WRAPPERS: frozenset[str] = frozenset({"sudo", "time", "nice", "nohup", "exec", "env", "xargs", "watch"})


_FENCE_RE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_INLINE_CODE_RE = re.compile(r"(`+)(?P<code>.+?)\1", re.DOTALL)
_CLAUSE_BREAK_RE = re.compile(r"[.;:!?,()\[\]\n]|--|\s-\s")


@dataclass(frozen=True)
class Segment:
    """A piece of an action: prose, or code with the language it is written in."""

    kind: Literal["prose", "code"]
    text: str
    lang: str = ""


@dataclass(frozen=True)
class RiskMatch:
    level: RiskLevel
    label: str
    text: str


# A line outside fences that is itself a command (YAML actions and legacy text often carry bare commands).
_BARE_COMMAND_RE = re.compile(
    r"^\s*(?:\$\s+)?(?:sudo\s+)?(?:kubectl|systemctl|journalctl|docker|podman|helm|psql|pg_\w+|rm|mv|cp|dd|"
    r"curl|ip|ethtool|iptables|lvextend|resize2fs|mkfs\S*|rabbitmqctl|kafka-\S+|certbot|openssl|dig|nslookup|"
    r"(?i:select|insert|update|delete|alter|drop|truncate|vacuum|reindex|create|grant|revoke))\b"
)


def split_segments(action: str) -> list[Segment]:
    """Split an action into prose and code (fenced blocks with their language, inline code spans, and lines
    outside fences that are bare commands)."""
    segments: list[Segment] = []
    pos = 0
    for fence in _FENCE_RE.finditer(action):
        segments.extend(_split_bare(action[pos : fence.start()]))
        lang = (fence.group("info").strip().split() or [""])[0].lower()
        segments.append(Segment("code", fence.group("body"), lang))
        pos = fence.end()
    segments.extend(_split_bare(action[pos:]))
    return segments


def _split_bare(text: str) -> list[Segment]:
    segments: list[Segment] = []
    prose: list[str] = []
    for line in text.splitlines(keepends=True):
        if _BARE_COMMAND_RE.match(line):
            if prose:
                segments.extend(_split_inline("".join(prose)))
                prose = []
            segments.append(Segment("code", line, "bare"))
        else:
            prose.append(line)
    if prose:
        segments.extend(_split_inline("".join(prose)))
    return segments


def _split_inline(text: str) -> list[Segment]:
    segments: list[Segment] = []
    pos = 0
    for span in _INLINE_CODE_RE.finditer(text):
        if span.start() > pos:
            segments.append(Segment("prose", text[pos : span.start()]))
        segments.append(Segment("code", span.group("code"), "inline"))
        pos = span.end()
    if pos < len(text):
        segments.append(Segment("prose", text[pos:]))
    return segments


def command_lines(code: str) -> str:
    """The lines of a shell block that are commands. When the block uses ``$ `` prompts, only prompted lines
    (``$ `` and the root prompt ``# ``) and their backslash continuations are commands, the rest is output;
    without ``$ `` prompts every line is a command except ``#`` comments."""
    lines = code.splitlines()
    if not any(re.match(r"^\s*\$\s", line) for line in lines):
        return "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    commands: list[str] = []
    continuing = False
    for line in lines:
        if re.match(r"^\s*[$#]\s", line):
            commands.append(re.sub(r"^\s*[$#]\s", "", line, count=1))
            continuing = line.rstrip().endswith("\\")
        elif continuing:
            commands.append(line)
            continuing = line.rstrip().endswith("\\")
    return "\n".join(commands)


def _guarded_out(text: str, start: int, verb: str = "") -> bool:
    """True when the words just before ``start`` (same clause) show the verb is not an instruction."""
    before = text[max(0, start - 80) : start]
    pieces = _CLAUSE_BREAK_RE.split(before)
    clause = pieces[-1] if pieces else ""
    words = [w.lower() for w in re.findall(r"[A-Za-z']+", clause)]
    if not words:
        return False
    window = words[-4:]
    if any(w in _NEGATORS or w.endswith("n't") or w in _RELATIVES for w in window):
        return True
    if words[-1] in _AUXILIARIES:
        return True
    if verb.lower().endswith("ing") and words[-1] in _ING_QUALIFIERS:
        return True
    if any(w in _DETERMINERS for w in words[-2:]):
        return True
    if any(w in _CONDITIONALS for w in words[-3:]):
        return True
    return not _in_verb_position(words)


def _in_verb_position(words: list[str]) -> bool:
    """An instruction verb opens its clause, or follows "and"/"then"/"to"/a modal/an adverb, or ends a short
    opening phrase ("In rare cases roll back ..."); a verb after a noun ("DaemonSet update strategy") is a
    noun itself."""
    previous = words[-1]
    if previous in _VERB_LEADERS or previous.endswith("ly"):
        return True
    return words[0] in _PHRASE_OPENERS and len(words) <= 5


def find_matches(action: str) -> list[RiskMatch]:
    """Every rule match in ``action``: prose through :data:`PROSE_RULES` (with each inline code span standing
    in as ```code```, so "Replace `/var` with ..." reads as a sentence), code through :data:`CODE_RULES` and
    :data:`CODE_VERBS`."""
    matches: list[RiskMatch] = []
    prose: list[str] = []
    for segment in split_segments(action):
        if segment.kind == "prose":
            prose.append(segment.text)
            continue
        if segment.lang == "inline":
            prose.append("`code`")
            matches.extend(_code_matches(segment.text))
        elif segment.lang in READ_ONLY_LANGS:
            prose.append("\n")
            matches.append(RiskMatch("low", f"{segment.lang} query or sample output", segment.lang))
        else:
            prose.append("\n")
            text = segment.text if segment.lang in SQL_LANGS else command_lines(segment.text)
            matches.extend(_code_matches(text))
    return _prose_matches("".join(prose)) + matches


def _prose_matches(text: str) -> list[RiskMatch]:
    matches: list[RiskMatch] = []
    for rule in PROSE_RULES:
        for found in rule.pattern.finditer(text):
            if rule.guarded and _guarded_out(text, found.start(), found.group(0)):
                continue
            matches.append(RiskMatch(rule.level, rule.label, " ".join(found.group(0).split())))
            break
    return matches


def _code_matches(text: str) -> list[RiskMatch]:
    matches: list[RiskMatch] = []
    for rule in CODE_RULES:
        found = rule.pattern.search(text)
        if found:
            matches.append(RiskMatch(rule.level, rule.label, " ".join(found.group(0).split())))
    for command in _simple_commands(text):
        head = command_head(command)
        for index, word in enumerate(head):
            verdict = CODE_VERBS.get("mkfs" if word.startswith("mkfs.") else word)
            if verdict is not None:
                matches.append(RiskMatch(verdict[0], verdict[1], " ".join(head[: index + 1])))
    return matches


def _simple_commands(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"\|\|?|&&|;|\$\(|`|\n", text) if part.strip()]


def command_head(command: str) -> list[str]:
    """The program of a simple command and, for programs with sub-commands, its first three non-flag words,
    lower-cased: ``sudo kubectl -n x delete pod y`` -> ``["kubectl", "delete", "pod", "y"]``."""
    command = _ASSIGNMENTS_RE.sub("", command)
    tokens = _skip_wrappers(command.split())
    if not tokens:
        return []
    program = tokens[0].rsplit("/", 1)[-1].lower()
    head = [program]
    if program not in _SUBCOMMAND_PROGRAMS:
        return head
    skip_next = False
    for token in tokens[1:]:
        if len(head) >= 4:
            break
        if skip_next:
            skip_next = False
        elif token.startswith("-"):
            skip_next = token in _VALUE_FLAGS
        else:
            head.append(token.lower().strip("\"'(),"))
    return head


def _skip_wrappers(tokens: list[str]) -> list[str]:
    """Drop ``sudo -u x``, ``env``, ``VAR=value`` and similar prefixes in front of the real program."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _WRAPPERS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
            index += 1
        elif token.startswith("-") and index > 0 and tokens[index - 1] != "--":
            index += 2 if token in _VALUE_FLAGS else 1
        else:
            break
    return tokens[index:]


def infer_risk(action: str, phase: str) -> tuple[RiskLevel, str]:
    """Return ``(risk_level, reason)`` for a step's action; see the module docstring for the rules."""
    matches = find_matches(action)
    top = max((RISK_LEVELS.index(m.level) for m in matches), default=-1)
    if top <= 0 and phase == "mitigation" and not _reads_only(action, matches):
        return "medium", "no recognised action verb; mitigation steps change state, so medium by default"
    if not matches:
        return "low", f"no change-making action found in a {phase} step"
    reasons: list[str] = []
    for match in matches:
        item = f"{match.label} ({match.text!r})"
        if RISK_LEVELS.index(match.level) == top and item not in reasons:
            reasons.append(item)
    level: RiskLevel = next(m.level for m in matches if RISK_LEVELS.index(m.level) == top)
    return level, "; ".join(reasons[:3])


_READ_ONLY_OPENING_RE = re.compile(
    r"(?:^|[.!?:,]\s+|\bthen\s+)(?:first\s+|now\s+|also\s+|just\s+)?(?:check|verify|validate|confirm|look|inspect"
    r"|investigate|review|query|compare|find|identify|monitor|watch|study|examine|determine|talk|ask|consult|wait"
    r"|login|log\s+in|search|observe|read)\b",
    re.IGNORECASE,
)


def _reads_only(action: str, matches: list[RiskMatch]) -> bool:
    """A mitigation step counts as read-only only when it runs read-only commands or opens a sentence or clause
    with a read-only verb ("If X, check Y"); a passing "see ..." or "review" deep in a sentence does not."""
    if any(m.level == "low" and m.label != "read-only check" for m in matches):
        return True
    prose = " ".join(segment.text for segment in split_segments(action) if segment.kind == "prose")
    return bool(_READ_ONLY_OPENING_RE.search(prose.strip()))
