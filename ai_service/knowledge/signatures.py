"""Past incidents into incident signatures: `nocai ingest incidents FILE...`.

1. Exports are read (ServiceNow CSV, JSON Lines, or any CSV through a column mapping); a bad row or a bad file
   is reported with file and line and the rest goes on.
2. Every ticket is kept in ``historical_incidents`` with the vector of its symptom text. A ticket seen before
   with the same content is skipped; one whose text changed is embedded again and re-assigned.
3. Tickets not yet in a signature are clustered together with the existing signatures (each standing for the
   mean of its members): a ticket joins the signature it resembles on average, or forms a new one with similar
   tickets. A lone ticket forms no signature (it waits for a similar one), so one-off noise does not become
   knowledge. Signatures therefore grow; re-importing a file never counts a ticket twice.
4. Every signature that gained or changed members is described again from all its members (failure type, error
   class, symptoms, most common assignment group / impact / urgency, the runbook steps the close notes cite,
   last seen) and its vector refreshed.
5. Every other signature whose failure type or error class is no longer what its members and history say (a
   knowledge base labelled before the failure taxonomy, or a cited runbook whose failure type changed) is
   relabelled: :func:`relabel_signatures`.

Writes happen in one transaction: an interrupted run leaves the previous state, and the next run does it all.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from ai_service import taxonomy
from ai_service.errors import ConfigurationError, InputError
from ai_service.knowledge import clustering, signature_store, store, texts
from ai_service.knowledge.embeddings import Embedder, content_hash
from ai_service.knowledge.incidents import FIELDS, IncidentRecord, read_incident_file

Progress = Callable[[str, int, int], None]

#: A signature needs at least this many tickets: a single ticket is an anecdote, not a pattern.
MIN_SIGNATURE_SIZE = 2

_RECORD_FIELDS = tuple(name for name in FIELDS if name != "number")


@dataclass
class IncidentIngestReport:
    files: int = 0
    rows_read: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    texts_embedded: int = 0
    signatures_created: int = 0
    signatures_grown: int = 0
    incidents_assigned: int = 0
    incidents_unassigned: int = 0
    seconds: float = 0.0
    dry_run: bool = False


def record_sha256(record: IncidentRecord) -> str:
    """Hash of everything a ticket says (not where it was read from)."""
    payload = record.model_dump_json(exclude={"source", "line"})
    return hashlib.sha256(payload.encode()).hexdigest()


def ingest_incidents(
    conn: psycopg.Connection,
    embedder: Embedder,
    files: Iterable[str | Path],
    *,
    mapping: Mapping[str, Any] | str | Path | None = None,
    dry_run: bool = False,
    threshold: float = clustering.DEFAULT_THRESHOLD,
    progress: Progress | None = None,
) -> IncidentIngestReport:
    """Import incident exports and grow the signatures; see the module docstring. ``conn`` in autocommit."""
    if not conn.autocommit:
        raise ConfigurationError(
            "incident ingestion needs an autocommit connection", hint="use db.connection.connect(autocommit=True)"
        )
    started = time.perf_counter()
    report = IncidentIngestReport(dry_run=dry_run)
    records: dict[str, IncidentRecord] = {}
    for path in files:
        report.files += 1
        try:
            result = read_incident_file(Path(path), mapping=mapping)
        except InputError as exc:
            report.errors.append(str(exc))
            continue
        report.rows_read += len(result.records) + len(result.errors)
        report.errors.extend(str(e) for e in result.errors)
        report.warnings.extend(result.warnings)
        for record in result.records:
            records[record.number] = record  # a later file wins, like a later row
    ingest_records(conn, embedder, records.values(), report, threshold=threshold, progress=progress)
    report.seconds = time.perf_counter() - started
    return report


def ingest_records(
    conn: psycopg.Connection,
    embedder: Embedder,
    records: Iterable[IncidentRecord],
    report: IncidentIngestReport,
    *,
    threshold: float = clustering.DEFAULT_THRESHOLD,
    progress: Progress | None = None,
) -> None:
    """Store tickets (new, or changed since stored) and grow the signatures they belong to; counts into
    ``report`` (whose ``dry_run`` stops before writing). Also how a responder-confirmed incident becomes history
    (``ai_service.feedback``)."""
    stored = signature_store.stored_incidents(conn)
    writes: list[tuple[IncidentRecord, str, str, str]] = []  # record, record hash, text, text hash
    for record in records:
        digest = record_sha256(record)
        old = stored.get(record.number)
        if old is not None and old.record_sha256 == digest and old.embedding_sha256 is not None:
            report.unchanged += 1
            continue
        text = clustering.incident_text(record)
        writes.append((record, digest, text, content_hash(embedder.model_name, text)))
        if old is None:
            report.new += 1
        else:
            report.updated += 1
    if report.dry_run:
        return

    vectors = signature_store.incident_embeddings_by_hash(conn, hashes=[w[3] for w in writes])
    missing = list(dict.fromkeys((w[3], w[2]) for w in writes if w[3] not in vectors))
    for start in range(0, len(missing), 256):
        chunk = missing[start : start + 256]
        for (digest, _), vector in zip(chunk, embedder.embed([t for _, t in chunk]), strict=True):
            vectors[digest] = vector
        report.texts_embedded += len(chunk)
        if progress:
            progress("embed", min(start + 256, len(missing)), len(missing))

    touched_by_update = {
        signature_id
        for record, *_ in writes
        if record.number in stored and (signature_id := stored[record.number].signature_id) is not None
    }
    with conn.transaction():
        signature_store.upsert_incidents(
            conn,
            rows=[
                {
                    "number": record.number,
                    **{name: getattr(record, name) or None for name in _RECORD_FIELDS},
                    "source_path": record.source,
                    "record_sha256": digest,
                    "embedding": vectors[text_hash],
                    "embedding_sha256": text_hash,
                }
                for record, digest, _, text_hash in writes
            ],
        )
        touched = _grow_signatures(conn, report, threshold) | touched_by_update
        _describe(conn, embedder, touched)
        relabelled = relabel_signatures(conn, embedder).relabelled
    if writes or touched or relabelled:
        store.refresh_term_stats(conn, ["incident_signatures"])
    report.incidents_unassigned = signature_store.unassigned_incident_count(conn)


def _record(row: signature_store.IncidentRow | signature_store.MemberRow) -> IncidentRecord:
    values = {k: v for k, v in row.fields.items() if v is not None}
    values.setdefault("description", "")
    values.setdefault("close_notes", "")
    return IncidentRecord.model_validate(values)


def _grow_signatures(conn: psycopg.Connection, report: IncidentIngestReport, threshold: float) -> set[str]:
    """Assign unassigned tickets to signatures (existing or new); returns the ids of the signatures touched."""
    rows = signature_store.all_incidents(conn)
    members: dict[str, list[signature_store.IncidentRow]] = defaultdict(list)
    waiting: list[signature_store.IncidentRow] = []
    for row in rows:
        (members[row.signature_id] if row.signature_id else waiting).append(row)
    if not waiting:
        return set()
    existing = [
        clustering.ExistingSignature.from_mean(
            signature_id, np.mean([m.embedding for m in group], axis=0), len(group), [m.number for m in group]
        )
        for signature_id, group in sorted(members.items())
    ]
    outcome = clustering.assign_to_signatures(
        np.vstack([w.embedding for w in waiting]), [w.number for w in waiting], existing, threshold=threshold
    )
    touched: set[str] = set()
    for growth in outcome.grown:
        signature_store.assign_incidents(
            conn, signature_id=growth.signature_id, numbers=[waiting[i].number for i in growth.added]
        )
        touched.add(growth.signature_id)
        report.signatures_grown += 1
        report.incidents_assigned += len(growth.added)
    new_clusters = [c for c in outcome.new_clusters if len(c.members) >= MIN_SIGNATURE_SIZE]
    if new_clusters:
        records = [_record(w) for w in waiting]
        drafts = clustering.describe_clusters(records, new_clusters)
        ids = clustering.assign_signature_ids(drafts, taken=signature_store.signature_ids(conn))
        for signature_id, draft, cluster in zip(ids, drafts, new_clusters, strict=True):
            # A placeholder row so members can reference it; _describe fills it from all members.
            signature_store.upsert_signature(
                conn,
                incident_signature_id=signature_id,
                fields=_fields(draft, []),
                embedding=draft.centroid,
                embedding_sha256="pending",
                centroid=draft.centroid,
            )
            signature_store.assign_incidents(
                conn, signature_id=signature_id, numbers=[waiting[i].number for i in cluster.members]
            )
            touched.add(signature_id)
            report.signatures_created += 1
            report.incidents_assigned += len(cluster.members)
    return touched


def _fields(draft: clustering.SignatureDraft, resolution_refs: list[str]) -> dict[str, object]:
    return {
        "failure_type": draft.failure_type,
        "error_class": draft.error_class,
        "symptoms": list(draft.symptoms),
        "affected_service": draft.affected_service,
        "service": draft.service,
        "component": draft.component,
        "assignment_group": draft.assignment_group,
        "impact": draft.impact,
        "urgency": draft.urgency,
        "resolution_refs": resolution_refs,
        "source_incident_ids": list(draft.source_incident_ids),
        "last_seen_at": draft.last_seen_at,
    }


def _describe(conn: psycopg.Connection, embedder: Embedder, touched: set[str]) -> None:
    """Describe the touched signatures again from all their members, against the background of all signatures."""
    if not touched:
        return
    rows = [r for r in signature_store.all_incidents(conn) if r.signature_id]
    records = [_record(r) for r in rows]
    vectors = np.vstack([r.embedding for r in rows])
    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[row.signature_id].append(index)  # type: ignore[index]
    ordered = sorted(groups)
    clusters = [clustering.make_cluster(tuple(groups[s]), vectors) for s in ordered]
    known_steps = store.step_ids(conn)
    drafts = clustering.describe_clusters(
        records, clusters, known_step_ids=known_steps, runbook_types=store.runbook_failure_types(conn)
    )
    label_texts = []
    todo = []
    for signature_id, draft in zip(ordered, drafts, strict=True):
        if signature_id in touched:
            todo.append((signature_id, draft))
            label_texts.append(texts.signature_text(draft.failure_type, draft.error_class, draft.symptoms))
    embedded = embedder.embed(label_texts)
    for (signature_id, draft), text, vector in zip(todo, label_texts, embedded, strict=True):
        signature_store.upsert_signature(
            conn,
            incident_signature_id=signature_id,
            fields=_fields(draft, list(draft.resolution_refs)),
            embedding=vector,
            embedding_sha256=content_hash(embedder.model_name, text),
            centroid=np.mean(vectors[groups[signature_id]], axis=0),
        )


@dataclass
class SignatureRelabel:
    """What :func:`relabel_signatures` did: signatures looked at, relabelled, texts embedded for them."""

    signatures: int = 0
    relabelled: int = 0
    texts_embedded: int = 0


def relabel_signatures(conn: psycopg.Connection, embedder: Embedder) -> SignatureRelabel:
    """Give every signature the failure type and error class its members and history say
    (:func:`clustering.signature_label`), and a new vector when its text changed with them (the label is part
    of it); everything else — id, symptoms, members, counters — stays. Idempotent.

    A signature without stored tickets (migrated from an older install) is labelled from its resolution refs'
    runbooks, else from its own words (old label and symptoms)."""
    outcome = SignatureRelabel()
    stored = signature_store.signature_labels(conn)
    outcome.signatures = len(stored)
    if not stored:
        return outcome
    groups: dict[str, list[IncidentRecord]] = defaultdict(list)
    for member in signature_store.signature_members(conn):
        groups[member.signature_id].append(_record(member))
    runbook_types = store.runbook_failure_types(conn)
    known_steps = store.step_ids(conn)
    changes: list[tuple[signature_store.SignatureLabelRow, str, str, str]] = []  # row, type, class, text
    for row in stored:
        members = groups.get(row.incident_signature_id, [])
        if members:
            cited = clustering.cited_step_ids(members, known_step_ids=known_steps)
            label = clustering.signature_label(
                members, [clustering.incident_text(r) for r in members], cited, runbook_types
            )
        else:
            label = _label_without_members(row, runbook_types)
        if label != (row.failure_type, row.error_class):
            changes.append((row, *label, texts.signature_text(*label, row.symptoms)))
    if not changes:
        return outcome
    wanted: dict[str, str] = {}  # hash -> text of the vectors to make (a row whose text is unchanged keeps its own)
    for row, *_, text in changes:
        digest = content_hash(embedder.model_name, text)
        if digest != row.embedding_sha256:
            wanted[digest] = text
    missing = sorted(wanted)
    vectors = dict(zip(missing, embedder.embed([wanted[d] for d in missing]), strict=True)) if missing else {}
    with conn.transaction():
        for row, failure_type, error_class, text in changes:
            digest = content_hash(embedder.model_name, text)
            signature_store.relabel_signature(
                conn,
                incident_signature_id=row.incident_signature_id,
                failure_type=failure_type,
                error_class=error_class,
                embedding=None if digest == row.embedding_sha256 else vectors[digest],
                embedding_sha256=digest,
            )
    outcome.relabelled = len(changes)
    outcome.texts_embedded = len(missing)
    return outcome


def _label_without_members(row: signature_store.SignatureLabelRow, runbook_types: dict[str, str]) -> tuple[str, str]:
    """(failure type, error class) of a signature with no stored tickets: its history's runbooks, else its words."""
    failure_type, _ = clustering.signature_label([], [], [(ref, 1) for ref in row.resolution_refs], runbook_types)
    if failure_type == taxonomy.UNKNOWN:
        if taxonomy.is_label(row.failure_type):  # labelled from its words before: the same words say the same
            failure_type = row.failure_type
        else:
            failure_type = taxonomy.classify_text(" ".join([row.failure_type.replace("_", " "), *row.symptoms]))
    if taxonomy.is_known(failure_type):
        return failure_type, taxonomy.error_class_of(failure_type)
    keep = row.error_class if row.error_class in taxonomy.ERROR_CLASS_NAMES else taxonomy.UNKNOWN
    return failure_type, keep
