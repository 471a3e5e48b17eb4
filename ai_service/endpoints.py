"""URLs of OpenAI-compatible endpoints (embeddings, chat), shared by the embedding and LLM clients."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def endpoint_url(base_url: str, suffix: str) -> str | None:
    """``https://host/v1`` + ``/embeddings`` → ``https://host/v1/embeddings``; None unless http(s).

    A URL that already ends in ``suffix`` is kept as is; a query string (Azure's ``?api-version=``) is kept.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path.rstrip("/")
    if not path.endswith(suffix):
        path = f"{path}{suffix}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def display_url(url: str) -> str:
    """The URL without credentials or query string (a gateway may put a key there), for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
