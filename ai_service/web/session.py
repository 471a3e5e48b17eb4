"""Who is using the console, and the proofs its forms carry: the session cookie, CSRF tokens and flash messages.

A session is the API token itself, pasted once on the sign-in page and kept in an HttpOnly, SameSite=Strict
cookie (Secure over https). Every request authenticates it again with
:func:`ai_service.auth.service.authenticate`, so a revoked token is refused at once; ``Authorization: Bearer``
works too, for scripts. In the open local mode (NOCAI_OPEN_ACCESS) there is no session at all.

Nothing is kept on the server, so any replica can serve any request:

* a form's CSRF token is an HMAC keyed with the session token over the token's SHA-256 (the browser's own random
  nonce cookie takes the token's place before sign-in and in the open local mode): unguessable without the
  cookie, the same on every replica, and revealing nothing of the token;
* a flash message (what an action did, or why it was refused) rides in a short-lived cookie signed the same way.

What this module must never do: put a token anywhere but its HttpOnly cookie, compare secrets with ``==``, or
accept a POST whose CSRF token does not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel, Field, ValidationError

from ai_service.auth.models import Principal
from ai_service.auth.service import digest

SESSION_COOKIE = "nocai_session"
NONCE_COOKIE = "nocai_nonce"
FLASH_COOKIE = "nocai_flash"
CSRF_FIELD = "csrf_token"
_PURPOSE_CSRF = b"nocai console csrf v1\x00"
_PURPOSE_FLASH = b"nocai console flash v1\x00"
_FLASH_SECONDS = 120
_MAX_FLASH_LINES = 12
_MAX_FLASH_TEXT = 400

#: The caller in the open local mode (NOCAI_OPEN_ACCESS): an admin that approves as an admin (as the API's).
OPEN_PRINCIPAL = Principal(name="local (open access)", role="admin", policy_roles=["admin"])

Via = Literal["cookie", "bearer", "open"]


def _mac(secret: str, purpose: bytes, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), purpose + message, hashlib.sha256).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token of the forms of a session whose secret (token, or nonce) is ``secret``."""
    return _mac(secret, _PURPOSE_CSRF, digest(secret).encode("ascii"))


def csrf_valid(secret: str | None, given: str | None) -> bool:
    """Whether ``given`` is the CSRF token of ``secret`` (constant time; False when either is missing)."""
    if not secret or not given:
        return False
    return hmac.compare_digest(csrf_token(secret), given.strip())


@dataclass
class Visitor:
    """A signed-in (or open-mode) user of the console and the secret its forms are proven with."""

    principal: Principal
    via: Via
    secret: str
    new_nonce: bool = False  # the nonce was made for this response: set its cookie
    flash: Flash | None = field(default=None)

    @property
    def csrf(self) -> str:
        return csrf_token(self.secret)

    @property
    def can_respond(self) -> bool:
        return self.principal.may("respond")

    @property
    def can_admin(self) -> bool:
        return self.principal.may("admin")


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def session_token(request: Request) -> str | None:
    """The token of the session cookie, when one was sent."""
    value = request.cookies.get(SESSION_COOKIE, "").strip()
    return value or None


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, when one was sent (malformed ones included, as sent)."""
    header = request.headers.get("authorization")
    return header if header and header.strip() else None


def browser_nonce(request: Request) -> tuple[str, bool]:
    """The browser's random nonce (its cookie), or a new one; the flag says it is new and needs its cookie."""
    value = request.cookies.get(NONCE_COOKIE, "").strip()
    if 20 <= len(value) <= 100 and value.isascii():
        return value, False
    return secrets.token_urlsafe(32), True


def set_session(response: Response, request: Request, token: str) -> None:
    """Keep ``token`` as the session: HttpOnly, SameSite=Strict, Secure over https; ends with the browser."""
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request), path="/", max_age=None
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request))


def set_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        NONCE_COOKIE, nonce, httponly=True, samesite="strict", secure=is_https(request), path="/", max_age=None
    )


# --- flash messages ------------------------------------------------------------------------------------------


class Flash(BaseModel):
    """A message shown once on the page an action redirects to."""

    kind: Literal["ok", "error"] = "ok"
    title: str = Field(max_length=_MAX_FLASH_TEXT)
    lines: list[str] = Field(default_factory=list, max_length=_MAX_FLASH_LINES)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_FLASH_TEXT else text[: _MAX_FLASH_TEXT - 1] + "…"


def set_flash(response: Response, request: Request, secret: str, flash: Flash) -> None:
    """Put ``flash`` in its short-lived cookie, signed with the session's secret."""
    bounded = Flash(kind=flash.kind, title=_clip(flash.title), lines=[_clip(x) for x in flash.lines[:_MAX_FLASH_LINES]])
    body = base64.urlsafe_b64encode(bounded.model_dump_json().encode("utf-8")).decode("ascii").rstrip("=")
    value = f"{body}.{_mac(secret, _PURPOSE_FLASH, body.encode('ascii'))}"
    response.set_cookie(
        FLASH_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/",
        max_age=_FLASH_SECONDS,
    )


def read_flash(request: Request, secret: str) -> Flash | None:
    """The flash message of the request's cookie when its signature is the session's; None otherwise."""
    value = request.cookies.get(FLASH_COOKIE)
    if not value or "." not in value:
        return None
    body, _, mac = value.rpartition(".")
    if not hmac.compare_digest(_mac(secret, _PURPOSE_FLASH, body.encode("ascii", "replace")), mac):
        return None
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return Flash.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


def clear_flash(response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path="/")


def safe_next(value: str | None) -> str:
    """A redirect target inside the console: a local path, never another site (``//host``, ``/\\host``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return "/"
    return value[:2000]
