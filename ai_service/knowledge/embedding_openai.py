"""An embedder for any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, a
gateway), with batching, timeouts, retries with backoff and ``Retry-After``.

What this module must never do: put the API key or the texts being embedded into an error or a log line.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np

from ai_service.endpoints import display_url, endpoint_url
from ai_service.errors import ConfigurationError, ExternalServiceError
from ai_service.knowledge.embedding_base import DEFAULT_QUERY_CACHE_SIZE, EmbedderBase, normalise_rows

logger = logging.getLogger(__name__)

# --- OpenAI-compatible endpoints -------------------------------------------------------------------------


def embeddings_endpoint(base_url: str) -> str:
    """The URL to POST to: ``https://host/v1`` → ``https://host/v1/embeddings``.

    A URL already ending in ``/embeddings`` is kept as is; a query string (Azure's ``?api-version=``) is
    kept in both cases.
    """
    url = endpoint_url(base_url, "/embeddings")
    if url is None:
        raise ConfigurationError(
            f"NOCAI_EMBEDDING_URL {base_url!r} is not an http(s) URL",
            hint="set NOCAI_EMBEDDING_URL to the endpoint's base URL, e.g. https://api.openai.com/v1",
        )
    return url


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _server_message(response: httpx.Response) -> str:
    """The error message an endpoint sent, from the usual JSON shapes or the raw body (shortened)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("code")
        elif error:
            message = error
        message = message or body.get("message") or body.get("detail")
    if message is None:
        message = response.text
    text = " ".join(str(message).split())
    if len(text) > 500:
        text = text[:500] + "…"
    return text or "(empty response body)"


_CLIENT_ERROR_HINTS = {
    400: "check NOCAI_EMBEDDING_MODEL and that the texts are within the model's input limit",
    401: "check NOCAI_EMBEDDING_API_KEY",
    403: "check NOCAI_EMBEDDING_API_KEY and that the key may use NOCAI_EMBEDDING_MODEL",
    404: "check NOCAI_EMBEDDING_URL (the base URL, e.g. https://host/v1) and NOCAI_EMBEDDING_MODEL",
    413: "lower NOCAI_EMBEDDING_BATCH_SIZE",
}


class _RetryableError(Exception):
    """A failed attempt worth repeating; ``wait`` is the server's Retry-After when it sent one."""

    def __init__(self, reason: str, *, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class OpenAICompatibleEmbedder(EmbedderBase):
    """Embeddings from an OpenAI-compatible ``POST …/embeddings`` endpoint.

    Texts go out in batches of ``batch_size`` as ``{"model": …, "input": [...]}``; the key, when set, goes
    both as ``Authorization: Bearer`` (OpenAI, Ollama, vLLM, most gateways) and as ``api-key`` (Azure).
    Connection errors, timeouts, 429 and 5xx are retried ``max_retries`` times with exponential backoff and
    jitter (a 429's or 503's ``Retry-After`` is honoured); any other 4xx fails at once with the server's
    message. Vectors are put back in input order by their ``index``, checked for the configured dimension
    and normalised. Thread-safe; call :meth:`close` (or use it as a context manager) to free connections.
    """

    def __init__(
        self,
        *,
        url: str,
        model: str,
        dimension: int,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE,
    ) -> None:
        """``backoff_base`` is the first retry's delay (doubling each time, capped at ``backoff_max``);
        a ``Retry-After`` longer than ``max_retry_after`` seconds fails at once rather than stall the caller.
        """
        if not model.strip():
            raise ConfigurationError("NOCAI_EMBEDDING_MODEL is empty", hint="set it to the model the endpoint serves")
        if dimension < 1 or batch_size < 1 or timeout <= 0 or max_retries < 0:
            raise ValueError("dimension and batch_size must be >= 1, timeout > 0 and max_retries >= 0")
        super().__init__(query_cache_size=query_cache_size)
        self.url = embeddings_endpoint(url)
        self.model_name = model
        self.dimension = dimension
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        headers = {"Accept": "application/json", "User-Agent": "nocai"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
            headers["api-key"] = api_key
        self._headers = headers
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(headers=self._headers, timeout=httpx.Timeout(self.timeout))
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> OpenAICompatibleEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- embedding ----------------------------------------------------------------------------------------

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out[start : start + len(batch)] = self._embed_batch(batch, first=start, total=len(texts))
        return out

    def _embed_batch(self, batch: list[str], *, first: int, total: int) -> np.ndarray:
        where = f"the embedding endpoint {display_url(self.url)}"
        label = f"texts {first}-{first + len(batch) - 1} of {total}"
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                payload = self._post(batch, where)
            except _RetryableError as failure:
                if attempt + 1 >= attempts:
                    raise ExternalServiceError(
                        f"{where} failed for {label} after {attempts} attempt(s): {failure.reason}",
                        hint="check that the endpoint is up and reachable; NOCAI_EMBEDDING_TIMEOUT and "
                        "NOCAI_EMBEDDING_MAX_RETRIES set how long and how often nocai tries",
                    ) from failure
                delay = self._delay(attempt, failure.wait, where)
                logger.warning(
                    "embedding request to %s failed (%s); retry %d of %d in %.1fs",
                    display_url(self.url),
                    failure.reason,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
                continue
            return self._parse(payload, len(batch), where, first)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None, where: str) -> float:
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                raise ExternalServiceError(
                    f"{where} is rate-limiting and asks to retry after {retry_after:.0f}s, longer than the "
                    f"{self.max_retry_after:.0f}s nocai waits",
                    hint="raise the endpoint's rate limit or try again later",
                )
            # At least what the server asked for, plus a little jitter so that workers do not return at once.
            return float(retry_after) + random.uniform(0, min(1.0, self.backoff_base))
        ceiling = float(min(self.backoff_max, self.backoff_base * (2**attempt)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _post(self, batch: list[str], where: str) -> Any:
        try:
            response = self._http().post(self.url, json={"model": self.model_name, "input": batch})
        except httpx.TimeoutException as exc:
            raise _RetryableError(f"no answer within {self.timeout:g}s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _RetryableError(f"connection failed ({type(exc).__name__}: {exc})") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            wait = _retry_after_seconds(response.headers.get("Retry-After"))
            raise _RetryableError(f"HTTP {status}: {_server_message(response)}", wait=wait)
        if status >= 400:
            raise ExternalServiceError(
                f"{where} refused the request with HTTP {status}: {_server_message(response)}",
                hint=_CLIENT_ERROR_HINTS.get(status, "check the NOCAI_EMBEDDING_* settings"),
            )
        if status != 200:
            raise ExternalServiceError(
                f"{where} answered HTTP {status} instead of 200 with embeddings",
                hint="check NOCAI_EMBEDDING_URL: it must be an OpenAI-compatible /embeddings endpoint",
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ExternalServiceError(
                f"{where} answered HTTP 200 with a body that is not JSON "
                f"({response.headers.get('content-type', 'no content-type')})",
                hint="check NOCAI_EMBEDDING_URL: it must be an OpenAI-compatible /embeddings endpoint",
            ) from exc

    def _parse(self, payload: Any, expected: int, where: str, first: int) -> np.ndarray:
        def malformed(detail: str) -> ExternalServiceError:
            return ExternalServiceError(
                f"{where} sent a malformed embeddings response: {detail}",
                hint="check NOCAI_EMBEDDING_URL: it must be an OpenAI-compatible /embeddings endpoint",
            )

        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise malformed('no "data" list')
        if len(data) != expected:
            raise malformed(f"{len(data)} embeddings for {expected} texts")
        if not all(isinstance(item, dict) for item in data):
            raise malformed('an item of "data" is not an object')
        has_index = ["index" in item for item in data]
        if all(has_index):
            indexes = [item["index"] for item in data]
            if not all(type(i) is int for i in indexes) or sorted(indexes) != list(range(expected)):
                raise malformed(f'the "index" fields are not 0..{expected - 1}, each once')
        elif not any(has_index):
            indexes = list(range(expected))
        else:
            raise malformed('some items have an "index" and some do not')

        rows: list[Any] = [None] * expected
        for index, item in zip(indexes, data, strict=True):
            vector = item.get("embedding")
            if not isinstance(vector, list) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in vector
            ):
                raise malformed(f'item {index} has no "embedding" list of numbers')
            if len(vector) != self.dimension:
                raise ExternalServiceError(
                    f"{where} returned {len(vector)}-dimensional vectors for model {self.model_name!r}, "
                    f"but NOCAI_EMBEDDING_DIMENSION is {self.dimension}",
                    hint=f"set NOCAI_EMBEDDING_DIMENSION={len(vector)} if that model is intended "
                    "(vectors already stored with another dimension must then be re-embedded)",
                )
            rows[index] = vector
        with np.errstate(over="ignore"):
            matrix = np.asarray(rows, dtype=np.float64)
        try:
            return normalise_rows(matrix, source=where, error=ExternalServiceError)
        except ExternalServiceError as exc:
            raise ExternalServiceError(
                f"{exc.message} (batch starting at text {first})",
                hint="the endpoint or its model is misbehaving; nothing was stored for these texts",
            ) from exc
