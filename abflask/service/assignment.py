"""Assignment: which variation a user sees, sticky once stored.

One script call per request for a user this worker has not seen; completed,
draft and stopped experiments and returning users need no round trip. With
Redis unreachable the hash decides and the answer says it was not stored.
``without_redis``, ``candidate`` and ``enrolled`` are shared with the batched
SDK exposures.

Precedence (GrowthBook's sticky bucketing): completed → the winner; draft or
stopped → the first variation; a user this worker remembers → their stored
variation, attributes unread; otherwise a user outside the experiment's
targeting asks enroll.lua with candidate -1, which answers a stored
variation (sticky) or nothing written (``not_targeted``, first variation).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.outcomes import ENROLLMENT_OUTCOMES, Enrollment, Outcome
from abflask.core.targeting import user_attributes
from abflask.errors import NotFoundError, StorageUnavailable
from abflask.service.extension import Services

logger = logging.getLogger(__name__)

STALE_RETRIES = 3
"""Times stale definitions are re-read before a request (an assignment, an
exposure or an event batch) gives up with 503."""


@dataclass(frozen=True)
class Assignment:
    """The answer for one user and experiment; ``to_dict`` is its JSON."""

    user_id: str
    experiment: str
    variation: str | None
    in_experiment: bool
    outcome: Outcome

    @property
    def final(self) -> bool:
        """Settled for good (``FINAL_OUTCOMES``): an SDK stops retrying it."""
        return self.outcome.final

    def to_dict(self) -> dict[str, Any]:
        """The answer of ``/process_user``."""
        return {
            "user_id": self.user_id,
            "experiment": self.experiment,
            "variation": self.variation,
            "in_experiment": self.in_experiment,
            "enrolled": self.outcome is Outcome.ENROLLED,
            "stored": self.outcome.stored,
            "reason": self.outcome.value,
        }

    def to_exposure_dict(self) -> dict[str, Any]:
        """One ``/sdk/exposures`` entry: the ``/process_user`` answer and ``final``."""
        return {**self.to_dict(), "final": self.final}


def answer(
    user_id: str, exp: Experiment, variation: int, outcome: Outcome
) -> Assignment:
    """The answer naming ``exp``'s variation ``variation``."""
    return Assignment(
        user_id, exp.key, exp.variations[variation], outcome.stored, outcome
    )


def without_redis(svc: Services, exp: Experiment, user_id: str) -> Assignment | None:
    """The answer when no script is needed: completed, not running, or a
    returning user this worker remembers; None when the store must decide."""
    if exp.status == "completed" and exp.winner is not None:
        return answer(user_id, exp, exp.winner, Outcome.WINNER)
    if exp.status != "running":
        return answer(user_id, exp, 0, Outcome.NOT_RUNNING)
    remembered = svc.assignments.get(exp, user_id)
    if remembered is not None:  # a returning user: no round trip needed
        return answer(user_id, exp, remembered, Outcome.STICKY)
    return None


def candidate(
    svc: Services,
    exp: Experiment,
    user_id: str,
    attributes: Mapping[str, Any],
    now: float,
) -> tuple[int, bool]:
    """The variation to enroll a new user in (-1: none) and whether the
    experiment targets them; conditions see ``attributes`` with ``id`` set to
    ``user_id``, segments looked up once per definition (``Definitions.target``)."""
    target = svc.definitions.target(exp)
    if target is not None and not target.test(user_attributes(user_id, attributes)):
        return -1, False
    return exp.candidate(user_id, now), True


def enrolled(
    svc: Services,
    exp: Experiment,
    user_id: str,
    status: Enrollment,
    variation: int,
    targeted: bool = True,
) -> Assignment | None:
    """The answer to enroll.lua's reply, remembered if stored; None if stale.

    Nothing stored for a user the experiment does not target is
    ``not_targeted`` (``excluded`` is for coverage and namespaces).
    """
    if status in (Enrollment.STICKY, Enrollment.ENROLLED):
        svc.assignments.put(exp, user_id, variation)
    if status not in ENROLLMENT_OUTCOMES:
        return None
    outcome = ENROLLMENT_OUTCOMES[status]
    if outcome is Outcome.EXCLUDED and not targeted:
        outcome = Outcome.NOT_TARGETED
    return answer(user_id, exp, max(variation, 0), outcome)


def assign(
    svc: Services,
    key: str,
    user_id: str,
    now: float,
    attributes: Mapping[str, Any] | None = None,
) -> Assignment:
    """Decide and, for running experiments, store; one script call at most.

    Completed experiments serve the winner and draft or stopped ones the
    first variation, without touching Redis. A new user outside the
    experiment's targeting gets the first variation, nothing stored, unless
    Redis holds their variation from earlier. Raises NotFoundError for an
    unknown experiment.
    """
    exp = svc.definitions.experiment(key)
    for _ in range(STALE_RETRIES):
        settled = without_redis(svc, exp, user_id)
        if settled is not None:
            return settled
        chosen, targeted = candidate(svc, exp, user_id, attributes or {}, now)
        try:
            status, variation = svc.store.enroll(exp, user_id, chosen, now)
            done = enrolled(svc, exp, user_id, status, variation, targeted)
            if done is not None:
                return done
            refreshed = svc.definitions.refresh(key)  # stale: re-read, decide again
        except StorageUnavailable as exc:
            logger.warning("assignment not stored: %s", exc)
            return Assignment(
                user_id,
                exp.key,
                exp.variations[max(chosen, 0)],
                chosen >= 0,
                Outcome.UNAVAILABLE,
            )
        if refreshed is None:
            raise NotFoundError(f"experiment {key!r} does not exist")
        exp = refreshed
    raise StorageUnavailable("experiment definition kept changing; retry")
