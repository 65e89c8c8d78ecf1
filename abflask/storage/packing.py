"""Events turned into ``track.lua`` arguments, once per event. Pure.

The same packed event goes to every experiment its user may be in: the user
and dedup fingerprints, their buckets and fields, and the record's head and
tail bytes (layout in ``abflask/core/records.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from abflask.core import records
from abflask.core.event import Event
from abflask.core.records import fingerprint
from abflask.storage.keys import bucket


@dataclass(frozen=True)
class PackedEvent:
    """An event turned into script arguments once, shared by every experiment."""

    bucket: int
    user_field: bytes
    dedup_bucket: int
    dedup_field: bytes
    event: str
    head: bytes
    value: str
    tail: bytes


def pack_event(event: Event) -> PackedEvent:
    """Precompute the fingerprints and record bytes of one event."""
    fp = fingerprint(event.user_id)
    flags, tail = records.encode_tail(event.value, event.properties)
    # An event_id is scoped to its user: clients often number events per user.
    dedup_fp = (
        fingerprint(event.user_id + "\x1f" + event.event_id)
        if event.event_id is not None
        else b""
    )
    return PackedEvent(
        bucket=bucket(fp),
        user_field=fp[2:],
        dedup_bucket=bucket(dedup_fp) if dedup_fp else 0,
        dedup_field=dedup_fp[2:],
        event=event.event,
        head=records.encode_head(flags, event.timestamp, fp),
        value=repr(event.value) if event.value is not None else "",
        tail=tail,
    )
