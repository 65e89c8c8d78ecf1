"""Admin API: segments, the saved targeting rules, behind the bearer token.

Each view parses the request and makes one call to ``service.management``,
the code path the CLI shares.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint

from abflask.service import management
from abflask.service.api.parsing import json_body
from abflask.service.auth import require_admin
from abflask.service.extension import get_services

bp = Blueprint("segments", __name__)


@bp.post("/segments")
@require_admin
def create_segment() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a list segment (``values``) or a condition segment (``condition``)."""
    created = management.create_segment(get_services(), json_body(), time.time())
    return created.to_dict(), 201, {"Location": f"/segments/{created.key}"}


@bp.get("/segments")
@require_admin
def list_segments() -> dict[str, Any]:
    """Every segment definition."""
    found = management.list_segments(get_services())
    return {"segments": [s.to_dict() for s in found]}


@bp.get("/segments/<key>")
@require_admin
def get_segment(key: str) -> dict[str, Any]:
    """One segment's definition and who uses it (``used_by``)."""
    svc = get_services()
    segment = management.get_segment(svc, key)
    return {**segment.to_dict(), "used_by": management.segment_users(svc, key)}


@bp.patch("/segments/<key>")
@require_admin
def patch_segment(key: str) -> dict[str, Any]:
    """Change ``description`` and ``values`` or ``condition`` (not the kind)."""
    changed = management.patch_segment(get_services(), key, json_body(), time.time())
    return changed.to_dict()


@bp.delete("/segments/<key>")
@require_admin
def delete_segment(key: str) -> dict[str, Any]:
    """Remove a segment; 409 naming who uses it while anything does."""
    management.delete_segment(get_services(), key)
    return {"deleted": key}
