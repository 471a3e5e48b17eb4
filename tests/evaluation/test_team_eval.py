"""Team accuracy of `nocai eval triage`: the proposed assignment group against the alert's ``team`` (else its
``runbook_group``), over the alerts that carry one — computed on a small synthetic labelled set whose runbooks
get their teams from their folders and from a declaration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ai_service.evaluation import triage as triage_evaluation
from ai_service.evaluation.triage import TriageEvaluation, expected_team
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.knowledge.service import ingest_runbooks
from ai_service.policy.service import load_policy
from db import vectors
from db.connection import connect
from tests.conftest import PgServer

RUNBOOKS: dict[str, str] = {
    "dba/pg-connections.yaml": """\
title: PostgreSQL connection slots exhausted
description: Clients fail with "FATAL sorry, too many clients already" because every connection slot is in use.
steps:
  - condition: When clients report FATAL too many clients already
    action: Count the connections per state and application in pg_stat_activity.
  - condition: When idle sessions hold the connection slots
    action: Terminate the idle in transaction sessions with pg_terminate_backend.
""",
    "dba/pg-replication-lag.yaml": """\
title: PostgreSQL replica lagging behind its primary
description: The streaming standby replays WAL minutes behind the primary; reads on it are stale.
steps:
  - condition: When the standby replay lag grows
    action: Compare pg_last_wal_replay_lsn on the standby with pg_current_wal_lsn on the primary.
""",
    "network/interface-down.yaml": """\
title: Network interface down or flapping
description: A switch port or host interface reports link down; traffic fails over or is lost.
steps:
  - condition: When an interface reports operstate down
    action: Check the link state and error counters with ip -s link and ethtool.
""",
    "storage/disk-full.md": """\
---
title: Filesystem almost full
team: Storage Team
---

# Filesystem almost full

## Meaning

A mounted filesystem is above its usage threshold; writes fail with No space left on device when it fills up.

## Diagnosis

1. Check which mount point is full with `df -h`.
2. Find the largest directories on it with `du -xh --max-depth=2`.
""",
}
ALERTS: list[dict[str, Any]] = [
    {"summary": "FATAL: sorry, too many clients already on pg-orders-01", "runbook": "dba/pg-connections.yaml",
     "alertname": "PgTooManyClients", "runbook_group": "dba"},
    {"summary": "remaining connection slots are reserved, new sessions refused on pg-billing-02",
     "runbook": "dba/pg-connections.yaml", "alertname": "PgConnectionSlots", "team": "dba"},
    {"summary": "standby replication lag above 300 seconds on pg-reports-01", "runbook": "dba/pg-replication-lag.yaml",
     "alertname": "PgReplicationLag", "runbook_group": "dba"},
    {"summary": "interface eth1 operstate down on core-sw-01", "runbook": "network/interface-down.yaml",
     "alertname": "InterfaceDown", "runbook_group": "network"},
    {"summary": "link down on uplink port of edge-rtr-02", "runbook": "network/interface-down.yaml",
     "alertname": "LinkDown", "runbook_group": "network"},
    {"summary": "filesystem /var almost full on web-03: no space left on device", "runbook": "storage/disk-full.md",
     "alertname": "DiskFull", "team": "Storage Team", "runbook_group": "storage"},  # team wins over the group
    {"summary": "disk usage above 95% on /data of db-07", "runbook": "storage/disk-full.md",
     "alertname": "DiskUsageHigh", "team": "Security"},  # a label nobody routes to: counted, and wrong
    {"summary": "filesystem /srv filling up on app-02", "runbook": "storage/disk-full.md",
     "alertname": "FilesystemFillingUp"},  # carries no team: not counted
]  # fmt: skip
UNANSWERABLE: list[dict[str, Any]] = [
    {"summary": "Grafana dashboard panel rendering slowly", "alertname": "GrafanaSlow", "runbook_group": "grafana"},
    {"summary": "Kafka broker under-replicated partitions", "alertname": "KafkaUnderReplicated"},
    {"summary": "HAProxy backend returns 503 for checkout", "alertname": "Haproxy503", "runbook_group": "edge"},
]


def _write(path: Path, rows: list[dict[str, Any]], prefix: str) -> Path:
    lines = []
    for index, row in enumerate(rows, start=1):
        full = {"id": f"{prefix}-{index}", "severity": "warning", "labels": {"severity": "warning"}, **row}
        lines.append(json.dumps({"description": full["summary"], **full}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def evaluation(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TriageEvaluation]:
    base = tmp_path_factory.mktemp("team-eval")
    root = base / "runbooks"
    for relative, text in RUNBOOKS.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    alerts = _write(base / "alerts.jsonl", ALERTS, "a")
    unanswerable = _write(base / "no_runbook.jsonl", UNANSWERABLE, "u")
    embedder = LocalMiniLMEmbedder()
    name = pg_server.create_database(template=pg_server.migrated_template())
    conn: psycopg.Connection
    with connect(pg_server.url(name), autocommit=True) as conn:
        vectors.align_empty_store(conn, model=embedder.model_name, dimension=embedder.dimension)
        assert not ingest_runbooks(conn, embedder, [root]).failed
        yield triage_evaluation.evaluate(conn, embedder, root, alerts, unanswerable, policy=load_policy())
    pg_server.drop_database(name)


def test_each_alert_reports_its_assignment_group_and_expected_team(evaluation: TriageEvaluation) -> None:
    by_id = {a["id"]: a for a in evaluation.alerts}
    assert [by_id[f"a-{i}"]["expected_team"] for i in range(1, 9)] == [
        "dba", "dba", "dba", "network", "network", "Storage Team", "Security", None,
    ]  # fmt: skip
    assert [by_id[f"u-{i}"]["expected_team"] for i in range(1, 4)] == ["grafana", None, "edge"]
    for alert in evaluation.alerts:
        assert {"assignment_group", "assignment_group_source", "expected_team"} <= set(alert)
    # Where the plan's first step is the right runbook, the team is that runbook's: its folder, or its declaration.
    right = [a for a in evaluation.alerts if a["answerable"] and a["correct"]]
    assert len(right) >= 6
    for alert in right:
        folder = alert["first_step_runbook"].split("/")[0]
        assert alert["assignment_group"] == ("Storage Team" if folder == "storage" else folder), alert
        assert alert["assignment_group_source"].startswith(("runbook ", "runbooks ")), alert


def test_team_accuracy_is_measured_over_the_alerts_that_carry_a_team(evaluation: TriageEvaluation) -> None:
    answerable = [a for a in evaluation.alerts if a["answerable"] and a["expected_team"]]
    assert len(answerable) == 7  # the alert without team or runbook_group is left out
    hits = sum(a["assignment_group"] == a["expected_team"] for a in answerable)
    assert evaluation.team_accuracy == hits / 7
    assert evaluation.team_accuracy is not None and 4 / 7 <= evaluation.team_accuracy <= 6 / 7  # "Security": wrong
    unanswerable = [a for a in evaluation.alerts if not a["answerable"] and a["expected_team"]]
    assert len(unanswerable) == 2
    assert evaluation.team_accuracy_unanswerable == sum(
        a["assignment_group"] == a["expected_team"] for a in unanswerable
    ) / len(unanswerable)
    assert evaluation.misrouted_unanswerable == sum(
        a["assignment_group"] not in (None, a["expected_team"]) for a in unanswerable
    ) / len(unanswerable)
    assert evaluation.as_json()["team_accuracy"] == evaluation.team_accuracy


def test_the_figures_on_hand_made_records() -> None:
    def record(group: str | None, team: str | None, answerable: bool = True) -> dict[str, Any]:
        return {"assignment_group": group, "expected_team": team, "answerable": answerable}

    answer = [record("dba", "dba"), record(None, "dba"), record("node", "dba"), record("x", None)]
    unanswerable = [record("etcd", "etcd", False), record(None, "grafana", False), record("node", "etcd", False)]
    figures = triage_evaluation._team_figures(answer, unanswerable)
    assert figures == {
        "team_accuracy": 1 / 3,  # routed nowhere counts as wrong; an alert without a team is not counted
        "team_accuracy_unanswerable": 1 / 3,
        "misrouted_unanswerable": 1 / 3,  # routed nowhere is not misrouted
    }
    assert triage_evaluation._team_figures([record("x", None)], []) == {
        "team_accuracy": None,
        "team_accuracy_unanswerable": None,
        "misrouted_unanswerable": None,
    }
    assert expected_team({"team": " DBA Team ", "runbook_group": "dba"}) == "DBA Team"
    assert expected_team({"team": "", "runbook_group": "dba"}) == "dba"
    assert expected_team({"runbook_group": None}) is None
