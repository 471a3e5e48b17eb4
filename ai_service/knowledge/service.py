"""Knowledge ingestion: runbook files into ``runbooks`` / ``runbook_steps`` rows, exactly and cheaply.

How a run keeps its promises:

* **Unchanged files cost nothing.** A file whose bytes hash to what is stored for its path is not parsed, not
  embedded and not written.
* **Stable step ids.** A step keeps its id while its content is unchanged, even if steps are inserted before it
  (matched by content hash, then by position); a new step gets ``<runbook_id>-S<n>`` with its position when that
  id was never used by the runbook, else the next free number. Removed steps are deleted.
* **A text is never embedded twice.** Each vector is stored with the hash of (model, text); texts whose hash is
  already stored anywhere reuse that vector. What must be embedded is embedded in large batches across files.
* **One transaction per file.** A crash leaves every earlier file committed and the current one untouched; the
  next run finds the committed files unchanged and completes the rest. One bad file is reported and the others
  go on.
* **Labels follow the knowledge.** Each runbook gets its owning team (declared, else its folder) and its failure
  type (:mod:`ai_service.knowledge.labels`). An unchanged file stored before runbooks had them is parsed again
  only to fill them in (nothing is embedded). When a run changes any runbook's failure type, the signatures whose
  history cites that runbook are relabelled too (:func:`relabel_knowledge_base` does all of it on demand).

This module decides; ``store.py`` holds the SQL. It never prints: callers pass a progress callback.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg

from ai_service.config import Settings
from ai_service.errors import ConfigurationError, InputError, NocaiError
from ai_service.knowledge import store, texts
from ai_service.knowledge.embeddings import Embedder, content_hash, create_embedder
from ai_service.knowledge.labels import runbook_failure_type
from ai_service.knowledge.models import ParsedRunbook, ParsedStep
from ai_service.knowledge.parsers import SUPPORTED_SUFFIXES, iter_runbook_files, parse_runbook_file
from ai_service.knowledge.signatures import SignatureRelabel, relabel_signatures
from db import migrate, vectors

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stages are "parse", "embed" and "write"."""

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"


@dataclass
class FileOutcome:
    path: str
    runbook_id: str | None = None
    status: str = "unchanged"  # new | updated | unchanged | removed | failed
    steps_new: int = 0
    steps_updated: int = 0
    steps_unchanged: int = 0
    steps_removed: int = 0
    error: str | None = None
    #: An unchanged file whose team and failure type were filled in (stored before runbooks had them).
    relabelled: bool = False


@dataclass
class IngestReport:
    files: list[FileOutcome] = field(default_factory=list)
    texts_embedded: int = 0
    embeddings_reused: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    #: Runbooks whose failure type changed with this run, and signatures relabelled because of it.
    runbooks_relabelled: int = 0
    signatures_relabelled: int = 0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]

    def total(self, attribute: str) -> int:
        return sum(getattr(f, attribute) for f in self.files)


@dataclass
class _Planned:
    """A parsed, changed runbook with its step ids assigned, waiting for vectors and its transaction."""

    outcome: FileOutcome
    runbook: ParsedRunbook
    source_path: str
    content: str
    steps: list[tuple[str, ParsedStep]]  # (step_id, step) in order
    changed_step_ids: set[str]
    removed_step_ids: list[str]
    texts: dict[str, str]  # key -> text to embed ("runbook" or a step id)


def step_embedding_text(step: ParsedStep) -> str:
    return texts.step_text(step.condition, step.action, step.expected_outcome)


def runbook_embedding_text(runbook: ParsedRunbook) -> str:
    first_action = runbook.steps[0].action if runbook.steps else None
    return texts.runbook_text(runbook.title, runbook.description, first_action, runbook.tags)


def runbook_search_text(runbook: ParsedRunbook) -> str:
    """The lower-weighted full-text part of a runbook: every step's condition and action."""
    return "\n".join(f"{s.condition}\n{s.action}" for s in runbook.steps)


def assign_step_ids(
    runbook_id: str, steps: Sequence[ParsedStep], stored: Sequence[store.StoredStep]
) -> tuple[list[tuple[str, ParsedStep]], list[str]]:
    """Give each parsed step an id, keeping stored ids for unchanged or same-position steps.

    Returns the (step_id, step) pairs in order and the stored ids that are no longer used.
    """
    assigned: list[str | None] = [None] * len(steps)
    used: set[str] = set()
    by_hash: dict[str | None, list[store.StoredStep]] = defaultdict(list)
    for s in stored:
        by_hash[s.content_sha256].append(s)
    for i, step in enumerate(steps):  # 1: same content, wherever it moved
        candidates = by_hash.get(step.content_sha256)
        if candidates:
            match = candidates.pop(0)
            assigned[i] = match.step_id
            used.add(match.step_id)
    by_order = {s.step_order: s for s in stored if s.step_id not in used and s.step_order is not None}
    for i, step in enumerate(steps):  # 2: same position, content edited
        if assigned[i] is None:
            same_place = by_order.get(step.position)
            if same_place is not None and same_place.step_id not in used:
                assigned[i] = same_place.step_id
                used.add(same_place.step_id)
    known = {s.step_id for s in stored}
    taken = set(known) | used
    highest = max((_step_number(s) for s in known), default=0)
    for i, step in enumerate(steps):  # 3: new steps
        if assigned[i] is None:
            candidate = f"{runbook_id}-S{step.position}"
            if candidate in taken:
                highest = max(highest, *(_step_number(t) for t in taken)) + 1
                candidate = f"{runbook_id}-S{highest}"
            assigned[i] = candidate
            taken.add(candidate)
    pairs = [(step_id, step) for step_id, step in zip(assigned, steps, strict=True) if step_id is not None]
    removed = [s.step_id for s in stored if s.step_id not in used]
    return pairs, removed


def _step_number(step_id: str) -> int:
    tail = step_id.rsplit("-S", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def discover_runbook_files(paths: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """(file, root) pairs: directories are walked, files are taken as they are (their folder is the root)."""
    found: list[tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            root = path.resolve()
            found.extend((f.resolve(), root) for f in iter_runbook_files(root))
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise InputError(
                    f"{path}: not a runbook file (supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})",
                    hint="pass Markdown, YAML, JSON or DOCX runbooks, or a folder of them",
                )
            found.append((path.resolve(), path.resolve().parent))
        else:
            raise InputError(f"{path}: no such file or directory", hint="check the path")
    seen: set[Path] = set()
    unique = []
    for file, root in found:
        if file not in seen:
            seen.add(file)
            unique.append((file, root))
    return unique


def _file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ingest_runbooks(
    conn: psycopg.Connection,
    embedder: Embedder,
    paths: Iterable[str | Path],
    *,
    dry_run: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest runbook files (and folders of them) into the knowledge base. See the module docstring.

    ``conn`` must be in autocommit mode: each file is written in its own transaction.
    """
    _require_autocommit(conn)
    started = time.perf_counter()
    report = IngestReport(dry_run=dry_run)
    files = discover_runbook_files(paths)
    states = store.runbook_states(conn)
    owners = store.runbook_source_paths(conn)
    claimed: dict[str, str] = {}
    planned: list[_Planned] = []
    unlabelled: list[tuple[Path, Path, FileOutcome]] = []

    for index, (file, root) in enumerate(files, start=1):
        if progress:
            progress("parse", index, len(files))
        outcome = FileOutcome(path=str(file))
        report.files.append(outcome)
        try:
            data = file.read_bytes()
            sha = _file_sha256(data)
            state = states.get(str(file))
            if state is not None and state.content_sha256 == sha and state.missing_embeddings == 0:
                outcome.runbook_id = state.runbook_id
                outcome.steps_unchanged = state.step_count
                claimed[state.runbook_id] = str(file)
                if not state.labelled:
                    unlabelled.append((file, root, outcome))
                continue
            runbook = parse_runbook_file(file, root)
            outcome.runbook_id = runbook.runbook_id
            _check_ownership(runbook.runbook_id, str(file), claimed, owners)
            claimed[runbook.runbook_id] = str(file)
            planned.append(
                _plan(
                    conn,
                    outcome,
                    runbook,
                    str(file),
                    data,
                    embedder.model_name,
                    is_known=runbook.runbook_id in owners,
                )
            )
        except NocaiError as exc:
            outcome.status = "failed"
            outcome.error = str(exc)
        except (OSError, UnicodeError) as exc:
            outcome.status = "failed"
            outcome.error = f"{file}: {exc}"

    if prune:
        _plan_prune(report, files, owners, claimed)
    if dry_run:
        report.seconds = time.perf_counter() - started
        return report

    labels_before = store.runbook_failure_types(conn)
    _fill_labels(conn, unlabelled)
    vectors = _embed_planned(conn, embedder, planned, report, progress)
    for index, plan in enumerate(planned, start=1):
        if progress:
            progress("write", index, len(planned))
        try:
            with conn.transaction():
                _write(conn, plan, vectors, embedder.model_name)
        except psycopg.Error as exc:
            plan.outcome.status = "failed"
            plan.outcome.error = f"{plan.source_path}: database error: {str(exc).strip()}"
    if prune:
        with conn.transaction():
            for outcome in report.files:
                if outcome.status == "removed" and outcome.runbook_id:
                    outcome.steps_removed = store.delete_runbook(conn, runbook_id=outcome.runbook_id)
    if planned or any(f.status == "removed" for f in report.files):
        store.refresh_term_stats(conn, ["runbooks", "runbook_steps"])  # BM25 document frequencies follow the corpus
    with conn.transaction():
        _relabel_runbooks(conn)
    labels_after = store.runbook_failure_types(conn)
    report.runbooks_relabelled = sum(
        1 for runbook_id, label in labels_after.items() if labels_before.get(runbook_id) != label
    )
    if labels_after != labels_before:  # signatures whose history cites a runbook take that runbook's failure type
        report.signatures_relabelled = relabel_signatures(conn, embedder).relabelled
        if report.signatures_relabelled:
            store.refresh_term_stats(conn, ["incident_signatures"])  # their label is in their full text
    report.seconds = time.perf_counter() - started
    return report


def _fill_labels(conn: psycopg.Connection, unlabelled: list[tuple[Path, Path, FileOutcome]]) -> None:
    """Team and failure type of unchanged files stored before runbooks had them: parsed again, nothing embedded."""
    for file, root, outcome in unlabelled:
        try:
            runbook = parse_runbook_file(file, root)
        except NocaiError as exc:
            outcome.status = "failed"
            outcome.error = str(exc)
            continue
        with conn.transaction():
            store.update_runbook_labels(
                conn, runbook_id=runbook.runbook_id, team=runbook.team, failure_type=parsed_failure_type(runbook)
            )
        outcome.relabelled = True


def parsed_failure_type(runbook: ParsedRunbook) -> str:
    """The failure type of a parsed runbook (:func:`ai_service.knowledge.labels.runbook_failure_type`)."""
    return runbook_failure_type(runbook.title, runbook.description, runbook.service, runbook.component, runbook.tags)


def _relabel_runbooks(conn: psycopg.Connection) -> tuple[int, int]:
    """Give every stored runbook the failure type its stored text says; returns (runbooks, relabelled)."""
    sources = store.runbook_label_sources(conn)
    changed = {}
    for source in sources:
        label = runbook_failure_type(source.title, source.description, source.service, source.component, source.tags)
        if label != source.failure_type:
            changed[source.runbook_id] = label
    store.set_runbook_failure_types(conn, failure_types=changed)
    return len(sources), len(changed)


@dataclass
class RelabelReport:
    """What :func:`relabel_knowledge_base` changed."""

    runbooks: int = 0
    runbooks_relabelled: int = 0
    signatures: int = 0
    signatures_relabelled: int = 0
    texts_embedded: int = 0
    seconds: float = 0.0


def relabel_knowledge_base(conn: psycopg.Connection, embedder: Embedder) -> RelabelReport:
    """Relabel every runbook and incident signature with the failure taxonomy (``nocai kb relabel``).

    Runbooks get the failure type of their stored title, metadata and description; then signatures get the
    failure type their members' text and their history say (the cited runbook's type wins) and the error class of
    that type, and those whose label changed are embedded again (their vector's text starts with the label).
    Signature ids, symptoms and everything else are left as they are. Idempotent: a second run changes nothing
    and embeds nothing. Teams are not touched: they come from the runbook files (ingest them again to fill teams
    of runbooks stored before runbooks had one). ``embedder`` must be the knowledge base's model
    (:func:`prepare_embedder`).
    """
    started = time.perf_counter()
    report = RelabelReport()
    with conn.transaction():
        report.runbooks, report.runbooks_relabelled = _relabel_runbooks(conn)
        signatures: SignatureRelabel = relabel_signatures(conn, embedder)
    if signatures.relabelled:
        store.refresh_term_stats(conn, ["incident_signatures"])  # their label is in their full text
    report.signatures = signatures.signatures
    report.signatures_relabelled = signatures.relabelled
    report.texts_embedded = signatures.texts_embedded
    report.seconds = time.perf_counter() - started
    return report


def _require_autocommit(conn: psycopg.Connection) -> None:
    if not conn.autocommit:
        raise ConfigurationError(
            "ingestion needs an autocommit connection (it commits one transaction per file)",
            hint="open it with db.connection.connect(autocommit=True)",
        )


def _check_ownership(runbook_id: str, path: str, claimed: dict[str, str], owners: dict[str, str]) -> None:
    """Two files may not define one runbook id (a runbook that moved keeps its id: its old file is gone)."""
    other = claimed.get(runbook_id)
    if other is None:
        owner = owners.get(runbook_id)
        if owner is not None and owner != path and Path(owner).exists():
            other = owner
    if other is not None and other != path:
        raise InputError(
            f"{path}: runbook_id {runbook_id!r} is already defined by {other}",
            hint="give one of them another runbook_id in its front matter (runbook ids must be unique)",
        )


def _plan(
    conn: psycopg.Connection,
    outcome: FileOutcome,
    runbook: ParsedRunbook,
    path: str,
    data: bytes,
    model: str,
    *,
    is_known: bool,
) -> _Planned:
    stored = store.stored_steps(conn, runbook_id=runbook.runbook_id)
    pairs, removed = assign_step_ids(runbook.runbook_id, runbook.steps, stored)
    stored_by_id = {s.step_id: s for s in stored}
    changed: set[str] = set()
    embed_texts: dict[str, str] = {
        "runbook": runbook_embedding_text(runbook),
        "runbook_title": texts.runbook_title_text(runbook.title),
    }
    for step_id, step in pairs:
        embed_texts[step_id] = step_embedding_text(step)
        old = stored_by_id.get(step_id)
        if old is None:
            outcome.steps_new += 1
            changed.add(step_id)
        elif (
            old.content_sha256 != step.content_sha256
            or old.step_order != step.position
            or old.phase != step.phase
            or old.section != step.section
            or old.embedding_sha256 != content_hash(model, embed_texts[step_id])
        ):
            outcome.steps_updated += 1
            changed.add(step_id)
        else:
            outcome.steps_unchanged += 1
    outcome.steps_removed = len(removed)
    outcome.status = "updated" if is_known else "new"
    content = data.decode("utf-8", errors="replace") if runbook.format != "docx" else runbook_search_text(runbook)
    return _Planned(outcome, runbook, path, content, pairs, changed, removed, embed_texts)


def _plan_prune(
    report: IngestReport, files: list[tuple[Path, Path]], owners: dict[str, str], claimed: dict[str, str]
) -> None:
    roots = {root for _, root in files}
    for runbook_id, owner in sorted(owners.items()):
        if runbook_id in claimed:
            continue
        if any(Path(owner).is_relative_to(root) for root in roots) and not Path(owner).exists():
            report.files.append(FileOutcome(path=owner, runbook_id=runbook_id, status="removed"))


def _embed_planned(
    conn: psycopg.Connection,
    embedder: Embedder,
    planned: list[_Planned],
    report: IngestReport,
    progress: Progress | None,
) -> dict[str, np.ndarray]:
    """Vectors by (model, text) hash for every text the planned writes need: reused where stored, else embedded."""
    wanted: dict[str, str] = {}
    for plan in planned:
        for key, text in plan.texts.items():
            if key in ("runbook", "runbook_title") or key in plan.changed_step_ids:
                wanted[content_hash(embedder.model_name, text)] = text
    known = store.embeddings_by_hash(conn, hashes=list(wanted))
    report.embeddings_reused = len(known)
    missing = [(h, t) for h, t in wanted.items() if h not in known]
    batch = 256
    for start in range(0, len(missing), batch):
        chunk = missing[start : start + batch]
        vectors = embedder.embed([t for _, t in chunk])
        for (h, _), vector in zip(chunk, vectors, strict=True):
            known[h] = vector
        report.texts_embedded += len(chunk)
        if progress:
            progress("embed", min(start + batch, len(missing)), len(missing))
    return known


def _write(conn: psycopg.Connection, plan: _Planned, vectors: dict[str, np.ndarray], model: str) -> None:
    rb = plan.runbook
    document_id = store.upsert_document(
        conn,
        source_key=f"runbook:{rb.runbook_id}",
        doc_type="runbook",
        title=rb.title,
        content=plan.content,
        service=rb.service,
        component=rb.component,
        tags=list(rb.tags),
        last_reviewed_at=rb.last_reviewed,
        source_path=plan.source_path,
        content_sha256=rb.content_sha256,
    )
    store.delete_steps(conn, step_ids=plan.removed_step_ids)
    rows = []
    for step_id, step in plan.steps:
        if step_id not in plan.changed_step_ids:
            continue
        text_hash = content_hash(model, plan.texts[step_id])
        rows.append(
            store.StepRow(
                step_id=step_id,
                runbook_id=rb.runbook_id,
                step_order=step.position,
                phase=step.phase,
                section=step.section,
                condition=step.condition,
                action=step.action,
                expected_outcome=step.expected_outcome,
                rollback=step.rollback,
                risk_level=step.risk_level,
                risk_inferred=step.risk_inferred,
                risk_reason=step.risk_reason,
                service=rb.service,
                component=rb.component,
                runbook_title=rb.title,
                runbook_document_id=document_id,
                last_reviewed_at=rb.last_reviewed,
                content_sha256=step.content_sha256,
                embedding=vectors[text_hash],
                embedding_sha256=text_hash,
            )
        )
    store.upsert_steps(conn, rows=rows)
    runbook_hash = content_hash(model, plan.texts["runbook"])
    title_hash = content_hash(model, plan.texts["runbook_title"])
    store.upsert_runbook(
        conn,
        runbook_id=rb.runbook_id,
        title=rb.title,
        description=rb.description,
        service=rb.service,
        component=rb.component,
        tags=list(rb.tags),
        format=rb.format,
        source_path=plan.source_path,
        content_sha256=rb.content_sha256,
        document_id=document_id,
        step_count=len(plan.steps),
        search_text=runbook_search_text(rb),
        embedding=vectors[runbook_hash],
        embedding_sha256=runbook_hash,
        last_reviewed_at=rb.last_reviewed,
        title_embedding=vectors[title_hash],
        title_embedding_sha256=title_hash,
        team=rb.team,
        failure_type=parsed_failure_type(rb),
    )


def prepare_embedder(conn: psycopg.Connection, settings: Settings, embedder: Embedder | None = None) -> Embedder:
    """The configured embedder (``embedder`` when the caller already holds one), after checking that the
    database is migrated and holds vectors of the same model.

    A store with no vector yet adopts the configured model; one with vectors of another model is refused
    (EmbeddingModelMismatchError names the fixes).
    """
    migrate.require_current(conn)
    vectors.align_empty_store(conn, model=settings.embedding_model, dimension=settings.embedding_dimension)
    vectors.check_embedding_model(conn, model=settings.embedding_model, dimension=settings.embedding_dimension)
    return embedder if embedder is not None else create_embedder(settings)
