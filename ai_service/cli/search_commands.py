"""`nocai search`, `nocai eval retrieval` and `nocai eval triage`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from ai_service.cli.console import console
from ai_service.cli.progress import progress_bar
from ai_service.config import get_settings
from db.connection import connect, database_url

eval_app = typer.Typer(
    help="Measure nocai on labelled data.\n\nExample: nocai eval retrieval --runbooks ./runbooks --alerts alerts.jsonl",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@contextmanager
def scratch_knowledge_base(runbooks: Path, *, show_progress: bool) -> Iterator[tuple[psycopg.Connection, Any]]:
    """A throwaway database holding exactly ``runbooks`` (ingested with the configured model); dropped after."""
    from ai_service.knowledge.embeddings import create_embedder
    from ai_service.knowledge.service import ingest_runbooks
    from ai_service.retrieval.evaluation import scratch_database
    from db import migrate, vectors

    settings = get_settings()
    url, drop = scratch_database(database_url(settings))
    try:
        migrate.migrate(url)
        embedder = create_embedder(settings)
        with connect(url, autocommit=True) as conn:
            vectors.align_empty_store(conn, model=embedder.model_name, dimension=embedder.dimension)
            with progress_bar(show_progress) as progress:
                ingest_runbooks(conn, embedder, [runbooks], progress=progress)
            yield conn, embedder
    finally:
        drop()


def _leg(provenance) -> str:  # type: ignore[no-untyped-def]
    v, f = provenance.vector, provenance.fulltext
    vec = f"vec #{v.rank} {v.score:.3f}" if v.rank else "vec -"
    fts = f"bm25 #{f.rank} {f.score:.2f}" if f.rank else "bm25 -"
    return f"{vec} · {fts} · rrf {provenance.rrf:.4f}"


def search_cmd(
    text: Annotated[str, typer.Argument(help="What to search for (alert text, symptoms, a question).")],
    service: Annotated[str | None, typer.Option(help="Only hits of this service (a hard filter).")] = None,
    component: Annotated[str | None, typer.Option(help="Only hits of this component (a hard filter).")] = None,
    max_risk: Annotated[str | None, typer.Option(help="Steps: highest risk level to return (low|medium|high).")] = None,
    steps: Annotated[bool, typer.Option("--steps", help="Show only steps.")] = False,
    runbooks: Annotated[bool, typer.Option("--runbooks", help="Show only runbooks.")] = False,
    signatures: Annotated[bool, typer.Option("--signatures", help="Show only incident signatures.")] = False,
    limit: Annotated[int, typer.Option(help="Hits per kind.")] = 5,
    mmr: Annotated[
        float | None,
        typer.Option(
            help="Diversify steps and signatures with Maximal Marginal Relevance: 1.0 keeps the relevance order, "
            "lower values push near-duplicates down (0.7 is a good start).",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result with provenance as JSON.")] = False,
) -> None:
    """Hybrid search (vector + full text, fused) over runbooks, steps and signatures, with provenance.

    Example: nocai search "disk almost full on /var" --service linux-host --steps
    """
    from ai_service.errors import InputError
    from ai_service.knowledge.service import prepare_embedder
    from ai_service.retrieval.query_text import SearchQuery, normalize_text
    from ai_service.retrieval.service import SearchOptions, search
    from ai_service.retrieval.store import Filters

    if max_risk not in (None, "low", "medium", "high"):
        raise InputError(f"unknown risk level {max_risk!r}", hint="use --max-risk low, medium or high")
    settings = get_settings()
    options = SearchOptions(
        runbooks=limit,
        steps=limit,
        signatures=limit,
        filters=Filters(service=service, component=component, max_risk=max_risk),
        mmr=mmr,
    )
    with connect(autocommit=True) as conn:
        embedder = prepare_embedder(conn, settings)
        result = search(conn, embedder, SearchQuery(text=normalize_text(text) or text), options)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    show_all = not (steps or runbooks or signatures)
    a = result.abstention
    verdict = "NO GOOD MATCH (abstained)" if a.abstained else "match"
    console.print(f"query: {result.query_text}")
    console.print(f"{verdict}: p(match) {a.match_probability:.2f}, threshold {a.threshold:.2f}")
    if runbooks or show_all:
        table = Table(title="runbooks")
        for column in ("#", "runbook", "title", "score", "provenance"):
            table.add_column(column, overflow="fold")
        for i, hit in enumerate(result.runbooks, start=1):
            boosts = "; ".join(hit.provenance.boosts)
            table.add_row(
                str(i),
                hit.runbook_id,
                hit.title,
                f"{hit.provenance.score:.4f}",
                _leg(hit.provenance) + (f" · {boosts}" if boosts else ""),
            )
        console.print(table)
    if steps or show_all:
        table = Table(title="steps")
        for column in ("#", "step", "risk", "condition", "action", "provenance"):
            table.add_column(column, overflow="fold")
        for i, step in enumerate(result.steps, start=1):
            table.add_row(
                str(i),
                step.step_id,
                step.risk_level or "",
                step.condition[:80],
                step.action.splitlines()[0][:100],
                _leg(step.provenance) if step.provenance else "",
            )
        console.print(table)
    if signatures or show_all:
        table = Table(title="incident signatures")
        for column in ("#", "signature", "failure type", "error class", "tickets", "provenance"):
            table.add_column(column, overflow="fold")
        for i, sig in enumerate(result.signatures, start=1):
            table.add_row(
                str(i),
                sig.incident_signature_id,
                sig.failure_type,
                sig.error_class,
                str(sig.incident_count),
                _leg(sig.provenance),
            )
        console.print(table)


@eval_app.command("retrieval")
def eval_retrieval_cmd(
    runbooks: Annotated[
        Path, typer.Option(help="Folder of runbooks (the knowledge base).", exists=True, file_okay=False)
    ],
    alerts: Annotated[Path, typer.Option(help="JSON Lines of alerts with their runbook.", exists=True, dir_okay=False)],
    no_runbook: Annotated[
        Path | None, typer.Option(help="JSON Lines of alerts that have no runbook.", exists=True, dir_okay=False)
    ] = None,
    k: Annotated[int, typer.Option(help="RRF constant.")] = 10,
    save_calibration: Annotated[
        Path | None,
        typer.Option(
            help="Write the abstention rule fitted on all the data to this JSON file (its confidence scaling, "
            "stored by `nocai eval triage --save-calibration`, is kept)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object with the figures and every alert.")] = False,
) -> None:
    """Top-1, top-5, MRR@10 and abstention for full text, vector and hybrid, side by side, on a scratch database.

    Example: nocai eval retrieval --runbooks runbooks/ --alerts alerts.jsonl --no-runbook alerts_no_runbook.jsonl
    """
    from ai_service.retrieval import evaluation

    answerable = evaluation.read_alerts(alerts, answerable=True)
    unanswerable = evaluation.read_alerts(no_runbook, answerable=False) if no_runbook else []
    with scratch_knowledge_base(runbooks, show_progress=not as_json) as (conn, embedder):
        result = evaluation.evaluate(conn, embedder, runbooks, answerable, unanswerable, k=k)
    if save_calibration:
        from ai_service.retrieval.calibration import Calibration

        if save_calibration.exists():  # keep the confidence scaling `nocai eval triage` stored there
            result.calibration.confidence_scaling = Calibration.load(save_calibration).confidence_scaling
        save_calibration.write_text(result.calibration.to_json() + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
        return
    table = Table(title=f"retrieval on {result.answerable} answerable + {result.unanswerable} unanswerable alerts")
    for column in ("leg", "top-1", "top-5", "MRR@10", "abstain (no runbook)", "false abstain"):
        table.add_column(column, justify="right")
    for leg, f in result.legs.items():
        table.add_row(
            leg,
            f"{f.top1:.3f}",
            f"{f.top5:.3f}",
            f"{f.mrr:.3f}",
            f"{f.abstain_rate:.3f}" if f.abstain_rate is not None else "-",
            f"{f.false_abstain_rate:.3f}" if f.false_abstain_rate is not None else "-",
        )
    console.print(table)
    console.print(
        "abstention: logistic rule, 5-fold cross-validation grouped by alertname, repeated 5 times and averaged; "
        "threshold at an out-of-fold 4% false abstention"
    )
    if result.unresolved_gold:
        console.print(
            f"warning: {len(result.unresolved_gold)} expected runbook paths are not in --runbooks, "
            f"e.g. {result.unresolved_gold[0]}"
        )


@eval_app.command("triage")
def eval_triage_cmd(
    runbooks: Annotated[
        Path, typer.Option(help="Folder of runbooks (the knowledge base).", exists=True, file_okay=False)
    ],
    alerts: Annotated[Path, typer.Option(help="JSON Lines of alerts with their runbook.", exists=True, dir_okay=False)],
    no_runbook: Annotated[
        Path | None, typer.Option(help="JSON Lines of alerts that have no runbook.", exists=True, dir_okay=False)
    ] = None,
    save_calibration: Annotated[
        Path | None,
        typer.Option(help="Store the confidence scaling fitted on all alerts in this calibration JSON file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object with the figures and every alert.")] = False,
) -> None:
    """Runbook of the first recommended step, severity accuracy and confidence calibration (reliability, ECE).

    Example: nocai eval triage --runbooks runbooks/ --alerts alerts.jsonl --no-runbook alerts_no_runbook.jsonl
    """
    from ai_service.policy.service import policy_from_settings
    from ai_service.triage import evaluation

    policy = policy_from_settings(get_settings())
    with scratch_knowledge_base(runbooks, show_progress=not as_json) as (conn, embedder):
        result = evaluation.evaluate(conn, embedder, runbooks, alerts, no_runbook, policy=policy)
    if save_calibration:
        from ai_service.retrieval.calibration import Calibration

        stored = Calibration.load(save_calibration)
        stored.confidence_scaling = result.confidence_scaling
        save_calibration.write_text(stored.to_json() + "\n", encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2, default=str))
        return
    console.print(
        f"runbook top-1 (first step) {result.runbook_top1:.3f} · severity accuracy {result.severity_accuracy:.3f} · "
        f"ECE {result.ece:.3f} (alerts with a plan: {result.ece_planned:.3f}; raw match probability: "
        f"{result.ece_uncalibrated:.3f}) · "
        f"no-match on answerable {result.no_match_rate:.3f}"
        + (
            f" · on unanswerable {result.no_match_rate_unanswerable:.3f}"
            if result.no_match_rate_unanswerable is not None
            else ""
        )
        + f" · p50 {result.p50_ms:.0f} ms per alert"
    )
    table = Table(title="reliability: predicted confidence vs observed accuracy of the first step")
    for column in ("confidence bin", "alerts", "mean confidence", "accuracy"):
        table.add_column(column, justify="right")
    for row in result.reliability:
        table.add_row(
            f"{row['low']:.1f}-{row['high']:.1f}",
            str(row["count"]),
            f"{row['confidence']:.2f}",
            f"{row['accuracy']:.2f}",
        )
    console.print(table)
