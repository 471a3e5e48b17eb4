"""Reading historical incident exports: ServiceNow CSV (raw or display headers), JSON Lines, or any CSV
through a column mapping, into :class:`IncidentRecord` objects.

:func:`read_incident_file` reads one file and returns a :class:`ReadResult`: the records that loaded, one
:class:`~ai_service.errors.InputError` per row that did not (file, line and column named, with a fix), and
warnings (duplicate ticket numbers: the later row wins). A problem with the whole file - unreadable, no
header, a required column absent - raises :class:`InputError` instead, since no row could load.

CSV files may start with a byte-order mark, use ``,`` ``;`` tab or ``|`` as delimiter, hold quoted multi-line
fields, and name their columns as ServiceNow's table export does (``short_description``), as its list export
does (``Short description``, ``Configuration item``, ``Opened``), or in any case and spacing. Exports from
other tools (Jira, PagerDuty, ...) are read through a :class:`ColumnMapping`, given as a dict or a YAML file;
``docs/incident-import.md`` documents the format.

Timestamps become timezone-aware datetimes; a timestamp without an offset is taken to be in the mapping's
``timezone`` (UTC unless stated).

What this module must never do: touch the database, the network or an embedding model; guess an ambiguous
day/month order (``03/04/2025``) instead of asking for a ``date_formats`` entry; or drop a malformed row
silently - every row that does not load is reported.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ai_service.errors import InputError
from ai_service.knowledge.parsers.schema import yaml_problem

__all__ = [
    "FIELDS",
    "REQUIRED_FIELDS",
    "ColumnMapping",
    "IncidentRecord",
    "ReadResult",
    "load_mapping",
    "parse_timestamp",
    "read_incident_file",
]

#: The fields of an incident record, in ServiceNow's export order.
FIELDS: tuple[str, ...] = (
    "number",
    "short_description",
    "description",
    "category",
    "subcategory",
    "cmdb_ci",
    "assignment_group",
    "impact",
    "urgency",
    "priority",
    "close_code",
    "close_notes",
    "opened_at",
    "resolved_at",
)
REQUIRED_FIELDS: tuple[str, ...] = ("number", "short_description")
_DATE_FIELDS = frozenset({"opened_at", "resolved_at"})
_TEXT_FIELDS = frozenset({"description", "close_notes"})

IncidentFormat = Literal["csv", "jsonl"]
_SUFFIX_FORMATS: dict[str, IncidentFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_DELIMITERS = ",;\t|"


class IncidentRecord(BaseModel):
    """One historical incident ticket. Text fields are ``""`` and the others ``None`` when the export has no
    value; ``source`` and ``line`` say where the record was read from (the first line of a multi-line row)."""

    model_config = ConfigDict(frozen=True)

    number: str = Field(min_length=1, description="Ticket number, e.g. INC0010234; unique within a source.")
    short_description: str = Field(min_length=1)
    description: str = ""
    category: str | None = None
    subcategory: str | None = None
    cmdb_ci: str | None = Field(default=None, description="Configuration item (host, service, application).")
    assignment_group: str | None = None
    impact: str | None = Field(default=None, description="As exported, e.g. '2 - Medium'.")
    urgency: str | None = Field(default=None, description="As exported, e.g. '1 - High'.")
    priority: str | None = None
    close_code: str | None = None
    close_notes: str = ""
    opened_at: datetime | None = None
    resolved_at: datetime | None = None
    source: str | None = Field(default=None, description="The file the record was read from.")
    line: int | None = Field(default=None, description="1-based line of the row in that file.")

    @field_validator("opened_at", "resolved_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


@dataclass
class ReadResult:
    """What one file gave: the records that loaded (in file order), the rows that did not, and warnings."""

    records: list[IncidentRecord] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- column names ----------------------------------------------------------------------------------------


def header_key(name: str) -> str:
    """A column name folded for comparison: lower case, runs of spaces/``_``/``-``/``.`` as one ``_``."""
    return re.sub(r"[\s_.\-]+", "_", name.strip().lstrip("\ufeff").casefold()).strip("_")


# ServiceNow's list-export (display) names and a few common synonyms, by folded name.
_ALIASES: dict[str, str] = {
    "incident": "number",
    "incident_number": "number",
    "short_desc": "short_description",
    "configuration_item": "cmdb_ci",
    "ci": "cmdb_ci",
    "opened": "opened_at",
    "created": "opened_at",
    "sys_created_on": "opened_at",
    "resolved": "resolved_at",
    "closed_at": "resolved_at",
    "resolution_code": "close_code",
    "resolution_notes": "close_notes",
}


def _default_columns(header: Iterable[str]) -> dict[str, str]:
    """field -> the header column that holds it, by exact folded name first, then by alias."""
    columns: dict[str, str] = {}
    folded = [(header_key(name), name) for name in header]
    for key, name in folded:
        if key in FIELDS and key not in columns:
            columns[key] = name
    for key, name in folded:
        target = _ALIASES.get(key)
        if target and target not in columns:
            columns[target] = name
    return columns


# --- the mapping -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """How to read an export whose columns are not ServiceNow's. See ``docs/incident-import.md``.

    ``columns`` maps a record field to the export's column name (compared case- and space-insensitively);
    fields not named are found by their usual ServiceNow names. ``date_formats`` are ``strptime`` formats tried,
    in order, before the built-in ones; ``timezone`` is the IANA zone of timestamps that carry no offset.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ()
    timezone: str = "UTC"

    def tz(self) -> tzinfo:
        return UTC if self.timezone.upper() == "UTC" else ZoneInfo(self.timezone)


_MAPPING_KEYS = ("columns", "date_formats", "timezone")


def load_mapping(mapping: ColumnMapping | Mapping[str, Any] | str | Path) -> ColumnMapping:
    """A :class:`ColumnMapping` from a dict, a YAML file, or an existing mapping (returned as is).

    Two shapes are accepted: the flat ``{number: "Key", short_description: "Summary", ...}``, or
    ``{columns: {...}, date_formats: [...], timezone: "Europe/Paris"}``.
    """
    if isinstance(mapping, ColumnMapping):
        return mapping
    where = "column mapping"
    if isinstance(mapping, str | Path):
        path = Path(mapping)
        where = str(path)
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read the column mapping: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path}: the column mapping is not UTF-8 text (byte {exc.start})", hint="save it as UTF-8"
            ) from exc
        except RecursionError:
            raise InputError(
                f"{path}: the column mapping is nested too deeply to read",
                hint="write one 'field: Column name' per line (see docs/incident-import.md)",
            ) from None
        except yaml.YAMLError as exc:
            line, _, problem, _ = yaml_problem(exc)
            at = f"{path}:{line}" if line is not None else str(path)
            raise InputError(
                f"{at}: the column mapping is not valid YAML: {problem}",
                hint="write one 'field: Column name' per line; quote column names that contain ':' or '#'",
            ) from exc
    else:
        data = mapping
    if not isinstance(data, Mapping):
        raise InputError(
            f"{where}: a column mapping must be a mapping of field names to column names",
            hint="e.g. {number: Key, short_description: Summary}; see docs/incident-import.md",
        )
    if "columns" in data:
        unknown = [key for key in data if key not in _MAPPING_KEYS]
        if unknown:
            raise InputError(
                f"{where}: unknown key(s) {', '.join(map(repr, unknown))} in the column mapping",
                hint=f"the top-level keys are {', '.join(_MAPPING_KEYS)}",
            )
        columns, formats, timezone = data.get("columns") or {}, data.get("date_formats") or [], data.get("timezone")
    else:
        columns, formats, timezone = data, [], None
    return ColumnMapping(
        columns=_checked_columns(columns, where),
        date_formats=_checked_formats(formats, where),
        timezone=_checked_timezone(timezone, where),
    )


def _checked_columns(columns: Any, where: str) -> dict[str, str]:
    if not isinstance(columns, Mapping):
        raise InputError(f"{where}: 'columns' must map field names to column names")
    checked: dict[str, str] = {}
    for name, column in columns.items():
        key = header_key(str(name))
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.6)
            raise InputError(
                f"{where}: {name!r} is not an incident field" + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"the fields are {', '.join(FIELDS)}",
            )
        if not isinstance(column, str) or not column.strip():
            raise InputError(f"{where}: the column for {key!r} must be a non-empty column name, got {column!r}")
        checked[key] = column
    return checked


def _checked_formats(formats: Any, where: str) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not all(isinstance(item, str) and "%" in item for item in formats):
        raise InputError(
            f"{where}: 'date_formats' must be a list of strptime formats",
            hint="e.g. date_formats: ['%d/%m/%Y %H:%M']",
        )
    return tuple(formats)


def _checked_timezone(timezone: Any, where: str) -> str:
    if timezone is None:
        return "UTC"
    if not isinstance(timezone, str):
        raise InputError(f"{where}: 'timezone' must be an IANA zone name such as Europe/Paris")
    if timezone.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"{where}: unknown timezone {timezone!r}", hint="use an IANA zone name such as Europe/Paris or UTC"
        ) from exc
    return timezone


# --- timestamps ------------------------------------------------------------------------------------------

# Unambiguous formats tried after ISO 8601: ServiceNow's system format is ISO-like; Jira and others spell the
# month. Numeric day/month orders (03/04/2025) are ambiguous and need a date_formats entry.
_BUILTIN_DATE_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y.%m.%d %H:%M:%S",
    "%d/%b/%y %I:%M %p",
    "%d/%b/%Y %I:%M %p",
    "%d/%b/%y %H:%M",
    "%d-%b-%Y %H:%M:%S",
    "%d %b %Y %H:%M:%S",
    "%d %b %Y %H:%M",
    "%b %d, %Y %I:%M %p",
    "%b %d, %Y %H:%M:%S",
)


def parse_timestamp(value: str, *, formats: Iterable[str] = (), tz: tzinfo = UTC) -> datetime:
    """An aware datetime from ``value``: ``formats`` first, then ISO 8601, then a few unambiguous formats.

    A value without an offset is taken to be in ``tz``. Raises ``ValueError`` when nothing fits.
    """
    text = value.strip()
    parsed: datetime | None = None
    for fmt in (*formats, None, *_BUILTIN_DATE_FORMATS):
        try:
            parsed = _iso(text) if fmt is None else datetime.strptime(text, fmt)
        except ValueError:
            continue
        break
    if parsed is None:
        raise ValueError(f"{value!r} is not a date-time nocai can read")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _iso(text: str) -> datetime:
    if not re.match(r"\d{4}-\d{2}-\d{2}", text):  # fromisoformat also takes 20250103 and week dates
        raise ValueError(text)
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)


# --- reading ---------------------------------------------------------------------------------------------


def read_incident_file(
    path: str | Path,
    *,
    mapping: ColumnMapping | Mapping[str, Any] | str | Path | None = None,
    fmt: IncidentFormat | None = None,
) -> ReadResult:
    """Read one export. ``fmt`` is taken from the extension when not given (``.jsonl``/``.ndjson``/``.json``:
    JSON Lines, anything else CSV). ``mapping`` is a :class:`ColumnMapping`, a dict or a YAML file path.

    Rows without a number or a short description, or with a timestamp that cannot be read, become errors
    naming the file, line and column; the other rows still load. When a number repeats, the later row wins
    and a warning names both lines.
    """
    path = Path(path)
    column_mapping = load_mapping(mapping) if mapping is not None else ColumnMapping()
    text = _read_text(path)
    kind = fmt or _SUFFIX_FORMATS.get(path.suffix.lower(), "csv")
    rows = _jsonl_rows(text, path, column_mapping) if kind == "jsonl" else _csv_rows(text, path, column_mapping)
    return _build(rows, path, column_mapping)


@dataclass
class _Row:
    line: int
    values: dict[str, str]  # field -> raw value, for the fields the file has
    columns: dict[str, str]  # field -> the column name it came from (for messages)
    error: InputError | None = None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the incident file: {exc.strerror or exc}") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: the file is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="export as UTF-8 (ServiceNow: System Properties > glide.export.csv.charset = UTF-8), or convert "
            "it: iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv",
        ) from exc


def _detect_delimiter(text: str) -> str:
    """The delimiter of the header line: the Sniffer's guess if it splits out known columns, else the
    candidate that splits out the most."""
    header = text.split("\n", 1)[0]

    def known(delimiter: str) -> int:
        names = next(csv.reader([header], delimiter=delimiter), [])
        return len(_default_columns(names)) if len(names) > 1 else 0

    try:
        sniffed = csv.Sniffer().sniff(header, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ","
    best = max(_DELIMITERS, key=lambda delimiter: (known(delimiter), delimiter == sniffed))
    return sniffed if known(sniffed) >= known(best) else best


def _csv_rows(text: str, path: Path, mapping: ColumnMapping) -> Iterator[_Row]:
    if not text.strip():
        raise InputError(f"{path}: the file is empty", hint="export the incidents again, with a header row")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_detect_delimiter(text), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InputError(f"{path}:1: cannot read the CSV header: {exc}") from exc
    columns = _resolve_columns(header, mapping, path)
    index = {name: position for position, name in enumerate(header)}
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            error = InputError(
                f"{path}:{line}: the CSV is malformed from this line on ({exc}); the rows after it were not read",
                hint="look for an unbalanced double quote on that line; quotes inside a field must be doubled",
            )
            yield _Row(line, {}, {}, error)
            return
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: cells[index[column]] for name, column in columns.items() if index[column] < len(cells)}
        row = _Row(start, values, columns)
        if len(cells) > len(header):
            row.error = InputError(
                f"{path}:{start}: the row has {len(cells)} fields but the header has {len(header)}",
                hint="quote fields that contain the delimiter, or check that the delimiter is the header's",
            )
        yield row


def _resolve_columns(header: list[str], mapping: ColumnMapping, path: Path) -> dict[str, str]:
    """field -> header column, applying the mapping; raises when a required field has no column."""
    by_key = {header_key(name): name for name in reversed(header)}
    columns = _default_columns(header)
    for name, wanted in mapping.columns.items():
        found = by_key.get(header_key(wanted))
        if found is None:
            close = difflib.get_close_matches(wanted, header, n=1, cutoff=0.6)
            raise InputError(
                f"{path}:1: the mapping reads {name!r} from column {wanted!r}, which the header does not have"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"the header's columns are: {', '.join(header)}",
            )
        columns[name] = found
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise InputError(
            f"{path}:1: no column for {', '.join(missing)} (the header has: {', '.join(header)})",
            hint="name the columns in a mapping, e.g. --mapping with {number: Key, short_description: Summary}; "
            "see docs/incident-import.md",
        )
    return columns


def _jsonl_rows(text: str, path: Path, mapping: ColumnMapping) -> Iterator[_Row]:
    if text.lstrip().startswith("["):
        raise InputError(
            f"{path}: the file is a JSON array, not JSON Lines (one object per line)",
            hint=f"convert it: jq -c '.[]' {path.name} > {path.stem}.jsonl",
        )
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            # strict=False: a raw tab or control character inside a string is read as what it is (a NUL is
            # then refused with its column, as in a CSV).
            item = json.loads(raw, strict=False)
        except json.JSONDecodeError as exc:
            error = InputError(
                f"{path}:{line}:{exc.colno}: not valid JSON: {exc.msg}",
                hint="each line must be one complete JSON object",
            )
            yield _Row(line, {}, {}, error)
            continue
        except RecursionError:
            error = InputError(
                f"{path}:{line}: the JSON is nested too deeply to read",
                hint="each line must be one flat JSON object with the incident's fields as keys",
            )
            yield _Row(line, {}, {}, error)
            continue
        if not isinstance(item, dict):
            error = InputError(
                f"{path}:{line}: expected a JSON object, got {_json_type(item)}",
                hint="each line must be one JSON object with the incident's fields as keys",
            )
            yield _Row(line, {}, {}, error)
            continue
        yield _json_row(line, item, mapping)


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _json_row(line: int, item: dict[str, Any], mapping: ColumnMapping) -> _Row:
    """Resolve one object's keys to fields the way a CSV header is resolved (keys may vary per line)."""
    raw = {str(key): _json_text(value) for key, value in item.items()}
    by_key = {header_key(key): key for key in reversed(raw)}
    columns = _default_columns(raw)
    for name, wanted in mapping.columns.items():
        found = by_key.get(header_key(wanted))
        if found is not None:
            columns[name] = found
        else:
            columns.pop(name, None)
    return _Row(line, {name: raw[key] for name, key in columns.items()}, columns)


def _json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _build(rows: Iterable[_Row], path: Path, mapping: ColumnMapping) -> ReadResult:
    result = ReadResult()
    kept: dict[str, IncidentRecord] = {}
    tz = mapping.tz()
    for row in rows:
        if row.error is not None:
            result.errors.append(row.error)
            continue
        record = _record(row, path, mapping.date_formats, tz, result.errors)
        if record is None:
            continue
        previous = kept.pop(record.number, None)
        if previous is not None:
            result.warnings.append(
                f"{path}:{record.line}: number {record.number} already appeared on line {previous.line}; "
                f"the row on line {record.line} is kept"
            )
        kept[record.number] = record
    result.records = sorted(kept.values(), key=lambda record: record.line or 0)
    return result


def _column_label(row: _Row, name: str) -> str:
    column = row.columns.get(name)
    if column is None:
        return f"field {name!r}"
    return f"column {column!r}" if header_key(column) == name else f"column {column!r} ({name})"


# What PostgreSQL text cannot hold: NUL, and UTF-16 surrogates left unpaired (a JSON "\\ud800" alone).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_name(raw: str) -> str:
    return "a NUL byte (0x00)" if "\x00" in raw else "an unpaired UTF-16 surrogate"


def _record(
    row: _Row, path: Path, formats: tuple[str, ...], tz: tzinfo, errors: list[InputError]
) -> IncidentRecord | None:
    data: dict[str, Any] = {"source": str(path), "line": row.line}
    problems: list[str] = []
    unstorable = [name for name, raw in row.values.items() if _UNSTORABLE.search(raw)]
    if unstorable:
        what = _unstorable_name("".join(row.values[name] for name in unstorable))
        labels = ", ".join(_column_label(row, name) for name in unstorable)
        problems.append(f"{labels} hold{'s' if len(unstorable) == 1 else ''} {what}, which PostgreSQL cannot store")
    for name in FIELDS:
        raw = row.values.get(name, "")
        value = raw.strip()
        if name in REQUIRED_FIELDS and not value:
            problems.append(f"{_column_label(row, name)} is {'empty' if name in row.columns else 'missing'}")
        elif name in _DATE_FIELDS:
            if value:
                try:
                    data[name] = parse_timestamp(value, formats=formats, tz=tz)
                except ValueError:
                    problems.append(f"{_column_label(row, name)}: cannot read the date-time {value!r}")
        elif name in _TEXT_FIELDS:
            data[name] = raw.strip("\r\n").strip()
        elif value:
            data[name] = value
    if problems:
        hints = []
        if any(problem.endswith(("empty", "missing")) for problem in problems):
            hints.append("every incident needs a number and a short description")
        if any("cannot store" in problem for problem in problems):
            hints.append("remove the NUL bytes (tr -d '\\000' < in.csv > out.csv) or export the file again as UTF-8")
        if any("date-time" in problem for problem in problems):
            hints.append(
                "write it as YYYY-MM-DD HH:MM:SS, or add the export's format to date_formats in the mapping "
                "(see docs/incident-import.md)"
            )
        errors.append(InputError(f"{path}:{row.line}: " + "; ".join(problems), hint="; ".join(hints)))
        return None
    return IncidentRecord(**data)
