"""``/track`` and ``/track/batch``: events of enrolled users, into Redis."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app

from abflask.core.event import parse_batch, parse_event
from abflask.service.api.parsing import json_body
from abflask.service.extension import get_services
from abflask.service.ingest import record_events

bp = Blueprint("events", __name__)


@bp.post("/track")
def track_one() -> tuple[dict[str, Any], int]:
    """Record one event; 202 once Redis has it."""
    event = parse_event(json_body(), time.time())
    return record_events(get_services(), [event]).to_dict(), 202


@bp.post("/track/batch")
def track_batch() -> tuple[dict[str, Any], int]:
    """Record up to ``ABFLASK_MAX_BATCH`` events in one round trip."""
    limit = current_app.config["ABFLASK_MAX_BATCH"]
    events = parse_batch(json_body(), time.time(), limit)
    return record_events(get_services(), events).to_dict(), 202
