"""The one exception hierarchy of nocai.

Every error a user can cause or meet derives from :class:`NocaiError` and carries a message that says what
was wrong and what to do about it. The CLI turns these into exit codes and the API into HTTP statuses, each in
one place, by reading the class attributes below; nothing else inspects exception types.

    NocaiError                      exit 1, HTTP 500
    ├── ConfigurationError          exit 2, HTTP 500   a setting is missing, malformed or unsafe
    ├── InputError                  exit 2, HTTP 422   a file or payload the user gave is malformed
    │   ├── AlertFormatError                           an alert payload is not of the declared format
    │   └── PayloadTooLargeError            HTTP 413   a request body over the size limit
    ├── AuthenticationError         exit 7, HTTP 401   no token, or one that is unknown, revoked or badly signed
    ├── PermissionDeniedError       exit 7, HTTP 403   the token's role may not do this
    ├── NotFoundError               exit 3, HTTP 404   a named incident, runbook, step ... does not exist
    ├── ConflictError               exit 4, HTTP 409   the request contradicts the current state
    │   └── InvalidTransitionError                     e.g. executing a resolution that was never accepted
    ├── DatabaseError               exit 5, HTTP 503   the database is unreachable or not as expected
    │   ├── DatabaseUnavailableError                   cannot connect / embedded server will not start
    │   ├── ExtensionError                             pgvector missing or older than required
    │   ├── SchemaNotReadyError     exit 2             not initialised or not migrated yet (run `nocai db init`)
    │   ├── EmbeddingModelMismatchError                stored vectors come from another model/dimension
    │   └── MigrationError                             a migration cannot be applied or is refused
    │       ├── MigrationChecksumError                 an applied file was edited afterwards
    │       ├── MigrationMissingError                  an applied file was deleted or renamed
    │       ├── MigrationOrderError                    two files share a number / bad file name
    │       ├── MigrationLockTimeout                   another runner holds the lock too long
    │       ├── MigrationFailedError                   a statement failed (file and line named)
    │       └── MigrationNeedsRepairError              a non-transactional file failed half-way
    └── ExternalServiceError        exit 6, HTTP 502   the embedding or LLM endpoint failed
        └── ChatError                                  the optional LLM's chat call failed (never fatal)

Each class also has a stable ``code`` (``invalid_input``, ``not_found`` ...) that the API returns with the
message and the fix, so that clients can act on the kind of error without parsing the text.

Private exceptions that never leave their module (a retry signal inside a client, say) may derive from
``Exception`` directly; anything that can reach a caller derives from ``NocaiError``.
"""

from __future__ import annotations


class NocaiError(Exception):
    """Base of every error nocai raises on purpose."""

    exit_code: int = 1
    http_status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class ConfigurationError(NocaiError):
    code = "configuration_error"
    exit_code = 2


class InputError(NocaiError):
    code = "invalid_input"
    exit_code = 2
    http_status = 422


class AlertFormatError(InputError):
    """An alert payload does not match the format it was declared (or detected) as."""

    code = "invalid_alert_payload"


class PayloadTooLargeError(InputError):
    """A request body larger than the configured limit (NOCAI_MAX_BODY_BYTES)."""

    http_status = 413
    code = "payload_too_large"


class AuthenticationError(NocaiError):
    """The request carries no token, or one that is unknown, revoked, or a webhook signature that does not match."""

    exit_code = 7
    http_status = 401
    code = "unauthenticated"


class PermissionDeniedError(NocaiError):
    """The caller is known, but its role may not do this."""

    exit_code = 7
    http_status = 403
    code = "forbidden"


class NotFoundError(NocaiError):
    code = "not_found"
    exit_code = 3
    http_status = 404


class ConflictError(NocaiError):
    code = "conflict"
    exit_code = 4
    http_status = 409


class InvalidTransitionError(ConflictError):
    code = "invalid_transition"


class DatabaseError(NocaiError):
    code = "database_error"
    exit_code = 5
    http_status = 503


class DatabaseUnavailableError(DatabaseError):
    code = "database_unavailable"


class ExtensionError(DatabaseError):
    code = "pgvector_missing"


class SchemaNotReadyError(DatabaseError):
    """The database is not initialised, or not migrated to this version: the user runs a command to fix it."""

    code = "schema_not_ready"
    exit_code = 2


class EmbeddingModelMismatchError(DatabaseError):
    code = "embedding_model_mismatch"


class MigrationError(DatabaseError):
    code = "migration_error"


class MigrationChecksumError(MigrationError):
    code = "migration_changed"


class MigrationMissingError(MigrationError):
    code = "migration_missing"


class MigrationOrderError(MigrationError):
    code = "migration_order"


class MigrationLockTimeout(MigrationError):
    code = "migration_lock_timeout"


class MigrationFailedError(MigrationError):
    code = "migration_failed"


class MigrationNeedsRepairError(MigrationError):
    code = "migration_needs_repair"


class ExternalServiceError(NocaiError):
    code = "external_service_error"
    exit_code = 6
    http_status = 502


class ChatError(ExternalServiceError):
    """A failed call to the optional LLM. ``reason`` is safe to return and log: no key, no prompt, no server
    text. Triage catches it and keeps its deterministic result."""

    code = "llm_error"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the LLM endpoint failed: {reason}",
            hint="check NOCAI_LLM_URL, NOCAI_LLM_MODEL and NOCAI_LLM_API_KEY, or unset NOCAI_LLM_URL",
        )
        self.reason = reason
