"""The knowledge base over HTTP: hybrid search with provenance, counts, and uploads of runbooks and tickets."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, check_error

RUNBOOK = b"""---
runbook_id: api-widget-queue
title: Widget queue stuck behind the frobnicator
service: widget
component: frobnicator
---

# Widget queue stuck behind the frobnicator

## Diagnosis

1. Check how deep the frobnicator queue is.

   ```shell
   frobctl queue depth
   ```

## Mitigation

1. Restart the frobnicator.

   ```shell
   systemctl restart frobnicator
   ```
"""

TICKETS = b"""\
number,short_description,description,category,subcategory,cmdb_ci,assignment_group,impact,urgency,priority,\
close_code,close_notes,opened_at,resolved_at
INC9000001,frobnicator queue stuck on widget-01,the widget frobnicator queue stopped draining,Software,Queue,\
widget-01,Widget Team,2 - Medium,2 - Medium,3 - Moderate,Solved (Work Around),Restarted the frobnicator per \
api-widget-queue-S2,2026-01-02 03:04:05,2026-01-02 04:04:05
INC9000002,frobnicator queue stuck on widget-02,the widget frobnicator queue stopped draining again,Software,Queue,\
widget-02,Widget Team,2 - Medium,2 - Medium,3 - Moderate,Solved (Work Around),Restarted the frobnicator per \
api-widget-queue-S2,2026-01-03 03:04:05,2026-01-03 04:04:05
"""


def _search(api: Api, **params: Any) -> dict[str, Any]:
    response = api.get("/api/v1/knowledge/search", "viewer", params=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _upload(api: Api, kind: str, *files: tuple[str, bytes]) -> Any:
    return api.post(f"/api/v1/knowledge/{kind}", files=[("files", (name, body, "text/plain")) for name, body in files])


def _stats(api: Api) -> dict[str, Any]:
    stats: dict[str, Any] = api.get("/api/v1/knowledge/stats", "viewer").json()
    return stats


def test_search_finds_runbooks_steps_and_signatures_with_provenance(api: Api) -> None:
    result = _search(api, q="FATAL: sorry, too many clients already on pg-billing-01")
    assert result["runbooks"][0]["runbook_id"] == "pg-connection-exhaustion"
    assert result["steps"] and result["signatures"] and result["abstention"]["abstained"] is False
    for hit in result["runbooks"] + result["steps"]:
        assert {"vector", "fulltext", "rrf"} <= set(hit["provenance"])
    for kind, kept in (("runbooks", "runbooks"), ("steps", "steps"), ("signatures", "signatures")):
        only = _search(api, q="too many clients already", kind=kind)
        assert only[kept], kind
        assert all(only[other] == [] for other in ("runbooks", "steps", "signatures") if other != kept), kind
    assert len(_search(api, q="disk full", kind="steps", limit=2)["steps"]) == 2


def test_search_filters_by_service_and_risk(api: Api) -> None:
    hosts = _search(api, q="disk almost full", service="linux-host", kind="runbooks")
    assert hosts["runbooks"] and {r["service"] for r in hosts["runbooks"]} == {"linux-host"}
    safe = _search(api, q="disk almost full", kind="steps", max_risk="low", limit=20)
    assert safe["steps"] and {s["risk_level"] for s in safe["steps"]} == {"low"}
    nothing = _search(api, q="disk almost full", service="no-such-service")
    assert nothing["runbooks"] == [] and nothing["steps"] == []


def test_search_needs_a_query(api: Api) -> None:
    check_error(api.get("/api/v1/knowledge/search", "viewer"), 422, "invalid_request", "q")
    check_error(api.get("/api/v1/knowledge/search?q=", "viewer"), 422, "invalid_request", "q")
    check_error(api.get("/api/v1/knowledge/search", "viewer", params={"q": "x" * 2001}), 422, "invalid_request", "q")


def test_stats_count_the_sample_knowledge_base(api: Api) -> None:
    stats = _stats(api)
    assert (stats["runbooks"], stats["historical_incidents"]) == (12, 300)
    assert stats["steps"] == sum(stats["steps_by_phase"].values()) == sum(stats["steps_by_risk"].values())
    assert stats["steps_without_embedding"] == 0 and stats["signatures"] > 0


def test_an_uploaded_runbook_is_searchable_and_an_unchanged_upload_changes_nothing(api: Api) -> None:
    before = _stats(api)
    response = _upload(api, "runbooks", ("widget-queue.md", RUNBOOK))
    assert response.status_code == 200, response.text
    report = response.json()
    (outcome,) = report["files"]
    assert (outcome["path"], outcome["runbook_id"], outcome["status"], outcome["steps_new"]) == (
        "widget-queue.md",
        "api-widget-queue",
        "new",
        2,
    )
    assert report["texts_embedded"] > 0
    after = _stats(api)
    assert (after["runbooks"], after["steps"]) == (before["runbooks"] + 1, before["steps"] + 2)
    hits = _search(api, q="frobnicator queue stuck", kind="steps")["steps"]
    assert [h["step_id"] for h in hits[:2]] == ["api-widget-queue-S1", "api-widget-queue-S2"]

    again = _upload(api, "runbooks", ("widget-queue.md", RUNBOOK)).json()
    assert again["files"][0]["status"] == "unchanged" and again["texts_embedded"] == 0
    assert _stats(api) == after
    # An edit updates the same runbook in place.
    edited = RUNBOOK.replace(b"Restart the frobnicator.", b"Restart the frobnicator service.")
    changed = _upload(api, "runbooks", ("widget-queue.md", edited)).json()
    assert (changed["files"][0]["status"], changed["files"][0]["steps_updated"]) == ("updated", 1)
    assert _stats(api)["steps"] == after["steps"]


BAD_RUNBOOKS = [
    ("widget queue.md", RUNBOOK, "file name"),
    (".hidden.md", RUNBOOK, "file name"),
    ("x" * 160 + ".md", RUNBOOK, "file name"),
    ("widget.exe", RUNBOOK, "not a runbook file"),
    ("widget.txt", RUNBOOK, "not a runbook file"),
    ("widget.md", RUNBOOK.replace(b"Restart the", "Red\u00e9marrer le".encode("latin-1")), "UTF-8"),
]


def test_a_bad_runbook_upload_is_refused_and_changes_nothing(api: Api) -> None:
    before = _stats(api)
    for name, body, fragment in BAD_RUNBOOKS:
        check_error(_upload(api, "runbooks", (name, body)), 422, "invalid_input", fragment)
    assert _stats(api) == before


def test_an_upload_needs_files(api: Api) -> None:
    check_error(api.post("/api/v1/knowledge/runbooks", data={"note": "no file"}), 422, "invalid_request", "files")
    check_error(api.post("/api/v1/knowledge/incidents"), 422, "invalid_request", "files")


def test_uploaded_tickets_grow_the_signatures_and_an_unchanged_upload_changes_nothing(api: Api) -> None:
    before = _stats(api)
    response = _upload(api, "incidents", ("tickets.csv", TICKETS))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows_read"], report["new"], report["errors"]) == (2, 2, [])
    assert report["signatures_created"] + report["signatures_grown"] >= 1
    after = _stats(api)
    assert after["historical_incidents"] == before["historical_incidents"] + 2
    again = _upload(api, "incidents", ("tickets.csv", TICKETS)).json()
    assert (again["new"], again["updated"], again["unchanged"], again["texts_embedded"]) == (0, 0, 2, 0)
    assert _stats(api) == after
    check_error(_upload(api, "incidents", ("tickets.xlsx", TICKETS)), 422, "invalid_input", "not a ticket export")


def test_an_unreadable_ticket_export_is_refused(api: Api) -> None:
    before = _stats(api)
    latin = TICKETS.replace(b"widget-01", "widget-\u00e9".encode("latin-1"))
    check_error(_upload(api, "incidents", ("latin.csv", latin)), 422, "invalid_input", "UTF-8")
    check_error(_upload(api, "incidents", ("other.csv", b"key,summary\nA-1,x\n")), 422, "invalid_input", "number")
    assert _stats(api) == before
