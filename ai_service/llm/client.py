"""A small OpenAI-compatible chat-completions client that returns one JSON object, or fails with a safe reason.

``POST {llm_url}/chat/completions`` with ``model``, ``messages``, ``temperature: 0`` and
``response_format: {"type": "json_object"}``; the key, when set, goes both as ``Authorization: Bearer``
(OpenAI, Ollama, vLLM, most gateways) and as ``api-key`` (Azure), like the embedding client. The answer's
``choices[0].message.content`` is parsed as JSON; for servers that ignore ``response_format`` and wrap the
object in prose or a code fence, the first JSON object in the content is used.

Time is bounded: ``timeout`` is the budget of the whole call (connecting, waiting, reading the body). A
connection error (refused, reset, closed without an answer) is retried once after a short pause, inside
the same budget; nothing else is retried (a timeout, an HTTP error, a bad answer fail at once). Bodies
larger than :data:`MAX_RESPONSE_BYTES` are refused.

What this module must never do: retry more than once; follow redirects; put the API key, the prompt or the
server's error text (which may echo either) into a :class:`ChatError` reason; or log anything.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ai_service.endpoints import display_url, endpoint_url
from ai_service.errors import ChatError

__all__ = [
    "MAX_RESPONSE_BYTES",
    "ChatClient",
    "ChatError",
    "ChatResult",
    "chat_completions_endpoint",
    "display_url",
    "extract_json_object",
]

#: Largest response body read (bytes). An advice answer is a few hundred bytes.
MAX_RESPONSE_BYTES = 1_000_000
#: Pause before the one retry after a connection error.
RETRY_DELAY_SECONDS = 0.1
#: Longest message content searched for a JSON object (characters).
_MAX_CONTENT_CHARS = 100_000
#: Error codes and types (OpenAI's and the common gateways') quoted from an error body; anything else the
#: server says is dropped, as it may echo the key or the prompt.
_KNOWN_ERROR_CODES = frozenset(
    {
        "api_error",
        "authentication_error",
        "context_length_exceeded",
        "insufficient_quota",
        "invalid_api_key",
        "invalid_request_error",
        "model_not_found",
        "not_found_error",
        "overloaded_error",
        "permission_error",
        "rate_limit_error",
        "rate_limit_exceeded",
        "server_error",
        "service_unavailable",
        "timeout",
    }
)
_MODEL_NAME = re.compile(r"^[\w.:/@+-]{1,128}$")


class _ConnectionFailed(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class ChatResult:
    """The JSON object the model answered with, the model that served it, and the time it took."""

    answer: dict[str, Any]
    model: str | None
    latency_ms: int
    attempts: int


def chat_completions_endpoint(base_url: str) -> str:
    """The URL to POST to: ``https://host/v1`` → ``https://host/v1/chat/completions``.

    A URL already ending in ``/chat/completions`` is kept as is; a query string (Azure's ``?api-version=``)
    is kept in both cases. Raises :class:`ChatError` for anything but an http(s) URL.
    """
    url = endpoint_url(base_url, "/chat/completions")
    if url is None:
        raise ChatError("llm_url is not an http(s) URL")
    return url


def extract_json_object(content: str) -> dict[str, Any] | None:
    """The JSON object ``content`` is, or else the first JSON object inside it (prose, code fences).

    ``None`` when there is none. Only objects count: a bare list or string is not an answer.
    """
    text = content.strip()[:_MAX_CONTENT_CHARS]
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return whole
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            found, _ = decoder.raw_decode(text, start)
        except ValueError:
            found = None
        if isinstance(found, dict):
            return found
        start = text.find("{", start + 1)
    return None


def _error_code(body: bytes) -> str | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and value in _KNOWN_ERROR_CODES:
            return value
    return None


class ChatClient:
    """One OpenAI-compatible chat endpoint. Use as a context manager (or call :meth:`close`)."""

    def __init__(self, *, url: str, model: str, api_key: str | None = None, timeout: float = 8.0) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if not model.strip():
            raise ChatError("llm_model is empty")
        self.endpoint = chat_completions_endpoint(url)
        self.model = model
        self.timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": "nocai"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
            headers["api-key"] = api_key
        self._client = httpx.Client(headers=headers, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def complete_json(self, messages: list[dict[str, str]]) -> ChatResult:
        """Send ``messages``; return the JSON object the model answered with. Raises :class:`ChatError`."""
        payload = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        started = time.monotonic()
        deadline = started + self.timeout
        attempts = 0
        while True:
            attempts += 1
            try:
                status, body = self._post(payload, deadline)
                break
            except _ConnectionFailed as failure:
                if attempts >= 2 or deadline - time.monotonic() <= RETRY_DELAY_SECONDS:
                    raise ChatError(f"connection failed ({failure.kind}) after {attempts} attempt(s)") from None
                time.sleep(RETRY_DELAY_SECONDS)
        answer, served_by = self._parse(status, body)
        latency_ms = round((time.monotonic() - started) * 1000)
        return ChatResult(answer=answer, model=served_by, latency_ms=latency_ms, attempts=attempts)

    def _post(self, payload: dict[str, Any], deadline: float) -> tuple[int, bytes]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChatError(f"no answer within {self.timeout:g}s")
        try:
            with self._client.stream("POST", self.endpoint, json=payload, timeout=remaining) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise ChatError(f"answer larger than {MAX_RESPONSE_BYTES} bytes")
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise ChatError(f"no complete answer within {self.timeout:g}s")
                return response.status_code, b"".join(chunks)
        except httpx.TimeoutException:
            raise ChatError(f"no answer within {self.timeout:g}s") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _ConnectionFailed(type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise ChatError(f"request failed ({type(exc).__name__})") from None

    def _parse(self, status: int, body: bytes) -> tuple[dict[str, Any], str | None]:
        if status != 200:
            code = _error_code(body)
            detail = f" ({code})" if code else ""
            if status == 429:
                raise ChatError(f"rate-limited: HTTP 429{detail}")
            raise ChatError(f"HTTP {status}{detail}")
        try:
            payload = json.loads(body)
        except ValueError:
            raise ChatError("HTTP 200 with a body that is not JSON") from None
        if not isinstance(payload, dict):
            raise ChatError("HTTP 200 with a body that is not a JSON object")
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ChatError("answer has no choices")
        choice = choices[0]
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise ChatError("answer has no message content")
        answer = extract_json_object(content)
        if answer is None:
            raise ChatError("answer content is not a JSON object")
        served_by = payload.get("model")
        if not isinstance(served_by, str) or not _MODEL_NAME.match(served_by):
            served_by = None
        return answer, served_by
