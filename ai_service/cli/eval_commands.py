"""`nocai eval retrieval`, `nocai eval triage` and `nocai eval feedback`: the figures of the README, measured on
labelled data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from ai_service.cli.console import console
from ai_service.cli.progress import progress_bar
from ai_service.config import get_settings
from ai_service.evaluation import feedback as feedback_evaluation
from ai_service.evaluation import retrieval as retrieval_evaluation
from ai_service.evaluation import triage as triage_evaluation
from ai_service.knowledge.embeddings import Embedder, create_embedder
from ai_service.knowledge.service import ingest_runbooks
from ai_service.policy.service import policy_from_settings
from ai_service.retrieval.calibration import Calibration
from db import migrate, vectors
from db.connection import connect, database_url
from db.tools import scratch_database

RunbooksOption = Annotated[
    Path, typer.Option(help="Folder of runbooks (the knowledge base).", exists=True, file_okay=False)
]
AlertsOption = Annotated[
    Path, typer.Option(help="JSON Lines of alerts with their runbook.", exists=True, dir_okay=False)
]
NoRunbookOption = Annotated[
    Path | None, typer.Option(help="JSON Lines of alerts that have no runbook.", exists=True, dir_okay=False)
]
OutOfDomainOption = Annotated[
    Path | None,
    typer.Option(
        help="JSON Lines of out-of-domain alerts (nothing should match them), e.g. eval/out_of_domain.jsonl.",
        exists=True,
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object with the figures and every alert.")]

eval_app = typer.Typer(
    help="Measure nocai on labelled data.\n\nExample: nocai eval retrieval --runbooks ./runbooks --alerts alerts.jsonl",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@contextmanager
def scratch_knowledge_base(runbooks: Path, *, show_progress: bool) -> Iterator[tuple[psycopg.Connection, Embedder]]:
    """A throwaway database holding exactly ``runbooks`` (ingested with the configured model); dropped after."""
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


@eval_app.command("retrieval")
def eval_retrieval_cmd(
    runbooks: RunbooksOption,
    alerts: AlertsOption,
    no_runbook: NoRunbookOption = None,
    out_of_domain: OutOfDomainOption = None,
    k: Annotated[int, typer.Option(help="RRF constant.")] = 10,
    save_calibration: Annotated[
        Path | None,
        typer.Option(
            help="Write the abstention rule fitted on all the data to this JSON file (its confidence scaling, "
            "stored by `nocai eval triage --save-calibration`, is kept)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Top-1, top-5, MRR@10 and abstention for full text, vector and hybrid, side by side, on a scratch database.

    Example: nocai eval retrieval --runbooks runbooks/ --alerts alerts.jsonl --no-runbook alerts_no_runbook.jsonl
    """
    answerable = retrieval_evaluation.read_alerts(alerts, answerable=True)
    unanswerable = retrieval_evaluation.read_alerts(no_runbook, answerable=False) if no_runbook else []
    foreign = retrieval_evaluation.read_alerts(out_of_domain, answerable=False) if out_of_domain else []
    with scratch_knowledge_base(runbooks, show_progress=not as_json) as (conn, embedder):
        result = retrieval_evaluation.evaluate(
            conn, embedder, runbooks, answerable, unanswerable, k=k, out_of_domain=foreign
        )
    if save_calibration:
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
    if result.out_of_domain_abstain_rate is not None:
        console.print(
            f"out-of-domain: abstained on {result.out_of_domain_abstain_rate:.3f} of {result.out_of_domain} alerts "
            f"(vector floor {result.calibration.vector_floor:.3f})"
        )
    if result.unresolved_gold:
        console.print(
            f"warning: {len(result.unresolved_gold)} expected runbook paths are not in --runbooks, "
            f"e.g. {result.unresolved_gold[0]}"
        )


@eval_app.command("triage")
def eval_triage_cmd(
    runbooks: RunbooksOption,
    alerts: AlertsOption,
    no_runbook: NoRunbookOption = None,
    out_of_domain: OutOfDomainOption = None,
    save_calibration: Annotated[
        Path | None,
        typer.Option(help="Store the confidence scaling fitted on all alerts in this calibration JSON file."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Runbook of the first recommended step, severity accuracy and confidence calibration (reliability, ECE).

    Example: nocai eval triage --runbooks runbooks/ --alerts alerts.jsonl --no-runbook alerts_no_runbook.jsonl
    """
    policy = policy_from_settings(get_settings())
    with scratch_knowledge_base(runbooks, show_progress=not as_json) as (conn, embedder):
        result = triage_evaluation.evaluate(
            conn, embedder, runbooks, alerts, no_runbook, policy=policy, out_of_domain_file=out_of_domain
        )
    if save_calibration:
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
        + (
            f" · no-match on out-of-domain {result.out_of_domain_no_match_rate:.3f}"
            if result.out_of_domain_no_match_rate is not None
            else ""
        )
        + f" · p50 {result.p50_ms:.0f} ms per alert"
    )
    if result.team_accuracy is not None:
        console.print(f"team accuracy (proposed assignment group vs the alert's team) {result.team_accuracy:.3f}")
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


@eval_app.command("feedback")
def eval_feedback_cmd(runbooks: RunbooksOption, alerts: AlertsOption, as_json: JsonOption = False) -> None:
    """Replay the alerts in a fixed order without and with a responder's feedback after each; compare the
    first step's runbook accuracy on the second half of the stream (where the repeats are).

    Example: nocai eval feedback --runbooks eval/feedback_runbooks --alerts eval/feedback_stream.jsonl
    """
    policy = policy_from_settings(get_settings())
    with scratch_knowledge_base(runbooks, show_progress=not as_json) as (conn, embedder):
        result = feedback_evaluation.evaluate(conn, embedder, runbooks, alerts, policy=policy)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2, default=str))
        return
    table = Table(
        title=f"first-step runbook accuracy over {result.alerts_total} alerts; second half: {result.second_half} "
        f"alerts, {result.repeats_in_second_half} of them repeating an alertname of the first half"
    )
    columns = ("pass", "whole stream", "second half", "all repeats", "taught choice used", "no-match (second half)")
    for column in columns:
        table.add_column(column, justify="right")
    for name, figures in (("without feedback", result.without_feedback), ("with feedback", result.with_feedback)):
        table.add_row(
            name,
            f"{figures.accuracy:.3f} ({figures.correct}/{result.alerts_total})",
            f"{figures.second_half_accuracy:.3f} ({figures.second_half_correct}/{result.second_half})",
            f"{figures.repeats_accuracy:.3f} ({figures.repeats_correct}/{result.repeats_total})",
            str(figures.taught_used),
            str(figures.second_half_no_match),
        )
    console.print(table)
    console.print(f"order: {result.order}")
    console.print(
        f"no loss without it: without feedback {result.without_feedback.accuracy:.3f} "
        f"({result.without_feedback.correct}/{result.alerts_total}) · `nocai eval triage` top-1 "
        f"{result.plain_triage_top1:.3f} ({result.plain_triage_correct}/{result.alerts_total}) · "
        + ("equal" if result.no_loss else f"DIFFERENT on {', '.join(result.plain_triage_disagreements)}")
    )
