"""Tests for abflask.core.records: the event-log record layout. Pure.

That the Lua scripts store exactly these bytes is checked in
tests/storage/test_store.py against a real Redis.
"""

from __future__ import annotations

import struct

import pytest

from abflask.core import records
from abflask.core.records import Record, decode_record, encode_record, fingerprint

USER = fingerprint("user-42")
NOW = 1_790_000_000


@pytest.mark.parametrize(
    ("kwargs", "size", "expected"),
    [
        ({}, records.EXPOSURE_SIZE, Record(3, True, NOW, USER)),
        (
            {"event_id": 7},
            records.EVENT_SIZE,
            Record(3, False, NOW, USER, 7),
        ),
        (
            {"event_id": 65535, "value": -12.5},
            records.VALUED_EVENT_SIZE,
            Record(3, False, NOW, USER, 65535, -12.5),
        ),
        (
            {"event_id": 2, "properties": {"plan": "pro", "seats": 3}},
            records.EVENT_SIZE + len('{"plan":"pro","seats":3}'),
            Record(3, False, NOW, USER, 2, None, {"plan": "pro", "seats": 3}),
        ),
        (
            {"event_id": 2, "value": 1.0, "properties": {"a": None}},
            records.VALUED_EVENT_SIZE + len('{"a":null}'),
            Record(3, False, NOW, USER, 2, 1.0, {"a": None}),
        ),
    ],
    ids=["exposure", "event", "value", "properties", "value-and-properties"],
)
def test_encode_then_decode(
    kwargs: dict[str, object], size: int, expected: Record
) -> None:
    raw = encode_record(3, NOW + 0.9, USER, **kwargs)  # type: ignore[arg-type]
    assert len(raw) == size
    assert decode_record(raw) == expected


def test_fields_sit_at_the_named_offsets() -> None:
    raw = encode_record(5, NOW, USER, event_id=513, value=2.25)
    assert raw[records.VARIATION_AT] == 5
    assert raw[records.FLAGS_AT] == records.HAS_VALUE
    assert struct.unpack_from("<I", raw, records.TIME_AT) == (NOW,)
    assert raw[records.USER_AT : records.USER_AT + 8] == USER
    assert struct.unpack_from("<H", raw, records.EVENT_ID_AT) == (513,)
    assert struct.unpack_from("<d", raw, records.VALUE_AT) == (2.25,)


def test_head_and_tail_are_what_the_scripts_join() -> None:
    flags, tail = records.encode_tail(4.0, {"k": "v"})
    head = records.encode_head(flags, NOW, USER)
    joined = bytes([1]) + head + (9).to_bytes(2, "little") + tail
    assert joined == encode_record(
        1, NOW, USER, event_id=9, value=4.0, properties={"k": "v"}
    )
    assert flags == records.HAS_VALUE | records.HAS_PROPERTIES


def test_fingerprints_are_eight_stable_bytes() -> None:
    assert fingerprint("user-42") == fingerprint("user-42") != fingerprint("user-43")
    assert len(fingerprint("😀")) == 8
