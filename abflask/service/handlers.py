"""Error answers: every answer the app can shape is JSON, with its HTTP status.

Views raise; these handlers answer. A domain error (``abflask.errors``)
becomes ``{"error", "message", "field"?}`` with its status; any other HTTP
error becomes ``{"error", "message"}`` with its headers (``Allow`` on a 405).
``OPTIONS`` answers JSON too, and a slash redirect never names a host.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import RequestRedirect

from abflask.errors import AbflaskError, StorageUnavailable

logger = logging.getLogger(__name__)

UNAVAILABLE = "storage unavailable; retry shortly"
"""What a 503 tells the client: the cause (Redis' address among it) is logged."""


def register(app: Flask) -> None:
    """Answer every error, ``OPTIONS`` and slash redirects as JSON."""
    app.before_request(_options_and_redirects)

    @app.errorhandler(AbflaskError)
    def domain_error(exc: AbflaskError) -> tuple[dict[str, str], int, dict[str, str]]:
        headers = {}
        body = exc.to_dict()
        if isinstance(exc, StorageUnavailable):
            logger.warning("storage unavailable: %s", exc.original or exc)
            headers["Retry-After"] = "1"
            body["message"] = UNAVAILABLE
        return body, exc.status, headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[dict[str, str], int, list[Any]]:
        if isinstance(exc, InternalServerError):
            logger.error("unhandled error", exc_info=exc.original_exception)
        code = (exc.name or "error").lower().replace(" ", "_")
        headers = [h for h in exc.get_headers() if h[0].lower() != "content-type"]
        return (
            {"error": code, "message": exc.description or ""},
            exc.code or 500,
            headers,
        )


def _options_and_redirects() -> Response | None:
    """Before any view: answer ``OPTIONS`` and slash redirects here, as JSON.

    Flask answers both itself, outside the error handlers: ``OPTIONS`` with
    an empty HTML body, a redirect (``/experiments//x``) with an HTML page
    and an absolute ``Location`` built from the client's ``Host`` header.
    """
    redirect = request.routing_exception
    if isinstance(redirect, RequestRedirect):
        target = urlsplit(redirect.new_url)
        location = target.path + (f"?{target.query}" if target.query else "")
        answer = jsonify(error="moved", message=f"use {location}", location=location)
        answer.status_code = redirect.code
        answer.headers["Location"] = location  # relative: no Host reflected
        answer.autocorrect_location_header = False
        return answer
    if request.method == "OPTIONS" and redirect is None:
        allowed = sorted(request_ctx.url_adapter.allowed_methods())  # type: ignore[union-attr]
        answer = jsonify(allow=allowed)
        answer.headers["Allow"] = ", ".join(allowed)
        return answer
    return None
