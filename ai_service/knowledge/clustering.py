"""Historical incidents -> incident signatures: the text to embed, clustering, description and incremental growth.

The pipeline, all of it pure functions over records and vectors (each step's module in brackets; every name
below can be imported from this module):

1. :func:`incident_text` (:mod:`.clustering_text`) - what a ticket says about the *symptom*: the short
   description and description, without monitoring boilerplate (label lists, "Problem started at", "Notified
   via"), sign-offs, host names, ids or measured values. Close notes are left out: they describe the fix, not
   what was seen.
2. :func:`embed_incidents` (:mod:`.clustering_text`) - those texts through an
   :class:`~ai_service.knowledge.embeddings.Embedder`.
3. :func:`cluster_incidents` (:mod:`.clustering_linkage`) - average-linkage agglomerative clustering on cosine
   similarity, cut at ``threshold``: two groups merge while the *mean* similarity between their members is at
   least the threshold. The threshold (:data:`DEFAULT_THRESHOLD`) was chosen by measurement
   (``bench/bench_clustering.py``).
4. :func:`describe_clusters` / :func:`describe_cluster` (:mod:`.clustering_describe`) - a
   :class:`SignatureDraft` per cluster: failure type and error class from the failure taxonomy
   (:func:`signature_label`: the cited runbook's type, else the members' evidence), symptoms from the cluster's
   distinctive phrases (class-based TF-IDF against the other clusters), the usual assignment group / impact /
   urgency, the runbook steps cited in close notes, the centroid.
5. :func:`assign_to_signatures` (:mod:`.clustering_linkage`) - later batches: each new incident joins the most
   similar existing signature when the mean similarity to its members reaches the same threshold, or forms a
   new signature with other new incidents; incidents whose number a signature already holds are skipped, never
   counted twice.
6. :func:`signature_id_for` / :func:`assign_signature_ids` (:mod:`.clustering_ids`) - readable, stable ids
   (``SIG-DISK-001``).

This module adds :func:`draft_signatures` (steps 3 and 4 in one call) and :func:`score_clustering`, which
measures a clustering against reference labels (``bench/bench_clustering.py`` and the tests use it).

What the pipeline must never do: touch the database or the network, call an embedding model except through
:func:`embed_incidents`, depend on the order of dictionaries or sets for its output (same input, same
clusters, same descriptions, same ids), or return a draft with an empty failure type, error class or symptom
list.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ai_service.knowledge.clustering_describe import (
    ERROR_CLASS_NAMES,
    ERROR_CLASSES,
    SignatureDraft,
    TermBackground,
    cited_step_ids,
    describe_cluster,
    describe_clusters,
    signature_label,
    signature_text,
    term_background,
)
from ai_service.knowledge.clustering_ids import assign_signature_ids, signature_id_for
from ai_service.knowledge.clustering_linkage import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_THRESHOLD,
    Assignment,
    Cluster,
    ExistingSignature,
    SignatureGrowth,
    assign_to_signatures,
    cluster_incidents,
    make_cluster,
)
from ai_service.knowledge.clustering_text import embed_incidents, incident_text
from ai_service.knowledge.incidents import IncidentRecord

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_THRESHOLD",
    "ERROR_CLASSES",
    "ERROR_CLASS_NAMES",
    "Assignment",
    "Cluster",
    "ClusteringScores",
    "ExistingSignature",
    "SignatureDraft",
    "SignatureGrowth",
    "TermBackground",
    "assign_signature_ids",
    "assign_to_signatures",
    "cited_step_ids",
    "cluster_incidents",
    "cluster_labels",
    "describe_cluster",
    "describe_clusters",
    "draft_signatures",
    "embed_incidents",
    "incident_text",
    "make_cluster",
    "score_clustering",
    "signature_id_for",
    "signature_label",
    "signature_text",
    "term_background",
]


def draft_signatures(
    records: Sequence[IncidentRecord],
    embeddings: np.ndarray,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    known_step_ids: Iterable[str] | None = None,
) -> list[SignatureDraft]:
    """One-shot: :func:`cluster_incidents` then :func:`describe_clusters` (``embeddings[i]`` is ``records[i]``)."""
    if len(records) != len(embeddings):
        raise ValueError(f"{len(records)} records for {len(embeddings)} embeddings")
    clusters = cluster_incidents(embeddings, threshold=threshold)
    return describe_clusters(records, clusters, known_step_ids=known_step_ids)


# --- evaluation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusteringScores:
    """Agreement of a clustering with reference labels: adjusted Rand index, homogeneity (each cluster holds
    one label), completeness (each label in one cluster), V-measure (their harmonic mean), cluster count."""

    ari: float
    homogeneity: float
    completeness: float
    v_measure: float
    clusters: int


def _pairs(count: float) -> float:
    return count * (count - 1) / 2


def score_clustering(reference: Sequence[object], predicted: Sequence[object]) -> ClusteringScores:
    """Compare a clustering (``predicted[i]`` is item i's cluster) with reference labels."""
    if len(reference) != len(predicted):
        raise ValueError("reference and predicted labels differ in length")
    total = len(reference)
    joint = Counter(zip(reference, predicted, strict=True))
    by_label, by_cluster = Counter(reference), Counter(predicted)
    if total < 2:
        return ClusteringScores(1.0, 1.0, 1.0, 1.0, len(by_cluster))
    index = sum(_pairs(count) for count in joint.values())
    label_pairs = sum(_pairs(count) for count in by_label.values())
    cluster_pairs = sum(_pairs(count) for count in by_cluster.values())
    expected = label_pairs * cluster_pairs / _pairs(total)
    maximum = (label_pairs + cluster_pairs) / 2
    ari = 1.0 if maximum == expected else (index - expected) / (maximum - expected)

    def entropy(counts: Counter[object]) -> float:
        return -sum(count / total * math.log(count / total) for count in counts.values())

    label_given_cluster = -sum(n / total * math.log(n / by_cluster[c]) for (_, c), n in joint.items())
    cluster_given_label = -sum(n / total * math.log(n / by_label[r]) for (r, _), n in joint.items())
    label_entropy, cluster_entropy = entropy(by_label), entropy(by_cluster)
    homogeneity = 1.0 - label_given_cluster / label_entropy if label_entropy else 1.0
    completeness = 1.0 - cluster_given_label / cluster_entropy if cluster_entropy else 1.0
    v_measure = 2 * homogeneity * completeness / (homogeneity + completeness) if homogeneity + completeness else 0.0
    return ClusteringScores(ari, homogeneity, completeness, v_measure, len(by_cluster))


def cluster_labels(clusters: Sequence[Cluster], count: int) -> list[int]:
    """Cluster number of each of ``count`` items (the inverse of the clusters' member lists)."""
    labels = [-1] * count
    for number, cluster in enumerate(clusters):
        for member in cluster.members:
            labels[member] = number
    return labels
