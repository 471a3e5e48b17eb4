"""`nocai search`: hybrid retrieval from the command line, every hit with its provenance."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ai_service.cli.console import console
from ai_service.cli.views import NOTHING, shorten, show, split_action
from ai_service.config import get_settings
from ai_service.errors import InputError
from ai_service.knowledge.service import prepare_embedder
from ai_service.retrieval.models import Provenance
from ai_service.retrieval.query_text import SearchQuery
from ai_service.retrieval.service import SearchOptions, search
from ai_service.retrieval.store import Filters
from ai_service.textnorm import normalize_text
from ai_service.vocabulary import RISK_LEVELS, RiskLevel
from db.connection import connect


def _leg(provenance: Provenance) -> str:
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
    ceiling = _risk(max_risk) if max_risk is not None else None
    settings = get_settings()
    options = SearchOptions(
        runbooks=limit,
        steps=limit,
        signatures=limit,
        filters=Filters(service=service, component=component, max_risk=ceiling),
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
    console.print(f"{verdict}: {a.reason}" if a.reason else f"{verdict}: p(match) {a.match_probability:.2f}")
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
                show(step.risk_level),
                shorten(step.condition, 80),
                shorten(next((text for lang, text in split_action(step.action) if not lang), step.action), 160),
                _leg(step.provenance) if step.provenance else NOTHING,
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


def _risk(value: str) -> RiskLevel:
    for level in RISK_LEVELS:
        if value.strip().lower() == level:
            return level
    raise InputError(f"unknown risk level {value!r}", hint="use --max-risk low, medium or high")
