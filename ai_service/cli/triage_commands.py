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

from ai_service.alerts.adapters import canonical_format, parse_payload
from ai_service.cli.console import console
from ai_service.config import get_settings
from ai_service.errors import InputError, NotFoundError
from ai_service.incidents import store as incidents_store
from ai_service.incidents.intake import AlertReceipt, record_payload
from ai_service.incidents.models import IncidentFilter, IncidentStatus, TriageOutcome
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
            else f"failure type {t.failure_type} · error class {t.error_class}\n"
        )
        + f"severity {t.severity} ({t.severity_reason})\n"
        f"confidence {t.confidence:.2f} · band {d.band} (rule {d.rule}: {'; '.join(d.reasons[:3])})\n"
        f"assignment group {t.assignment_group or '-'} · impact {t.impact} · urgency {t.urgency}\n"
        f"signatures {', '.join(t.matched_signature_ids) or '-'}"
        f" · runbooks {', '.join(t.matched_runbook_refs) or '-'}\n"
        f"triaged and planned in {outcome.seconds * 1000:.0f} ms" + (f"\n{t.explanation}" if t.explanation else "")
    )
    console.print(Panel(Text(head), title="triage", expand=False))  # Text: reasons contain [brackets]
    if plan.recommendations:
        table = Table(title=f"resolution plan (risk {plan.risk_level}, confidence {plan.overall_confidence:.2f})")
        for column in ("#", "step", "phase", "risk", "action", "why"):
            table.add_column(column, overflow="fold")
        for i, r in enumerate(plan.recommendations, start=1):
            why = str(r.provenance["source"])
            if r.provenance.get("signatures"):
                why += f" ({', '.join(r.provenance['signatures'])})"
            table.add_row(str(i), r.step_id, r.phase or "", r.risk_level or "", r.action.splitlines()[0][:110], why)
        console.print(table)
    elif plan.note:
        console.print(plan.note)


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
    for event in report.ignored:
        results.append({"action": "ignored", "incident_id": None, "kind": event.kind, "reason": event.reason})
        if not as_json:
            console.print(f"ignored {event.kind}: {event.reason}", markup=False)
    if not report.alerts and not report.ignored and not as_json:
        console.print("the payload carries no alert", markup=False)
    if as_json:
        typer.echo(json.dumps(results, indent=2))


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
                    "overall_confidence": resolution.overall_confidence or 0.0,
                },
                indent=2,
            )
        )
        return
    console.print(
        f"resolution {resolution.id}: {status} · risk {resolution.risk_level} · "
        f"confidence {resolution.overall_confidence or 0:.2f} · band {resolution.band}"
    )
    for i, rec in enumerate(resolution.recommendations, start=1):
        console.print(
            f"{i:>2}. [{rec.phase}/{rec.risk_level}] {rec.step_id}: {rec.action.splitlines()[0][:110]}",
            markup=False,
        )


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
            incident.title or "",
            incident.severity or "",
            incident.policy_band or "",
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
    console.print(
        f"{incident.title} [{incident.source}, alert {incident.alert_id}] {incident.status}, "
        f"seen {incident.occurrence_count}x from {incident.first_seen_at:%Y-%m-%d %H:%M} "
        f"to {incident.last_seen_at:%Y-%m-%d %H:%M}, band {incident.policy_band}",
        markup=False,
    )
    for link in chain:
        console.print(
            f"  triage: {link.failure_type} / {link.error_class}, severity {link.severity}, "
            f"confidence {link.triage_confidence}, band {link.policy_band}, "
            f"signatures {link.matched_signature_ids} → resolution: steps {link.retrieved_step_ids}, "
            f"{link.execution_status}",
            markup=False,
        )
