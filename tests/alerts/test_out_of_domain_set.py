"""The out-of-domain evaluation set (eval/out_of_domain.jsonl) is well formed: every line is an alert that the
generic format reads, mapped the way the evaluation readers map it. What retrieval makes of it is measured by
`nocai eval`, not asserted here."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ai_service.alerts.adapters import parse_alerts

SET = Path(__file__).resolve().parents[2] / "eval" / "out_of_domain.jsonl"
ROWS: list[dict[str, Any]] = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]
KINDS = {
    "random_words",
    "other_domain",
    "test_ping",
    "templated",
    "empty",
    "lorem_ipsum",
    "single_char",
    "numbers_only",
    "emoji",
    "non_english",
}


def test_the_set_is_large_varied_and_has_unique_ids() -> None:
    assert len(ROWS) >= 60
    ids = [row["id"] for row in ROWS]
    assert len(set(ids)) == len(ids)
    assert set(Counter(row["kind"] for row in ROWS)) == KINDS
    for row in ROWS:
        assert set(row) == {"id", "summary", "description", "labels", "severity", "kind"}, row["id"]
        assert "runbook" not in row
        assert isinstance(row["labels"], dict) and all(isinstance(v, str) for v in row["labels"].values())


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_every_line_is_a_generic_alert(row: dict[str, Any]) -> None:
    # The evaluation readers' mapping: the title is the summary, else the description's start, else the id.
    title = row["summary"] or row["description"][:120] or row["id"]
    payload = {
        "alert_id": row["id"],
        "title": title,
        "description": row["description"],
        "labels": row["labels"],
        "severity": row["severity"],
    }
    (alert,) = parse_alerts(payload, format="generic")
    assert alert.alert_id == row["id"]
    assert alert.title == title.strip()
    assert alert.labels == row["labels"]
    assert alert.truncated == []
