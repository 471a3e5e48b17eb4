"""The `nocai` command line. Commands are thin: they parse options, call the core, and print.

Errors raised as :class:`~ai_service.errors.NocaiError` anywhere below are printed once, here, with the fix
they name, and the process exits with the error's exit code.
"""

from __future__ import annotations

import logging
import sys

import psycopg
import typer

from ai_service.cli.console import report_error
from ai_service.cli.db_commands import db_app
from ai_service.cli.demo_commands import demo_cmd
from ai_service.cli.docs_commands import docs_app
from ai_service.cli.eval_commands import eval_app
from ai_service.cli.feedback_commands import drafts_app, feedback_app, metrics_app
from ai_service.cli.kb_commands import ingest_app, kb_app
from ai_service.cli.search_commands import search_cmd
from ai_service.cli.service_commands import queue_app, serve_cmd, tokens_app, worker_cmd
from ai_service.cli.triage_commands import incidents_app, resolve_cmd, triage_cmd
from ai_service.errors import NocaiError, SchemaNotReadyError
from db import migrate

app = typer.Typer(
    name="nocai",
    help="nocai — triage alerts against runbook steps and past incident signatures in PostgreSQL + pgvector.\n\n"
    "Example: nocai db init",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(db_app, name="db")
app.add_typer(docs_app, name="docs")
app.add_typer(ingest_app, name="ingest")
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")
app.command("search")(search_cmd)
app.command("triage")(triage_cmd)
app.command("resolve")(resolve_cmd)
app.add_typer(incidents_app, name="incidents")
app.command("serve")(serve_cmd)
app.command("demo")(demo_cmd)
app.command("worker")(worker_cmd)
app.add_typer(queue_app, name="queue")
app.add_typer(tokens_app, name="tokens")
app.add_typer(feedback_app, name="feedback")
app.add_typer(metrics_app, name="metrics")
app.add_typer(drafts_app, name="drafts")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # Outside standalone mode, a typer.Exit comes back as the return value rather than as an exception.
        result = app(args=argv, prog_name="nocai", standalone_mode=False)
        if isinstance(result, int):
            return result
    except NocaiError as exc:
        return report_error(exc)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedFunction) as exc:
        # A command that does not check first met a database that was never initialised, or is older than this
        # nocai.
        return report_error(_schema_error(exc))
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except typer.TyperException as exc:  # usage errors (unknown option, missing argument ...)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    return 0


def _schema_error(exc: psycopg.Error) -> NocaiError:
    """What to tell a user whose command met a missing table, column or function."""
    try:
        initialised = migrate.is_initialised()
    except (NocaiError, psycopg.Error):
        initialised = True  # cannot tell: name the missing object and both fixes
    if not initialised:
        return migrate.not_initialised_error()
    first_line, *_ = str(exc).splitlines() or ["a table is missing"]
    return SchemaNotReadyError(
        f"the database is not up to date ({first_line})",
        hint="run python scripts/db/run_migration.py (or nocai db migrate) after an upgrade",
    )


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
