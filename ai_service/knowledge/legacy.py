"""`nocai db migrate-chunks`: move what an older install kept in the generic ``chunks`` table into
``runbook_steps`` and ``incident_signatures`` (the guide's "Next Steps: migrate existing data").

A chunk whose metadata names a ``step_id`` (or a ``runbook_id``) becomes a runbook step; one that names an
``incident_signature_id`` (or a ``failure_type`` / ``error_class``) becomes a signature. Fields the metadata
gives are used as they are; missing ones are derived from the chunk (its content is the action, or the
symptom) and its document (title, service, component). Vectors are reused when the chunk's metadata says they
come from the model now configured and they have its dimension; otherwise the text is embedded again.

Idempotent: rows whose id already exists are left alone and counted; the ``chunks`` rows are never modified.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import psycopg

from ai_service.knowledge import signature_store, store, texts
from ai_service.knowledge.embeddings import Embedder, content_hash
from ai_service.knowledge.models import step_content_sha256
from ai_service.knowledge.risk import infer_risk
from ai_service.vocabulary import PHASES, RISK_LEVELS, Phase, RiskLevel


@dataclass
class LegacyReport:
    chunks_seen: int = 0
    steps_migrated: int = 0
    steps_already_present: int = 0
    signatures_migrated: int = 0
    signatures_already_present: int = 0
    runbooks_created: int = 0
    texts_embedded: int = 0
    vectors_reused: int = 0
    skipped: list[str] = field(default_factory=list)  # "chunk <id>: reason"


def _text(metadata: dict[str, object], key: str) -> str | None:
    value = metadata.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _list(metadata: dict[str, object], key: str) -> list[str]:
    value = metadata.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[;\n|]", str(value)) if part.strip()]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "legacy"


@dataclass(frozen=True)
class _StepFields:
    """A legacy chunk read as a runbook step."""

    step_id: str
    runbook_id: str
    condition: str
    action: str
    expected_outcome: str | None
    rollback: str | None
    risk_level: RiskLevel
    risk_inferred: bool
    risk_reason: str | None
    phase: Phase
    section: str
    service: str | None
    component: str | None
    runbook_title: str
    step_order: int
    embed_text: str


@dataclass(frozen=True)
class _SignatureFields:
    """A legacy chunk read as an incident signature."""

    incident_signature_id: str
    failure_type: str
    error_class: str
    symptoms: list[str]
    affected_service: str | None
    service: str | None
    component: str | None
    assignment_group: str | None
    impact: str | None
    urgency: str | None
    resolution_refs: list[str]
    source_incident_ids: list[str]
    embed_text: str


def migrate_chunks(conn: psycopg.Connection, embedder: Embedder, *, dry_run: bool = False) -> LegacyReport:
    """Copy step and signature chunks into the new tables (one transaction); see the module docstring."""
    report = LegacyReport()
    chunks = store.legacy_chunks(conn)
    report.chunks_seen = len(chunks)
    step_chunks, signature_chunks = [], []
    for chunk in chunks:
        meta = chunk.metadata
        if _text(meta, "incident_signature_id") or (
            not _text(meta, "step_id") and (_text(meta, "failure_type") or _text(meta, "error_class"))
        ):
            signature_chunks.append(chunk)
        else:
            step_chunks.append(chunk)

    steps = [_step_fields(c) for c in step_chunks]
    signatures = [_signature_fields(c) for c in signature_chunks]
    present = store.existing_ids(
        conn, step_ids=[s.step_id for s in steps], signature_ids=[s.incident_signature_id for s in signatures]
    )
    new_steps = [(c, s) for c, s in zip(step_chunks, steps, strict=True) if s.step_id not in present]
    new_sigs = [
        (c, s) for c, s in zip(signature_chunks, signatures, strict=True) if s.incident_signature_id not in present
    ]
    report.steps_already_present = len(steps) - len(new_steps)
    report.signatures_already_present = len(signatures) - len(new_sigs)
    if dry_run:
        report.steps_migrated, report.signatures_migrated = len(new_steps), len(new_sigs)
        return report

    texts = [s.embed_text for _, s in new_steps] + [s.embed_text for _, s in new_sigs]
    chunks_in_order = [c for c, _ in new_steps] + [c for c, _ in new_sigs]
    vectors = _vectors(embedder, chunks_in_order, texts, report)

    with conn.transaction():
        runbooks: dict[str, list[_StepFields]] = {}
        for (chunk, step), vector in zip(new_steps, vectors[: len(new_steps)], strict=True):
            runbooks.setdefault(step.runbook_id, []).append(step)
            store.upsert_steps(conn, rows=[_step_row(chunk, step, vector, embedder.model_name)])
            report.steps_migrated += 1
        for (chunk, sig), vector in zip(new_sigs, vectors[len(new_steps) :], strict=True):
            inserted = signature_store.insert_signature(
                conn,
                incident_signature_id=sig.incident_signature_id,
                failure_type=sig.failure_type,
                error_class=sig.error_class,
                symptoms=sig.symptoms,
                affected_service=sig.affected_service,
                service=sig.service,
                component=sig.component,
                assignment_group=sig.assignment_group,
                impact=sig.impact,
                urgency=sig.urgency,
                resolution_refs=sig.resolution_refs,
                source_incident_ids=sig.source_incident_ids,
                source_document_id=chunk.document_id,
                embedding=vector,
                embedding_sha256=content_hash(embedder.model_name, sig.embed_text),
            )
            report.signatures_migrated += int(inserted)
        report.runbooks_created = _ensure_runbooks(conn, embedder, runbooks, report)
    store.refresh_term_stats(conn)
    return report


def _step_fields(chunk: store.LegacyChunk) -> _StepFields:
    meta = chunk.metadata
    runbook_id = _text(meta, "runbook_id") or _slug(chunk.document_title)
    step_id = _text(meta, "step_id") or f"{runbook_id}-S{chunk.chunk_index + 1}"
    action = _text(meta, "action") or chunk.content.strip()
    condition = _text(meta, "condition") or f"When working through {chunk.document_title}"
    expected = _text(meta, "expected_outcome")
    given_phase = (_text(meta, "phase") or "other").lower()
    phase: Phase = next((p for p in PHASES if p == given_phase), "other")
    given_risk = (_text(meta, "risk_level") or "").lower()
    stated: RiskLevel | None = next((r for r in RISK_LEVELS if r == given_risk), None)
    reason = None
    if stated is None:
        risk, reason = infer_risk(action, phase)
    else:
        risk = stated
    order_match = re.search(r"-S(\d+)$", step_id)
    return _StepFields(
        step_id=step_id,
        runbook_id=runbook_id,
        condition=condition,
        action=action,
        expected_outcome=expected,
        rollback=_text(meta, "rollback"),
        risk_level=risk,
        risk_inferred=stated is None,
        risk_reason=reason,
        phase=phase,
        section=_text(meta, "section") or "",
        service=_text(meta, "service") or chunk.document_service,
        component=_text(meta, "component") or chunk.document_component,
        runbook_title=_text(meta, "runbook_title") or chunk.document_title,
        step_order=int(order_match.group(1)) if order_match else chunk.chunk_index + 1,
        embed_text=texts.step_text(condition, action, expected),
    )


def _signature_fields(chunk: store.LegacyChunk) -> _SignatureFields:
    meta = chunk.metadata
    failure_type = _text(meta, "failure_type") or "unknown"
    error_class = _text(meta, "error_class") or "unknown"
    symptoms = _list(meta, "symptoms") or [chunk.content.strip()[:200] or failure_type]
    digest = hashlib.sha256(f"{chunk.document_id}:{chunk.chunk_index}".encode()).hexdigest()[:8].upper()
    return _SignatureFields(
        incident_signature_id=_text(meta, "incident_signature_id") or f"SIG-LEGACY-{digest}",
        failure_type=failure_type,
        error_class=error_class,
        symptoms=symptoms,
        affected_service=_text(meta, "affected_service"),
        service=_text(meta, "service") or chunk.document_service,
        component=_text(meta, "component") or chunk.document_component,
        assignment_group=_text(meta, "assignment_group"),
        impact=_text(meta, "impact"),
        urgency=_text(meta, "urgency"),
        resolution_refs=_list(meta, "resolution_refs"),
        source_incident_ids=_list(meta, "source_incident_ids"),
        embed_text=texts.signature_text(failure_type, error_class, symptoms),
    )


def _vectors(
    embedder: Embedder, chunks: list[store.LegacyChunk], texts: list[str], report: LegacyReport
) -> list[np.ndarray]:
    """Reuse a chunk's vector only when it is known to come from the configured model; embed the rest."""
    out: list[np.ndarray | None] = []
    for chunk in chunks:
        same_model = chunk.metadata.get("embedding_model") == embedder.model_name
        if same_model and chunk.embedding is not None and chunk.embedding.shape == (embedder.dimension,):
            out.append(chunk.embedding / (np.linalg.norm(chunk.embedding) or 1.0))
            report.vectors_reused += 1
        else:
            out.append(None)
    todo = [i for i, v in enumerate(out) if v is None]
    if todo:
        fresh = embedder.embed([texts[i] for i in todo])
        for i, vector in zip(todo, fresh, strict=True):
            out[i] = vector
        report.texts_embedded += len(todo)
    return [v for v in out if v is not None]


def _step_row(chunk: store.LegacyChunk, step: _StepFields, vector: np.ndarray, model: str) -> store.StepRow:
    return store.StepRow(
        step_id=step.step_id,
        runbook_id=step.runbook_id,
        step_order=step.step_order,
        phase=step.phase,
        section=step.section,
        condition=step.condition,
        action=step.action,
        expected_outcome=step.expected_outcome,
        rollback=step.rollback,
        risk_level=step.risk_level,
        risk_inferred=step.risk_inferred,
        risk_reason=step.risk_reason,
        service=step.service,
        component=step.component,
        runbook_title=step.runbook_title,
        runbook_document_id=chunk.document_id,
        last_reviewed_at=None,
        content_sha256=step_content_sha256(
            step.condition, step.action, step.expected_outcome, step.rollback, step.risk_level
        ),
        embedding=vector,
        embedding_sha256=content_hash(model, step.embed_text),
    )


def _ensure_runbooks(
    conn: psycopg.Connection, embedder: Embedder, runbooks: dict[str, list[_StepFields]], report: LegacyReport
) -> int:
    """A runbooks row for each migrated runbook that has none, so runbook-level search finds them too."""
    created = 0
    known = set(store.runbook_source_paths(conn))
    todo = [(rid, steps) for rid, steps in runbooks.items() if rid not in known]
    if not todo:
        return 0
    titles = [steps[0].runbook_title for _, steps in todo]
    vectors = embedder.embed(titles)
    report.texts_embedded += len(titles)
    for (runbook_id, steps), vector, text in zip(todo, vectors, titles, strict=True):
        ordered = sorted(steps, key=lambda s: s.step_order)
        joined = "\n".join(f"{s.condition}\n{s.action}" for s in ordered)
        store.upsert_runbook(
            conn,
            runbook_id=runbook_id,
            title=text,
            description=None,
            service=ordered[0].service,
            component=ordered[0].component,
            tags=[],
            format="legacy",
            source_path=f"chunks:{runbook_id}",
            content_sha256=hashlib.sha256(joined.encode()).hexdigest(),
            document_id=store.document_of_runbook_steps(conn, runbook_id),
            step_count=len(ordered),
            search_text=joined,
            embedding=vector,
            embedding_sha256=content_hash(embedder.model_name, text),
            last_reviewed_at=None,
        )
        created += 1
    return created
