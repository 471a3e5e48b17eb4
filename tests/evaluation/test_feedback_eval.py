"""`nocai eval feedback`: the replay of a labelled stream without and with a responder's feedback after each alert.

On nocai's own stream (``eval/feedback_stream.jsonl``, runbooks in ``eval/feedback_runbooks``, see
``eval/README.md``): feedback must make the second half better, the pass without it must be exactly
``nocai eval triage``, and no query may carry the alertname. On the public Prometheus set: the report's shape.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ai_service.alerts.fingerprint import alert_pattern
from ai_service.errors import ConflictError
from ai_service.evaluation import feedback as replay
from ai_service.evaluation.feedback import FeedbackEvaluation
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.knowledge.service import ingest_runbooks
from ai_service.policy.service import load_policy
from ai_service.retrieval.query_text import build_query
from ai_service.textnorm import split_identifier
from db import vectors
from db.connection import connect
from tests.conftest import EVAL_DIR, PYTHON, REPO_ROOT, PgServer

RUNBOOKS = REPO_ROOT / "eval" / "feedback_runbooks"
STREAM = REPO_ROOT / "eval" / "feedback_stream.jsonl"
PROMETHEUS = EVAL_DIR / "prometheus"


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in STREAM.read_text(encoding="utf-8").splitlines() if line.strip()]


def _carries_alertname(text: str, alertname: str) -> bool:
    """Whether ``text`` holds the alertname, as one word or as its words in a row."""
    folded = " ".join(text.casefold().split())
    whole = re.search(rf"(?<![\w-]){re.escape(alertname.casefold())}(?![\w-])", folded)
    return bool(whole) or f" {split_identifier(alertname).casefold()} " in f" {folded} "


@pytest.fixture(scope="module")
def kb_url(pg_server: PgServer, embedder: LocalMiniLMEmbedder) -> Iterator[str]:
    """A knowledge base holding exactly the stream's runbooks (what `nocai eval feedback` builds)."""
    name = pg_server.create_database(template=pg_server.migrated_template())
    with connect(pg_server.url(name), autocommit=True) as conn:
        vectors.align_empty_store(conn, model=embedder.model_name, dimension=embedder.dimension)
        report = ingest_runbooks(conn, embedder, [RUNBOOKS])
        assert not report.failed
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def result(kb_url: str, embedder: LocalMiniLMEmbedder) -> FeedbackEvaluation:
    with connect(kb_url, autocommit=True) as conn:
        return replay.evaluate(conn, embedder, RUNBOOKS, STREAM, policy=load_policy())


def test_feedback_makes_the_second_half_better(result: FeedbackEvaluation) -> None:
    with_, without = result.with_feedback, result.without_feedback
    print("\n" + json.dumps({k: v for k, v in result.as_json().items() if k != "alerts"}, indent=1))
    assert with_.second_half_accuracy > without.second_half_accuracy
    assert result.second_half == len(_rows()) - len(_rows()) // 2
    assert 0 < result.repeats_in_second_half <= result.second_half
    # The pass without feedback teaches nothing and reads nothing taught; the pass with it does both.
    alerts = result.alerts
    assert len(alerts) == 2 * result.alerts_total
    assert all(a["feedback"] is None and not a["taught"] for a in alerts if a["pass"] == "without_feedback")
    assert all(a["feedback"] in ("confirm", "wrong_runbook") for a in alerts if a["pass"] == "with_feedback")
    assert without.taught_used == 0 < with_.taught_used
    # Each pass replays the same stream, in the same order.
    by_pass = {p: [a["id"] for a in alerts if a["pass"] == p] for p in ("without_feedback", "with_feedback")}
    assert by_pass["without_feedback"] == by_pass["with_feedback"]


def test_without_feedback_is_exactly_plain_triage(result: FeedbackEvaluation) -> None:
    assert result.no_loss and result.plain_triage_disagreements == []
    assert result.without_feedback.correct == result.plain_triage_correct
    assert result.without_feedback.accuracy == pytest.approx(result.plain_triage_top1, abs=1e-4)


def test_no_query_carries_the_alertname(result: FeedbackEvaluation) -> None:
    for record in result.alerts:
        assert record["query"] and not _carries_alertname(record["query"], record["alertname"]), record
    for row in _rows():
        parsed = replay.payload_of(row, row["id"])
        alert = parsed.alerts[0]
        query = replay.query_of(alert)
        assert alert_pattern(alert) == row["alertname"].lower()  # kept as a label: feedback's pattern key
        assert query.alertname is None and "alertname" not in query.labels
        assert not _carries_alertname(query.text, row["alertname"])
        # The label adds nothing: the text is the one the alert would give without it.
        bare = alert.model_copy(update={"labels": {k: v for k, v in alert.labels.items() if k != "alertname"}})
        assert query.text == build_query(bare).text


def test_the_query_drops_every_word_of_the_alertname() -> None:
    row = {
        "id": "x-1",
        "alertname": "ZebraQuokkaOverflow",
        "summary": "ZebraQuokkaOverflow: disk almost full on web-03",
        "description": "Only 3% left on /var.",
        "labels": {"severity": "warning", "instance": "web-03"},
    }
    alert = replay.payload_of(row, "x-1#0").alerts[0]
    assert alert.labels["alertname"] == "ZebraQuokkaOverflow"
    text = replay.query_of(alert).text.casefold()
    assert "disk almost full" in text
    assert not {"zebra", "quokka", "overflow", "zebraquokkaoverflow"} & set(re.findall(r"\w+", text))


def test_stream_order_puts_first_occurrences_before_repeats() -> None:
    rows = [
        {"id": "b#1", "alertname": "B"},
        {"id": "a#1", "alertname": "A"},
        {"id": "a#2", "alertname": "A"},
        {"id": "c#1", "alertname": "C"},
        {"id": "a#3", "alertname": "A"},
        {"id": "b#2", "alertname": "B"},
    ]
    assert [r["id"] for r in replay.stream_order(rows)] == ["a#1", "b#1", "c#1", "a#2", "b#2", "a#3"]
    ordered = replay.stream_order(_rows())
    seen: set[str] = set()
    first_repeat = next(i for i, r in enumerate(ordered) if r["alertname"] in seen or seen.add(r["alertname"]))
    assert first_repeat == len({r["alertname"] for r in ordered})


def test_a_knowledge_base_that_holds_feedback_is_refused(
    result: FeedbackEvaluation, kb_url: str, embedder: LocalMiniLMEmbedder
) -> None:
    with connect(kb_url, autocommit=True) as conn, pytest.raises(ConflictError, match="already holds feedback"):
        replay.evaluate(conn, embedder, RUNBOOKS, STREAM, policy=load_policy())


@pytest.mark.slow
@pytest.mark.skipif(not (PROMETHEUS / "alerts.jsonl").exists(), reason=f"evaluation data not found at {PROMETHEUS}")
def test_prometheus_report_shape(nocai_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [
            PYTHON,
            "-m",
            "ai_service.cli.app",
            "eval",
            "feedback",
            "--runbooks",
            str(PROMETHEUS / "runbooks"),
            "--alerts",
            str(PROMETHEUS / "alerts.jsonl"),
            "--json",
        ],
        cwd=REPO_ROOT,
        env=nocai_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    print("\n" + json.dumps({k: v for k, v in report.items() if k != "alerts"}, indent=1))
    total = sum(1 for line in (PROMETHEUS / "alerts.jsonl").read_text().splitlines() if line.strip())
    assert {"with_feedback", "without_feedback", "alerts"} <= set(report)
    for figures in (report["with_feedback"], report["without_feedback"]):
        assert {"accuracy", "second_half_accuracy", "correct", "second_half_correct", "taught_used"} <= set(figures)
        assert 0.0 <= figures["accuracy"] <= 1.0 and 0.0 <= figures["second_half_accuracy"] <= 1.0
    assert report["alerts_total"] == total and len(report["alerts"]) == 2 * total
    assert report["second_half"] == total - total // 2 and report["repeats_in_second_half"] >= 1
    assert report["repeats_total"] >= report["repeats_in_second_half"]
    assert report["no_loss"] and report["without_feedback"]["accuracy"] == report["plain_triage_top1"]
    first = report["alerts"][0]
    assert {"id", "alertname", "pass", "correct", "runbook", "taught", "query"} <= set(first)
    assert first["runbook"] is None or first["runbook"].startswith("content/runbooks/")
