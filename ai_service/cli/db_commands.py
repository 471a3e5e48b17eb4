"""`nocai db ...`: the storage layer's commands — the guide's migrate / init / verify / rollback and their kin."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ai_service.cli.console import console, err_console
from ai_service.cli.views import show
from ai_service.config import get_settings
from ai_service.errors import ConfigurationError
from ai_service.knowledge import legacy, service
from db import embedded, migrate, tools, vectors
from db import verify as verify_mod
from db.connection import connect, database_url, describe_url, pgvector_version, server_version

db_app = typer.Typer(
    help="Database: migrations, fresh install, verification, rollback, backups and the embedded server.\n\n"
    "Example: nocai db migrate --dry-run",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _print_report(report: migrate.MigrationReport) -> None:
    if report.ledger_created:
        console.print("created the migration ledger (schema_migrations)")
    for name in report.recorded:
        console.print(f"recorded  {name}  (applied by schema.sql)")
    for name, ms in report.applied:
        console.print(f"applied   {name}  ({ms:.0f} ms)")
    for notice in report.notices:
        console.print(f"notice    {notice}")
    if not report.applied and not report.recorded:
        console.print("nothing to apply: the database is up to date")


def _align_embedding_model() -> None:
    """After a fresh install, adopt the configured embedding model while no vector is stored yet."""
    settings = get_settings()
    with connect(autocommit=True) as conn:
        if vectors.align_empty_store(conn, model=settings.embedding_model, dimension=settings.embedding_dimension):
            console.print(
                f"vector columns set to {settings.embedding_model} ({settings.embedding_dimension}-d), "
                "the configured embedding model"
            )


@db_app.command("migrate")
def migrate_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would run; write nothing.")] = False,
    lock_timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for another runner (default NOCAI_MIGRATION_LOCK_TIMEOUT).")
    ] = None,
) -> None:
    """Apply pending migrations from db/migrations, in order, each once.

    Example: nocai db migrate      (same as: python scripts/db/run_migration.py)
    """
    if dry_run:
        status_cmd()
        return
    report = migrate.migrate(lock_timeout=lock_timeout)
    _print_report(report)
    _align_embedding_model()


@db_app.command("status")
def status_cmd() -> None:
    """Show each migration's state (applied, pending, changed, missing) without writing anything.

    Example: nocai db status
    """
    plan = migrate.status()
    table = Table(title="migrations" + ("" if plan.has_ledger else " (no ledger yet: every file would run)"))
    for column in ("version", "file", "state", "applied at", "ms", "applied by"):
        table.add_column(column)
    for item in plan.items:
        row = item.ledger
        table.add_row(
            item.version,
            item.filename,
            item.state,
            f"{row.applied_at:%Y-%m-%d %H:%M:%S}" if row else "",
            f"{row.duration_ms:.0f}" if row and row.duration_ms is not None else "",
            row.applied_by if row else "",
        )
    console.print(table)
    pending = plan.pending
    console.print(f"{len(pending)} pending" + (f": {', '.join(f.filename for f in pending)}" if pending else ""))
    migrate.refuse_problems(plan)


@db_app.command("init")
def init_cmd(
    lock_timeout: Annotated[float | None, typer.Option(help="Seconds to wait for another runner.")] = None,
) -> None:
    """Fresh install: apply db/schema.sql and record the migrations it holds.

    Example: nocai db init      (same as: python scripts/db/init_db.py)
    """
    report = migrate.init_db(lock_timeout=lock_timeout)
    _print_report(report)
    _align_embedding_model()


@db_app.command("verify")
def verify_cmd() -> None:
    """Check tables, indexes and vector indexes as the guide describes; exit 1 when anything is missing.

    Example: nocai db verify      (same as: python scripts/db/verify_db.py)
    """
    settings = get_settings()
    with connect(autocommit=True) as conn:
        result = verify_mod.verify(conn, model=settings.embedding_model, dimension=settings.embedding_dimension)
    for title, rows, columns in (
        ("Check Tables Exist", result.tables, ("table_name",)),
        ("Check Indexes", result.indexes, ("tablename", "indexname", "indexdef")),
        ("Check Vector Indexes", result.vector_indexes, ("schemaname", "tablename", "indexname", "index_size")),
    ):
        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(show(row[column]) for column in columns))
        console.print(table)
    summary = Table(title="Verification")
    for column in ("check", "result", "detail"):
        summary.add_column(column, overflow="fold")
    for check in result.checks:
        mark = "ok" if check.ok and not check.warning else ("warn" if check.warning else "FAIL")
        summary.add_row(check.name, mark, check.detail)
    console.print(summary)
    if not result.ok:
        console.print("verification FAILED")
        raise typer.Exit(1)
    console.print("verification passed")


@db_app.command("stats")
def stats_cmd() -> None:
    """Index usage (pg_stat_user_indexes) and table sizes, to monitor performance.

    Example: nocai db stats
    """
    with connect(autocommit=True) as conn:
        usage = tools.index_usage(conn)
        tables = tools.table_stats(conn)
    t = Table(title="index usage (pg_stat_user_indexes)")
    for column in ("table", "index", "scans", "tuples read", "tuples fetched", "size"):
        t.add_column(column)
    for u in usage:
        t.add_row(u.table, u.index, str(u.scans), str(u.tuples_read), str(u.tuples_fetched), u.size)
    console.print(t)
    s = Table(title="tables (pg_stat_user_tables)")
    for column in ("table", "live rows", "seq scans", "index scans", "total size"):
        s.add_column(column)
    for ts in tables:
        s.add_row(ts.table, str(ts.rows), str(ts.seq_scans), str(ts.index_scans), ts.size)
    console.print(s)


@db_app.command("reindex")
def reindex_cmd(
    method: Annotated[str, typer.Option(help="hnsw (default) or ivfflat.")] = "hnsw",
    lists: Annotated[int | None, typer.Option(help="IVFFlat lists (default: sized to the rows present).")] = None,
    concurrently: Annotated[
        bool, typer.Option("--concurrently", help="Build without blocking writes (CREATE INDEX CONCURRENTLY).")
    ] = False,
    table: Annotated[list[str] | None, typer.Option(help="Only this table (repeatable).")] = None,
    maintenance_work_mem: Annotated[str, typer.Option(help="Memory for the build; more is faster.")] = "512MB",
) -> None:
    """Rebuild the vector indexes (*_embedding_idx) after bulk loads, or switch HNSW <-> IVFFlat.

    Example: nocai db reindex --concurrently
    """
    if method not in ("hnsw", "ivfflat"):
        raise ConfigurationError(f"unknown index method {method!r}", hint="use --method hnsw or --method ivfflat")
    with connect(autocommit=True) as conn:
        results = vectors.reindex(
            conn,
            method=method,  # type: ignore[arg-type]
            lists=lists,
            concurrently=concurrently,
            tables=table,
            maintenance_work_mem=maintenance_work_mem,
        )
    for r in results:
        console.print(f"rebuilt {r.index} on {r.table}: {r.method}, {r.rows} vectors, {r.seconds:.1f} s")
        console.print(f"  {r.definition}")


@db_app.command("rollback")
def rollback_cmd(
    version: Annotated[str, typer.Argument(help="Migration number to roll back, e.g. 004 (later ones go too).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    backup_first: Annotated[
        bool | None, typer.Option("--backup/--no-backup", help="Dump the database first (asked when omitted).")
    ] = None,
    backup_dir: Annotated[Path | None, typer.Option(help="Where the backup goes (default: current directory).")] = None,
) -> None:
    """Roll back a migration with its down script (the guide's rollback for 004) and update the ledger.

    WARNING: rolling back 004 deletes all data in the four storage tables.

    Example: nocai db rollback 004 --backup --yes
    """
    url = database_url()
    if backup_first is None:
        backup_first = yes or typer.confirm("Back up the database first (pg_dump)?", default=True)
    if not yes:
        typer.confirm(
            f"Roll back migration {version} and every later one? This deletes the data in their tables.",
            abort=True,
        )
    if backup_first:
        path = tools.backup(url, tools.default_backup_path(backup_dir))
        console.print(f"backup written to {path}")
    done = migrate.rollback(url, version=version)
    for name in done:
        console.print(f"rolled back {name}")
    console.print("run `nocai db migrate` to apply them again")


@db_app.command("repair")
def repair_cmd(
    version: Annotated[str, typer.Argument(help="Number of the failed non-transactional migration.")],
) -> None:
    """Clear the failed mark of a non-transactional migration after fixing the database by hand.

    Example: nocai db repair 007
    """
    row = migrate.repair(version=version)
    console.print(f"cleared {row.filename} (was {row.status}); `nocai db migrate` will run it again")


@db_app.command("backup")
def backup_cmd(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default backup_<time>.sql).")
    ] = None,
) -> None:
    """Dump the whole database to a plain SQL file with pg_dump (shipped with nocai).

    Example: nocai db backup -o backup_before_upgrade.sql
    """
    path = tools.backup(database_url(), output or tools.default_backup_path())
    console.print(f"backup written to {path} ({path.stat().st_size / 1024:.0f} KiB)")


@db_app.command("restore")
def restore_cmd(
    dump: Annotated[Path, typer.Argument(help="A file written by `nocai db backup`.", exists=True, dir_okay=False)],
) -> None:
    """Replay a backup into the (empty) database.

    Example: nocai db restore backup_20261124_101500.sql
    """
    tools.restore(database_url(), dump)
    console.print(f"restored {dump}")


@db_app.command("build-schema")
def build_schema_cmd(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if db/schema.sql is not up to date.")] = False,
) -> None:
    """Regenerate db/schema.sql from db/migrations (run after adding a migration).

    Example: nocai db build-schema --check
    """
    text = migrate.build_schema_sql()
    current = migrate.SCHEMA_FILE.read_text(encoding="utf-8") if migrate.SCHEMA_FILE.exists() else ""
    if check:
        if current != text:
            console.print("db/schema.sql is out of date: run `nocai db build-schema`")
            raise typer.Exit(1)
        console.print("db/schema.sql is up to date")
        return
    migrate.SCHEMA_FILE.write_text(text, encoding="utf-8")
    console.print(f"wrote {migrate.SCHEMA_FILE}")


@db_app.command("set-embedding-model")
def set_embedding_model_cmd(
    model: Annotated[str, typer.Option(help="Model name to record.")],
    dimension: Annotated[int, typer.Option(help="Its vector dimension.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Retype the vector columns for another embedding model and rebuild their indexes.

    Stored vectors are cleared (the text stays); `nocai kb reembed` fills them again.

    Example: nocai db set-embedding-model --model text-embedding-3-small --dimension 1536
    """
    with connect(autocommit=True) as conn:
        stored = vectors.count_embeddings(conn)
        if stored and not yes:
            typer.confirm(f"Clear {stored} stored vectors and switch to {model} ({dimension}-d)?", abort=True)
        changed = vectors.set_embedding_model(conn, model=model, dimension=dimension)
    console.print(f"vector columns now {model} ({dimension}-d)" if changed else "already on that model")


def _lasting_url() -> str:
    """The URL, with the embedded server left running: the URL is for other programs to use after we exit."""
    settings = get_settings()
    if not settings.uses_embedded_database:
        return database_url(settings)
    url = database_url(settings.model_copy(update={"embedded_keep_running": True}))
    err_console.print("embedded PostgreSQL left running for other programs; `nocai db stop` stops it")
    return url


@db_app.command("url")
def url_cmd() -> None:
    """Print the database URL nocai uses (starting the embedded server if needed).

    Example: psql "$(nocai db url)"
    """
    typer.echo(_lasting_url())


@db_app.command("env")
def env_cmd() -> None:
    """Print PG* exports so that plain psql / pg_dump reach nocai's database.

    Example: eval "$(nocai db env)" && psql -c 'SELECT 1'
    """
    for key, value in tools.libpq_environment(_lasting_url()).items():
        typer.echo(f"export {key}='{value}'")
    typer.echo(f"export PATH='{embedded.bin_dir()}':\"$PATH\"")


@db_app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def psql_cmd(ctx: typer.Context) -> None:
    """Open psql on nocai's database; extra arguments go to psql.

    Example: nocai db psql -c "SELECT count(*) FROM runbook_steps"
    """
    command, env = tools.psql_command(database_url(), list(ctx.args))
    code = subprocess.call(command, env=env)
    raise typer.Exit(code)


@db_app.command("start")
def start_cmd() -> None:
    """Start the embedded server and keep it running after nocai exits (faster repeated commands).

    Example: nocai db start
    """
    settings = get_settings()
    if not settings.uses_embedded_database:
        console.print(f"DATABASE_URL is set ({describe_url(settings.database_url or '')}); nothing to start")
        return
    server = embedded.start(settings.embedded_pgdata, keep_running=True)
    pending = server.configure({"shared_buffers": settings.embedded_shared_buffers})
    server.ensure_database(settings.db_name)
    console.print(f"embedded PostgreSQL running in {server.pgdata} (stop it with `nocai db stop`)")
    if pending:
        console.print(f"{', '.join(pending)} changed: applies after `nocai db stop` and the next start")


@db_app.command("stop")
def stop_cmd() -> None:
    """Stop the embedded server now.

    Example: nocai db stop
    """
    settings = get_settings()
    if not settings.uses_embedded_database:
        console.print("DATABASE_URL is set; nocai does not manage that server")
        return
    stopped = embedded.stop(settings.embedded_pgdata)
    console.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@db_app.command("info")
def info_cmd() -> None:
    """Show which database nocai uses and the embedded server's state.

    Example: nocai db info
    """
    settings = get_settings()
    lines: list[tuple[str, str]] = []
    if settings.uses_embedded_database:
        lines.append(("embedded server", embedded.status(settings.embedded_pgdata).describe()))
    url = database_url(settings)
    lines.append(("database", describe_url(url)))
    with connect(url, autocommit=True) as conn:
        version = server_version(conn)
        installed, _ = pgvector_version(conn)
        registered = vectors.registered_model(conn)
        plan = migrate.make_plan(conn, migrate.discover())
    applied = [item for item in plan.items if item.state == "applied"]
    lines.append(("server", f"PostgreSQL {version}"))
    lines.append(("pgvector", installed or "not created"))
    lines.append(
        ("embedding model", f"{registered.model} ({registered.dimension}-d)" if registered else "not recorded")
    )
    pending = [f.filename for f in plan.pending]
    waiting = ""
    if pending:  # on a database never initialised, every file is pending: the count says enough
        waiting = f", {len(pending)} pending" + (f": {', '.join(pending)}" if applied else "")
    lines.append(("migrations", f"{len(applied)} applied{waiting}"))
    lines.append(("process", f"pid {os.getpid()}"))
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        console.print(f"{key + ':':<{width + 1}} {value}", markup=False)
    if not applied:
        raise migrate.not_initialised_error()


@db_app.command("migrate-chunks")
def migrate_chunks_cmd(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would move; write nothing.")] = False,
) -> None:
    """Move runbook steps and incident signatures an older install kept in `chunks` into the new tables.

    Idempotent; the chunks rows are kept. Vectors are re-embedded unless they come from the configured model.

    Example: nocai db migrate-chunks --dry-run
    """
    settings = get_settings()
    with connect(autocommit=True) as conn:
        embedder = service.prepare_embedder(conn, settings)
        report = legacy.migrate_chunks(conn, embedder, dry_run=dry_run)
    table = Table(title="chunks migration" + (" (dry run: nothing written)" if dry_run else ""))
    for column in (
        "chunks",
        "steps moved",
        "steps already there",
        "signatures moved",
        "signatures already there",
        "runbooks created",
        "embedded",
        "vectors reused",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        str(report.chunks_seen),
        str(report.steps_migrated),
        str(report.steps_already_present),
        str(report.signatures_migrated),
        str(report.signatures_already_present),
        str(report.runbooks_created),
        str(report.texts_embedded),
        str(report.vectors_reused),
    )
    console.print(table)
