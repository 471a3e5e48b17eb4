"""A cluster of incidents described as a :class:`SignatureDraft`: failure type, error class, symptoms and the rest.

The failure type is a type of the failure taxonomy (:mod:`ai_service.taxonomy`, :func:`signature_label`): the
type of the runbook the members' close notes cite when that runbook has one (history wins), else the type with
the most evidence in the members' text, and ``unknown`` without any. The error class is the failure type's; for
an ``unknown`` type it comes from keyword evidence (:data:`ERROR_CLASSES`), else the ServiceNow category.
Symptoms are the cluster's distinctive phrases (class-based TF-IDF against the other clusters:
:class:`TermBackground`); so is ``label_phrase``, the readable phrase a new signature's id is made from.
Assignment group, impact and urgency are the usual values; the runbook steps are those cited in close notes;
centroid and cohesion come from the members' vectors.

What this module must never do: depend on the order of dictionaries or sets for its output (same clusters,
same descriptions), return a draft with an empty failure type, error class or symptom list, or a failure type
outside the taxonomy.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ai_service import taxonomy
from ai_service.knowledge import texts
from ai_service.knowledge.clustering_linkage import Cluster, check_vectors, make_cluster
from ai_service.knowledge.clustering_text import incident_text
from ai_service.knowledge.incidents import IncidentRecord

#: The keyword evidence for each error class (regular expressions on lower-cased text), read when the failure
#: type is ``unknown`` (else the class is the failure type's) and to pick the phrase a signature id is made from.
#: The keyword class is the one whose evidence appears in the most of the incidents (symptom text counts fully,
#: close notes half); ties go to the earlier class in this table, which runs from specific to general. Without
#: any evidence the ServiceNow category/subcategory decides (:data:`_CATEGORY_CLASSES`), else ``unknown``.
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
#: The error class vocabulary, defined once in :mod:`ai_service.taxonomy`.
ERROR_CLASS_NAMES: tuple[str, ...] = taxonomy.ERROR_CLASS_NAMES


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
    triage's business and start at zero. ``label_phrase`` and ``keyword_class`` (the cluster's most distinctive
    phrase, and the error class of its keywords) are what a new signature's id is made from
    (:func:`signature_id_for`): ids were made from them before failure types came from the taxonomy, and still
    are, so that the same incidents get the same ids.
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
    label_phrase: str = ""
    keyword_class: str = ""

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


def _label_phrase(scored: list[_Phrase], evidence: re.Pattern[str] | None, error_class: str) -> str:
    """snake_case phrase: the most distinctive phrase of at most four words - or, when almost as distinctive,
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


def _runbook_of_step(step_id: str) -> str:
    return step_id.rsplit("-S", 1)[0]


def signature_label(
    records: Sequence[IncidentRecord],
    texts: Sequence[str],
    cited: Sequence[tuple[str, int]],
    runbook_types: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """(failure type, error class) of a signature whose members are ``records`` (with their incident ``texts``)
    and whose close notes cite the steps ``cited`` (``(step_id, times)``, see :func:`cited_step_ids`).

    History wins: when cited steps belong to runbooks with a failure type (``runbook_types``: runbook_id ->
    type), the type cited most often (ties: taxonomy order). Otherwise the type with the most evidence in the
    members (each incident's text counts 2, its close notes 1 when the text has none; ties: taxonomy order);
    ``unknown`` without any. The error class is the failure type's, or for ``unknown`` the keyword class."""
    history: dict[str, float] = defaultdict(float)
    for step_id, times in cited:
        runbook_type = (runbook_types or {}).get(_runbook_of_step(step_id))
        if taxonomy.is_known(runbook_type):
            history[runbook_type] += times  # type: ignore[index]
    failure_type = taxonomy.best(history)
    if failure_type == taxonomy.UNKNOWN:
        scores: dict[str, float] = defaultdict(float)
        for record, text in zip(records, texts, strict=True):
            in_text = set(taxonomy.evidence(text))
            for type_id in in_text:
                scores[type_id] += 2
            for type_id in set(taxonomy.evidence(record.close_notes or "")) - in_text:
                scores[type_id] += 1
        failure_type = taxonomy.best(scores)
    if taxonomy.is_known(failure_type):
        return failure_type, taxonomy.error_class_of(failure_type)
    return failure_type, _error_class(records, texts)


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
    runbook_types: Mapping[str, str] | None = None,
) -> SignatureDraft:
    """The :class:`SignatureDraft` of one cluster; ``records`` (and ``texts``, ``embeddings``) are the whole
    input the cluster's member positions index, ``background`` the phrase statistics of all clusters
    (:func:`term_background`). A bare list of positions needs ``embeddings`` for the centroid.

    * ``failure_type`` / ``error_class``: see :func:`signature_label` (``runbook_types``: runbook_id -> failure
      type of the stored runbooks, whose citations decide);
    * ``label_phrase``: the cluster's most distinctive phrase(s) as snake_case (``disk_space_usage``);
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
        found = make_cluster(tuple(sorted(cluster)), check_vectors(embeddings))
    members = [records[index] for index in found.members]
    member_texts = [texts[index] if texts is not None else incident_text(records[index]) for index in found.members]
    scored = _scored_phrases(member_texts, background)
    keyword_class = _error_class(members, member_texts)
    cited = cited_step_ids(members, known_step_ids=known_step_ids)
    failure_type, error_class = signature_label(members, member_texts, cited, runbook_types)
    fallback = member_texts[0].rstrip(".")[:80] or error_class
    opened = [record.opened_at for record in members if record.opened_at is not None]
    cmdb_ci = _consistent([record.cmdb_ci for record in members])
    service = _consistent([record.subcategory for record in members]) or _consistent(
        [record.category for record in members]
    )
    return SignatureDraft(
        failure_type=failure_type,
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
        cited_step_ids=cited,
        centroid=found.centroid,
        cohesion=found.cohesion,
        size=found.size,
        members=found.members,
        label_phrase=_label_phrase(scored, _EVIDENCE.get(keyword_class), keyword_class),
        keyword_class=keyword_class,
    )


def describe_clusters(
    records: Sequence[IncidentRecord],
    clusters: Sequence[Cluster],
    *,
    texts: Sequence[str] | None = None,
    known_step_ids: Iterable[str] | None = None,
    runbook_types: Mapping[str, str] | None = None,
) -> list[SignatureDraft]:
    """:func:`describe_cluster` for each cluster, against the background of all of them (same order)."""
    all_texts = list(texts) if texts is not None else [incident_text(record) for record in records]
    background = term_background([[all_texts[index] for index in cluster.members] for cluster in clusters])
    known = set(known_step_ids) if known_step_ids is not None else None
    return [
        describe_cluster(
            records, cluster, background, texts=all_texts, known_step_ids=known, runbook_types=runbook_types
        )
        for cluster in clusters
    ]


def signature_text(draft: SignatureDraft) -> str:
    """The text whose vector goes into the ``embedding`` column: failure type, error class and symptoms, as
    :func:`ai_service.knowledge.texts.signature_text` (the one definition ingestion hashes) builds it."""
    return texts.signature_text(draft.failure_type, draft.error_class, draft.symptoms)
