"""`nocai feedback ...`, `nocai incidents close`, `nocai metrics mttr` and `nocai drafts ...`: what responders
tell nocai, and what it measures of their work."""

from __future__ import annotations

import getpass
import json
import uuid
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel
from rich.table import Table

from ai_service.cli.console import console
from ai_service.cli.triage_commands import incident_id_of, incidents_app
from ai_service.cli.views import NOTHING, show
from ai_service.config import get_settings
from ai_service.errors import ConflictError, InputError, NotFoundError
from ai_service.feedback import store as feedback_store
from ai_service.feedback.models import Learned, PlanFeedback, StepFeedback, TriageFeedback
from ai_service.feedback.service import give_plan_feedback, give_step_feedback, give_triage_feedback, publish_draft
from ai_service.incidents import store as incidents_store
from ai_service.knowledge.service import prepare_embedder
from db.connection import connect

feedback_app = typer.Typer(
    help="Tell nocai what was right: a triage, a plan, a step. What it teaches changes the next triages.\n\n"
    "Example: nocai feedback triage 3f0c... --verdict confirm",
    no_args_is_help=True,
    rich_markup_mode=None,
)
metrics_app = typer.Typer(
    help="Measures of the incidents nocai handled.\n\nExample: nocai metrics mttr",
    no_args_is_help=True,
    rich_markup_mode=None,
)
drafts_app = typer.Typer(
    help="Draft runbooks written from the steps responders took where nothing matched.\n\nExample: nocai drafts list",
    no_args_is_help=True,
    rich_markup_mode=None,
)

UserOption = Annotated[str | None, typer.Option(help="Who says it (default: your login name).")]
NotesOption = Annotated[str | None, typer.Option(help="Why, in a sentence.")]


def _user(value: str | None) -> str:
    return (value or getpass.getuser()).strip() or "cli"


def _print_learned(learned: Learned, as_json: bool) -> None:
    if as_json:
        typer.echo(learned.model_dump_json(indent=2))
        return
    console.print(f"feedback {learned.feedback_id} stored", markup=False)
    for change in learned.changes:
        console.print(f"  {change}", markup=False)


_Model = TypeVar("_Model", bound=BaseModel)


def _valid(model: type[_Model], **values: object) -> _Model:
    """The feedback model of the options given; InputError with pydantic's reason otherwise."""
    try:
        return model.model_validate(values)
    except ValueError as exc:
        raise InputError(str(exc).splitlines()[-1].strip(), hint="see `nocai feedback --help`") from exc


@feedback_app.command("triage")
def feedback_triage_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    verdict: Annotated[str, typer.Option(help="confirm, correct or wrong_runbook.")],
    failure_type: Annotated[str | None, typer.Option(help="With correct: the right failure type.")] = None,
    severity: Annotated[str | None, typer.Option(help="With correct: the right severity.")] = None,
    group: Annotated[str | None, typer.Option(help="With correct: the team that owns it.")] = None,
    runbook: Annotated[str | None, typer.Option(help="The runbook that was right.")] = None,
    user: UserOption = None,
    notes: NotesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what it taught as JSON.")] = False,
) -> None:
    """Judge an incident's triage: confirm it, correct it, or say its runbook was wrong.

    Example: nocai feedback triage 3f0c... --verdict wrong_runbook --runbook linux-disk-full
    """
    feedback = _valid(
        TriageFeedback,
        verdict=verdict.strip().lower(),
        failure_type=failure_type,
        severity=severity.strip().lower() if severity else None,
        assignment_group=group,
        runbook_id=runbook,
        notes=notes,
    )
    with connect(autocommit=True) as conn:
        learned = give_triage_feedback(conn, incident_id_of(incident_id), feedback, user=_user(user))
    _print_learned(learned, as_json)


@feedback_app.command("plan")
def feedback_plan_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    verdict: Annotated[str, typer.Option(help="accept, edit or reject.")],
    step: Annotated[list[str] | None, typer.Option(help="With edit: a step actually taken (repeatable).")] = None,
    user: UserOption = None,
    notes: NotesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what it taught as JSON.")] = False,
) -> None:
    """Judge an incident's plan: accepted as it is, edited (the steps actually taken), or rejected.

    Example: nocai feedback plan 3f0c... --verdict edit --step linux-disk-full-S1 --step linux-disk-full-S4
    """
    feedback = _valid(PlanFeedback, verdict=verdict.strip().lower(), steps=step or None, notes=notes)
    with connect(autocommit=True) as conn:
        learned = give_plan_feedback(conn, incident_id_of(incident_id), feedback, user=_user(user))
    _print_learned(learned, as_json)


@feedback_app.command("step")
def feedback_step_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    step_id: Annotated[str, typer.Argument(help="The step of its plan.")],
    outcome: Annotated[str, typer.Option(help="fixed_it, did_nothing, made_worse or skipped.")],
    user: UserOption = None,
    notes: NotesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what it taught as JSON.")] = False,
) -> None:
    """Say what a step of the plan did when you ran it.

    Example: nocai feedback step 3f0c... linux-disk-full-S4 --outcome fixed_it
    """
    feedback = _valid(StepFeedback, step_id=step_id, outcome=outcome.strip().lower().replace("-", "_"), notes=notes)
    settings = get_settings()
    with connect(autocommit=True) as conn:
        embedder = prepare_embedder(conn, settings)
        learned = give_step_feedback(conn, embedder, incident_id_of(incident_id), feedback, user=_user(user))
    _print_learned(learned, as_json)


@incidents_app.command("close")
def close_cmd(
    incident_id: Annotated[str, typer.Argument(help="The incident's id.")],
    user: UserOption = None,
    notes: NotesOption = None,
) -> None:
    """Close an open incident by hand (its resolved notification will not come); its time to resolve ends now.

    Example: nocai incidents close 3f0c2a4e-... --notes "failed over to the replica; primary rebuilt"
    """
    ident = incident_id_of(incident_id)
    who = _user(user)
    with connect(autocommit=True) as conn, conn.transaction():
        if not incidents_store.close_incident(conn, ident, user=who, note=notes):
            if incidents_store.get_incident(conn, ident) is None:
                raise NotFoundError(f"no incident {ident}", hint="`nocai incidents list` shows the ids")
            raise ConflictError(f"incident {ident} is already resolved", hint="nothing to close")
    console.print(f"incident {ident} closed by {who}", markup=False)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NOTHING
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@metrics_app.command("mttr")
def mttr_cmd(
    since: Annotated[datetime | None, typer.Option(help="Only incidents resolved since (YYYY-MM-DD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Time to resolve (from the first alert to its resolved notification or a human closing it): mean, median
    and p95, overall, per service and per band.

    Example: nocai metrics mttr --since 2026-11-01
    """
    with connect(autocommit=True) as conn:
        overall = incidents_store.mttr(conn, since=since)
        by_service = incidents_store.mttr_by(conn, key="service", since=since)
        by_band = incidents_store.mttr_by(conn, key="band", since=since)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "overall": overall.model_dump(),
                    "by_service": [g.model_dump() for g in by_service],
                    "by_band": [g.model_dump() for g in by_band],
                },
                indent=2,
            )
        )
        return
    table = Table(title=f"time to resolve ({overall.resolved} resolved incidents)")
    for column in ("", "resolved", "mean", "median", "p95"):
        table.add_column(column, justify="right")
    table.add_row(
        "all",
        str(overall.resolved),
        _duration(overall.mean_seconds),
        _duration(overall.median_seconds),
        _duration(overall.p95_seconds),
    )
    for label, groups in (("service", by_service), ("band", by_band)):
        for group in groups:
            table.add_row(
                f"{label} {show(group.key)}",
                str(group.resolved),
                _duration(group.mean_seconds),
                _duration(group.median_seconds),
                _duration(group.p95_seconds),
            )
    console.print(table)


@drafts_app.command("list")
def drafts_list_cmd() -> None:
    """Draft runbooks waiting to be published.

    Example: nocai drafts list
    """
    with connect(autocommit=True) as conn:
        drafts = feedback_store.list_drafts(conn)
    table = Table(title="draft runbooks")
    for column in ("id", "title", "steps", "by", "incident"):
        table.add_column(column, overflow="fold")
    for draft in drafts:
        table.add_row(str(draft.id), draft.title, str(len(draft.steps)), show(draft.created_by), str(draft.incident_id))
    console.print(table)


@drafts_app.command("publish")
def drafts_publish_cmd(
    draft_id: Annotated[str, typer.Argument(help="The draft's id (see `nocai drafts list`).")],
    user: UserOption = None,
) -> None:
    """Publish a draft runbook into the knowledge base (written as YAML under NOCAI_DATA_DIR/runbooks/published).

    Example: nocai drafts publish 7b1e...
    """
    try:
        ident = uuid.UUID(draft_id)
    except ValueError as exc:
        raise InputError(f"{draft_id!r} is not a draft id", hint="`nocai drafts list` shows the ids") from exc
    settings = get_settings()
    with connect(autocommit=True) as conn:
        embedder = prepare_embedder(conn, settings)
        draft = publish_draft(
            conn, embedder, ident, folder=settings.data_dir / "runbooks" / "published", user=_user(user)
        )
    console.print(f"published as runbook {draft.runbook_id}", markup=False)
