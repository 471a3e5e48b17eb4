"""Historical incidents -> incident signatures: the text to embed, clustering, description and incremental growth.

The pipeline, all of it pure functions over records and vectors:

1. :func:`incident_text` - what a ticket says about the *symptom*: the short description and description,
   without monitoring boilerplate (label lists, "Problem started at", "Notified via"), sign-offs, host names,
   ids or measured values. Close notes are left out: they describe the fix, not what was seen.
2. :func:`embed_incidents` - those texts through an :class:`~ai_service.knowledge.embeddings.Embedder`.
3. :func:`cluster_incidents` - average-linkage agglomerative clustering on cosine similarity, cut at
   ``threshold``: two groups merge while the *mean* similarity between their members is at least the threshold.
   The threshold (:data:`DEFAULT_THRESHOLD`) was chosen by measurement (``bench/bench_clustering.py``).
4. :func:`describe_clusters` / :func:`describe_cluster` - a :class:`SignatureDraft` per cluster: failure type
   and symptoms from the cluster's distinctive phrases (class-based TF-IDF against the other clusters), error
   class from keyword evidence (:data:`ERROR_CLASSES`), the usual assignment group / impact / urgency, the
   runbook steps cited in close notes, the centroid.
5. :func:`assign_to_signatures` - later batches: each new incident joins the most similar existing signature
   when the mean similarity to its members reaches the same threshold, or forms a new signature with other new
   incidents; incidents whose number a signature already holds are skipped, never counted twice.
6. :func:`signature_id_for` / :func:`assign_signature_ids` - readable, stable ids (``SIG-DISK-001``).

Average linkage only needs the *sum* of a group's vectors (the mean similarity of two groups of unit vectors
is ``sum_a . sum_b / (n_a n_b)``), so an existing signature takes part in clustering as one weighted node -
its centroid, its cohesion (the norm of its members' mean) and its size - exactly as if its members were there.

What this module must never do: touch the database or the network, call an embedding model except through
:func:`embed_incidents`, depend on the order of dictionaries or sets for its output (same input, same
clusters, same descriptions, same ids), or return a draft with an empty failure type, error class or symptom
list.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ai_service.knowledge import texts
from ai_service.knowledge.embeddings import Embedder
from ai_service.knowledge.incidents import IncidentRecord
from ai_service.retrieval.query_text import normalize_text, split_identifier

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
    "score_clustering",
    "signature_id_for",
    "signature_text",
    "term_background",
]

#: Mean cosine similarity (all-MiniLM-L6-v2 vectors of :func:`incident_text`) at which two groups of incidents
#: are one signature. Chosen where the adjusted Rand index against the sample's (topic, cause) labels peaks;
#: the sweep, and the check on an independent alert corpus, are printed by ``bench/bench_clustering.py`` and
#: summarised in ``docs/incident-import.md``. Another embedding model needs its own sweep.
DEFAULT_THRESHOLD = 0.60

#: Above this many nodes, clustering runs in blocks of about this size and then clusters the blocks' clusters
#: (bounded memory: the similarity matrix of one block is ``4 * block**2`` bytes).
DEFAULT_BLOCK_SIZE = 8192


# --- the text of an incident -----------------------------------------------------------------------------

# 'key: value' / '- key = value' lines of monitoring integrations (Alertmanager bridges, Zabbix, Datadog,
# PagerDuty): metadata keys are dropped, content keys keep their value, other lines are kept whole.
_META_KEYS = frozenset(
    {
        "severity", "priority", "instance", "env", "environment", "job", "namespace", "pod", "container",
        "cluster", "host", "hostname", "node", "region", "zone", "scope", "started", "starts at", "ends at",
        "started at", "original problem id", "event id", "trigger id", "status", "state", "receiver",
        "fingerprint", "generator url", "dashboard", "runbook url", "tags", "url", "link", "owner", "time",
        "timestamp", "value", "event time", "alert id", "incident id", "service", "team",
    }
)  # fmt: skip
_CONTENT_KEYS = frozenset(
    {
        "summary", "description", "message", "problem name", "problem", "operational data", "monitor",
        "alertname", "alert", "alert name", "title", "details", "detail", "subject", "trigger", "name", "check",
    }
)  # fmt: skip
_KEY_VALUE = re.compile(r"^\s*[-*\u2022]?\s*([A-Za-z][A-Za-z _.]{0,30}?)\s*[:=]\s*(.*)$")
_SECTION_HEADING = re.compile(r"^\s*[A-Za-z][A-Za-z ]{0,30}:\s*$")
_BOILERPLATE_LINE = re.compile(
    r"^\s*(?:(?:created|generated|sent|opened|raised) (?:by|via)\b|triggered at\b|notified via\b"
    r"|problem started at\b|problem has been resolved\b|-{2,}\s*$|={2,}\s*$)",
    re.IGNORECASE,
)
_SIGN_OFF_LINE = re.compile(
    r"^\s*(?:(?:many )?thanks|thank you|thx|ta|regards|best regards|kind regards|best|cheers|br)\b[\s,.!]*"
    r"(?:[A-Z][a-z]+)?[\s,.!]*$|^\s*--\s*\S",
    re.IGNORECASE,
)
_TICKET_PREFIX = re.compile(r"^\s*(?:\[[A-Z][A-Z:0-9 ]*\]\s*|(?:Problem|Resolved|Alert|Warning|Critical)\s*:\s*)+")
_CAMEL_TOKEN = re.compile(
    r"(?<![\w-])(?=[A-Za-z]*[a-z])(?=[a-z]*[A-Z][a-z0-9]*[A-Z])(?![A-Z]+s\b)[A-Za-z][A-Za-z0-9]*\b"
)
# Instance names normalize_text keeps (it removes only fully qualified ones): lower case, hyphenated, with a
# digit in a later part - web-prod-07, pg-crm-03, bastion-dc2-01, k8s-prod-eu1, kafka-3.
# In capitals (PRN-LON-2F-04, SRV-DB-01) three parts are needed, so that HTTP-01 or TLS-1 stay.
_HOST_LIKE = re.compile(
    r"(?<![\w./-])(?:[a-z][a-z0-9]*(?:-[a-z0-9]+)*-[a-z]*\d[a-z0-9]*(?:-[a-z0-9]+)*"
    r"|[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+-[A-Za-z]*\d[A-Za-z0-9]*)(?![\w-])"
)
# Ticket and asset ids: INC0010234, CHG0031234, OPS-101, LT-0731.
_ID_LIKE = re.compile(r"(?<![\w./-])(?:[A-Z]{2,}\d{4,}|[A-Z][A-Z0-9]*-\d{3,})(?![\w-])")
# Values normalize_text keeps: short numbers, with a unit or a clock time (47.5, 4644s, 16.3G, 07:44, /300).
_VALUE = re.compile(r"(?<![\w.-])/?[-+~]?\d+(?:[.,:]\d+)*[a-zA-Z]{0,3}(?![\w-])")
_EMPTY_BRACKETS = re.compile(r"[(\[]\s*[^\w\s]{0,3}\s*[)\]]")
_DANGLING = re.compile(
    r"\s+(?:on|at|for|in|of|from|to|since|by|via|is|was|with|than|over|below|above)(?=\s*(?:[.,;:)]|$))"
)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)])")
_REPEATED_PUNCT = re.compile(r"([.,;:])(?:\s*[.,;:])+")
_SPACES = re.compile(r"\s+")


def _description_lines(description: str) -> list[str]:
    """The description's lines that say something about the problem (integration metadata and sign-offs cut)."""
    kept: list[str] = []
    for line in description.splitlines():
        if _SIGN_OFF_LINE.match(line):
            break
        if not line.strip() or _BOILERPLATE_LINE.match(line) or _SECTION_HEADING.match(line):
            continue
        pair = _KEY_VALUE.match(line)
        if pair and not pair.group(2).startswith("//"):
            key = " ".join(pair.group(1).casefold().replace("_", " ").replace(".", " ").split())
            if key in _META_KEYS:
                continue
            if key in _CONTENT_KEYS:
                line = pair.group(2)
        kept.append(line)
    return kept


def _clean(text: str) -> str:
    """One line of ticket text without prefixes, ids, hosts and values; CamelCase rule names as words."""
    text = normalize_text(_TICKET_PREFIX.sub("", text))
    text = _CAMEL_TOKEN.sub(lambda match: split_identifier(match.group(0)), text)
    text = _HOST_LIKE.sub(" ", text)
    text = _ID_LIKE.sub(" ", text)
    text = _VALUE.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    text = _SPACES.sub(" ", text)
    for _ in range(2):
        text = _DANGLING.sub("", text)
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
        text = _REPEATED_PUNCT.sub(r"\1", text)
    return text.strip(" ,;:-")


def incident_text(record: IncidentRecord) -> str:
    """The text that stands for ``record`` in clustering: its short description and description, cleaned.

    Each line goes through :func:`~ai_service.retrieval.query_text.normalize_text` and loses host names,
    numbers with units and ticket prefixes (``[CRITICAL]``, ``Problem:``); monitoring metadata lines and
    sign-offs are dropped, CamelCase rule names become words, repeated sentences appear once. Never empty: when
    cleaning leaves nothing, the normalised short description (or, failing that, as written) is used.
    """
    pieces: list[str] = []
    seen: list[str] = []
    for raw in (record.short_description, *_description_lines(record.description)):
        piece = _clean(raw)
        folded = piece.casefold().rstrip(".!?:; ")
        if len(folded) < 2 or any(folded in earlier for earlier in seen):
            continue
        seen.append(folded)
        pieces.append(piece if piece.endswith((".", "!", "?")) else piece + ".")
    text = " ".join(pieces)
    return text or normalize_text(record.short_description) or record.short_description.strip()


def embed_incidents(records: Sequence[IncidentRecord], embedder: Embedder) -> np.ndarray:
    """The :func:`incident_text` vectors of ``records``: shape ``(len(records), dimension)``, unit rows."""
    return embedder.embed([incident_text(record) for record in records])


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


def _check_vectors(embeddings: np.ndarray) -> np.ndarray:
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (incidents x dimension), got shape {vectors.shape}")
    if len(vectors) and not np.isfinite(vectors).all():
        raise ValueError("embeddings contain NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1)
    if len(vectors) and (norms < 1e-6).any():
        raise ValueError(f"embedding {int(np.flatnonzero(norms < 1e-6)[0])} is all zeros")
    return vectors / norms[:, None]


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
    vectors = _check_vectors(embeddings)
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
    vectors = _check_vectors(embeddings)
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


# --- describing a cluster --------------------------------------------------------------------------------

#: The error classes, and the keyword evidence for each (regular expressions on lower-cased text). A cluster's
#: class is the one whose evidence appears in the most of its incidents (symptom text counts fully, close
#: notes half); ties go to the earlier class in this table, which runs from specific to general. Without any
#: evidence the ServiceNow category/subcategory decides (:data:`_CATEGORY_CLASSES`), else ``unknown``.
ERROR_CLASSES: dict[str, tuple[str, ...]] = {
    "certificate": (
        r"\bcert(?:ificate)?s?\b", r"\btls\b", r"\bssl\b", r"\bx\.?509\b", r"\bhandshake", r"\bcert-manager\b",
        r"\bca bundle\b", r"\bchain\b", r"\bcertbot\b", r"\bacme\b",
    ),
    "hardware": (
        r"\bhardware\b", r"\boptic", r"\bsfp\b", r"\bcable\b", r"\bnic\b", r"\bprinter\b", r"\blaptop\b",
        r"\bbattery\b", r"\bfan\b", r"\bpsu\b", r"\bpower supply\b", r"\becc\b", r"\bsmart\b", r"\braid\b",
        r"\bdocking\b", r"\bcrc errors?\b", r"\btoner\b", r"\bpaper jam\b",
    ),
    "access": (
        r"\bpassword\b", r"\blocked out\b", r"\block(?:ed)? ?out\b", r"\baccount locked\b", r"\bmfa\b",
        r"\b2fa\b", r"\bpermission denied\b", r"\baccess denied\b", r"\bunauthori[sz]ed\b", r"\bforbidden\b",
        r"\blog ?in\b", r"\bsign-?in\b", r"\bcredential", r"\baccess (?:request|to)\b", r"\blicen[cs]e",
        r"\bshared mailbox\b", r"\bneeds? access\b",
    ),
    "data_integrity": (
        r"\bcorrupt", r"\bchecksum", r"\binconsisten", r"\bdata loss\b", r"\bintegrity\b", r"\bbackups?\b",
        r"\brestore\b", r"\bsnapshot", r"\bwal archiv", r"\barchive_command\b", r"\bsplit.brain\b",
    ),
    "resource_exhaustion": (
        r"\bno space left\b", r"\bdisk (?:is )?full\b", r"\bdisk space\b", r"\bdisk usage\b", r"\bfilesystem\b",
        r"\bout of memory\b", r"\boom", r"\bmemory (?:pressure|usage|leak)\b", r"\bswap", r"\binodes?\b",
        r"\btoo many (?:connections|clients|open files)\b", r"\bmax_connections\b", r"\bexhaust",
        r"\bfile descriptors?\b", r"\bquota\b", r"\bheap\b", r"\bpool (?:is )?(?:full|saturated|exhausted)\b",
        r"\bremaining connection slots\b", r"\bmemory\b", r"\bfull\b",
    ),
    "capacity": (
        r"\bcapacity\b", r"\bgrowth\b", r"\bscal(?:e|ed|ing) (?:out|up)\b", r"\bunder-?provisioned\b",
        r"\bbacklog\b", r"\bconsumer (?:group )?lag\b", r"\bqueue (?:depth|size|length)\b", r"\bcredits?\b",
        r"\bheadroom\b", r"\bthroughput\b", r"\bmessages? (?:ready|unacked|piling)\b", r"\blag\b",
    ),
    "connectivity": (
        r"\bunreachable\b", r"\bconnection (?:refused|reset|timed out)\b", r"\btimed? ?out\b", r"\bpacket loss\b",
        r"\blink (?:is )?down\b", r"\binterface\b.{0,20}\bdown\b", r"\bdns\b", r"\bnxdomain\b", r"\bservfail\b",
        r"\bresol(?:ve|ution|ver)", r"\bno route\b", r"\bnetwork\b", r"\bvpn\b", r"\bcannot connect\b",
        r"\bcan't connect\b", r"\bflapping\b", r"\bdropp?ed packets\b", r"\blatency to\b",
    ),
    "dependency": (
        r"\bdependenc", r"\bupstream\b", r"\bdownstream\b", r"\bthird.party\b", r"\bprovider\b",
        r"\bbackend (?:is )?(?:down|unavailable)\b", r"\b5\d\d\b", r"\bbad gateway\b", r"\bunavailable\b",
    ),
    "configuration": (
        r"\bmisconfigur", r"\bconfig(?:uration|map)?\b", r"\binvalid\b", r"\bsetting", r"\bparameter",
        r"\byaml\b", r"\bsecret\b", r"\benv(?:ironment)? var", r"\bdisabled\b", r"\bwrong\b", r"\btypo\b",
        r"\brollout\b", r"\bprobe\b", r"\bnot found\b",
    ),
    "performance": (
        r"\bslow", r"\blatency\b", r"\bhigh cpu\b", r"\bcpu\b", r"\bload average\b", r"\biowait\b",
        r"\bresponse times?\b", r"\bdegraded\b", r"\bthrottl", r"\bsaturat", r"\bhang(?:s|ing)?\b",
    ),
}  # fmt: skip
ERROR_CLASS_NAMES: tuple[str, ...] = (
    "resource_exhaustion",
    "connectivity",
    "configuration",
    "certificate",
    "dependency",
    "data_integrity",
    "performance",
    "capacity",
    "access",
    "hardware",
    "unknown",
)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_EVIDENCE = {name: re.compile("|".join(patterns)) for name, patterns in ERROR_CLASSES.items()}
# Folded ServiceNow subcategory or category -> error class, used when the text gives no evidence.
_CATEGORY_CLASSES: dict[str, str] = {
    "disk": "resource_exhaustion",
    "memory": "resource_exhaustion",
    "storage": "resource_exhaustion",
    "cpu": "performance",
    "performance": "performance",
    "network": "connectivity",
    "connectivity": "connectivity",
    "dns": "connectivity",
    "vpn": "connectivity",
    "certificates": "certificate",
    "ssl/tls": "certificate",
    "password reset": "access",
    "access request": "access",
    "license": "access",
    "security": "access",
    "hardware": "hardware",
    "printer": "hardware",
    "laptop": "hardware",
    "backup": "data_integrity",
    "database": "dependency",
    "middleware": "capacity",
}

_STOPWORDS = _word_set(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that "
    "these those there their they them we our you your i me my he she his her not can cannot could would should "
    "will shall may might do does did done has have had than then so such also only just very into "
    "over under about after before since while when where which who what how all any some each both more most "
    "other no nor too again once here why own same few s t don now get got keeps still even though although "
    "because around until per via"
)  # fmt: skip
# Words that say nothing about a failure on their own: never a symptom or a failure type by themselves.
_GENERIC = _word_set(
    "please thanks hi hello team ticket issue problem alert alerts firing critical warning info prod "
    "production today yesterday morning evening night week since now again someone anyone something thing "
    "things help asap urgent etc ok fine works working look looks looking see seems seem think know need "
    "needs new old last first one two three many lot lots much well also back good bad minute minutes hour "
    "hours day days second seconds times time longer ago few every afternoon tonight weekend monday tuesday "
    "wednesday thursday friday current currently show shows showing says said reports reported getting going "
    "keep constantly anymore almost whole went take taken make made come comes came give put told tell ask asked "
    "avg threshold"
)  # fmt: skip
_WORD = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*|\d+[a-z]+[a-z0-9]*")
# Left out of failure-type labels (negations are kept: "cert_not_ready" must not become "cert_ready").
_LABEL_SKIP = _word_set("a an the of to in on at by for with from as is are was were be been it its this that and or")
_CLAUSE = re.compile(r"[.,;:!?()\[\]\"]|\s-\s|\s/\s")
# Words with digits that are terms, not instance names.
_DIGIT_TERMS = _word_set(
    "k8s s3 x509 ipv4 ipv6 http2 http3 route53 ec2 md5 sha1 sha256 utf8 oauth2 2fa 5xx 4xx 502 503 504 l2 l3 "
    "tls1 dns01 http01 p99 p95 i18n"
)
_CONTRACTIONS = {"can't": "cannot", "won't": "will not", "n't": " not", "'s": "", "'re": " are", "'ve": " have"}
_CONTRACTION = re.compile(r"\b(?:can't|won't)|n't\b|'(?:s|re|ve)\b")
_MAX_PHRASE_WORDS = 5
_MIN_SYMPTOMS, _MAX_SYMPTOMS = 3, 8
_LABEL_CANDIDATES = 12
_LABEL_EVIDENCE_RATIO = 0.5


def _phrases(text: str) -> set[str]:
    """The candidate phrases of one text: 1-5 word n-grams inside a clause that neither start nor end with a
    stop word or a generic word."""
    found: set[str] = set()
    text = _CONTRACTION.sub(lambda match: _CONTRACTIONS[match.group(0)], text.casefold().replace("\u2019", "'"))
    for clause in _CLAUSE.split(text):
        words = _WORD.findall(clause)
        for start, first in enumerate(words):
            if first in _STOPWORDS or first in _GENERIC:
                continue
            for end in range(start, min(start + _MAX_PHRASE_WORDS, len(words))):
                last = words[end]
                if last in _STOPWORDS or last in _GENERIC:
                    continue
                gram = words[start : end + 1]
                if (start == end and len(first) < 4) or any(_is_instance_word(word) for word in gram):
                    continue
                found.add(" ".join(gram))
    return found


def _is_instance_word(word: str) -> bool:
    """A word with a digit names an instance (eno1, sda2, crm01) unless it is a common technical term."""
    return any(char.isdigit() for char in word) and word not in _DIGIT_TERMS


@dataclass(frozen=True)
class TermBackground:
    """Phrase statistics of a set of clusters, against which one cluster's phrases are judged distinctive.

    ``document_frequency[p]`` is how many incidents (of all clusters) contain phrase ``p``;
    ``average_cluster_size`` is incidents per cluster (the ``A`` of class-based TF-IDF).
    """

    document_frequency: Counter[str]
    average_cluster_size: float

    def weight(self, phrase: str) -> float:
        """log(1 + A / df): rare across the corpus -> high."""
        return math.log(1.0 + self.average_cluster_size / max(1, self.document_frequency.get(phrase, 0)))


def term_background(texts_by_cluster: Sequence[Sequence[str]]) -> TermBackground:
    """The :class:`TermBackground` of clusters given as lists of incident texts (:func:`incident_text`)."""
    frequency: Counter[str] = Counter()
    total = 0
    for cluster_texts in texts_by_cluster:
        for text in cluster_texts:
            frequency.update(_phrases(text))
            total += 1
    clusters = max(1, sum(1 for cluster_texts in texts_by_cluster if cluster_texts))
    return TermBackground(document_frequency=frequency, average_cluster_size=max(1.0, total / clusters))


@dataclass(frozen=True, eq=False)
class SignatureDraft:
    """Everything an ``incident_signatures`` row needs except its id (:func:`signature_id_for`).

    ``cited_step_ids`` are ``(step_id, times cited)``, most cited first; ``resolution_refs`` are their ids.
    ``centroid``/``cohesion``/``size`` (with ``source_incident_ids``) are what :class:`ExistingSignature` needs
    later to grow the signature, so store them; the ``embedding`` column is the vector of :func:`signature_text`,
    not the centroid. ``members`` are the incidents' positions in the input that was described. ``failure_type``
    is a label, not a key: two signatures may share it. ``match_count`` and ``resolution_success_count`` are
    triage's business and start at zero.
    """

    failure_type: str
    error_class: str
    symptoms: tuple[str, ...]
    assignment_group: str | None
    impact: str | None
    urgency: str | None
    service: str | None
    component: str | None
    affected_service: str | None
    source_incident_ids: tuple[str, ...]
    last_seen_at: datetime | None
    cited_step_ids: tuple[tuple[str, int], ...]
    centroid: np.ndarray
    cohesion: float
    size: int
    members: tuple[int, ...] = ()

    @property
    def resolution_refs(self) -> tuple[str, ...]:
        return tuple(step_id for step_id, _ in self.cited_step_ids)


_STEP_ID = re.compile(r"\b[a-z0-9]+(?:-[a-z0-9]+)*-S\d+\b")


def cited_step_ids(
    records: Iterable[IncidentRecord], *, known_step_ids: Iterable[str] | None = None
) -> tuple[tuple[str, int], ...]:
    """Runbook step ids (``<runbook_id>-S<n>``) cited in the records' close notes, with how many records cite
    each, most cited first (then by id). With ``known_step_ids``, ids not in it are left out."""
    known = set(known_step_ids) if known_step_ids is not None else None
    counts: Counter[str] = Counter()
    for record in records:
        counts.update({step_id for step_id in _STEP_ID.findall(record.close_notes or "")})
    return tuple(
        (step_id, count)
        for step_id, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if known is None or step_id in known
    )


def _scored_phrases(texts: Sequence[str], background: TermBackground) -> list[_Phrase]:
    """The cluster's phrases, best first: coverage (share of the cluster's incidents containing the phrase)
    times its background weight, longer phrases slightly preferred; ties by phrase."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(_phrases(text))
    size = max(1, len(texts))
    scored = []
    for phrase, count in counts.items():
        length_bonus = 1.0 + 0.15 * min(3, phrase.count(" "))
        scored.append(_Phrase(count / size * background.weight(phrase) * length_bonus, count, phrase))
    scored.sort(key=lambda item: (-item.score, item.text))
    return scored


@dataclass(frozen=True)
class _Phrase:
    score: float
    support: int  # incidents of the cluster that contain it
    text: str


def _pick_symptoms(scored: list[_Phrase], size: int, fallback: str) -> tuple[str, ...]:
    """3-8 phrases: the best-scoring ones shared by at least two incidents (in clusters of three or more),
    each adding words not already shown; a longer phrase replaces a shorter one it contains when it is as
    common. Filled up from less common phrases when fewer than three qualify; never empty."""
    chosen: list[_Phrase] = []
    fill_up = sorted(scored, key=lambda phrase: (" " not in phrase.text, -phrase.score, phrase.text))
    for min_support, candidates in ((2 if size >= 3 else 1, scored), (1, fill_up)):
        for phrase in candidates:
            if len(chosen) >= _MAX_SYMPTOMS or (min_support == 1 and size >= 3 and len(chosen) >= _MIN_SYMPTOMS):
                break
            if phrase.support < min_support or phrase in chosen:
                continue
            if any(phrase.text in other.text for other in chosen):
                continue
            shorter = [other for other in chosen if other.text in phrase.text]
            if shorter:
                if all(phrase.support >= other.support for other in shorter):
                    chosen = [other for other in chosen if other not in shorter] + [phrase]
                continue
            if set(phrase.text.split()) <= {word for other in chosen for word in other.text.split()}:
                continue
            chosen.append(phrase)
        if len(chosen) >= _MIN_SYMPTOMS:
            break
    return tuple(phrase.text for phrase in chosen) or (fallback,)


def _failure_type(scored: list[_Phrase], evidence: re.Pattern[str] | None, error_class: str) -> str:
    """snake_case label: the most distinctive phrase of at most four words - or, when almost as distinctive,
    the best one that carries evidence of the error class (``printer_jammed`` rather than ``jobs_sit_queue``)."""
    candidates = [phrase for phrase in scored[:_LABEL_CANDIDATES] if phrase.text.count(" ") < 4]
    if not candidates:
        return error_class
    best = candidates[0]
    if evidence is not None:
        for phrase in candidates:
            if phrase.score < _LABEL_EVIDENCE_RATIO * best.score:
                break
            if evidence.search(phrase.text):
                best = phrase
                break
    words = [word for word in best.text.split() if word not in _LABEL_SKIP]
    label = re.sub(r"[^a-z0-9]+", "_", "_".join(words)).strip("_")[:48].rstrip("_")
    return label or error_class


def _error_class(records: Sequence[IncidentRecord], texts: Sequence[str]) -> str:
    evidence: Counter[str] = Counter()
    for record, text in zip(records, texts, strict=True):
        notes = (record.close_notes or "").casefold()
        for name, pattern in _EVIDENCE.items():
            if pattern.search(text.casefold()):
                evidence[name] += 2
            elif notes and pattern.search(notes):
                evidence[name] += 1
    if evidence:
        order = list(ERROR_CLASSES)
        return max(evidence, key=lambda name: (evidence[name], -order.index(name)))
    for value in (*(record.subcategory for record in records), *(record.category for record in records)):
        folded = (value or "").strip().casefold()
        if folded in _CATEGORY_CLASSES:
            return _CATEGORY_CLASSES[folded]
    return "unknown"


def _most_common(values: Iterable[str | None]) -> str | None:
    """The most frequent non-empty value; ties go to the lowest value (for '1 - High' style fields, the most
    severe)."""
    counts = Counter(value for value in values if value)
    if not counts:
        return None
    return min(counts, key=lambda value: (-counts[value], value))


def _consistent(values: Sequence[str | None], share: float = 2 / 3) -> str | None:
    """The value shared by at least ``share`` of ``values``, else None."""
    value = _most_common(values)
    if value is None or sum(1 for item in values if item == value) < share * len(values):
        return None
    return value


def _slug(value: str | None) -> str | None:
    if not value:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", value.casefold()).strip("-")
    return slug or None


def describe_cluster(
    records: Sequence[IncidentRecord],
    cluster: Cluster | Sequence[int],
    background: TermBackground,
    *,
    embeddings: np.ndarray | None = None,
    texts: Sequence[str] | None = None,
    known_step_ids: Iterable[str] | None = None,
) -> SignatureDraft:
    """The :class:`SignatureDraft` of one cluster; ``records`` (and ``texts``, ``embeddings``) are the whole
    input the cluster's member positions index, ``background`` the phrase statistics of all clusters
    (:func:`term_background`). A bare list of positions needs ``embeddings`` for the centroid.

    * ``failure_type``: the cluster's most distinctive phrase(s) as snake_case (``disk_space_usage``);
    * ``error_class``: see :data:`ERROR_CLASSES`;
    * ``symptoms``: 3-8 distinctive phrases most incidents share (never empty);
    * ``assignment_group``/``impact``/``urgency``: the most common values;
    * ``service``: the subcategory (else category) shared by two thirds of the incidents, as a slug;
      ``component``/``affected_service``: the configuration item they share (slug / as written);
    * ``last_seen_at``: the latest ``opened_at``; ``cited_step_ids``: see :func:`cited_step_ids`.
    """
    if isinstance(cluster, Cluster):
        found = cluster
    else:
        if embeddings is None:
            raise ValueError("describe_cluster needs embeddings when the cluster is given as member positions")
        found = make_cluster(tuple(sorted(cluster)), _check_vectors(embeddings))
    members = [records[index] for index in found.members]
    member_texts = [texts[index] if texts is not None else incident_text(records[index]) for index in found.members]
    scored = _scored_phrases(member_texts, background)
    error_class = _error_class(members, member_texts)
    fallback = member_texts[0].rstrip(".")[:80] or error_class
    opened = [record.opened_at for record in members if record.opened_at is not None]
    cmdb_ci = _consistent([record.cmdb_ci for record in members])
    service = _consistent([record.subcategory for record in members]) or _consistent(
        [record.category for record in members]
    )
    return SignatureDraft(
        failure_type=_failure_type(scored, _EVIDENCE.get(error_class), error_class),
        error_class=error_class,
        symptoms=_pick_symptoms(scored, found.size, fallback),
        assignment_group=_most_common(record.assignment_group for record in members),
        impact=_most_common(record.impact for record in members),
        urgency=_most_common(record.urgency for record in members),
        service=_slug(service),
        component=_slug(cmdb_ci),
        affected_service=cmdb_ci,
        source_incident_ids=tuple(sorted({record.number for record in members})),
        last_seen_at=max(opened) if opened else None,
        cited_step_ids=cited_step_ids(members, known_step_ids=known_step_ids),
        centroid=found.centroid,
        cohesion=found.cohesion,
        size=found.size,
        members=found.members,
    )


def describe_clusters(
    records: Sequence[IncidentRecord],
    clusters: Sequence[Cluster],
    *,
    texts: Sequence[str] | None = None,
    known_step_ids: Iterable[str] | None = None,
) -> list[SignatureDraft]:
    """:func:`describe_cluster` for each cluster, against the background of all of them (same order)."""
    all_texts = list(texts) if texts is not None else [incident_text(record) for record in records]
    background = term_background([[all_texts[index] for index in cluster.members] for cluster in clusters])
    known = set(known_step_ids) if known_step_ids is not None else None
    return [
        describe_cluster(records, cluster, background, texts=all_texts, known_step_ids=known) for cluster in clusters
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


def signature_text(draft: SignatureDraft) -> str:
    """The text whose vector goes into the ``embedding`` column: failure type, error class and symptoms, as
    :func:`ai_service.knowledge.texts.signature_text` (the one definition ingestion hashes) builds it."""
    return texts.signature_text(draft.failure_type, draft.error_class, draft.symptoms)


# --- signature ids ---------------------------------------------------------------------------------------

# First matching word of the failure type (then of the symptoms) -> id prefix.
_PREFIX_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DISK", ("disk", "filesystem", "inode", "inodes", "space", "volume")),
    ("MEM", ("memory", "oom", "swap", "swapping", "heap", "paging")),
    ("CPU", ("cpu", "load", "iowait")),
    ("CERT", ("certificate", "cert", "certbot", "acme")),
    ("TLS", ("tls", "ssl", "handshake", "mtls")),
    ("DNS", ("dns", "coredns", "nxdomain", "servfail", "resolver", "resolve", "dnssec")),
    ("NET", ("interface", "link", "packet", "network", "nic", "optic", "duplex", "wan")),
    ("K8S", ("pod", "pods", "kube", "kubernetes", "k8s", "container", "crash", "crashloop", "deployment")),
    ("DB", ("postgresql", "postgres", "pg", "database", "db", "replication", "replica", "standby", "pgbouncer",
            "connections", "mysql", "wal")),
    ("BACKUP", ("backup", "backups", "restic", "pgbackrest", "snapshot")),
    ("MQ", ("kafka", "rabbitmq", "queue", "consumer", "consumers", "backlog", "broker")),
    ("VPN", ("vpn",)),
    ("ACCESS", ("password", "account", "mfa", "login", "locked", "lockout", "permission")),
    ("PRINT", ("printer", "print")),
    ("LIC", ("licence", "license")),
)  # fmt: skip
_CLASS_PREFIX = {
    "resource_exhaustion": "RES",
    "connectivity": "CONN",
    "configuration": "CONF",
    "certificate": "CERT",
    "dependency": "DEP",
    "data_integrity": "DATA",
    "performance": "PERF",
    "capacity": "CAP",
    "access": "ACCESS",
    "hardware": "HW",
    "unknown": "MISC",
}
_SIGNATURE_ID = re.compile(r"^SIG-([A-Z0-9]+)-(\d+)$")


def _prefix(draft: SignatureDraft) -> str:
    for text in (draft.failure_type.replace("_", " "), *draft.symptoms):
        for word in text.split():
            for prefix, words in _PREFIX_WORDS:
                if word in words:
                    return prefix
    return _CLASS_PREFIX.get(draft.error_class, "MISC")


def signature_id_for(draft: SignatureDraft, taken: set[str] | frozenset[str]) -> str:
    """A readable id ``SIG-<PREFIX>-<NNN>`` not in ``taken``: the prefix names the domain (DISK, MEM, DB,
    TLS, ...; from the failure type, else the symptoms, else the error class) and the number is one more than
    the highest already taken with that prefix. Pure: add the result to ``taken`` before naming the next draft
    (or use :func:`assign_signature_ids`)."""
    prefix = _prefix(draft)
    highest = 0
    for existing in taken:
        match = _SIGNATURE_ID.match(existing)
        if match and match.group(1) == prefix:
            highest = max(highest, int(match.group(2)))
    number = highest + 1
    while f"SIG-{prefix}-{number:03d}" in taken:  # only reachable with odd spellings such as SIG-X-0001
        number += 1
    return f"SIG-{prefix}-{number:03d}"


def assign_signature_ids(drafts: Sequence[SignatureDraft], taken: Iterable[str] = ()) -> list[str]:
    """Ids for ``drafts`` in order, none in ``taken`` and none repeated."""
    used = set(taken)
    ids = []
    for draft in drafts:
        signature_id = signature_id_for(draft, used)
        used.add(signature_id)
        ids.append(signature_id)
    return ids


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
