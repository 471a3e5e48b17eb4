"""`nocai ingest ...` and `nocai kb ...`: fill and inspect the knowledge base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ai_service.cli.console import console, err_console
from ai_service.cli.progress import progress_bar
from ai_service.config import get_settings
from ai_service.knowledge import service, store
from ai_service.knowledge.embeddings import create_embedder
from ai_service.knowledge.reembed import reembed
from ai_service.knowledge.signatures import IncidentIngestReport, ingest_incidents
from db import vectors
from db.connection import connect

ingest_app = typer.Typer(
    help="Load runbooks and past incidents into the knowledge base.\n\nExample: nocai ingest runbooks ./runbooks",
    no_args_is_help=True,
    rich_markup_mode=None,
)
kb_app = typer.Typer(
    help="Inspect and maintain the knowledge base.\n\nExample: nocai kb stats",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def print_ingest_report(report: service.IngestReport, *, as_json: bool = False) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "dry_run": report.dry_run,
                    "seconds": round(report.seconds, 3),
                    "texts_embedded": report.texts_embedded,
                    "embeddings_reused": report.embeddings_reused,
                    "files": [vars(f) for f in report.files],
                },
                indent=2,
            )
        )
        return
    for failed in report.failed:
        err_console.print(f"[red]failed[/]: {escape(str(failed.error))}", markup=True)
    table = Table(title="runbook ingest" + (" (dry run: nothing written)" if report.dry_run else ""))
    for column in (
        "files",
        "new",
        "updated",
        "unchanged",
        "removed",
        "failed",
        "steps +",
        "steps ~",
        "steps =",
        "steps -",
        "embedded",
        "seconds",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(len(report.files)),
        str(report.count("new")),
        str(report.count("updated")),
        str(report.count("unchanged")),
        str(report.count("removed")),
        str(report.count("failed")),
        str(report.total("steps_new")),
        str(report.total("steps_updated")),
        str(report.total("steps_unchanged")),
        str(report.total("steps_removed")),
        str(report.texts_embedded),
        f"{report.seconds:.2f}",
    )
    console.print(table)


@ingest_app.command("runbooks")
def ingest_runbooks_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Runbook files or folders (Markdown, YAML, JSON, DOCX).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Parse and compare; write nothing.")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove runbooks whose files under these folders are gone.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Split runbooks into atomic steps, embed them and store them; unchanged files cost nothing.

    Exit code 2 when any file failed to parse (the others are still ingested).

    Example: nocai ingest runbooks ./runbooks --dry-run
    """
    settings = get_settings()
    with connect(autocommit=True) as conn:
        embedder = service.prepare_embedder(conn, settings)
        with progress_bar(not as_json) as progress:
            report = service.ingest_runbooks(conn, embedder, paths, dry_run=dry_run, prune=prune, progress=progress)
    print_ingest_report(report, as_json=as_json)
    if report.failed:
        raise typer.Exit(2)


@kb_app.command("stats")
def stats_cmd() -> None:
    """Counts of runbooks, steps (by risk and phase), signatures and past incidents.

    Example: nocai kb stats
    """
    with connect() as conn:
        stats = store.knowledge_stats(conn)
    table = Table(title="knowledge base")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("runbooks", str(stats.runbooks))
    table.add_row("runbook steps", str(stats.steps))
    table.add_row("  without embedding", str(stats.steps_without_embedding))
    for risk, count in sorted(stats.steps_by_risk.items()):
        table.add_row(f"  risk {risk}", str(count))
    for phase, count in sorted(stats.steps_by_phase.items()):
        table.add_row(f"  phase {phase}", str(count))
    table.add_row("incident signatures", str(stats.signatures))
    table.add_row("past incidents", str(stats.historical_incidents))
    table.add_row("  not in a signature", str(stats.unassigned_incidents))
    console.print(table)
    if stats.services:
        services = Table(title="steps by service")
        services.add_column("service")
        services.add_column("steps", justify="right")
        for name, count in stats.services:
            services.add_row(name, str(count))
        console.print(services)


@kb_app.command("load-sample")
def load_sample_cmd() -> None:
    """Load the bundled sample knowledge base (12 runbooks, 300 past incidents).

    Example: nocai kb load-sample
    """
    settings = get_settings()
    with connect(autocommit=True) as conn:
        embedder = service.prepare_embedder(conn, settings)
        with progress_bar() as progress:
            report = service.ingest_runbooks(conn, embedder, [service.SAMPLE_DIR / "runbooks"], progress=progress)
            incidents = ingest_incidents(conn, embedder, [service.SAMPLE_DIR / "incidents.csv"], progress=progress)
    print_ingest_report(report)
    print_incident_report(incidents)


@kb_app.command("reembed")
def reembed_cmd(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before switching models.")] = False,
) -> None:
    """Re-embed the knowledge base with the configured model (NOCAI_EMBEDDING_*); resumable.

    Switching models retypes the vector columns and clears the old vectors first; until the run completes,
    searches see only the rows already re-embedded. Running it again continues where it stopped.

    Example: nocai kb reembed --yes   (after setting e.g. NOCAI_EMBEDDING_PROVIDER=openai,
    NOCAI_EMBEDDING_URL=http://localhost:11434/v1, NOCAI_EMBEDDING_MODEL=nomic-embed-text,
    NOCAI_EMBEDDING_DIMENSION=768)
    """
    settings = get_settings()
    embedder = create_embedder(settings)
    with connect(autocommit=True) as conn:
        registered = vectors.registered_model(conn)
        switching = registered is not None and (registered.model, registered.dimension) != (
            embedder.model_name,
            embedder.dimension,
        )
        if switching and not yes and registered is not None:
            typer.confirm(
                f"Switch from {registered.model} ({registered.dimension}-d) to {embedder.model_name} "
                f"({embedder.dimension}-d) and re-embed everything?",
                abort=True,
            )
        with progress_bar() as progress:
            report = reembed(conn, embedder, progress=progress)
    if report.switched_from:
        console.print(f"switched from {report.switched_from[0]} ({report.switched_from[1]}-d)")
    for table, count in report.embedded.items():
        console.print(f"{table}: {count} re-embedded")
    console.print(f"all vectors now from {report.model} ({report.dimension}-d), {report.seconds:.1f} s")


@kb_app.command("relabel")
def relabel_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Relabel runbooks and incident signatures with the failure taxonomy (docs/taxonomy.md); idempotent.

    For a knowledge base stored before failure types came from the taxonomy: signature ids and history stay,
    their failure type and error class become the taxonomy's, and the relabelled ones are embedded again.

    Example: nocai kb relabel
    """
    settings = get_settings()
    with connect(autocommit=True) as conn:
        embedder = service.prepare_embedder(conn, settings)
        report = service.relabel_knowledge_base(conn, embedder)
    if as_json:
        typer.echo(json.dumps(vars(report), indent=2))
        return
    console.print(
        f"runbooks: {report.runbooks_relabelled} of {report.runbooks} relabelled; "
        f"signatures: {report.signatures_relabelled} of {report.signatures} relabelled "
        f"({report.texts_embedded} embedded again) in {report.seconds:.1f} s",
        markup=False,
    )


@ingest_app.command("incidents")
def ingest_incidents_cmd(
    files: Annotated[list[Path], typer.Argument(help="ServiceNow CSV exports or JSON Lines files.")],
    mapping: Annotated[
        Path | None, typer.Option(help="YAML column mapping for other exports (see docs/incident-import.md).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and compare; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import past incidents and grow the incident signatures they cluster into.

    Exit code 2 when any row or file could not be read (the others are still imported).

    Example: nocai ingest incidents incidents_2025.csv --mapping jira_mapping.yaml
    """
    settings = get_settings()
    with connect(autocommit=True) as conn:
        embedder = service.prepare_embedder(conn, settings)
        with progress_bar(not as_json) as progress:
            report = ingest_incidents(conn, embedder, files, mapping=mapping, dry_run=dry_run, progress=progress)
    print_incident_report(report, as_json=as_json)
    if report.errors:
        raise typer.Exit(2)


def print_incident_report(report: IncidentIngestReport, *, as_json: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(vars(report), indent=2, default=str))
        return
    for error in report.errors:
        err_console.print(f"[red]error[/]: {escape(str(error))}", markup=True)
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", markup=False)
    table = Table(title="incident import" + (" (dry run: nothing written)" if report.dry_run else ""))
    for column in (
        "files",
        "rows",
        "new",
        "updated",
        "unchanged",
        "errors",
        "embedded",
        "signatures +",
        "signatures grown",
        "assigned",
        "waiting",
        "seconds",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(report.files),
        str(report.rows_read),
        str(report.new),
        str(report.updated),
        str(report.unchanged),
        str(len(report.errors)),
        str(report.texts_embedded),
        str(report.signatures_created),
        str(report.signatures_grown),
        str(report.incidents_assigned),
        str(report.incidents_unassigned),
        f"{report.seconds:.2f}",
    )
    console.print(table)
