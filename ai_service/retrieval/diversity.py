"""Maximal Marginal Relevance: re-order hits so that near-duplicates do not crowd out the rest.

Ten steps that say "check disk usage" in ten runbooks are one idea; an on-call engineer is better served by the
best of them and then the next-best *different* ideas. Greedy MMR (Carbonell & Goldstein, 1998) picks, at each
position, the candidate maximising ``lam * relevance - (1 - lam) * max cosine similarity to those already picked``.
``lam = 1`` is the relevance order unchanged; lower values trade relevance for diversity.

Relevance is the fused score scaled to [0, 1] within the candidates (the best is 1), so that it is comparable to
a cosine similarity whatever the RRF constant. Candidates without a stored vector are never penalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psycopg

from ai_service.retrieval import store


def mmr_order(relevance: Sequence[float], vectors: Sequence[np.ndarray | None], *, lam: float, limit: int) -> list[int]:
    """Indices of the candidates in MMR order (at most ``limit``); ``relevance`` is best-first or not, any scale."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"MMR lambda must be between 0 and 1, got {lam}")
    n = len(relevance)
    if n == 0:
        return []
    scores = np.asarray(relevance, dtype=np.float64)
    top = scores.max()
    scaled = scores / top if top > 0 else np.zeros(n)
    units = [None if v is None else np.asarray(v, dtype=np.float64) / (np.linalg.norm(v) or 1.0) for v in vectors]
    chosen: list[int] = []
    closest = np.zeros(n)  # max similarity of each candidate to the chosen ones
    remaining = set(range(n))
    while remaining and len(chosen) < limit:
        best = max(remaining, key=lambda i: (lam * scaled[i] - (1 - lam) * closest[i], scaled[i], -i))
        chosen.append(best)
        remaining.discard(best)
        picked = units[best]
        if picked is None:
            continue
        for i in remaining:
            unit = units[i]
            if unit is not None:
                closest[i] = max(closest[i], float(unit @ picked))
    return chosen


def diversify(
    conn: psycopg.Connection, corpus: store.Corpus, rows: list[store.FusedRow], *, lam: float, limit: int
) -> list[store.FusedRow]:
    """``rows`` (best first) re-ordered by MMR over their stored vectors (the corpus's first vector column)."""
    if not rows:
        return rows
    ids = [r.id for r in rows]
    stored = store.stored_vectors(conn, corpus, ids)
    vectors = [stored.get(i) for i in ids]
    order = mmr_order([r.score for r in rows], vectors, lam=lam, limit=limit)
    return [rows[i] for i in order]
