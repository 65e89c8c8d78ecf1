"""Admin API: experiments and flags, behind the bearer token."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, request

from abflask.api import json_body
from abflask.app import services
from abflask.auth import check_admin, require_admin
from abflask.errors import ConflictError, NotFoundError
from abflask.fields import parse_key, parse_user_id
from abflask.models import Experiment, Flag, parse_experiment, parse_flag

bp = Blueprint("admin", __name__)


def _experiment(key: str) -> Experiment:
    found = services().store.get_experiment(parse_key(key))
    if found is None:
        raise NotFoundError(f"experiment {key!r} does not exist")
    return found


def _saved(exp: Experiment) -> dict[str, Any]:
    svc = services()
    saved = svc.store.save_experiment(exp)
    svc.definitions.invalidate()
    return saved.to_dict()


def _check_namespace(exp: Experiment) -> None:
    """Experiments sharing a namespace must not overlap: users see one of them."""
    if exp.namespace is None:
        return
    ns_id, start, end = exp.namespace
    for other in services().store.load_experiments().values():
        if other.key == exp.key or other.namespace is None:
            continue
        o_id, o_start, o_end = other.namespace
        if o_id == ns_id and start < o_end and o_start < end:
            raise ConflictError(
                f"namespace {ns_id!r} range [{start}, {end}) overlaps "
                f"experiment {other.key!r} [{o_start}, {o_end})"
            )


@bp.post("/experiments")
@require_admin
def create_experiment() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a draft experiment."""
    exp = parse_experiment(json_body(), time.time())
    _check_namespace(exp)
    svc = services()
    created = svc.store.create_experiment(exp)
    svc.definitions.invalidate()
    return created.to_dict(), 201, {"Location": f"/experiments/{exp.key}"}


@bp.get("/experiments")
@require_admin
def list_experiments() -> dict[str, Any]:
    """Every experiment definition."""
    found = services().store.load_experiments()
    return {"experiments": [e.to_dict() for e in found.values()]}


@bp.get("/experiments/<key>")
@require_admin
def get_experiment(key: str) -> dict[str, Any]:
    """One experiment with its live counters."""
    exp = _experiment(key)
    return {**exp.to_dict(), "counts": services().store.counters(exp)}


@bp.get("/experiments/<key>/results")
@require_admin
def experiment_results(key: str) -> dict[str, Any]:
    """The latest results the analysis job stored for this experiment."""
    exp = _experiment(key)
    found = services().store.results(exp.key)
    if found is None:
        raise NotFoundError(
            f"no results for {key!r} yet: run scripts/analyze.py (e.g. from cron)"
        )
    return found


@bp.patch("/experiments/<key>")
@require_admin
def patch_experiment(key: str) -> dict[str, Any]:
    """Change weights, coverage, cap, name or metrics (anything while draft)."""
    exp = _experiment(key).patch(json_body())
    _check_namespace(exp)
    return _saved(exp)


def _transition(key: str, change: Callable[[Experiment], Experiment]) -> dict[str, Any]:
    return _saved(change(_experiment(key)))


@bp.post("/experiments/<key>/start")
@require_admin
def start_experiment(key: str) -> dict[str, Any]:
    """draft or stopped → running."""
    now = time.time()
    return _transition(key, lambda e: e.start(now))


@bp.post("/experiments/<key>/stop")
@require_admin
def stop_experiment(key: str) -> dict[str, Any]:
    """running → stopped (everyone gets the first variation)."""
    now = time.time()
    return _transition(key, lambda e: e.stop(now))


@bp.post("/experiments/<key>/complete")
@require_admin
def complete_experiment(key: str) -> dict[str, Any]:
    """Ship a winner: ``{"winner": name}``; everyone gets it, nobody is enrolled."""
    body = json_body()
    winner = body.get("winner") if isinstance(body, dict) else None
    now = time.time()
    return _transition(key, lambda e: e.complete(winner, now))


@bp.delete("/experiments/<key>")
@require_admin
def delete_experiment(key: str) -> dict[str, Any]:
    """Remove an experiment and all its data."""
    svc = services()
    if not svc.store.delete_experiment(parse_key(key)):
        raise NotFoundError(f"experiment {key!r} does not exist")
    svc.definitions.invalidate()
    return {"deleted": key}


# -- feature flags ------------------------------------------------------------


def _flag(key: str) -> Flag:
    found = services().store.load_flags().get(parse_key(key))
    if found is None:
        raise NotFoundError(f"flag {key!r} does not exist")
    return found


@bp.post("/flags")
@require_admin
def create_flag() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a feature flag."""
    flag = parse_flag(json_body(), time.time())
    svc = services()
    created = svc.store.create_flag(flag)
    svc.definitions.invalidate()
    return created.to_dict(), 201, {"Location": f"/flags/{flag.key}"}


@bp.get("/flags")
@require_admin
def list_flags() -> dict[str, Any]:
    """Every flag definition."""
    return {"flags": [f.to_dict() for f in services().store.load_flags().values()]}


@bp.get("/flags/<key>")
def get_flag(key: str) -> dict[str, Any]:
    """With ``user_id``: whether the flag is on for that user (public).

    Without: the flag's definition (admin only).
    """
    if "user_id" in request.args:
        user_id = parse_user_id(request.args.get("user_id"))
        flag = services().definitions.flag(parse_key(key))
        return {"flag": flag.key, "user_id": user_id, "on": flag.is_on(user_id)}
    check_admin()
    return _flag(key).to_dict()


@bp.patch("/flags/<key>")
@require_admin
def patch_flag(key: str) -> dict[str, Any]:
    """Change ``enabled``, ``rollout``, ``seed`` or ``description``."""
    flag = parse_flag(json_body(), time.time(), current=_flag(key))
    svc = services()
    saved = svc.store.save_flag(flag)
    svc.definitions.invalidate()
    return saved.to_dict()


@bp.delete("/flags/<key>")
@require_admin
def delete_flag(key: str) -> dict[str, Any]:
    """Remove a flag."""
    svc = services()
    if not svc.store.delete_flag(parse_key(key)):
        raise NotFoundError(f"flag {key!r} does not exist")
    svc.definitions.invalidate()
    return {"deleted": key}
