"""Event log records and id fingerprints: the bytes abflask keeps in Redis.

Pure: packing and unpacking only, no I/O. The layout (little-endian) is
``B`` variation index, ``B`` flags (1 exposure, 2 has value, 4 has
properties), ``I`` epoch seconds, ``8s`` user fingerprint; events add ``H``
event id, then ``d`` value if flagged, then the properties as UTF-8 JSON to the
end if flagged. Python writes all but the variation and the event id, which
the Lua scripts fill in.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

RECORD_HEAD = struct.Struct("<BI8s")
"""Flags, epoch seconds and user fingerprint, as written by Python."""
RECORD = struct.Struct("<BBI8s")
"""Variation, flags, epoch seconds, fingerprint: the first 14 bytes of a record."""
EXPOSURE, HAS_VALUE, HAS_PROPERTIES = 1, 2, 4
"""Record flag bits."""


def fingerprint(value: str) -> bytes:
    """8 bytes of BLAKE2b: the identity under which a user or event id is stored."""
    return hashlib.blake2b(value.encode(), digest_size=8).digest()


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
    variation, flags, ts, user = RECORD.unpack_from(raw)
    if flags & EXPOSURE:
        return Record(variation, True, ts, user)
    (event_id,) = struct.unpack_from("<H", raw, 14)
    offset = 16
    value = None
    if flags & HAS_VALUE:
        (value,) = struct.unpack_from("<d", raw, offset)
        offset += 8
    props = json.loads(raw[offset:]) if flags & HAS_PROPERTIES else None
    return Record(variation, False, ts, user, event_id, value, props)
