"""Request fields: pure parse functions shared by every model.

Each returns the parsed value or raises ``ValidationError`` whose ``field`` is
the path of the offending part (``events[3].value``). No I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from abflask.errors import ValidationError

KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""Experiment and flag keys (they appear in Redis keys and URLs)."""

EVENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
"""Event keys; a leading ``$`` is reserved for the service (``$exposure``)."""

MAX_USER_ID = 256
"""Characters in a user id."""
MAX_STRING = 256
"""Characters in a property value, an event id or a seed."""


def fail(path: str, message: str) -> ValidationError:
    """The error for ``path``; the message starts with the path too."""
    return ValidationError(path, f"{path}: {message}")


def parse_key(raw: Any, path: str = "key") -> str:
    """A safe slug: 1-64 of ``A-Z a-z 0-9 _ . -``."""
    if not isinstance(raw, str) or not KEY_RE.fullmatch(raw):
        raise fail(path, "must be 1-64 characters of A-Z a-z 0-9 _ . -")
    return raw


def parse_user_id(raw: Any, path: str = "user_id") -> str:
    """1-256 printable characters; JSON integers are accepted as their digits."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if raw is None or raw == "":
        raise fail(path, "is required")
    if not isinstance(raw, str):
        raise fail(path, "must be a string")
    if len(raw) > MAX_USER_ID:
        raise fail(path, f"must be at most {MAX_USER_ID} characters")
    if not raw.isprintable():
        raise fail(path, "must contain only printable characters")
    return raw


def text(raw: Any, path: str, limit: int) -> str:
    """1 to ``limit`` printable characters."""
    if not isinstance(raw, str) or not raw or len(raw) > limit:
        raise fail(path, f"must be a string of 1-{limit} characters")
    if not raw.isprintable():
        raise fail(path, "must contain only printable characters")
    return raw


def as_float(raw: int | float) -> float:
    """``raw`` as a float; an integer beyond float range becomes an infinity.

    ``float(10**400)`` raises ``OverflowError``: callers reject infinities
    anyway, so they get one value to check instead of an exception.
    """
    try:
        return float(raw)
    except OverflowError:
        return math.inf if raw > 0 else -math.inf


def number(raw: Any, path: str, low: float, high: float) -> float:
    """A finite JSON number (not a boolean) within [low, high]."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise fail(path, "must be a number")
    value = as_float(raw)
    if not math.isfinite(value) or not low <= value <= high:
        raise fail(path, f"must be a finite number between {low:g} and {high:g}")
    return value


def check_fields(payload: Any, allowed: set[str], path: str) -> Mapping[str, Any]:
    """A JSON object with no fields outside ``allowed`` (typos are errors)."""
    if not isinstance(payload, dict):
        raise fail(path or "body", "must be a JSON object")
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise fail(f"{path}.{unknown[0]}" if path else unknown[0], "unknown field")
    return payload


def parse_event_key(raw: Any, path: str = "event") -> str:
    """1-64 of ``A-Z a-z 0-9 _ . : -``, not starting with ``$``, ``.``, ``:``, ``-``."""
    if not isinstance(raw, str) or not EVENT_RE.fullmatch(raw):
        raise fail(path, "must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return raw


def parse_json_body(raw: bytes | str) -> Any:
    """A request body (or the CLI's ``--json``) parsed as JSON.

    Raises ValidationError naming ``body`` when it is empty, nested too deeply
    for the parser, or not valid JSON (including bytes that are not UTF-8).
    """
    if not raw.strip():
        raise fail("body", "a JSON object is required")
    try:
        return json.loads(raw)
    except RecursionError:
        raise fail("body", "JSON nested too deeply") from None
    except ValueError:  # also UnicodeDecodeError
        raise fail("body", "not valid JSON") from None
