"""`nocai serve`, `nocai worker`, `nocai queue ...` and `nocai tokens ...`: the service and its chores."""

from __future__ import annotations

import json
import signal
import threading
from typing import Annotated

import typer
from rich.table import Table

from ai_service import logs
from ai_service.api.server import serve
from ai_service.auth.service import create_token, parse_role, revoke_token
from ai_service.auth.store import list_tokens
from ai_service.cli.console import console, err_console
from ai_service.cli.views import NOTHING, show
from ai_service.config import get_settings
from ai_service.queue import store as queue_store
from ai_service.service.runtime import Runtime
from db.connection import connect

queue_app = typer.Typer(
    help="The triage work queue: what waits, runs or failed.\n\nExample: nocai queue status",
    no_args_is_help=True,
    rich_markup_mode=None,
)
tokens_app = typer.Typer(
    help="API tokens for the service (shown once at creation, stored as SHA-256).\n\n"
    "Example: nocai tokens create --role ingest --name alertmanager",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def serve_cmd() -> None:
    """Run the service: migrate, start the triage workers, serve the API (the same as python -m ai_service.main).

    Example: nocai serve      (same as: python -m ai_service.main)
    """
    serve(get_settings())


def worker_cmd(
    count: Annotated[int | None, typer.Option("--count", help="Worker threads (default NOCAI_WORKERS, or 1).")] = None,
) -> None:
    """Run triage workers without the HTTP API, until SIGTERM or Ctrl-C (in-flight triages finish first).

    Example: nocai worker --count 2
    """
    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    workers = count if count is not None else max(settings.workers, 1)
    if workers < 1:
        raise typer.BadParameter("at least one worker", param_hint="--count")
    runtime = Runtime.start(settings, workers=workers)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    err_console.print(f"{workers} triage worker(s) running; stop with Ctrl-C or SIGTERM")
    try:
        stopped.wait()
    finally:
        runtime.close()


@queue_app.command("status")
def queue_status_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """How many triage items wait, run, are done or are dead; the dead ones with their errors.

    Example: nocai queue status
    """
    with connect(autocommit=True) as conn:
        state = queue_store.status(conn)
        dead = queue_store.items(conn, statuses=("dead",), limit=20)
    if as_json:
        typer.echo(
            json.dumps(
                {"status": state.model_dump(mode="json"), "dead": [d.model_dump(mode="json") for d in dead]}, indent=2
            )
        )
        return
    oldest = f"{state.oldest_queued_seconds:.1f} s" if state.oldest_queued_seconds is not None else NOTHING
    console.print(
        f"queued {state.queued} · running {state.running} · done {state.done} · dead {state.dead} · "
        f"oldest waiting {oldest}" + (f" · expired leases {state.expired_leases}" if state.expired_leases else "")
    )
    if dead:
        table = Table(title="dead items (retry with `nocai queue retry`)")
        for column in ("item", "incident", "attempts", "error"):
            table.add_column(column, overflow="fold")
        for item in dead:
            table.add_row(str(item.id), show(item.incident_id), str(item.attempts), show(item.last_error))
        console.print(table)


@queue_app.command("retry")
def queue_retry_cmd(
    items: Annotated[list[int] | None, typer.Argument(help="Dead work item ids (default: all dead items).")] = None,
) -> None:
    """Queue dead triage items again with fresh attempts (after fixing what made them fail).

    Example: nocai queue retry 42 43
    """
    with connect(autocommit=True) as conn, conn.transaction():
        ids = queue_store.retry(conn, item_ids=items or None)
        if ids:
            queue_store.notify(conn)
    console.print(f"queued again: {', '.join(map(str, ids))}" if ids else "no dead item to retry")


@tokens_app.command("create")
def tokens_create_cmd(
    role: Annotated[str, typer.Option(help="ingest, viewer, responder or admin.")],
    name: Annotated[str | None, typer.Option(help="Who or what uses it (e.g. alertmanager, alice).")] = None,
    policy_role: Annotated[
        list[str] | None,
        typer.Option(help="A role the policy's approvers list (e.g. sre); repeatable. Default: the role's own."),
    ] = None,
) -> None:
    """Create an API token; the token is printed alone on the last line, and only this once.

    Example: nocai tokens create --role ingest --name alertmanager | tail -1
    """
    chosen = parse_role(role)
    with connect(autocommit=True) as conn:
        created = create_token(conn, role=chosen, name=name, policy_roles=policy_role, created_by="nocai tokens")
    stored = created.stored
    err_console.print(
        f"created token {stored.name} (role {stored.role}, policy roles {show(stored.policy_roles)}, "
        f"id {stored.id}); it is shown only now:"
    )
    typer.echo(created.token)


@tokens_app.command("list")
def tokens_list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List API tokens (their first characters, never the secrets).

    Example: nocai tokens list
    """
    with connect(autocommit=True) as conn:
        found = list_tokens(conn, include_revoked=all_)
    table = Table(title="API tokens")
    for column in ("starts with", "name", "role", "policy roles", "created", "last used", "revoked"):
        table.add_column(column, overflow="fold")
    for t in found:
        table.add_row(
            t.token_prefix,
            t.name,
            t.role,
            show(t.policy_roles),
            show(t.created_at),
            show(t.last_used_at),
            show(t.revoked_at),
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke_cmd(
    key: Annotated[str, typer.Argument(help="The token's id, or at least 8 of its first characters.")],
) -> None:
    """Revoke an API token: every request with it is refused from now on.

    Example: nocai tokens revoke nocai_Ab3xY
    """
    with connect(autocommit=True) as conn:
        revoked = revoke_token(conn, key)
    for t in revoked:
        console.print(f"revoked {t.token_prefix}… ({t.name}, role {t.role})")
