"""The policy gate: load a policy, put a triaged result in a band, and say whether executing it is allowed.

* :func:`load_policy` reads a YAML or JSON policy file (by extension), or the built-in default
  (``default_policy.yaml`` beside this module) when no file is given, and validates it completely: every
  problem is reported at once as a :class:`ConfigurationError` naming the file, the line, the rule and the
  field path, with a fix hint.
* :func:`evaluate` applies the ordered rules to a :class:`PolicyContext`: the first rule that matches wins, and
  its band, approval requirements and the reasons (with the actual values) make the :class:`PolicyDecision`.
  A result with no match can only be put in REVIEW: rules of other bands are skipped for it. Evaluation is
  pure and total: a validated policy ends with a catch-all and has a REVIEW rule sure to match a no-match
  result, so every context gets exactly one band, and the same context always the same decision.
* :func:`check_execution_allowed` is what the execution-transition code calls before accepting or executing
  a resolution; it raises :class:`InvalidTransitionError` when the decision's requirements are not met.

What this module must never do: touch the database or the network, execute or schedule anything, or relax a
decision after the fact (enforcing it is the caller's job, deciding it is this module's).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ai_service.config import Settings, get_settings
from ai_service.errors import ConfigurationError, InvalidTransitionError
from ai_service.policy.models import (
    CONDITION_KEYS,
    DEFER_CHECKS,
    DOCS,
    POLICY_FORMAT_VERSION,
    Approval,
    Condition,
    CountRange,
    LevelMatch,
    NumberRange,
    Policy,
    PolicyContext,
    PolicyDecision,
    Rule,
    SkippedRule,
    format_loc,
    policy_problems,
)
from ai_service.validation import type_name, yaml_line, yaml_tree
from ai_service.vocabulary import RISK_LEVELS, SEVERITIES

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")
POLICY_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

# --- loading -------------------------------------------------------------------------------------------------


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in the YAML (``.yaml``/``.yml``) or JSON (``.json``) file ``path``; the built-in default when
    ``path`` is None. Raises :class:`ConfigurationError` for a missing, unreadable or invalid file."""
    if path is None:
        return _default_policy()
    return _load_file(Path(path))


def policy_from_settings(settings: Settings | None = None) -> Policy:
    """The policy configured by ``NOCAI_POLICY_FILE`` (the built-in default when it is unset)."""
    return load_policy((settings or get_settings()).policy_file)


@lru_cache(maxsize=1)
def _default_policy() -> Policy:
    return _load_file(DEFAULT_POLICY_PATH)


_FILE_HINT = "set NOCAI_POLICY_FILE to a readable YAML or JSON policy file, or unset it to use the built-in default"


def _load_file(path: Path) -> Policy:
    display = str(path)
    fmt = POLICY_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ConfigurationError(
            f"{display}: a policy file must be YAML (.yaml, .yml) or JSON (.json), "
            f"not {path.suffix or 'a file without extension'}",
            hint="rename the file to the extension of its format",
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{display}: policy file not found", hint=_FILE_HINT) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{display}: cannot read the policy file: {exc.strerror or exc}", hint=_FILE_HINT
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{display}: the policy file is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8"
        ) from None

    data = _parse_json(text, display) if fmt == "json" else _parse_yaml(text, display)
    root = yaml_tree(text)
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type_name(data)}"
        raise ConfigurationError(
            f"{display}:1: expected a mapping with 'version' and 'bands' at the top level, found {found}",
            hint=f"start the file with 'version: 1' and a 'bands:' list of rules (see {DOCS})",
        )
    duplicates = _duplicate_keys(root, ())
    if duplicates:
        lines = [
            f"{display}:{line}: {_subject(data, loc)}: duplicate key {key!r} (first at line {first})"
            for loc, key, line, first in duplicates
        ]
        raise ConfigurationError(
            "\n".join(lines), hint="keep one of the two keys; the file would otherwise silently use the last one"
        )

    try:
        policy = Policy.model_validate(data, context={DEFER_CHECKS: True})
    except ValidationError as exc:
        raise _validation_error(exc, data, root, display) from None
    problems = policy_problems(policy)
    if problems:
        lines = [_problem_line(display, root, data, problem.loc, problem.message) for problem in problems]
        hints = list(dict.fromkeys(problem.hint for problem in problems))
        raise ConfigurationError("\n".join(lines), hint=_join_hints(hints))
    return policy.with_origin(display, hashlib.sha256(raw).hexdigest())


def _parse_json(text: str, display: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{display}:{exc.lineno}:{exc.colno}: the policy file is not valid JSON: {exc.msg}",
            hint="fix the JSON syntax at that position (a missing comma or quote is the usual cause)",
        ) from None


def _parse_yaml(text: str, display: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f"{display}:{mark.line + 1}:{mark.column + 1}" if mark is not None else display
        raise ConfigurationError(
            f"{where}: the policy file is not valid YAML: {problem}",
            hint="fix the YAML syntax at that line (indentation and unquoted ':' are the usual causes)",
        ) from None


def _duplicate_keys(
    node: yaml.Node | None, loc: tuple[int | str, ...]
) -> list[tuple[tuple[int | str, ...], str, int, int]]:
    """(parent loc, key, line, first line) of every key given twice in one mapping."""
    found: list[tuple[tuple[int | str, ...], str, int, int]] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name != "<<":
                if name in first:
                    found.append((loc, name, key.start_mark.line + 1, first[name]))
                else:
                    first[name] = key.start_mark.line + 1
            found += _duplicate_keys(value, (*loc, name) if name is not None else loc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, (*loc, index))
    return found


def _subject(data: dict[str, Any], loc: Sequence[int | str]) -> str:
    """``rule 'name', bands[1].when.severity`` for a place in a rule, else the field path."""
    path = format_loc(list(loc)) or "(top level)"
    if len(loc) >= 2 and loc[0] == "bands" and isinstance(loc[1], int):
        bands = data.get("bands")
        rule = bands[loc[1]] if isinstance(bands, list) and 0 <= loc[1] < len(bands) else None
        name = rule.get("name") if isinstance(rule, dict) else None
        if isinstance(name, str) and name.strip():
            return f"rule {name.strip()!r}, {path}"
        return f"rule #{loc[1] + 1}, {path}"
    return path


def _problem_line(
    display: str, root: yaml.Node | None, data: dict[str, Any], loc: Sequence[int | str], message: str
) -> str:
    line = yaml_line(root, loc)
    where = f"{display}:{line}" if line is not None else display
    return f"{where}: {_subject(data, loc)}: {message}"


def _join_hints(hints: list[str]) -> str:
    return "; ".join([*hints, f"see {DOCS} for the policy format"])


def _validation_error(exc: ValidationError, data: dict[str, Any], root: yaml.Node | None, display: str) -> Exception:
    lines: list[str] = []
    hints: list[str] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "too_short" and len(error.get("input") or ()) >= error["ctx"]["min_length"]:
            continue  # pydantic counts only the items that validated; their own errors are reported
        message, hint = _describe(error, loc)
        line = _problem_line(display, root, data, loc, message)
        if line not in lines:
            lines.append(line)
        if hint and hint not in hints:
            hints.append(hint)
    return ConfigurationError("\n".join(lines), hint=_join_hints(hints))


def _fields_at(parent: tuple[int | str, ...]) -> tuple[str, list[str]]:
    """What kind of mapping sits at ``parent`` and the keys it allows."""
    if not parent:
        return "policy", [_alias(name, info.alias) for name, info in Policy.model_fields.items()]
    if len(parent) == 2 and parent[0] == "bands":
        return "rule", list(Rule.model_fields)
    if parent[-1] == "approval" and len(parent) == 3:
        return "approval", list(Approval.model_fields)
    if parent[-1] == "confidence":
        return "confidence comparison", list(NumberRange.model_fields)
    if parent[-1] in ("matched_signatures", "steps"):
        return "count comparison", list(CountRange.model_fields)
    return "condition", list(CONDITION_KEYS)


def _alias(name: str, alias: str | None) -> str:
    return alias or name


def _describe(error: Any, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """A message and a fix hint for one pydantic error at ``loc``."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    field = loc[-1] if loc else ""
    if kind == "policy":
        return str(ctx.get("message")), str(ctx.get("hint") or "")
    if kind == "missing":
        hints = {
            "version": f"start the file with 'version: {POLICY_FORMAT_VERSION}'",
            "bands": "list the rules under 'bands:', the catch-all last",
            "name": "every rule needs a unique 'name'",
            "band": "every rule needs a 'band': AUTO, PROPOSE or REVIEW",
        }
        return "required field is missing", hints.get(str(field), "")
    if kind == "extra_forbidden":
        what, allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(field), allowed, n=1, cutoff=0.6)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {what} key {field!r}{suggestion}", f"{what} keys are: {', '.join(allowed)}"
    if kind == "literal_error":
        if field == "band":
            return f"unknown band {given!r}; use AUTO, PROPOSE or REVIEW", "a band is AUTO, PROPOSE or REVIEW"
        if field == "version":
            return (
                f"unsupported policy format version {given!r}",
                f"this nocai reads 'version: {POLICY_FORMAT_VERSION}' policy files",
            )
    if kind in ("too_short", "string_too_short"):
        target = f"'{field}'" if isinstance(field, str) else "this value"
        return f"{target} must not be empty", "give at least one item (an empty any/all/list is a mistake)"
    if kind == "string_pattern_mismatch":
        if field == "name":
            return (
                f"invalid rule name {given!r}",
                "a rule name is letters, digits, '-', '_' and '.', starting with a letter or digit",
            )
        return f"invalid role {given!r}", "a role is one word, e.g. sre"
    if kind in ("less_than_equal", "greater_than_equal") and "confidence" in loc:
        return f"confidence is a number from 0 to 1, got {given!r}", "write a confidence of 85% as 0.85"
    if kind == "bool_type":
        return f"expected true or false, got {given!r}", ""
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got a {type_name(given)}", "write 'key: value' pairs here"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got a {type_name(given)}", "in YAML, one '- item' per line or [a, b]"
    return f"{error['msg']}, got {given!r}", ""


# --- evaluation -----------------------------------------------------------------------------------------------

Outcome = tuple[bool, list[str]]
_SYMBOL = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "="}
_HOLDS = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
}


def evaluate(policy: Policy, context: PolicyContext, *, now: datetime | None = None) -> PolicyDecision:
    """Put ``context`` in a band: the first of the policy's rules that matches it decides.

    A result with no match (``context.no_match``) only matches REVIEW rules. ``now`` (default: the current
    time) is recorded as ``evaluated_at``; everything else depends on the policy and the context alone.
    """
    skipped: list[SkippedRule] = []
    for index, rule in enumerate(policy.bands):
        if context.no_match and rule.band != "REVIEW":
            matched, reasons = False, [f"no_match true: a result without a match only gets REVIEW, not {rule.band}"]
        elif rule.when is None:
            matched = True
            reasons = ["catch-all: no earlier rule matched" if index else "catch-all: matches every result"]
            reasons += [f"not {miss.rule} ({miss.band}): {'; '.join(miss.reasons)}" for miss in skipped]
        else:
            matched, reasons = _test(rule.when, context)
        if matched:
            return _decision(policy, rule, index, reasons, skipped, context, now)
        skipped.append(SkippedRule(rule=rule.name, rule_index=index, band=rule.band, reasons=reasons))
    # A policy that passed validation always ends with a catch-all; only model_construct can get here.
    raise ConfigurationError(
        f"{policy.source}: no rule of the policy matched (the policy has no catch-all)",
        hint="end the policy with a rule without `when`",
    )


def _decision(
    policy: Policy,
    rule: Rule,
    index: int,
    reasons: list[str],
    skipped: list[SkippedRule],
    context: PolicyContext,
    now: datetime | None,
) -> PolicyDecision:
    approval = rule.effective_approval
    return PolicyDecision(
        band=rule.band,
        rule=rule.name,
        rule_index=index,
        rule_description=rule.description,
        requires_approval=approval.required,
        approver_roles=list(approval.roles),
        auto_execute_allowed=rule.band == "AUTO" and rule.auto_execute,
        reasons=reasons,
        skipped_rules=skipped,
        context=context,
        policy_version=policy.version,
        policy_sha256=policy.sha256,
        policy_source=policy.source,
        evaluated_at=(now or datetime.now(UTC)).astimezone(UTC),
    )


def _test(condition: Condition, context: PolicyContext) -> Outcome:
    """Whether ``condition`` holds for ``context``, and why (or why not), with the actual values.

    The keys of one mapping must all hold. When it holds, every part's reasons are given; when it does not,
    only the parts that failed.
    """
    return _all([_test_key(key, condition.value_of(key), context) for key in condition.present_keys()])


def _all(outcomes: list[Outcome]) -> Outcome:
    if all(ok for ok, _ in outcomes):
        return True, [reason for _, reasons in outcomes for reason in reasons]
    return False, [reason for ok, reasons in outcomes if not ok for reason in reasons]


def _any(outcomes: list[Outcome]) -> Outcome:
    if any(ok for ok, _ in outcomes):
        return True, [reason for ok, reasons in outcomes if ok for reason in reasons]
    return False, [reason for _, reasons in outcomes for reason in reasons]


def _test_key(key: str, value: Any, context: PolicyContext) -> Outcome:
    if key == "any":
        return _any([_test(item, context) for item in value])
    if key == "all":
        return _all([_test(item, context) for item in value])
    if key == "not":
        ok, reasons = _test(value, context)
        return not ok, reasons
    if key == "no_match":
        ok = context.no_match is value
        shown = "true" if context.no_match else "false"
        return ok, [f"no_match {shown}" if ok else f"no_match {shown} ≠ {'true' if value else 'false'}"]
    if key == "severity":
        return _test_level("severity", context.severity, value, SEVERITIES)
    if key == "risk":
        return _test_level("risk", context.risk_level, value, RISK_LEVELS)
    if key == "confidence":
        return _test_bounds("confidence", context.confidence, value.bounds())
    if key in ("service", "environment", "failure_type", "error_class"):
        return _test_patterns(key, getattr(context, key), value)
    if key == "labels":
        return _all(
            [_test_patterns(f"label {name}", context.labels.get(name), patterns) for name, patterns in value.items()]
        )
    if key == "matched_signatures":
        return _test_bounds("matched_signatures", context.matched_signature_count, value.bounds())
    if key == "steps":
        return _test_bounds("steps", context.step_count, value.bounds())
    raise AssertionError(f"unhandled condition key {key!r}")  # CONDITION_KEYS and this function disagree


def _show(values: Iterable[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _num(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _test_level(name: str, actual: str | None, match: LevelMatch, scale: tuple[str, ...]) -> Outcome:
    shown = actual if actual is not None else "unknown"
    if match.levels is not None:
        ok = actual in match.levels
        return ok, [f"{name} {shown} {'∈' if ok else '∉'} {_show(match.levels)}"]
    outcomes: list[Outcome] = []
    for op, bound in match.bounds().items():
        ok = actual is not None and _HOLDS[op](scale.index(actual), scale.index(bound))
        outcomes.append((ok, [f"{name} {shown} {'' if ok else 'not '}{_SYMBOL[op]} {bound}"]))
    return _all(outcomes)


def _test_bounds(name: str, actual: float, bounds: dict[str, Any]) -> Outcome:
    outcomes: list[Outcome] = []
    for op, bound in bounds.items():
        ok = _HOLDS[op](actual, bound)
        outcomes.append((ok, [f"{name} {_num(actual)} {'' if ok else 'not '}{_SYMBOL[op]} {_num(bound)}"]))
    return _all(outcomes)


def _test_patterns(name: str, actual: str | None, patterns: tuple[str, ...]) -> Outcome:
    ok = actual is not None and any(fnmatchcase(actual.lower(), pattern.lower()) for pattern in patterns)
    shown = actual if actual is not None else "unknown"
    if any(char in pattern for pattern in patterns for char in "*?["):
        return ok, [f"{name} {shown} {'matches' if ok else 'does not match'} {_show(patterns)}"]
    return ok, [f"{name} {shown} {'∈' if ok else '∉'} {_show(patterns)}"]


# --- enforcement ----------------------------------------------------------------------------------------------


def check_execution_allowed(
    decision: PolicyDecision, *, accepted_by_roles: Iterable[str] | None, executing: bool
) -> None:
    """Raise :class:`InvalidTransitionError` unless the decision's requirements are met.

    ``accepted_by_roles`` are the roles of the user who accepted the resolution (None: nobody has accepted
    it); ``executing`` is true when the caller is about to execute it, false when it is recording an
    acceptance. The rules:

    * approval required (PROPOSE, REVIEW): there must be an acceptance, by a user holding one of
      ``decision.approver_roles`` (roles compare case-insensitively);
    * no approval required (AUTO): anyone may accept or start it; executing it with no user at all (automatic
      execution) is allowed only when the rule said ``auto_execute: true``.
    """
    rule = f"rule {decision.rule!r}"
    if decision.requires_approval:
        needed = " or ".join(decision.approver_roles)
        if accepted_by_roles is None:
            action = "executed" if executing else "treated as accepted"
            raise InvalidTransitionError(
                f"this resolution is in band {decision.band} ({rule}) and cannot be {action} before a user "
                f"with role {needed} accepts it",
                hint=f"have a user with role {needed} accept the resolution first",
            )
        given = [accepted_by_roles] if isinstance(accepted_by_roles, str) else accepted_by_roles
        roles = {role.strip().lower() for role in given}
        if not roles & {role.lower() for role in decision.approver_roles}:
            held = ", ".join(sorted(roles)) if roles else "no role"
            raise InvalidTransitionError(
                f"accepting a {decision.band} resolution ({rule}) needs role {needed}; the accepting user has {held}",
                hint=f"ask a user with role {needed} to accept it",
            )
        return
    if executing and accepted_by_roles is None and not decision.auto_execute_allowed:
        raise InvalidTransitionError(
            f"this resolution is in band {decision.band} ({rule}) but its rule does not allow automatic "
            "execution; a user must start it",
            hint="have a user accept or start the resolution, or set auto_execute: true on the policy rule",
        )
