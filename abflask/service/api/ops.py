"""Operations endpoints: liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from abflask.errors import StorageUnavailable
from abflask.service.extension import get_services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, Any]:
    """The process is up (never touches Redis)."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict[str, Any]:
    """Redis answers PING; 503 otherwise, so a load balancer drains this host."""
    if not get_services().store.ping():
        raise StorageUnavailable("Redis is not reachable")
    return {"status": "ready"}
