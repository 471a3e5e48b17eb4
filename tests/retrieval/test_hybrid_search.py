"""Hybrid retrieval against the real database, model and sample knowledge base."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from ai_service.knowledge import service as knowledge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.retrieval import store
from ai_service.retrieval.query_text import SearchQuery
from ai_service.retrieval.service import SearchOptions, search
from db.connection import connect


@pytest.fixture(scope="module")
def kb_url(pg_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """One clone of the sample knowledge base, shared by this module's read-only tests."""
    name = pg_server.create_database(template=pg_server.sample_kb_template())
    yield pg_server.url(name)
    pg_server.drop_database(name)


@pytest.fixture
def conn(kb_url: str) -> Iterator[psycopg.Connection]:
    with connect(kb_url, autocommit=True) as connection:
        yield connection


@pytest.mark.parametrize(
    ("text", "runbook"),
    [
        ("Root filesystem usage above 95 percent on web-07, /var/log growing", "linux-disk-full"),
        ("FATAL: sorry, too many clients already; connection pool exhausted", "pg-connection-exhaustion"),
        (
            "Pod payments-api-7c9d8f6b5-x2x9k is in CrashLoopBackOff, back-off restarting failed container",
            "k8s-pod-crashloop",
        ),
        ("Replica is 900 seconds behind the primary, replay lag increasing", "pg-replication-lag"),
        ("TLS certificate for api.example.com expires in 5 days", "tls-certificate-expiry"),
    ],
)
def test_the_right_runbook_comes_first_with_provenance(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, text: str, runbook: str
) -> None:
    result = search(conn, embedder, text)
    top = result.runbooks[0]
    assert top.runbook_id == runbook
    p = top.provenance
    assert p.vector.rank is not None and p.fulltext.rank is not None  # found by both legs
    assert p.score == pytest.approx(p.rrf + p.title_bonus + p.meta_bonus)
    assert 0 < p.query_coverage <= 1
    # Its steps come in the runbook's own order.
    orders = [s.step_order for s in top.steps]
    assert orders == sorted(orders) and len(orders) > 3
    assert result.steps and all(s.provenance is not None for s in result.steps)


def test_legs_rank_independently_and_fusion_is_rrf(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    text = "disk full on /var"
    rows = store.hybrid_search(conn, store.STEPS, text=text, vector=embedder.embed_query(text), k=60, limit=20)
    for row in rows:
        expected = (1 / (60 + row.vec_rank) if row.vec_rank else 0) + (1 / (60 + row.fts_rank) if row.fts_rank else 0)
        assert row.rrf == pytest.approx(expected)
    assert [r.rrf + r.title_bonus + r.meta_bonus for r in rows] == sorted(
        (r.rrf + r.title_bonus + r.meta_bonus for r in rows), reverse=True
    )
    # Text only (no vector) still works: the full-text leg alone.
    text_only = store.hybrid_search(conn, store.STEPS, text=text, vector=None, limit=5)
    assert text_only and all(r.vec_rank is None and r.fts_rank for r in text_only)


def test_hard_filters_hold_and_still_fill_the_page(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    options = SearchOptions(steps=8, filters=store.Filters(service="postgresql", max_risk="low"))
    result = search(conn, embedder, "slow queries and high load", options)
    assert len(result.steps) == 8
    assert all(s.risk_level == "low" for s in result.steps)
    assert all(s.runbook_id.startswith("pg-") for s in result.steps)
    assert all(r.service == "postgresql" for r in result.runbooks)


def test_metadata_preference_never_outweighs_relevance(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    for text in ("connections refused", "high latency and timeouts", "certificate", "queue growing"):
        vector = embedder.embed_query(text)
        plain = store.hybrid_search(
            conn, store.STEPS, text=text, vector=vector, limit=30, tuning=store.Tuning(leg_limit=30)
        )
        preferred = store.hybrid_search(
            conn,
            store.STEPS,
            text=text,
            vector=vector,
            limit=30,
            tuning=store.Tuning(leg_limit=30),
            prefer_service="network",
        )
        position = {r.id: i for i, r in enumerate(preferred)}
        bound = store.rank_step(10, 30)
        assert all(r.meta_bonus <= bound + 1e-12 for r in preferred)
        assert any(r.meta_bonus > 0 for r in preferred) or not any(r.service == "network" for r in plain)
        for a in plain:
            for b in plain:
                dominates = (
                    a.vec_rank
                    and b.vec_rank
                    and a.fts_rank
                    and b.fts_rank
                    and a.vec_rank < b.vec_rank
                    and a.fts_rank < b.fts_rank
                    and a.title_bonus >= b.title_bonus
                )
                if dominates and a.id in position and b.id in position:
                    assert position[a.id] < position[b.id], (text, a.id, b.id)


def test_preference_breaks_ties_toward_the_alerts_service(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    query = SearchQuery(text="connection refused", service="postgresql")
    result = search(conn, embedder, query)
    boosted = [s for s in result.steps if s.provenance and s.provenance.meta_bonus > 0]
    assert boosted and all("service=postgresql" in s.provenance.boosts[-1] for s in boosted)  # type: ignore[union-attr]


def test_signatures_are_found_for_ticket_like_text(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    result = search(conn, embedder, "Free disk space is less than 10% on volume /var")
    assert result.signatures
    top = result.signatures[0]
    assert top.error_class in ("resource_exhaustion", "capacity") and top.incident_count >= 2


def test_unrelated_text_is_not_a_match(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    unrelated = search(conn, embedder, "quarterly budget spreadsheet formula broken in the finance share")
    related = search(conn, embedder, "FATAL: too many clients already, max_connections reached on the primary")
    assert unrelated.abstention.abstained
    assert unrelated.abstention.match_probability < related.abstention.match_probability
    assert set(unrelated.abstention.features) >= {"coverage", "title", "margin", "vec_lead", "fts_lead"}
    # The right runbook stands out from the crowd in both legs; nothing does for the unrelated text.
    assert related.abstention.features["vec_lead"] > unrelated.abstention.features["vec_lead"]
    assert related.abstention.features["fts_lead"] > unrelated.abstention.features["fts_lead"]


def test_empty_query_does_not_fail(conn: psycopg.Connection, embedder: LocalMiniLMEmbedder) -> None:
    result = search(conn, embedder, "   ")
    assert result.runbooks == [] and result.abstention.abstained


def test_identifier_words_split_camel_case_and_keep_the_identifier(conn: psycopg.Connection) -> None:
    (words,) = conn.execute(
        "SELECT identifier_words('The KubeAPIDown alert; etcdHighFsyncDurations, node_exporter and plain words')"
    ).fetchone()
    assert words.startswith("The KubeAPIDown alert; etcdHighFsyncDurations, node_exporter and plain words")
    assert words.endswith(" Kube API Down etcd High Fsync Durations")
    assert conn.execute("SELECT identifier_words(NULL), identifier_words('no identifiers')").fetchone() == (
        "",
        "no identifiers",
    )


def test_a_runbook_titled_by_its_alertname_is_found_by_the_alerts_words(
    kb_url: str, embedder: LocalMiniLMEmbedder, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    runbook = tmp_path / "rabbitQueueBacklogGrowing.md"
    runbook.write_text(
        "# rabbitQueueBacklogGrowing\n\n## Diagnosis\n\n"
        "Check the consumers of the queue with `rabbitmqctl list_queues`.\n",
        encoding="utf-8",
    )
    with connect(kb_url, autocommit=True) as conn:
        knowledge.ingest_runbooks(conn, embedder, [runbook])
        try:
            rows = store.hybrid_search(conn, store.RUNBOOKS, text="rabbit queue backlog growing", vector=None, limit=3)
            top = rows[0]
            assert top.id == "rabbitqueuebackloggrowing"
            assert top.fts_rank == 1
            assert top.title_coverage > 0.5  # the unsplit title shares no word with the query: 0
        finally:
            conn.execute("DELETE FROM runbooks WHERE runbook_id = 'rabbitqueuebackloggrowing'")


def test_mmr_pushes_near_duplicates_down() -> None:
    from ai_service.retrieval.diversity import mmr_order

    a = np.array([1.0, 0.0, 0.0])
    near_a = np.array([0.99, 0.14, 0.0])
    b = np.array([0.0, 1.0, 0.0])
    relevance = [1.0, 0.95, 0.8]
    vectors = [a, near_a, b]
    assert mmr_order(relevance, vectors, lam=1.0, limit=3) == [0, 1, 2]  # relevance only
    assert mmr_order(relevance, vectors, lam=0.7, limit=3) == [0, 2, 1]  # the different idea moves up
    assert mmr_order(relevance, [a, None, b], lam=0.5, limit=2) == [0, 1]  # no vector: no penalty
    with pytest.raises(ValueError, match="between 0 and 1"):
        mmr_order(relevance, vectors, lam=1.5, limit=3)


def test_search_with_mmr_keeps_the_best_hit_and_returns_a_diverse_page(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    text = "disk full on /var, log files growing, no space left on device"
    plain = search(conn, embedder, text, SearchOptions(steps=5))
    diverse = search(conn, embedder, text, SearchOptions(steps=5, mmr=0.5))
    assert diverse.steps[0].step_id == plain.steps[0].step_id
    assert len(diverse.steps) == 5 and len({s.step_id for s in diverse.steps}) == 5
    ids = [s.step_id for s in diverse.steps]
    vectors = {
        row[0]: np.asarray(row[1].to_numpy(), dtype=np.float64)
        for row in conn.execute(
            "SELECT step_id, embedding FROM runbook_steps WHERE step_id = ANY(%s)",
            ([*ids, *(s.step_id for s in plain.steps)],),
        )
    }

    def redundancy(page: list[str]) -> float:
        return max(float(vectors[x] @ vectors[y]) for i, x in enumerate(page) for y in page[i + 1 :])

    assert redundancy(ids) <= redundancy([s.step_id for s in plain.steps])


def test_steps_can_be_searched_within_the_returned_runbooks(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    text = "Root filesystem usage above 95 percent on web-07, /var/log growing"
    scoped = search(conn, embedder, text, SearchOptions(runbooks=2, steps=5, steps_from_top_runbooks=True))
    runbook_ids = {rb.runbook_id for rb in scoped.runbooks}
    assert len(runbook_ids) == 2 and scoped.steps
    assert {s.runbook_id for s in scoped.steps} <= runbook_ids
    everywhere = search(conn, embedder, text, SearchOptions(runbooks=2, steps=5))
    assert scoped.steps[0].step_id == everywhere.steps[0].step_id  # the best step is in the best runbook


def test_signatures_searched_on_a_pooled_connection_give_the_same_result(
    kb_url: str, conn: psycopg.Connection, embedder: LocalMiniLMEmbedder
) -> None:
    from db.connection import create_pool

    text = "FATAL: sorry, too many clients already; connection pool exhausted"
    alone = search(conn, embedder, text)
    with create_pool(url=kb_url, min_size=1, max_size=2) as pool:
        pooled = search(conn, embedder, text, pool=pool)
        assert pool.get_stats()["requests_num"] >= 1  # the signature search really went through the pool
    assert pooled.signatures and [s.incident_signature_id for s in pooled.signatures] == [
        s.incident_signature_id for s in alone.signatures
    ]
    assert [s.step_id for s in pooled.steps] == [s.step_id for s in alone.steps]
    assert pooled.abstention == alone.abstention


@pytest.mark.parametrize("corpus", store.CORPORA, ids=lambda c: c.name)
@pytest.mark.parametrize(
    ("text", "filters"),
    [
        ("FATAL: sorry, too many clients already; connection pool exhausted", store.Filters()),
        ("disk usage above 95 percent, logs growing", store.Filters(service="web")),
        ("zzqx unknownword", store.Filters()),
    ],
)
def test_a_full_text_leg_run_ahead_gives_the_one_statement_result(
    conn: psycopg.Connection, embedder: LocalMiniLMEmbedder, corpus: store.Corpus, text: str, filters: store.Filters
) -> None:
    vector = embedder.embed_query(text)
    ahead = store.fulltext_leg(conn, corpus, text=text, filters=filters)
    kwargs = {"text": text, "vector": vector, "filters": filters, "limit": 20, "prefer_service": "postgres"}
    one_statement = store.hybrid_search(conn, corpus, **kwargs)
    assert store.hybrid_search(conn, corpus, fulltext=ahead, **kwargs) == one_statement
    for row in one_statement:  # the leg run ahead is the statement's own full-text leg, rank for rank
        if row.fts_rank is not None:
            assert ahead.ids[row.fts_rank - 1] == row.id
            assert ahead.scores[row.fts_rank - 1] == pytest.approx(row.fts_score)


class _FailingEmbedder(LocalMiniLMEmbedder):
    def embed_query(self, text: str) -> np.ndarray:
        raise RuntimeError("embedding endpoint down")


def test_a_failed_embedding_leaves_the_connection_free(kb_url: str, conn: psycopg.Connection) -> None:
    from db.connection import create_pool

    text = "FATAL: sorry, too many clients already; connection pool exhausted"
    with pytest.raises(RuntimeError, match="embedding endpoint down"):
        search(conn, _FailingEmbedder(), text)
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE  # nothing left running on it
    assert conn.execute("SELECT 1").fetchone() == (1,)
    with create_pool(url=kb_url, min_size=1, max_size=2) as pool:
        pool.wait()
        with pytest.raises(RuntimeError, match="embedding endpoint down"):
            search(conn, _FailingEmbedder(), text, pool=pool)
        stats = pool.get_stats()
        assert stats["pool_available"] == stats["pool_size"] >= 1  # no pooled connection left checked out
