"""Tests of reading incident exports: the sample, CSV variants, JSON Lines, column mappings, per-row errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ai_service.errors import InputError
from ai_service.knowledge.incidents import (
    ColumnMapping,
    IncidentRecord,
    load_mapping,
    parse_timestamp,
    read_incident_file,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "ai_service" / "knowledge" / "sample" / "incidents.csv"

RAW_HEADER = (
    "number,short_description,description,category,subcategory,cmdb_ci,assignment_group,impact,urgency,priority,"
    "close_code,close_notes,opened_at,resolved_at"
)


def write(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8", bom: bool = False) -> Path:
    path = tmp_path / name
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


# --- the sample ------------------------------------------------------------------------------------------


def test_sample_export_loads_completely() -> None:
    result = read_incident_file(SAMPLE)
    assert result.ok and not result.warnings
    assert len(result.records) == 300
    assert len({record.number for record in result.records}) == 300
    first = result.records[0]
    assert first.number == "INC0010234"
    assert first.category == "Hardware" and first.subcategory == "Disk"
    assert first.impact == "2 - Medium" and first.urgency == "1 - High"
    assert first.opened_at == datetime(2025, 1, 3, 14, 25, 23, tzinfo=UTC)
    assert first.source == str(SAMPLE) and first.line == 2
    assert "linux-disk-full-S1" in first.close_notes
    # Multi-line descriptions keep their lines; the record after one has the right starting line.
    multi = next(record for record in result.records if "\n" in record.description)
    assert multi.description.count("\n") >= 1
    lines = [record.line or 0 for record in result.records]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)


# --- CSV variants ----------------------------------------------------------------------------------------


def test_bom_semicolons_display_headers_and_multiline_fields(tmp_path: Path) -> None:
    text = (
        "Number;Short description;Description;Configuration item;Assignment group;Impact;Urgency;Opened;Resolved;"
        "Close notes\n"
        'INC001;Disk full on web-01;"Line one; with a semicolon\nline two ""quoted""";web-01;Linux Ops;'
        "2 - Medium;1 - High;2025-03-01 10:00:00;2025-03-01 12:30:00;Followed linux-disk-full-S3\n"
        "INC002;Printer jam;;PRN-01;Service Desk;3 - Low;3 - Low;2025-03-02T08:00:00+02:00;;\n"
    )
    path = write(tmp_path, "export.csv", text, bom=True)
    result = read_incident_file(path)
    assert result.ok, result.errors
    first, second = result.records
    assert first.number == "INC001"  # no BOM glued to the first header
    assert first.description == 'Line one; with a semicolon\nline two "quoted"'
    assert first.cmdb_ci == "web-01" and first.assignment_group == "Linux Ops"
    assert first.resolved_at == datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    assert first.close_notes == "Followed linux-disk-full-S3"
    assert second.line == 4  # the first row spans lines 2-3
    assert second.description == "" and second.resolved_at is None
    assert second.opened_at == datetime(2025, 3, 2, 6, 0, tzinfo=UTC)
    assert second.opened_at.utcoffset() == timedelta(hours=2)


def test_header_case_and_spacing_are_ignored(tmp_path: Path) -> None:
    text = " NUMBER ,Short_Description,short description.1, Opened At \nINC9,Something broke,x,2025-01-01 00:00:00\n"
    result = read_incident_file(write(tmp_path, "odd.csv", text))
    assert result.ok
    assert result.records[0].short_description == "Something broke"
    assert result.records[0].opened_at == datetime(2025, 1, 1, tzinfo=UTC)


def test_tab_separated_export(tmp_path: Path) -> None:
    text = "number\tshort_description\tdescription\nINC1\tVPN down\tcannot connect, since 9am\n"
    result = read_incident_file(write(tmp_path, "export.tsv", text))
    assert result.ok
    assert result.records[0].description == "cannot connect, since 9am"


def test_utf16_export_from_excel(tmp_path: Path) -> None:
    text = "Number\tShort description\nINC1\tCaf\u00e9 printer offline\n"
    path = tmp_path / "excel.txt"
    path.write_bytes(text.encode("utf-16"))
    result = read_incident_file(path)
    assert result.records[0].short_description == "Caf\u00e9 printer offline"


# --- per-row errors --------------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_file_line_and_column_and_the_rest_load(tmp_path: Path) -> None:
    text = (
        RAW_HEADER + "\n"
        "INC1,Disk full,,,,,,,,,,,2025-01-01 10:00:00,\n"
        ",No number here,,,,,,,,,,,2025-01-01 10:00:00,\n"
        'INC3,"",,,,,,,,,,,2025-01-01 10:00:00,\n'
        'INC4,Bad date,"multi\nline",,,,,,,,,,yesterday-ish,\n'
        "INC5,Fine again,,,,,,,,,,,2025-01-05 10:00:00,2025-01-05 11:00:00\n"
    )
    path = write(tmp_path, "rows.csv", text)
    result = read_incident_file(path)
    assert [record.number for record in result.records] == ["INC1", "INC5"]
    assert result.records[1].line == 7  # after the two-line row 5-6
    messages = [str(error) for error in result.errors]
    assert len(messages) == 3
    assert messages[0].startswith(f"{path}:3: ") and "'number' is empty" in messages[0]
    assert messages[1].startswith(f"{path}:4: ") and "'short_description' is empty" in messages[1]
    assert messages[2].startswith(f"{path}:5: ") and "'opened_at'" in messages[2] and "yesterday-ish" in messages[2]
    assert all("fix:" in message for message in messages)
    assert all(isinstance(error, InputError) for error in result.errors)


def test_display_column_name_is_named_in_row_errors(tmp_path: Path) -> None:
    text = "Number,Short description,Opened\nINC1,x,31.02.2025\n"
    result = read_incident_file(write(tmp_path, "d.csv", text))
    assert "column 'Opened' (opened_at)" in str(result.errors[0])


def test_duplicate_numbers_last_row_wins_with_a_warning(tmp_path: Path) -> None:
    text = "number,short_description\nINC1,first text\nINC2,other\nINC1,second text\n"
    path = write(tmp_path, "dup.csv", text)
    result = read_incident_file(path)
    assert result.ok
    assert [(record.number, record.short_description) for record in result.records] == [
        ("INC2", "other"),
        ("INC1", "second text"),
    ]
    assert result.warnings == [f"{path}:4: number INC1 already appeared on line 2; the row on line 4 is kept"]


def test_row_with_more_fields_than_the_header_is_an_error(tmp_path: Path) -> None:
    text = "number,short_description\nINC1,a,b\nINC2,ok\n"
    result = read_incident_file(write(tmp_path, "wide.csv", text))
    assert [record.number for record in result.records] == ["INC2"]
    assert ":2: the row has 3 fields but the header has 2" in str(result.errors[0])


def test_missing_required_column_fails_the_file_with_a_mapping_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "jira.csv", "Key,Summary\nOPS-1,Disk full\n")
    with pytest.raises(InputError) as caught:
        read_incident_file(path)
    assert f"{path}:1: no column for number, short_description" in str(caught.value)
    assert "mapping" in str(caught.value.hint)


def test_unbalanced_quote_and_empty_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        read_incident_file(write(tmp_path, "empty.csv", "\n\n"))
    with pytest.raises(InputError, match="not UTF-8") as caught:
        read_incident_file(
            write(tmp_path, "latin.csv", "number,short_description\nINC1,caf\u00e9\n", encoding="cp1252")
        )
    assert "iconv" in str(caught.value.hint)


# --- JSON Lines ------------------------------------------------------------------------------------------


def test_json_lines_with_bad_lines(tmp_path: Path) -> None:
    text = (
        '{"number": "INC1", "short_description": "Disk full", "impact": "1 - High", '
        '"opened_at": "2025-02-01T10:00:00Z"}\n'
        "\n"
        '{"Number": 42, "Short description": "Printer", "cmdb_ci": null}\n'
        "{not json}\n"
        '["an", "array"]\n'
        '{"number": "INC5"}\n'
    )
    path = write(tmp_path, "incidents.jsonl", text)
    result = read_incident_file(path)
    assert [(record.number, record.line) for record in result.records] == [("INC1", 1), ("42", 3)]
    assert result.records[0].opened_at == datetime(2025, 2, 1, 10, tzinfo=UTC)
    assert result.records[1].cmdb_ci is None
    messages = [str(error) for error in result.errors]
    assert messages[0].startswith(f"{path}:4:2: not valid JSON")
    assert messages[1].startswith(f"{path}:5: expected a JSON object, got an array")
    assert messages[2].startswith(f"{path}:6: ") and "field 'short_description' is missing" in messages[2]


def test_json_array_is_refused_with_a_conversion_hint(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="JSON array") as caught:
        read_incident_file(write(tmp_path, "all.json", '[{"number": "1", "short_description": "x"}]'))
    assert "jq" in str(caught.value.hint)


# --- column mappings -------------------------------------------------------------------------------------


JIRA_EXPORT = (
    "Issue key,Summary,Description,Priority,Component/s,Assignee Team,Created,Resolved,Resolution comment\n"
    'OPS-101,Checkout pods crash looping,"CrashLoopBackOff after deploy\nsee logs",High,checkout,Platform,'
    "12/Mar/25 10:15 AM,12/Mar/25 11:05 AM,Rolled back per k8s-pod-crashloop-S5\n"
    "OPS-102,Disk full on batch host,/var at 99%,Medium,batch,Linux Ops,13/Mar/25 9:00 PM,,\n"
)


def test_mapping_given_as_a_dict(tmp_path: Path) -> None:
    path = write(tmp_path, "jira.csv", JIRA_EXPORT)
    mapping = {
        "number": "Issue key",
        "short_description": "summary",  # compared case-insensitively
        "urgency": "Priority",
        "cmdb_ci": "Component/s",
        "assignment_group": "Assignee Team",
        "opened_at": "Created",
        "resolved_at": "Resolved",
        "close_notes": "Resolution comment",
    }
    result = read_incident_file(path, mapping=mapping)
    assert result.ok, result.errors
    first, second = result.records
    assert first.number == "OPS-101" and first.urgency == "High" and first.cmdb_ci == "checkout"
    assert first.description == "CrashLoopBackOff after deploy\nsee logs"  # found by its usual name
    assert first.opened_at == datetime(2025, 3, 12, 10, 15, tzinfo=UTC)
    assert second.opened_at == datetime(2025, 3, 13, 21, 0, tzinfo=UTC)
    assert first.close_notes == "Rolled back per k8s-pod-crashloop-S5"


def test_mapping_yaml_file_with_date_formats_and_timezone(tmp_path: Path) -> None:
    export = "Incident ID,Title,Created On\nPD-1,Database down,03/04/2025 10:00\nPD-2,Second,not a date\n"
    path = write(tmp_path, "pagerduty.csv", export)
    mapping_file = write(
        tmp_path,
        "pagerduty.yaml",
        "# PagerDuty incidents export\n"
        "columns:\n"
        "  number: Incident ID\n"
        "  short_description: Title\n"
        "  opened_at: Created On\n"
        "date_formats: ['%d/%m/%Y %H:%M']\n"
        "timezone: Europe/Paris\n",
    )
    result = read_incident_file(path, mapping=mapping_file)
    assert [record.number for record in result.records] == ["PD-1"]
    opened = result.records[0].opened_at
    assert opened is not None and opened.utcoffset() == timedelta(hours=2)  # 3 April: summer time
    assert opened.astimezone(UTC) == datetime(2025, 4, 3, 8, 0, tzinfo=UTC)
    assert f"{path}:3: column 'Created On' (opened_at): cannot read the date-time 'not a date'" in str(result.errors[0])


def test_ambiguous_numeric_dates_need_a_format(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "number,short_description,opened_at\nINC1,x,03/04/2025 10:00\n")
    result = read_incident_file(path)
    assert not result.records
    assert "date_formats" in str(result.errors[0])


def test_mapping_errors_are_explained(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="did you mean 'short_description'"):
        load_mapping({"number": "Key", "short_descripton": "Summary"})
    with pytest.raises(InputError, match="unknown timezone"):
        load_mapping({"columns": {"number": "Key"}, "timezone": "Mars/Olympus"})
    with pytest.raises(InputError, match="unknown key"):
        load_mapping({"columns": {"number": "Key"}, "delimiter": ";"})
    bad_yaml = write(tmp_path, "bad.yaml", "columns:\n  number: [Key\n")
    with pytest.raises(InputError, match=r"bad\.yaml:\d+: the column mapping is not valid YAML"):
        load_mapping(bad_yaml)
    path = write(tmp_path, "jira.csv", JIRA_EXPORT)
    with pytest.raises(InputError, match="which the header does not have \\(did you mean 'Summary'\\?\\)"):
        read_incident_file(path, mapping={"number": "Issue key", "short_description": "Sumary"})


def test_flat_and_nested_mappings_are_equivalent() -> None:
    flat = load_mapping({"number": "Key", "short_description": "Summary"})
    nested = load_mapping({"columns": {"number": "Key", "short_description": "Summary"}})
    assert flat == nested == ColumnMapping(columns={"number": "Key", "short_description": "Summary"})


# --- records and timestamps ------------------------------------------------------------------------------


def test_naive_datetimes_become_utc() -> None:
    record = IncidentRecord(number="1", short_description="x", opened_at=datetime(2025, 1, 1, 12))
    assert record.opened_at == datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-03 14:25:23", datetime(2025, 1, 3, 14, 25, 23, tzinfo=UTC)),
        ("2025-01-03T14:25:23Z", datetime(2025, 1, 3, 14, 25, 23, tzinfo=UTC)),
        ("2025-01-03T14:25:23.5-05:00", datetime(2025, 1, 3, 14, 25, 23, 500000, tzinfo=timezone(timedelta(hours=-5)))),
        ("2025/01/03 14:25", datetime(2025, 1, 3, 14, 25, tzinfo=UTC)),
        ("03/Jan/25 2:25 PM", datetime(2025, 1, 3, 14, 25, tzinfo=UTC)),
    ],
)
def test_timestamp_formats(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize("text", ["01/03/2025 10:00", "20250103", "yesterday", ""])
def test_unreadable_or_ambiguous_timestamps(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)
