"""What the CLI prints, for a person and for a machine: every plan step in full (text, commands, rollback, risk),
the triage's severity wherever a severity is shown, the plan in `nocai incidents show`, no Python reprs
(``None``, ``['...']``, dicts) anywhere in human output, ``null`` for absent values in ``--json``, and PagerDuty
events that carry no incident reported rather than passed over in silence.

Everything runs on a real database holding the sample knowledge base (see ``tests/cli/conftest.py``).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ai_service.alerts.adapters import parse_payload
from ai_service.cli.console import console
from ai_service.cli.views import plan_view, print_block, shorten
from ai_service.incidents.intake import record_payload
from ai_service.resolution.models import Recommendation
from db.connection import connect
from tests.cli.conftest import Cli, Result
from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "ai_service" / "alerts" / "samples"
# The alert says "warning" (medium); the triage, from the history of its signature, says high.
POSTGRES = "am_postgres_connections.json"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def words(text: str) -> list[str]:
    return text.split()


def appears_in_order(needle: list[str], haystack: list[str]) -> bool:
    """Every word of ``needle`` is a whole word of ``haystack``, in the same order (nothing cut or dropped)."""
    found = iter(haystack)
    return all(any(word == candidate for candidate in found) for word in needle)


def action_words(action: str) -> list[str]:
    """The words of a step's action as written, fence lines (```sql) aside: prose and commands alike."""
    kept = [line for line in action.splitlines() if not re.match(r"\s*(```|~~~)", line)]
    return words("\n".join(kept))


def step_sections(out: str, recommendations: list[Recommendation]) -> Iterator[tuple[Recommendation, str]]:
    """Each recommendation with the part of ``out`` that shows it (from its numbered header to the next one)."""
    starts = []
    for number, rec in enumerate(recommendations, start=1):
        match = re.search(rf"^ *{number}\. {re.escape(rec.step_id)} ", out, re.MULTILINE)
        assert match, f"step {number} ({rec.step_id}) is not shown:\n{out}"
        starts.append(match.start())
    assert starts == sorted(starts), "the steps are not shown in the plan's order"
    for index, rec in enumerate(recommendations):
        end = starts[index + 1] if index + 1 < len(starts) else len(out)
        yield rec, out[starts[index] : end]


def assert_steps_in_full(out: str, recommendations: list[Recommendation]) -> None:
    assert recommendations, "the plan has no step: nothing to check"
    for rec, section in step_sections(out, recommendations):
        header = section.splitlines()[0]
        assert f"risk {rec.risk_level}" in header and rec.runbook_id in header and str(rec.phase) in header, header
        assert appears_in_order(action_words(rec.action), words(section)), (rec.action, section)
        if rec.rollback:
            assert appears_in_order(words(f"rollback: {rec.rollback}"), words(section)), (rec.rollback, section)
        else:
            assert "rollback: —" in section, section
        if rec.expected_outcome:
            assert appears_in_order(words(rec.expected_outcome), words(section)), section


def triage_json(cli: Cli, payload: dict[str, Any]) -> list[dict[str, Any]]:
    result = cli("triage", "--json", "-", stdin=body(payload))
    assert result.code == 0, result.describe()
    loaded: list[dict[str, Any]] = result.json()
    return loaded


def plan_of(cli: Cli, incident_id: str) -> list[Recommendation]:
    rows = cli.query(
        "SELECT recommendations FROM resolution_outputs WHERE incident_id = %s ORDER BY created_at DESC LIMIT 1",
        (incident_id,),
    )
    return [Recommendation.model_validate(r) for r in rows[0][0]]


# --- the plan, step by step ------------------------------------------------------------------------------------


def test_triage_shows_every_step_with_its_full_text_commands_rollback_and_risk(cli: Cli) -> None:
    result = cli("triage", "-", stdin=body(sample(POSTGRES)))
    assert result.code == 0, result.describe()
    incident_id = re.search(r"incident ([0-9a-f-]{36})", result.out)
    assert incident_id, result.out
    recommendations = plan_of(cli, incident_id.group(1))
    # The old table kept only the first 110 characters of an action's first line: this plan has more.
    assert any(len(r.action.splitlines()) > 1 for r in recommendations)
    assert any(r.rollback for r in recommendations) and any("```" in r.action for r in recommendations)
    assert_steps_in_full(result.out, recommendations)
    assert "…" not in result.out, "nothing of a plan is bounded"
    # The assignment group says where it came from (a signature's history or the plan's runbook).
    assert re.search(r"assignment group DBA Team \(from (signature|runbook) [\w-]+", result.out), result.out


def test_plan_wraps_at_word_boundaries_on_a_narrow_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prose = " ".join(["Drain the node before rebooting it so that its pods move elsewhere"] * 8)
    rec = Recommendation(
        step_id="k8s-node-S3",
        runbook_id="k8s-node",
        phase="mitigation",
        condition="When a node is unhealthy",
        action=f"{prose}\n\n```shell\n"
        'kubectl drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout=5m\n```',
        expected_outcome="the node shows SchedulingDisabled and no pod of a deployment is left on it",
        rollback='kubectl uncordon "$NODE"',
        risk_level="high",
        confidence=0.8,
        provenance={"source": "signature", "signatures": ["SIG-K8S-001", "SIG-K8S-004"]},
    )
    monkeypatch.setattr(console, "width", 60)
    print_block(plan_view([rec]))
    out = capsys.readouterr().out
    assert all(len(line) <= 60 for line in out.splitlines()), out
    assert all(line == line.rstrip() for line in out.splitlines()), "trailing blanks"
    assert_steps_in_full(out, [rec])
    assert "from signature SIG-K8S-001, SIG-K8S-004" in " ".join(words(out))
    assert "…" not in out


def test_shorten_ends_at_a_word_and_says_so() -> None:
    text = "Terminate sessions that have been idle in a transaction for more than ten minutes"
    assert shorten(text, 200) == text
    short = shorten(text, 40)
    assert short.endswith("…") and len(short) <= 40
    assert all(word in text.split() for word in short.removesuffix("…").split()), short


# --- one severity everywhere -----------------------------------------------------------------------------------


def test_incident_list_and_detail_show_the_triage_severity(cli: Cli) -> None:
    [result] = triage_json(cli, sample(POSTGRES))
    incident_id, decided = result["incident_id"], result["triage"]["severity"]
    [(alert_severity,)] = cli.query("SELECT severity FROM incidents WHERE id = %s", (incident_id,))
    assert decided != alert_severity, "precondition: the triage must decide another severity than the alert's"

    listing = cli("incidents", "list")
    assert listing.code == 0, listing.describe()
    row = next(line for line in listing.out.splitlines() if incident_id in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    header = next(line for line in listing.out.splitlines() if "severity" in line)
    assert cells[[cell.strip() for cell in header.split("┃")[1:-1]].index("severity")] == decided, row

    detail = cli("incidents", "show", incident_id)
    assert f"severity   {decided} (the alert said {alert_severity})" in detail.out, detail.out


# --- incidents show: the plan ----------------------------------------------------------------------------------


def test_incident_detail_shows_the_plan_not_step_ids(cli: Cli) -> None:
    [result] = triage_json(cli, sample(POSTGRES))
    detail = cli("incidents", "show", result["incident_id"])
    assert detail.code == 0, detail.describe()
    recommendations = [Recommendation.model_validate(r) for r in result["resolution"]["recommendations"]]
    assert_steps_in_full(detail.out, recommendations)
    assert re.search(r"^plan\s+pending · \d+ steps · risk high", detail.out, re.MULTILINE), detail.out
    assert "['" not in detail.out and "retrieved" not in detail.out


def test_a_closed_incident_shows_who_closed_it_and_why(cli: Cli) -> None:
    [result] = triage_json(cli, sample(POSTGRES))
    closed = cli("incidents", "close", result["incident_id"], "--user", "alice", "--notes", "pool resized")
    assert closed.code == 0, closed.describe()
    detail = cli("incidents", "show", result["incident_id"])
    assert re.search(r"resolved .* by alice \(pool resized\)", detail.out), detail.out


# --- no Python reprs -------------------------------------------------------------------------------------------

# ``None`` as a word (a runbook may say "None;" in prose), a list or a dict repr.
_REPR = re.compile(r"(?<![\w-])None(?![\w;])|\['|\{'|': ")


def assert_no_repr(result: Result) -> None:
    assert result.code == 0, result.describe()
    for stream in (result.out, result.err):
        found = _REPR.search(stream)
        assert found is None, f"a Python repr at {stream[max(found.start() - 80, 0) : found.end() + 80]!r}"


@pytest.fixture
def populated(cli: Cli) -> dict[str, str]:
    """Incidents in every state a list or a detail meets: triaged with a plan, triaged with no match, and one
    recorded but not triaged yet (no triage, no band, no plan)."""
    [matched] = triage_json(cli, sample(POSTGRES))
    [unmatched] = triage_json(cli, {"alert_id": "quiet-1", "title": "Zorblax quantum flux desynchronised"})
    waiting = {"alert_id": "waiting-1", "title": "Backup of the ledger did not start", "severity": "high"}
    with connect(cli.url, autocommit=True) as conn:
        report = record_payload(conn, parse_payload(body(waiting)), max_attempts=3)
    assert cli("tokens", "create", "--role", "viewer", "--name", "me").code == 0
    return {
        "matched": matched["incident_id"],
        "unmatched": unmatched["incident_id"],
        "waiting": str(report.alerts[0].incident_id),
    }


def test_no_python_reprs_in_human_output(cli: Cli, populated: dict[str, str]) -> None:
    for argv in (
        ("incidents", "list"),
        ("incidents", "show", populated["matched"]),
        ("incidents", "show", populated["unmatched"]),
        ("incidents", "show", populated["waiting"]),
        ("resolve", populated["matched"]),
        ("resolve", populated["unmatched"]),
        ("db", "info"),
        ("kb", "stats"),
        ("queue", "status"),
        ("tokens", "list"),
        ("drafts", "list"),
        ("metrics", "mttr"),
        ("search", "too many connections on the orders database"),
    ):
        assert_no_repr(cli(*argv))
    waiting = cli("incidents", "show", populated["waiting"]).out
    assert "not triaged yet" in waiting and "band" not in waiting, waiting
    unmatched = cli("incidents", "show", populated["unmatched"]).out
    assert "no match in the knowledge base" in unmatched and "signatures —" in unmatched, unmatched
    listing = cli("incidents", "list").out
    row = next(line for line in listing.splitlines() if populated["waiting"] in line)
    assert "—" in row, row  # no band yet


def test_db_info_is_key_value_lines(cli: Cli) -> None:
    info = cli("db", "info")
    assert_no_repr(info)
    keys = [line.split(":", 1)[0] for line in info.out.splitlines()]
    assert {"database", "server", "pgvector", "embedding model", "migrations"} <= set(keys), info.out
    assert re.search(r"^migrations:\s+\d+ applied$", info.out, re.MULTILINE), info.out


# --- --json: null for nothing, one result per alert ------------------------------------------------------------


def no_none_strings(value: Any, path: str = "$") -> list[str]:
    """Paths of every string "None" in a JSON document (an absent value printed with str())."""
    if value == "None":
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in no_none_strings(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in no_none_strings(item, f"{path}[{index}]")]
    return []


def resolved(payload: dict[str, Any]) -> dict[str, Any]:
    closed = copy.deepcopy(payload)
    closed["status"] = "resolved"
    for alert in closed["alerts"]:
        alert.update(status="resolved", endsAt="2026-06-06T19:02:45Z")
    return closed


def test_triage_json_keeps_its_shape_and_says_null_for_nothing(cli: Cli) -> None:
    firing = sample(POSTGRES)
    [created] = triage_json(cli, firing)
    assert created["action"] == "created"
    uuid.UUID(created["incident_id"])
    assert created["triage"]["severity"] and created["policy"]["band"] in ("AUTO", "PROPOSE", "REVIEW")
    recommendations = created["resolution"]["recommendations"]
    assert recommendations and all(r["runbook_id"] for r in recommendations)

    [repeated] = triage_json(cli, firing)
    assert repeated["action"] == "repeated" and repeated["incident_id"] == created["incident_id"]
    [closed] = triage_json(cli, resolved(firing))
    assert closed["action"] == "resolved" and closed["incident_id"] == created["incident_id"]
    [nothing_open] = triage_json(cli, resolved(firing))
    assert nothing_open["action"] == "ignored" and nothing_open["incident_id"] is None, nothing_open

    for document in (created, repeated, closed, nothing_open):
        assert no_none_strings(document) == [], document


def test_resolve_json_says_null_for_nothing(cli: Cli) -> None:
    [created] = triage_json(cli, sample(POSTGRES))
    shown = cli("resolve", created["incident_id"], "--json")
    assert shown.code == 0, shown.describe()
    assert no_none_strings(shown.json()) == []


# --- PagerDuty events that are not incidents -------------------------------------------------------------------

PING = {
    "event": {
        "id": "01DEN3MXKQPHYLFAIR1BW6K0LY",
        "event_type": "pagey.ping",
        "resource_type": "pagey",
        "occurred_at": "2026-06-16T19:04:31.111Z",
        "agent": None,
        "client": None,
        "data": {"message": "Hello from your friend Pagey!", "type": "ping"},
    }
}
SERVICE_UPDATED = {
    "event": {
        "id": "01DEN3MXKQPHYLFAIR1BW6K0LZ",
        "event_type": "service.updated",
        "resource_type": "service",
        "occurred_at": "2026-06-16T19:04:31.111Z",
        "data": {"id": "PF9KMXH", "type": "service", "summary": "Checkout API"},
    }
}


@pytest.mark.parametrize(
    ("payload", "kind", "says"),
    [
        (PING, "pagey.ping", "test delivery"),
        ({"event": {"event_type": "pagey.ping"}}, "pagey.ping", "test delivery"),
        (SERVICE_UPDATED, "service.updated", "not an incident one"),
    ],
    ids=["ping", "bare-ping", "service-updated"],
)
def test_pagerduty_events_without_an_incident_are_reported(
    cli: Cli, payload: dict[str, Any], kind: str, says: str
) -> None:
    human = cli("triage", "-", stdin=body(payload))
    assert human.code == 0, human.describe()
    assert f"ignored {kind}: " in human.out and says in human.out, human.describe()

    machine = cli("triage", "--json", "-", stdin=body(payload))
    assert machine.code == 0, machine.describe()
    [event] = machine.json()
    assert event["action"] == "ignored" and event["kind"] == kind and says in event["reason"]
    assert event["incident_id"] is None
    assert cli.query("SELECT count(*) FROM incidents") == [(0,)]


def test_alerts_and_what_a_payload_left_out_share_one_json_list(cli: Cli) -> None:
    payload = sample("am_disk_full.json")
    payload["truncatedAlerts"] = 3
    results = triage_json(cli, payload)
    assert [r["action"] for r in results] == ["created", "ignored"], results
    assert results[1]["kind"] == "truncated_alerts" and "3 more alert(s)" in results[1]["reason"]
    assert all("incident_id" in r for r in results)
