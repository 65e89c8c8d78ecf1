"""Every exception abflask raises, and the HTTP status each one maps to.

The tree::

    AbflaskError
    ├── ConfigError          bad environment or settings (not an HTTP error)
    ├── LocalRedisError      the private redis-server could not be started
    ├── ValidationError      400, carries the offending ``field``
    ├── AuthError            401 (no or wrong credentials) or 403 (disabled)
    ├── NotFoundError        404
    ├── ConflictError        409, e.g. an illegal status change
    └── StorageUnavailable   503, wraps the Redis error that caused it

Nothing here imports Flask or redis, so the pure modules may raise these too.
"""

from __future__ import annotations


class AbflaskError(Exception):
    """Base class: ``code`` names the error in JSON bodies, ``status`` is HTTP."""

    code = "error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON body of an error response."""
        return {"error": self.code, "message": self.message}


class ConfigError(AbflaskError):
    """One or more configuration values are missing or malformed."""

    code = "config_error"


class LocalRedisError(AbflaskError):
    """The private redis-server binary is missing or did not come up."""

    code = "local_redis_error"


class ValidationError(AbflaskError):
    """A request is malformed; ``field`` names the part that is wrong."""

    code = "invalid"
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message, "field": self.field}


class AuthError(AbflaskError):
    """Credentials are missing or wrong (401), or the API is disabled (403)."""

    code = "unauthorized"
    status = 401

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status
        if status == 403:
            self.code = "forbidden"


class NotFoundError(AbflaskError):
    """The named experiment or flag does not exist."""

    code = "not_found"
    status = 404


class ConflictError(AbflaskError):
    """The request is well-formed but clashes with the current state."""

    code = "conflict"
    status = 409


class StorageUnavailable(AbflaskError):
    """Redis could not be reached or answered with an error.

    ``original`` keeps the redis-py exception for logs.
    """

    code = "storage_unavailable"
    status = 503

    def __init__(self, message: str, original: BaseException | None = None) -> None:
        super().__init__(message)
        self.original = original
