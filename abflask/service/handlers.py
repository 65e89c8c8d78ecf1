"""Error answers: every error the app can shape is JSON, with its HTTP status.

Views raise; these handlers answer. A domain error (``abflask.errors``)
becomes ``{"error", "message", "field"?}`` with its status; any other HTTP
error becomes ``{"error", "message"}``.
"""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.exceptions import HTTPException, InternalServerError

from abflask.errors import AbflaskError, StorageUnavailable

logger = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Answer every error as JSON: domain errors and HTTP errors alike."""

    @app.errorhandler(AbflaskError)
    def domain_error(exc: AbflaskError) -> tuple[dict[str, str], int, dict[str, str]]:
        headers = {}
        if isinstance(exc, StorageUnavailable):
            logger.warning("storage unavailable: %s", exc.original or exc)
            headers["Retry-After"] = "1"
        return exc.to_dict(), exc.status, headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[dict[str, str], int]:
        if isinstance(exc, InternalServerError):
            logger.error("unhandled error", exc_info=exc.original_exception)
        code = (exc.name or "error").lower().replace(" ", "_")
        return {"error": code, "message": exc.description or ""}, exc.code or 500
