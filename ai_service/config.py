"""The one settings object of nocai, read from the environment (and an optional ``.env`` file).

Every field has a default and a description; the README's settings table is generated from this class
(``nocai docs settings``) and a test fails when the two differ. Environment names are ``NOCAI_<FIELD>``
except ``DATABASE_URL``, which keeps the name every PostgreSQL tool already uses.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("nocai", appauthor=False))


class Settings(BaseSettings):
    """nocai's configuration. Construct with ``get_settings()``; tests build their own instances."""

    model_config = SettingsConfigDict(env_prefix="NOCAI_", env_file=".env", extra="ignore")

    # --- database ------------------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "NOCAI_DATABASE_URL"),
        description="PostgreSQL (with pgvector >= 0.8) to use, e.g. postgresql://user:pw@host:5432/nocdb. "
        "Unset: an embedded PostgreSQL is started under NOCAI_DATA_DIR.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded PostgreSQL keeps its data (in ./pg) and nocai its local state.",
    )
    db_name: str = Field(
        default="nocdb",
        description="Database created and used on the embedded server (the guide's nocdb).",
    )
    embedded_keep_running: bool = Field(
        default=False,
        description="Leave the embedded server running after the last nocai process exits "
        "(faster repeated CLI calls; stop it with `nocai db stop`).",
    )
    embedded_shared_buffers: str = Field(
        default="512MB",
        pattern=r"^[1-9][0-9]*(kB|MB|GB)$",
        description="shared_buffers of the embedded server (PostgreSQL's own default, 128MB, holds only part of "
        "the HNSW indexes of a large knowledge base). A change applies the next time the embedded server starts.",
    )
    pool_min_size: int = Field(default=1, ge=0, description="Connections the service pool keeps open.")
    pool_max_size: int = Field(default=10, ge=1, description="Most connections the service pool opens.")
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a database connection before failing."
    )
    migration_lock_timeout: float = Field(
        default=60.0,
        ge=0,
        description="Seconds a migration runner waits for another runner's lock before failing (naming the holder).",
    )
    hnsw_ef_search: int = Field(
        default=100, ge=1, le=1000, description="pgvector hnsw.ef_search: HNSW candidate list size per query."
    )
    iterative_scan: Literal["off", "relaxed_order", "strict_order"] = Field(
        default="relaxed_order",
        description="pgvector hnsw/ivfflat iterative_scan: lets filtered vector queries still return k rows.",
    )

    # --- embeddings ----------------------------------------------------------------------------------
    embedding_provider: Literal["local", "openai"] = Field(
        default="local",
        description="`local`: the bundled all-MiniLM-L6-v2 int8 ONNX model on CPU; `openai`: any "
        "OpenAI-compatible /v1/embeddings endpoint (OpenAI, Azure, Ollama, vLLM, a gateway).",
    )
    embedding_model: str = Field(
        default="all-MiniLM-L6-v2-int8",
        description="Embedding model name, recorded in the database beside the vectors it produced.",
    )
    embedding_dimension: int = Field(
        default=384, ge=1, le=16000, description="Dimension of the embedding model's vectors."
    )
    embedding_url: str | None = Field(
        default=None, description="Base URL of the OpenAI-compatible embedding endpoint (provider openai)."
    )
    embedding_api_key: str | None = Field(
        default=None, description="API key sent as a Bearer token to the embedding endpoint."
    )
    embedding_batch_size: int = Field(default=64, ge=1, le=2048, description="Texts per embedding request.")
    embedding_timeout: float = Field(
        default=30.0, gt=0, description="Seconds before an embedding request is abandoned and retried."
    )
    embedding_max_retries: int = Field(
        default=4, ge=0, le=20, description="Retries (with exponential backoff) for a failed embedding request."
    )

    # --- optional LLM --------------------------------------------------------------------------------
    llm_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible chat endpoint (e.g. https://api.openai.com/v1). Unset: no "
        "LLM; triage and resolution stay fully deterministic.",
    )
    llm_model: str = Field(default="gpt-4o-mini", description="Chat model name sent to the LLM endpoint.")
    llm_api_key: str | None = Field(default=None, description="API key sent as a Bearer token to the LLM endpoint.")
    llm_timeout: float = Field(
        default=8.0, gt=0, description="Seconds before an LLM call is abandoned (the deterministic result stands)."
    )

    # --- policy --------------------------------------------------------------------------------------
    policy_file: Path | None = Field(
        default=None,
        description="YAML or JSON policy of ordered bands (AUTO / PROPOSE / REVIEW). Unset: the built-in default.",
    )

    # --- service -------------------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the HTTP service binds to.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port the HTTP service listens on.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of the service and CLI."
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="The service's log lines: `json` (one object per line, with the request id) or `text`.",
    )
    workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Triage workers inside `python -m ai_service.main` (0: none; run `nocai worker` elsewhere).",
    )
    work_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker holds a work item before another may take it (a worker that died).",
    )
    work_max_attempts: int = Field(
        default=5, ge=1, le=100, description="Attempts at triaging an alert before it is set aside as dead."
    )
    work_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often an idle worker looks for work when no notification wakes it."
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        description="On SIGTERM/SIGINT, how long in-flight triages may finish before their items are released.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the API accepts (413 beyond it).",
    )
    open_access: bool = Field(
        default=False,
        description="Serve without API tokens, every caller an admin: for the local demo only, refused unless "
        "NOCAI_HOST is a loopback address.",
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None,
        description="PagerDuty webhook signing secret: when set, X-PagerDuty-Signature must match every body.",
    )
    grafana_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Grafana contact point HMAC secret: when set, the signature header must match every body.",
    )
    grafana_signature_header: str = Field(
        default="X-Grafana-Alerting-Signature", description="Header Grafana puts its HMAC signature in."
    )
    grafana_timestamp_header: str | None = Field(
        default=None,
        description="Header Grafana puts the signing timestamp in, when the contact point is set to send one "
        "(then signatures older than 5 minutes are refused).",
    )

    @field_validator("database_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value

    @property
    def binds_loopback(self) -> bool:
        """Whether the service listens on this machine only."""
        return is_loopback(self.host)

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pg"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
