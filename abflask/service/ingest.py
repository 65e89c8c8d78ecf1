"""Event ingestion: events of enrolled users into every experiment they are in.

A batch is packed once and sent to every running experiment in one pipelined
round trip (one atomic script per experiment). The answer is given only once
Redis has every record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from abflask.core.event import Event
from abflask.core.experiment import Experiment
from abflask.core.outcomes import TrackResult
from abflask.errors import StorageUnavailable
from abflask.service.assignment import STALE_RETRIES
from abflask.service.extension import Services
from abflask.storage.packing import pack_event


@dataclass(frozen=True)
class Ingested:
    """What happened to a batch; ``to_dict`` is the 202 answer of ``/track``."""

    accepted: int
    """Events not counted as duplicates."""
    duplicates: int
    """Repeats of a user's ``event_id``, within the batch or already stored."""
    recorded: int
    """(event, experiment) records written."""
    dropped: int
    """Events an experiment had no room for (too many distinct event keys)."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def record_events(svc: Services, events: Sequence[Event]) -> Ingested:
    """Append ``events`` to every running experiment their users are in.

    Repeats of one user's ``event_id`` (within the request, or already
    stored) count as duplicates and are stored once; events of users
    enrolled nowhere are accepted and ignored.
    """
    seen: set[tuple[str, str]] = set()
    unique: list[Event] = []
    for event in events:
        if event.event_id is not None:
            if (event.user_id, event.event_id) in seen:
                continue
            seen.add((event.user_id, event.event_id))
        unique.append(event)
    duplicate = [False] * len(unique)
    dropped = [False] * len(unique)
    recorded = 0
    pending = svc.definitions.running()
    packed = [pack_event(e) for e in unique] if pending else []
    for _ in range(STALE_RETRIES):
        if not pending:
            break
        results = svc.store.track(pending, packed)
        stale: list[str] = []
        for key, codes in results.items():
            if codes is None:  # nothing written there: re-read and redo
                stale.append(key)
                continue
            for i, code in enumerate(codes):
                recorded += code == TrackResult.RECORDED
                duplicate[i] = duplicate[i] or code == TrackResult.DUPLICATE
                dropped[i] = dropped[i] or code == TrackResult.DROPPED
        pending = _refreshed(svc, stale)
    if pending:
        raise StorageUnavailable("experiment definitions kept changing; retry")
    duplicates = len(events) - len(unique) + sum(duplicate)
    return Ingested(len(events) - duplicates, duplicates, recorded, sum(dropped))


def _refreshed(svc: Services, keys: list[str]) -> list[Experiment]:
    """Fresh copies of ``keys`` that are still running."""
    fresh = [svc.definitions.refresh(key) for key in keys]
    return [exp for exp in fresh if exp is not None and exp.status == "running"]
