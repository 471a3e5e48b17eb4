"""Runbook files: ids and metadata derived from the path, supported extensions, encodings."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from ai_service.errors import InputError
from ai_service.knowledge.models import make_step_id
from ai_service.knowledge.parsers import derive_runbook_id, derive_service_component, parse_runbook_file

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("node/NodeFilesystemSpaceFillingUp.md", "node-nodefilesystemspacefillingup"),
        ("kube-state-metrics/KubeStateMetricsListErrors.md", "kube-state-metrics-kubestatemetricslisterrors"),
        ("Postgres/Replication Lag (v2).yaml", "postgres-replication-lag-v2"),
        ("runbook.docx", "runbook"),
    ],
)
def test_derive_runbook_id(relative: str, expected: str) -> None:
    assert derive_runbook_id(PurePosixPath(relative)) == expected


def test_derive_service_and_component() -> None:
    assert derive_service_component(PurePosixPath("etcd/etcdNoLeader.md")) == ("etcd", None)
    assert derive_service_component(PurePosixPath("db/postgres/lag.md")) == ("db", "postgres")
    assert derive_service_component(PurePosixPath("lag.md")) == (None, None)


def test_step_id_format() -> None:
    assert make_step_id("node-nodeclockskewdetected", 3) == "node-nodeclockskewdetected-S3"


def test_unsupported_extension_and_path_outside_root(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(InputError, match=r"unsupported runbook file type '\.txt'"):
        parse_runbook_file(text_file)
    with pytest.raises(InputError, match="not inside the runbook root"):
        parse_runbook_file(FIXTURES / "markdown/redirect-only.md", tmp_path)


def test_markdown_extension_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "Cache.markdown"
    path.write_bytes("\ufeff# Cache\n\n## Fix\n\nFlush the cache.\n".encode())
    runbook = parse_runbook_file(path)
    assert (runbook.runbook_id, runbook.title, runbook.format) == ("cache", "Cache", "markdown")
    assert [(s.phase, s.risk_level) for s in runbook.steps] == [("mitigation", "high")]


def test_invalid_utf8_is_an_input_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_bytes(b"# Title\n\n## Diagnosis\n\nCheck \xff\xfe the disk.\n")
    with pytest.raises(InputError, match=r"broken\.md:5: not valid UTF-8"):
        parse_runbook_file(broken)
