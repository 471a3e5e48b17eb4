"""What every embedder shares: the :class:`Embedder` protocol, :func:`content_hash`, the query cache and the
checks every vector passes before it is returned (finite, non-zero, unit length).

What this module must never do: return a placeholder for a text it could not embed, or log a text.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ai_service.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_QUERY_CACHE_SIZE = 1024


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


class QueryCache:
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


def check_texts(texts: Sequence[str]) -> list[str]:
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


def normalise_rows(matrix: np.ndarray, *, source: str, error: type[Exception]) -> np.ndarray:
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
    unit: np.ndarray = (values / norms[:, None]).astype(np.float32)
    return unit


class EmbedderBase:
    """What both providers share: input checks, empty input, output checks and the query cache."""

    model_name: str
    dimension: int

    def __init__(self, *, query_cache_size: int) -> None:
        self._query_cache = QueryCache(query_cache_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        checked = check_texts(texts)
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
        (vector,) = self.embed([text])
        self._query_cache.put(text, vector)
        return np.asarray(vector, dtype=np.float32)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError
