"""Average-linkage agglomerative clustering of incident vectors, and the growth of existing signatures.

:func:`cluster_incidents` merges two groups while the *mean* cosine similarity between their members is at
least the threshold (:data:`DEFAULT_THRESHOLD`), using the nearest-neighbour-chain algorithm, in blocks above
:data:`DEFAULT_BLOCK_SIZE` nodes. Average linkage only needs the *sum* of a group's vectors (the mean
similarity of two groups of unit vectors is ``sum_a . sum_b / (n_a n_b)``), so an existing signature takes part
in clustering as one weighted node - its centroid, its cohesion (the norm of its members' mean) and its size -
exactly as if its members were there: that is how :func:`assign_to_signatures` grows signatures with a later
batch.

What this module must never do: look at incident text, give different clusters for the same vectors (ties go
to the lower index), merge two existing signatures, or count an incident twice.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Mean cosine similarity (all-MiniLM-L6-v2 vectors of
#: :func:`~ai_service.knowledge.clustering_text.incident_text`) at which two groups of incidents
#: are one signature. Chosen where the adjusted Rand index against the sample's (topic, cause) labels peaks;
#: the sweep, and the check on an independent alert corpus, are printed by ``bench/bench_clustering.py`` and
#: summarised in ``docs/incident-import.md``. Another embedding model needs its own sweep.
DEFAULT_THRESHOLD = 0.60

#: Above this many nodes, clustering runs in blocks of about this size and then clusters the blocks' clusters
#: (bounded memory: the similarity matrix of one block is ``4 * block**2`` bytes).
DEFAULT_BLOCK_SIZE = 8192


# --- clustering ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Cluster:
    """A group of incidents: their positions in the input, ascending, and the group's mean vector.

    ``centroid`` is the L2-normalised mean of the members' vectors; ``cohesion`` is the norm of that mean
    (1.0 for one incident; the square root of the members' mean pairwise similarity, self-pairs included).
    ``cohesion * centroid`` is the mean itself, which is what the threshold is compared against.
    """

    members: tuple[int, ...]
    centroid: np.ndarray
    cohesion: float

    @property
    def size(self) -> int:
        return len(self.members)


def check_vectors(embeddings: np.ndarray) -> np.ndarray:
    """``embeddings`` as float32 unit rows; ValueError unless a 2-D array of finite, non-zero rows."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (incidents x dimension), got shape {vectors.shape}")
    if len(vectors) and not np.isfinite(vectors).all():
        raise ValueError("embeddings contain NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1)
    if len(vectors) and (norms < 1e-6).any():
        raise ValueError(f"embedding {int(np.flatnonzero(norms < 1e-6)[0])} is all zeros")
    unit: np.ndarray = vectors / norms[:, None]
    return unit


def _check_threshold(threshold: float) -> float:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    return float(threshold)


def _agglomerate(means: np.ndarray, sizes: np.ndarray, threshold: float, locked: np.ndarray | None) -> np.ndarray:
    """Average-linkage clustering of weighted nodes, cut at ``threshold``; the root node of each input node.

    ``means`` are the nodes' (unnormalised) mean vectors, so the mean similarity of nodes i and j is
    ``means[i] . means[j]`` and merging updates by the size-weighted average (Lance-Williams). Two ``locked``
    nodes (existing signatures) are never merged, directly or through others. Runs the nearest-neighbour-chain
    algorithm: O(n^2) time and one n x n float32 matrix; ties go to the lower index, so it is deterministic.
    """
    count = len(means)
    similarity = means @ means.T
    np.fill_diagonal(similarity, -np.inf)
    if locked is not None and locked.any():
        similarity[np.ix_(locked, locked)] = -np.inf
    weight = sizes.astype(np.float64)
    root = np.arange(count)
    alive = np.ones(count, dtype=bool)
    chain: list[int] = []
    start = 0
    while True:
        if not chain:
            while start < count and not alive[start]:
                start += 1
            if start == count:
                break
            chain.append(start)
        tip = chain[-1]
        row = similarity[tip]
        nearest = int(np.argmax(row))
        if len(chain) > 1 and row[chain[-2]] >= row[nearest]:
            nearest = chain[-2]  # keeps the chain from cycling on ties
        if row[nearest] < threshold:
            # Nothing reaches the threshold with this node, and merges elsewhere cannot raise a mean similarity
            # above its largest part: the node is final.
            alive[tip] = False
            similarity[tip, :] = -np.inf
            similarity[:, tip] = -np.inf
            chain.pop()
            continue
        if len(chain) > 1 and nearest == chain[-2]:
            chain.pop()
            chain.pop()
            keep, gone = min(tip, nearest), max(tip, nearest)
            merged = (weight[keep] * similarity[keep] + weight[gone] * similarity[gone]) / (weight[keep] + weight[gone])
            similarity[keep, :] = merged
            similarity[:, keep] = merged
            similarity[keep, keep] = -np.inf
            similarity[gone, :] = -np.inf
            similarity[:, gone] = -np.inf
            weight[keep] += weight[gone]
            alive[gone] = False
            root[gone] = keep
            continue
        chain.append(nearest)
    for node in range(count):  # roots are always lower than the nodes merged into them
        root[node] = root[root[node]]
    return root


def _cluster_nodes(
    means: np.ndarray, sizes: np.ndarray, threshold: float, locked: np.ndarray | None, block_size: int
) -> np.ndarray:
    """:func:`_agglomerate`, in blocks when there are more than ``block_size`` nodes: each block is clustered,
    then the blocks' clusters are clustered as weighted nodes (repeated while that still shrinks the set)."""
    count = len(means)
    if count <= block_size:
        return _agglomerate(means, sizes, threshold, locked)
    blocks = math.ceil(count / block_size)
    bounds = np.linspace(0, count, blocks + 1).astype(int)
    root = np.arange(count)
    for low, high in itertools.pairwise(bounds):
        part_locked = None if locked is None else locked[low:high]
        root[low:high] = low + _agglomerate(means[low:high], sizes[low:high], threshold, part_locked)
    groups = np.unique(root)
    if len(groups) > 0.9 * count:
        return _agglomerate(means, sizes, threshold, locked)  # blocks did not help: cluster everything at once
    group_sizes = np.array([sizes[root == group].sum() for group in groups], dtype=np.float64)
    group_means = np.stack([(means[root == group] * sizes[root == group, None]).sum(axis=0) for group in groups])
    group_means /= group_sizes[:, None]
    group_locked = None if locked is None else np.array([locked[root == group].any() for group in groups])
    group_root = _cluster_nodes(group_means.astype(np.float32), group_sizes, threshold, group_locked, block_size)
    position = {int(group): index for index, group in enumerate(groups)}
    return np.array([groups[group_root[position[int(node)]]] for node in root])


def _clusters_from_roots(root: np.ndarray, vectors: np.ndarray, nodes: Iterable[int]) -> list[Cluster]:
    members: dict[int, list[int]] = {}
    for node in nodes:
        members.setdefault(int(root[node]), []).append(int(node))
    clusters = [make_cluster(tuple(indices), vectors) for indices in members.values()]
    clusters.sort(key=lambda cluster: (-cluster.size, cluster.members[0]))
    return clusters


def make_cluster(members: tuple[int, ...], vectors: np.ndarray) -> Cluster:
    """The :class:`Cluster` of ``members`` (positions of rows of ``vectors``, unit vectors)."""
    mean = vectors[list(members)].astype(np.float64).mean(axis=0)
    cohesion = float(np.linalg.norm(mean))
    return Cluster(members=members, centroid=(mean / cohesion).astype(np.float32), cohesion=cohesion)


def cluster_incidents(
    embeddings: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD, block_size: int = DEFAULT_BLOCK_SIZE
) -> list[Cluster]:
    """Cluster incident vectors (one row per incident, e.g. from :func:`embed_incidents`).

    Average linkage on cosine similarity: groups merge while the mean similarity between their members is at
    least ``threshold``. Returns every incident in exactly one cluster (singletons included), largest cluster
    first, then by first member. Deterministic. Time O(n^2) (10,000 incidents: a few seconds); memory one
    float32 matrix of ``min(n, block_size)`` squared.
    """
    threshold = _check_threshold(threshold)
    vectors = check_vectors(embeddings)
    if len(vectors) == 0:
        return []
    root = _cluster_nodes(vectors, np.ones(len(vectors)), threshold, None, max(2, block_size))
    return _clusters_from_roots(root, vectors, range(len(vectors)))


# --- incremental growth ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ExistingSignature:
    """A signature already stored, as clustering needs it.

    ``centroid`` (unit vector) and ``cohesion`` are the :class:`SignatureDraft` fields of the same names (or,
    after growth, of :class:`SignatureGrowth`): store both. ``cohesion * centroid`` is the mean of the members'
    vectors, which is what a newcomer's similarity is measured against (storing that unnormalised mean in one
    vector column keeps both: see :meth:`from_mean`). ``size`` is how many incidents the signature was built
    from; ``incident_numbers`` are their numbers (``source_incident_ids``), so that re-fed incidents are
    recognised and skipped.
    """

    signature_id: str
    centroid: np.ndarray
    size: int
    cohesion: float
    incident_numbers: frozenset[str] = frozenset()

    @classmethod
    def from_mean(
        cls, signature_id: str, mean: np.ndarray, size: int, incident_numbers: Iterable[str] = ()
    ) -> ExistingSignature:
        """From the unnormalised mean of the members' vectors (``cohesion * centroid``)."""
        vector = np.asarray(mean, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        if not norm > 1e-6:
            raise ValueError(f"signature {signature_id}: the mean vector is zero")
        return cls(signature_id, (vector / norm).astype(np.float32), size, norm, frozenset(incident_numbers))

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.centroid, dtype=np.float32) * np.float32(self.cohesion)


@dataclass(frozen=True, eq=False)
class SignatureGrowth:
    """An existing signature that new incidents joined: who joined (positions in the input), and its new
    centroid, cohesion and size (size-weighted mean of the old mean and the newcomers' vectors)."""

    signature_id: str
    added: tuple[int, ...]
    centroid: np.ndarray
    cohesion: float
    size: int


@dataclass(frozen=True, eq=False)
class Assignment:
    """The outcome of :func:`assign_to_signatures`; every input position is in exactly one of the three."""

    grown: list[SignatureGrowth]
    new_clusters: list[Cluster]
    skipped: list[int] = field(default_factory=list)


def assign_to_signatures(
    embeddings: np.ndarray,
    numbers: Sequence[str],
    existing: Sequence[ExistingSignature],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Assignment:
    """Grow ``existing`` signatures with new incidents (``embeddings[i]`` is incident ``numbers[i]``).

    New incidents and existing signatures are clustered together by :func:`cluster_incidents`' rule, each
    signature standing for all its members (its mean and size), with one constraint: two existing signatures
    never merge. So an incident joins the signature whose members it is most similar to on average when that
    reaches ``threshold`` (alone or together with similar newcomers), and new incidents that join none form
    ``new_clusters``. An incident whose number an existing signature already holds, or that repeats an earlier
    number of this batch, is ``skipped``. Positions in the result index the inputs.
    """
    threshold = _check_threshold(threshold)
    vectors = check_vectors(embeddings)
    if len(numbers) != len(vectors):
        raise ValueError(f"{len(numbers)} numbers for {len(vectors)} embeddings")
    known = {number for signature in existing for number in signature.incident_numbers}
    skipped: list[int] = []
    fresh: list[int] = []
    seen: set[str] = set()
    for position, number in enumerate(numbers):
        (skipped if number in known or number in seen else fresh).append(position)
        seen.add(number)
    if not fresh:
        return Assignment(grown=[], new_clusters=[], skipped=skipped)
    candidates = _reachable(existing, vectors[fresh], threshold)
    old_means = [_existing_mean(existing[index], vectors.shape[1]) for index in candidates]
    means = np.vstack([*old_means, vectors[fresh]]).astype(np.float32)
    sizes = np.array([max(1, existing[index].size) for index in candidates] + [1] * len(fresh), dtype=np.float64)
    locked = np.arange(len(means)) < len(candidates)
    root = _cluster_nodes(means, sizes, threshold, locked, max(2, block_size))
    return _assignment(root, [existing[index] for index in candidates], fresh, vectors, skipped)


def _reachable(existing: Sequence[ExistingSignature], fresh: np.ndarray, threshold: float) -> list[int]:
    """The existing signatures some new incident reaches the threshold with. No other can grow: a group's mean
    similarity never exceeds its best member's, and existing signatures do not merge with each other."""
    if not existing:
        return []
    reachable: list[int] = []
    for start in range(0, len(existing), 4096):  # bounded memory with many signatures
        part = existing[start : start + 4096]
        means = np.stack([_existing_mean(signature, fresh.shape[1]) for signature in part])
        best = (fresh @ means.T).max(axis=0)
        reachable.extend(start + int(index) for index in np.flatnonzero(best >= threshold))
    return reachable


def _existing_mean(signature: ExistingSignature, dimension: int) -> np.ndarray:
    centroid = np.asarray(signature.centroid, dtype=np.float64)
    if centroid.shape != (dimension,) or not np.isfinite(centroid).all() or np.linalg.norm(centroid) < 1e-6:
        raise ValueError(f"signature {signature.signature_id}: centroid must be a non-zero vector of {dimension}")
    if not 0.0 < signature.cohesion <= 1.0 + 1e-6:
        raise ValueError(f"signature {signature.signature_id}: cohesion must be in (0, 1], got {signature.cohesion}")
    return (centroid / np.linalg.norm(centroid) * signature.cohesion).astype(np.float32)


def _assignment(
    root: np.ndarray,
    existing: Sequence[ExistingSignature],
    fresh: list[int],
    vectors: np.ndarray,
    skipped: list[int],
) -> Assignment:
    offset = len(existing)
    joined: dict[int, list[int]] = {}
    for node in range(offset, len(root)):
        joined.setdefault(int(root[node]), []).append(fresh[node - offset])
    grown = []
    for index, signature in enumerate(existing):
        added = joined.pop(index, None)
        if added:
            grown.append(_grow(signature, tuple(added), vectors))
    new_clusters = [make_cluster(tuple(members), vectors) for members in joined.values()]
    new_clusters.sort(key=lambda cluster: (-cluster.size, cluster.members[0]))
    return Assignment(grown=grown, new_clusters=new_clusters, skipped=skipped)


def _grow(signature: ExistingSignature, added: tuple[int, ...], vectors: np.ndarray) -> SignatureGrowth:
    size = max(1, signature.size)
    total = _existing_mean(signature, vectors.shape[1]).astype(np.float64) * size
    total += vectors[list(added)].astype(np.float64).sum(axis=0)
    mean = total / (size + len(added))
    cohesion = float(np.linalg.norm(mean))
    return SignatureGrowth(
        signature_id=signature.signature_id,
        added=added,
        centroid=(mean / cohesion).astype(np.float32),
        cohesion=cohesion,
        size=size + len(added),
    )
