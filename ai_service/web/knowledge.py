"""The knowledge browser: hybrid search with every leg's scores, a runbook with its steps' track records, an
incident signature with its track record, and the draft runbooks waiting for an admin.

Search runs exactly as ``GET /api/v1/knowledge/search`` does (``ai_service.retrieval.service.search``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from ai_service.errors import NotFoundError
from ai_service.feedback import store as feedback_store
from ai_service.knowledge import store as knowledge_store
from ai_service.knowledge.service import prepare_embedder
from ai_service.retrieval import store as retrieval_store
from ai_service.retrieval.query_text import SearchQuery
from ai_service.retrieval.service import SearchOptions, search
from ai_service.retrieval.store import Filters
from ai_service.textnorm import normalize_text
from ai_service.triage.service import track_record
from ai_service.web import views
from ai_service.web.access import ConnectionDep, Reader, RuntimeDep
from ai_service.web.render import page
from ai_service.web.routing import ConsoleRoute

router = APIRouter(prefix="/knowledge", route_class=ConsoleRoute, include_in_schema=False)

Kind = Literal["all", "runbooks", "steps", "signatures"]
KINDS: tuple[Kind, ...] = ("all", "runbooks", "steps", "signatures")


@router.get("", response_class=HTMLResponse)
def knowledge(
    request: Request,
    conn: ConnectionDep,
    runtime: RuntimeDep,
    visitor: Reader,
    q: Annotated[str | None, Query(max_length=2000)] = None,
    kind: Annotated[Kind, Query()] = "all",
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> Response:
    """Search the knowledge base; without a query, what it holds (runbooks, counts, drafts)."""
    text = (q or "").strip()
    result = None
    if text:
        embedder = prepare_embedder(conn, runtime.settings, runtime.embedder)
        options = SearchOptions(
            runbooks=limit,
            steps=limit,
            signatures=limit,
            filters=Filters(service=(service or "").strip() or None),
        )
        result = search(conn, embedder, SearchQuery(text=normalize_text(text) or text), options)
    paths = knowledge_store.runbook_source_paths(conn)
    runbooks = sorted(retrieval_store.runbooks_by_id(conn, list(paths)).values(), key=lambda r: r.title.lower())
    return page(
        request,
        "knowledge.html",
        visitor,
        q=text,
        kind=kind,
        kinds=KINDS,
        service=service or "",
        result=result,
        runbooks=runbooks,
        stats=knowledge_store.knowledge_stats(conn),
        drafts=feedback_store.list_drafts(conn),
    )


@router.get("/runbooks/{runbook_id}", response_class=HTMLResponse)
def runbook_page(
    runbook_id: Annotated[str, Path(max_length=300)], request: Request, conn: ConnectionDep, visitor: Reader
) -> Response:
    """A runbook, its steps in order, and what responders reported when they ran each."""
    found = retrieval_store.runbooks_by_id(conn, [runbook_id]).get(runbook_id)
    if found is None:
        raise NotFoundError(f"no runbook {runbook_id}", hint="search the knowledge base to find its id")
    steps = retrieval_store.steps_of_runbooks(conn, [runbook_id])
    records = feedback_store.step_records(conn, [s.step_id for s in steps])
    return page(
        request,
        "runbook.html",
        visitor,
        runbook=found,
        steps=[(s, views.action_segments(s.action), records.get(s.step_id)) for s in steps],
    )


@router.get("/signatures/{signature_id}", response_class=HTMLResponse)
def signature_page(
    signature_id: Annotated[str, Path(max_length=300)], request: Request, conn: ConnectionDep, visitor: Reader
) -> Response:
    """An incident signature: what it recognises, the steps its history was resolved with, and its record."""
    found = retrieval_store.signatures_by_id(conn, [signature_id]).get(signature_id)
    if found is None:
        raise NotFoundError(f"no signature {signature_id}", hint="search the knowledge base to find its id")
    steps = retrieval_store.steps_by_id(conn, found.resolution_refs)
    records = feedback_store.step_records(conn, [s.step_id for s in steps])
    return page(
        request,
        "signature.html",
        visitor,
        signature=found,
        weight=track_record(found),
        steps=[(s, records.get(s.step_id)) for s in steps],
        missing=[ref for ref in found.resolution_refs if ref not in {s.step_id for s in steps}],
    )


@router.get("/drafts", response_class=HTMLResponse)
def drafts_page(request: Request, conn: ConnectionDep, visitor: Reader) -> Response:
    """Draft runbooks written from incidents nothing matched; an admin publishes them."""
    return page(
        request,
        "drafts.html",
        visitor,
        drafts=feedback_store.list_drafts(conn, status=None),
    )
