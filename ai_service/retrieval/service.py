"""Hybrid retrieval for an alert or a free-text query: runbooks (with their steps in order), the most relevant
steps, matching incident signatures, and a calibrated "no good match" decision.

The core of triage and resolution, and of ``nocai search``. It never prints and knows nothing of HTTP or the CLI.
Alert text is normalised first (``query_text``): template placeholders, ids, hashes, numbers and timestamps do
not reach the query; service / component labels become soft preferences (bounded bonuses, see
``store.hybrid_search``); explicit filters are hard SQL predicates.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from ai_service.knowledge.embeddings import Embedder
from ai_service.retrieval import store
from ai_service.retrieval.calibration import DEFAULT_CALIBRATION, Calibration
from ai_service.retrieval.diversity import diversify
from ai_service.retrieval.models import (
    Abstention,
    FeedbackChoice,
    LegScore,
    Provenance,
    RunbookHit,
    SearchResult,
    SignatureHit,
    StepHit,
)
from ai_service.retrieval.query_text import SearchQuery


@dataclass(frozen=True)
class SearchOptions:
    k: int = 10  # RRF constant
    runbooks: int = 5
    steps: int = 10
    signatures: int = 5
    filters: store.Filters = field(default_factory=store.Filters)
    with_steps: bool = True  # list each returned runbook's steps in order
    #: MMR lambda for steps and signatures (None: relevance order). 1.0 is relevance only; 0.7 is a useful
    #: start. Candidates are three times the page, re-ordered by ``diversity.mmr_order``.
    mmr: float | None = None
    #: Search steps only within the returned runbooks (triage: the plan is built from those runbooks and the
    #: signatures' history, so steps elsewhere would only be evidence). At 100k steps this takes the step
    #: statement from ~13 ms to ~2.5 ms: exact distances over a few dozen rows instead of an HNSW scan.
    steps_from_top_runbooks: bool = False
    #: The runbook responders named right for the alert's pattern (``ai_service.feedback``): it is put first and
    #: the result is not a no-match. Runbooks they named wrong go in ``filters.exclude_runbook_ids``.
    chosen_runbook: str | None = None
    chosen_votes: int = 0


#: Runs the full-text legs while the query is embedded (``search`` without a pool), or the signature search
#: beside the caller's own statements (``search(..., pool=...)``).
_BACKGROUND = ThreadPoolExecutor(max_workers=8, thread_name_prefix="nocai-search")


@lru_cache(maxsize=4)
def load_calibration(path: Path = DEFAULT_CALIBRATION) -> Calibration:
    return Calibration.load(path)


@dataclass(frozen=True)
class Preference:
    """Soft preferences of a query: hits of this service / component get a bounded bonus."""

    service: str | None = None
    component: str | None = None


def provenance(row: store.FusedRow, prefer: Preference) -> Provenance:
    boosts = []
    if row.title_bonus > 0:
        boosts.append(f"title match {row.title_coverage:.0%} (+{row.title_bonus:.4f}, at most one top rank step)")
    if row.meta_bonus > 0:
        matched = [
            f"{name}={value}"
            for name, value, preferred in (
                ("service", row.service, prefer.service),
                ("component", row.component, prefer.component),
            )
            if preferred is not None and value == preferred
        ]
        boosts.append(f"{' and '.join(matched)} (+{row.meta_bonus:.5f}, less than one rank step)")
    return Provenance(
        vector=LegScore(rank=row.vec_rank, score=row.vec_score),
        fulltext=LegScore(rank=row.fts_rank, score=row.fts_score),
        rrf=row.rrf,
        score=row.score,
        title_bonus=row.title_bonus,
        meta_bonus=row.meta_bonus,
        query_coverage=row.query_coverage,
        title_coverage=row.title_coverage,
        boosts=boosts,
    )


#: How many fused rows the abstention features read: the lead of the best hit is measured against the hits
#: ranked 2..10 in the vector leg and 2..5 in the full-text leg, which need not be in the fused top 10.
FEATURE_ROWS = 50


def abstention_features(rows: list[store.FusedRow], leg: str = "hybrid") -> dict[str, float]:
    """The evidence of the best hit of ``leg`` (hybrid, vector or fulltext), as the calibration reads it.

    ``rows`` is a hybrid result of up to ``FEATURE_ROWS`` rows. Besides the best hit's own evidence, two features
    say how far the best candidates stand out from the crowd for *this* query, which carries across knowledge
    bases better than any absolute score: ``vec_lead`` (the vector leg's best cosine similarity minus the mean of
    its ranks 2..10) and ``fts_lead`` (the full-text leg's best BM25 score as a share of its top five).
    """
    by_vector = sorted((r for r in rows if r.vec_rank), key=lambda r: r.vec_rank or 0)
    by_fulltext = sorted((r for r in rows if r.fts_rank), key=lambda r: r.fts_rank or 0)
    ranked = {"vector": by_vector, "fulltext": by_fulltext}.get(leg, rows)
    if not ranked:
        return {
            "vec": 0.0,
            "vec_best": 0.0,
            "coverage": 0.0,
            "title": 0.0,
            "agree": 0.0,
            "unexplained": 1.0,
            "margin": 0.0,
            "vec_lead": 0.0,
            "fts_lead": 0.0,
        }
    top = ranked[0]
    second = ranked[1].score if len(ranked) > 1 else 0.0
    similarities = [r.vec_score or 0.0 for r in by_vector[:10]]
    bm25 = [r.fts_score or 0.0 for r in by_fulltext[:5]]
    return {
        "vec": top.vec_score or 0.0,
        "vec_best": similarities[0] if similarities else 0.0,
        "coverage": top.query_coverage,
        "title": top.title_coverage,
        "agree": float(top.vec_rank == 1 and top.fts_rank == 1),
        "unexplained": top.unexplained,
        "margin": (top.score - second) / top.score if top.score else 0.0,
        "vec_lead": similarities[0] - sum(similarities[1:]) / (len(similarities) - 1) if len(similarities) > 1 else 0.0,
        "fts_lead": bm25[0] / sum(bm25) if bm25 and sum(bm25) > 0 else 0.0,
    }


def _abstention_reason(
    rows: list[store.FusedRow], features: dict[str, float], probability: float, calibration: Calibration, model: str
) -> str:
    if not rows:
        return "the knowledge base has no runbook to compare with"
    if calibration.below_floor(features, model):
        return (
            f"nothing in the knowledge base is about this subject: best similarity {features['vec_best']:.2f} "
            f"is under the floor {calibration.vector_floor:.2f}"
        )
    if probability < calibration.threshold:
        return (
            f"the best runbook is too weak a match: p(match) {probability:.2f} < threshold {calibration.threshold:.2f}"
        )
    return f"the best runbook matches: p(match) {probability:.2f} >= threshold {calibration.threshold:.2f}"


def search(
    conn: psycopg.Connection,
    embedder: Embedder,
    query: SearchQuery | str,
    options: SearchOptions | None = None,
    *,
    calibration: Calibration | None = None,
    pool: ConnectionPool | None = None,
) -> SearchResult:
    """Search runbooks, steps and signatures for ``query``; see the module docstring.

    Without ``pool``, the statements run on ``conn``, and the full-text legs (which need no query vector) run
    while the query is embedded, since ``conn`` idles meanwhile. With ``pool``, the signature search runs on a
    pooled connection once the query is embedded, beside the runbook and step statements on ``conn``: each
    statement has its own server process, and on two cores the signature statement costs no wall time of its
    own. (Legs run ahead as well then only contend with the embedding model's threads for the same cores:
    ``bench/bench_triage.py`` measured it slower.) Either way, the results are those of one statement per corpus.
    """
    options = options or SearchOptions()
    if isinstance(query, str):
        query = SearchQuery(text=query)
    text = query.text if query.text.strip() else ""
    prefer = Preference(service=query.service, component=query.component)
    calibration = calibration or load_calibration()
    corpus_filters = _runbook_filters(options.filters)
    runbook_text = signature_text = None
    if text and pool is None:
        runbook_text = _BACKGROUND.submit(store.fulltext_leg, conn, store.RUNBOOKS, text=text, filters=corpus_filters)
        signature_text = _BACKGROUND.submit(
            store.fulltext_leg, conn, store.SIGNATURES, text=text, filters=corpus_filters
        )
    try:
        vector = embedder.embed_query(text) if text else None
    finally:
        for task in (runbook_text, signature_text):
            if task is not None:
                task.exception()  # wait: ``conn`` is the caller's again only when its statements are done
    pending = None
    if pool is not None:
        pending = _BACKGROUND.submit(_search_signatures_pooled, pool, query, vector, options, corpus_filters, prefer)

    runbook_rows = store.hybrid_search(
        conn,
        store.RUNBOOKS,
        text=query.text,
        vector=vector,
        filters=corpus_filters,
        k=options.k,
        limit=max(options.runbooks, FEATURE_ROWS),
        detail=options.runbooks,  # coverage is read for the top hit and the returned ones only
        fulltext=runbook_text.result() if runbook_text is not None else None,
        prefer_service=prefer.service,
        prefer_component=prefer.component,
    )
    features = abstention_features(runbook_rows)
    probability = calibration.probability(features)
    abstention = Abstention(
        abstained=not runbook_rows or calibration.abstains(features, embedder.model_name),
        match_probability=probability,
        threshold=calibration.threshold,
        features=features,
        calibration=calibration.source,
        reason=_abstention_reason(runbook_rows, features, probability, calibration, embedder.model_name),
    )
    runbooks = _runbook_hits(conn, runbook_rows[: options.runbooks], prefer, options.with_steps)
    feedback = None
    if options.chosen_runbook is not None:
        runbooks, feedback = _put_chosen_first(conn, runbooks, runbook_rows, options, prefer)
        if feedback is not None:
            abstention = abstention.model_copy(
                update={
                    "abstained": False,
                    "calibration": f"{abstention.calibration}; runbook chosen by responders",
                    "reason": "responders named this runbook right for alerts of this pattern",
                }
            )
    step_filters = options.filters
    if options.steps_from_top_runbooks and runbooks:
        step_filters = replace(options.filters, runbook_ids=tuple(rb.runbook_id for rb in runbooks))
    step_rows = store.hybrid_search(
        conn,
        store.STEPS,
        text=query.text,
        vector=vector,
        filters=step_filters,
        k=options.k,
        limit=_candidates(options.steps, options.mmr),
        prefer_service=prefer.service,
        prefer_component=prefer.component,
    )
    if options.mmr is not None:
        step_rows = diversify(conn, store.STEPS, step_rows, lam=options.mmr, limit=options.steps)
    steps = _step_hits(conn, step_rows, prefer)
    if pending is not None:
        signatures = pending.result()
    else:
        fulltext = signature_text.result() if signature_text is not None else None
        signatures = _search_signatures(conn, query, vector, options, corpus_filters, prefer, fulltext)
    return SearchResult(
        query_text=query.text,
        runbooks=runbooks,
        steps=steps,
        signatures=signatures,
        abstention=abstention,
        feedback=feedback,
    )


def _put_chosen_first(
    conn: psycopg.Connection,
    runbooks: list[RunbookHit],
    rows: list[store.FusedRow],
    options: SearchOptions,
    prefer: Preference,
) -> tuple[list[RunbookHit], FeedbackChoice | None]:
    """Runbooks with the one responders chose first (loaded when retrieval did not return it)."""
    chosen = options.chosen_runbook
    assert chosen is not None
    found = next((rb for rb in runbooks if rb.runbook_id == chosen), None)
    if found is None:
        row = next((r for r in rows if r.id == chosen), None)
        if row is None:
            row = store.FusedRow(chosen, None, None, None, None, 0.0, 0.0, 0.0, None, None)
        loaded = _runbook_hits(conn, [row], prefer, options.with_steps)
        if not loaded:
            return runbooks, None  # the runbook is gone from the knowledge base
        found = loaded[0]
    reason = f"chosen by responders for this alert pattern ({options.chosen_votes} vote(s))"
    found = found.model_copy(
        update={"provenance": found.provenance.model_copy(update={"boosts": [*found.provenance.boosts, reason]})}
    )
    ordered = [found, *(rb for rb in runbooks if rb.runbook_id != chosen)][: options.runbooks]
    votes = options.chosen_votes
    return ordered, FeedbackChoice(
        runbook_id=chosen,
        votes=votes,
        confidence=round((votes + 1) / (votes + 2), 4),
        excluded=list(options.filters.exclude_runbook_ids),
    )


def _search_signatures(
    conn: psycopg.Connection,
    query: SearchQuery,
    vector: np.ndarray | None,
    options: SearchOptions,
    filters: store.Filters,
    prefer: Preference,
    fulltext: store.FulltextLeg | None = None,
) -> list[SignatureHit]:
    """``fulltext``, when given, was computed with the same ``filters``."""
    rows = store.hybrid_search(
        conn,
        store.SIGNATURES,
        text=query.text,
        vector=vector,
        filters=filters,
        k=options.k,
        limit=_candidates(options.signatures, options.mmr),
        fulltext=fulltext,
        prefer_service=prefer.service,
        prefer_component=prefer.component,
    )
    if options.mmr is not None:
        rows = diversify(conn, store.SIGNATURES, rows, lam=options.mmr, limit=options.signatures)
    return _signature_hits(conn, rows, prefer)


def _search_signatures_pooled(
    pool: ConnectionPool,
    query: SearchQuery,
    vector: np.ndarray | None,
    options: SearchOptions,
    filters: store.Filters,
    prefer: Preference,
) -> list[SignatureHit]:
    with pool.connection() as conn:
        return _search_signatures(conn, query, vector, options, filters, prefer)


def _candidates(page: int, mmr: float | None) -> int:
    return page if mmr is None else 3 * page


def _runbook_filters(filters: store.Filters) -> store.Filters:
    """Step-only conditions do not apply to runbooks and signatures."""
    return store.Filters(
        service=filters.service,
        component=filters.component,
        exclude_ids=(),
        exclude_runbook_ids=filters.exclude_runbook_ids,
    )


def _runbook_hits(
    conn: psycopg.Connection, rows: list[store.FusedRow], prefer: Preference, with_steps: bool
) -> list[RunbookHit]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    meta = store.runbooks_by_id(conn, ids)
    steps_by_runbook: dict[str, list[StepHit]] = {}
    if with_steps:
        for step in store.steps_of_runbooks(conn, ids):
            steps_by_runbook.setdefault(step.runbook_id, []).append(step)
    return [
        RunbookHit(
            runbook_id=r.id,
            title=meta[r.id].title,
            source_path=meta[r.id].source_path,
            service=meta[r.id].service,
            component=meta[r.id].component,
            provenance=provenance(r, prefer),
            steps=steps_by_runbook.get(r.id, []),
            team=meta[r.id].team,
            failure_type=meta[r.id].failure_type,
        )
        for r in rows
        if r.id in meta
    ]


def _step_hits(conn: psycopg.Connection, rows: list[store.FusedRow], prefer: Preference) -> list[StepHit]:
    if not rows:
        return []
    loaded = {s.step_id: s for s in store.steps_by_id(conn, [r.id for r in rows])}
    return [loaded[r.id].model_copy(update={"provenance": provenance(r, prefer)}) for r in rows if r.id in loaded]


def _signature_hits(conn: psycopg.Connection, rows: list[store.FusedRow], prefer: Preference) -> list[SignatureHit]:
    if not rows:
        return []
    meta = store.signatures_by_id(conn, [r.id for r in rows])
    return [SignatureHit(**meta[r.id].model_dump(), provenance=provenance(r, prefer)) for r in rows if r.id in meta]
