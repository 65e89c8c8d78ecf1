"""SDK endpoints: the configuration snapshot (with ETag) and exposure batches.

The snapshot is ``core.wire``'s (no drafts); an exposure batch is one round
trip, and each answer says whether it is final (``core.outcomes``).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from flask import Blueprint, Response, current_app, request

from abflask.core import wire
from abflask.core.conditions import check_attributes
from abflask.core.fields import check_fields, parse_key, parse_user_id
from abflask.errors import ValidationError
from abflask.service.api.parsing import json_body
from abflask.service.auth import check_sdk_key
from abflask.service.exposures import record_exposures
from abflask.service.extension import get_services

bp = Blueprint("sdk", __name__)

EXPOSURE_FIELDS = {"user_id", "experiment", "attributes"}
"""What an ``/sdk/exposures`` entry may hold."""


@bp.get("/sdk/config")
def sdk_config() -> Response:
    """The snapshot (``core.wire``); ``If-None-Match`` with its ETag gives 304."""
    check_sdk_key()
    defs = get_services().definitions
    defs.experiment(defs.default_key)  # created on first use, as /process_user does
    snapshot = wire.encode(defs.experiments(), defs.flags(), defs.segments())
    body = json.dumps(snapshot, sort_keys=True, separators=(",", ":"))
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="application/json", headers=headers)


@bp.post("/sdk/exposures")
def sdk_exposures() -> dict[str, Any]:
    """Enroll the exposed users (sticky, capped) and return their variations.

    ``{"exposures": [{"user_id": …, "experiment": …, "attributes": {…}}, …]}``
    (``attributes`` optional: what targeting tests); each answer says
    whether it is ``final`` (an SDK retries the others). An unknown experiment
    gives that entry ``"reason": "not_found"``, not an error; Redis
    unreachable gives 503 with ``Retry-After`` for the whole batch.
    """
    check_sdk_key()
    body = check_fields(json_body(), {"exposures"}, "")
    items = body.get("exposures")
    limit = current_app.config["ABFLASK_MAX_BATCH"]
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        raise ValidationError("exposures", f"exposures: must be a list of 1-{limit}")
    parsed = []
    for i, item in enumerate(items):
        path = f"exposures[{i}]"
        fields = check_fields(item, EXPOSURE_FIELDS, path)
        attributes = fields.get("attributes")
        parsed.append(
            (
                parse_key(fields.get("experiment"), f"{path}.experiment"),
                parse_user_id(fields.get("user_id"), f"{path}.user_id"),
                {}
                if attributes is None
                else check_attributes(attributes, f"{path}.attributes"),
            )
        )
    answers = record_exposures(get_services(), parsed, time.time())
    return {"assignments": [a.to_exposure_dict() for a in answers]}
