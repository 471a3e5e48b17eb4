"""The console's router (what ``ai_service.api.app.create_app`` includes): its pages, its forms and its two
static files, served from this package (no build step, no CDN).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from ai_service.errors import NotFoundError
from ai_service.web import actions, knowledge, pages
from ai_service.web.routing import ConsoleRoute

_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, content type, ETag) of every file under ``static/``."""
    found = {}
    for item in resources.files("ai_service.web").joinpath("static").iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in _TYPES:
            body = item.read_bytes()
            found[item.name] = (body, _TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    return found


STATIC = _load_static()

static = APIRouter(prefix="/static", route_class=ConsoleRoute, include_in_schema=False)


@static.get("/{name}")
def static_file(name: Annotated[str, Path(max_length=100)], request: Request) -> Response:
    """The console's stylesheet and script (public: the sign-in page needs them)."""
    found = STATIC.get(name)
    if found is None:
        raise NotFoundError(f"no static file {name}", hint="the console serves console.css and console.js only")
    body, content_type, etag = found
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=content_type, headers=headers)


router = APIRouter(include_in_schema=False)
for part in (pages.router, knowledge.router, actions.router, static):
    router.include_router(part)
