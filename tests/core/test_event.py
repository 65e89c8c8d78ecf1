"""Tests for abflask.core.event: one event and batches, parsed and bounded. Pure."""

from __future__ import annotations

import math
from typing import Any

import pytest

from abflask.core.event import parse_batch, parse_event
from abflask.errors import ValidationError

NOW = 1_700_000_000.0
MISSING = object()
"""Marks a field to leave out of a payload built by ``event``."""


def event(**changes: Any) -> dict[str, Any]:
    """A minimal valid event with ``changes`` applied."""
    payload: dict[str, Any] = {"user_id": "u1", "event": "purchase"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not MISSING}


# --- parse_event -------------------------------------------------------------


def test_event_timestamp_defaults_to_now() -> None:
    assert parse_event(event(), now=NOW).timestamp == NOW


def test_event_keeps_given_fields() -> None:
    ev = parse_event(
        event(
            value=19.99, properties={"plan": "pro"}, event_id="e1", timestamp=NOW - 5
        ),
        now=NOW,
    )
    assert (ev.value, ev.properties, ev.event_id, ev.timestamp) == (
        19.99,
        {"plan": "pro"},
        "e1",
        NOW - 5,
    )


def test_event_accepts_flat_property_values() -> None:
    properties = {"s": "x" * 256, "i": 3, "f": 1.5, "b": True, "n": None}
    assert parse_event(event(properties=properties), now=NOW).properties == properties


def test_event_int_user_id_becomes_a_string() -> None:
    assert parse_event(event(user_id=42), now=NOW).user_id == "42"


def test_event_accepts_a_timestamp_a_day_ahead() -> None:
    assert parse_event(event(timestamp=NOW + 86_400), now=NOW).timestamp == NOW + 86_400


INVALID_EVENTS = [
    ("user-id-missing", event(user_id=MISSING), "user_id"),
    ("user-id-empty", event(user_id=""), "user_id"),
    ("user-id-257-chars", event(user_id="u" * 257), "user_id"),
    ("user-id-newline", event(user_id="a\nb"), "user_id"),
    ("user-id-bool", event(user_id=True), "user_id"),
    ("user-id-float", event(user_id=1.5), "user_id"),
    ("event-missing", event(event=MISSING), "event"),
    ("event-dollar", event(event="$exposure"), "event"),
    ("event-space", event(event="a b"), "event"),
    ("event-65-chars", event(event="e" * 65), "event"),
    ("value-nan", event(value=math.nan), "value"),
    ("value-inf", event(value=math.inf), "value"),
    ("value-string", event(value="3"), "value"),
    ("value-bool", event(value=True), "value"),
    ("value-1e16", event(value=1e16), "value"),
    ("value-beyond-float-range", event(value=10**400), "value"),
    ("value-beyond-float-range-negative", event(value=-(10**400)), "value"),
    ("properties-not-object", event(properties=["a"]), "properties"),
    (
        "properties-21-keys",
        event(properties={f"k{i}": i for i in range(21)}),
        "properties",
    ),
    ("properties-nested", event(properties={"k": {"a": 1}}), "properties.k"),
    ("properties-list-value", event(properties={"k": [1]}), "properties.k"),
    ("properties-nan", event(properties={"k": math.nan}), "properties.k"),
    ("properties-huge-int", event(properties={"k": 10**400}), "properties.k"),
    ("properties-257-chars", event(properties={"k": "v" * 257}), "properties.k"),
    ("properties-empty-key", event(properties={"": 1}), "properties"),
    ("event-id-empty", event(event_id=""), "event_id"),
    ("event-id-int", event(event_id=7), "event_id"),
    ("timestamp-before-2000", event(timestamp=946_684_799.0), "timestamp"),
    ("timestamp-over-a-day-ahead", event(timestamp=NOW + 86_401), "timestamp"),
    ("timestamp-string", event(timestamp="2024-01-01"), "timestamp"),
    ("timestamp-beyond-float-range", event(timestamp=10**400), "timestamp"),
    ("timestamp-bool", event(timestamp=True), "timestamp"),
    ("unknown-field", event(ts=NOW), "ts"),
]


@pytest.mark.parametrize(
    ("payload", "field"),
    [case[1:] for case in INVALID_EVENTS],
    ids=[case[0] for case in INVALID_EVENTS],
)
def test_invalid_event_names_the_bad_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(payload, now=NOW)
    assert info.value.field == field


@pytest.mark.parametrize(
    "timestamp", [NOW * 1000, int(NOW * 1000), 946_684_800_000, (NOW + 86_400) * 1000]
)
def test_millisecond_timestamp_is_named_as_such(timestamp: float) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(event(timestamp=timestamp), now=NOW)
    assert info.value.field == "timestamp"
    assert "epoch seconds, not milliseconds" in info.value.message


@pytest.mark.parametrize("timestamp", [NOW + 86_401, 9e11, 1e15])
def test_far_future_seconds_are_not_called_milliseconds(timestamp: float) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(event(timestamp=timestamp), now=NOW)
    assert "milliseconds" not in info.value.message


def test_event_accepts_a_large_int_property_within_float_range() -> None:
    properties = {"order": 2**63}
    assert parse_event(event(properties=properties), now=NOW).properties == properties


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (event(value=math.nan), "events[3].value"),
        (event(user_id=""), "events[3].user_id"),
        (event(properties={"k": [1]}), "events[3].properties.k"),
        (event(ts=NOW), "events[3].ts"),
        ("not-an-object", "events[3]"),
    ],
    ids=["value", "user_id", "property", "unknown-field", "not-an-object"],
)
def test_event_error_field_has_the_path_prefix(payload: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(payload, now=NOW, path="events[3]")
    assert info.value.field == field


# --- parse_batch -------------------------------------------------------------


def test_batch_parses_every_event() -> None:
    events = parse_batch(
        {"events": [event(user_id="a"), event(user_id="b")]}, now=NOW, limit=2
    )
    assert [e.user_id for e in events] == ["a", "b"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "events"),
        ({"events": []}, "events"),
        ({"events": event()}, "events"),
        ({"events": [event()] * 4}, "events"),
        ({"events": [event()], "extra": 1}, "extra"),
        ({"events": [event(), event(user_id="")]}, "events[1].user_id"),
        ({"events": [event(), event(), "x"]}, "events[2]"),
    ],
    ids=[
        "missing",
        "empty",
        "not-a-list",
        "over-limit",
        "unknown-key",
        "bad-event-index",
        "non-object-event",
    ],
)
def test_invalid_batch_names_the_bad_field(payload: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_batch(payload, now=NOW, limit=3)
    assert info.value.field == field
