"""SDK endpoints: the configuration snapshot (with ETag) and exposure batches."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from flask import Blueprint, Response, current_app, request

from abflask.api import json_body
from abflask.api.assign import assign
from abflask.app import services
from abflask.auth import check_sdk_key
from abflask.errors import NotFoundError, ValidationError
from abflask.fields import check_fields, parse_key, parse_user_id
from abflask.models import Experiment, Flag

bp = Blueprint("sdk", __name__)


def experiment_entry(exp: Experiment) -> dict[str, Any]:
    """What the SDK needs to decide locally, exactly as the service does."""
    ns = exp.namespace
    return {
        "variations": list(exp.variations),
        "ranges": [list(r) for r in exp.ranges],
        "seed": exp.effective_seed,
        "hash_version": exp.hash_version,
        "namespace": [ns[0], ns[1], ns[2]] if ns else None,
        "status": exp.status,
        "winner": exp.winner,
        "version": exp.version,
    }


def flag_entry(flag: Flag) -> dict[str, Any]:
    """A flag as the SDK evaluates it."""
    return {
        "enabled": flag.enabled,
        "rollout": flag.rollout,
        "seed": flag.seed or flag.key,
        "version": flag.version,
    }


def snapshot() -> dict[str, Any]:
    """Every experiment and flag, from this worker's definition cache."""
    defs = services().definitions
    defs.experiment(defs.default_key)  # created on first use, as /process_user does
    return {
        "experiments": {k: experiment_entry(e) for k, e in defs.experiments().items()},
        "flags": {k: flag_entry(f) for k, f in defs.flags().items()},
    }


@bp.get("/sdk/config")
def sdk_config() -> Response:
    """The snapshot; ``If-None-Match`` with the current ETag gives 304."""
    check_sdk_key()
    body = json.dumps(snapshot(), sort_keys=True, separators=(",", ":"))
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="application/json", headers=headers)


@bp.post("/sdk/exposures")
def sdk_exposures() -> dict[str, Any]:
    """Enroll the exposed users (sticky, capped) and return their variations.

    ``{"exposures": [{"user_id": …, "experiment": …}, …]}``; an unknown
    experiment gives that entry ``"reason": "not_found"``, not an error, since
    an SDK may hold a slightly older configuration.
    """
    check_sdk_key()
    body = check_fields(json_body(), {"exposures"}, "")
    items = body.get("exposures")
    limit = current_app.config["ABFLASK_MAX_BATCH"]
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        raise ValidationError("exposures", f"exposures: must be a list of 1-{limit}")
    parsed = []
    for i, item in enumerate(items):
        fields = check_fields(item, {"user_id", "experiment"}, f"exposures[{i}]")
        parsed.append(
            (
                parse_key(fields.get("experiment"), f"exposures[{i}].experiment"),
                parse_user_id(fields.get("user_id"), f"exposures[{i}].user_id"),
            )
        )
    now = time.time()
    out = []
    for key, user_id in parsed:
        try:
            out.append(assign(key, user_id, now))
        except NotFoundError:
            out.append(
                {
                    "user_id": user_id,
                    "experiment": key,
                    "variation": None,
                    "in_experiment": False,
                    "enrolled": False,
                    "stored": False,
                    "reason": "not_found",
                }
            )
    return {"assignments": out}
