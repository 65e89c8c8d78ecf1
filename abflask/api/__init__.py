"""HTTP API blueprints, one per area; each module's blueprint is ``bp``."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from abflask.errors import ValidationError


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint to ``app``."""
    from abflask.api import admin, assign, events, ops, sdk

    for module in (assign, events, admin, sdk, ops):
        app.register_blueprint(module.bp)


def json_body() -> Any:
    """The request body parsed as JSON, whatever the Content-Type says.

    Raises ValidationError (400) for an empty or malformed body, so nothing is
    written for it.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ValidationError("body", "body: a JSON object is required")
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise ValidationError("body", "body: not valid JSON")
    return body
