"""`nocai kb reembed`: switch the knowledge base to the configured embedding model, or refresh stale vectors.

When the configured model differs from the one the database records, the vector columns are retyped for it (one
transaction: old vectors cleared, indexes rebuilt, registry updated). Then every row whose stored hash does not
match (model, current text) is embedded again, in batches committed one by one — so an interrupted run loses at
most one batch and the next run continues where it stopped. The texts themselves are never touched.

Signature centroids are recomputed from their incidents' new vectors at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ai_service.knowledge import signature_store, store, texts
from ai_service.knowledge.clustering import incident_text
from ai_service.knowledge.embeddings import Embedder, content_hash
from ai_service.knowledge.incidents import IncidentRecord
from db import vectors

Progress = Callable[[str, int, int], None]


def _incident_text(columns: Mapping[str, Any]) -> str:
    record = IncidentRecord(
        number="-", short_description=columns["short_description"], description=columns["description"] or ""
    )
    return incident_text(record)


#: How each embedded text is rebuilt from its row's columns (keyed like ``store.EMBEDDED_TEXTS``' labels).
TEXT_OF: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "runbook_steps": lambda c: texts.step_text(c["condition"], c["action"], c["expected_outcome"]),
    "runbooks": lambda c: texts.runbook_text(c["title"], c["description"], c["first_action"], c["tags"] or []),
    "runbooks.title_embedding": lambda c: texts.runbook_title_text(c["title"]),
    "incident_signatures": lambda c: texts.signature_text(c["failure_type"], c["error_class"], c["symptoms"] or []),
    "historical_incidents": _incident_text,
}


@dataclass
class ReembedReport:
    switched_from: tuple[str, int] | None = None
    model: str = ""
    dimension: int = 0
    embedded: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _stale_rows(conn: psycopg.Connection, target: store.EmbeddedText, model: str) -> list[tuple[str, str, str]]:
    """(key, text, hash) of the rows whose vector is missing or was made from another text or model."""
    make_text = TEXT_OF[target.label]
    stale = []
    for row in store.embedded_text_rows(conn, target):
        text = make_text(row.columns)
        digest = content_hash(model, text)
        if not row.has_vector or row.stored_hash != digest:
            stale.append((row.key, text, digest))
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
    for target in store.EMBEDDED_TEXTS:
        if (target.table, target.vector) not in present:
            continue
        stale = _stale_rows(conn, target, embedder.model_name)
        done = 0
        for start in range(0, len(stale), batch_size):
            batch = stale[start : start + batch_size]
            embedded = embedder.embed([text for _, text, _ in batch])
            with conn.transaction():
                store.store_vectors(
                    conn,
                    target,
                    [(key, vector, digest) for (key, _, digest), vector in zip(batch, embedded, strict=True)],
                )
            done += len(batch)
            if progress:
                progress(target.label, done, len(stale))
        report.embedded[target.label] = done
    if store.table_exists(conn, "historical_incidents"):
        signature_store.refresh_centroids(conn)
    report.seconds = time.perf_counter() - started
    return report
