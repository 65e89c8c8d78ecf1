"""``/track`` and ``/track/batch``: events of enrolled users, into Redis."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app

from abflask.api import json_body
from abflask.app import services
from abflask.errors import StorageUnavailable
from abflask.models import Event, Experiment, parse_batch, parse_event
from abflask.store import pack_event

bp = Blueprint("events", __name__)

STALE_RETRIES = 3
"""Times stale definitions are re-read before a batch gives up."""


@bp.post("/track")
def track_one() -> tuple[dict[str, Any], int]:
    """Record one event; 202 once Redis has it."""
    event = parse_event(json_body(), time.time())
    return record([event]), 202


@bp.post("/track/batch")
def track_batch() -> tuple[dict[str, Any], int]:
    """Record up to ``ABFLASK_MAX_BATCH`` events in one round trip."""
    limit = current_app.config["ABFLASK_MAX_BATCH"]
    events = parse_batch(json_body(), time.time(), limit)
    return record(events), 202


def record(events: list[Event]) -> dict[str, Any]:
    """Append ``events`` to every running experiment their users are in.

    Repeats of one user's ``event_id`` (within the request, or already
    stored) count as duplicates and are stored once. ``recorded`` counts
    (event, experiment) records written; events of users enrolled nowhere are
    accepted and ignored.
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
    svc = services()
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
                recorded += code == "1"
                duplicate[i] = duplicate[i] or code == "2"
                dropped[i] = dropped[i] or code == "3"
        pending = _refreshed(stale)
    if pending:
        raise StorageUnavailable("experiment definitions kept changing; retry")
    duplicates = len(events) - len(unique) + sum(duplicate)
    return {
        "accepted": len(events) - duplicates,
        "duplicates": duplicates,
        "recorded": recorded,
        "dropped": sum(dropped),
    }


def _refreshed(keys: list[str]) -> list[Experiment]:
    """Fresh copies of ``keys`` that are still running."""
    definitions = services().definitions
    fresh = [definitions.refresh(key) for key in keys]
    return [exp for exp in fresh if exp is not None and exp.status == "running"]
