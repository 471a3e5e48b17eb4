"""The shapes of the policy gate: the policy file schema, what a decision is made from, and the decision.

* :class:`Policy` / :class:`Rule` / :class:`Condition` / :class:`Approval` are the policy file (YAML or JSON, see
  ``docs/policy.md``): ordered rules, each putting the results it matches in a band (AUTO, PROPOSE, REVIEW).
  The models mirror the file: ``Policy.model_dump(mode="json", by_alias=True, exclude_none=True)`` is a valid
  policy file again. :func:`policy_problems` holds the checks that span several rules (catch-all last, unique
  names, no-match always reaches REVIEW, approval consistent with the band); :class:`Policy` runs them on
  construction unless the loader asks to run them itself to report them with line numbers.
* :class:`PolicyContext` is everything a decision is made from: the triage result and the plan's riskiest step.
* :class:`PolicyDecision` is the outcome; ``model_dump(mode="json")`` is what ``incidents.policy_decision``
  stores, and ``PolicyDecision.model_validate`` reads it back (refusing a decision whose band and approval
  requirements contradict each other, so a tampered row cannot loosen what execution requires).

What this module must never do: read files, evaluate conditions against a context (that is
:mod:`ai_service.policy.service`), touch the database or the network. It holds data and its validation only.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ai_service.alerts.models import NormalizedAlert, json_type_name
from ai_service.vocabulary import RISK_LEVELS, SEVERITIES, Band, RiskLevel, Severity

COMPARISONS: tuple[str, ...] = ("gt", "gte", "lt", "lte")
POLICY_FORMAT_VERSION = 1
DOCS = "docs/policy.md"

# Passed as validation context by the loader, which runs policy_problems itself to report line numbers.
DEFER_CHECKS = "defer_policy_checks"


def _error(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error whose message is ours, with an optional fix hint the loader shows."""
    return PydanticCustomError("policy", "{message}", {"message": message, "hint": hint or ""})


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: "a list", "an object"."""
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _list_text(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]


# --- severity and risk: sets of levels or ordered comparisons -------------------------------------------------


class LevelMatch(BaseModel):
    """A condition on an ordered level (severity or risk): a set of levels, or comparisons on the order.

    In a file: ``[high, critical]`` or ``critical`` (the set), or ``{gte: high}`` (comparisons ``gt``, ``gte``,
    ``lt``, ``lte``; several are all required).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: tuple[str, ...] | None = None
    gt: str | None = None
    gte: str | None = None
    lt: str | None = None
    lte: str | None = None

    @model_serializer(mode="plain")
    def _file_form(self) -> Any:
        if self.levels is not None:
            return list(self.levels)
        return {name: getattr(self, name) for name in COMPARISONS if getattr(self, name) is not None}

    def bounds(self) -> dict[str, str]:
        """The comparisons that are set, by operator."""
        return {name: getattr(self, name) for name in COMPARISONS if getattr(self, name) is not None}


def _level_match(scale: tuple[str, ...], what: str) -> BeforeValidator:
    choices = _list_text(scale)

    def check_level(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in scale:
            return value.strip().lower()
        shown = repr(value) if isinstance(value, str) else _a(json_type_name(value))
        raise _error(
            f"{shown} is not a {what}; use {choices}",
            hint=f"{what} levels are, from lowest to highest: {', '.join(scale)}",
        )

    def validate(value: Any) -> Any:
        if isinstance(value, LevelMatch):
            return value
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            if not value:
                raise _error(f"give at least one {what} level", hint=f"e.g. {what}: [{scale[-1]}]")
            levels = tuple(dict.fromkeys(check_level(item) for item in value))
            return LevelMatch(levels=levels)
        if isinstance(value, dict):
            unknown = [key for key in value if key not in COMPARISONS]
            if unknown:
                raise _error(
                    f"unknown comparison {unknown[0]!r}; use gt, gte, lt or lte (or a list of levels)",
                    hint=f"write {what}: {{gte: {scale[1]}}} or {what}: [{scale[-2]}, {scale[-1]}]",
                )
            if not value:
                raise _error(f"give at least one comparison (gt, gte, lt, lte) or a list of {what} levels")
            bounds = {key: check_level(item) for key, item in value.items()}
            match = LevelMatch.model_validate(bounds)
            low = max(
                [scale.index(level) + (1 if op == "gt" else 0) for op, level in bounds.items() if op in ("gt", "gte")],
                default=0,
            )
            high = min(
                [scale.index(level) - (1 if op == "lt" else 0) for op, level in bounds.items() if op in ("lt", "lte")],
                default=len(scale) - 1,
            )
            if low > high:
                raise _error(
                    f"no {what} satisfies {_bounds_text(bounds)}, so this condition can never match",
                    hint="check the comparison operators (gt/gte/lt/lte) and the levels",
                )
            return match
        raise _error(
            f"expected a list of {what} levels or comparisons such as {{gte: {scale[1]}}}, "
            f"got {_a(json_type_name(value))}"
        )

    return BeforeValidator(validate)


def _bounds_text(bounds: Mapping[str, Any]) -> str:
    symbols = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "="}
    return " and ".join(f"{symbols[op]} {value}" for op, value in bounds.items())


SeverityMatch = Annotated[LevelMatch, _level_match(SEVERITIES, "severity")]
RiskMatch = Annotated[LevelMatch, _level_match(RISK_LEVELS, "risk")]


# --- text values: exact values or glob patterns ----------------------------------------------------------------


def _patterns(value: Any) -> Any:
    if isinstance(value, str | int | float):
        value = [value]
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            if isinstance(item, bool):
                out.append("true" if item else "false")
            elif isinstance(item, int | float):
                out.append(str(item))
            elif isinstance(item, str):
                out.append(item.strip())
            else:
                out.append(item)
        return out
    raise _error(
        f"expected a value, a glob pattern or a list of them, got {_a(json_type_name(value))}",
        hint="e.g. service: [payments-*, checkout] or environment: production",
    )


Pattern = Annotated[str, StringConstraints(min_length=1)]
Patterns = Annotated[tuple[Pattern, ...], BeforeValidator(_patterns), Field(min_length=1)]
"""Values to match, each exact or a glob (``*``, ``?``, ``[abc]``), compared case-insensitively."""


# --- numbers: confidence and counts ----------------------------------------------------------------------------


def _bounds_not_empty(bounds: Mapping[str, float], name: str, lowest: float, highest: float) -> None:
    """Refuse comparisons no value in [lowest, highest] satisfies (a condition that can never match)."""
    low = max((value for op, value in bounds.items() if op in ("gt", "gte")), default=lowest)
    high = min((value for op, value in bounds.items() if op in ("lt", "lte")), default=highest)
    strict = any(op in ("gt", "lt") and value in (low, high) for op, value in bounds.items())
    if "eq" in bounds:
        value = bounds["eq"]
        low, high = max(low, value), min(high, value)
        strict = strict or any(op in ("gt", "lt") and other == value for op, other in bounds.items())
    if low > high or (low == high and strict):
        raise _error(
            f"no {name} satisfies {_bounds_text(bounds)}, so this condition can never match",
            hint="check the comparison operators (gt/gte/lt/lte) and their values",
        )


Unit = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]


class NumberRange(BaseModel):
    """A condition on the calibrated confidence: ``{gte: 0.85}``, ``{lt: 0.6}``, ``{gte: 0.6, lt: 0.85}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gt: Unit | None = None
    gte: Unit | None = None
    lt: Unit | None = None
    lte: Unit | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise _error(
                f"a bare number ({value}) is ambiguous; give a comparison",
                hint=f"write confidence: {{gte: {value}}} (or gt, lt, lte)",
            )
        if isinstance(value, dict) and not value:
            raise _error("give at least one comparison: gt, gte, lt or lte", hint="e.g. confidence: {gte: 0.85}")
        return value

    @model_validator(mode="after")
    def _satisfiable(self) -> Self:
        _bounds_not_empty(self.bounds(), "confidence", 0.0, 1.0)
        return self

    @model_serializer(mode="plain")
    def _file_form(self) -> dict[str, float]:
        return self.bounds()

    def bounds(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in COMPARISONS if getattr(self, name) is not None}


Count = Annotated[StrictInt, Field(ge=0)]


class CountRange(BaseModel):
    """A condition on a count: ``{gte: 1}``, ``{eq: 0}``, or a bare number meaning ``eq``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eq: Count | None = None
    gt: Count | None = None
    gte: Count | None = None
    lt: Count | None = None
    lte: Count | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"eq": value}
        if isinstance(value, dict) and not value:
            raise _error("give at least one comparison: eq, gt, gte, lt or lte", hint="e.g. {gte: 1}")
        return value

    @model_validator(mode="after")
    def _satisfiable(self) -> Self:
        _bounds_not_empty(self.bounds(), "count", 0, math.inf)
        return self

    @model_serializer(mode="plain")
    def _file_form(self) -> dict[str, int]:
        return self.bounds()

    def bounds(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ("eq", *COMPARISONS) if getattr(self, name) is not None}


# --- conditions --------------------------------------------------------------------------------------------------

CONDITION_KEYS: tuple[str, ...] = (
    "any",
    "all",
    "not",
    "no_match",
    "severity",
    "risk",
    "confidence",
    "service",
    "environment",
    "labels",
    "failure_type",
    "error_class",
    "matched_signatures",
    "steps",
)


class Condition(BaseModel):
    """One condition mapping. Several keys in one mapping must all hold; ``any``/``all``/``not`` nest."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    any_: Annotated[tuple[Condition, ...], Field(min_length=1)] | None = Field(default=None, alias="any")
    all_: Annotated[tuple[Condition, ...], Field(min_length=1)] | None = Field(default=None, alias="all")
    not_: Condition | None = Field(default=None, alias="not")
    no_match: StrictBool | None = None
    severity: SeverityMatch | None = None
    risk: RiskMatch | None = None
    confidence: NumberRange | None = None
    service: Patterns | None = None
    environment: Patterns | None = None
    labels: Annotated[dict[Annotated[str, StringConstraints(min_length=1)], Patterns], Field(min_length=1)] | None = (
        None
    )
    failure_type: Patterns | None = None
    error_class: Patterns | None = None
    matched_signatures: CountRange | None = None
    steps: CountRange | None = None

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if not value:
                raise _error(
                    "empty condition",
                    hint="give at least one condition key; to match everything, leave out `when` altogether",
                )
            nulls = [key for key, item in value.items() if item is None]
            if nulls:
                raise _error(
                    f"{nulls[0]!r} has no value",
                    hint="give the condition a value (e.g. severity: [critical]) or remove the key",
                )
        elif not isinstance(value, Condition):
            raise _error(
                f"expected a condition mapping such as {{severity: [critical]}}, got {_a(json_type_name(value))}",
                hint="write each condition as 'key: value' (a list item under any/all is '- key: value')",
            )
        return value

    def present_keys(self) -> list[str]:
        """The condition keys this mapping sets, in :data:`CONDITION_KEYS` order."""
        return [key for key in CONDITION_KEYS if self.value_of(key) is not None]

    def value_of(self, key: str) -> Any:
        """The value of the condition key ``key`` (its file name: ``any``, ``not``, ``severity`` ...)."""
        return getattr(self, f"{key}_" if key in ("any", "all", "not") else key)


# --- rules and the policy ----------------------------------------------------------------------------------------

Role = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, pattern=r"^\S+$")]


class Approval(BaseModel):
    """Who must accept a result before it may be executed. ``required`` defaults to true."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: StrictBool = True
    roles: Annotated[tuple[Role, ...], AfterValidator(lambda roles: tuple(dict.fromkeys(roles)))] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.required and not self.roles:
            raise _error(
                "approval is required but no role may give it",
                hint="list the roles that may approve, e.g. approval: {required: true, roles: [sre, admin]}",
            )
        if not self.required and self.roles:
            raise _error(
                "roles are listed but approval is not required",
                hint="set required: true, or remove the roles",
            )
        return self


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


RULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Rule(BaseModel):
    """One ordered rule: results matching ``when`` (everything, when it is absent) get ``band``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, pattern=RULE_NAME_PATTERN, max_length=100)]
    description: str | None = None
    band: Annotated[Band, BeforeValidator(_upper)]
    when: Condition | None = None
    approval: Approval | None = None
    auto_execute: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _no_empty_sections(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in ("when", "approval"):
                if key in value and value[key] is None:
                    raise _error(
                        f"'{key}' has no value",
                        hint="remove `when` to make the rule a catch-all"
                        if key == "when"
                        else "give approval: {required: true, roles: [...]} or remove `approval` (AUTO only)",
                    )
        return value

    @property
    def is_catch_all(self) -> bool:
        return self.when is None

    @property
    def effective_approval(self) -> Approval:
        """The approval this rule requires; an AUTO rule may leave ``approval`` out (nothing required)."""
        return self.approval if self.approval is not None else Approval(required=False)


class PolicyProblem(NamedTuple):
    """A problem spanning several fields, at ``loc`` (a path into the file as pydantic reports it)."""

    loc: tuple[int | str, ...]
    message: str
    hint: str


class Policy(BaseModel):
    """A policy file: its format version and its ordered rules (under ``bands``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(description="Format version of the policy file; 1.")
    description: str | None = None
    bands: Annotated[tuple[Rule, ...], Field(min_length=1)]

    _source: str = PrivateAttr(default="<in memory>")
    _sha256: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _rules_fit_together(self, info: ValidationInfo) -> Self:
        if isinstance(info.context, dict) and info.context.get(DEFER_CHECKS):
            return self
        problems = policy_problems(self)
        if problems:
            lines = [f"{format_loc(problem.loc) or '(top level)'}: {problem.message}" for problem in problems]
            raise _error("; ".join(lines), hint=problems[0].hint)
        return self

    @property
    def source(self) -> str:
        """Where the policy came from: the file it was loaded from, or ``<in memory>``."""
        return self._source

    @property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes; for a policy built in memory, of its canonical JSON form."""
        if self._sha256 is None:
            canonical = json.dumps(
                self.model_dump(mode="json", by_alias=True, exclude_none=True),
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            )
            self._sha256 = hashlib.sha256(canonical.encode()).hexdigest()
        return self._sha256

    def with_origin(self, source: str, sha256: str) -> Policy:
        """This policy, recorded as loaded from ``source`` whose bytes hash to ``sha256``."""
        self._source = source
        self._sha256 = sha256
        return self


def format_loc(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A field path as written in messages: ``bands[1].when.any[0].severity``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def surely_matches_no_match(condition: Condition | None) -> bool:
    """Whether every result with ``no_match`` true satisfies ``condition``, judged from its shape alone.

    True for no condition, ``no_match: true``, an ``any`` with such a member and an ``all`` (or a mapping
    with several keys) of nothing but such members. Conservative: ``not`` and value conditions count as
    possibly false.
    """
    if condition is None:
        return True
    keys = condition.present_keys()
    for key in keys:
        value = condition.value_of(key)
        if key == "no_match":
            ok = value is True
        elif key == "any":
            ok = any(surely_matches_no_match(item) for item in value)
        elif key == "all":
            ok = all(surely_matches_no_match(item) for item in value)
        else:
            ok = False
        if not ok:
            return False
    return bool(keys)


def policy_problems(policy: Policy) -> list[PolicyProblem]:
    """Problems that span several fields or rules; empty for a sound policy.

    Every rule but the last has a ``when`` and the last has none (the catch-all); names are unique; PROPOSE
    and REVIEW require approval and AUTO does not; ``auto_execute`` only on AUTO; and some REVIEW rule is sure
    to match a result with no match (non-REVIEW rules never match one), so that such a result always gets
    REVIEW.
    """
    problems: list[PolicyProblem] = []
    rules = policy.bands
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        at: tuple[int | str, ...] = ("bands", index)
        key = rule.name.lower()
        if key in seen:
            problems.append(
                PolicyProblem(
                    (*at, "name"),
                    f"duplicate rule name {rule.name!r} (also bands[{seen[key]}])",
                    "give every rule its own name; decisions record the name of the rule that fired",
                )
            )
        else:
            seen[key] = index
        last = index == len(rules) - 1
        if rule.is_catch_all and not last:
            after = ", ".join(repr(other.name) for other in rules[index + 1 :])
            problems.append(
                PolicyProblem(
                    at,
                    f"rule has no `when`, so it matches everything and the rules after it ({after}) can never match",
                    "give the rule a `when`, or move it to the end as the catch-all",
                )
            )
        if last and not rule.is_catch_all:
            problems.append(
                PolicyProblem(
                    (*at, "when"),
                    "missing catch-all: the last rule must have no `when`, so that every result gets a band",
                    "add a last rule without `when`, e.g. {name: default, band: PROPOSE, approval: "
                    "{required: true, roles: [operator, sre, admin]}}",
                )
            )
        if rule.band == "AUTO":
            if rule.approval is not None and rule.approval.required:
                problems.append(
                    PolicyProblem(
                        (*at, "approval", "required"),
                        "band AUTO never requires approval",
                        "use band PROPOSE for results a user must accept, or set approval: {required: false}",
                    )
                )
        else:
            if rule.approval is None:
                problems.append(
                    PolicyProblem(
                        at,
                        f"band {rule.band} needs `approval` naming the roles that may accept it",
                        "add e.g. approval: {required: true, roles: [sre, admin]}",
                    )
                )
            elif not rule.approval.required:
                problems.append(
                    PolicyProblem(
                        (*at, "approval", "required"),
                        f"band {rule.band} always needs a user's approval",
                        "set required: true with the roles that may approve, or use band AUTO",
                    )
                )
            if rule.auto_execute:
                problems.append(
                    PolicyProblem(
                        (*at, "auto_execute"),
                        f"auto_execute is only allowed on band AUTO, not {rule.band}",
                        "remove auto_execute, or make the rule band AUTO",
                    )
                )
    if not any(rule.band == "REVIEW" and surely_matches_no_match(rule.when) for rule in rules):
        problems.append(
            PolicyProblem(
                ("bands",),
                "no REVIEW rule is sure to match a result with no match; such a result must always get REVIEW",
                "add `no_match: true` to a REVIEW rule's `when` (e.g. as the first item of its `any`), or make "
                "the catch-all REVIEW",
            )
        )
    return problems


# --- decisions -----------------------------------------------------------------------------------------------------


class PolicyContext(BaseModel):
    """What a decision is made from: the triage result, the alert's service and labels, and the plan's risk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity | None = Field(default=None, description="Triage severity; None when unknown.")
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False, description="Calibrated triage confidence.")
    risk_level: RiskLevel | None = Field(
        default=None, description="Risk of the plan's riskiest step; None when there is no plan."
    )
    service: str | None = None
    environment: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    no_match: bool = Field(default=False, description="Triage found no matching signature or runbook.")
    failure_type: str | None = None
    error_class: str | None = None
    matched_signature_count: int = Field(default=0, ge=0)
    step_count: int = Field(default=0, ge=0)

    @classmethod
    def from_alert(
        cls,
        alert: NormalizedAlert,
        *,
        confidence: float,
        no_match: bool,
        severity: Severity | None = None,
        risk_level: RiskLevel | None = None,
        failure_type: str | None = None,
        error_class: str | None = None,
        matched_signature_count: int = 0,
        step_count: int = 0,
    ) -> PolicyContext:
        """A context for ``alert``; ``severity`` is the triage's, else the alert's normalised severity."""
        return cls(
            severity=severity if severity is not None else alert.severity_normalized,
            confidence=confidence,
            risk_level=risk_level,
            service=alert.service,
            environment=alert.environment,
            labels=dict(alert.labels),
            no_match=no_match,
            failure_type=failure_type,
            error_class=error_class,
            matched_signature_count=matched_signature_count,
            step_count=step_count,
        )


class SkippedRule(BaseModel):
    """A rule that came before the one that fired, and why it did not match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    rule_index: int = Field(ge=0)
    band: Band
    reasons: list[str]


class PolicyDecision(BaseModel):
    """The band a result was put in, by which rule and why, and what executing it requires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    band: Band
    rule: str = Field(description="Name of the rule that fired.")
    rule_index: int = Field(ge=0, description="Its 0-based position in the policy.")
    rule_description: str | None = None
    requires_approval: bool
    approver_roles: list[str] = Field(description="Roles that may accept the result (any one suffices).")
    auto_execute_allowed: bool = Field(description="Whether the result may be executed without any user.")
    reasons: list[str] = Field(description="Why the rule matched, with the actual values.")
    skipped_rules: list[SkippedRule] = Field(default_factory=list, description="Earlier rules and why they missed.")
    context: PolicyContext
    policy_version: int
    policy_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    policy_source: str
    evaluated_at: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.band == "AUTO" and self.requires_approval:
            raise ValueError("an AUTO decision cannot require approval")
        if self.band != "AUTO" and not self.requires_approval:
            raise ValueError(f"a {self.band} decision must require approval")
        if self.requires_approval and not self.approver_roles:
            raise ValueError("a decision that requires approval must name the roles that may give it")
        if self.auto_execute_allowed and self.band != "AUTO":
            raise ValueError(f"a {self.band} decision cannot allow automatic execution")
        return self
