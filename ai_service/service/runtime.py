"""What a nocai service process holds: the database (migrated and checked), one connection pool, the embedder,
the policy and, when asked for, the triage workers — and how it lets go of them.

Used by ``python -m ai_service.main`` (HTTP service and workers) and by ``nocai worker`` (workers alone).
``close()`` stops the workers (in-flight triages finish or are released), closes the pool, and releases the
embedded PostgreSQL this process started or joined, which stops it when no other nocai process uses it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from ai_service.config import Settings
from ai_service.errors import ConfigurationError, NocaiError
from ai_service.knowledge.embeddings import Embedder, create_embedder
from ai_service.policy.models import Policy
from ai_service.policy.service import policy_from_settings
from ai_service.service.worker import Triager, WorkerPool
from db import migrate, vectors
from db.connection import check_pgvector, connect, create_pool, database_url, describe_url, release_embedded

logger = logging.getLogger(__name__)


def check_bind(settings: Settings) -> None:
    """Refuse the open (token-less) mode anywhere but on a loopback address."""
    if settings.open_access and not settings.binds_loopback:
        raise ConfigurationError(
            f"NOCAI_OPEN_ACCESS=true serves every caller as an admin, and NOCAI_HOST={settings.host} is reachable "
            "from other machines",
            hint="unset NOCAI_OPEN_ACCESS and give callers tokens (`nocai tokens create`), or bind to 127.0.0.1",
        )


def prepare_database(settings: Settings) -> str:
    """Migrate (under the runners' lock) and check pgvector and the embedding model; returns the URL."""
    url = database_url(settings)
    report = migrate.migrate(url)
    for name, ms in report.applied:
        logger.info("applied migration %s (%.0f ms)", name, ms)
    with connect(url, settings=settings, autocommit=True) as conn:
        check_pgvector(conn)
        vectors.align_empty_store(conn, model=settings.embedding_model, dimension=settings.embedding_dimension)
        vectors.check_embedding_model(conn, model=settings.embedding_model, dimension=settings.embedding_dimension)
    logger.info("database ready: %s", describe_url(url))
    return url


@dataclass
class Runtime:
    settings: Settings
    url: str
    pool: ConnectionPool
    policy: Policy
    workers: WorkerPool | None = None
    _embedder: Embedder | None = None
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    @classmethod
    def start(cls, settings: Settings, *, workers: int | None = None) -> Runtime:
        """Prepare the database and open the pool; start ``workers`` threads (default NOCAI_WORKERS)."""
        check_bind(settings)
        policy = policy_from_settings(settings)  # a bad policy file stops the start, before anything opens
        url = prepare_database(settings)
        pool = create_pool(settings, url=url)
        runtime = cls(settings=settings, url=url, pool=pool, policy=policy)
        count = settings.workers if workers is None else workers
        if count > 0:
            runtime.warm_up()
            runtime.workers = WorkerPool(Triager(settings, runtime.embedder, policy), url, pool, count)
            runtime.workers.start()
        return runtime

    @property
    def embedder(self) -> Embedder:
        """The configured embedder, created once per process (its model loads on first use)."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = create_embedder(self.settings)
            return self._embedder

    def warm_up(self) -> None:
        """Load the embedding model now, so that the first alert is not the slow one. A failure (an embedding
        endpoint that is down) is logged, not fatal: the workers retry their items until it is back."""
        try:
            self.embedder.embed_query("warm up")
        except NocaiError as exc:
            logger.warning("the embedding model could not be warmed up: %s", exc.message)

    def close(self) -> None:
        """Stop the workers, close the pool, release the embedded server; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.workers is not None:
            self.workers.stop()
        self.pool.close()
        release_embedded()
        logger.info("stopped")
