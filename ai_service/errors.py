"""The one exception hierarchy of nocai.

Every error a user can cause or meet derives from :class:`NocaiError` and carries a message that says what
was wrong and what to do about it. The CLI turns these into exit codes and the API into HTTP statuses, each in
one place, by reading the class attributes below; nothing else inspects exception types.

    NocaiError                      exit 1, HTTP 500
    ├── ConfigurationError          exit 2, HTTP 500   a setting is missing, malformed or unsafe
    ├── InputError                  exit 2, HTTP 422   a file or payload the user gave is malformed
    │   └── AlertFormatError                           an alert payload is not of the declared format
    ├── NotFoundError               exit 3, HTTP 404   a named incident, runbook, step ... does not exist
    ├── ConflictError               exit 4, HTTP 409   the request contradicts the current state
    │   └── InvalidTransitionError                     e.g. executing a resolution that was never accepted
    ├── DatabaseError               exit 5, HTTP 503   the database is unreachable or not as expected
    │   ├── DatabaseUnavailableError                   cannot connect / embedded server will not start
    │   ├── ExtensionError                             pgvector missing or older than required
    │   ├── SchemaNotReadyError                        a table the operation needs is missing
    │   ├── EmbeddingModelMismatchError                stored vectors come from another model/dimension
    │   └── MigrationError                             a migration cannot be applied or is refused
    │       ├── MigrationChecksumError                 an applied file was edited afterwards
    │       ├── MigrationMissingError                  an applied file was deleted or renamed
    │       ├── MigrationOrderError                    two files share a number / bad file name
    │       ├── MigrationLockTimeout                   another runner holds the lock too long
    │       ├── MigrationFailedError                   a statement failed (file and line named)
    │       └── MigrationNeedsRepairError              a non-transactional file failed half-way
    └── ExternalServiceError        exit 6, HTTP 502   the embedding or LLM endpoint failed
"""

from __future__ import annotations


class NocaiError(Exception):
    """Base of every error nocai raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class ConfigurationError(NocaiError):
    exit_code = 2


class InputError(NocaiError):
    exit_code = 2
    http_status = 422


class AlertFormatError(InputError):
    """An alert payload does not match the format it was declared (or detected) as."""


class NotFoundError(NocaiError):
    exit_code = 3
    http_status = 404


class ConflictError(NocaiError):
    exit_code = 4
    http_status = 409


class InvalidTransitionError(ConflictError):
    pass


class DatabaseError(NocaiError):
    exit_code = 5
    http_status = 503


class DatabaseUnavailableError(DatabaseError):
    pass


class ExtensionError(DatabaseError):
    pass


class SchemaNotReadyError(DatabaseError):
    pass


class EmbeddingModelMismatchError(DatabaseError):
    pass


class MigrationError(DatabaseError):
    pass


class MigrationChecksumError(MigrationError):
    pass


class MigrationMissingError(MigrationError):
    pass


class MigrationOrderError(MigrationError):
    pass


class MigrationLockTimeout(MigrationError):
    pass


class MigrationFailedError(MigrationError):
    pass


class MigrationNeedsRepairError(MigrationError):
    pass


class ExternalServiceError(NocaiError):
    exit_code = 6
    http_status = 502
