"""Runbook ingestion against the real database and the real local model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ai_service.knowledge import service
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from db.connection import connect
from tests.conftest import EVAL_DIR

SAMPLE_RUNBOOKS = service.SAMPLE_DIR / "runbooks"
PROMETHEUS_RUNBOOKS = EVAL_DIR / "prometheus" / "runbooks" / "content" / "runbooks"


@pytest.fixture(scope="module")
def embedder() -> LocalMiniLMEmbedder:
    model = LocalMiniLMEmbedder()
    model.load()
    return model


@pytest.fixture
def conn(migrated_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(migrated_db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def runbook_dir(tmp_path: Path) -> Path:
    target = tmp_path / "runbooks"
    shutil.copytree(SAMPLE_RUNBOOKS, target)
    return target


def _steps(conn: psycopg.Connection, runbook_id: str) -> list[tuple[str, int, str]]:
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT step_id, step_order, action FROM runbook_steps WHERE runbook_id = %s ORDER BY step_order",
            (runbook_id,),
        ).fetchall()
    ]


def test_sample_ingests_cleanly_and_reingest_costs_nothing(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    first = service.ingest_runbooks(conn, embedder, [runbook_dir])
    assert first.failed == []
    assert first.count("new") == 12
    steps = conn.execute("SELECT count(*), count(embedding), count(DISTINCT runbook_id) FROM runbook_steps").fetchone()
    assert steps is not None and steps[0] == first.total("steps_new") and steps[1] == steps[0] and steps[2] == 12
    assert first.texts_embedded == steps[0] + 24  # one vector per step, two per runbook (whole, title)
    again = service.ingest_runbooks(conn, embedder, [runbook_dir])
    assert again.count("unchanged") == 12
    assert again.texts_embedded == 0 and again.total("steps_unchanged") == steps[0]
    # Every step row is complete and ordered within its runbook.
    bad = conn.execute(
        "SELECT count(*) FROM runbook_steps WHERE btrim(condition) = '' OR btrim(action) = '' OR step_order IS NULL"
        " OR risk_level IS NULL OR runbook_document_id IS NULL OR content_sha256 IS NULL"
    ).fetchone()
    assert bad == (0,)
    doc = conn.execute(
        "SELECT d.source_path, d.content_sha256, d.doc_type FROM documents AS d JOIN runbooks AS r"
        " ON r.document_id = d.id WHERE r.runbook_id = 'linux-disk-full'"
    ).fetchone()
    assert doc is not None and doc[0].endswith("linux/disk-full.md") and len(doc[1]) == 64 and doc[2] == "runbook"


def test_editing_one_step_updates_exactly_that_step(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    service.ingest_runbooks(conn, embedder, [runbook_dir])
    before = _steps(conn, "linux-disk-full")
    path = runbook_dir / "linux" / "disk-full.md"
    text = path.read_text()
    target = before[2][2].splitlines()[0]
    assert target in text
    path.write_text(text.replace(target, target + " Record what you find in the incident ticket.", 1))
    report = service.ingest_runbooks(conn, embedder, [runbook_dir])
    outcome = next(f for f in report.files if f.runbook_id == "linux-disk-full")
    assert (outcome.status, outcome.steps_updated, outcome.steps_new, outcome.steps_removed) == ("updated", 1, 0, 0)
    assert report.count("unchanged") == 11
    assert report.texts_embedded == 1  # the edited step; the runbook's own text did not change
    after = _steps(conn, "linux-disk-full")
    assert [s[0] for s in after] == [s[0] for s in before]
    assert after[2][2] != before[2][2] and after[3] == before[3]


def test_inserting_and_removing_steps_keeps_the_other_ids(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    path = runbook_dir / "kubernetes" / "pod-crashloop.yaml"
    service.ingest_runbooks(conn, embedder, [path])
    before = _steps(conn, "k8s-pod-crashloop")
    lines = path.read_text().splitlines(keepends=True)
    steps_at = next(i for i, line in enumerate(lines) if line.startswith("steps:"))
    new_step = (
        "  - condition: When the pod was rescheduled onto a new node minutes ago\n"
        "    action: Compare the node's kernel and container runtime versions with a healthy node.\n"
        "    risk_level: low\n"
        "    phase: diagnosis\n"
    )
    lines.insert(steps_at + 1, new_step)
    path.write_text("".join(lines))
    report = service.ingest_runbooks(conn, embedder, [path])
    outcome = report.files[0]
    assert (outcome.steps_new, outcome.steps_removed) == (1, 0)
    after = _steps(conn, "k8s-pod-crashloop")
    assert len(after) == len(before) + 1
    # The old steps kept their ids although every one of them moved down by one.
    old_ids = {s[0] for s in before}
    assert {s[0] for s in after[1:]} == old_ids
    assert after[0][0] not in old_ids and after[0][1] == 1
    # Now remove the last step: exactly that one is deleted.
    last_condition = "- condition:"
    text = path.read_text()
    cut = text.rindex(last_condition)
    path.write_text(text[:cut])
    report = service.ingest_runbooks(conn, embedder, [path])
    assert report.files[0].steps_removed == 1
    assert [s[0] for s in _steps(conn, "k8s-pod-crashloop")] == [s[0] for s in after[:-1]]


def test_bad_file_is_reported_and_the_others_are_ingested(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    broken = runbook_dir / "broken.yaml"
    broken.write_text("title: Broken\nsteps:\n  - condition: When it breaks\n    risk_level: extreme\n")
    report = service.ingest_runbooks(conn, embedder, [runbook_dir])
    failed = report.failed
    assert len(failed) == 1 and failed[0].path.endswith("broken.yaml")
    error = failed[0].error or ""
    assert "broken.yaml:3: steps[0].action: required field is missing" in error
    assert "broken.yaml:4: steps[0].risk_level" in error
    assert report.count("new") == 12


def test_dry_run_writes_nothing(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path) -> None:
    report = service.ingest_runbooks(conn, embedder, [runbook_dir], dry_run=True)
    assert report.count("new") == 12 and report.total("steps_new") > 100
    assert report.texts_embedded == 0
    assert conn.execute("SELECT count(*) FROM runbook_steps").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM documents").fetchone() == (0,)


def test_two_files_cannot_define_one_runbook(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    shutil.copy(runbook_dir / "linux" / "disk-full.md", runbook_dir / "linux" / "disk-full-copy.md")
    report = service.ingest_runbooks(conn, embedder, [runbook_dir])
    assert len(report.failed) == 1
    assert "'linux-disk-full' is already defined by" in (report.failed[0].error or "")


def test_prune_removes_runbooks_whose_file_is_gone(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    service.ingest_runbooks(conn, embedder, [runbook_dir])
    (runbook_dir / "network" / "dns-resolution-failure.md").unlink()
    kept = service.ingest_runbooks(conn, embedder, [runbook_dir])
    assert conn.execute("SELECT count(*) FROM runbooks").fetchone() == (12,)  # nothing removed without --prune
    assert kept.count("removed") == 0
    pruned = service.ingest_runbooks(conn, embedder, [runbook_dir], prune=True)
    assert pruned.count("removed") == 1
    assert conn.execute(
        "SELECT count(*) FROM runbook_steps WHERE runbook_id = 'dns-resolution-failure'"
    ).fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM runbooks").fetchone() == (11,)


def test_interrupted_ingest_is_completed_by_the_next_run(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    class Stop(Exception):
        pass

    def stop_after_five(stage: str, done: int, total: int) -> None:
        if stage == "write" and done == 6:
            raise Stop

    with pytest.raises(Stop):
        service.ingest_runbooks(conn, embedder, [runbook_dir], progress=stop_after_five)
    assert conn.execute("SELECT count(*) FROM runbooks").fetchone() == (5,)
    report = service.ingest_runbooks(conn, embedder, [runbook_dir])
    assert (report.count("unchanged"), report.count("new")) == (5, 7)
    # Only what was not committed is embedded again.
    assert 0 < report.texts_embedded <= report.total("steps_new") + 2 * report.count("new")
    assert report.total("steps_unchanged") > 0
    assert conn.execute("SELECT count(*) FROM runbooks").fetchone() == (12,)


def test_unchanged_texts_reuse_stored_vectors(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, runbook_dir: Path
) -> None:
    service.ingest_runbooks(conn, embedder, [runbook_dir])
    moved = runbook_dir / "linux" / "cpu-saturation.md"
    text = moved.read_text().replace("runbook_id: linux-cpu-saturation", "runbook_id: linux-cpu-saturation-v2")
    moved.write_text(text)
    report = service.ingest_runbooks(conn, embedder, [moved])
    assert report.count("new") == 1
    assert report.texts_embedded == 0  # every text was embedded before, under the old id


@pytest.mark.skipif(
    not PROMETHEUS_RUNBOOKS.is_dir(), reason=f"public evaluation data not found at {PROMETHEUS_RUNBOOKS}"
)
def test_prometheus_runbooks_ingest_with_verbatim_commands(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    report = service.ingest_runbooks(conn, embedder, [PROMETHEUS_RUNBOOKS])
    assert report.failed == []
    assert report.count("new") == 108
    row = conn.execute(
        "SELECT string_agg(action, E'\\n' ORDER BY step_order), min(service), count(*) FROM runbook_steps"
        " WHERE runbook_id = 'alertmanager-alertmanagerfailedreload'"
    ).fetchone()
    assert row is not None
    actions, svc, count = row
    assert "kubectl logs sts/alertmanager-main -c config-reloader" in actions
    assert svc == "alertmanager" and count >= 2
    phases = conn.execute(
        "SELECT array_agg(phase ORDER BY step_order) FROM runbook_steps"
        " WHERE runbook_id = 'alertmanager-alertmanagerfailedreload'"
    ).fetchone()[0]  # type: ignore[index]
    assert phases[0] == "diagnosis" and "mitigation" in phases
