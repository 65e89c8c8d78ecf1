"""SDK exposures: enroll users an SDK showed a variation, as ``/process_user`` does.

A batch is one round trip: one enroll.lua call per user who needs one, all
pipelined (plus one more per round of stale definitions). Unlike
``/process_user``, nothing is answered from the hash when Redis is
unreachable: the whole batch fails with StorageUnavailable (503, Retry-After),
so an SDK never takes an unstored exposure for a stored one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from abflask.core.experiment import Experiment
from abflask.core.outcomes import Outcome
from abflask.errors import NotFoundError, StorageUnavailable
from abflask.service.assignment import (
    STALE_RETRIES,
    Assignment,
    candidate,
    enrolled,
    without_redis,
)
from abflask.service.extension import Services

Exposure = tuple[str, str, Mapping[str, Any]]
"""``(experiment, user_id, attributes)``."""


def record_exposures(
    svc: Services, exposures: Sequence[Exposure], now: float
) -> list[Assignment]:
    """Assign each ``(experiment, user_id, attributes)`` as ``/process_user``
    does (targeting included) and return the answers in order.

    An unknown experiment gives that entry ``Outcome.NOT_FOUND`` rather than
    an error (an SDK may hold a slightly different configuration; the miss is
    re-read from Redis first). Raises StorageUnavailable when Redis cannot be
    reached: then no answer is given for any entry.
    """
    answers: list[Assignment | None] = [None] * len(exposures)
    pending: dict[int, Experiment] = {}
    for i, (key, user_id, _) in enumerate(exposures):
        try:
            pending[i] = svc.definitions.experiment(key)
        except NotFoundError:
            answers[i] = Assignment(user_id, key, None, False, Outcome.NOT_FOUND)
    for _ in range(STALE_RETRIES):
        batch = []
        for i, exp in pending.items():
            answers[i] = without_redis(svc, exp, exposures[i][1])
            if answers[i] is None:
                batch.append(i)
        if not batch:
            break
        chosen = {
            i: candidate(svc, pending[i], exposures[i][1], exposures[i][2], now)
            for i in batch
        }
        items = [(pending[i], exposures[i][1], chosen[i][0]) for i in batch]
        replies = svc.store.enroll_many(items, now)
        stale: set[str] = set()
        for i, (status, variation) in zip(batch, replies, strict=True):
            user_id, targeted = exposures[i][1], chosen[i][1]
            answers[i] = enrolled(svc, pending[i], user_id, status, variation, targeted)
            if answers[i] is None:
                stale.add(pending[i].key)
        fresh = {key: svc.definitions.refresh(key) for key in sorted(stale)}
        pending = {}
        for i in batch:
            key, user_id, _ = exposures[i]
            if answers[i] is not None:
                continue
            refreshed = fresh[key]
            if refreshed is None:
                answers[i] = Assignment(user_id, key, None, False, Outcome.NOT_FOUND)
            else:
                pending[i] = refreshed
    out = [a for a in answers if a is not None]
    if len(out) != len(answers):
        raise StorageUnavailable("experiment definitions kept changing; retry")
    return out
