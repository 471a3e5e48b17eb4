"""The SQL of hybrid retrieval: one statement per corpus runs both legs and fuses them (or the full-text leg
runs first on its own, ``fulltext_leg``, while the query is embedded, and the statement takes its result).

Each statement, in one round trip:

* **vector leg** — pgvector HNSW, cosine distance, over one or two vector columns (runbooks: the whole runbook
  and its title; signatures: their label and the mean of their past tickets); a row's distance is the nearer of
  its vectors. Each column is searched through its own index (ORDER BY distance LIMIT n); the query vector's CTE
  is NOT MATERIALIZED, so the distance compares with a constant and the planner can use the HNSW index.
* **full-text leg** — candidates from the GIN index (``tsv @@`` an OR of the query's most informative lexemes,
  pre-ranked with ``ts_rank``, 100 of them by default), then scored with **BM25**. The OR takes the rarest
  lexemes first (at most ``max_terms``) and stops adding them once the documents they match, times the average
  document length, reach ``fts_budget`` (the rarest is always kept): pre-ranking reads every matching document's
  tsvector, so an alert full of common words ("service", "errors", "instance") would otherwise pre-rank tens of
  thousands of rows (measured: 60-90 ms of a 100 ms statement at 100k rows). Common words still count in the BM25
  score of the candidates the rare ones and the vector leg find. inverse document frequencies from
  ``search_term_stats`` (``ts_rank`` has none), term frequencies from the tsvector's positions weighted by field
  (A/B/C/D labels), length normalisation against ``search_corpus_stats``.
* **fusion** — Reciprocal Rank Fusion, ``w_vec/(k + rank_vec) + w_fts/(k + rank_fts)``, with ``k`` and both
  limits as parameters, plus two bounded extras (see ``ai_service.retrieval.service`` for the bounds).

Hard filters (service, component, risk ceiling, ids to exclude) are SQL predicates inside both legs; with
``hnsw.iterative_scan`` set per connection by ``db.connection``, a selective filter still yields ``n`` rows.
Every row returns each leg's rank and score, so callers can store provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql
from psycopg.rows import class_row, kwargs_row

from ai_service.retrieval.models import SignatureRecord, StepHit
from ai_service.vocabulary import RiskLevel, risks_up_to

#: BM25 constants (the usual ones) and the weight of each tsvector label in a term's frequency.
BM25_K1 = 1.2
BM25_B = 0.75
FIELD_WEIGHTS = {"A": 3.0, "B": 2.0, "C": 0.5, "D": 0.5}


@dataclass(frozen=True)
class Corpus:
    name: str  # as in search_term_stats.corpus
    table: str
    key: str
    vectors: tuple[str, ...]
    #: tsvector label of the title, whose coverage by the query breaks near-ties (the runbooks' tsvector labels
    #: ``identifier_words(title)`` A, see db/schema.sql; reading it back is cheaper than parsing the title again)
    title_label: str | None


RUNBOOKS = Corpus("runbooks", "runbooks", "runbook_id", ("embedding", "title_embedding"), "A")
STEPS = Corpus("runbook_steps", "runbook_steps", "step_id", ("embedding",), None)
SIGNATURES = Corpus(
    "incident_signatures", "incident_signatures", "incident_signature_id", ("embedding", "centroid"), None
)
CORPORA = (RUNBOOKS, STEPS, SIGNATURES)


@dataclass(frozen=True)
class Tuning:
    """How much work each leg may do: the retrieval defaults, in this one place.

    ``leg_limit``: rows each leg contributes to the fusion; ``fts_candidates``: rows the full-text leg pre-ranks
    from the GIN index before scoring them with BM25; ``max_terms``: most query lexemes in the candidate OR;
    ``fts_budget``: stop adding rarer-first lexemes once the documents they match times the average document
    length reach it (see the module docstring).
    """

    leg_limit: int = 50
    fts_candidates: int = 100
    max_terms: int = 12
    fts_budget: int = 60_000


DEFAULT_TUNING = Tuning()


@dataclass(frozen=True)
class Filters:
    """Conditions every hit must meet (SQL predicates in both legs)."""

    service: str | None = None
    component: str | None = None
    max_risk: RiskLevel | None = None  # steps only
    runbook_ids: tuple[str, ...] | None = None  # steps only: restrict to these runbooks
    exclude_ids: tuple[str, ...] = ()
    #: runbooks and steps: leave out these runbooks (responders said they are wrong for the alert's pattern)
    exclude_runbook_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class FusedRow:
    id: str
    vec_rank: int | None
    vec_score: float | None  # cosine similarity of the nearer vector
    fts_rank: int | None
    fts_score: float | None  # BM25
    rrf: float
    query_coverage: float  # share of the query's IDF mass the row contains
    title_coverage: float  # share of the row's title IDF mass the query contains (0 without a title)
    service: str | None
    component: str | None
    title_bonus: float = 0.0
    meta_bonus: float = 0.0
    score: float = 0.0  # rrf + title_bonus + meta_bonus: the order of the result
    unexplained: float = 0.0  # the rarest query term the row lacks, relative to the query's rarest term


def _fused_row(**columns: object) -> FusedRow:
    """A row of the hybrid statement (columns by name); the detail columns are NULL past ``detail`` rows."""
    for name in ("query_coverage", "unexplained"):
        if columns[name] is None:
            columns[name] = 0.0
    return FusedRow(**columns)  # type: ignore[arg-type]


def rank_step(k: float, rank: int, weight: float = 1.0) -> float:
    """How much one leg's RRF term drops from ``rank`` to ``rank + 1``."""
    return weight / ((k + rank) * (k + rank + 1))


def _filters(corpus: Corpus, filters: Filters, alias: str) -> tuple[sql.Composable, dict[str, object]]:
    parts: list[sql.Composable] = []
    params: dict[str, object] = {}

    def col(name: str) -> sql.Composable:
        return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))

    if filters.service:
        parts.append(sql.SQL("{} = %(f_service)s").format(col("service")))
        params["f_service"] = filters.service
    if filters.component:
        parts.append(sql.SQL("{} = %(f_component)s").format(col("component")))
        params["f_component"] = filters.component
    if filters.max_risk and corpus is STEPS:
        parts.append(sql.SQL("{} = ANY(%(f_risks)s)").format(col("risk_level")))
        params["f_risks"] = risks_up_to(filters.max_risk)
    if filters.runbook_ids is not None and corpus is STEPS:
        parts.append(sql.SQL("{} = ANY(%(f_runbooks)s)").format(col("runbook_id")))
        params["f_runbooks"] = list(filters.runbook_ids)
    if filters.exclude_runbook_ids and corpus in (RUNBOOKS, STEPS):
        parts.append(sql.SQL("NOT ({} = ANY(%(f_exclude_runbooks)s))").format(col("runbook_id")))
        params["f_exclude_runbooks"] = list(filters.exclude_runbook_ids)
    if filters.exclude_ids:
        parts.append(sql.SQL("NOT ({} = ANY(%(f_exclude)s))").format(col(corpus.key)))
        params["f_exclude"] = list(filters.exclude_ids)
    if not parts:
        return sql.SQL(""), params
    return sql.SQL(" AND ") + sql.SQL(" AND ").join(parts), params


#: The query's lexemes with their document frequency and IDF in the corpus (every statement starts with these).
_QUERY_TERMS = """
cs AS (
    SELECT coalesce(max(documents), 0)::float8 AS documents, coalesce(max(avg_length), 1.0) AS avg_length
    FROM search_corpus_stats WHERE corpus = %(corpus)s
),
ql AS (SELECT DISTINCT u.lexeme FROM unnest(to_tsvector('english', %(text)s)) AS u),
qi AS (
    SELECT ql.lexeme, coalesce(st.ndoc, 0) AS ndoc,
           ln(1 + (cs.documents - coalesce(st.ndoc, 0) + 0.5) / (coalesce(st.ndoc, 0) + 0.5)) AS idf
    FROM ql CROSS JOIN cs
    LEFT JOIN search_term_stats AS st ON st.corpus = %(corpus)s AND st.lexeme = ql.lexeme
),
qmass AS (SELECT nullif(sum(idf), 0) AS total FROM qi)
"""

#: The full-text leg: candidates from the GIN index, pre-ranked, then scored with BM25 (``fts_ranked``).
_FULLTEXT_LEG = """
tsq AS (
    SELECT (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery
            FROM (SELECT lexeme, sum(ndoc) OVER (ORDER BY idf DESC, lexeme) - ndoc AS rarer_docs FROM qi
                  ORDER BY idf DESC, lexeme LIMIT %(max_terms)s) AS top
            WHERE rarer_docs * (SELECT avg_length FROM cs) < %(fts_budget)s) AS q
),
fts_candidates AS (
    SELECT t.{key} AS id, t.tsv FROM {table} AS t, tsq
    WHERE tsq.q IS NOT NULL AND t.tsv @@ tsq.q{where_f}
    ORDER BY ts_rank(t.tsv, tsq.q) DESC, t.{key} LIMIT %(fts_candidates)s
),
-- Each candidate's tsvector is cut down to the query's lexemes once (length kept for BM25): unnesting
-- whole documents, or reading their length per matched lexeme, costs more than the scoring itself.
fts_docs AS MATERIALIZED (
    SELECT c.id, length(c.tsv) AS len,
           ts_delete(c.tsv, tsvector_to_array(ts_delete(c.tsv, (SELECT array_agg(lexeme) FROM qi)))) AS tsv
    FROM fts_candidates AS c
),
fts_matched AS (
    SELECT d.id, d.len, qi.idf, u.weights
    FROM fts_docs AS d CROSS JOIN LATERAL unnest(d.tsv) AS u
    JOIN qi ON qi.lexeme = u.lexeme
),
-- Materialized: the weight is referenced twice below, and an inlined CTE would compute it twice.
fts_weighted AS MATERIALIZED (
    SELECT m.id, m.len, m.idf,
           CASE WHEN cardinality(m.weights) = 0 THEN {default_weight}
                ELSE {weight_sum} END AS w
    FROM fts_matched AS m
),
fts_scored AS (
    SELECT m.id,
           sum(m.idf * m.w * (%(k1)s + 1) / (m.w + %(k1)s * (1 - %(b)s + %(b)s * m.len / cs.avg_length))) AS score,
           sum(m.idf) AS matched_idf
    FROM fts_weighted AS m CROSS JOIN cs
    GROUP BY m.id
),
fts_ranked AS (
    SELECT id, score, matched_idf, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM fts_scored ORDER BY score DESC, id LIMIT %(leg_limit)s
)
"""

#: A full-text leg computed beforehand (``fulltext_leg``), passed in as two arrays in rank order.
_GIVEN_FULLTEXT_LEG = """
fts_ranked AS (
    SELECT f.id, f.score, f.rank
    FROM unnest(%(fts_ids)s::text[], %(fts_scores)s::float8[]) WITH ORDINALITY AS f(id, score, rank)
)
"""

#: The vector leg, the fusion and the page (after ``_QUERY_TERMS`` and one of the full-text legs).
_VECTOR_AND_FUSION = """
vec AS (
    SELECT id, min(d) AS d FROM ({vector_union}) AS both_vectors GROUP BY id
),
vec_ranked AS (
    SELECT id, 1 - d AS score, row_number() OVER (ORDER BY d, id) AS rank FROM vec ORDER BY d, id LIMIT %(leg_limit)s
),
fused AS (
    SELECT coalesce(v.id, f.id) AS id, v.rank AS vec_rank, v.score AS vec_score, f.rank AS fts_rank,
           f.score AS fts_score,
           coalesce(%(w_vec)s / (%(k)s + v.rank), 0) + coalesce(%(w_fts)s / (%(k)s + f.rank), 0) AS rrf
    FROM vec_ranked AS v FULL JOIN fts_ranked AS f ON f.id = v.id
),
-- Title coverage only where it can matter: a row whose RRF plus the largest possible bonuses stays below the
-- detail-th best RRF cannot reach the detailed rows (its coverage is reported as 0).
title_cut AS (
    SELECT coalesce(min(best.rrf), 0) - %(title_gap)s - %(meta_gap)s AS rrf
    FROM (SELECT rrf FROM fused ORDER BY rrf DESC LIMIT %(detail)s) AS best
),
candidates AS MATERIALIZED (
    SELECT fused.id, fused.vec_rank, fused.vec_score, fused.fts_rank, fused.fts_score, fused.rrf,
           CASE WHEN fused.rrf >= (SELECT rrf FROM title_cut) THEN {title_expr} ELSE 0.0 END AS title_coverage,
           r.service, r.component
    FROM fused JOIN {table} AS r ON r.{key} = fused.id
),
scored AS (
    SELECT c.*,
           %(title_gap)s * c.title_coverage AS title_bonus,
           %(meta_gap)s * ((c.service IS NOT DISTINCT FROM %(prefer_service)s AND %(prefer_service)s IS NOT NULL)::int
                          + (c.component IS NOT DISTINCT FROM %(prefer_component)s
                             AND %(prefer_component)s IS NOT NULL)::int) / 2.0 AS meta_bonus
    FROM candidates AS c
),
page AS (
    SELECT s.*, s.rrf + s.title_bonus + s.meta_bonus AS score,
           row_number() OVER (ORDER BY s.rrf + s.title_bonus + s.meta_bonus DESC, s.id) AS position
    FROM scored AS s
    ORDER BY score DESC, id
    LIMIT %(limit)s
)
SELECT p.id, p.vec_rank, p.vec_score, p.fts_rank, p.fts_score, p.rrf,
       CASE WHEN p.position <= %(detail)s THEN
           coalesce((SELECT sum(qi.idf) FROM qi WHERE r.tsv @@ quote_literal(qi.lexeme)::tsquery)
                    / (SELECT total FROM qmass), 0.0)
       END AS query_coverage,
       p.title_coverage, p.service, p.component, p.title_bonus, p.meta_bonus, p.score,
       CASE WHEN p.position <= %(detail)s THEN
           coalesce((SELECT max(qi.idf) FROM qi WHERE NOT r.tsv @@ quote_literal(qi.lexeme)::tsquery)
                    / nullif((SELECT max(idf) FROM qi), 0), 0.0)
       END AS unexplained
FROM page AS p JOIN {table} AS r ON r.{key} = p.id
ORDER BY p.position
"""


@dataclass(frozen=True)
class FulltextLeg:
    """One corpus's full-text leg for one query: ids and BM25 scores, best first (see ``fulltext_leg``)."""

    ids: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True)
class _LegRow:
    id: str
    score: float


def _fulltext_sql(corpus: Corpus, filters: Filters) -> tuple[dict[str, sql.Composable], dict[str, object]]:
    """The placeholders of ``_FULLTEXT_LEG`` for ``corpus`` and the filter parameters they use."""
    where, params = _filters(corpus, filters, "t")
    # A term's frequency weighted by field: each position counts its label's weight (array_positions counts
    # them without a per-row subquery; an unlabelled position is D).
    weight_sum = sql.SQL(" + ").join(
        sql.SQL("{}::float8 * cardinality(array_positions(m.weights, {}))").format(
            sql.Literal(weight), sql.Literal(label)
        )
        for label, weight in FIELD_WEIGHTS.items()
    )
    parts = {
        "key": sql.Identifier(corpus.key),
        "table": sql.Identifier(corpus.table),
        "where_f": where,
        "weight_sum": weight_sum,
        "default_weight": sql.Literal(FIELD_WEIGHTS["D"]),
    }
    return parts, params


def _fulltext_params(text: str, corpus: Corpus, tuning: Tuning) -> dict[str, object]:
    return {
        "text": text,
        "corpus": corpus.name,
        "leg_limit": tuning.leg_limit,
        "fts_candidates": tuning.fts_candidates,
        "max_terms": tuning.max_terms,
        "fts_budget": tuning.fts_budget,
        "k1": BM25_K1,
        "b": BM25_B,
    }


def fulltext_leg(
    conn: psycopg.Connection,
    corpus: Corpus,
    *,
    text: str,
    filters: Filters = Filters(),
    tuning: Tuning = DEFAULT_TUNING,
) -> FulltextLeg:
    """The full-text leg of ``hybrid_search`` on its own, for ``hybrid_search(..., fulltext=...)``.

    It needs no query vector, so a caller can run it while the query is being embedded (``retrieval.service``
    does) and hand it to ``hybrid_search`` with the same ``filters`` and ``leg_limit``: the result is the same
    as one statement's, the full-text work is just done earlier.
    """
    parts, filter_params = _fulltext_sql(corpus, filters)
    statement = sql.SQL(
        "WITH" + _QUERY_TERMS + "," + _FULLTEXT_LEG + "SELECT id, score FROM fts_ranked ORDER BY rank"
    ).format(**parts)
    params = _fulltext_params(text, corpus, tuning) | filter_params
    with conn.cursor(row_factory=class_row(_LegRow)) as cur:
        rows = cur.execute(statement, params).fetchall()
    return FulltextLeg(ids=tuple(r.id for r in rows), scores=tuple(float(r.score) for r in rows))


def hybrid_search(
    conn: psycopg.Connection,
    corpus: Corpus,
    *,
    text: str,
    vector: np.ndarray | None,
    filters: Filters = Filters(),
    k: int = 10,
    limit: int = 10,
    tuning: Tuning = DEFAULT_TUNING,
    detail: int | None = None,
    vec_weight: float = 1.0,
    fts_weight: float = 1.0,
    prefer_service: str | None = None,
    prefer_component: str | None = None,
    fulltext: FulltextLeg | None = None,
) -> list[FusedRow]:
    """Both legs and their RRF fusion for ``corpus``, best first (at most ``limit`` rows).

    Two bounded extras are added to the fused score, each returned for provenance:

    * ``title_bonus`` (runbooks): the share of the title's IDF mass the query contains, times one rank step at
      the top of a leg (``rank_step(k, 1)``). It can only reorder hits whose fused scores are within one top
      rank position of each other — a tie-break for runbooks that differ mainly by what their title names.
    * ``meta_bonus``: half of that much for each of service and component matching the preferred value, scaled
      to one rank step at the *bottom* of the legs (``rank_step(k, tuning.leg_limit)``), the smallest difference one
      rank position makes. A hit ranked below another in both legs therefore never overtakes it on metadata.

    ``detail`` (default: ``limit``) is how many of the best rows are read in full: query coverage and the
    unexplained term for those only, title coverage only for rows that can still reach them. The rows past it
    carry both legs' ranks and scores (callers read them for abstention features) without that detail.

    ``fulltext``: the full-text leg already computed by ``fulltext_leg`` (same corpus, text, filters and
    ``tuning``); the statement then runs the vector leg and the fusion only.
    """
    fulltext_parts, params_v = _fulltext_sql(corpus, filters)
    where_v = fulltext_parts["where_f"]
    vector_parts = [
        sql.SQL(
            "(SELECT t.{key} AS id, t.{vec} <=> q.v AS d FROM {table} AS t, q"
            " WHERE q.v IS NOT NULL AND t.{vec} IS NOT NULL{where} ORDER BY t.{vec} <=> q.v LIMIT %(leg_limit)s)"
        ).format(
            key=sql.Identifier(corpus.key), vec=sql.Identifier(v), table=sql.Identifier(corpus.table), where=where_v
        )
        for v in corpus.vectors
    ]
    title_expr: sql.Composable = sql.SQL("0.0")
    if corpus.title_label:
        title_expr = sql.SQL(
            "coalesce((SELECT sum(qi.idf) FILTER (WHERE qi.lexeme IS NOT NULL) / nullif(sum(ti.idf), 0)"
            " FROM (SELECT tl.lexeme, ln(1 + (cs.documents - coalesce(st.ndoc, 0) + 0.5)"
            "        / (coalesce(st.ndoc, 0) + 0.5)) AS idf"
            '       FROM unnest(ts_filter(r.tsv, ARRAY[{label}]::"char"[])) AS tl CROSS JOIN cs'
            "       LEFT JOIN search_term_stats AS st ON st.corpus = %(corpus)s AND st.lexeme = tl.lexeme) AS ti"
            " LEFT JOIN qi ON qi.lexeme = ti.lexeme), 0.0)"
        ).format(label=sql.Literal(corpus.title_label.lower()))
    fulltext_sql = _GIVEN_FULLTEXT_LEG if fulltext is not None else _FULLTEXT_LEG
    statement = sql.SQL(
        "WITH q AS NOT MATERIALIZED (SELECT %(vector)s::vector AS v),"
        + _QUERY_TERMS
        + ","
        + fulltext_sql
        + ","
        + _VECTOR_AND_FUSION
    ).format(**fulltext_parts, vector_union=sql.SQL(" UNION ALL ").join(vector_parts), title_expr=title_expr)
    params: dict[str, object] = {
        **_fulltext_params(text, corpus, tuning),
        "vector": Vector(vector) if vector is not None else None,
        "detail": limit if detail is None else detail,
        "k": float(k),
        "w_vec": float(vec_weight),
        "w_fts": float(fts_weight),
        "limit": limit,
        "title_gap": rank_step(k, 1, min(vec_weight, fts_weight)),
        "meta_gap": rank_step(k, tuning.leg_limit, min(vec_weight, fts_weight)),
        "prefer_service": prefer_service,
        "prefer_component": prefer_component,
        **params_v,
    }
    if fulltext is not None:
        params["fts_ids"] = list(fulltext.ids)
        params["fts_scores"] = list(fulltext.scores)
    with conn.cursor(row_factory=kwargs_row(_fused_row)) as cur:
        return cur.execute(statement, params).fetchall()


# --- the rows behind the hits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunbookRow:
    runbook_id: str
    title: str
    source_path: str
    service: str | None
    component: str | None
    team: str | None
    failure_type: str | None


_STEP_COLUMNS = (
    "SELECT step_id, runbook_id, step_order, phase, condition, action, expected_outcome, rollback, risk_level"
    " FROM runbook_steps"
)


def runbooks_by_id(conn: psycopg.Connection, ids: Sequence[str]) -> dict[str, RunbookRow]:
    """The runbooks with these ids, by id (missing ids are left out)."""
    with conn.cursor(row_factory=class_row(RunbookRow)) as cur:
        rows = cur.execute(
            "SELECT runbook_id, title, source_path, service, component, team, failure_type FROM runbooks"
            " WHERE runbook_id = ANY(%s)",
            (list(ids),),
        ).fetchall()
    return {r.runbook_id: r for r in rows}


def steps_of_runbooks(conn: psycopg.Connection, runbook_ids: Sequence[str]) -> list[StepHit]:
    """Every step of these runbooks, each runbook's in its own order."""
    with conn.cursor(row_factory=class_row(StepHit)) as cur:
        return cur.execute(
            _STEP_COLUMNS + " WHERE runbook_id = ANY(%s) ORDER BY runbook_id, step_order NULLS LAST, step_id",
            (list(runbook_ids),),
        ).fetchall()


def steps_by_id(conn: psycopg.Connection, step_ids: Sequence[str]) -> list[StepHit]:
    """The steps with these ids (missing ids are left out), in runbook and step order."""
    with conn.cursor(row_factory=class_row(StepHit)) as cur:
        return cur.execute(
            _STEP_COLUMNS + " WHERE step_id = ANY(%s) ORDER BY runbook_id, step_order NULLS LAST, step_id",
            (list(step_ids),),
        ).fetchall()


def signatures_by_id(conn: psycopg.Connection, ids: Sequence[str]) -> dict[str, SignatureRecord]:
    """The incident signatures with these ids, by id, with their track-record counters."""
    with conn.cursor(row_factory=class_row(SignatureRecord)) as cur:
        rows = cur.execute(
            "SELECT incident_signature_id, failure_type, error_class, symptoms, assignment_group, impact, urgency,"
            " resolution_refs, cardinality(source_incident_ids) AS incident_count, resolution_success_count,"
            " match_count, confirmed_count FROM incident_signatures WHERE incident_signature_id = ANY(%s)",
            (list(ids),),
        ).fetchall()
    return {r.incident_signature_id: r for r in rows}


@dataclass(frozen=True)
class _VectorRow:
    id: str
    vector: object


def stored_vectors(conn: psycopg.Connection, corpus: Corpus, ids: Sequence[str]) -> dict[str, np.ndarray | None]:
    """The first vector column of ``corpus`` for these ids (None where the row has no vector)."""
    query = sql.SQL("SELECT {key} AS id, {vec} AS vector FROM {table} WHERE {key} = ANY(%s)").format(
        key=sql.Identifier(corpus.key), vec=sql.Identifier(corpus.vectors[0]), table=sql.Identifier(corpus.table)
    )
    with conn.cursor(row_factory=class_row(_VectorRow)) as cur:
        rows = cur.execute(query, (list(ids),)).fetchall()
    return {r.id: _as_array(r.vector) for r in rows}


def _as_array(value: object) -> np.ndarray | None:
    """A stored vector as numpy (pgvector's type, a list, or NULL)."""
    if value is None:
        return None
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float64)
