"""Admin API: experiments and flags, behind the bearer token.

Each view parses the request and makes one call to ``service.management``,
the code path the CLI shares.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from flask import Blueprint, Response

from abflask.core.fields import parse_key, parse_user_id
from abflask.core.flag import evaluate
from abflask.errors import ValidationError
from abflask.service import management
from abflask.service.api.parsing import (
    json_body,
    params,
    parse_attributes,
    parse_phase,
    raw_body,
)
from abflask.service.auth import require_admin
from abflask.service.extension import get_services
from abflask.service.live import live_result

bp = Blueprint("admin", __name__)

FLAG_CHECK_PARAMETERS = frozenset({"user_id", "attributes"})
"""What the public flag check reads; any other parameter is a 400."""


@bp.post("/experiments")
@require_admin
def create_experiment() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a draft experiment."""
    created = management.create_experiment(get_services(), json_body(), time.time())
    return created.to_dict(), 201, {"Location": f"/experiments/{created.key}"}


@bp.get("/experiments")
@require_admin
def list_experiments() -> dict[str, Any]:
    """Every experiment definition."""
    found = management.list_experiments(get_services())
    return {"experiments": [e.to_dict() for e in found]}


@bp.get("/experiments/<key>")
@require_admin
def get_experiment(key: str) -> dict[str, Any]:
    """One experiment with its live counters."""
    return management.describe_experiment(get_services(), key)


RESULTS_PARAMETERS = frozenset({"live", "phase", "series"})
"""What the results endpoint reads."""


@bp.get("/experiments/<key>/results")
@require_admin
def experiment_results(key: str) -> Any:
    """The latest results the analysis job stored for this experiment; with
    ``live=1``, the same numbers computed now from the live counters (of
    ``phase``, an index; default the current one), and with ``series=1``
    the time series from the counters' per-minute snapshots."""
    given = params(RESULTS_PARAMETERS)
    live, series = (_flag(given, name) for name in ("live", "series"))
    phase = parse_phase(given.get("phase"))
    if not live:
        for name in ("phase", "series"):
            if name in given:
                raise ValidationError(name, f"{name}: only with live=1")
        return management.experiment_results(get_services(), key)
    result = live_result(get_services(), key, phase, time.time(), series=series)
    # orjson: encoding the floats was a third of a live request's time
    return Response(orjson.dumps(result), mimetype="application/json")


def _flag(given: dict[str, Any], name: str) -> bool:
    """A 0/1 query parameter (absent: 0)."""
    raw = given.get(name, "0")
    if raw not in ("0", "1"):
        raise ValidationError(name, f"{name}: must be 0 or 1")
    return bool(raw == "1")


@bp.patch("/experiments/<key>")
@require_admin
def patch_experiment(key: str) -> dict[str, Any]:
    """Change weights, coverage, cap, name, metrics, analysis (all while draft).

    A weights change of a started experiment begins a new phase.
    """
    svc = get_services()
    return management.patch_experiment(svc, key, json_body(), time.time()).to_dict()


@bp.post("/experiments/<key>/start")
@require_admin
def start_experiment(key: str) -> dict[str, Any]:
    """draft or stopped → running."""
    return management.start_experiment(get_services(), key, time.time()).to_dict()


@bp.post("/experiments/<key>/stop")
@require_admin
def stop_experiment(key: str) -> dict[str, Any]:
    """running → stopped (everyone gets the first variation)."""
    return management.stop_experiment(get_services(), key, time.time()).to_dict()


@bp.post("/experiments/<key>/phases")
@require_admin
def new_phase(key: str) -> dict[str, Any]:
    """Begin a phase of a running or stopped experiment; returns the experiment.

    ``{}`` (or no body) keeps the weights; ``{"weights": [...]}`` sets new ones.
    """
    body = json_body() if raw_body().strip() else {}
    return management.new_phase(get_services(), key, body, time.time()).to_dict()


@bp.post("/experiments/<key>/complete")
@require_admin
def complete_experiment(key: str) -> dict[str, Any]:
    """Ship a winner: ``{"winner": name}``; everyone gets it, nobody is enrolled."""
    body = json_body()
    winner = body.get("winner") if isinstance(body, dict) else None
    done = management.complete_experiment(get_services(), key, winner, time.time())
    return done.to_dict()


@bp.delete("/experiments/<key>")
@require_admin
def delete_experiment(key: str) -> dict[str, Any]:
    """Remove an experiment and all its data."""
    management.delete_experiment(get_services(), key)
    return {"deleted": key}


# -- feature flags ------------------------------------------------------------


@bp.post("/flags")
@require_admin
def create_flag() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Create a feature flag."""
    created = management.create_flag(get_services(), json_body(), time.time())
    return created.to_dict(), 201, {"Location": f"/flags/{created.key}"}


@bp.get("/flags")
@require_admin
def list_flags() -> dict[str, Any]:
    """Every flag definition."""
    return {"flags": [f.to_dict() for f in management.list_flags(get_services())]}


@bp.get("/flags/<key>")
def check_flag(key: str) -> dict[str, Any]:
    """Public: what the flag serves ``user_id`` (required) with ``attributes``
    (optional URL-encoded JSON object): its ``value``, whether that is ``on``
    and why (``reason``), with every flag (prerequisites) and segment."""
    given = params(FLAG_CHECK_PARAMETERS)
    if "user_id" not in given:
        raise ValidationError(
            "user_id",
            "user_id: is required (a flag's definition is the admin API's "
            f"GET /flags/{parse_key(key)}/definition)",
        )
    user_id = parse_user_id(given["user_id"])
    attributes = parse_attributes(given.get("attributes"))
    definitions = get_services().definitions
    flag = definitions.flag(parse_key(key))  # a miss is re-read before a 404
    decided = evaluate(flag.key, user_id, attributes, definitions.compiled_flags())
    return {
        "flag": flag.key,
        "user_id": user_id,
        "on": decided.on,
        "value": decided.value,
        "reason": decided.reason.value,
    }


@bp.get("/flags/<key>/definition")
@require_admin
def get_flag(key: str) -> dict[str, Any]:
    """One flag's definition."""
    return management.get_flag(get_services(), key).to_dict()


@bp.patch("/flags/<key>")
@require_admin
def patch_flag(key: str) -> dict[str, Any]:
    """Change any field but ``key`` (``rules`` and ``requires`` are replaced)."""
    flag = management.patch_flag(get_services(), key, json_body(), time.time())
    return flag.to_dict()


@bp.delete("/flags/<key>")
@require_admin
def delete_flag(key: str) -> dict[str, Any]:
    """Remove a flag; 409 while another flag requires it."""
    management.delete_flag(get_services(), key)
    return {"deleted": key}
