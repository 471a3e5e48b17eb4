"""The feedback API: a responder's word on a triage (confirm, correct, wrong runbook), on a plan (accept, edit,
reject) and on a step (fixed it, did nothing, made it worse, skipped), stored with who, when, the notes and the
difference from what nocai proposed; closing an incident by hand; draft runbooks kept and published. Who may do
each, and bad input refused with nothing stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, check_error, sample

#: The sample PostgreSQL alert: triaged as connection_limit (DBA Team, high) with pg-connection-exhaustion's plan.
POSTGRES = "am_postgres_connections.json"
CHOSEN_RUNBOOK = "pg-connection-exhaustion"
#: An alert nothing in the sample knowledge base matches.
UNMATCHED = {
    "alert_id": "fin-1",
    "title": "Quarterly budget spreadsheet formula broken in the finance share",
    "description": "Cells show #REF! after the template update",
    "labels": {"team": "finance"},
}
MUTATING = ("feedback/triage", "feedback/plan", "feedback/steps", "close", "drafts")


def _incident(api: Api, body: bytes | Any = None, fmt: str | None = "alertmanager", *, triage: bool = True) -> str:
    """The id of the incident one alert opens (triaged unless told otherwise)."""
    response = api.send(sample(POSTGRES) if body is None else body, fmt)
    assert response.status_code == 202, response.text
    (receipt,) = response.json()["alerts"]
    assert receipt["outcome"] == "new", receipt
    if triage:
        assert api.triage_now() == 1
    incident_id: str = receipt["incident_id"]
    return incident_id


def _detail(api: Api, incident_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = api.get(f"/api/v1/incidents/{incident_id}", "viewer").json()
    return detail


def _plan_steps(api: Api, incident_id: str) -> list[str]:
    return [r["step_id"] for r in _detail(api, incident_id)["resolution"]["recommendations"]]


def _feedback_rows(api: Api) -> int:
    ((count,),) = api.query("SELECT count(*) FROM feedback")
    return int(count)


def _feedback(api: Api, incident_id: str, role: str = "viewer") -> list[dict[str, Any]]:
    response = api.get(f"/api/v1/incidents/{incident_id}/feedback", role)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()
    return records


def _give(api: Api, incident_id: str, what: str, body: dict[str, Any], role: str = "responder") -> httpx.Response:
    return api.post(f"/api/v1/incidents/{incident_id}/{what}", role, json=body)


def _learned(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"feedback_id", "changes"} and uuid.UUID(body["feedback_id"]), body
    changes: list[str] = body["changes"]
    return changes


def _valid_bodies(api: Api, incident_id: str) -> dict[str, dict[str, Any]]:
    """A well-formed body for each mutating route of this incident."""
    first = _plan_steps(api, incident_id)[0]
    return {
        "feedback/triage": {"verdict": "confirm"},
        "feedback/plan": {"verdict": "accept"},
        "feedback/steps": {"step_id": first, "outcome": "fixed_it"},
        "close": {},
        "drafts": {"title": "What we did", "steps": [{"action": "Restart the pool"}]},
    }


def test_a_confirmed_triage_is_stored_with_who_when_notes_and_no_difference(api: Api) -> None:
    incident_id = _incident(api)
    triage = _detail(api, incident_id)["triage"]
    assert (triage["failure_type"], triage["severity"], triage["assignment_group"]) == (
        "connection_limit",
        "high",
        "DBA Team",
    )
    before = datetime.now(UTC)
    changes = _learned(_give(api, incident_id, "feedback/triage", {"verdict": "confirm", "notes": "spot on"}))
    assert any(c.startswith("confirmed the match of") for c in changes), changes
    assert f"one more vote for {CHOSEN_RUNBOOK} as the runbook of 'postgresqltoomanyconnections'" in changes
    (record,) = _feedback(api, incident_id)
    assert record["incident_id"] == incident_id
    assert (record["feedback_type"], record["kind"], record["user_name"]) == ("triage", "confirm", "responder-bot")
    assert record["notes"] == "spot on" and record["step_id"] is None
    assert before <= datetime.fromisoformat(record["created_at"]) <= datetime.now(UTC)
    proposed = {
        "failure_type": "connection_limit",
        "error_class": "resource_exhaustion",
        "severity": "high",
        "assignment_group": "DBA Team",
        "runbook_id": CHOSEN_RUNBOOK,
    }
    assert record["system_output"] == proposed and record["user_edited"] == proposed and record["diff"] == {}
    # The row points at the triage it judged; the incident's detail lists it too.
    ((triage_result_id,),) = api.query("SELECT triage_result_id FROM feedback WHERE id = %s", (record["id"],))
    ((latest,),) = api.query("SELECT id FROM triage_results WHERE incident_id = %s", (incident_id,))
    assert triage_result_id == latest
    assert [f["id"] for f in _detail(api, incident_id)["feedback"]] == [record["id"]]


@pytest.mark.parametrize(
    ("correction", "diff"),
    [
        ({"severity": "low"}, {"severity": {"proposed": "high", "now": "low"}}),
        (
            {"failure_type": "replication_lag", "error_class": "performance"},
            {
                "failure_type": {"proposed": "connection_limit", "now": "replication_lag"},
                "error_class": {"proposed": "resource_exhaustion", "now": "performance"},
            },
        ),
        ({"assignment_group": "Platform Team"}, {"assignment_group": {"proposed": "DBA Team", "now": "Platform Team"}}),
        (
            {"runbook_id": "pg-replication-lag"},
            {"runbook_id": {"proposed": CHOSEN_RUNBOOK, "now": "pg-replication-lag"}},
        ),
    ],
    ids=["severity", "failure type", "assignment group", "runbook"],
)
def test_a_correction_stores_what_nocai_said_and_what_the_responder_said(
    api: Api, correction: dict[str, str], diff: dict[str, dict[str, str]]
) -> None:
    incident_id = _incident(api)
    body = {"verdict": "correct", "notes": "checked by hand", **correction}
    changes = _learned(_give(api, incident_id, "feedback/triage", body, role="admin"))
    assert changes, "a first correction always teaches something"
    (record,) = _feedback(api, incident_id)
    assert (record["kind"], record["user_name"], record["notes"]) == ("correct", "admin-bot", "checked by hand")
    assert record["diff"] == diff
    # What the responder said is what nocai proposed with the corrections applied, nothing else.
    assert record["user_edited"] == {
        **record["system_output"],
        **{k: v["now"] for k, v in diff.items()},
    }


def test_wrong_runbook_names_the_right_one_or_none_but_never_the_chosen_one(api: Api) -> None:
    first, second = _incident(api), _incident(api, sample("am_replication_lag.json"))
    refused = _give(api, first, "feedback/triage", {"verdict": "wrong_runbook", "runbook_id": CHOSEN_RUNBOOK})
    check_error(refused, 422, "invalid_input", CHOSEN_RUNBOOK, "the runbook the triage chose")
    assert _feedback_rows(api) == 0
    changes = _learned(_give(api, first, "feedback/triage", {"verdict": "wrong_runbook"}))
    assert changes == [f"one vote against {CHOSEN_RUNBOOK} for 'postgresqltoomanyconnections'"]
    (record,) = _feedback(api, first)
    assert record["kind"] == "wrong_runbook"
    assert record["diff"] == {"runbook_id": {"proposed": CHOSEN_RUNBOOK, "now": None}}
    # Naming the right one: the difference says which.
    chosen = _detail(api, second)["resolution"]["recommendations"][0]["runbook_id"]
    assert chosen != "linux-disk-full"
    _learned(_give(api, second, "feedback/triage", {"verdict": "wrong_runbook", "runbook_id": "linux-disk-full"}))
    (named,) = _feedback(api, second)
    assert named["diff"] == {"runbook_id": {"proposed": chosen, "now": "linux-disk-full"}}


def test_plan_feedback_accepts_edits_or_rejects_with_the_steps_dropped_and_added(api: Api) -> None:
    incident_id = _incident(api)
    proposed = _plan_steps(api, incident_id)
    assert len(proposed) >= 3
    taken = [proposed[0], proposed[2], "pg-replication-lag-S1"]
    for body, changes in (
        ({"verdict": "accept"}, ["plan accepted"]),
        ({"verdict": "edit", "steps": taken, "notes": "skipped the rest"}, ["plan edited"]),
        ({"verdict": "reject"}, ["plan rejected"]),
    ):
        assert _learned(_give(api, incident_id, "feedback/plan", body)) == changes
    accepted, edited, rejected = _feedback(api, incident_id)
    assert [r["kind"] for r in (accepted, edited, rejected)] == ["accept", "edit", "reject"]
    for record in (accepted, edited, rejected):
        assert (record["feedback_type"], record["user_name"]) == ("resolution", "responder-bot")
        assert record["system_output"] == {"steps": proposed}
    assert accepted["user_edited"] == {"steps": proposed} and accepted["diff"] == {"dropped": [], "added": []}
    assert edited["user_edited"] == {"steps": taken} and edited["notes"] == "skipped the rest"
    assert edited["diff"] == {
        "dropped": [s for s in proposed if s not in (proposed[0], proposed[2])],
        "added": ["pg-replication-lag-S1"],
    }
    assert rejected["user_edited"] == {"steps": []} and rejected["diff"] == {"dropped": proposed, "added": []}
    # Each row points at the plan it judged.
    ((resolution_id,),) = api.query("SELECT id FROM resolution_outputs WHERE incident_id = %s", (incident_id,))
    assert api.query("SELECT DISTINCT resolution_id FROM feedback WHERE incident_id = %s", (incident_id,)) == [
        (resolution_id,)
    ]
    # An edit without the steps taken is refused, and stores nothing.
    refused = _give(api, incident_id, "feedback/plan", {"verdict": "edit"})
    check_error(refused, 422, "invalid_input", "steps actually taken")
    assert _feedback_rows(api) == 3


def test_each_step_outcome_is_stored_and_counted_in_the_steps_record(api: Api) -> None:
    incident_id = _incident(api)
    recommendations = _detail(api, incident_id)["resolution"]["recommendations"]
    outcomes = {"fixed_it": 0, "did_nothing": 1, "made_worse": 2, "skipped": 3}
    for outcome, index in outcomes.items():
        step_id = recommendations[index]["step_id"]
        changes = _learned(_give(api, incident_id, "feedback/steps", {"step_id": step_id, "outcome": outcome}))
        assert changes[0].startswith(f"{step_id}: fixed it "), changes
    records = _feedback(api, incident_id)
    assert [(r["feedback_type"], r["kind"], r["step_id"]) for r in records] == [
        ("step", outcome, recommendations[index]["step_id"]) for outcome, index in outcomes.items()
    ]
    # What nocai had proposed for the step is kept with the word on it.
    assert [r["system_output"] for r in records] == [recommendations[i] for i in outcomes.values()]
    assert all(r["user_name"] == "responder-bot" for r in records)
    counted = {
        row[0]: row[1:] for row in api.query("SELECT step_id, fixed, no_effect, worse, skipped FROM step_records")
    }
    assert counted == {
        recommendations[0]["step_id"]: (1, 0, 0, 0),
        recommendations[1]["step_id"]: (0, 1, 0, 0),
        recommendations[2]["step_id"]: (0, 0, 1, 0),
        recommendations[3]["step_id"]: (0, 0, 0, 1),
    }


def test_bad_input_is_refused_and_stores_nothing(api: Api) -> None:
    incident_id = _incident(api)
    untriaged = _incident(api, sample("am_disk_full.json"), triage=False)
    first = _plan_steps(api, incident_id)[0]
    refusals: list[tuple[str, str, dict[str, Any], int, str, tuple[str, ...]]] = [
        (incident_id, "feedback/triage", {"verdict": "maybe"}, 422, "invalid_request", ("verdict",)),
        (incident_id, "feedback/triage", {"verdict": "correct"}, 422, "invalid_request", ("names what was right",)),
        (
            incident_id,
            "feedback/triage",
            {"verdict": "correct", "severity": "apocalyptic"},
            422,
            "invalid_request",
            ("severity",),
        ),
        (incident_id, "feedback/plan", {"verdict": "approve"}, 422, "invalid_request", ("verdict",)),
        (
            incident_id,
            "feedback/steps",
            {"step_id": first, "outcome": "made_it_worse"},
            422,
            "invalid_request",
            ("outcome",),
        ),
        (incident_id, "feedback/steps", {"step_id": "", "outcome": "fixed_it"}, 422, "invalid_request", ("step_id",)),
        (
            incident_id,
            "feedback/steps",
            {"step_id": "linux-disk-full-S1", "outcome": "fixed_it"},
            422,
            "invalid_input",
            ("linux-disk-full-S1", "not in this incident's plan"),
        ),
        (incident_id, "drafts", {"title": "x", "steps": [{"action": "a"}]}, 422, "invalid_request", ("title",)),
        (incident_id, "drafts", {"title": "No steps", "steps": []}, 422, "invalid_request", ("steps",)),
        (untriaged, "feedback/triage", {"verdict": "confirm"}, 409, "conflict", ("not been triaged",)),
        (untriaged, "feedback/plan", {"verdict": "accept"}, 409, "conflict", ("not been triaged",)),
        (
            untriaged,
            "feedback/steps",
            {"step_id": first, "outcome": "fixed_it"},
            409,
            "conflict",
            ("not been triaged",),
        ),
    ]
    unknown = str(uuid.uuid4())
    for what, body in _valid_bodies(api, incident_id).items():
        refusals.append((unknown, what, body, 404, "not_found", (unknown,)))
    for target, what, body, status, code, fragments in refusals:
        check_error(_give(api, target, what, body), status, code, *fragments)
    check_error(api.get(f"/api/v1/incidents/{unknown}/feedback", "viewer"), 404, "not_found", unknown)
    assert _feedback_rows(api) == 0
    assert api.query("SELECT count(*) FROM step_records") == [(0,)]
    assert api.query("SELECT count(*) FROM runbook_drafts") == [(0,)]
    assert api.query("SELECT count(*) FROM runbook_choices") == [(0,)]
    assert api.query("SELECT sum(match_count), sum(confirmed_count) FROM incident_signatures") == [(0, 0)]


def test_only_responders_and_admins_give_feedback_and_only_admins_publish(api: Api) -> None:
    incident_id = _incident(api)
    bodies = _valid_bodies(api, incident_id)
    assert set(bodies) == set(MUTATING)
    for what, body in bodies.items():
        for role in ("viewer", "ingest"):
            error = check_error(_give(api, incident_id, what, body, role=role), 403, "forbidden", role)
            assert f"{role}-bot" in error["message"], error
        anonymous = api.client.post(f"/api/v1/incidents/{incident_id}/{what}", json=body)
        check_error(anonymous, 401, "unauthenticated")
    assert _feedback_rows(api) == 0
    assert api.query("SELECT status, resolved_by FROM incidents WHERE id = %s", (incident_id,)) == [("open", None)]
    assert api.query("SELECT count(*) FROM runbook_drafts") == [(0,)]
    # Reading is for every reader, not for an ingest token.
    check_error(api.get(f"/api/v1/incidents/{incident_id}/feedback", "ingest"), 403, "forbidden", "ingest")
    check_error(api.get("/api/v1/drafts", "ingest"), 403, "forbidden", "ingest")
    # A draft is kept by a responder and published by an admin only.
    draft = _give(api, incident_id, "drafts", bodies["drafts"])
    assert draft.status_code == 201, draft.text
    draft_id = draft.json()["id"]
    for role in ("responder", "viewer", "ingest"):
        refused = api.post(f"/api/v1/drafts/{draft_id}/publish", role)
        check_error(refused, 403, "forbidden", role)
    check_error(api.client.post(f"/api/v1/drafts/{draft_id}/publish"), 401, "unauthenticated")
    assert api.query("SELECT status, runbook_id FROM runbook_drafts") == [("draft", None)]


def test_closing_by_hand_records_who_and_only_once(api: Api) -> None:
    incident_id = _incident(api)
    closed = _give(api, incident_id, "close", {"notes": "pool resized"})
    assert closed.status_code == 200, closed.text
    assert closed.json() == {"incident_id": incident_id, "resolved_by": "responder-bot"}
    ((status, resolved_by, resolved, accepted),) = api.query(
        "SELECT status, resolved_by, resolved_at IS NOT NULL, resolution_accepted_at FROM incidents WHERE id = %s",
        (incident_id,),
    )
    assert (status, resolved_by, resolved, accepted) == ("resolved", "responder-bot", True, None)
    check_error(_give(api, incident_id, "close", {}), 409, "conflict", "already resolved")
    assert api.query("SELECT resolved_by FROM incidents WHERE id = %s", (incident_id,)) == [("responder-bot",)]
    # The note says why, on the incident (the refused second close changed nothing).
    assert _detail(api, incident_id)["resolution_note"] == "pool resized"
    # Without a body too; an incident its resolved notification closed cannot be closed again.
    other = _incident(api, sample("am_disk_full.json"), triage=False)
    assert api.post(f"/api/v1/incidents/{other}/close", "admin").json()["resolved_by"] == "admin-bot"
    assert _detail(api, other)["resolution_note"] is None
    generic = _incident(api, {"alert_id": "dns-2", "title": "DNS resolution failing"}, "generic", triage=False)
    api.send({"alert_id": "dns-2", "title": "DNS resolution failing", "status": "resolved"}, "generic")
    assert api.query("SELECT resolved_by FROM incidents WHERE id = %s", (generic,)) == [("alert",)]
    check_error(_give(api, generic, "close", {}), 409, "conflict", "already resolved")
    assert _feedback_rows(api) == 0  # closing is not feedback


def test_a_draft_is_listed_until_an_admin_publishes_it_into_the_knowledge_base(api: Api) -> None:
    incident_id = _incident(api, UNMATCHED, "generic")
    assert _detail(api, incident_id)["triage"]["no_match"] is True
    steps = [
        {"action": "Restore the template from the share's previous version.", "phase": "mitigation"},
        {"action": "Open the spreadsheet and check no cell shows #REF!", "condition": "After the restore"},
    ]
    created = _give(api, incident_id, "drafts", {"title": "  Broken budget spreadsheet formulas ", "steps": steps})
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["incident_id"], draft["title"], draft["status"]) == (
        incident_id,
        "Broken budget spreadsheet formulas",
        "draft",
    )
    assert draft["steps"] == steps and draft["created_by"] == "responder-bot"
    assert (draft["published_by"], draft["published_at"], draft["runbook_id"]) == (None, None, None)
    listed = api.get("/api/v1/drafts", "viewer")
    assert listed.status_code == 200 and [d["id"] for d in listed.json()] == [draft["id"]]
    published = api.post(f"/api/v1/drafts/{draft['id']}/publish", "admin")
    assert published.status_code == 200, published.text
    body = published.json()
    runbook_id = body["runbook_id"]
    assert runbook_id == f"broken-budget-spreadsheet-formulas-{draft['id'][:6]}"
    assert (body["status"], body["published_by"]) == ("published", "admin-bot") and body["published_at"]
    # The runbook file is written under the data directory, and the knowledge base serves it.
    written = api.runtime.settings.data_dir / "runbooks" / "published" / f"{runbook_id}.yaml"
    assert written.is_file() and "Broken budget spreadsheet formulas" in written.read_text(encoding="utf-8")
    runbook = api.get(f"/api/v1/knowledge/runbooks/{runbook_id}", "viewer")
    assert runbook.status_code == 200, runbook.text
    assert runbook.json()["title"] == "Broken budget spreadsheet formulas"
    # No longer waiting; not published twice; an unknown draft is not found.
    assert api.get("/api/v1/drafts", "viewer").json() == []
    check_error(api.post(f"/api/v1/drafts/{draft['id']}/publish", "admin"), 409, "conflict", "already published")
    unknown = str(uuid.uuid4())
    check_error(api.post(f"/api/v1/drafts/{unknown}/publish", "admin"), 404, "not_found", unknown)
    assert api.query("SELECT count(*) FROM runbooks WHERE runbook_id = %s", (runbook_id,)) == [(1,)]
