"""`nocai triage`, `nocai resolve` and `nocai incidents`: the core judgement from the command line."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ai_service.alerts.adapters import ParsedPayload, canonical_format, parse_payload
from ai_service.cli.console import console, err_console
from ai_service.cli.views import plan_view, print_block, show
from ai_service.config import get_settings
from ai_service.errors import InputError, NotFoundError
from ai_service.incidents import store as incidents_store
from ai_service.incidents.intake import AlertReceipt, record_payload
from ai_service.incidents.models import ChainLink, IncidentDetail, IncidentFilter, IncidentStatus, TriageOutcome
from ai_service.knowledge.embeddings import create_embedder
from ai_service.knowledge.service import prepare_embedder
from ai_service.policy.service import policy_from_settings
from ai_service.queue import store as queue_store
from ai_service.resolution import store as resolution_store
from ai_service.resolution.execution import transition
from ai_service.resolution.models import ACTIONS, Action
from ai_service.service.worker import Triager, process, retry_delay
from db.connection import connect

incidents_app = typer.Typer(
    help="Incidents nocai has received.\n\nExample: nocai incidents list --status open",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _outcome_json(outcome: TriageOutcome) -> dict[str, object]:
    return {
        "incident_id": str(outcome.incident_id),
        "triage_result_id": str(outcome.triage_result_id),
        "resolution_id": str(outcome.resolution_id),
        "triage": outcome.triage.model_dump(mode="json"),
        "resolution": outcome.plan.model_dump(mode="json"),
        "policy": outcome.decision.model_dump(mode="json"),
        "abstention": outcome.search.abstention.model_dump(mode="json"),
        "seconds": round(outcome.seconds, 4),
    }


def _print_outcome(outcome: TriageOutcome) -> None:
    t, plan, d = outcome.triage, outcome.plan, outcome.decision
    head = (
        f"incident {outcome.incident_id}\n"
        + (
            "NO MATCH in the knowledge base — review by a human\n"
            if t.no_match
            else f"failure type {show(t.failure_type)} · error class {show(t.error_class)}\n"
        )
        + f"severity {t.severity} ({t.severity_reason})\n"
        f"confidence {t.confidence:.2f} · band {d.band} (rule {d.rule}: {'; '.join(d.reasons[:3])})\n"
        f"assignment group {show(t.assignment_group)}"
        + (f" (from {t.assignment_group_source})" if t.assignment_group and t.assignment_group_source else "")
        + f" · impact {show(t.impact)} · urgency {show(t.urgency)}\n"
        f"signatures {show(t.matched_signature_ids)} · runbooks {show(t.matched_runbook_refs)}\n"
        f"triaged and planned in {outcome.seconds * 1000:.0f} ms" + (f"\n{t.explanation}" if t.explanation else "")
    )
    print_block(Panel(Text(head), title="triage", expand=False))  # Text: reasons contain [brackets]
    if plan.recommendations:
        console.print(
            f"resolution plan: {len(plan.recommendations)} steps · risk {show(plan.risk_level)} · "
            f"confidence {plan.overall_confidence:.2f}",
            markup=False,
        )
        print_block(plan_view(plan.recommendations))
    elif plan.note:
        console.print(plan.note, markup=False)


def triage_cmd(
    source: Annotated[str, typer.Argument(help="A payload file, or - for standard input.")],
    format: Annotated[
        str | None, typer.Option(help="alertmanager, grafana, pagerduty or generic (default: detected).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Record an alert payload, then triage each new incident and propose a resolution plan.

    Repeats of an open alert update its incident (no second triage); resolved notifications close it.

    Example: nocai triage - < alertmanager_payload.json
    """
    fmt = canonical_format(format) if format is not None else None
    try:
        payload = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read the payload: {exc.strerror or exc}", hint="check the path") from exc
    parsed = parse_payload(payload, fmt)
    if parsed.text_repairs and not as_json:
        err_console.print(
            f"note: {parsed.text_repairs} character(s) PostgreSQL cannot store (NUL, unpaired UTF-16 surrogates) "
            "were removed or replaced in the payload's text",
            markup=False,
        )
    results = _record_and_triage(parsed, as_json=as_json) if parsed.alerts else []
    for event in parsed.ignored:
        results.append({"action": "ignored", "incident_id": None, "kind": event.kind, "reason": event.reason})
        if not as_json:
            console.print(f"ignored {event.kind}: {event.reason}", markup=False)
    if not parsed.alerts and not parsed.ignored and not as_json:
        console.print("the payload carries no alert", markup=False)
    if as_json:
        typer.echo(json.dumps(results, indent=2))


def _record_and_triage(parsed: ParsedPayload, *, as_json: bool) -> list[dict[str, object]]:
    """Record the payload's alerts and triage each new incident here; one result per alert."""
    settings = get_settings()
    triager = Triager(settings, create_embedder(settings), policy_from_settings(settings))
    results: list[dict[str, object]] = []
    with connect(autocommit=True) as conn:
        prepare_embedder(conn, settings)  # the database's vectors must come from the configured model
        report = record_payload(conn, parsed, max_attempts=settings.work_max_attempts)
        for receipt in report.alerts:
            if receipt.work_item_id is None:
                results.append(_receipt_json(receipt))
                if not as_json:
                    console.print(_receipt_line(receipt), markup=False)
                continue
            outcome = _triage_now(conn, triager, receipt.work_item_id)
            if outcome is not None:
                results.append({"action": "created", **_outcome_json(outcome)})
                if not as_json:
                    _print_outcome(outcome)
            else:
                results.append({**_receipt_json(receipt), "triage": "queued"})
                if not as_json:
                    console.print(
                        f"{receipt.title}: incident {receipt.incident_id} opened; its triage did not finish here and "
                        "stays queued for the workers (`nocai queue status`)",
                        markup=False,
                    )
    return results


_ACTIONS = {"new": "created", "repeat": "repeated", "resolved": "resolved", "ignored": "ignored"}


def _receipt_json(receipt: AlertReceipt) -> dict[str, object]:
    return {
        "action": _ACTIONS[receipt.outcome],
        "incident_id": str(receipt.incident_id) if receipt.incident_id else None,
        "occurrence_count": receipt.occurrence_count,
        "title": receipt.title,
    }


def _receipt_line(receipt: AlertReceipt) -> str:
    what = {
        "repeat": f"repeat #{receipt.occurrence_count} of open incident {receipt.incident_id}",
        "resolved": f"resolved: closed incident {receipt.incident_id}",
        "ignored": "resolved, but no incident was open for it (nothing to close)",
        "new": f"new incident {receipt.incident_id}",
    }
    return f"{receipt.title}: {what[receipt.outcome]}"


def _triage_now(conn: psycopg.Connection, triager: Triager, item_id: int) -> TriageOutcome | None:
    """Triage a just-queued item here, unless a running service's worker took it first (then None)."""
    item = queue_store.claim(
        conn, worker=f"nocai-cli:{os.getpid()}", lease_seconds=triager.settings.work_lease_seconds, item_ids=[item_id]
    )
    if item is None:
        return None
    assert item.lease_token is not None
    try:
        return process(conn, triager, item)
    except Exception as exc:
        # The item stays queued (or dead after its last attempt) with the error, and the error is shown.
        queue_store.fail(
            conn,
            item_id=item.id,
            lease_token=item.lease_token,
            error=f"{type(exc).__name__}: {exc}",
            retry_in_seconds=retry_delay(item.attempts),
        )
        raise


def incident_id_of(value: str) -> uuid.UUID:
    """An incident id given on the command line; InputError naming the list command otherwise."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InputError(f"{value!r} is not an incident id", hint="`nocai incidents list` shows the ids") from exc


def resolve_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident's id (see `nocai incidents list`).")],
    action: Annotated[str | None, typer.Option(help="accept, execute, reject or cancel the latest resolution.")] = None,
    user: Annotated[str | None, typer.Option(help="Who takes the action.")] = None,
    role: Annotated[list[str] | None, typer.Option(help="The user's role(s), checked against the policy.")] = None,
    notes: Annotated[str | None, typer.Option(help="Notes stored with the resolution.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the resolution as JSON.")] = False,
) -> None:
    """Show an incident's latest resolution plan, or move it: accept, execute, reject or cancel (policy-checked).

    Example: nocai resolve 3f0c... --action accept --user alice --role sre
    """
    ident = incident_id_of(incident_id)
    chosen = _action(action) if action else None
    with connect(autocommit=True) as conn:
        resolution = resolution_store.latest_resolution(conn, ident)
        if resolution is None:
            raise NotFoundError(f"incident {ident} has no resolution", hint="`nocai incidents list` shows incidents")
        status = resolution.execution_status
        if chosen:
            status = transition(conn, resolution.id, chosen, user=user, roles=role, notes=notes)
    recommendations = [r.model_dump(mode="json") for r in resolution.recommendations]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "resolution_id": str(resolution.id),
                    "execution_status": status,
                    "recommendations": recommendations,
                    "risk_level": resolution.risk_level,
                    "overall_confidence": resolution.overall_confidence,
                },
                indent=2,
            )
        )
        return
    console.print(
        f"resolution {resolution.id}: {show(status)} · risk {show(resolution.risk_level)} · "
        f"confidence {show(resolution.overall_confidence)} · band {show(resolution.band)}",
        markup=False,
    )
    if resolution.recommendations:
        print_block(plan_view(resolution.recommendations))
    else:
        console.print("no steps: nothing in the knowledge base fits this incident", markup=False)


def _action(value: str) -> Action:
    for known in ACTIONS:
        if value.strip().lower() == known:
            return known
    raise InputError(f"unknown action {value!r}", hint="use --action accept, execute, reject or cancel")


def _status(value: str | None) -> IncidentStatus | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered == "open":
        return "open"
    if lowered == "resolved":
        return "resolved"
    raise InputError(f"unknown status {value!r}", hint="use --status open or --status resolved")


@incidents_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="open or resolved.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List incidents, newest first.

    Example: nocai incidents list --status open --limit 50
    """
    wanted = _status(status)
    with connect() as conn:
        incidents = incidents_store.list_incidents(conn, where=IncidentFilter(status=wanted), limit=limit)
    table = Table(title="incidents")
    for column in ("id", "status", "title", "severity", "band", "seen", "last seen"):
        table.add_column(column, overflow="fold")
    for incident in incidents:
        table.add_row(
            str(incident.id),
            incident.status,
            show(incident.title),
            show(incident.severity),
            show(incident.policy_band),
            str(incident.occurrence_count),
            f"{incident.last_seen_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


@incidents_app.command("show")
def show_cmd(incident_id: Annotated[str, typer.Argument(help="The incident's id.")]) -> None:
    """Show an incident with its triage → resolution chain.

    Example: nocai incidents show 3f0c2a4e-...
    """
    ident = incident_id_of(incident_id)
    with connect() as conn:
        incident = incidents_store.get_incident(conn, ident)
        if incident is None:
            raise NotFoundError(f"no incident {ident}", hint="`nocai incidents list` shows the ids")
        chain = incidents_store.chain_of(conn, ident)
        resolution = resolution_store.latest_resolution(conn, ident)
    for key, value in _incident_lines(incident, chain):
        console.print(f"{key:<10} {value}" if key else value, markup=False)
    if resolution is None:
        return
    if not resolution.recommendations:
        note = (incident.resolution or {}).get("note")
        console.print(f"plan       no steps: {note or 'nothing in the knowledge base fits'}", markup=False)
        return
    console.print(
        f"plan       {show(resolution.execution_status)} · {len(resolution.recommendations)} steps · "
        f"risk {show(resolution.risk_level)} · confidence {show(resolution.overall_confidence)} · "
        f"band {show(resolution.band)} · proposed {show(resolution.created_at)}",
        markup=False,
    )
    print_block(plan_view(resolution.recommendations))


def _incident_lines(incident: IncidentDetail, chain: list[ChainLink]) -> list[tuple[str, str]]:
    """(label, value) lines of an incident's head: what it is, where it stands, what its latest triage said."""
    ended = (
        f" · resolved {show(incident.resolved_at)} by {show(incident.resolved_by)}"
        + (f" ({incident.resolution_note})" if incident.resolution_note else "")
        if incident.status == "resolved"
        else ""
    )
    lines = [
        ("", show(incident.title)),
        ("incident", str(incident.id)),
        (
            "status",
            f"{incident.status} · seen {incident.occurrence_count} time{'s' if incident.occurrence_count != 1 else ''}"
            f", first {show(incident.first_seen_at)}, last {show(incident.last_seen_at)}{ended}",
        ),
        (
            "alert",
            f"{incident.source} {incident.alert_id} · service {show(incident.service)} · "
            f"environment {show(incident.environment)}",
        ),
    ]
    said = ""
    if incident.alert_severity != incident.severity:
        said = f" (the alert said {incident.alert_severity})" if incident.alert_severity else " (the alert gave none)"
    lines.append(("severity", f"{show(incident.severity)}{said}"))
    if not chain:
        lines.append(("triage", "not triaged yet (`nocai queue status` shows its work item)"))
        return lines
    link = chain[-1]
    verdict = (
        f"{show(link.failure_type)} / {show(link.error_class)}"
        if link.failure_type or link.error_class
        else "no match in the knowledge base"
    )
    lines.append(("triage", f"{verdict} · confidence {show(link.triage_confidence)} · band {show(link.policy_band)}"))
    lines.append(
        (
            "matched",
            f"signatures {show(link.matched_signature_ids)} · runbooks {show(link.matched_runbook_refs)}",
        )
    )
    times = f"{len(chain)} time{'s' if len(chain) != 1 else ''}"
    lines.append(("triaged", f"{times}, last {show(link.triage_completed_at)}"))
    return lines
