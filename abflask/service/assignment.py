"""Assignment: which variation a user sees, sticky once stored.

One script call per request for a user this worker has not seen; completed,
draft and stopped experiments and returning users need no round trip. With
Redis unreachable the hash decides and the answer says it was not stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.outcomes import ENROLLMENT_OUTCOMES, Enrollment, Outcome
from abflask.errors import NotFoundError, StorageUnavailable
from abflask.service.extension import Services

logger = logging.getLogger(__name__)

STALE_RETRIES = 3
"""Times a stale definition is re-read before giving up on one request."""


@dataclass(frozen=True)
class Assignment:
    """The answer for one user and experiment; ``to_dict`` is its JSON."""

    user_id: str
    experiment: str
    variation: str | None
    in_experiment: bool
    outcome: Outcome

    def to_dict(self) -> dict[str, Any]:
        """The answer of ``/process_user`` and of each ``/sdk/exposures`` entry."""
        return {
            "user_id": self.user_id,
            "experiment": self.experiment,
            "variation": self.variation,
            "in_experiment": self.in_experiment,
            "enrolled": self.outcome is Outcome.ENROLLED,
            "stored": self.outcome.stored,
            "reason": self.outcome.value,
        }


def _answer(
    user_id: str, exp: Experiment, variation: int, outcome: Outcome
) -> Assignment:
    return Assignment(
        user_id, exp.key, exp.variations[variation], outcome.stored, outcome
    )


def assign(svc: Services, key: str, user_id: str, now: float) -> Assignment:
    """Decide and, for running experiments, store; one script call at most.

    Completed experiments serve the winner and draft or stopped ones the
    first variation, without touching Redis. Raises NotFoundError for an
    unknown experiment.
    """
    exp = svc.definitions.experiment(key)
    for _ in range(STALE_RETRIES):
        if exp.status == "completed" and exp.winner is not None:
            return _answer(user_id, exp, exp.winner, Outcome.WINNER)
        if exp.status != "running":
            return _answer(user_id, exp, 0, Outcome.NOT_RUNNING)
        remembered = svc.assignments.get(exp, user_id)
        if remembered is not None:  # a returning user: no round trip needed
            return _answer(user_id, exp, remembered, Outcome.STICKY)
        candidate = exp.candidate(user_id)
        try:
            status, variation = svc.store.enroll(exp, user_id, candidate, now)
            if status in (Enrollment.STICKY, Enrollment.ENROLLED):
                svc.assignments.put(exp, user_id, variation)
            if status in ENROLLMENT_OUTCOMES:
                outcome = ENROLLMENT_OUTCOMES[status]
                return _answer(user_id, exp, max(variation, 0), outcome)
            refreshed = svc.definitions.refresh(key)  # stale: re-read, decide again
        except StorageUnavailable as exc:
            logger.warning("assignment not stored: %s", exc)
            return Assignment(
                user_id,
                exp.key,
                exp.variations[max(candidate, 0)],
                candidate >= 0,
                Outcome.UNAVAILABLE,
            )
        if refreshed is None:
            raise NotFoundError(f"experiment {key!r} does not exist")
        exp = refreshed
    raise StorageUnavailable("experiment definition kept changing; retry")
