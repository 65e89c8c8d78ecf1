"""Request bodies and parameters, read the same way by every blueprint.

Raises ``ValidationError`` (400) for a malformed body or an unknown
parameter, and ``RequestEntityTooLarge`` (413) for a body over the limit,
chunked or not, so nothing is written for either.
"""

from __future__ import annotations

import json
from collections.abc import Set
from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from abflask.core.conditions import MAX_ATTRIBUTE_BYTES, check_attributes
from abflask.core.fields import fail, parse_json_body
from abflask.errors import ValidationError

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
"""Content types whose body is read as form fields (unless it is a JSON object)."""


def raw_body() -> bytes:
    """The whole body; 413 when it is over ``MAX_CONTENT_LENGTH``.

    Werkzeug stops reading a body without ``Content-Length`` (chunked) at the
    limit and hands back the first ``limit`` bytes as if that were all; one
    more byte from the server's stream tells a cut body from one that fits.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(raw) >= limit:
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return raw


def json_body() -> Any:
    """The request body parsed as JSON, whatever the Content-Type says."""
    return parse_json_body(raw_body())


def params(allowed: Set[str]) -> dict[str, Any]:
    """Query arguments, overlaid by a form or JSON body on POST.

    A parameter outside ``allowed`` (a typo such as ``experimnt``) or given
    twice is a 400 naming it, never silently ignored.
    """
    found: dict[str, Any] = {}
    sources: list[Any] = [request.args]
    body = raw_body().strip() if request.method == "POST" else b""
    if body.startswith(b"{") or (body and request.mimetype not in FORM_TYPES):
        parsed = json_body()  # JSON whatever the Content-Type (curl -d sends a form's)
        if not isinstance(parsed, dict):
            raise ValidationError("body", "body: must be a JSON object")
        sources.append(parsed)
    elif body:
        if request.files:
            name = next(iter(request.files))
            raise ValidationError(name, f"{name}: files are not accepted")
        sources.append(request.form)
    for source in sources:
        multi = getattr(source, "getlist", None)
        for name in source:
            if name not in allowed:
                shown = _shown(name)
                raise ValidationError(shown, f"{shown}: unknown parameter")
            if multi is not None and len(multi(name)) > 1:
                raise ValidationError(name, f"{name}: given more than once")
            found[name] = source[name]
    return found


def parse_attributes(raw: Any, path: str = "attributes") -> dict[str, Any]:
    """A user's attributes: a JSON object, or its JSON text (a query string or
    form parameter); ``{}`` when absent.

    Raises ValidationError naming ``path`` for text that is not JSON, and
    ``path.<part>`` for a part over ``check_attributes``' bounds.
    """
    if raw is None:
        return {}
    if isinstance(raw, str):
        if len(raw) > 4 * MAX_ATTRIBUTE_BYTES:  # bounds the parse; exact check below
            raise fail(path, f"must be at most {MAX_ATTRIBUTE_BYTES} bytes as JSON")
        try:
            raw = json.loads(raw)
        except RecursionError:
            raise fail(path, "JSON nested too deeply") from None
        except ValueError:
            raise fail(path, "not valid JSON (a URL-encoded JSON object)") from None
    return check_attributes(raw, path)


def parse_phase(raw: str | None) -> int | None:
    """A ``phase`` parameter: a phase index (0 is the first), None when absent."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 6:
        raise ValidationError("phase", "phase: must be a phase index: 0 for the first")
    return int(raw)


def _shown(name: str) -> str:
    """A client-chosen name, safe and short enough to echo in an error."""
    return name if len(name) <= 64 and name.isprintable() else repr(name[:64])
