"""Tracked events as values: one event, or a batch, parsed and bounded.

Pure: no I/O and no clock (callers pass ``now``). A batch is validated whole
before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from abflask.core.fields import (
    MAX_STRING,
    as_float,
    check_fields,
    fail,
    number,
    parse_event_key,
    parse_user_id,
    text,
)

MAX_PROPERTIES = 20
"""Keys in one event's ``properties``."""
MAX_ABS_VALUE = 1e15
"""Largest magnitude of an event ``value``; keeps sums of squares finite."""
MIN_TIMESTAMP = 946_684_800.0
"""2000-01-01 in epoch seconds: older event timestamps are rejected."""
MAX_FUTURE = 86_400.0
"""Seconds an event timestamp may lie ahead of the server clock."""
EVENT_FIELDS = {"user_id", "event", "value", "properties", "event_id", "timestamp"}


@dataclass(frozen=True)
class Event:
    """One tracked event, validated.

    >>> Event(user_id="u1", event="purchase", value=19.99, timestamp=1.7e9).value
    19.99
    """

    user_id: str
    event: str
    timestamp: float
    value: float | None = None
    properties: Mapping[str, Any] | None = None
    event_id: str | None = None


def _properties(raw: Any, path: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail(path, "must be a flat JSON object")
    if len(raw) > MAX_PROPERTIES:
        raise fail(path, f"must have at most {MAX_PROPERTIES} keys")
    for name, value in raw.items():
        if not 1 <= len(name) <= 64:
            raise fail(path, "keys must be 1-64 characters")
        where = f"{path}.{name}"
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise fail(where, f"must be at most {MAX_STRING} characters")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(as_float(value)):
                raise fail(where, "must be a finite number")
        elif value is not None and not isinstance(value, bool):
            raise fail(where, "must be a string, number, boolean or null")
    return raw or None


def _timestamp(raw: Any, path: str, now: float) -> float:
    """Epoch seconds from 2000 to a day ahead; milliseconds are named as such."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise fail(path, "must be a number of epoch seconds")
    value = as_float(raw)
    latest = now + MAX_FUTURE
    if MIN_TIMESTAMP * 1000 <= value <= latest * 1000:
        raise fail(path, "must be epoch seconds, not milliseconds (divide by 1000)")
    if not math.isfinite(value) or not MIN_TIMESTAMP <= value <= latest:
        raise fail(path, "must be epoch seconds from 2000-01-01 to a day ahead")
    return value


def parse_event(payload: Any, now: float, path: str = "") -> Event:
    """Validate one event object; ``path`` prefixes field names in errors."""
    body = check_fields(payload, EVENT_FIELDS, path.rstrip("."))
    prefix = f"{path}." if path and not path.endswith(".") else path
    value = body.get("value")
    event_id = body.get("event_id")
    timestamp = body.get("timestamp")
    return Event(
        user_id=parse_user_id(body.get("user_id"), f"{prefix}user_id"),
        event=parse_event_key(body.get("event"), f"{prefix}event"),
        timestamp=now
        if timestamp is None
        else _timestamp(timestamp, f"{prefix}timestamp", now),
        value=None
        if value is None
        else number(value, f"{prefix}value", -MAX_ABS_VALUE, MAX_ABS_VALUE),
        properties=_properties(body.get("properties"), f"{prefix}properties"),
        event_id=None
        if event_id is None
        else text(event_id, f"{prefix}event_id", MAX_STRING),
    )


def parse_batch(payload: Any, now: float, limit: int) -> list[Event]:
    """Validate a ``{"events": [...]}`` body of 1 to ``limit`` events."""
    body = check_fields(payload, {"events"}, "")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise fail("events", "must be a non-empty list of events")
    if len(events) > limit:
        raise fail("events", f"must hold at most {limit} events, got {len(events)}")
    return [parse_event(e, now, f"events[{i}]") for i, e in enumerate(events)]
