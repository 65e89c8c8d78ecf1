"""SDK exposures: enroll users an SDK showed a variation, as ``/process_user`` does."""

from __future__ import annotations

from collections.abc import Sequence

from abflask.core.outcomes import Outcome
from abflask.errors import NotFoundError
from abflask.service.assignment import Assignment, assign
from abflask.service.extension import Services


def record_exposures(
    svc: Services, exposures: Sequence[tuple[str, str]], now: float
) -> list[Assignment]:
    """Assign each ``(experiment, user_id)`` and return the answers in order.

    An unknown experiment gives that entry ``Outcome.NOT_FOUND`` rather than
    an error: an SDK may hold a slightly older configuration.
    """
    out = []
    for key, user_id in exposures:
        try:
            out.append(assign(svc, key, user_id, now))
        except NotFoundError:
            out.append(Assignment(user_id, key, None, False, Outcome.NOT_FOUND))
    return out
