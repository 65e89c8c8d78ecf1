"""``/process_user``: which variation a user sees, sticky once stored."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, current_app, request

from abflask import store as st
from abflask.app import services
from abflask.errors import NotFoundError, StorageUnavailable, ValidationError
from abflask.fields import parse_key, parse_user_id
from abflask.models import Experiment

logger = logging.getLogger(__name__)

bp = Blueprint("assign", __name__)

STALE_RETRIES = 3
"""Times a stale definition is re-read before giving up on one request."""


def _params() -> dict[str, Any]:
    """Query arguments, overlaid by a form or JSON body on POST."""
    params: dict[str, Any] = dict(request.args.items())
    if request.method == "POST":
        if request.form:
            params.update(request.form.items())
        elif request.get_data(cache=True).strip():
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                raise ValidationError("body", "body: must be a JSON object")
            params.update(body)
    return params


OUTCOMES = {
    st.STICKY: (True, False, True, "sticky"),
    st.ENROLLED: (True, True, True, "enrolled"),
    st.EXCLUDED: (False, False, False, "excluded"),
    st.FULL: (False, False, False, "full"),
}
"""Store status → (in_experiment, enrolled, stored, reason)."""


def _answer(
    user_id: str,
    exp: Experiment,
    variation: int,
    outcome: tuple[bool, bool, bool, str],
) -> dict[str, Any]:
    in_experiment, enrolled, stored, reason = outcome
    return {
        "user_id": user_id,
        "experiment": exp.key,
        "variation": exp.variations[variation],
        "in_experiment": in_experiment,
        "enrolled": enrolled,
        "stored": stored,
        "reason": reason,
    }


@bp.route("/process_user", methods=["GET", "POST"])
def process_user() -> dict[str, Any]:
    """Assign ``user_id`` to a variation of ``experiment`` (default if omitted)."""
    params = _params()
    user_id = parse_user_id(params.get("user_id"))
    key = params.get("experiment") or current_app.config["ABFLASK_DEFAULT_EXPERIMENT"]
    key = parse_key(key, "experiment")
    return assign(key, user_id, time.time())


def assign(key: str, user_id: str, now: float) -> dict[str, Any]:
    """Decide and, for running experiments, store; one script call per request.

    Completed experiments serve the winner and draft or stopped ones the
    first variation, without touching Redis. With Redis down the hash decides
    and the answer says ``stored: false``.
    """
    svc = services()
    exp = svc.definitions.experiment(key)
    for _ in range(STALE_RETRIES):
        if exp.status == "completed" and exp.winner is not None:
            return _answer(user_id, exp, exp.winner, (False, False, False, "winner"))
        if exp.status != "running":
            return _answer(user_id, exp, 0, (False, False, False, "not_running"))
        remembered = svc.assignments.get(exp, user_id)
        if remembered is not None:  # a returning user: no round trip needed
            return _answer(user_id, exp, remembered, OUTCOMES[st.STICKY])
        candidate = exp.candidate(user_id)
        try:
            status, variation = svc.store.enroll(exp, user_id, candidate, now)
            if status in (st.STICKY, st.ENROLLED):
                svc.assignments.put(exp, user_id, variation)
            if status in OUTCOMES:
                return _answer(user_id, exp, max(variation, 0), OUTCOMES[status])
            refreshed = svc.definitions.refresh(key)  # stale: re-read, decide again
        except StorageUnavailable as exc:
            logger.warning("assignment not stored: %s", exc)
            outcome = (candidate >= 0, False, False, "unavailable")
            return _answer(user_id, exp, max(candidate, 0), outcome)
        if refreshed is None:
            raise NotFoundError(f"experiment {key!r} does not exist")
        exp = refreshed
    raise StorageUnavailable("experiment definition kept changing; retry")
