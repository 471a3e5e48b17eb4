"""A runbook's owning team (declared in front matter or YAML/JSON, else its folder) and its failure type: parsed,
stored by ingestion, and filled in for rows stored before runbooks had them — without embedding anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ai_service.errors import InputError
from ai_service.knowledge import service as knowledge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.knowledge.parsers import parse_markdown_text, parse_runbook_file
from db import vectors
from db.connection import connect
from tests.conftest import PgServer

STEPS_MD = "\n## Diagnosis\n\n1. Check the disk usage with `df -h`.\n"


def _markdown(front: str, title: str = "Filesystem almost full") -> str:
    return f"---\n{front}---\n\n# {title}\n{STEPS_MD}"


def _yaml(extra: str = "") -> str:
    return (
        "title: PostgreSQL connection slots exhausted\n"
        f"{extra}"
        "steps:\n  - condition: When clients are refused\n    action: Count the connections in pg_stat_activity.\n"
    )


# --- parsing -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["team", "owner", "owning_team"])
def test_front_matter_declares_the_team_under_any_of_its_names(key: str) -> None:
    runbook = parse_markdown_text(_markdown(f"{key}: DBA Team\n"))
    assert runbook.team == "DBA Team"


def test_the_first_team_name_present_counts_and_a_blank_one_is_an_error() -> None:
    assert parse_markdown_text(_markdown("owner: Someone\nteam: Linux Ops\n")).team == "Linux Ops"
    with pytest.raises(InputError, match="team"):
        parse_markdown_text(_markdown('team: "  "\n'))


def test_yaml_and_json_runbooks_declare_a_team(tmp_path: Path) -> None:
    (tmp_path / "rb.yaml").write_text(_yaml('team: "Backup & Storage"\n'))
    (tmp_path / "rb2.yaml").write_text(_yaml("owner: DBA Team\n"))
    (tmp_path / "rb.json").write_text(
        json.dumps({"title": "X", "team": "Network Operations", "steps": [{"condition": "c", "action": "a"}]})
    )
    assert parse_runbook_file(tmp_path / "rb.yaml", tmp_path).team == "Backup & Storage"
    assert parse_runbook_file(tmp_path / "rb2.yaml", tmp_path).team == "DBA Team"
    assert parse_runbook_file(tmp_path / "rb.json", tmp_path).team == "Network Operations"
    (tmp_path / "bad.yaml").write_text(_yaml("teem: DBA Team\n"))
    with pytest.raises(InputError, match="did you mean 'team'"):
        parse_runbook_file(tmp_path / "bad.yaml", tmp_path)


def test_without_a_declaration_the_folder_is_the_team(tmp_path: Path) -> None:
    (tmp_path / "dba" / "pg").mkdir(parents=True)
    (tmp_path / "dba" / "pg-connections.yaml").write_text(_yaml())
    (tmp_path / "dba" / "pg" / "deep.md").write_text(_markdown("service: postgresql\n"))
    (tmp_path / "top.md").write_text(_markdown("service: linux\n"))
    (tmp_path / "dba" / "declared.md").write_text(_markdown("team: Linux Ops\n"))
    assert parse_runbook_file(tmp_path / "dba" / "pg-connections.yaml", tmp_path).team == "dba"
    assert parse_runbook_file(tmp_path / "dba" / "pg" / "deep.md", tmp_path).team == "pg"  # the innermost folder
    assert parse_runbook_file(tmp_path / "top.md", tmp_path).team is None  # directly in the root
    assert parse_runbook_file(tmp_path / "dba" / "declared.md", tmp_path).team == "Linux Ops"  # declared wins
    assert parse_runbook_file(tmp_path / "dba" / "pg-connections.yaml").team is None  # no root: no folder


def test_the_sample_runbooks_declare_the_teams_of_their_incidents() -> None:
    root = knowledge.SAMPLE_DIR / "runbooks"
    teams = {}
    for path in sorted(root.rglob("*")):
        if path.suffix in (".md", ".yaml"):
            runbook = parse_runbook_file(path, root)
            teams[runbook.runbook_id] = runbook.team
    assert teams == {
        "backup-job-failed": "Backup & Storage",
        "dns-resolution-failure": "Network Operations",
        "k8s-pod-crashloop": "Platform Engineering",
        "linux-cpu-saturation": "Linux Ops",
        "linux-disk-full": "Linux Ops",
        "linux-memory-oom": "Linux Ops",
        "mq-consumer-backlog": "Middleware Team",
        "net-packet-loss-link-down": "Network Operations",
        "pg-connection-exhaustion": "DBA Team",
        "pg-replication-lag": "DBA Team",
        "tls-certificate-expiry": "Linux Ops",
        "tls-handshake-errors": "Platform Engineering",
    }


# --- ingestion ---------------------------------------------------------------------------------------------------


@pytest.fixture
def conn(pg_server: PgServer, embedder: LocalMiniLMEmbedder) -> Iterator[psycopg.Connection]:
    name = pg_server.create_database(template=pg_server.migrated_template())
    with connect(pg_server.url(name), autocommit=True) as connection:
        vectors.align_empty_store(connection, model=embedder.model_name, dimension=embedder.dimension)
        yield connection
    pg_server.drop_database(name)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "dba").mkdir()
    (tmp_path / "network").mkdir()
    (tmp_path / "dba" / "pg-connections.yaml").write_text(_yaml())
    (tmp_path / "network" / "dns.md").write_text(
        _markdown("team: Network Operations\n", "DNS resolution failing: resolvers return SERVFAIL")
    )
    (tmp_path / "loose.md").write_text(_markdown("", "Read the notes"))
    return tmp_path


def _labels(conn: psycopg.Connection) -> dict[str, tuple[str | None, str | None]]:
    rows = conn.execute("SELECT runbook_id, team, failure_type FROM runbooks ORDER BY runbook_id").fetchall()
    return {runbook_id: (team, failure_type) for runbook_id, team, failure_type in rows}


def test_ingestion_stores_team_and_failure_type(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, tree: Path
) -> None:
    report = knowledge.ingest_runbooks(conn, embedder, [tree])
    assert not report.failed and report.count("new") == 3
    assert _labels(conn) == {
        "dba-pg-connections": ("dba", "connection_limit"),
        "loose": (None, "unknown"),
        "network-dns": ("Network Operations", "dns_resolution_failure"),
    }


def test_reingesting_unchanged_files_fills_rows_stored_before_teams_and_types(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, tree: Path
) -> None:
    knowledge.ingest_runbooks(conn, embedder, [tree])
    expected = _labels(conn)
    # What a database migrated by 014 holds for runbooks ingested before it: both columns empty.
    conn.execute("UPDATE runbooks SET team = NULL, failure_type = NULL")
    again = knowledge.ingest_runbooks(conn, embedder, [tree])
    assert [f.status for f in again.files] == ["unchanged"] * 3
    assert all(f.relabelled for f in again.files) and again.texts_embedded == 0
    assert _labels(conn) == expected
    # Labelled rows are left alone: nothing parsed, nothing written.
    third = knowledge.ingest_runbooks(conn, embedder, [tree])
    assert not any(f.relabelled for f in third.files) and third.texts_embedded == 0
    assert third.runbooks_relabelled == 0 and _labels(conn) == expected


def test_a_changed_declaration_changes_the_stored_team(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, tree: Path
) -> None:
    knowledge.ingest_runbooks(conn, embedder, [tree])
    path = tree / "dba" / "pg-connections.yaml"
    path.write_text(_yaml("team: DBA Team\n"))
    report = knowledge.ingest_runbooks(conn, embedder, [tree])
    assert [f.status for f in report.files if f.path == str(path)] == ["updated"]
    assert _labels(conn)["dba-pg-connections"] == ("DBA Team", "connection_limit")
