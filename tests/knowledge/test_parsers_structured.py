"""YAML and JSON runbooks: the schema, its error messages with file and line, phases inferred when missing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ai_service.errors import InputError
from ai_service.knowledge.models import ParsedRunbook
from ai_service.knowledge.parsers import parse_runbook_file

FIXTURES = Path(__file__).resolve().parent / "fixtures"

STRUCTURED = FIXTURES / "structured"


def parse_structured(name: str) -> ParsedRunbook:
    return parse_runbook_file(STRUCTURED / name, STRUCTURED)


def test_yaml_runbook() -> None:
    runbook = parse_structured("pod-crashloop.yaml")
    assert runbook.format == "yaml"
    assert runbook.runbook_id == "fixture-pod-crashloop"
    assert runbook.last_reviewed == date(2026, 9, 14)
    assert runbook.description == "A container keeps exiting and the kubelet restarts it with a back-off."
    assert [step.phase for step in runbook.steps] == ["diagnosis", "mitigation", "mitigation", "verification"]
    first, rollback, delete, verify = runbook.steps
    assert (first.risk_level, first.risk_inferred) == ("low", False)
    assert first.action.endswith('```shell\nkubectl -n "$NS" describe pod "$POD"\n```')
    assert first.expected_outcome == "The failing container and why it stopped."
    assert (rollback.risk_level, rollback.risk_inferred) == ("medium", True)
    assert rollback.rollback == "Roll forward again with `kubectl rollout undo` once the fix is released."
    assert delete.risk_level == "high"
    assert verify.risk_level == "low"
    assert verify.section == "Verification"


def test_json_runbook_matches_yaml() -> None:
    from_yaml = parse_structured("pod-crashloop.yaml")
    from_json = parse_structured("pod-crashloop.json")
    assert from_json.format == "json"
    assert [s.content_sha256 for s in from_json.steps] == [s.content_sha256 for s in from_yaml.steps]
    assert from_json.model_dump(exclude={"format", "source_path", "content_sha256"}) == from_yaml.model_dump(
        exclude={"format", "source_path", "content_sha256"}
    )


def test_yaml_id_and_service_from_path(tmp_path: Path) -> None:
    runbook_file = tmp_path / "queues" / "kafka" / "Consumer Lag.yml"
    runbook_file.parent.mkdir(parents=True)
    runbook_file.write_text("title: Consumer lag\nsteps:\n  - condition: When lag grows\n    action: Check lag.\n")
    runbook = parse_runbook_file(runbook_file, tmp_path)
    assert runbook.runbook_id == "queues-kafka-consumer-lag"
    assert (runbook.service, runbook.component) == ("queues", "kafka")
    assert runbook.source_path == "queues/kafka/Consumer Lag.yml"


@pytest.mark.parametrize(
    ("name", "message", "hint"),
    [
        ("missing-action.yaml", "missing-action.yaml:5: steps[1].action: required field is missing", "missing field"),
        (
            "bad-risk-level.yaml",
            "bad-risk-level.yaml:5: steps[0].risk_level: Input should be 'low', 'medium' or 'high', got 'extreme'",
            "listed values",
        ),
        ("empty-steps.yaml", "empty-steps.yaml:2: steps: must not be empty (at least one item)", "at least one step"),
        (
            "unknown-field.yaml",
            "unknown-field.yaml:4: steps[0].acton: unknown field (did you mean 'action'?)",
            "remove or rename",
        ),
        ("syntax-error.yaml", "syntax-error.yaml:4:4: runbook is not valid YAML", "YAML syntax"),
        ("missing-action.json", "missing-action.json:5: steps[1].action: required field is missing", "missing field"),
        ("syntax-error.json", "syntax-error.json:4:64: not valid JSON", "JSON syntax"),
    ],
)
def test_structured_validation_errors(name: str, message: str, hint: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_structured(name)
    assert message in caught.value.message
    assert caught.value.hint is not None and hint in caught.value.hint
    assert caught.value.exit_code == 2


def test_wrong_types_report_every_field_with_its_line() -> None:
    with pytest.raises(InputError) as caught:
        parse_structured("wrong-types.yaml")
    lines = caught.value.message.splitlines()
    assert lines == [
        "wrong-types.yaml:2: tags: Input should be a valid list, got 5",
        "wrong-types.yaml:4: steps[0].condition: Input should be a valid string, got ['full', 'disk']",
        "wrong-types.yaml:5: steps[0].action: Input should be a valid string, got 42",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("- just\n- a list\n", "x.yaml:1: expected a mapping with 'title' and 'steps' at the top level, found a list"),
        ("", "x.yaml:1: expected a mapping with 'title' and 'steps' at the top level, found nothing"),
        ("steps:\n  - condition: c\n    action: a\n", "x.yaml:1: title: required field is missing"),
        ("title: T\nsteps:\n  - condition: '  '\n    action: a\n", "x.yaml:3: steps[0].condition: must not be empty"),
        ("title: T\nrunbook_id: Not A Slug\nsteps:\n  - {condition: c, action: a}\n", "x.yaml:2: runbook_id:"),
        ("title: T\nsteps:\n  - {condition: c, action: a, phase: fixing}\n", "x.yaml:3: steps[0].phase:"),
    ],
)
def test_more_yaml_errors(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        parse_runbook_file(path, tmp_path)
    assert fragment in caught.value.message


def test_yaml_phase_is_inferred_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "svc.yaml"
    steps = [
        {"condition": "When the API is slow", "action": "Check the p99 latency dashboard."},
        {"condition": "When one pod is hot", "action": "Restart the pod with `kubectl delete pod api-0`."},
        {"condition": "After the restart", "action": "Confirm that p99 latency is back under 200 ms."},
    ]
    path.write_text(json.dumps({"title": "API slow", "steps": steps}))
    path = path.rename(tmp_path / "svc.json")
    runbook = parse_runbook_file(path, tmp_path)
    assert [(s.phase, s.risk_level) for s in runbook.steps] == [
        ("diagnosis", "low"),
        ("mitigation", "high"),
        ("verification", "low"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "line", "problem"),
    [
        (
            "bad-date.yaml",
            "title: Disk full\nlast_reviewed: 2026-13-01\nsteps:\n  - condition: When the disk is full\n"
            "    action: df -h\n",
            2,
            "month must be in 1..12",
        ),
        (
            "bad-date.md",
            "---\ntitle: Disk full\nlast_reviewed: 2026-02-30\n---\n# Disk full\n\n## Diagnosis\n\n1. Run `df -h`.\n",
            3,
            "day is out of range for month",
        ),
    ],
)
def test_an_impossible_date_is_reported_at_its_line(
    tmp_path: Path, name: str, text: str, line: int, problem: str
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        parse_runbook_file(tmp_path / name, tmp_path)
    assert caught.value.message.startswith(f"{name}:{line}: "), caught.value.message
    assert problem in caught.value.message
    assert caught.value.hint is not None and "YYYY-MM-DD" in caught.value.hint
