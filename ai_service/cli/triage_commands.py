"""`nocai triage`, `nocai resolve` and `nocai incidents`: the core judgement from the command line."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ai_service.cli.console import console
from ai_service.config import get_settings
from ai_service.errors import InputError, NotFoundError
from db.connection import connect

incidents_app = typer.Typer(
    help="Incidents nocai has received.\n\nExample: nocai incidents list --status open",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _outcome_json(outcome) -> dict:  # type: ignore[no-untyped-def,type-arg]
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


def _print_outcome(outcome) -> None:  # type: ignore[no-untyped-def]
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
            why = r.provenance["source"]
            if r.provenance.get("signatures"):
                why += f" ({', '.join(r.provenance['signatures'])})"  # type: ignore[arg-type]
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
    from ai_service.alerts.service import receive
    from ai_service.knowledge.service import prepare_embedder
    from ai_service.policy.service import policy_from_settings
    from ai_service.triage.pipeline import triage_incident

    if format not in (None, "alertmanager", "grafana", "pagerduty", "generic"):
        raise InputError(f"unknown format {format!r}", hint="use alertmanager, grafana, pagerduty or generic")
    try:
        payload = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read the payload: {exc.strerror or exc}", hint="check the path") from exc
    settings = get_settings()
    policy = policy_from_settings(settings)
    results = []
    with connect(autocommit=True) as conn:
        embedder = prepare_embedder(conn, settings)
        for intake in receive(conn, payload, format=format):
            if intake.action == "created" and intake.incident_id is not None:
                outcome = triage_incident(
                    conn, embedder, intake.alert, intake.incident_id, policy=policy, settings=settings
                )
                results.append({"action": "created", **_outcome_json(outcome)})
                if not as_json:
                    _print_outcome(outcome)
            else:
                results.append(
                    {
                        "action": intake.action,
                        "incident_id": str(intake.incident_id),
                        "occurrence_count": intake.occurrence_count,
                        "title": intake.alert.title,
                    }
                )
                if not as_json:
                    what = {
                        "repeated": f"repeat #{intake.occurrence_count} of open incident",
                        "resolved": "resolved: closed incident",
                        "ignored": "resolved, but no open incident",
                    }
                    console.print(f"{intake.alert.title}: {what[intake.action]} {intake.incident_id or ''}")
    if as_json:
        typer.echo(json.dumps(results, indent=2))


def _incident_id(value: str) -> uuid.UUID:
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
    from ai_service.resolution.execution import transition

    ident = _incident_id(incident_id)
    with connect(autocommit=True) as conn:
        row = conn.execute(
            "SELECT id, execution_status, recommendations, risk_level, overall_confidence, policy_decision"
            " FROM resolution_outputs WHERE incident_id = %s ORDER BY created_at DESC LIMIT 1",
            (ident,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"incident {ident} has no resolution", hint="`nocai incidents list` shows incidents")
        status = row[1]
        if action:
            if action not in ("accept", "execute", "reject", "cancel"):
                raise InputError(f"unknown action {action!r}", hint="use accept, execute, reject or cancel")
            status = transition(conn, row[0], action, user=user, roles=role, notes=notes)  # type: ignore[arg-type]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "resolution_id": str(row[0]),
                    "execution_status": status,
                    "recommendations": row[2],
                    "risk_level": row[3],
                    "overall_confidence": float(row[4] or 0),
                },
                indent=2,
            )
        )
        return
    console.print(
        f"resolution {row[0]}: {status} · risk {row[3]} · confidence {float(row[4] or 0):.2f} · "
        f"band {(row[5] or {}).get('band')}"
    )
    for i, rec in enumerate(row[2], start=1):
        console.print(
            f"{i:>2}. [{rec.get('phase')}/{rec.get('risk_level')}] {rec['step_id']}: "
            f"{rec['action'].splitlines()[0][:110]}",
            markup=False,
        )


@incidents_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="open or resolved.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List incidents, newest first.

    Example: nocai incidents list --status open --limit 50
    """
    with connect() as conn:
        rows = conn.execute(
            "SELECT id, status, title, severity, policy_band, occurrence_count, last_seen_at FROM incidents"
            " WHERE %(status)s::text IS NULL OR status = %(status)s ORDER BY last_seen_at DESC LIMIT %(limit)s",
            {"status": status, "limit": limit},
        ).fetchall()
    table = Table(title="incidents")
    for column in ("id", "status", "title", "severity", "band", "seen", "last seen"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(str(r[0]), r[1], r[2] or "", r[3] or "", r[4] or "", str(r[5]), f"{r[6]:%Y-%m-%d %H:%M:%S}")
    console.print(table)


@incidents_app.command("show")
def show_cmd(incident_id: Annotated[str, typer.Argument(help="The incident's id.")]) -> None:
    """Show an incident with its triage → resolution chain.

    Example: nocai incidents show 3f0c2a4e-...
    """
    ident = _incident_id(incident_id)
    with connect() as conn:
        incident = conn.execute(
            "SELECT alert_id, source, status, title, occurrence_count, first_seen_at, last_seen_at, policy_band"
            " FROM incidents WHERE id = %s",
            (ident,),
        ).fetchone()
        if incident is None:
            raise NotFoundError(f"no incident {ident}", hint="`nocai incidents list` shows the ids")
        chain = conn.execute(
            "SELECT failure_type, error_class, severity, triage_confidence, policy_band, matched_signature_ids,"
            " retrieved_step_ids, execution_status FROM triage_to_resolution_chain WHERE incident_id = %s",
            (ident,),
        ).fetchall()
    console.print(
        f"{incident[3]} [{incident[1]}, alert {incident[0]}] {incident[2]}, seen {incident[4]}x "
        f"from {incident[5]:%Y-%m-%d %H:%M} to {incident[6]:%Y-%m-%d %H:%M}, band {incident[7]}",
        markup=False,
    )
    for c in chain:
        console.print(
            f"  triage: {c[0]} / {c[1]}, severity {c[2]}, confidence {c[3]}, band {c[4]}, "
            f"signatures {c[5]} → resolution: steps {c[6]}, {c[7]}",
            markup=False,
        )
