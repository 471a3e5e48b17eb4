"""The policy gate: the default policy's decisions, every condition, validation errors, enforcement, storage."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ai_service.alerts.models import NormalizedAlert
from ai_service.config import Settings
from ai_service.errors import ConfigurationError, InvalidTransitionError
from ai_service.policy.models import (
    Policy,
    PolicyContext,
    PolicyDecision,
    surely_matches_no_match,
)
from ai_service.policy.service import (
    DEFAULT_POLICY_PATH,
    check_execution_allowed,
    evaluate,
    load_policy,
    policy_from_settings,
)
from ai_service.vocabulary import BANDS, RISK_LEVELS, SEVERITIES, riskiest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2024, 5, 14, 9, 12, 4, tzinfo=UTC)
REVIEW_APPROVAL = {"required": True, "roles": ["sre", "admin"]}


def ctx(**overrides: Any) -> PolicyContext:
    """A well-understood, confident, low-risk staging result, with ``overrides``."""
    values: dict[str, Any] = {
        "severity": "medium",
        "confidence": 0.9,
        "risk_level": "low",
        "service": "web",
        "environment": "staging",
        "labels": {},
        "no_match": False,
        "failure_type": "disk_full",
        "error_class": "capacity",
        "matched_signature_count": 2,
        "step_count": 3,
    }
    values.update(overrides)
    return PolicyContext(**values)


def probe_policy(when: dict[str, Any]) -> Policy:
    """A policy whose first rule ``probe`` has ``when``; everything else falls to a REVIEW catch-all."""
    return Policy.model_validate(
        {
            "version": 1,
            "bands": [
                {"name": "probe", "band": "REVIEW", "when": when, "approval": REVIEW_APPROVAL},
                {"name": "rest", "band": "REVIEW", "approval": REVIEW_APPROVAL},
            ],
        }
    )


def matches(when: dict[str, Any], context: PolicyContext) -> bool:
    return evaluate(probe_policy(when), context, now=NOW).rule == "probe"


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, marker: str) -> int:
    """1-based number of the first line of ``path`` containing ``marker``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


def load_error(path: Path) -> str:
    with pytest.raises(ConfigurationError) as info:
        load_policy(path)
    return str(info.value)


# --- the default policy ---------------------------------------------------------------------------------------

DEFAULT_TABLE: list[tuple[str, dict[str, Any], str, str, list[str]]] = [
    # (case, overrides, band, rule, reasons that must appear)
    ("no match", {"no_match": True}, "REVIEW", "needs-review", ["no_match true"]),
    (
        "no match even when everything else is safe",
        {"no_match": True, "confidence": 0.99, "severity": "low"},
        "REVIEW",
        "needs-review",
        ["no_match true"],
    ),
    ("critical", {"severity": "critical"}, "REVIEW", "needs-review", ["severity critical ∈ [critical]"]),
    ("high-risk plan", {"risk_level": "high"}, "REVIEW", "needs-review", ["risk high ∈ [high]"]),
    ("low confidence", {"confidence": 0.55}, "REVIEW", "needs-review", ["confidence 0.55 < 0.6"]),
    ("zero confidence", {"confidence": 0.0}, "REVIEW", "needs-review", ["confidence 0 < 0.6"]),
    (
        "production, medium risk: proposed, not reviewed",
        {"environment": "production", "risk_level": "medium"},
        "PROPOSE",
        "propose",
        ["environment production ∈ [production]"],
    ),
    (
        "several reasons at once",
        {"severity": "critical", "risk_level": "high", "confidence": 0.3},
        "REVIEW",
        "needs-review",
        ["severity critical ∈ [critical]", "risk high ∈ [high]", "confidence 0.3 < 0.6"],
    ),
    (
        "safe staging diagnosis",
        {},
        "AUTO",
        "safe-auto",
        ["confidence 0.9 ≥ 0.85", "risk low ≤ medium", "severity medium ∈ [low, medium]", "staging ∉ [production]"],
    ),
    ("low severity, exactly 0.85", {"severity": "low", "confidence": 0.85}, "AUTO", "safe-auto", ["0.85 ≥ 0.85"]),
    (
        "unknown environment counts as not production",
        {"environment": None},
        "AUTO",
        "safe-auto",
        ["environment unknown ∉ [production]"],
    ),
    (
        "confidence just below AUTO",
        {"confidence": 0.84},
        "PROPOSE",
        "propose",
        ["catch-all: no earlier rule matched", "confidence 0.84 not ≥ 0.85"],
    ),
    ("confidence exactly 0.6", {"confidence": 0.6}, "PROPOSE", "propose", ["confidence 0.6 not ≥ 0.85"]),
    ("high severity", {"severity": "high"}, "PROPOSE", "propose", ["severity high ∉ [low, medium]"]),
    ("unknown severity", {"severity": None}, "PROPOSE", "propose", ["severity unknown ∉ [low, medium]"]),
    ("medium risk outside production", {"risk_level": "medium"}, "AUTO", "safe-auto", ["risk medium ≤ medium"]),
    ("no plan", {"risk_level": None, "step_count": 0}, "PROPOSE", "propose", ["risk unknown not ≤ medium"]),
    (
        "low-risk plan in production",
        {"environment": "production", "confidence": 0.95, "severity": "low"},
        "PROPOSE",
        "propose",
        ["not safe-auto (AUTO): environment production ∈ [production]"],
    ),
    (
        "production without a plan",
        {"environment": "production", "risk_level": None},
        "PROPOSE",
        "propose",
        ["risk unknown not ≤ medium"],
    ),
    ("severity low, confidence 0.8", {"severity": "low", "confidence": 0.8}, "PROPOSE", "propose", ["0.8 not ≥ 0.85"]),
]


@pytest.mark.parametrize(
    ("overrides", "band", "rule", "reasons"),
    [row[1:] for row in DEFAULT_TABLE],
    ids=[row[0] for row in DEFAULT_TABLE],
)
def test_default_policy(overrides: dict[str, Any], band: str, rule: str, reasons: list[str]) -> None:
    decision = evaluate(load_policy(None), ctx(**overrides), now=NOW)
    assert (decision.band, decision.rule) == (band, rule)
    text = "\n".join(decision.reasons)
    for reason in reasons:
        assert reason in text, f"{reason!r} not in {decision.reasons}"


def test_default_table_reaches_every_band() -> None:
    assert {row[2] for row in DEFAULT_TABLE} == set(BANDS)


def test_default_policy_requirements() -> None:
    policy = load_policy(None)
    review = evaluate(policy, ctx(no_match=True), now=NOW)
    auto = evaluate(policy, ctx(), now=NOW)
    propose = evaluate(policy, ctx(severity="high"), now=NOW)
    assert (review.requires_approval, review.approver_roles, review.auto_execute_allowed) == (
        True,
        ["sre", "admin"],
        False,
    )
    assert (auto.requires_approval, auto.approver_roles, auto.auto_execute_allowed) == (False, [], True)
    assert (propose.requires_approval, propose.approver_roles, propose.auto_execute_allowed) == (
        True,
        ["operator", "sre", "admin"],
        False,
    )
    # The catch-all says why the earlier rules missed; skipped_rules has the details.
    assert [skip.rule for skip in propose.skipped_rules] == ["needs-review", "safe-auto"]
    assert any(reason.startswith("not safe-auto (AUTO): severity high") for reason in propose.reasons)


def test_default_policy_is_cached_and_hashed() -> None:
    policy = load_policy(None)
    assert load_policy() is policy
    assert policy.source == str(DEFAULT_POLICY_PATH)
    assert policy.sha256 == hashlib.sha256(DEFAULT_POLICY_PATH.read_bytes()).hexdigest()
    assert policy_from_settings(Settings(policy_file=None)) is policy


def test_policy_from_settings_reads_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nbands: [{name: all, band: REVIEW, approval: {roles: [sre]}}]\n")
    assert policy_from_settings(Settings(policy_file=path)).bands[0].name == "all"


def test_docs_example_policy_loads(tmp_path: Path) -> None:
    docs = (REPO_ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", docs, re.DOTALL)
    assert example is not None
    policy = load_policy(write(tmp_path, example.group(1)))
    assert evaluate(policy, ctx(service="payments-api"), now=NOW).rule == "payments-always-proposed"
    assert evaluate(policy, ctx(), now=NOW).band == "AUTO"


# --- conditions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "overrides", "expected"),
    [
        ({"no_match": True}, {"no_match": True}, True),
        ({"no_match": True}, {}, False),
        ({"no_match": False}, {}, True),
        ({"severity": ["high", "critical"]}, {"severity": "high"}, True),
        ({"severity": ["high", "critical"]}, {"severity": "medium"}, False),
        ({"severity": "critical"}, {"severity": "critical"}, True),
        ({"severity": ["HIGH"]}, {"severity": "high"}, True),
        ({"severity": ["low"]}, {"severity": None}, False),
        ({"risk": ["medium", "high"]}, {"risk_level": "medium"}, True),
        ({"risk": ["low"]}, {"risk_level": None}, False),
        ({"confidence": {"gte": 0.85}}, {"confidence": 0.85}, True),
        ({"confidence": {"gt": 0.85}}, {"confidence": 0.85}, False),
        ({"confidence": {"lt": 0.6}}, {"confidence": 0.59}, True),
        ({"confidence": {"lte": 0.6}}, {"confidence": 0.6}, True),
        ({"confidence": {"gte": 0.6, "lt": 0.85}}, {"confidence": 0.7}, True),
        ({"confidence": {"gte": 0.6, "lt": 0.85}}, {"confidence": 0.9}, False),
        ({"confidence": {"gte": 1}}, {"confidence": 1.0}, True),
        ({"service": ["web", "api"]}, {"service": "api"}, True),
        ({"service": "web"}, {"service": "WEB"}, True),
        ({"service": ["web"]}, {"service": None}, False),
        ({"environment": ["production"]}, {"environment": "production"}, True),
        ({"environment": ["production"]}, {"environment": "preprod"}, False),
        ({"failure_type": ["disk_full", "oom*"]}, {"failure_type": "oom_killed"}, True),
        ({"failure_type": ["disk_full"]}, {"failure_type": None}, False),
        ({"error_class": ["capacity"]}, {"error_class": "capacity"}, True),
        ({"error_class": ["capacity"]}, {"error_class": "network"}, False),
        ({"matched_signatures": 0}, {"matched_signature_count": 0}, True),
        ({"matched_signatures": 0}, {"matched_signature_count": 1}, False),
        ({"matched_signatures": {"gte": 2}}, {"matched_signature_count": 2}, True),
        ({"matched_signatures": {"gt": 2}}, {"matched_signature_count": 2}, False),
        ({"steps": {"lte": 3}}, {"step_count": 3}, True),
        ({"steps": {"lt": 3}}, {"step_count": 3}, False),
    ],
)
def test_each_condition(when: dict[str, Any], overrides: dict[str, Any], expected: bool) -> None:
    assert matches(when, ctx(**overrides)) is expected


@pytest.mark.parametrize(
    ("pattern", "service", "expected"),
    [
        ("payments-*", "payments-api", True),
        ("payments-*", "payments", False),
        ("payments-*", "Payments-Worker", True),
        ("*-db", "orders-db", True),
        ("*-db", "orders-dbx", False),
        ("web-?", "web-1", True),
        ("web-?", "web-12", False),
        ("web-[ab]", "web-b", True),
        ("web-[ab]", "web-c", False),
        ("*", "anything", True),
    ],
)
def test_service_glob_patterns(pattern: str, service: str, expected: bool) -> None:
    assert matches({"service": [pattern]}, ctx(service=service)) is expected


def test_glob_reason_says_matches() -> None:
    decision = evaluate(probe_policy({"service": ["payments-*"]}), ctx(service="payments-api"), now=NOW)
    assert decision.reasons == ["service payments-api matches [payments-*]"]
    missed = evaluate(probe_policy({"service": ["payments-*"]}), ctx(service="web"), now=NOW)
    assert missed.skipped_rules[0].reasons == ["service web does not match [payments-*]"]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"team": "db", "env": "prod-eu"}, True),
        ({"team": "db", "env": "prod-eu", "other": "x"}, True),
        ({"team": "db", "env": "staging"}, False),
        ({"team": "web", "env": "prod"}, False),
        ({"team": "db"}, False),  # every listed label must be present
        ({}, False),
    ],
)
def test_label_matching(labels: dict[str, str], expected: bool) -> None:
    assert matches({"labels": {"team": ["db"], "env": "prod*"}}, ctx(labels=labels)) is expected


def test_label_reasons() -> None:
    policy = probe_policy({"labels": {"team": ["db"], "tier": 1}})
    assert evaluate(policy, ctx(labels={"team": "db", "tier": "1"}), now=NOW).reasons == [
        "label team db ∈ [db]",
        "label tier 1 ∈ [1]",
    ]
    assert evaluate(policy, ctx(labels={"team": "db"}), now=NOW).skipped_rules[0].reasons == [
        "label tier unknown ∉ [1]"
    ]


@pytest.mark.parametrize(
    ("when", "severity", "expected"),
    [
        ({"gte": "high"}, "high", True),
        ({"gte": "high"}, "critical", True),
        ({"gte": "high"}, "medium", False),
        ({"gt": "high"}, "high", False),
        ({"gt": "high"}, "critical", True),
        ({"lt": "high"}, "medium", True),
        ({"lt": "high"}, "high", False),
        ({"lte": "medium"}, "low", True),
        ({"lte": "medium"}, "high", False),
        ({"gte": "medium", "lt": "critical"}, "high", True),
        ({"gte": "medium", "lt": "critical"}, "critical", False),
        ({"gte": "low"}, None, False),  # unknown severity satisfies no comparison
    ],
)
def test_ordered_severity(when: dict[str, str], severity: str | None, expected: bool) -> None:
    assert matches({"severity": when}, ctx(severity=severity)) is expected


def test_ordered_comparison_reasons() -> None:
    policy = probe_policy({"severity": {"gte": "high"}, "risk": {"lte": "medium"}})
    assert evaluate(policy, ctx(severity="critical", risk_level="low"), now=NOW).reasons == [
        "severity critical ≥ high",
        "risk low ≤ medium",
    ]
    assert evaluate(policy, ctx(severity="low", risk_level="high"), now=NOW).skipped_rules[0].reasons == [
        "severity low not ≥ high",
        "risk high not ≤ medium",
    ]


def test_nesting() -> None:
    when = {
        "any": [
            {"all": [{"environment": ["production"]}, {"not": {"risk": ["low"]}}]},
            {"all": [{"severity": {"gte": "high"}}, {"not": {"any": [{"service": ["batch-*"]}, {"no_match": True}]}}]},
        ]
    }
    assert matches(when, ctx(environment="production", risk_level="medium"))
    assert not matches(when, ctx(environment="production", risk_level="low"))
    assert matches(when, ctx(severity="high", service="web"))
    assert not matches(when, ctx(severity="high", service="batch-nightly"))
    assert not matches(when, ctx(severity="high", no_match=True))
    assert matches({"not": {"not": {"severity": ["low"]}}}, ctx(severity="low"))


def test_several_keys_in_one_mapping_must_all_hold() -> None:
    when = {"severity": ["high"], "environment": ["production"]}
    assert matches(when, ctx(severity="high", environment="production"))
    assert not matches(when, ctx(severity="high", environment="staging"))
    assert not matches(when, ctx(severity="low", environment="production"))


def test_any_reasons_name_the_members_that_held() -> None:
    policy = probe_policy({"any": [{"severity": ["critical"]}, {"risk": ["high"]}, {"confidence": {"lt": 0.5}}]})
    decision = evaluate(policy, ctx(severity="critical", confidence=0.3), now=NOW)
    assert decision.reasons == ["severity critical ∈ [critical]", "confidence 0.3 < 0.5"]


def test_no_match_skips_non_review_rules() -> None:
    policy = Policy.model_validate(
        {
            "version": 1,
            "bands": [
                {"name": "batch-auto", "band": "AUTO", "when": {"service": ["batch-*"]}, "auto_execute": True},
                {"name": "no-match", "band": "REVIEW", "when": {"no_match": True}, "approval": REVIEW_APPROVAL},
                {"name": "rest", "band": "PROPOSE", "approval": {"roles": ["operator"]}},
            ],
        }
    )
    assert evaluate(policy, ctx(service="batch-1"), now=NOW).band == "AUTO"
    decision = evaluate(policy, ctx(service="batch-1", no_match=True), now=NOW)
    assert (decision.band, decision.rule) == ("REVIEW", "no-match")
    assert "only gets REVIEW" in decision.skipped_rules[0].reasons[0]


def test_surely_matches_no_match() -> None:
    def when(value: dict[str, Any]) -> Any:
        return probe_policy(value).bands[0].when

    assert surely_matches_no_match(None)
    assert surely_matches_no_match(when({"no_match": True}))
    assert surely_matches_no_match(when({"any": [{"severity": ["low"]}, {"no_match": True}]}))
    assert surely_matches_no_match(when({"all": [{"no_match": True}, {"any": [{"no_match": True}]}]}))
    assert not surely_matches_no_match(when({"no_match": True, "severity": ["low"]}))
    assert not surely_matches_no_match(when({"not": {"no_match": False}}))
    assert not surely_matches_no_match(when({"no_match": False}))


# --- loading and validation errors ----------------------------------------------------------------------------

VALID_TAIL = """
  - name: default
    band: REVIEW
    approval: {required: true, roles: [sre]}
"""

# (case, file body, marker on the reported line, texts the message must contain)
INVALID: list[tuple[str, str, str, list[str]]] = [
    (
        "unknown condition key",
        "  - name: r1\n    band: REVIEW\n    when:\n      severty: [high]\n    approval: {roles: [sre]}\n",
        "severty:",
        ["rule 'r1'", "bands[0].when.severty", "unknown condition key 'severty'", "did you mean 'severity'"],
    ),
    (
        "unknown rule key",
        "  - name: r1\n    band: REVIEW\n    whne: {no_match: true}\n    approval: {roles: [sre]}\n",
        "whne:",
        ["rule 'r1'", "bands[0].whne", "unknown rule key 'whne'", "did you mean 'when'"],
    ),
    (
        "unknown approval key",
        "  - name: r1\n    band: REVIEW\n    when: {no_match: true}\n    approval: {roles: [sre], by: x}\n",
        "approval:",
        ["bands[0].approval.by", "unknown approval key 'by'"],
    ),
    (
        "unknown band",
        "  - name: r1\n    band: URGENT\n    when: {no_match: true}\n",
        "band: URGENT",
        ["rule 'r1'", "bands[0].band", "unknown band 'URGENT'", "AUTO, PROPOSE or REVIEW"],
    ),
    (
        "bad severity",
        "  - name: r1\n    band: REVIEW\n    when:\n      any:\n        - no_match: true\n"
        "        - severity: [urgent]\n    approval: {roles: [sre]}\n",
        "severity: [urgent]",
        ["rule 'r1'", "bands[0].when.any[1].severity", "'urgent' is not a severity", "low, medium, high or critical"],
    ),
    (
        "bad ordered severity",
        "  - name: r1\n    band: REVIEW\n    when: {severity: {gte: severe}}\n    approval: {roles: [sre]}\n",
        "severity:",
        ["bands[0].when.severity", "'severe' is not a severity"],
    ),
    (
        "bad comparison operator",
        "  - name: r1\n    band: REVIEW\n    when: {risk: {ge: medium}}\n    approval: {roles: [sre]}\n",
        "risk:",
        ["bands[0].when.risk", "unknown comparison 'ge'"],
    ),
    (
        "bad risk",
        "  - name: r1\n    band: REVIEW\n    when: {risk: [critical]}\n    approval: {roles: [sre]}\n",
        "risk:",
        ["bands[0].when.risk", "'critical' is not a risk", "low, medium or high"],
    ),
    (
        "empty any",
        "  - name: r1\n    band: REVIEW\n    when:\n      any: []\n    approval: {roles: [sre]}\n",
        "any: []",
        ["rule 'r1'", "bands[0].when.any", "'any' must not be empty"],
    ),
    (
        "empty condition",
        "  - name: r1\n    band: REVIEW\n    when:\n      all:\n        - {}\n    approval: {roles: [sre]}\n",
        "- {}",
        ["bands[0].when.all[0]", "empty condition"],
    ),
    (
        "empty when",
        "  - name: r1\n    band: REVIEW\n    when:\n    approval: {roles: [sre]}\n",
        "name: r1",
        ["bands[0]", "'when' has no value"],
    ),
    (
        "condition given as a string",
        "  - name: r1\n    band: REVIEW\n    when:\n      any:\n        - no_match\n    approval: {roles: [sre]}\n",
        "- no_match",
        ["bands[0].when.any[0]", "expected a condition mapping", "got a string"],
    ),
    (
        "confidence out of range",
        "  - name: r1\n    band: REVIEW\n    when:\n      confidence: {gte: 85}\n    approval: {roles: [sre]}\n",
        "gte: 85",
        ["bands[0].when.confidence.gte", "confidence is a number from 0 to 1", "0.85"],
    ),
    (
        "bare confidence",
        "  - name: r1\n    band: REVIEW\n    when:\n      confidence: 0.9\n    approval: {roles: [sre]}\n",
        "confidence: 0.9",
        ["bands[0].when.confidence", "ambiguous", "{gte: 0.9}"],
    ),
    (
        "unsatisfiable confidence",
        "  - name: r1\n    band: REVIEW\n    when:\n      confidence: {gt: 0.9, lt: 0.5}\n"
        "    approval: {roles: [sre]}\n",
        "confidence:",
        ["bands[0].when.confidence", "can never match"],
    ),
    (
        "no_match not a boolean",
        "  - name: r1\n    band: REVIEW\n    when:\n      no_match: maybe\n    approval: {roles: [sre]}\n",
        "no_match: maybe",
        ["bands[0].when.no_match", "expected true or false"],
    ),
    (
        "negative count",
        "  - name: r1\n    band: REVIEW\n    when:\n      steps: {gte: -1}\n    approval: {roles: [sre]}\n",
        "gte: -1",
        ["bands[0].when.steps.gte"],
    ),
    (
        "catch-all before the end",
        "  - name: early\n    band: REVIEW\n    approval: {roles: [sre]}\n"
        "  - name: late\n    band: REVIEW\n    when: {no_match: true}\n    approval: {roles: [sre]}\n",
        "name: early",
        ["rule 'early'", "matches everything", "'late'", "can never match"],
    ),
    (
        "duplicate rule names",
        "  - name: same\n    band: REVIEW\n    when: {no_match: true}\n    approval: {roles: [sre]}\n"
        "  - name: Same\n    band: REVIEW\n    when: {severity: [low]}\n    approval: {roles: [sre]}\n",
        "name: Same",
        ["rule 'Same'", "bands[1].name", "duplicate rule name 'Same' (also bands[0])"],
    ),
    (
        "approval without roles",
        "  - name: r1\n    band: REVIEW\n    when: {no_match: true}\n    approval: {required: true}\n",
        "approval:",
        ["rule 'r1'", "bands[0].approval", "no role may give it"],
    ),
    (
        "PROPOSE without approval",
        "  - name: r1\n    band: REVIEW\n    when: {no_match: true}\n    approval: {roles: [sre]}\n"
        "  - name: p\n    band: PROPOSE\n    when: {severity: [low]}\n",
        "name: p",
        ["rule 'p'", "band PROPOSE needs `approval`"],
    ),
    (
        "REVIEW approval not required",
        "  - name: r1\n    band: REVIEW\n    when: {no_match: true}\n    approval:\n      required: false\n",
        "required: false",
        ["bands[0].approval.required", "band REVIEW always needs a user's approval"],
    ),
    (
        "AUTO requiring approval",
        "  - name: r1\n    band: REVIEW\n    when: {no_match: true}\n    approval: {roles: [sre]}\n"
        "  - name: a\n    band: AUTO\n    when: {risk: [low]}\n    approval:\n      required: true\n"
        "      roles: [sre]\n",
        "required: true",
        ["rule 'a'", "bands[1].approval.required", "band AUTO never requires approval"],
    ),
    (
        "auto_execute outside AUTO",
        "  - name: r1\n    band: REVIEW\n    when: {no_match: true}\n    approval: {roles: [sre]}\n"
        "    auto_execute: true\n",
        "auto_execute: true",
        ["rule 'r1'", "bands[0].auto_execute", "only allowed on band AUTO"],
    ),
    (
        "bad rule name",
        "  - name: 'has space'\n    band: REVIEW\n    when: {no_match: true}\n    approval: {roles: [sre]}\n",
        "has space",
        ["bands[0].name", "invalid rule name 'has space'"],
    ),
    (
        "duplicate key",
        "  - name: r1\n    band: REVIEW\n    when:\n      severity: [critical]\n      severity: [high]\n"
        "    approval: {roles: [sre]}\n",
        "severity: [high]",
        ["rule 'r1'", "bands[0].when", "duplicate key 'severity'", "first at line"],
    ),
]


@pytest.mark.parametrize(("body", "marker", "expected"), [row[1:] for row in INVALID], ids=[row[0] for row in INVALID])
def test_invalid_policy_files(tmp_path: Path, body: str, marker: str, expected: list[str]) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nbands:\n" + body + VALID_TAIL, encoding="utf-8")
    message = load_error(path)
    assert f"{path}:{line_of(path, marker)}: " in message, message
    for text in expected:
        assert text in message, f"{text!r} not in:\n{message}"
    assert "fix:" in message


def test_missing_catch_all(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        bands:
          - name: r1
            band: REVIEW
            when: {no_match: true}
            approval: {roles: [sre]}
          - name: last
            band: PROPOSE
            when:
              severity: [low]
            approval: {roles: [operator]}
        """,
    )
    message = load_error(path)
    assert f"{path}:{line_of(path, 'when:')}" not in message  # the last rule's `when`, not the first's
    assert f"{path}:{line_of(path, 'name: last') + 2}: rule 'last', bands[1].when: missing catch-all" in message
    assert "add a last rule without `when`" in message


def test_no_match_must_reach_review(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        bands:
          - name: crit
            band: REVIEW
            when: {severity: [critical]}
            approval: {roles: [sre]}
          - name: default
            band: PROPOSE
            approval: {roles: [operator]}
        """,
    )
    message = load_error(path)
    assert f"{path}:{line_of(path, 'bands:')}: bands: no REVIEW rule is sure to match a result with no match" in message
    assert "no_match: true" in message  # the fix


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        version: 1
        bands:
          - name: r1
            band: REVIEW
            when:
              any:
                - severity: [urgent]
                - risk: [huge]
            approval: {roles: [sre]}
          - name: r2
            band: NOW
        """,
    )
    message = load_error(path)
    assert f"{path}:{line_of(path, 'urgent')}: rule 'r1', bands[0].when.any[0].severity" in message
    assert f"{path}:{line_of(path, 'huge')}: rule 'r1', bands[0].when.any[1].risk" in message
    assert f"{path}:{line_of(path, 'band: NOW')}: rule 'r2', bands[1].band" in message
    assert "must not be empty" not in message  # no spurious error for the list whose items failed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ":1: expected a mapping with 'version' and 'bands' at the top level, found nothing"),
        ("- a\n- b\n", "found a list"),
        ("bands: []\n", "version: required field is missing"),
        ("version: 2\nbands: []\n", "unsupported policy format version 2"),
        ("version: 1\n", "bands: required field is missing"),
        ("version: 1\nbands: []\n", "'bands' must not be empty"),
        ("version: 1\nrules: []\nbands: []\n", "unknown policy key 'rules'"),
        ("version: 1\nbands:\n  - name: [x\n", "not valid YAML"),
    ],
)
def test_invalid_documents(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    message = load_error(path)
    assert str(path) in message and expected in message, message


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nbands:\n  - name: x\n    band: [REVIEW\n")
    assert re.search(rf"{re.escape(str(path))}:\d+:\d+: the policy file is not valid YAML", load_error(path))


def test_file_problems(tmp_path: Path) -> None:
    missing = load_error(tmp_path / "nope.yaml")
    assert "nope.yaml: policy file not found" in missing and "NOCAI_POLICY_FILE" in missing
    assert "must be YAML (.yaml, .yml) or JSON (.json), not .toml" in load_error(write(tmp_path, "", "p.toml"))
    (tmp_path / "dir.yaml").mkdir()
    assert "cannot read the policy file" in load_error(tmp_path / "dir.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"version: 1\n\xff\xfe")
    assert "not UTF-8" in load_error(binary)


def test_yml_extension_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nbands: [{name: all, band: review, approval: {roles: [SRE]}}]\n", "p.YML")
    policy = load_policy(path)
    assert policy.bands[0].band == "REVIEW"
    assert policy.bands[0].effective_approval.roles == ("sre",)


# --- JSON -----------------------------------------------------------------------------------------------------


def test_json_policy(tmp_path: Path) -> None:
    document = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    policy = load_policy(path)
    assert policy.source == str(path)
    assert policy.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    default = load_policy(None)
    for _, overrides, band, rule, _ in DEFAULT_TABLE:
        decision = evaluate(policy, ctx(**overrides), now=NOW)
        assert (decision.band, decision.rule) == (band, rule)
        assert decision.reasons == evaluate(default, ctx(**overrides), now=NOW).reasons


def test_json_errors_have_lines(tmp_path: Path) -> None:
    document = {
        "version": 1,
        "bands": [
            {"name": "r1", "band": "REVIEW", "when": {"severity": ["urgent"]}, "approval": {"roles": ["sre"]}},
            {"name": "rest", "band": "REVIEW", "approval": {"roles": ["sre"]}},
        ],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    message = load_error(path)
    severity_line = line_of(path, '"severity"')
    assert f"{path}:{severity_line}: rule 'r1', bands[0].when.severity" in message
    broken = write(tmp_path, '{"version": 1,\n "bands": [}\n', "broken.json")
    assert f"{broken}:2:" in load_error(broken) and "not valid JSON" in load_error(broken)


# --- enforcement ----------------------------------------------------------------------------------------------


def decision_in(band: str, *, auto_execute: bool = False) -> PolicyDecision:
    rules: list[dict[str, Any]] = [
        {"name": "review", "band": "REVIEW", "when": {"no_match": True}, "approval": REVIEW_APPROVAL}
    ]
    if band == "AUTO":
        rules.append({"name": "auto", "band": "AUTO", "when": {"risk": ["low"]}, "auto_execute": auto_execute})
    rules.append({"name": "propose", "band": "PROPOSE", "approval": {"roles": ["operator", "sre", "admin"]}})
    policy = Policy.model_validate({"version": 1, "bands": rules})
    decision = evaluate(policy, ctx(no_match=band == "REVIEW"), now=NOW)
    assert decision.band == band
    return decision


ROLE_SETS: list[set[str] | None] = [None, set(), {"viewer"}, {"operator"}, {"sre"}, {"ADMIN"}, {"viewer", "sre"}]


def expected_allowed(band: str, auto_execute: bool, roles: set[str] | None, executing: bool) -> bool:
    approvers = {"REVIEW": {"sre", "admin"}, "PROPOSE": {"operator", "sre", "admin"}}
    if band in approvers:
        return roles is not None and bool({role.lower() for role in roles} & approvers[band])
    return not (executing and roles is None and not auto_execute)


@pytest.mark.parametrize(
    ("band", "auto_execute"), [("AUTO", True), ("AUTO", False), ("PROPOSE", False), ("REVIEW", False)]
)
@pytest.mark.parametrize("roles", ROLE_SETS, ids=lambda roles: "none" if roles is None else ",".join(sorted(roles)))
@pytest.mark.parametrize("executing", [True, False])
def test_check_execution_allowed(band: str, auto_execute: bool, roles: set[str] | None, executing: bool) -> None:
    decision = decision_in(band, auto_execute=auto_execute)
    assert decision.auto_execute_allowed is (band == "AUTO" and auto_execute)
    if expected_allowed(band, auto_execute, roles, executing):
        check_execution_allowed(decision, accepted_by_roles=roles, executing=executing)
    else:
        with pytest.raises(InvalidTransitionError) as info:
            check_execution_allowed(decision, accepted_by_roles=roles, executing=executing)
        message = str(info.value)
        assert band in message and decision.rule in message
        if band != "AUTO":
            assert " or ".join(decision.approver_roles) in message
        else:
            assert "automatic execution" in message


def test_enforcement_messages() -> None:
    with pytest.raises(InvalidTransitionError, match=r"band REVIEW .* before a user with role sre or admin accepts"):
        check_execution_allowed(decision_in("REVIEW"), accepted_by_roles=None, executing=True)
    with pytest.raises(InvalidTransitionError, match=r"needs role sre or admin; the accepting user has operator"):
        check_execution_allowed(decision_in("REVIEW"), accepted_by_roles={"operator"}, executing=False)
    with pytest.raises(InvalidTransitionError, match=r"the accepting user has no role"):
        check_execution_allowed(decision_in("PROPOSE"), accepted_by_roles=set(), executing=True)


def test_a_single_role_given_as_text() -> None:
    check_execution_allowed(decision_in("REVIEW"), accepted_by_roles="sre", executing=True)
    with pytest.raises(InvalidTransitionError):
        check_execution_allowed(decision_in("REVIEW"), accepted_by_roles="res", executing=True)


def test_stored_decision_still_enforced() -> None:
    stored = json.loads(json.dumps(decision_in("REVIEW").model_dump(mode="json")))
    with pytest.raises(InvalidTransitionError):
        check_execution_allowed(PolicyDecision.model_validate(stored), accepted_by_roles=None, executing=True)


@pytest.mark.parametrize(
    "tamper",
    [
        {"requires_approval": False},
        {"approver_roles": []},
        {"auto_execute_allowed": True},
        {"band": "AUTO"},
    ],
)
def test_inconsistent_stored_decision_is_refused(tamper: dict[str, Any]) -> None:
    stored = decision_in("PROPOSE").model_dump(mode="json") | tamper
    with pytest.raises(ValidationError):
        PolicyDecision.model_validate(stored)


# --- what is stored -------------------------------------------------------------------------------------------


def test_decision_is_json_serialisable() -> None:
    policy = load_policy(None)
    decision = evaluate(policy, ctx(labels={"team": "db"}), now=NOW)
    stored = decision.model_dump(mode="json")
    text = json.dumps(stored, ensure_ascii=False)
    assert stored["policy_sha256"] == policy.sha256 == hashlib.sha256(DEFAULT_POLICY_PATH.read_bytes()).hexdigest()
    assert stored["policy_version"] == 1
    assert stored["policy_source"] == str(DEFAULT_POLICY_PATH)
    assert stored["evaluated_at"] == "2024-05-14T09:12:04Z"
    assert stored["band"] == "AUTO" and stored["rule"] == "safe-auto" and stored["rule_index"] == 1
    assert stored["context"]["labels"] == {"team": "db"}
    assert PolicyDecision.model_validate(json.loads(text)) == decision


def test_evaluated_at_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    decision = evaluate(load_policy(None), ctx())
    assert before <= decision.evaluated_at <= datetime.now(UTC)
    assert decision.evaluated_at.utcoffset() is not None


def test_in_memory_policy_hash_is_stable_and_round_trips() -> None:
    dumped = load_policy(None).model_dump(mode="json", by_alias=True, exclude_none=True)
    first, second = Policy.model_validate(dumped), Policy.model_validate(json.loads(json.dumps(dumped)))
    assert first.source == "<in memory>"
    assert first.sha256 == second.sha256
    assert first.model_dump(mode="json", by_alias=True, exclude_none=True) == dumped
    changed = json.loads(json.dumps(dumped))
    changed["bands"][1]["when"]["all"][0]["confidence"]["gte"] = 0.9
    assert Policy.model_validate(changed).sha256 != first.sha256


def test_policy_construction_runs_the_cross_rule_checks() -> None:
    with pytest.raises(ValidationError, match="missing catch-all"):
        Policy.model_validate(
            {
                "version": 1,
                "bands": [{"name": "a", "band": "REVIEW", "when": {"no_match": True}, "approval": REVIEW_APPROVAL}],
            }
        )


def test_context_from_alert() -> None:
    alert = NormalizedAlert(
        alert_id="a1",
        source="generic",
        status="firing",
        title="Disk almost full",
        severity_normalized="high",
        labels={"team": "db"},
        service="orders-db",
        environment="production",
    )
    context = PolicyContext.from_alert(alert, confidence=0.9, no_match=False, risk_level="low", step_count=2)
    assert (context.severity, context.service, context.environment, context.labels) == (
        "high",
        "orders-db",
        "production",
        {"team": "db"},
    )
    assert PolicyContext.from_alert(alert, confidence=0.9, no_match=True, severity="low").severity == "low"


@pytest.mark.parametrize("confidence", [-0.1, 1.5, float("nan")])
def test_context_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ValidationError):
        ctx(confidence=confidence)


def test_riskiest() -> None:
    assert riskiest([]) is None
    assert riskiest([None]) is None
    assert riskiest(["low", "low"]) == "low"
    assert riskiest(["low", "high", "medium"]) == "high"
    assert riskiest(["medium", None, "low"]) == "medium"
    with pytest.raises(ValueError, match="unknown risk level 'extreme'"):
        riskiest(["extreme"])


# --- properties: deterministic and total ----------------------------------------------------------------------

SERVICES = ["web", "payments-api", "payments-worker", "orders-db", "batch-nightly", None]
ENVIRONMENTS = ["production", "staging", "development", "preprod", None]
FAILURES = ["disk_full", "oom_killed", "crashloop", None]
LABEL_VALUES = {"team": ["db", "web", "payments"], "tier": ["1", "2"], "env": ["prod-eu", "stage"]}


def random_context(rng: random.Random) -> PolicyContext:
    labels = {key: rng.choice(values) for key, values in LABEL_VALUES.items() if rng.random() < 0.6}
    return PolicyContext.model_validate(
        dict(
            severity=rng.choice([*SEVERITIES, None]),
            confidence=rng.choice([0.0, 0.59, 0.6, 0.84, 0.85, 1.0, round(rng.random(), 3)]),
            risk_level=rng.choice([*RISK_LEVELS, None]),
            service=rng.choice(SERVICES),
            environment=rng.choice(ENVIRONMENTS),
            labels=labels,
            no_match=rng.random() < 0.25,
            failure_type=rng.choice(FAILURES),
            error_class=rng.choice(["capacity", "network", None]),
            matched_signature_count=rng.randint(0, 4),
            step_count=rng.randint(0, 6),
        )
    )


def random_condition(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kinds = ["no_match", "severity", "severity_cmp", "risk", "confidence", "service", "environment", "labels"]
    kinds += ["failure_type", "matched_signatures", "steps"]
    if depth < 3:
        kinds += ["any", "all", "not"] * 2
    kind = rng.choice(kinds)
    if kind in ("any", "all"):
        return {kind: [random_condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    if kind == "not":
        return {"not": random_condition(rng, depth + 1)}
    if kind == "no_match":
        return {"no_match": rng.random() < 0.5}
    if kind == "severity":
        return {"severity": rng.sample(SEVERITIES, rng.randint(1, 3))}
    if kind == "severity_cmp":
        return {"severity": {rng.choice(["gte", "lte"]): rng.choice(SEVERITIES)}}
    if kind == "risk":
        return {"risk": rng.sample(RISK_LEVELS, rng.randint(1, 2))}
    if kind == "confidence":
        return {"confidence": {rng.choice(["gt", "gte", "lt", "lte"]): rng.choice([0.5, 0.6, 0.85])}}
    if kind == "service":
        return {"service": rng.sample(["web", "payments-*", "*-db", "batch-?ightly"], rng.randint(1, 2))}
    if kind == "environment":
        return {"environment": rng.sample(["production", "staging", "prod*"], rng.randint(1, 2))}
    if kind == "labels":
        key = rng.choice(list(LABEL_VALUES))
        return {"labels": {key: rng.choice([*LABEL_VALUES[key], "*"])}}
    if kind == "failure_type":
        return {"failure_type": ["oom*", "disk_full"]}
    return {kind: {rng.choice(["gte", "lte"]): rng.randint(0, 4)}}


def reference_holds(condition: dict[str, Any], context: PolicyContext) -> bool:
    """An independent, naive reading of the documented semantics, to check evaluate() against."""

    def text_matches(value: str | None, patterns: list[str] | str) -> bool:
        patterns = [patterns] if isinstance(patterns, str) else patterns
        return value is not None and any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)

    def compare(value: float, bounds: dict[str, float]) -> bool:
        checks = {
            "gt": lambda bound: value > bound,
            "gte": lambda bound: value >= bound,
            "lt": lambda bound: value < bound,
            "lte": lambda bound: value <= bound,
            "eq": lambda bound: value == bound,
        }
        return all(checks[op](bound) for op, bound in bounds.items())

    results = []
    for key, value in condition.items():
        if key == "any":
            results.append(any(reference_holds(item, context) for item in value))
        elif key == "all":
            results.append(all(reference_holds(item, context) for item in value))
        elif key == "not":
            results.append(not reference_holds(value, context))
        elif key == "no_match":
            results.append(context.no_match == value)
        elif key in ("severity", "risk"):
            scale = SEVERITIES if key == "severity" else RISK_LEVELS
            actual = context.severity if key == "severity" else context.risk_level
            if isinstance(value, list):
                results.append(actual in value)
            else:
                results.append(
                    actual is not None
                    and compare(scale.index(actual), {op: scale.index(level) for op, level in value.items()})
                )
        elif key == "confidence":
            results.append(compare(context.confidence, value))
        elif key in ("service", "environment", "failure_type"):
            results.append(text_matches(getattr(context, key), value))
        elif key == "labels":
            results.append(all(text_matches(context.labels.get(name), pats) for name, pats in value.items()))
        elif key == "matched_signatures":
            results.append(compare(context.matched_signature_count, value))
        elif key == "steps":
            results.append(compare(context.step_count, value))
        else:
            raise AssertionError(key)
    return all(results)


def random_policy(rng: random.Random) -> tuple[dict[str, Any], Policy]:
    rules: list[dict[str, Any]] = []
    for index in range(rng.randint(0, 4)):
        band = rng.choice(BANDS)
        rule: dict[str, Any] = {"name": f"r{index}", "band": band, "when": random_condition(rng)}
        if band == "AUTO":
            rule["auto_execute"] = rng.random() < 0.5
        else:
            rule["approval"] = {"roles": ["sre"]}
        rules.append(rule)
    rules.insert(
        rng.randint(0, len(rules)),
        {
            "name": "nm",
            "band": "REVIEW",
            "when": {"any": [{"no_match": True}, random_condition(rng)]},
            "approval": REVIEW_APPROVAL,
        },
    )
    rules.append({"name": "last", "band": rng.choice(["PROPOSE", "REVIEW"]), "approval": {"roles": ["operator"]}})
    document = {"version": 1, "bands": rules}
    return document, Policy.model_validate(document)


def test_property_default_policy_is_total_and_deterministic() -> None:
    rng = random.Random(20240514)
    policy = load_policy(None)
    for _ in range(3000):
        context = random_context(rng)
        decision = evaluate(policy, context, now=NOW)
        assert decision == evaluate(policy, context.model_copy(), now=NOW)
        assert decision.band in BANDS
        assert decision.rule in {rule.name for rule in policy.bands}
        if context.no_match or context.severity == "critical" or context.risk_level == "high":
            assert decision.band == "REVIEW"
        if decision.band == "AUTO":
            assert context.confidence >= 0.85 and context.risk_level in ("low", "medium")
            assert context.severity in ("low", "medium") and context.environment != "production"
            assert decision.auto_execute_allowed


def test_property_random_policies_follow_the_documented_semantics() -> None:
    rng = random.Random(7)
    for _ in range(300):
        document, policy = random_policy(rng)
        for _ in range(20):
            context = random_context(rng)
            decision = evaluate(policy, context, now=NOW)
            assert decision == evaluate(policy, context, now=NOW)
            # The first rule that (by the reference reading) matches, skipping non-REVIEW rules for no-match.
            expected = next(
                index
                for index, rule in enumerate(document["bands"])
                if (not context.no_match or rule["band"] == "REVIEW")
                and ("when" not in rule or reference_holds(rule["when"], context))
            )
            assert decision.rule_index == expected, (document["bands"][expected], context, decision.reasons)
            assert len(decision.skipped_rules) == expected
            if context.no_match:
                assert decision.band == "REVIEW"
