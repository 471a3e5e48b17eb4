"""Turning view data into HTML: the Jinja2 environment, its filters, and the page and error responses.

Templates live in ``ai_service/web/templates`` and are autoescaped (every ``.html`` file): alert text, labels
and runbook text are data, never markup. A URL from an alert or a runbook becomes a link only when it is http or
https (:func:`safe_href`); anything else (``javascript:``, ``data:``) is shown as inert text.

What this module must never do: mark text from an alert, a runbook or a user as safe markup.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ai_service.web.session import FLASH_COOKIE, Visitor, clear_flash, set_nonce
from ai_service.web.views import inline_parts

_HTTP_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$", re.IGNORECASE)


def safe_href(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL with a host, else None (it is then shown as text)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not _HTTP_URL.match(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def duration(seconds: float | None) -> str:
    """``42 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``; an em dash for none."""
    if seconds is None or math.isnan(seconds):
        return "—"
    value = max(0, round(seconds))
    if value < 90:
        return f"{value} s"
    minutes = value // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``moment`` was: ``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    if moment is None:
        return "—"
    elapsed = ((now or datetime.now(UTC)) - moment).total_seconds()
    if elapsed < 45:
        return "just now"
    return f"{duration(elapsed)} ago"


def utc(moment: datetime | None) -> str:
    """``2026-06-06 18:22 UTC``."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(value: object) -> str:
    """A share as ``87%``; an em dash when it is not a number."""
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return "—"
    return f"{value * 100:.0f}%"


def number(value: object, digits: int = 3) -> str:
    """A score with ``digits`` significant decimals; an em dash when missing."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{value:.{digits}f}"


def sentence(text: object) -> str:
    """``text`` as a sentence: its first letter upper case and a full stop at the end (messages are written as
    clauses, for the CLI and the API)."""
    value = str(text or "").strip()
    if not value:
        return ""
    value = value[0].upper() + value[1:]
    return value if value[-1] in ".!?)" else value + "."


def query(request: Request, **changes: object) -> str:
    """The request's query string with ``changes`` applied (None removes a key): for filter and page links."""
    params = {k: v for k, v in request.query_params.items() if k not in changes}
    params.update({k: str(v) for k, v in changes.items() if v is not None and v != ""})
    return "?" + urlencode(params) if params else "?"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("ai_service.web", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        safe_href=safe_href,
        duration=duration,
        ago=ago,
        utc=utc,
        percent=percent,
        number=number,
        sentence=sentence,
        inline_parts=inline_parts,
    )
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    """The text of ``template`` with ``context``."""
    return ENV.get_template(template).render(**context)


def page(
    request: Request,
    template: str,
    visitor: Visitor | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A whole console page (the layout's navigation shows ``visitor``); shows and clears a pending flash."""
    html = render(
        template,
        request=request,
        visitor=visitor,
        flash=visitor.flash if visitor is not None else None,
        query=lambda **changes: query(request, **changes),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=_NO_STORE)
    if visitor is not None:
        if visitor.flash is not None or request.cookies.get(FLASH_COOKIE):
            clear_flash(response)
        if visitor.new_nonce:
            set_nonce(response, request, visitor.secret)
    return response


def fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    """Part of a page (what the live queue re-fetches)."""
    html = render(template, request=request, query=lambda **changes: query(request, **changes), **context)
    return HTMLResponse(html, headers=_NO_STORE)


#: Pages show who is on call and what they may do: never cached, never framed by another site.
_NO_STORE = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


def error_page(
    request: Request,
    status_code: int,
    title: str,
    message: str,
    fix: str | None,
    visitor: Visitor | None = None,
    request_id: str | None = None,
) -> HTMLResponse:
    """A friendly page for a failed console request: what went wrong and what to do (never a traceback)."""
    html = render(
        "error.html",
        request=request,
        visitor=visitor,
        flash=None,
        query=lambda **changes: query(request, **changes),
        status_code=status_code,
        title=title,
        message=message,
        fix=fix,
        request_id=request_id,
    )
    return HTMLResponse(html, status_code=status_code, headers=_NO_STORE)
