"""`nocai kb reembed`: switching models re-embeds everything, resumably, and loses no text."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ai_service.errors import EmbeddingModelMismatchError
from ai_service.knowledge import service
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder, OpenAICompatibleEmbedder
from ai_service.knowledge.reembed import reembed
from db import vectors
from db.connection import connect
from tests.support.openai_server import embedding_server


@pytest.fixture
def conn(migrated_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(migrated_db_url, autocommit=True) as connection:
        yield connection


def _dims(conn: psycopg.Connection) -> set[int | None]:
    row = conn.execute(
        "SELECT array_agg(DISTINCT vector_dims(embedding)) FROM ("
        " SELECT embedding FROM runbook_steps UNION ALL SELECT embedding FROM runbooks) AS v"
    ).fetchone()
    return set(row[0]) if row and row[0] else set()


def test_switching_models_reembeds_everything_resumably(conn: psycopg.Connection) -> None:
    local = LocalMiniLMEmbedder()
    service.ingest_runbooks(conn, local, [service.SAMPLE_DIR / "runbooks"])
    texts_before = conn.execute("SELECT step_id, condition, action FROM runbook_steps ORDER BY step_id").fetchall()
    steps = len(texts_before)
    with embedding_server(64) as url:
        other = OpenAICompatibleEmbedder(url=url, model="gateway-64", dimension=64, timeout=5, max_retries=0)
        # The database refuses the new model until it is switched.
        with pytest.raises(EmbeddingModelMismatchError):
            vectors.check_embedding_model(conn, model="gateway-64", dimension=64)

        class Interrupt(Exception):
            pass

        def stop_after_first_batch(stage: str, done: int, total: int) -> None:
            if stage == "runbook_steps" and done >= 32:
                raise Interrupt

        with pytest.raises(Interrupt):
            reembed(conn, other, batch_size=32, progress=stop_after_first_batch)
        assert vectors.registered_model(conn) == vectors.RegisteredModel("gateway-64", 64)
        assert conn.execute("SELECT count(embedding) FROM runbook_steps").fetchone() == (32,)

        report = reembed(conn, other, batch_size=32)
        assert report.switched_from is None  # already switched by the interrupted run
        assert report.embedded["runbook_steps"] == steps - 32
        assert report.embedded["runbooks"] == 12
        assert report.embedded["runbooks.title_embedding"] == 12
        assert _dims(conn) == {64}
        assert conn.execute("SELECT count(*) FROM runbook_steps WHERE embedding IS NULL").fetchone() == (0,)
        again = reembed(conn, other)
        assert sum(again.embedded.values()) == 0
    # Nothing but vectors changed.
    assert conn.execute("SELECT step_id, condition, action FROM runbook_steps ORDER BY step_id").fetchall() == (
        texts_before
    )
    # And back to the local model.
    back = reembed(conn, local)
    assert back.switched_from == ("gateway-64", 64)
    assert back.embedded["runbook_steps"] == steps and _dims(conn) == {384}
    # Re-ingesting after the round trip finds everything unchanged.
    assert service.ingest_runbooks(conn, local, [service.SAMPLE_DIR / "runbooks"]).texts_embedded == 0
