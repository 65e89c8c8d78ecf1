"""Request bodies and parameters, read the same way by every blueprint.

Raises ``ValidationError`` (400) for a malformed body, so nothing is written
for it.
"""

from __future__ import annotations

from typing import Any

from flask import request

from abflask.errors import ValidationError


def json_body() -> Any:
    """The request body parsed as JSON, whatever the Content-Type says."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ValidationError("body", "body: a JSON object is required")
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise ValidationError("body", "body: not valid JSON")
    return body


def params() -> dict[str, Any]:
    """Query arguments, overlaid by a form or JSON body on POST."""
    found: dict[str, Any] = dict(request.args.items())
    if request.method == "POST":
        if request.form:
            found.update(request.form.items())
        elif request.get_data(cache=True).strip():
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                raise ValidationError("body", "body: must be a JSON object")
            found.update(body)
    return found
