"""`nocai kb reembed`: switch the knowledge base to the configured embedding model, or refresh stale vectors.

When the configured model differs from the one the database records, the vector columns are retyped for it (one
transaction: old vectors cleared, indexes rebuilt, registry updated). Then every row whose stored hash does not
match (model, current text) is embedded again, in batches committed one by one — so an interrupted run loses at
most one batch and the next run continues where it stopped. The texts themselves are never touched.

Signature centroids are recomputed from their incidents' new vectors at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from pgvector import Vector
from psycopg import sql

from ai_service.knowledge import texts
from ai_service.knowledge.embeddings import Embedder, content_hash
from ai_service.knowledge.incidents import IncidentRecord
from db import vectors

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class _Target:
    table: str
    key: str
    select: str  # columns (after the key) that the text is made of
    text: Callable[[tuple], str]  # type: ignore[type-arg]
    vector: str = "embedding"
    hash: str = "embedding_sha256"

    @property
    def label(self) -> str:
        return self.table if self.vector == "embedding" else f"{self.table}.{self.vector}"


def _incident_text(row: tuple) -> str:  # type: ignore[type-arg]
    from ai_service.knowledge.clustering import incident_text

    return incident_text(IncidentRecord(number=row[0], short_description=row[1], description=row[2] or ""))


TARGETS: tuple[_Target, ...] = (
    _Target(
        "runbook_steps",
        "step_id",
        "condition, action, expected_outcome",
        lambda r: texts.step_text(r[1], r[2], r[3]),
    ),
    _Target(
        "runbooks",
        "runbook_id",
        "title, description, (SELECT s.action FROM runbook_steps AS s WHERE s.runbook_id = t.runbook_id"
        " ORDER BY s.step_order LIMIT 1), ARRAY(SELECT jsonb_array_elements_text(t.tags))",
        lambda r: texts.runbook_text(r[1], r[2], r[3], r[4] or []),
    ),
    _Target(
        "runbooks",
        "runbook_id",
        "title",
        lambda r: texts.runbook_title_text(r[1]),
        "title_embedding",
        "title_embedding_sha256",
    ),
    _Target(
        "incident_signatures",
        "incident_signature_id",
        "failure_type, error_class, symptoms",
        lambda r: texts.signature_text(r[1], r[2], r[3] or []),
    ),
    _Target("historical_incidents", "number", "short_description, description", _incident_text),
)


@dataclass
class ReembedReport:
    switched_from: tuple[str, int] | None = None
    model: str = ""
    dimension: int = 0
    embedded: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _table_exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _stale_rows(conn: psycopg.Connection, target: _Target, model: str) -> list[tuple[str, str, str]]:
    """(key, text, hash) of the rows whose vector is missing or was made from another text or model."""
    query = sql.SQL("SELECT t.{key}, {cols}, t.{hash}, t.{vector} IS NULL FROM {table} AS t").format(
        key=sql.Identifier(target.key),
        cols=sql.SQL(target.select),
        table=sql.Identifier(target.table),
        hash=sql.Identifier(target.hash),
        vector=sql.Identifier(target.vector),
    )
    stale = []
    for row in conn.execute(query).fetchall():
        text = target.text(tuple(row[:-2]))
        digest = content_hash(model, text)
        if row[-1] or row[-2] != digest:
            stale.append((row[0], text, digest))
    return stale


def reembed(
    conn: psycopg.Connection,
    embedder: Embedder,
    *,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> ReembedReport:
    """Bring every vector in line with ``embedder``'s model (``conn`` in autocommit mode)."""
    started = time.perf_counter()
    report = ReembedReport(model=embedder.model_name, dimension=embedder.dimension)
    registered = vectors.registered_model(conn)
    if registered is None or (registered.model, registered.dimension) != (embedder.model_name, embedder.dimension):
        vectors.set_embedding_model(conn, model=embedder.model_name, dimension=embedder.dimension)
        report.switched_from = (registered.model, registered.dimension) if registered else None
    present = {(vc.table, vc.column) for vc in vectors.present_columns(conn)}
    for target in TARGETS:
        if (target.table, target.vector) not in present:
            continue
        stale = _stale_rows(conn, target, embedder.model_name)
        done = 0
        for start in range(0, len(stale), batch_size):
            batch = stale[start : start + batch_size]
            embedded = embedder.embed([text for _, text, _ in batch])
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("UPDATE {table} SET {vector} = %s, {hash} = %s WHERE {key} = %s").format(
                        table=sql.Identifier(target.table),
                        key=sql.Identifier(target.key),
                        vector=sql.Identifier(target.vector),
                        hash=sql.Identifier(target.hash),
                    ),
                    [(Vector(v), digest, key) for (key, _, digest), v in zip(batch, embedded, strict=True)],
                )
            done += len(batch)
            if progress:
                progress(target.label, done, len(stale))
        report.embedded[target.label] = done
    if _table_exists(conn, "historical_incidents"):
        refresh_centroids(conn)
    report.seconds = time.perf_counter() - started
    return report


def refresh_centroids(conn: psycopg.Connection, signature_ids: Sequence[str] | None = None) -> int:
    """Each signature's centroid: the mean of its incidents' vectors (not normalised: its length is the cluster's
    cohesion, which growing the signature needs)."""
    where = "" if signature_ids is None else " AND signature_id = ANY(%(ids)s)"
    cur = conn.execute(
        "UPDATE incident_signatures AS s SET centroid = m.mean"
        " FROM (SELECT signature_id, avg(embedding) AS mean FROM historical_incidents"
        "       WHERE signature_id IS NOT NULL AND embedding IS NOT NULL" + where + " GROUP BY signature_id) AS m"
        " WHERE s.incident_signature_id = m.signature_id",
        {"ids": list(signature_ids or [])},
    )
    return cur.rowcount
