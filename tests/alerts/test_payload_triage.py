"""How the real webhook payloads (tests/alerts/payloads) are triaged against the bundled sample knowledge base, as
a new user who ran `nocai kb load-sample` and fed them the documented examples would see it: per alert, the
runbook an on-call engineer would open first must lead the plan, or, where none of the sample runbooks fits, nocai
must say so (payloads/triage.yaml). Read-only judgements on a clone of the sample knowledge base, real model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from ai_service.alerts.adapters import parse_payload
from ai_service.alerts.models import NormalizedAlert
from ai_service.incidents.service import judge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.policy.service import load_policy
from ai_service.retrieval.query_text import build_query

PAYLOADS = Path(__file__).resolve().parent / "payloads"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((PAYLOADS / "expected.yaml").read_text(encoding="utf-8"))
TRIAGE: dict[str, dict[str, Any]] = yaml.safe_load((PAYLOADS / "triage.yaml").read_text(encoding="utf-8"))
RUNBOOKS_DIR = Path(__file__).resolve().parents[2] / "ai_service" / "knowledge" / "sample" / "runbooks"


def _cases() -> list[Any]:
    cases = []
    for name, spec in TRIAGE.items():
        for index, expected in enumerate(spec["alerts"]):
            marks = [pytest.mark.xfail(strict=True, reason=expected["xfail"])] if "xfail" in expected else []
            cases.append(pytest.param(name, index, expected, marks=marks, id=f"{name}[{index}]"))
    return cases


def _alerts(name: str) -> list[NormalizedAlert]:
    return parse_payload((PAYLOADS / name).read_bytes()).alerts


def _sample_runbook_ids() -> set[str]:
    ids: set[str] = set()
    for path in RUNBOOKS_DIR.rglob("*"):
        if path.suffix in {".md", ".yaml"}:
            text = path.read_text(encoding="utf-8")
            ids.update(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("runbook_id:"))
    return ids


def test_every_payload_with_alerts_has_triage_expectations() -> None:
    with_alerts = {name for name, spec in EXPECTED.items() if spec["detected"] and spec.get("alerts")}
    assert set(TRIAGE) == with_alerts
    runbook_ids = _sample_runbook_ids()
    assert len(runbook_ids) == 12
    for name, spec in TRIAGE.items():
        assert len(spec["alerts"]) == len(_alerts(name)) == len(EXPECTED[name]["alerts"]), name
        for index, expected in enumerate(spec["alerts"]):
            where = f"{name}[{index}]"
            assert expected.get("why"), where
            assert ("runbook" in expected) != bool(expected.get("no_match")), where
            wanted = expected.get("runbook") or []
            assert set([wanted] if isinstance(wanted, str) else wanted) <= runbook_ids, where


@pytest.mark.parametrize(("name", "index", "expected"), _cases())
def test_real_payload_is_triaged(
    sample_kb_conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, name: str, index: int, expected: dict[str, Any]
) -> None:
    alert = _alerts(name)[index]
    judgement = judge(sample_kb_conn, embedder, alert, policy=load_policy())
    triage, plan, abstention = judgement.triage, judgement.plan, judgement.search.abstention
    got = plan.recommendations[0].runbook_id if plan.recommendations else None
    # What the report of a failure needs: what was searched, what came back first, and why it was (not) a match.
    where = (
        f"{name}[{index}] query={build_query(alert).text!r} no_match={triage.no_match} first_step_runbook={got}"
        f" top_runbook={judgement.search.runbooks[0].runbook_id if judgement.search.runbooks else None}"
        f" abstention={abstention.reason!r} features={abstention.features}"
    )
    if expected.get("no_match"):
        assert triage.no_match, where
        assert plan.recommendations == [], where
        assert judgement.decision.band == "REVIEW", where
        assert abstention.reason, where
        assert triage.failure_type is None, where
    else:
        wanted = expected["runbook"]
        assert not triage.no_match, where
        assert got in ([wanted] if isinstance(wanted, str) else wanted), where
        assert triage.confidence > 0, where
        assert plan.recommendations, where
        assert judgement.decision.band in {"AUTO", "PROPOSE", "REVIEW"}, where
