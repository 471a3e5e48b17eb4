"""DOCX runbooks: heading and list styles, typed numbers, code fonts, tables and core properties."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from docx import Document
from docx.enum.style import WD_STYLE_TYPE

from ai_service.errors import InputError
from ai_service.knowledge.models import ParsedRunbook
from ai_service.knowledge.parsers import parse_runbook_file


def phases(runbook: ParsedRunbook) -> dict[str, int]:
    return dict(Counter(step.phase for step in runbook.steps))


def build_docx(path: Path) -> None:
    document = Document()
    document.core_properties.title = "Disk full on a database host"
    document.core_properties.keywords = "disk, postgres"
    document.core_properties.subject = "postgresql"
    code_style = document.styles.add_style("Code", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Disk full on a database host", style="Title")
    document.add_heading("Meaning", level=1)
    document.add_paragraph("The data volume is above 90% used.")
    document.add_heading("Diagnosis", level=1)
    document.add_paragraph("Check which filesystem is full.", style="List Number")
    command = document.add_paragraph()
    command.add_run("df -h /var/lib/postgresql").font.name = "Courier New"
    document.add_paragraph("Find the largest directories.", style="List Number")
    document.add_paragraph("Start with pg_wal.", style="List Number 2")
    document.add_heading("Mitigation", level=1)
    document.add_heading("WAL retained by a slot", level=2)
    document.add_paragraph("If an inactive slot retains WAL, drop it:")
    document.add_paragraph("SELECT pg_drop_replication_slot('old_standby');", style=code_style)
    document.add_paragraph("SELECT slot_name FROM pg_replication_slots;", style=code_style)
    document.add_paragraph("Expected: pg_wal shrinks at the next checkpoint.")
    bold = document.add_paragraph()
    bold.add_run("When the volume can grow").bold = True
    run_paragraph = document.add_paragraph("Extend the volume with ")
    run_paragraph.add_run("lvextend -r -L +10G /dev/vg0/data").font.name = "Consolas"
    document.add_heading("Verification", level=1)
    document.add_paragraph("1. Confirm that usage is back under 80%.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Mount"
    table.cell(0, 1).text = "Threshold"
    table.cell(1, 0).text = "/var/lib/postgresql"
    table.cell(1, 1).text = "80%"
    document.save(str(path))


def test_docx_runbook(tmp_path: Path) -> None:
    path = tmp_path / "postgres" / "Disk Full.docx"
    path.parent.mkdir()
    build_docx(path)
    runbook = parse_runbook_file(path, tmp_path)
    assert runbook.format == "docx"
    assert runbook.runbook_id == "postgres-disk-full"
    assert runbook.title == "Disk full on a database host"
    assert (runbook.service, runbook.tags) == ("postgresql", ["disk", "postgres"])
    assert runbook.description == "Meaning: The data volume is above 90% used."
    assert phases(runbook) == {"diagnosis": 2, "mitigation": 2, "verification": 1}
    check, largest, drop, extend, confirm = runbook.steps
    assert check.action == "Check which filesystem is full.\n\n```\ndf -h /var/lib/postgresql\n```"
    assert largest.action == "Find the largest directories.\n\n1. Start with pg_wal."
    assert drop.section == "Mitigation > WAL retained by a slot"
    assert (
        drop.condition
        == "If an inactive slot retains WAL (Mitigation of Disk full on a database host: WAL retained by a slot)"
    )
    assert drop.action.endswith(
        "```\nSELECT pg_drop_replication_slot('old_standby');\nSELECT slot_name FROM pg_replication_slots;\n```"
    )
    assert drop.expected_outcome == "pg_wal shrinks at the next checkpoint."
    assert drop.risk_level == "high"
    assert extend.condition == (
        "Mitigation of Disk full on a database host: WAL retained by a slot > When the volume can grow"
    )
    assert extend.action == "Extend the volume with `lvextend -r -L +10G /dev/vg0/data`"
    assert extend.risk_level == "high"
    assert confirm.phase == "verification"
    # a typed "1. " paragraph is a list item; the table attaches to the step as reference material
    assert confirm.action == "Confirm that usage is back under 80%.\n\nMount | Threshold\n/var/lib/postgresql | 80%"


def test_docx_heading_title_and_bullets(tmp_path: Path) -> None:
    document = Document()
    document.add_heading("Cache stale", level=1)
    document.add_heading("Troubleshooting", level=2)
    document.add_paragraph("Check the hit ratio on the dashboard.", style="List Bullet")
    document.add_paragraph("Check the eviction count.", style="List Bullet")
    path = tmp_path / "cache.docx"
    document.save(str(path))
    runbook = parse_runbook_file(path)
    assert runbook.title == "Cache stale"
    assert [(s.phase, s.condition) for s in runbook.steps] == [
        ("diagnosis", "Diagnosis of Cache stale: Troubleshooting"),
        ("diagnosis", "Diagnosis of Cache stale: Troubleshooting"),
    ]


def test_unreadable_docx_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match=r"broken\.docx:1: not a readable \.docx document"):
        parse_runbook_file(path)
