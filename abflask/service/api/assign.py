"""``/process_user``: which variation a user sees, sticky once stored."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app

from abflask.core.fields import parse_key, parse_user_id
from abflask.service.api.parsing import params, parse_attributes
from abflask.service.assignment import assign
from abflask.service.extension import get_services

bp = Blueprint("assign", __name__)

PARAMETERS = frozenset({"user_id", "experiment", "attributes"})
"""What ``/process_user`` reads; any other parameter is a 400."""


@bp.route("/process_user", methods=["GET", "POST"])
def process_user() -> dict[str, Any]:
    """Assign ``user_id`` to a variation of ``experiment`` (default if omitted).

    ``attributes`` (a JSON object; in a query string or form, its JSON text)
    are what a targeted experiment's condition tests.
    """
    given = params(PARAMETERS)
    user_id = parse_user_id(given.get("user_id"))
    key = given.get("experiment")
    if key is None:  # absent (or JSON null); an empty ``experiment=`` is a 400
        key = current_app.config["ABFLASK_DEFAULT_EXPERIMENT"]
    key = parse_key(key, "experiment")
    attributes = parse_attributes(given.get("attributes"))
    return assign(get_services(), key, user_id, time.time(), attributes).to_dict()
