"""The event-log record format: the one owner of its layout, encoding and decoding.

A record of an experiment's event log is, little-endian:

| offset | bytes | field |
|---|---|---|
| 0 | 1 | variation index (``B``) |
| 1 | 1 | flags (``B``): ``EXPOSURE`` 1, ``HAS_VALUE`` 2, ``HAS_PROPERTIES`` 4 |
| 2 | 4 | epoch seconds (``I``) |
| 6 | 8 | user fingerprint (``8s``) |
| 14 | 2 | events only: event id (``H``; the experiment's ``ev`` hash names it) |
| 16 | 8 | events with ``HAS_VALUE``: the value (``d``) |
| 16 or 24 | rest | events with ``HAS_PROPERTIES``: the properties, UTF-8 JSON |

Python packs the head (flags, time, fingerprint: ``encode_head``) and the tail
(value and properties: ``encode_tail``); ``enroll.lua`` and ``track.lua``
prepend the variation byte and put the event id between the two. The numpy
decoder of the analysis job reads the offsets named here. Pure.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

VARIATION_AT, FLAGS_AT, TIME_AT, USER_AT, EVENT_ID_AT, VALUE_AT = 0, 1, 2, 6, 14, 16
"""Byte offsets of the fields."""
EXPOSURE_SIZE, EVENT_SIZE, VALUED_EVENT_SIZE = 14, 16, 24
"""Bytes of an exposure record, an event record, and an event with a value."""
EXPOSURE, HAS_VALUE, HAS_PROPERTIES = 1, 2, 4
"""Flag bits."""

HEAD = struct.Struct("<BI8s")
"""Flags, epoch seconds and user fingerprint: bytes 1-13, as Python sends them."""
START = struct.Struct("<BBI8s")
"""Variation, flags, epoch seconds, fingerprint: the first 14 bytes of a record."""
EVENT_ID = struct.Struct("<H")
VALUE = struct.Struct("<d")


def fingerprint(value: str) -> bytes:
    """8 bytes of BLAKE2b: the identity under which a user or event id is stored."""
    return hashlib.blake2b(value.encode(), digest_size=8).digest()


def encode_head(flags: int, timestamp: float, user: bytes) -> bytes:
    """Bytes 1-13 of a record: flags, whole epoch seconds, user fingerprint."""
    return HEAD.pack(flags, int(timestamp), user)


def encode_tail(
    value: float | None, properties: Mapping[str, Any] | None
) -> tuple[int, bytes]:
    """An event's flag bits and the bytes after its event id."""
    flags = 0
    tail = b""
    if value is not None:
        flags |= HAS_VALUE
        tail = VALUE.pack(value)
    if properties:
        flags |= HAS_PROPERTIES
        tail += json.dumps(properties, separators=(",", ":")).encode()
    return flags, tail


def encode_record(
    variation: int,
    timestamp: float,
    user: bytes,
    *,
    event_id: int | None = None,
    value: float | None = None,
    properties: Mapping[str, Any] | None = None,
) -> bytes:
    """A whole record, as the Lua scripts assemble it (bulk loads and checks).

    Without ``event_id`` it is an exposure record.
    """
    if event_id is None:
        return bytes([variation]) + encode_head(EXPOSURE, timestamp, user)
    flags, tail = encode_tail(value, properties)
    head = encode_head(flags, timestamp, user)
    return bytes([variation]) + head + EVENT_ID.pack(event_id) + tail


@dataclass(frozen=True)
class Record:
    """One decoded entry of an experiment's event log."""

    variation: int
    exposure: bool
    timestamp: int
    user: bytes
    event_id: int | None = None
    value: float | None = None
    properties: dict[str, Any] | None = None


def decode_record(raw: bytes) -> Record:
    """Unpack one log record (see the module docstring for the layout)."""
    variation, flags, ts, user = START.unpack_from(raw)
    if flags & EXPOSURE:
        return Record(variation, True, ts, user)
    (event_id,) = EVENT_ID.unpack_from(raw, EVENT_ID_AT)
    offset = VALUE_AT
    value = None
    if flags & HAS_VALUE:
        (value,) = VALUE.unpack_from(raw, offset)
        offset += VALUE.size
    props = json.loads(raw[offset:]) if flags & HAS_PROPERTIES else None
    return Record(variation, False, ts, user, event_id, value, props)
