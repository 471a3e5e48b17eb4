"""The knowledge base over HTTP: hybrid search with provenance, counts, and uploads of runbooks and tickets.

Uploaded files are kept under ``NOCAI_DATA_DIR/uploads`` (runbooks by file name, so uploading a file again
updates its runbook and costs nothing when it did not change) and ingested exactly as ``nocai ingest`` does.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from ai_service.api.deps import Admin, ConnectionDep, Reader, RuntimeDep
from ai_service.api.errors import ERROR_RESPONSES
from ai_service.errors import InputError, NotFoundError
from ai_service.feedback import store as feedback_store
from ai_service.knowledge import store
from ai_service.knowledge.parsers import SUPPORTED_SUFFIXES
from ai_service.knowledge.service import ingest_runbooks, prepare_embedder
from ai_service.knowledge.signatures import ingest_incidents
from ai_service.resolution.models import StepRecord
from ai_service.retrieval import store as retrieval_store
from ai_service.retrieval.models import SearchResult, SignatureRecord, StepHit
from ai_service.retrieval.query_text import SearchQuery
from ai_service.retrieval.service import SearchOptions, search
from ai_service.retrieval.store import Filters
from ai_service.textnorm import normalize_text
from ai_service.triage.service import track_record
from ai_service.vocabulary import RiskLevel

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"], responses=ERROR_RESPONSES)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}$")
_INCIDENT_SUFFIXES = {".csv", ".jsonl", ".ndjson", ".json"}
MAX_FILES = 200


@router.get("/search", response_model=SearchResult, summary="Hybrid search over runbooks, steps and signatures")
def search_knowledge(
    conn: ConnectionDep,
    runtime: RuntimeDep,
    _caller: Reader,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="Alert text, symptoms or a question.")],
    kind: Annotated[Literal["all", "runbooks", "steps", "signatures"], Query()] = "all",
    service: Annotated[str | None, Query(max_length=200)] = None,
    component: Annotated[str | None, Query(max_length=200)] = None,
    max_risk: RiskLevel | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> SearchResult:
    embedder = prepare_embedder(conn, runtime.settings, runtime.embedder)
    options = SearchOptions(
        runbooks=limit,
        steps=limit,
        signatures=limit,
        filters=Filters(service=service, component=component, max_risk=max_risk),
    )
    result = search(conn, embedder, SearchQuery(text=normalize_text(q) or q), options)
    if kind == "runbooks":
        return result.model_copy(update={"steps": [], "signatures": []})
    if kind == "steps":
        return result.model_copy(update={"runbooks": [], "signatures": []})
    if kind == "signatures":
        return result.model_copy(update={"runbooks": [], "steps": []})
    return result


class StepDetail(BaseModel):
    step: StepHit
    record: StepRecord | None = Field(description="What responders reported when they ran it.")


class RunbookDetail(BaseModel):
    runbook_id: str
    title: str
    source_path: str
    service: str | None
    component: str | None
    steps: list[StepDetail]


@router.get("/runbooks/{runbook_id}", response_model=RunbookDetail, summary="A runbook, its steps and their records")
def get_runbook(
    runbook_id: Annotated[str, PathParam(max_length=300)], conn: ConnectionDep, _caller: Reader
) -> RunbookDetail:
    found = retrieval_store.runbooks_by_id(conn, [runbook_id]).get(runbook_id)
    if found is None:
        raise NotFoundError(f"no runbook {runbook_id}", hint="search the knowledge base to find its id")
    steps = retrieval_store.steps_of_runbooks(conn, [runbook_id])
    records = feedback_store.step_records(conn, [s.step_id for s in steps])
    return RunbookDetail(**asdict(found), steps=[StepDetail(step=s, record=records.get(s.step_id)) for s in steps])


@router.get("/steps/{step_id}", response_model=StepDetail, summary="A runbook step and its record")
def get_step(step_id: Annotated[str, PathParam(max_length=300)], conn: ConnectionDep, _caller: Reader) -> StepDetail:
    found = retrieval_store.steps_by_id(conn, [step_id])
    if not found:
        raise NotFoundError(f"no step {step_id}", hint="search the knowledge base to find its id")
    return StepDetail(step=found[0], record=feedback_store.step_records(conn, [step_id]).get(step_id))


class SignatureDetail(SignatureRecord):
    track_record: float = Field(description="(confirmed + 1) / (judged + 2): its weight in votes.")


@router.get(
    "/signatures/{signature_id}", response_model=SignatureDetail, summary="An incident signature and its record"
)
def get_signature(
    signature_id: Annotated[str, PathParam(max_length=300)], conn: ConnectionDep, _caller: Reader
) -> SignatureDetail:
    found = retrieval_store.signatures_by_id(conn, [signature_id]).get(signature_id)
    if found is None:
        raise NotFoundError(f"no signature {signature_id}", hint="search the knowledge base to find its id")
    return SignatureDetail(**found.model_dump(), track_record=round(track_record(found), 4))


@router.get("/stats", response_model=store.KnowledgeStats, summary="What the knowledge base holds")
def knowledge_stats(conn: ConnectionDep, _caller: Reader) -> store.KnowledgeStats:
    return store.knowledge_stats(conn)


def _save(files: list[UploadFile], folder: Path, allowed: set[str], what: str) -> list[Path]:
    if not files:
        raise InputError(f"no {what} file was uploaded", hint="send them as multipart/form-data field 'files'")
    if len(files) > MAX_FILES:
        raise InputError(f"{len(files)} files in one upload; at most {MAX_FILES}", hint="upload them in batches")
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    for upload in files:
        name = Path(upload.filename or "").name
        if not _SAFE_NAME.match(name):
            raise InputError(
                f"file name {upload.filename!r} is not allowed",
                hint="use letters, digits, '.', '-' and '_' only (the name identifies the file on a later upload)",
            )
        if Path(name).suffix.lower() not in allowed:
            raise InputError(
                f"{name}: not a {what} file (supported: {', '.join(sorted(allowed))})",
                hint=f"upload {what} files only",
            )
        target = folder / name
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(upload.file.read())
        partial.replace(target)
        saved.append(target)
    return saved


@router.post("/runbooks", summary="Upload runbook files (Markdown, YAML, JSON, DOCX) and ingest them")
def upload_runbooks(
    conn: ConnectionDep,
    runtime: RuntimeDep,
    _caller: Admin,
    files: Annotated[list[UploadFile], File(description="Runbook files.")],
) -> dict[str, Any]:
    folder = runtime.settings.data_dir / "uploads" / "runbooks"
    saved = _save(files, folder, set(SUPPORTED_SUFFIXES), "runbook")
    embedder = prepare_embedder(conn, runtime.settings, runtime.embedder)
    report = ingest_runbooks(conn, embedder, saved)
    if report.failed and len(report.failed) == len(report.files):
        raise InputError(
            "no runbook could be read: " + "; ".join(_relative(f.error or f.path, folder) for f in report.failed[:3]),
            hint="see docs/runbook-format.md",
        )
    return {
        "files": [
            asdict(f) | {"path": Path(f.path).name, "error": _relative(f.error, folder) if f.error else None}
            for f in report.files
        ],
        "texts_embedded": report.texts_embedded,
        "embeddings_reused": report.embeddings_reused,
        "seconds": round(report.seconds, 3),
    }


@router.post("/incidents", summary="Upload past tickets (ServiceNow CSV or JSON Lines) and grow the signatures")
def upload_incidents(
    conn: ConnectionDep,
    runtime: RuntimeDep,
    _caller: Admin,
    files: Annotated[list[UploadFile], File(description="Ticket exports.")],
) -> dict[str, Any]:
    folder = runtime.settings.data_dir / "uploads" / "incidents"
    saved = _save(files, folder, _INCIDENT_SUFFIXES, "ticket export")
    embedder = prepare_embedder(conn, runtime.settings, runtime.embedder)
    report = ingest_incidents(conn, embedder, saved)
    if report.errors and report.new + report.updated + report.unchanged == 0:
        errors = [_relative(error, folder) for error in report.errors[:3]]
        raise InputError("no ticket could be read: " + "; ".join(errors), hint="see docs/incident-import.md")
    result = asdict(report)
    result["errors"] = [_relative(error, folder) for error in report.errors]
    result["warnings"] = [_relative(warning, folder) for warning in report.warnings]
    return result


def _relative(message: str, folder: Path) -> str:
    """A message without the server's upload folder (the caller knows its file by name)."""
    return message.replace(f"{folder}/", "").replace(str(folder), "")
