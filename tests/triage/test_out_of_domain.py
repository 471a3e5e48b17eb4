"""Nonsense gets an honest no-match: the out-of-domain set (eval/out_of_domain.jsonl: random words, other
domains' text, test pings, empty and templated summaries) against the sample knowledge base, through the whole
judgement, while the bundled real alerts keep their matches."""

from __future__ import annotations

import json

import psycopg
import pytest

from ai_service.alerts.adapters import parse_alerts, parse_payload
from ai_service.incidents.service import judge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.policy.service import load_policy
from tests.conftest import REPO_ROOT

OUT_OF_DOMAIN = REPO_ROOT / "eval" / "out_of_domain.jsonl"
SAMPLES = REPO_ROOT / "ai_service" / "alerts" / "samples"
#: The issue's bar: at least this share of the set gets no match.
MIN_NO_MATCH = 0.95


def _out_of_domain_alerts() -> list[tuple[str, dict[str, object]]]:
    alerts = []
    for line in OUT_OF_DOMAIN.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        payload = {
            "alert_id": row["id"],
            "title": row.get("summary") or row["id"],
            "description": row.get("description") or "",
            "labels": row.get("labels") or {},
            "severity": row.get("severity"),
        }
        alerts.append((str(row["id"]), payload))
    return alerts


def test_out_of_domain_alerts_get_an_explicit_no_match(
    sample_kb_conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    policy = load_policy()
    matched = []
    alerts = _out_of_domain_alerts()
    for alert_id, payload in alerts:
        (alert,) = parse_alerts(payload, format="generic")
        judgement = judge(sample_kb_conn, embedder, alert, policy=policy)
        if not judgement.triage.no_match:
            matched.append((alert_id, payload["title"], judgement.triage.confidence))
        else:
            # A no-match is told as such everywhere it shows: no plan, no label, REVIEW, a reason.
            assert judgement.plan.recommendations == [] and judgement.triage.failure_type is None
            assert judgement.decision.band == "REVIEW" and judgement.search.abstention.reason
    assert len(alerts) >= 60
    assert 1 - len(matched) / len(alerts) >= MIN_NO_MATCH, matched


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_the_bundled_real_alerts_still_match(
    sample_kb_conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, sample: str
) -> None:
    parsed = parse_payload(json.loads((SAMPLES / sample).read_text(encoding="utf-8")))
    for alert in parsed.alerts:
        judgement = judge(sample_kb_conn, embedder, alert, policy=load_policy())
        assert not judgement.triage.no_match, (sample, judgement.search.abstention.reason)
        assert judgement.plan.recommendations


def test_the_no_match_reason_names_the_floor_for_nonsense(
    sample_kb_conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    (alert,) = parse_alerts({"alert_id": "x", "title": "purple walrus ledger"}, format="generic")
    abstention = judge(sample_kb_conn, embedder, alert, policy=load_policy()).search.abstention
    assert abstention.abstained and "floor" in abstention.reason
    assert abstention.features["vec_best"] < 0.3
